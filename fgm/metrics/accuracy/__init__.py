# evaluate module folder (see fgm/metrics/__init__.py)
