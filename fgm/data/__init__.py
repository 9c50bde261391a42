"""Genome data: streaming readers (`fgm.data.genome`), windows (`fgm.data.windows`), indexed reference
access (`fgm.data.reference`), the corpus builder (`fgm.data.corpus`) and masked-LM examples
(`fgm.data.mlm`); here, the bundled genomes."""

from __future__ import annotations

import os
from pathlib import Path

#: Bundled genomes, relative to the data folder (data/genomes in the source repository).
BUNDLED_GENOMES = {
    "sacCer_S288C": "sacCer_S288C.fa.gz",  # yeast S288C, 16 chromosomes, 12,071,326 bp
    "yeast": "sacCer_S288C.fa.gz",
    "dm6_chr4": "drosophila_chr4/DmelanDM6_4.fna.gz",  # D. melanogaster chromosome 4
}


def bundled_data_dir() -> Path:
    """The folder of bundled genomes: $FGM_DATA_DIR if set, else <repository>/data/genomes."""
    env = os.environ.get("FGM_DATA_DIR")
    if env:
        return Path(env).expanduser()
    return Path(__file__).resolve().parents[2] / "data" / "genomes"


def bundled_genome(name: str = "sacCer_S288C") -> Path:
    """Path of a bundled genome (default: the yeast S288C genome); clear error if missing."""
    if name not in BUNDLED_GENOMES:
        raise KeyError(f"unknown bundled genome {name!r}; known: {', '.join(BUNDLED_GENOMES)}")
    path = bundled_data_dir() / BUNDLED_GENOMES[name]
    if not path.is_file():
        raise FileNotFoundError(
            f"bundled genome {name!r} not found at {path}. It ships with the source repository "
            f"(data/genomes/), not with an installed wheel: run from a checkout (pip install -e .),"
            f" set FGM_DATA_DIR to a folder holding {BUNDLED_GENOMES[name]}, or pass genome "
            f"files explicitly (--genome FILE).")
    return path


__all__ = ["BUNDLED_GENOMES", "bundled_data_dir", "bundled_genome"]
