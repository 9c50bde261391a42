"""A corpus from many genomes: the manifest that lists them (`fgm corpus --manifest genomes.tsv`).

A tab-separated file with a header row. Columns: `path` (a genome file, FASTA or GenBank, any supported
compression; relative to the manifest's folder) and `species` (the `source` of its windows), both required; then
optionally `weight` (the species' share of the training windows pretraining draws, relative to the others';
default 1), and `val_chroms` / `test_chroms` (that species' records held out, comma-separated: species name their
chromosomes alike, so a name here holds out the record of that species only). A species may take several rows (one
file each, e.g. one per chromosome); its weight and held-out records are then given once or alike on every row.
As the Nucleotide Transformer's multi-species set and GPN's corpora do, every species is split on its own: a
held-out fraction (`--val_frac`, `--test_frac`) is the last part of each species' genome.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass, field
from pathlib import Path

COLUMNS = ("path", "species", "weight", "val_chroms", "test_chroms")
REQUIRED = ("path", "species")


@dataclass
class Species:
    """One species of a manifest: its files, weight and held-out records."""

    name: str
    paths: list[Path] = field(default_factory=list)
    weight: float | None = None
    val_chroms: list[str] | None = None
    test_chroms: list[str] | None = None


def read_manifest(path) -> list[Species]:
    """The species of the manifest at `path`, in the order they first appear; every problem is a `ValueError`
    naming the file and the line."""
    path = Path(path)
    with path.open(newline="") as handle:
        reader = csv.DictReader(handle, delimiter="\t")
        header = reader.fieldnames or []
        missing, unknown = [c for c in REQUIRED if c not in header], [c for c in header if c not in COLUMNS]
        if missing or unknown:
            raise ValueError(f"{path}: the header row must name the columns {', '.join(REQUIRED)} (and optionally "
                             f"{', '.join(COLUMNS[2:])}), tab-separated; "
                             + (f"missing {missing}" if missing else f"unknown {unknown}"))
        species: dict[str, Species] = {}
        for line, row in enumerate(reader, start=2):
            add_row(species, row, path, line)
    if not species:
        raise ValueError(f"{path}: no genome listed below the header row")
    return list(species.values())


def add_row(species: dict[str, Species], row: dict, manifest: Path, line: int) -> None:
    """Add one manifest row to `species`, checked."""
    where = f"{manifest}, line {line}"
    name, file = (row.get("species") or "").strip(), (row.get("path") or "").strip()
    if not name or not file:
        raise ValueError(f"{where}: every row needs a path and a species")
    genome = (manifest.parent / file).expanduser()
    if not genome.is_file():
        raise FileNotFoundError(f"{where}: no genome file {genome}")
    entry = species.setdefault(name, Species(name))
    entry.paths.append(genome)
    settings = {"weight": parse_weight(row.get("weight"), where),
                "val_chroms": names(row.get("val_chroms")), "test_chroms": names(row.get("test_chroms"))}
    for key, value in settings.items():
        if value is None:
            continue
        if getattr(entry, key) not in (None, value):
            raise ValueError(f"{where}: species {name!r} has {key} {getattr(entry, key)} on an earlier row and "
                             f"{value} here: give it once, or alike")
        setattr(entry, key, value)


def parse_weight(text: str | None, where: str) -> float | None:
    if text is None or not text.strip():
        return None
    try:
        weight = float(text)
    except ValueError:
        weight = float("nan")
    if not weight > 0:
        raise ValueError(f"{where}: weight must be a number above 0, got {text!r}")
    return weight


def names(text: str | None) -> list[str] | None:
    listed = [name.strip() for name in (text or "").split(",") if name.strip()]
    return listed or None
