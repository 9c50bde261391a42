"""Genome corpus builder: FASTA / GenBank files -> `datasets.DatasetDict` of fixed-size windows.

Rows: `sequence` (upper-case ACGTN), `chrom`, `start` (0-based), `end` (exclusive), `source`
(species / file name), `soft_masked` (the window's soft-masked stretches, the bases its FASTA file writes in
lowercase as reference genomes mark repeats: flat [start, end, start, end, ...] offsets into `sequence`; empty for
GenBank, whose ORIGIN is lowercase by convention). Splits are by chromosome, by region or by fraction:
`validation` and `test` hold the chromosomes named in `val_chroms` / `test_chroms`, the regions
`chrom:start-end` named in `val_regions` / `test_regions`, or the last `val_frac` / `test_frac` of each
species' genome (test last, validation before it, records in file order), and exist only when asked for; `train`
holds every other base, so no base is in two splits and no window crosses from one split into another. A
one-record genome (a bacterium, an organelle, a single chromosome) is split by region or fraction. A chromosome
name selects that record in every input file (several species may share names such as `chr4`); a manifest
(`manifest.py`) holds records out of one species only, and gives each species a sampling weight.

How it runs, with one chromosome in memory at a time:

1. Every file is scanned and validated once (`genome.scan_genome`): record names, lengths, bad
   records. Errors surface before any window is written, and requested chromosomes are checked.
2. Each split is written by `datasets.Dataset.from_generator` from a generator that reads the
   files again (`genome.iter_records`, selecting that split's records) and cuts each record into
   windows (`windows.window_spans`). Arrow batches are capped at about 64 MiB of sequence,
   whatever the window size.

Windows (`windows.window_spans`): full windows at 0, stride, 2*stride, ...; then at most one
partial window per chromosome, from the next stride position to the chromosome end, kept when it
holds at least `min_window` bases (default window // 2). Windows whose N fraction is above
`max_n_frac` are dropped and counted.

The result is cached by `datasets` under `cache_dir` (default: the datasets cache), keyed on the
parameters and the files' size and modification time, so rebuilding the same corpus is
instant. Build statistics (per split: chromosomes, windows, bases, N fraction, dropped
windows) travel with the data in each split's `info.description` (JSON) and are read back by
`corpus_summary`; `build_corpus` prints them as a table.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Iterable

import numpy as np

from ..offline import hub_offline
from ..version import __version__
from .genome import GenomeFormatError, PathLike, ReadStats, iter_records, scan_genome
from .manifest import read_manifest
from .sizes import Size
from .windows import check_window_args, count_windows, covered_bases, resolve_genomes, window_spans

__all__ = [
    "CorpusArguments",
    "CorpusSummary",
    "SplitSummary",
    "build_corpus",
    "corpus_features",
    "corpus_summary",
    "load_corpus",
    "longest_sequence",
    "make_corpus",
    "push_corpus_to_hub",
    "save_corpus",
]

_MAX_BATCH_BASES = 1 << 26  # ~64 MiB of sequence per Arrow write batch
_FORMAT_VERSION = 2  # bump when the rows a build produces change: part of the cache key


def corpus_features():
    """The `datasets.Features` of a corpus row."""
    from datasets import Features, Sequence, Value

    return Features({
        "sequence": Value("string"),
        "chrom": Value("string"),
        "start": Value("int64"),
        "end": Value("int64"),
        "source": Value("string"),
        "soft_masked": Sequence(Value("int32")),
    })


def window_soft_masked(runs: np.ndarray, start: int, end: int) -> list[int]:
    """The soft-masked runs of a record (`GenomeRecord.soft_masked`) inside its window [start, end), as flat
    offsets from `start`."""
    first, last = np.searchsorted(runs[:, 1], start, "right"), np.searchsorted(runs[:, 0], end, "left")
    return (np.clip(runs[first:last], start, end) - start).reshape(-1).tolist()


def soft_masked_by_source(ds) -> dict[str, list[int]]:
    """Source (species) -> [bases, soft-masked bases] of a split (none soft-masked without a `soft_masked` column:
    a corpus built before it was kept)."""
    import pyarrow.compute as pc

    table = (ds.flatten_indices() if ds._indices is not None else ds).data
    bases = np.asarray(pc.utf8_length(table.column("sequence")), dtype=np.int64)
    masked = np.zeros(len(bases), dtype=np.int64)
    if "soft_masked" in table.column_names and len(bases):
        column = table.column("soft_masked").combine_chunks()
        offsets, values = np.asarray(column.offsets), np.asarray(column.values, dtype=np.int64)
        cumulative = np.concatenate([[0], np.cumsum(values[1::2] - values[0::2])])  # run lengths, summed
        masked = cumulative[offsets[1:] // 2] - cumulative[offsets[:-1] // 2]
    sources = np.asarray(table.column("source").to_pylist() if "source" in table.column_names
                         else ["(not recorded)"] * len(bases), dtype=object)
    return {str(source): [int(bases[sources == source].sum()), int(masked[sources == source].sum())]
            for source in dict.fromkeys(sources)}


# --------------------------------------------------------------------------------------------
# summary


@dataclass
class SplitSummary:
    split: str
    chroms: list[str] = field(default_factory=list)
    windows: int = 0
    bases: int = 0
    n_bases: int = 0
    dropped_n: int | None = None  # windows dropped by the N filter (None: unknown)
    uncovered_bases: int | None = None  # bases of the split's chromosomes in no window
    soft_masked: dict[str, list[int]] = field(default_factory=dict)  # source -> [bases, soft-masked bases]

    @property
    def n_frac(self) -> float:
        return self.n_bases / self.bases if self.bases else 0.0

    @property
    def soft_masked_frac(self) -> float:
        masked = sum(counts[1] for counts in self.soft_masked.values())
        return masked / self.bases if self.bases else 0.0


@dataclass
class CorpusSummary:
    splits: dict[str, SplitSummary]
    params: dict = field(default_factory=dict)
    skipped_records: list[str] = field(default_factory=list)  # "file: record (reason)"

    def table(self) -> str:
        max_n = self.params.get("max_n_frac")
        drop_head = f"dropped N>{max_n:g}" if max_n is not None else "dropped (N)"
        rows = [("split", "chroms", "windows", "bases", "N frac", "soft-masked", drop_head, "bases in no window")]
        for s in self.splits.values():
            rows.append((
                s.split, f"{len(s.chroms):,}", f"{s.windows:,}", f"{s.bases:,}",
                f"{s.n_frac:.4f}", f"{s.soft_masked_frac:.4f}", "?" if s.dropped_n is None else f"{s.dropped_n:,}",
                "?" if s.uncovered_bases is None else f"{s.uncovered_bases:,}",
            ))
        widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
        lines = ["  ".join(c.ljust(w) if i == 0 else c.rjust(w)
                           for i, (c, w) in enumerate(zip(r, widths))) for r in rows]
        lines.insert(1, "  ".join("-" * w for w in widths))
        if self.params.get("window"):
            p = self.params
            lines.append(f"window {p['window']:,}, stride {p['stride']:,}, partial last window "
                         f"kept if >= {p['min_window']:,} bases")
        if self.params.get("species_weights"):
            lines.append("species' sampling weights: " + ", ".join(
                f"{species} {weight:g}" for species, weight in self.params["species_weights"].items()))
        for split, key in (("validation", "val_regions"), ("test", "test_regions")):
            if self.params.get(key):
                lines.append(f"{split} regions: {', '.join(self.params[key])}")
        lines.extend(self.species_lines())
        if set(self.splits) == {"train"}:
            lines.append("no validation or test split: --val_chroms, --val_regions or --val_frac holds some out")
        lines.append(f"bad records skipped: {len(self.skipped_records)}")
        lines.extend(f"  {r}" for r in self.skipped_records[:20])
        if len(self.skipped_records) > 20:
            lines.append(f"  ... and {len(self.skipped_records) - 20} more")
        return "\n".join(lines)

    __str__ = table

    def species_lines(self) -> list[str]:
        """Per species: its bases in each split and their soft-masked share; or why no base is soft-masked."""
        by_source: dict[str, dict[str, list[int]]] = {}
        for s in self.splits.values():
            for source, counts in s.soft_masked.items():
                by_source.setdefault(source, {})[s.split] = counts
        lines = [f"{source}: " + ", ".join(f"{split} {bases:,} bases ({masked / bases:.2%} soft-masked)" if bases
                                           else f"{split} 0 bases" for split, (bases, masked) in splits.items())
                 for source, splits in by_source.items()]
        if not any(counts[1] for splits in by_source.values() for counts in splits.values()):
            lines.append("soft-masked bases: none (no input writes bases in lowercase, or the corpus predates "
                         "soft-masking): repeats are not marked, and --soft_masked_loss_weight_* changes nothing")
        return lines

    def to_dict(self) -> dict:
        return {
            "params": self.params,
            "skipped_records": self.skipped_records,
            "splits": {k: asdict(v) for k, v in self.splits.items()},
        }


def _stored_summary(ds) -> dict | None:
    try:
        meta = json.loads(ds.info.description or "")
    except (TypeError, ValueError):
        return None
    return meta.get("fgm_corpus") if isinstance(meta, dict) else None


def _sequences(ds):
    """The `sequence` column of a split as an Arrow array (in the split's row order)."""
    if ds._indices is not None:
        ds = ds.flatten_indices()
    return ds.data.column("sequence")


def _sequence_stats(ds) -> tuple[int, int]:
    """(bases, N bases) of a split, computed with Arrow kernels."""
    import pyarrow.compute as pc

    col = _sequences(ds)
    if len(col) == 0:
        return 0, 0
    bases = pc.sum(pc.utf8_length(col)).as_py() or 0
    n_bases = pc.sum(pc.count_substring(col, "N")).as_py() or 0
    return int(bases), int(n_bases)


def longest_sequence(ds) -> int:
    """Bases of the longest `sequence` of a split (0 when it is empty), computed with Arrow kernels."""
    import pyarrow.compute as pc

    return int(pc.max(pc.utf8_length(_sequences(ds))).as_py() or 0)


def corpus_summary(dsdict) -> CorpusSummary:
    """Per-split statistics of a corpus: those recorded at build time, else computed from the data
    (then the counts of dropped windows are unknown)."""
    splits: dict[str, SplitSummary] = {}
    params: dict = {}
    skipped: list[str] = []
    for name, ds in dsdict.items():
        meta = _stored_summary(ds)
        if meta is not None and meta.get("windows") == len(ds):
            params, skipped = meta.get("params", {}), meta.get("skipped_records", [])
            splits[name] = SplitSummary(
                split=name, chroms=list(meta.get("chroms", [])), windows=meta["windows"],
                bases=meta["bases"], n_bases=meta["n_bases"], dropped_n=meta.get("dropped_n"),
                uncovered_bases=meta.get("uncovered_bases"), soft_masked=meta.get("soft_masked", {}))
        else:
            bases, n_bases = _sequence_stats(ds)
            chroms = list(dict.fromkeys(ds["chrom"])) if "chrom" in ds.column_names else []
            splits[name] = SplitSummary(split=name, chroms=chroms, windows=len(ds), bases=bases,
                                        n_bases=n_bases, soft_masked=soft_masked_by_source(ds))
    return CorpusSummary(splits, params, skipped)


# --------------------------------------------------------------------------------------------
# building


def _names(values, what: str) -> list[str]:
    """Chromosome names from a string ('chrXV' or 'chrXV,chrXVI') or an iterable of strings."""
    if values is None:
        return []
    if isinstance(values, str):
        values = [values]
    out: list[str] = []
    for v in values:
        if not isinstance(v, str):
            raise TypeError(f"{what}: chromosome names must be strings, got {v!r}")
        out.extend(x.strip() for x in v.split(",") if x.strip())
    return list(dict.fromkeys(out))


@dataclass(frozen=True)
class Region:
    """Bases [start, end) of the record `chrom` (0-based, end exclusive), of the species `source` only when given
    (a corpus of several species, whose records may share names)."""

    chrom: str
    start: int
    end: int
    source: str | None = None

    def __str__(self) -> str:  # 1-based and inclusive, as samtools and genome browsers write it
        return f"{self.chrom}:{self.start + 1}-{self.end}" + (f" ({self.source})" if self.source else "")

    def holds(self, source: str, chrom: str) -> bool:
        return self.chrom == chrom and self.source in (None, source)


def parse_region(text: str, what: str = "region") -> Region:
    """`chrom:start-end`, 1-based and inclusive (`chrI:1-50000`, separators allowed: `chrI:1-50,000`)."""
    chrom, _, span = str(text).strip().rpartition(":")
    first, _, last = span.partition("-")
    try:
        start, end = (int(x.replace(",", "").replace("_", "")) for x in (first, last))
    except ValueError:
        start = end = 0
    if not chrom or not 1 <= start <= end:
        raise ValueError(f"{what} {text!r} is not CHROM:START-END (1-based, inclusive, START <= END)")
    return Region(chrom, start - 1, end)


def _regions(values, what: str) -> list[Region]:
    """Regions from strings (one `chrom:start-end` each) or `Region`s."""
    values = [values] if isinstance(values, (str, Region)) else list(values or ())
    return [v if isinstance(v, Region) else parse_region(v, what) for v in values]


@dataclass
class SplitRequest:
    """What the validation and test splits hold: chromosomes, regions, or fractions of the genome's bases."""

    val: list[str]
    test: list[str]
    only: list[str] | None  # the corpus's chromosomes (None: all), plus the validation / test ones
    val_regions: list[Region]
    test_regions: list[Region]
    val_frac: float = 0.0
    test_frac: float = 0.0
    by_source: dict[str, dict[str, str]] = field(default_factory=dict)  # a manifest's: source -> {chrom: split}

    @property
    def splits(self) -> list[str]:
        held = {split for chroms in self.by_source.values() for split in chroms.values()}
        return (["train"] + (["validation"] if self.val or self.val_regions or self.val_frac or "validation" in held
                             else [])
                + (["test"] if self.test or self.test_regions or self.test_frac or "test" in held else []))

    def held_out(self, source: str, chrom: str) -> str | None:
        """The split a whole record is held out for, or None."""
        if chrom in self.val or chrom in self.test:
            return "validation" if chrom in self.val else "test"
        return self.by_source.get(source, {}).get(chrom)


def _requested_splits(val_chroms, test_chroms, chroms, val_regions, test_regions, val_frac, test_frac) -> SplitRequest:
    """The splits asked for, checked: one way of holding out per split, nothing in two splits."""
    request = SplitRequest(_names(val_chroms, "val_chroms"), _names(test_chroms, "test_chroms"),
                           None if chroms is None else _names(chroms, "chroms"),
                           _regions(val_regions, "validation region"), _regions(test_regions, "test region"),
                           float(val_frac or 0), float(test_frac or 0))
    both = sorted(set(request.val) & set(request.test))
    if both:
        raise ValueError(f"chromosome(s) {', '.join(both)} requested for both validation and test")
    for split, frac, others in (("val", request.val_frac, request.val or request.val_regions),
                                ("test", request.test_frac, request.test or request.test_regions)):
        if not 0 <= frac < 1:
            raise ValueError(f"--{split}_frac must be a fraction in [0, 1), got {frac}")
        if frac and others:
            raise ValueError(f"--{split}_frac holds out the end of the genome: give it without --{split}_chroms "
                             f"/ --{split}_regions")
    if request.val_frac + request.test_frac >= 1:
        raise ValueError(f"--val_frac + --test_frac must leave bases for training, got "
                         f"{request.val_frac} + {request.test_frac}")
    held = set(request.val) | set(request.test)
    for region in request.val_regions + request.test_regions:
        if region.chrom in held:
            raise ValueError(f"region {region} lies on {region.chrom}, which is already a validation / test "
                             "chromosome")
    return request


def _check_present(requested: list[str], available: list[str], what: str) -> None:
    missing = [c for c in requested if c not in set(available)]
    if missing:
        shown = ", ".join(available[:50])
        more = f", ... ({len(available) - 50} more)" if len(available) > 50 else ""
        raise ValueError(f"{what} chromosome(s) {', '.join(map(repr, missing))} not found in the "
                         f"input genomes. Available ({len(available)}): {shown}{more}")


def _file_identity(path: Path) -> list:
    st = path.stat()
    return [str(path.resolve()), st.st_size, st.st_mtime_ns]


def _scan_genomes(specs, skip_bad_records: bool, progress: bool) -> list:
    """[(source, path, GenomeIndex)]: every file read and validated once, before anything is written."""
    from tqdm.auto import tqdm

    bar = tqdm(desc="scanning genomes", unit="bp", unit_scale=True, disable=not progress)
    try:
        return [(source, path, scan_genome(path, skip_bad_records=skip_bad_records, progress=bar))
                for source, path in specs]
    finally:
        bar.close()


def _check_chromosomes(indexes, request: SplitRequest) -> None:
    """Each record once per source, and every requested chromosome present in the input."""
    seen: dict[tuple[str, str], Path] = {}
    available: list[str] = []
    for source, path, idx in indexes:
        for rec in idx.records:
            key = (source, rec.name)
            if key in seen:
                raise ValueError(f"record {rec.name!r} of source {source!r} appears in both {seen[key]}"
                                 f" and {path}; give the files different sources (source=file)")
            seen[key] = path
            available.append(rec.name)
    available = list(dict.fromkeys(available))
    if not available:
        raise ValueError(f"no usable records in {', '.join(str(path) for _, path, _ in indexes)}")
    _check_present(request.val, available, "validation")
    _check_present(request.test, available, "test")
    _check_present(list(dict.fromkeys(r.chrom for r in request.val_regions)), available, "validation region")
    _check_present(list(dict.fromkeys(r.chrom for r in request.test_regions)), available, "test region")
    if request.only is not None:
        _check_present(request.only, available, "requested")
    for source, held in request.by_source.items():
        records = [name for (owner, name) in seen if owner == source]
        _check_present([c for c, split in held.items() if split == "validation"], records, f"{source}'s validation")
        _check_present([c for c, split in held.items() if split == "test"], records, f"{source}'s test")


def _fraction_regions(indexes, request: SplitRequest) -> SplitRequest:
    """`request` with its fractions turned into regions: of the corpus's records (file order, each name once), the
    last `test_frac` of the bases for test and the `val_frac` before them for validation."""
    if not request.val_frac and not request.test_frac:
        return request
    sources = list(dict.fromkeys(source for source, _, _ in indexes))
    val, test = list(request.val_regions), list(request.test_regions)
    for source in sources:  # each species split on its own
        lengths = {}
        for owner, _, idx in indexes:
            for rec in idx.records:
                if owner == source and request.held_out(source, rec.name) is None and (
                        request.only is None or rec.name in request.only):
                    lengths.setdefault(rec.name, rec.length)
        total = sum(lengths.values())
        test_start = total - round(total * request.test_frac)
        val_start = test_start - round(total * request.val_frac)
        label = source if len(sources) > 1 else None
        val += _cut(lengths, val_start, test_start, label)
        test += _cut(lengths, test_start, total, label)
    return replace(request, val_regions=val, test_regions=test)


def _cut(lengths: dict[str, int], low: int, high: int, source: str | None) -> list[Region]:
    """The regions of the records (name -> length, laid end to end in order) between offsets `low` and `high`."""
    out, offset = [], 0
    for name, length in lengths.items():
        if max(low, offset) < min(high, offset + length):
            out.append(Region(name, max(low, offset) - offset, min(high, offset + length) - offset, source))
        offset += length
    return out


def _split_members(indexes, request: SplitRequest) -> dict[str, list]:
    """split -> [(source, path, record, start, end)], the pieces of records each split holds: train, then
    validation / test when asked for. A held-out region cuts its record; the bases around it train."""
    members: dict[str, list] = {s: [] for s in request.splits}
    held = [(r, "validation") for r in request.val_regions] + [(r, "test") for r in request.test_regions]
    for source, path, idx in indexes:
        for rec in idx.records:
            whole = request.held_out(source, rec.name)
            if whole:
                members[whole].append((source, path, rec, 0, rec.length))
                continue
            trains, position = request.only is None or rec.name in request.only, 0
            for region, split in sorted((h for h in held if h[0].holds(source, rec.name)), key=lambda h: h[0].start):
                if region.end > rec.length:
                    raise ValueError(f"{split} region {region} ends past the end of {rec.name} ({rec.length:,} bases "
                                     f"in {path})")
                if region.start < position:
                    raise ValueError(f"{split} region {region} overlaps another validation / test region")
                if trains and position < region.start:
                    members["train"].append((source, path, rec, position, region.start))
                members[split].append((source, path, rec, region.start, region.end))
                position = region.end
            if trains and position < rec.length:
                members["train"].append((source, path, rec, position, rec.length))
    if not members["train"]:
        raise ValueError("no sequence left for the train split: every record is a validation / test chromosome or "
                         "excluded by --chroms. To split one record, hold out part of it: --val_regions "
                         "CHROM:START-END or --val_frac 0.1")
    return members


def _check_windows_fit(split: str, members: list, window: int, stride: int, min_window: int) -> None:
    """A clear error when no window fits a split (a window larger than its sequence), before anything is written."""
    if not any(count_windows(end - start, window, stride, min_window) for *_, start, end in members):
        longest = max((end - start for *_, start, end in members), default=0)
        raise ValueError(f"no window fits the {split} split: its longest sequence has {longest:,} bases, fewer than "
                         f"the {min_window:,} a window needs (--min_window, default window // 2; --window is "
                         f"{window:,}). Use a smaller --window or --min_window")


def _generate_windows(files, window, stride, min_window, max_n_frac, skip_bad_records,
                      total_bases, desc, progress):
    """Rows of one split. `files`: ((source, path, ((record index, start, end), ...)), ...)."""
    from tqdm.auto import tqdm

    bar = tqdm(total=total_bases, desc=desc, unit="bp", unit_scale=True, disable=not progress)
    try:
        for source, path, pieces in files:
            wanted: dict[int, list[tuple[int, int]]] = {}
            for index, first, last in pieces:
                wanted.setdefault(index, []).append((first, last))
            # the scan counted and logged the bad records; a ReadStats of its own keeps them quiet
            records = iter_records(path, select=lambda i, name: i in wanted,
                                   skip_bad_records=skip_bad_records, stats=ReadStats())
            for record in records:
                for first, last in wanted[record.index]:
                    for start, end in window_spans(last - first, window, stride, min_window):
                        seq = record.sequence[first + start : first + end]
                        if max_n_frac < 1.0 and seq.count("N") / (end - start) > max_n_frac:
                            continue
                        yield {"sequence": seq, "chrom": record.name, "start": first + start, "end": first + end,
                               "source": source,
                               "soft_masked": window_soft_masked(record.soft_masked, first + start, first + end)}
                    bar.update(last - first)
    finally:
        bar.close()


def _write_split(split: str, members: list, params: dict, identity: dict, skipped: list[str], cache_dir,
                 progress: bool):
    """One split's windows as a `datasets.Dataset`, cached under a fingerprint of the build and the split's
    records, its statistics in `info.description`."""
    from datasets import Dataset

    window, stride, min_window = params["window"], params["stride"], params["min_window"]
    files: dict[tuple[str, str], list[tuple[int, int, int]]] = {}
    for source, path, rec, start, end in members:
        files.setdefault((source, str(path)), []).append((rec.index, start, end))
    files_arg = tuple((source, path, tuple(pieces)) for (source, path), pieces in files.items())
    fingerprint = hashlib.sha256(json.dumps(
        {**identity, "split": split, "select": files_arg}, sort_keys=True).encode()).hexdigest()[:32]
    try:
        ds = Dataset.from_generator(
            _generate_windows,
        features=corpus_features(),
        cache_dir=None if cache_dir is None else str(cache_dir),
            gen_kwargs={
                "files": files_arg, "window": window, "stride": stride,
                "min_window": min_window, "max_n_frac": params["max_n_frac"],
                "skip_bad_records": params["skip_bad_records"],
                "total_bases": sum(end - start for *_, start, end in members), "desc": f"{split} windows",
                "progress": progress,
            },
            split=split,
            fingerprint=fingerprint,
            writer_batch_size=max(1, min(1000, _MAX_BATCH_BASES // window)),
        )
    except ValueError as err:  # datasets refuses a split without rows; here only the N filter can empty one
        if isinstance(err, GenomeFormatError) or "corresponds to no data" not in str(err):
            raise
        raise ValueError(f"every window of the {split} split has more than --max_n_frac {params['max_n_frac']:g} "
                         "of N bases: hold out other sequence, or raise --max_n_frac") from None
    bases, n_bases = _sequence_stats(ds)
    candidates = sum(count_windows(end - start, window, stride, min_window) for *_, start, end in members)
    stats = {
        "params": params,
        "skipped_records": skipped,
        "chroms": list(dict.fromkeys(rec.name for _, _, rec, _, _ in members)),
        "windows": len(ds),
        "bases": bases,
        "n_bases": n_bases,
        "dropped_n": candidates - len(ds),
        "uncovered_bases": sum(end - start - covered_bases(end - start, window, stride, min_window)
                               for *_, start, end in members),
        "soft_masked": soft_masked_by_source(ds),
    }
    ds.info.description = json.dumps({"fgm_corpus": stats})
    return ds


def build_corpus(
    genomes,
    window: int = 6000,
    stride: int | None = None,
    val_chroms: Iterable[str] | str = (),
    test_chroms: Iterable[str] | str = (),
    max_n_frac: float = 0.1,
    skip_bad_records: bool = False,
    min_window: int | None = None,
    *,
    chroms: Iterable[str] | str | None = None,
    val_regions: Iterable[str | Region] | str = (),
    test_regions: Iterable[str | Region] | str = (),
    val_frac: float = 0.0,
    test_frac: float = 0.0,
    cache_dir: PathLike | None = None,
    progress: bool = True,
    manifest: PathLike | None = None,
):
    """Build a windowed genome corpus as a `datasets.DatasetDict`.

    genomes: file(s), directories, `source=file` strings, `(source, file)` pairs or a
        {source: file} dict (see `windows.resolve_genomes`); FASTA / GenBank, compressed or not.
    manifest: instead of `genomes`, a TSV listing them with a species, a sampling weight and held-out records
        each (`manifest.read_manifest`); fractions are then held out of each species' genome.
    window, stride: window size and step in bases (stride defaults to window: no overlap).
    val_chroms, test_chroms: chromosomes for the `validation` / `test` splits (names, or one
        comma-separated string). Each must exist in the input; a split exists only if asked for.
    val_regions, test_regions: regions `chrom:start-end` (1-based, inclusive) held out for them; the
        rest of their records trains.
    val_frac, test_frac: or the last fraction of the genome's bases (records in file order): test
        last, validation before it. One way per split; the summary lists the regions chosen.
    max_n_frac: windows with a larger fraction of N are dropped (and counted).
    skip_bad_records: skip and count malformed records instead of stopping.
    min_window: a chromosome's last partial window is kept if it has at least this many bases
        (default window // 2); only one partial window per chromosome.
    chroms: restrict the corpus to these chromosomes (plus the validation / test ones).
    cache_dir: where `datasets` writes the Arrow files (default: its cache).
    progress: show progress bars (bases read) and print the summary table.

    Returns the DatasetDict (train, then validation / test when requested), rows in a
    deterministic order: files as given, records in file order, windows by start.
    """
    from datasets import DatasetDict, are_progress_bars_disabled, disable_progress_bars, enable_progress_bars

    window, stride, min_window = check_window_args(window, stride, min_window)
    max_n_frac = float(max_n_frac)
    if not 0.0 <= max_n_frac <= 1.0:
        raise ValueError(f"max_n_frac must be between 0 and 1, got {max_n_frac}")
    request = _requested_splits(val_chroms, test_chroms, chroms, val_regions, test_regions, val_frac, test_frac)
    weights = None
    if manifest is not None:
        if genomes:
            raise ValueError("give the genomes either as files or in a manifest, not both")
        species = read_manifest(manifest)
        genomes = [(entry.name, path) for entry in species for path in entry.paths]
        weights = {entry.name: entry.weight or 1.0 for entry in species}
        request.by_source = {entry.name: {**{c: "validation" for c in entry.val_chroms or []},
                                          **{c: "test" for c in entry.test_chroms or []}} for entry in species}
    specs = resolve_genomes(genomes)
    indexes = _scan_genomes(specs, skip_bad_records, progress)
    _check_chromosomes(indexes, request)
    request = _fraction_regions(indexes, request)
    members = _split_members(indexes, request)
    for split, pieces in members.items():
        _check_windows_fit(split, pieces, window, stride, min_window)
    skipped = [f"{path}: {r.name if r.name else '(no record)'} ({r.error})"
               for _, path, idx in indexes for r in idx.bad_records]
    params = {
        "genomes": [[source, str(path)] for source, path in specs],
        "window": window, "stride": stride, "min_window": min_window, "max_n_frac": max_n_frac,
        "val_chroms": request.val, "test_chroms": request.test, "chroms": request.only,
        "val_regions": [str(r) for r in request.val_regions], "test_regions": [str(r) for r in request.test_regions],
        "val_frac": request.val_frac, "test_frac": request.test_frac,
        "skip_bad_records": skip_bad_records,
        **({"species_weights": weights, "held_by_species": request.by_source} if weights else {}),
    }
    identity = {"version": [_FORMAT_VERSION, __version__], "params": params,
                "files": [_file_identity(path) for _, path in specs]}

    was_enabled = not are_progress_bars_disabled()
    disable_progress_bars()  # our own bar counts bases; datasets' would count rows
    try:
        corpus = DatasetDict({split: _write_split(split, records, params, identity, skipped, cache_dir, progress)
                              for split, records in members.items()})
    finally:
        if was_enabled:
            enable_progress_bars()
    if progress:
        print(corpus_summary(corpus).table())
    return corpus


# --------------------------------------------------------------------------------------------
# saving, loading, publishing


def save_corpus(dsdict, out_dir: PathLike, *, overwrite: bool = False,
                max_shard_size: str | int | None = None) -> Path:
    """`save_to_disk` into `out_dir`. An existing non-empty folder is replaced only with
    `overwrite=True` and only if it holds a saved corpus (never an unrelated folder)."""
    out = Path(out_dir).expanduser()
    clear_for_writing(out, "a saved corpus", lambda: (out / "dataset_dict.json").is_file()
                      or (out / "state.json").is_file(), overwrite)
    dsdict.save_to_disk(str(out), max_shard_size=max_shard_size)
    return out


def clear_for_writing(out: Path, what: str, holds_one, overwrite: bool) -> None:
    """Make the folder `out` ready for `what`: missing or empty, it is used as it is; holding one (`holds_one()`),
    it is emptied only with `overwrite`; anything else (a file, an unrelated folder) is refused."""
    import shutil

    if not out.exists() or (out.is_dir() and not any(out.iterdir())):
        return
    if not out.is_dir() or not holds_one():
        raise FileExistsError(f"{out} exists and is not {what}; choose another folder")
    if not overwrite:
        raise FileExistsError(f"{out} already holds {what}; pass overwrite=True (`--overwrite`) to replace it")
    shutil.rmtree(out)


# Bases of sequence per Parquet shard: a shard is what one data-loader worker reads at a time, so 64 Mb (about 64 MB of
# text before compression, 16 MB after) keeps a worker's memory small while a human genome (3.1 Gb) still gives ~50
# shards, enough for 8 ranks x 6 workers (BioNeMo's advice for OpenGenome2: ~10x as many shards as workers).
SHARD_BASES = 64_000_000
# Bases of sequence per Parquet row group: a stream reads a shard a row group at a time, so a shard written as one
# row group would be held whole (memory growing with the shard, 90 MB more at 16 Mb shards in the benchmark's probe).
ROW_GROUP_BASES = 1_000_000
SHARDS_SUMMARY = "corpus.json"


def save_shards(dsdict, out_dir: PathLike, *, shard_bases: int = SHARD_BASES, seed: int = 0,
                overwrite: bool = False) -> Path:
    """Write each split as Parquet shards of globally shuffled windows (`out_dir/SPLIT/shard_NNNNN.parquet`, shard
    order and row order both shuffled with `seed`: no shard holds one chromosome, so a stream read shard by shard
    with a modest buffer is well mixed; row groups of about `ROW_GROUP_BASES`, what a stream holds of a shard at
    once) and the corpus's summary as `corpus.json`; `fgm pretrain --streaming` reads them in bounded memory."""
    import math

    out = Path(out_dir).expanduser()
    clear_for_writing(out, "a sharded corpus", lambda: (out / SHARDS_SUMMARY).is_file(), overwrite)
    summary = corpus_summary(dsdict)
    for split, ds in dsdict.items():
        bases = summary.splits[split].bases
        shards = max(1, math.ceil(bases / shard_bases))
        rows_per_group = max(1, ROW_GROUP_BASES * max(len(ds), 1) // max(bases, 1))  # about 1 Mb a row group
        shuffled = ds.shuffle(seed=seed)
        (out / split).mkdir(parents=True)
        for i in range(shards):
            shuffled.shard(shards, i, contiguous=True).to_parquet(str(out / split / f"shard_{i:05d}.parquet"),
                                                                  batch_size=rows_per_group)
    longest = {split: longest_sequence(ds) for split, ds in dsdict.items()}
    (out / SHARDS_SUMMARY).write_text(json.dumps({**summary.to_dict(), "longest": longest, "shard_bases": shard_bases,
                                                  "seed": seed}, indent=2) + "\n")
    return out


def stream_split(folder: PathLike, split: str = "train"):
    """A split of a sharded corpus as a `datasets.IterableDataset` (each shard read a row group at a time), and the
    corpus's summary (`corpus.json`). Every shard must have the first one's columns (checked up front from the
    files' footers: a stream would otherwise fail at the odd shard, hours into a run, without naming it)."""
    import pyarrow.parquet as pq
    from datasets import load_dataset

    folder = Path(folder).expanduser()
    if not (folder / SHARDS_SUMMARY).is_file():
        raise ValueError(f"{folder} is not a sharded corpus (no {SHARDS_SUMMARY}): write one with `fgm corpus "
                         "--format shards`")
    files = sorted(str(path) for path in (folder / split).glob("shard_*.parquet"))
    if not files:
        raise ValueError(f"{folder} has no {split} shards")
    first = pq.read_schema(files[0]).remove_metadata()
    for file in files[1:]:
        schema = pq.read_schema(file).remove_metadata()
        if not schema.equals(first):
            raise ValueError(f"{file} has the columns {dict(zip(schema.names, map(str, schema.types)))}, not those of "
                             f"{files[0]} ({dict(zip(first.names, map(str, first.types)))}): a sharded corpus's shards "
                             "must share one schema; rewrite them with `fgm corpus --format shards`")
    return (load_dataset("parquet", data_files={split: files}, split=split, streaming=True),
            json.loads((folder / SHARDS_SUMMARY).read_text()))


def load_corpus(path_or_name: PathLike, *, split: str | None = None, **load_dataset_kwargs):
    """Load a corpus: a local `save_corpus` / `save_to_disk` folder, else a Hub dataset.

    Local folders are read with `datasets.load_from_disk` (a folder of data files, e.g. parquet,
    goes through `datasets.load_dataset`). Any other name is a Hub dataset id for
    `datasets.load_dataset` (extra keyword arguments go there); offline this fails with a
    message saying so. Returns a DatasetDict, or one Dataset when `split` is given. Every split
    must have a `sequence` column.
    """
    from datasets import Dataset, DatasetDict, load_dataset, load_from_disk

    target = Path(path_or_name).expanduser()
    if target.is_dir():
        if (target / "dataset_dict.json").is_file() or (target / "state.json").is_file():
            data = load_from_disk(str(target))
        else:
            try:
                data = load_dataset(str(target), **load_dataset_kwargs)
            except Exception as exc:
                raise ValueError(f"{target} is neither a saved corpus (save_corpus / `fgm corpus "
                                 f"--output_dir`) nor a folder of dataset files: {exc}") from exc
    elif target.exists():
        raise ValueError(f"{target} is a file; a corpus is a folder written by save_corpus "
                         f"(`fgm corpus --output_dir DIR`)")
    else:
        name = str(path_or_name)
        if hub_offline():
            raise FileNotFoundError(
                f"{name!r} is not a local folder, and the Hugging Face Hub is offline "
                f"(HF_HUB_OFFLINE / HF_DATASETS_OFFLINE is set), so it cannot be downloaded as a "
                f"Hub dataset. Pass the path of a folder written by save_corpus or "
                f"`fgm corpus --output_dir DIR`, or unset the offline variables to use the Hub.")
        try:
            data = load_dataset(name, **load_dataset_kwargs)
        except Exception as exc:
            raise FileNotFoundError(
                f"{name!r} is not a local folder, and loading it as a Hub dataset failed "
                f"({type(exc).__name__}: {exc}). Pass the path of a folder written by save_corpus "
                f"or `fgm corpus --output_dir DIR`, or check the dataset id and your connection.") from exc
    if isinstance(data, Dataset):
        data = DatasetDict({"train": data})
    for split_name, ds in data.items():
        if "sequence" not in ds.column_names:
            raise ValueError(f"split {split_name!r} of {path_or_name} has no 'sequence' column "
                             f"(columns: {', '.join(ds.column_names)})")
    if split is not None:
        if split not in data:
            raise KeyError(f"no split {split!r} in {path_or_name}; splits: {', '.join(data)}")
        return data[split]
    return data


def push_corpus_to_hub(dsdict, repo_id: str, *, private: bool | None = None,
                       token: str | None = None, **push_kwargs):
    """Publish the corpus with `datasets.DatasetDict.push_to_hub` (needs network and a token)."""
    if not repo_id or not isinstance(repo_id, str):
        raise ValueError(f"repo_id must be a Hub dataset id like 'user/yeast-corpus', got {repo_id!r}")
    if hub_offline():
        raise ConnectionError(f"cannot push to {repo_id!r}: the Hugging Face Hub is offline "
                           f"(HF_HUB_OFFLINE / HF_DATASETS_OFFLINE is set)")
    return dsdict.push_to_hub(repo_id, private=private, token=token, **push_kwargs)


# --------------------------------------------------------------------------------------------
# the command


@dataclass
class CorpusArguments:
    """The options of `make_corpus` (`fgm corpus`): which genomes, how they are cut into windows and split, and
    where the corpus goes."""

    genome: list[str] | None = field(
        default=None,
        metadata={
            "action": "extend",
            "metavar": "FILE",
            "help": "genome files (FASTA / GenBank, plain, gzip / bgzip, bz2, xz), directories of them, or "
            "SOURCE=FILE to name the species in the `source` column; repeatable (default: the bundled yeast "
            "S288C genome)",
        },
    )
    manifest: str | None = field(
        default=None, metadata={"metavar": "TSV", "help": "many genomes instead of --genome: a tab-separated file "
                                "with a header row, columns path, species and optionally weight (pretraining's "
                                "share of the species), val_chroms, test_chroms (fgm/data/manifest.py)"})
    output_dir: str | None = field(
        default=None, metadata={"metavar": "DIR", "help": "folder for the corpus (datasets save_to_disk)"}
    )
    overwrite: bool = field(default=False, metadata={"help": "replace a corpus already saved in --output_dir"})
    format: str = field(default="arrow", metadata={
        "choices": ("arrow", "shards"), "help": "arrow: one datasets folder (save_to_disk), read in memory; shards: "
        "Parquet shards of globally shuffled windows per split, for `fgm pretrain --streaming`"})
    shard_bases: Size = field(default=SHARD_BASES, metadata={
        "help": "bases of sequence per shard with --format shards (64m: small per worker, ~50 shards for a human "
                "genome)"})
    window: Size = field(default=6000, metadata={"help": "window size in bases"})
    stride: Size | None = field(
        default=None, metadata={"help": "step between window starts (default: the window size)"}
    )
    min_window: Size | None = field(
        default=None,
        metadata={"help": "keep a chromosome's last, partial window if it has at least this many bases "
                  "(default: window // 2)"},
    )
    val_chroms: list[str] = field(
        default_factory=list,
        metadata={"action": "extend", "metavar": "CHROM",
                  "help": "chromosomes of the validation split (space or comma separated)"},
    )
    test_chroms: list[str] = field(
        default_factory=list, metadata={"action": "extend", "metavar": "CHROM", "help": "chromosomes of the test split"}
    )
    val_regions: list[str] = field(
        default_factory=list,
        metadata={"action": "extend", "metavar": "CHROM:START-END",
                  "help": "regions of the validation split (1-based, inclusive)"},
    )
    test_regions: list[str] = field(
        default_factory=list, metadata={"action": "extend", "metavar": "CHROM:START-END",
                                        "help": "regions of the test split"}
    )
    val_frac: float = field(default=0.0, metadata={"help": "the validation split: this fraction of the genome's "
                                                   "bases, just before the test split's"})
    test_frac: float = field(default=0.0, metadata={"help": "the test split: this last fraction of the genome's bases"})
    chroms: list[str] | None = field(
        default=None,
        metadata={"action": "extend", "metavar": "CHROM",
                  "help": "use only these chromosomes (plus the validation / test ones)"},
    )
    max_n_frac: float = field(default=0.1, metadata={"help": "drop windows with a larger fraction of N"})
    skip_bad_records: bool = field(
        default=False, metadata={"help": "skip and count malformed records instead of stopping"}
    )
    cache_dir: str | None = field(
        default=None,
        metadata={"metavar": "DIR", "help": "datasets cache folder for the build (default: the datasets cache)"},
    )
    push_to_hub: str | None = field(
        default=None,
        metadata={"metavar": "REPO", "help": "also publish the corpus as a Hub dataset (needs network and a token)"},
    )
    private: bool = field(default=False, metadata={"help": "with --push-to-hub: private repo"})
    quiet: bool = field(default=False, metadata={"help": "no progress bars"})


def make_corpus(args: CorpusArguments):
    """Build the corpus `args` describe (`build_corpus`; default genome: the bundled yeast genome), print its
    summary, save it to `args.output_dir` and / or publish it as the Hub dataset `args.push_to_hub`; returns it."""
    from . import bundled_genome

    if not args.output_dir and not args.push_to_hub:
        raise ValueError("give --output_dir DIR and/or --push_to_hub REPO")
    if args.quiet:
        import datasets

        datasets.disable_progress_bars()
    try:
        corpus = build_corpus(
            args.genome or ([] if args.manifest else [bundled_genome()]), manifest=args.manifest,
            window=args.window, stride=args.stride, val_chroms=args.val_chroms,
            test_chroms=args.test_chroms, max_n_frac=args.max_n_frac, skip_bad_records=args.skip_bad_records,
            min_window=args.min_window, chroms=args.chroms, val_regions=args.val_regions,
            test_regions=args.test_regions, val_frac=args.val_frac, test_frac=args.test_frac,
            cache_dir=args.cache_dir, progress=not args.quiet,
        )
    except GenomeFormatError as exc:
        if args.skip_bad_records or "truncated or corrupt" in str(exc):
            raise
        raise GenomeFormatError(f"{exc}\n(--skip_bad_records skips and counts malformed records instead)") from exc
    if args.quiet:  # with progress, build_corpus printed it
        print(corpus_summary(corpus).table())
    if args.output_dir and args.format == "shards":
        folder = save_shards(corpus, args.output_dir, shard_bases=args.shard_bases, overwrite=args.overwrite)
        print(f"saved sharded corpus to {folder}")
    elif args.output_dir:
        print(f"saved corpus to {save_corpus(corpus, args.output_dir, overwrite=args.overwrite)}")
    if args.push_to_hub:
        push_corpus_to_hub(corpus, args.push_to_hub, private=True if args.private else None)
        print(f"pushed corpus to https://huggingface.co/datasets/{args.push_to_hub}")
    return corpus
