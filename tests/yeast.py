"""Real yeast windows for tests, read straight from the bundled genome (independent of fgm.data)."""

import gzip
from functools import lru_cache
from pathlib import Path

GENOME = Path(__file__).resolve().parents[1] / "data" / "genomes" / "sacCer_S288C.fa.gz"


@lru_cache(maxsize=None)
def chromosome(name: str) -> str:
    parts, current = [], None
    with gzip.open(GENOME, "rt") as handle:
        for line in handle:
            if line.startswith(">"):
                if current == name:
                    break
                current = line[1:].split()[0]
            elif current == name:
                parts.append(line.strip())
    return "".join(parts)


def windows(name: str, size: int, count: int | None = None) -> list[dict]:
    sequence = chromosome(name)
    rows = [
        {"sequence": sequence[i : i + size], "chrom": name, "start": i, "end": i + size}
        for i in range(0, len(sequence) - size + 1, size)
    ]
    return rows[:count]


def corpus(window: int = 600, train_count: int | None = None, validation_count: int = 24):
    from datasets import Dataset, DatasetDict

    splits = {"train": Dataset.from_list(windows("chrI", window, train_count))}
    if validation_count:
        splits["validation"] = Dataset.from_list(windows("chrIII", window, validation_count))
    return DatasetDict(splits)
