"""Sub-commands of the `fgm` console command (see fgm/cli.py)."""
