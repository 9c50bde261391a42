"""The held-out sequence an instrument scores, and the sequences its baselines are fitted on: a corpus split, records
of a genome, or by default chrXVI of the bundled yeast genome (`HeldOutArguments`, both the commands' options and
the library's), with the Markov baselines and the copy oracle's error rates fitted on the corpus's train split, the
genome's other records, a training genome, or, for a genome of one record, on the other half of the record
(`ScanData.folds`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np


@dataclass
class Segment:
    """A contiguous stretch of a chromosome, with its soft-masked runs ((n, 2) offsets into `sequence`: the bases its
    FASTA file writes in lowercase, reference genomes' mark of repeats)."""

    chrom: str
    start: int
    sequence: str
    soft_masked: np.ndarray = field(default_factory=lambda: np.zeros((0, 2), dtype=np.int64))

    def is_soft_masked(self, offsets) -> np.ndarray:
        """Whether each of `offsets` lies in a soft-masked run."""
        offsets = np.asarray(offsets)
        run = np.searchsorted(self.soft_masked[:, 0], offsets, side="right") - 1
        return (run >= 0) & (offsets < self.soft_masked[np.maximum(run, 0), 1]) if len(self.soft_masked) else \
            np.zeros(len(offsets), dtype=bool)


def corpus_segments(rows) -> list[Segment]:
    """Contiguous runs of a corpus split's windows (`chrom, start, end, sequence[, source, soft_masked]`), merged."""
    order = sorted(range(len(rows)), key=lambda i: (rows[i].get("source", ""), rows[i]["chrom"], rows[i]["start"]))
    runs: list[tuple[tuple, int, list[str], int, list]] = []  # (source and chrom, start, pieces, end, masked runs)
    for i in order:
        row = rows[i]
        key, masked = (row.get("source", ""), row["chrom"]), row.get("soft_masked") or []
        shifted = [(row["start"] + a, row["start"] + b) for a, b in zip(masked[0::2], masked[1::2])]
        if runs and runs[-1][0] == key and row["start"] <= runs[-1][3]:
            key, start, pieces, end, marked = runs[-1]
            pieces.append(row["sequence"][end - row["start"] :])
            runs[-1] = (key, start, pieces, max(end, row["end"]), marked + shifted)
        else:
            runs.append((key, row["start"], [row["sequence"]], row["end"], shifted))
    return [Segment(key[1], start, "".join(pieces), merged_runs(marked, start))
            for key, start, pieces, _, marked in runs]


def merged_runs(runs: list[tuple[int, int]], origin: int) -> np.ndarray:
    """Runs [start, end) (overlapping windows repeat them) merged, as offsets from `origin`, (n, 2)."""
    out: list[list[int]] = []
    for first, last in sorted(runs):
        if out and first <= out[-1][1]:
            out[-1][1] = max(out[-1][1], last)
        else:
            out.append([first, last])
    return np.array(out, dtype=np.int64).reshape(-1, 2) - origin


def genome_segments(path, chroms=None) -> list[Segment]:
    """Whole records of a FASTA / GenBank file (only `chroms` when given)."""
    from ..data.genome import iter_records

    wanted = None if chroms is None else set(chroms)
    segments = [Segment(r.name, 0, r.sequence, r.soft_masked) for r in iter_records(path)
                if wanted is None or r.name in wanted]
    if wanted is not None and wanted - {s.chrom for s in segments}:
        raise ValueError(f"{path} has no record(s) {sorted(wanted - {s.chrom for s in segments})}")
    return segments


@dataclass
class ScanData:
    """The held-out sequence an instrument scores, and the sequences its baselines (the Markov models, the copy
    oracle's error rates) are fitted on: `train`, or where there are none, each half of a held-out record is
    scored by baselines fitted on the other halves (`folds`). `fitted_on` says which, in words, for the reports."""

    held_out: list[Segment]
    train: list[str]
    fitted_on: str

    def folds(self, positions) -> list[tuple[list[str], np.ndarray]]:
        """(fitting sequences, mask of the `positions` (segment, offset) they score): one fold, `train`, or two:
        the positions in the first half of their record, fitted on every second half, and the reverse."""
        if self.train:
            return [(self.train, np.ones(len(positions), dtype=bool))]
        first = np.array([p < len(self.held_out[s].sequence) // 2 for s, p in positions], dtype=bool)
        halves = [[s.sequence[len(s.sequence) // 2 :] for s in self.held_out],
                  [s.sequence[: len(s.sequence) // 2] for s in self.held_out]]
        return [(halves[0], first), (halves[1], ~first)]


OTHER_HALF = "the other half of each held-out record (each half's positions scored by baselines fitted on the other)"


def scan_data(corpus=None, split: str = "test", genome=None, chroms=None, train_genome=None) -> ScanData:
    """A held-out split of `corpus` (a folder or a DatasetDict; its train split fits the baselines), or
    `chroms` of `genome` (every record when None; its other records fit the baselines). `train_genome` (every
    record) fits them instead; with none of these, each half of a held-out record is fitted on the other."""
    if (corpus is None) == (genome is None):
        raise ValueError("give either a corpus (with a split) or a genome (with chroms)")
    if genome is not None:
        held_out = genome_segments(genome, chroms)
        names = {h.chrom for h in held_out}
        train = [s.sequence for s in genome_segments(genome) if s.chrom not in names]
        fitted_on = f"the other records of {Path(genome).name}"
    else:
        from ..data.corpus import load_corpus

        data = load_corpus(corpus) if isinstance(corpus, (str, Path)) else corpus
        if split not in data:
            raise ValueError(f"the corpus has no {split!r} split (it has {list(data)})")
        held_out = corpus_segments(data[split].to_list())
        # whole chromosomes, not windows: the oracle's error rates count copies anywhere on them
        train = [s.sequence for s in corpus_segments(data["train"].to_list())] if "train" in data else []
        fitted_on = "the corpus's train split"
    if train_genome is not None:
        train = [s.sequence for s in genome_segments(train_genome)]
        fitted_on = f"every record of {Path(train_genome).name}"
    if not train:
        return ScanData(held_out, [], OTHER_HALF)
    return ScanData(held_out, train, f"{fitted_on} ({sum(len(s) for s in train):,} bases)")


@dataclass
class HeldOutArguments:
    """The held-out sequence: a corpus split, records of a genome, or by default chrXVI of the bundled yeast genome
    (the chromosome the demo and the study hold out for testing), so every model sees the same sequence; and the
    sequences the baselines are fitted on (`scan_data`): the corpus's train split, the genome's other records or a
    --train_genome, else the other half of each held-out record."""

    _argument_group_name = "held-out sequence"

    corpus: str | None = field(default=None, metadata={"help": "a corpus from `fgm corpus` (its --split is used)"})
    split: str = field(default="test", metadata={"help": "held-out corpus split"})
    genome: str | None = field(default=None, metadata={"help": "a genome file (default: the bundled yeast genome)"})
    chroms: list[str] | None = field(default=None, metadata={"help": "records of --genome (default: every record; "
                                                             "with the bundled genome: chrXVI)"})
    train_genome: str | None = field(default=None, metadata={
        "help": "a genome whose records fit the Markov baselines and the copy oracle's error rates (default: the "
                "corpus's train split or the records of --genome not held out; with neither, each half of a held-out "
                "record is fitted on the other half)"})

    def load(self) -> ScanData:
        if self.corpus is None and self.genome is None:
            from ..data import bundled_genome

            return scan_data(genome=bundled_genome(), chroms=self.chroms or ["chrXVI"], train_genome=self.train_genome)
        return scan_data(self.corpus, self.split, self.genome, self.chroms, self.train_genome)
