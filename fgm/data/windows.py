"""Windows: the arithmetic that cuts a sequence into fixed-size windows, and windows over many genome files.

One function, `window_spans`, places every window of the project: corpus windows (a last partial window
when it holds enough bases) and the chunks of fine-tuning and embedding (a last window shifted back to
end at the sequence end, starts kept in the k-mer frame). `count_windows` and `covered_bases` are what
the corpus builder reports about them; `resolve_genomes` turns genome arguments (files, directories,
`source=file`) into the files to read, and `iter_windows` streams the windows of all of them.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Iterable, Iterator, Literal, NamedTuple

from .genome import FASTA_EXTENSIONS, GENBANK_EXTENSIONS, ReadStats, genome_stem, is_genome_file, iter_records

__all__ = ["Window", "check_window_args", "count_windows", "covered_bases", "iter_windows", "resolve_genomes",
           "window_spans"]


def check_window_args(window: int, stride: int | None, min_window: int | None) -> tuple[int, int, int]:
    """(window, stride, min_window) as whole numbers, the defaults filled in (stride: window, min_window:
    window // 2, at least 1); a clear error for a value out of range."""
    window = int(window)
    if window < 1:
        raise ValueError(f"window must be a positive number of bases, got {window}")
    stride = window if stride is None else int(stride)
    if stride < 1:
        raise ValueError(f"stride must be a positive number of bases, got {stride}")
    min_window = max(1, window // 2) if min_window is None else int(min_window)
    if not 1 <= min_window <= window:
        raise ValueError(f"min_window must be between 1 and window ({window}), got {min_window}")
    return window, stride, min_window


def window_spans(length: int, window: int, stride: int | None = None,
                 min_window: int | None = None, *, frame: int = 1,
                 last_window: Literal["partial", "shifted"] = "partial") -> list[tuple[int, int]]:
    """The (start, end) windows cut from a sequence of `length` bases.

    Windows of `window` bases start at 0, stride, 2*stride, ... (stride defaults to window: no
    overlap). The end of the sequence depends on `last_window`:

    * "partial" (corpus windows): full windows while they fit, then at most one shorter window
      from the next stride position to the end, kept when it holds at least `min_window` bases
      (default window // 2) and adds bases no earlier window covers. A sequence shorter than
      `min_window` gives no window; what no window reaches is dropped.
    * "shifted" (fine-tuning chunks, embedding chunks): full windows while they end before the
      sequence end, then one window moved back to end exactly there, its start rounded up into the
      frame, so every base is covered and no window has more than `window` bases; a sequence of at
      most `window` bases is the one window (0, length). `min_window` does not apply.

    `frame` rounds the stride down to a multiple of itself (at least one frame), so every start stays
    in the k-mer frame of the whole sequence (frame=k): windows are tokenized as the whole sequence is.
    """
    if last_window not in ("partial", "shifted"):
        raise ValueError(f"last_window must be 'partial' or 'shifted', got {last_window!r}")
    if last_window == "shifted" and min_window is not None:
        raise ValueError("min_window applies to last_window='partial' only")
    window, stride, min_window = check_window_args(window, stride, min_window)
    frame = int(frame)
    if frame < 1:
        raise ValueError(f"frame must be a positive number of bases, got {frame}")
    stride = max(frame, stride // frame * frame)
    if last_window == "shifted":
        if length <= window:
            return [(0, length)]
        starts = [*range(0, length - window, stride), -(-(length - window) // frame) * frame]
        return [(s, min(s + window, length)) for s in starts]
    spans = [(s, s + window) for s in range(0, length - window + 1, stride)]
    start, covered = len(spans) * stride, spans[-1][1] if spans else 0
    if length - start >= min_window and length > covered:
        spans.append((start, length))
    return spans


def count_windows(length: int, window: int, stride: int | None = None,
                  min_window: int | None = None) -> int:
    """len(window_spans(...))."""
    return len(window_spans(length, window, stride, min_window))


def covered_bases(length: int, window: int, stride: int | None = None,
                  min_window: int | None = None) -> int:
    """How many bases of the sequence fall in at least one window of `window_spans(...)`."""
    covered = reached = 0
    for start, end in window_spans(length, window, stride, min_window):
        covered += max(0, end - max(start, reached))
        reached = max(reached, end)
    return covered


def resolve_genomes(genomes) -> list[tuple[str, Path]]:
    """Normalize genome arguments to [(source, path)], in the order given.

    Accepts a path, a list of paths, `(source, path)` pairs, a {source: path} dict, and
    `source=path` strings (the species name for the `source` column; by default the file name
    without extensions). A directory stands for its genome files (by extension), sorted by name.
    """
    if isinstance(genomes, (str, os.PathLike)):
        genomes = [genomes]
    elif isinstance(genomes, dict):
        genomes = list(genomes.items())
    out: list[tuple[str, Path]] = []
    for spec in genomes:
        source = None
        if isinstance(spec, tuple):
            source, spec = spec
        elif isinstance(spec, str) and "=" in spec and not Path(spec).exists():
            source, spec = (s.strip() for s in spec.split("=", 1))
            if not source:
                raise ValueError(f"empty source name in genome argument {spec!r}")
        path = Path(spec).expanduser()
        if path.is_dir():
            files = sorted(p for p in path.iterdir() if is_genome_file(p))
            if not files:
                exts = ", ".join(FASTA_EXTENSIONS + GENBANK_EXTENSIONS)
                raise FileNotFoundError(f"no genome files ({exts}, optionally compressed) in "
                                        f"directory {path}")
            out.extend((source or genome_stem(p), p) for p in files)
        elif path.is_file():
            out.append((source or genome_stem(path), path))
        else:
            raise FileNotFoundError(f"genome file not found: {path}")
    if not out:
        raise ValueError("no genome files given")
    return out


class Window(NamedTuple):
    chrom: str
    start: int  # 0-based, inclusive
    end: int  # exclusive
    sequence: str
    source: str


def iter_windows(genomes, window: int, stride: int | None = None, *,
                 min_window: int | None = None, chroms: Iterable[str] | None = None,
                 skip_bad_records: bool = False,
                 stats: ReadStats | None = None) -> Iterator[Window]:
    """Windows over one or many genome files (see `resolve_genomes` for `genomes`).

    One record in memory at a time. Windows follow `window_spans` (stride defaults to window; a
    last partial window is kept when >= min_window, default window // 2). `chroms` restricts to
    these record names. Order: files as given, records in file order, windows by start.
    """
    window, stride, min_window = check_window_args(window, stride, min_window)
    wanted = None if chroms is None else set(chroms)
    select = None if wanted is None else (lambda i, name: name in wanted)
    for source, path in resolve_genomes(genomes):
        for record in iter_records(path, skip_bad_records=skip_bad_records, select=select,
                                   stats=stats):
            seq = record.sequence
            for start, end in window_spans(len(seq), window, stride, min_window):
                yield Window(record.name, start, end, seq[start:end], source)
