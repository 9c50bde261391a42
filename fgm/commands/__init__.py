"""Sub-commands of the `fgm` console command (see fgm/cli.py): one module each, with the option dataclasses it
parses (`ARGUMENTS`, defined beside the library function that takes them) and a `run` that passes them on."""
