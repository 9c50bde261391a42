"""Genome readers: FASTA and GenBank, plain or compressed (gzip, bgzip, bz2, xz), on Biopython.

Library. Biopython parses the records: `SimpleFastaParser` for FASTA, `Bio.GenBank` for GenBank.
It reads any text handle, so one reader covers every compression (detected here from the magic
bytes), and it is the maintained GenBank parser. Measured on the bundled yeast genome (12 Mb,
gzip; best of 3, in-process): SimpleFastaParser 0.10 s, pysam.FastxFile 0.04 s. pysam is faster
but opens only what htslib opens (no bz2 / xz, no Python handles) and has no GenBank, so it would
have been a second reader beside Biopython. Install size: biopython 22 MB (needs numpy, already a
dependency), pysam 14 MB.

Memory: one record at a time. A record's sequence is held whole while it is checked and handed on
(a human chromosome 1 is 250 MB, a few times that at the peak), never the whole genome.

Formats (detected from the content, the file extension as a fallback):

* FASTA: `>name description` header lines, sequence lines of any width, blank lines ignored, CRLF
  line endings accepted.
* GenBank (.gb / .gbk / .gbff): one or more `LOCUS ... //` records; the sequence comes from the
  ORIGIN section. The record name is the VERSION (accession.version, as in NCBI FASTA headers),
  else the first ACCESSION, else the LOCUS name; the description is the DEFINITION (without its
  final period, as in NCBI FASTA headers). The base count must agree with the LOCUS line.
* Compression is detected from the magic bytes: gzip and bgzip (bgzip is multi-member gzip), bz2,
  xz. zstd is refused with a clear message.

Alphabet: `fgm.model.kmers_fgm.NUCLEOTIDE_TABLE`, the one table of the project. Sequences are
upper-cased (a FASTA file's lowercase, soft-masked bases are kept apart as runs, `GenomeRecord.soft_masked`;
GenBank's ORIGIN is lowercase by convention, so it marks nothing) and the IUPAC ambiguity codes
R Y S W K M B D H V become N, so everything downstream only sees `ACGTN`. Every other character
is an error that names the file, the record, the line, the column and the character; that
includes alignment gaps `-` / `.`, the stop `*`, RNA's `U` and digits. Spaces and tabs inside
sequence lines are ignored, and so are GenBank's ORIGIN position numbers (columns 1-10, which
Biopython drops unread).

Errors. Malformed input raises `GenomeFormatError` (a `ValueError`) naming the file, the record
and the line: sequence before the first header, a record without sequence, a header without a
name, a duplicate record name in one file, an invalid character, a GenBank record that is not
closed by `//`, has no ORIGIN or whose length disagrees with its LOCUS line, a truncated or
corrupt compressed file. Biopython keeps no line numbers and passes some of these silently, so
every record is checked here. FASTA lines are found by reading the file again, only once a
record is bad, forward only (all the errors of a file cost one extra read at most); GenBank
records are cut at their LOCUS lines here, so their lines are known, and Biopython parses one
record's text at a time (a record it cannot parse is named by its LOCUS name). Nothing is skipped
silently: with `skip_bad_records=True` a bad record is skipped and counted instead (`ReadStats`,
`GenomeIndex.bad_records`, a logged warning). A truncated or corrupt compressed file is always an
error, since what is missing cannot be known.

Main entry points: `scan_genome` (validate a file and list its records and lengths),
`iter_records` (records one at a time), `read_genome` (whole genome, small genomes only). Windows over
the records, and genome arguments naming many files, are `fgm.data.windows`.
"""

from __future__ import annotations

import bz2
import gzip
import io
import logging
import lzma
import os
import re
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO, Callable, Iterable, Iterator, TextIO, Union

import numpy as np
from Bio import GenBank
from Bio.SeqIO.FastaIO import SimpleFastaParser

from ..model.kmers_fgm import INVALID_BYTE, IUPAC_AMBIGUOUS, NUCLEOTIDE_TABLE

logger = logging.getLogger(__name__)

__all__ = [
    "FASTA_EXTENSIONS",
    "GENBANK_EXTENSIONS",
    "GenomeFormatError",
    "GenomeIndex",
    "GenomeRecord",
    "ReadStats",
    "RecordInfo",
    "detect_format",
    "genome_stem",
    "is_genome_file",
    "iter_records",
    "open_genome",
    "read_genome",
    "scan_genome",
]

PathLike = Union[str, os.PathLike]
Select = Callable[[int, str], bool]  # (record index, record name) -> read this record?

FASTA_EXTENSIONS = (".fa", ".fasta", ".fna", ".fas", ".fsa", ".ffn", ".frn", ".mfa", ".seq")
GENBANK_EXTENSIONS = (".gb", ".gbk", ".gbff", ".gbf", ".genbank")
COMPRESSION_EXTENSIONS = (".gz", ".bgz", ".bgzf", ".bz2", ".xz")

_WHITESPACE = " \t\r\n\v\f"
_NUCLEOTIDES = "".join(chr(c) for c in range(256) if NUCLEOTIDE_TABLE[c] != INVALID_BYTE[0])
_INVALID_CHARACTER = re.compile(f"[^{re.escape(_NUCLEOTIDES + _WHITESPACE)}]")  # to locate errors
_GENBANK_SEQUENCE_COLUMN = 10  # ORIGIN lines: position number in columns 1-9, bases from column 11


# --------------------------------------------------------------------------------------------
# public data types


class GenomeFormatError(ValueError):
    """Malformed genome file. The message names the file, the record and the line."""

    def __init__(self, message: str, *, path: PathLike | None = None, record: str | None = None,
                 line: int | None = None):
        self.path = None if path is None else str(path)
        self.record = record
        self.line = line
        self.reason = message
        where = []
        if path is not None:
            where.append(str(path))
        if record is not None:
            where.append(f"record {record!r}")
        if line is not None:
            where.append(f"line {line}")
        super().__init__(f"{', '.join(where)}: {message}" if where else message)


@dataclass
class RecordInfo:
    """One record of a genome file, as seen by the reader."""

    path: str
    index: int  # 0-based position in the file (-1: text before the first record)
    name: str | None
    description: str
    length: int = 0  # bases (good records only)
    n_count: int = 0  # N bases, IUPAC codes included
    error: str | None = None  # why the record is bad; None for a good record


@dataclass
class GenomeIndex:
    """What `scan_genome` found in one file."""

    path: Path
    format: str
    records: list[RecordInfo]  # good records, file order
    bad_records: list[RecordInfo]  # skipped (only with skip_bad_records=True)

    @property
    def names(self) -> list[str]:
        return [r.name for r in self.records]

    @property
    def total_length(self) -> int:
        return sum(r.length for r in self.records)

    @property
    def lengths(self) -> dict[str, int]:
        return {r.name: r.length for r in self.records}


@dataclass
class ReadStats:
    """Filled in by the readers: the records skipped with `skip_bad_records=True`."""

    bad_records: list[RecordInfo] = field(default_factory=list)

    @property
    def skipped(self) -> int:
        return len(self.bad_records)


@dataclass
class GenomeRecord:
    """A good record: its upper-case ACGTN sequence, its soft-masked stretches (the [start, end) runs a FASTA file
    writes in lowercase, as reference genomes mark repeats; (0, 2) for GenBank, whose ORIGIN is lowercase by
    convention) and where it comes from."""

    name: str
    description: str
    path: str
    index: int
    sequence: str
    soft_masked: np.ndarray = field(default_factory=lambda: np.zeros((0, 2), dtype=np.int64))


# --------------------------------------------------------------------------------------------
# files, compression and format detection


def open_genome(path: PathLike) -> BinaryIO:
    """Open a genome file for binary reading, decompressing by magic bytes (not by extension)."""
    path = Path(path)
    with open(path, "rb") as fh:
        magic = fh.read(6)
    if magic[:2] == b"\x1f\x8b":
        return gzip.open(path, "rb")  # bgzip too: multi-member gzip
    if magic[:3] == b"BZh":
        return bz2.open(path, "rb")
    if magic == b"\xfd7zXZ\x00":
        return lzma.open(path, "rb")
    if magic[:4] == b"\x28\xb5\x2f\xfd":
        raise GenomeFormatError("zstd compression is not supported; decompress the file or "
                                "recompress it with gzip / bgzip", path=path)
    return open(path, "rb")


def _open_text(path: Path) -> TextIO:
    """Text lines for Biopython. Only '\\n' ends a line ('\\r' is stripped with the other
    whitespace); bytes that are not UTF-8 become U+FFFD, an invalid character in a sequence."""
    return io.TextIOWrapper(open_genome(path), encoding="utf-8", errors="replace", newline="\n")


_READ_ERRORS = (EOFError, OSError, zlib.error, lzma.LZMAError)


def _is_decompression_error(exc: BaseException) -> bool:
    """Errors of a damaged compressed stream (OSErrors from the OS itself carry an errno)."""
    return not (isinstance(exc, OSError) and exc.errno is not None)


def _compression_error(path, record, line, exc) -> GenomeFormatError:
    return GenomeFormatError(
        f"the file is truncated or corrupt and cannot be read to the end ({type(exc).__name__}: "
        f"{exc}); reading stopped here. Download or compress the file again",
        path=path, record=record, line=line)


def _strip_extensions(name: str) -> tuple[str, str]:
    """('sacCer.fa.gz') -> ('sacCer', '.fa')."""
    lower = name.lower()
    for ext in COMPRESSION_EXTENSIONS:
        if lower.endswith(ext) and len(name) > len(ext):
            name, lower = name[: -len(ext)], lower[: -len(ext)]
            break
    for ext in FASTA_EXTENSIONS + GENBANK_EXTENSIONS:
        if lower.endswith(ext) and len(name) > len(ext):
            return name[: -len(ext)], ext
    return name, ""


def genome_stem(path: PathLike) -> str:
    """File name without compression and format extensions: 'DmelanDM6_4.fna.gz' -> 'DmelanDM6_4'."""
    return _strip_extensions(Path(path).name)[0]


def is_genome_file(path: Path) -> bool:
    """A file whose name ends in a genome extension (FASTA or GenBank, optionally compressed)."""
    return path.is_file() and _strip_extensions(path.name)[1] != ""


def _sniff(path: Path) -> tuple[str, int, str]:
    """(format, number and text of the first non-blank line), from the first 64 KiB.

    Reads no further than that line, so a damaged stream is mostly met later by the readers,
    which can say where.
    """
    number, first, size = 0, "", 0
    try:
        with _open_text(path) as handle:
            while size < 1 << 16 and not first:
                text = handle.readline(1 << 16)
                if not text:
                    break
                number, size = number + 1, size + len(text)
                first = text if text.strip() else ""
    except _READ_ERRORS as exc:
        if not _is_decompression_error(exc):
            raise
        raise _compression_error(path, None, None, exc) from exc
    if first.startswith(">"):
        return "fasta", number, first
    if first.startswith("LOCUS"):
        return "genbank", number, first
    if not first:
        raise GenomeFormatError("the file is empty: no records", path=path)
    ext = _strip_extensions(path.name)[1]
    if ext in FASTA_EXTENSIONS:
        return "fasta", number, first  # the reader reports the text before the first header
    if ext in GENBANK_EXTENSIONS:
        return "genbank", number, first
    raise GenomeFormatError(
        f"cannot tell the format: the first line {first.strip()[:60]!r} is neither a FASTA header "
        f"('>') nor a GenBank LOCUS line, and the extension is not one of "
        f"{', '.join(FASTA_EXTENSIONS + GENBANK_EXTENSIONS)}", path=path, line=number)


def detect_format(path: PathLike) -> str:
    """'fasta' or 'genbank', from the first non-blank line, else from the file extension."""
    return _sniff(Path(path))[0]


# --------------------------------------------------------------------------------------------
# checks shared by both formats

Checked = Iterator[tuple[RecordInfo, Union[tuple[bytes, "np.ndarray"], GenomeFormatError]]]  # what the readers yield


def _char_hint(char: str) -> str:
    if char in "-.":
        return " (alignment gaps are not genome sequence)"
    if char in "Uu":
        return " (RNA: write T for U)"
    if char == "*" or char.upper() in "EFIJLOPQXZ":
        return " (not a nucleotide; is this a protein file?)"
    if char.isdigit():
        return " (digits are not sequence)"
    if char == ">":
        return " ('>' only starts a header at the beginning of a line)"
    if char == "\ufffd":
        return " (bytes that are not UTF-8 text)"
    return ""


def _first_invalid(lines: Iterable[tuple[int, str]], column: int = 0):
    """(line, 1-based column, character) of the first invalid character from `column` on, or
    None."""
    for number, text in lines:
        found = _INVALID_CHARACTER.search(text, column)
        if found is not None:
            return number, found.start() + 1, found.group()
    return None


def _check_name(path: Path, info: RecordInfo, seen: dict[str, int],
                line_of: Callable[[int], int]) -> None:
    """A record needs a name no earlier record of the file has (`seen`: name -> index)."""
    if not info.name:
        raise GenomeFormatError("header line without a record name", path=path,
                                line=line_of(info.index))
    if info.name in seen:
        first = line_of(seen[info.name])
        raise GenomeFormatError(f"duplicate record name {info.name!r} (first at line {first})",
                                path=path, record=info.name, line=line_of(info.index))
    seen[info.name] = info.index


def soft_masked_runs(raw: bytes) -> np.ndarray:
    """The [start, end) runs of lowercase letters in `raw` (ASCII sequence without white space), as (n, 2)."""
    lower = np.frombuffer(raw, dtype=np.uint8) >= ord("a")
    edges = np.flatnonzero(np.diff(np.concatenate([[False], lower, [False]]).astype(np.int8)))
    return edges.reshape(-1, 2).astype(np.int64)


def _checked_bases(path: Path, info: RecordInfo, sequence: str, line: Callable[[], int],
                   invalid: Callable[[], tuple[int, int, str]], case_marks_repeats: bool = True
                   ) -> tuple[bytes, np.ndarray]:
    """The upper-case ACGTN bytes of `sequence` and its soft-masked runs (`soft_masked_runs`; none unless
    `case_marks_repeats`); fills in the record's length and N count.

    `line` and `invalid` locate the record's first line and its first invalid character (in the
    lines Biopython read the sequence from, so there is one); they are only called for a bad
    record.
    """
    raw = sequence.encode("ascii", "replace").translate(None, _WHITESPACE.encode())
    bases = raw.translate(NUCLEOTIDE_TABLE)
    if INVALID_BYTE in bases:
        number, column, char = invalid()
        raise GenomeFormatError(
            f"invalid character {char!r} at column {column}{_char_hint(char)}; allowed: ACGTN, "
            f"IUPAC codes {IUPAC_AMBIGUOUS} (read as N), either case",
            path=path, record=info.name, line=number)
    if not bases:
        raise GenomeFormatError("the record has no sequence", path=path, record=info.name,
                                line=line())
    info.length = len(bases)
    info.n_count = bases.count(b"N")
    return bases, soft_masked_runs(raw) if case_marks_repeats else np.zeros((0, 2), dtype=np.int64)


def _first_word(text: str) -> str | None:
    words = text.split(None, 1)
    return words[0] if words else None


def _line_groups(path: Path, start: str) -> Iterator[list[tuple[int, str]]]:
    """The file's (number, text) lines, grouped from each line that begins with `start` (a
    record's first line) to the next one.

    Text before the first record comes as a group of its own, from its first non-blank line. A
    damaged compressed stream raises the located error: the last line read, and the record it
    belongs to, named by the first word after `start`.
    """
    group: list[tuple[int, str]] = []
    number = 0
    try:
        with _open_text(path) as handle:
            for number, text in enumerate(handle, 1):
                if text.startswith(start):
                    if group:
                        yield group
                    group = [(number, text)]
                elif group or text.strip():
                    group.append((number, text))
    except _READ_ERRORS as exc:
        if not _is_decompression_error(exc):
            raise
        first = group[0][1] if group else ""
        name = _first_word(first[len(start):]) if first.startswith(start) else None
        raise _compression_error(path, name, number, exc) from exc
    if group:
        yield group


# --------------------------------------------------------------------------------------------
# FASTA: Biopython's SimpleFastaParser over the whole file


class _FastaLines:
    """Where FASTA records are, for error messages: the file read again alongside the parser.

    Started by the first bad record and moving forward only, so all the errors of a file cost one
    extra read at most; holds the header line numbers and the lines of one record.
    """

    def __init__(self, path: Path):
        self.path = path
        self.groups: Iterator[list[tuple[int, str]]] | None = None
        self.header_lines: list[int] = []
        self.sequence_lines: list[tuple[int, str]] = []

    def _reach(self, index: int) -> None:
        if self.groups is None:
            self.groups = _line_groups(self.path, ">")
        while len(self.header_lines) <= index:
            group = next(self.groups, None)
            if group is None:
                return
            if group[0][1].startswith(">"):  # not the text before the first header
                self.header_lines.append(group[0][0])
                self.sequence_lines = group[1:]

    def header_line(self, index: int) -> int:
        self._reach(index)
        return self.header_lines[index]

    def first_invalid(self, index: int) -> tuple[int, int, str] | None:
        self._reach(index)
        return _first_invalid(self.sequence_lines)

    def read_to_end(self) -> None:
        """Read on to where a damaged file stops: `_line_groups` raises the located error."""
        self._reach(1 << 62)

    def close(self) -> None:
        if self.groups is not None:
            self.groups.close()


def _fasta_records(path: Path, first_line: int, first_text: str, select: Select | None) -> Checked:
    """(info, (ACGTN bytes, soft-masked runs)) per good record, (info, located error) per bad one, in file order."""
    if not first_text.startswith(">"):  # Biopython skips such text silently
        yield (RecordInfo(str(path), -1, None, ""),
               GenomeFormatError("sequence data before the first '>' header (is this a FASTA "
                                 "file?)", path=path, line=first_line))
    lines = _FastaLines(path)
    seen: dict[str, int] = {}
    try:
        with _open_text(path) as handle:
            for index, (title, sequence) in enumerate(SimpleFastaParser(handle)):
                name, description = (title.split(None, 1) + ["", ""])[:2]
                info = RecordInfo(str(path), index, name or None, description)
                try:
                    _check_name(path, info, seen, lines.header_line)
                    if select is None or select(index, name):
                        yield info, _checked_bases(path, info, sequence,
                                                   lambda: lines.header_line(index),
                                                   lambda: lines.first_invalid(index))
                except GenomeFormatError as err:
                    yield info, err
    except _READ_ERRORS as exc:
        if not _is_decompression_error(exc):
            raise
        lines.read_to_end()
        raise _compression_error(path, None, None, exc) from exc
    finally:
        lines.close()


# --------------------------------------------------------------------------------------------
# GenBank: records cut at their LOCUS lines here, each parsed by Bio.GenBank


def _genbank_name(record) -> str:
    """VERSION, else the first ACCESSION, else the LOCUS name ('.' and 'unknown' are no name)."""
    for name in (record.version, *record.accession[:1], record.locus):
        if name and name not in (".", "unknown"):
            return name
    return ""


def _genbank_records(path: Path, select: Select | None) -> Checked:
    """(info, (ACGTN bytes, no soft-masked runs)) per good record, (info, located error) per bad one, in file order."""
    seen: dict[str, int] = {}
    locus_lines: list[int] = []
    for group in _line_groups(path, "LOCUS"):
        start, locus = group[0]
        if not locus.startswith("LOCUS"):
            yield (RecordInfo(str(path), -1, None, ""),
                   GenomeFormatError("expected a LOCUS line to start a GenBank record",
                                     path=path, line=start))
            continue
        index = len(locus_lines)
        locus_lines.append(start)
        texts = [text for _, text in group]
        end = next((i for i, text in enumerate(texts) if text.startswith("//")), None)
        info = RecordInfo(str(path), index, _first_word(locus[len("LOCUS"):]), "")
        try:
            if end is None:
                raise GenomeFormatError("the record is not closed by '//' (truncated file?)",
                                        path=path, record=info.name, line=start)
            origin = next((i for i, text in enumerate(texts) if text.startswith("ORIGIN")), None)
            if origin is None:
                raise GenomeFormatError("the record has no ORIGIN sequence section (CONTIG / WGS "
                                        "master records are not supported)",
                                        path=path, record=info.name, line=start)
            try:
                record = GenBank.read(io.StringIO("".join(texts[: end + 1])))
            except ValueError as exc:
                raise GenomeFormatError(f"Biopython cannot parse the record: {exc}", path=path,
                                        record=info.name, line=start) from exc
            info.name, info.description = _genbank_name(record) or None, record.definition
            _check_name(path, info, seen, locus_lines.__getitem__)
            if select is None or select(index, info.name):
                if "PROTEIN" in record.residue_type:
                    raise GenomeFormatError("a protein record (the LOCUS line says 'aa'), not DNA",
                                            path=path, record=info.name, line=start)
                bases = _checked_bases(
                    path, info, record.sequence, lambda: start,
                    lambda: _first_invalid(group[origin + 1:end], _GENBANK_SEQUENCE_COLUMN), case_marks_repeats=False)
                if record.size and len(bases[0]) != int(record.size):
                    raise GenomeFormatError(f"the sequence has {len(bases[0])} bases but the LOCUS "
                                            f"line says {record.size} bp", path=path,
                                            record=info.name, line=start)
                yield info, bases
        except GenomeFormatError as err:
            yield info, err
        trailing = [] if end is None else [n for n, text in group[end + 1:] if text.strip()]
        if trailing:
            yield (RecordInfo(str(path), -1, None, ""),
                   GenomeFormatError("expected a LOCUS line to start a GenBank record",
                                     path=path, line=trailing[0]))


# --------------------------------------------------------------------------------------------
# records


def _checked_records(path: Path, select: Select | None, skip_bad_records: bool,
                     bad: list[RecordInfo]) -> Iterator[tuple[RecordInfo, tuple[bytes, np.ndarray]]]:
    """(info, (ACGTN bytes, soft-masked runs)) per good record. A bad record raises its `GenomeFormatError`, or with
    `skip_bad_records` is appended to `bad`."""
    fmt, first_line, first_text = _sniff(path)
    if fmt == "fasta":
        checked = _fasta_records(path, first_line, first_text, select)
    else:
        checked = _genbank_records(path, select)
    for info, result in checked:
        if isinstance(result, GenomeFormatError):
            if not skip_bad_records:
                raise result
            where = "" if result.line is None else f"line {result.line}: "
            info.error = where + result.reason
            bad.append(info)
        else:
            yield info, result


def _warn_skipped(path: Path, bad: list[RecordInfo]) -> None:
    if bad:
        names = ", ".join(repr(r.name) if r.name else "(no name)" for r in bad[:10])
        more = f" and {len(bad) - 10} more" if len(bad) > 10 else ""
        logger.warning("%s: skipped %d bad record(s): %s%s", path, len(bad), names, more)


def scan_genome(path: PathLike, *, skip_bad_records: bool = False, progress=None) -> GenomeIndex:
    """Read and validate a whole file: its records, their lengths and N counts.

    Raises `GenomeFormatError` on the first problem, or with `skip_bad_records=True` lists the
    bad records in `GenomeIndex.bad_records`. `progress`, an optional tqdm-like object, is
    updated with the bases read.
    """
    path = Path(path)
    records: list[RecordInfo] = []
    bad: list[RecordInfo] = []
    for info, (bases, _) in _checked_records(path, None, skip_bad_records, bad):
        records.append(info)
        if progress is not None:
            progress.update(len(bases))
    _warn_skipped(path, bad)
    return GenomeIndex(path, detect_format(path), records, bad)


def iter_records(path: PathLike, *, skip_bad_records: bool = False, select: Select | None = None,
                 stats: ReadStats | None = None) -> Iterator[GenomeRecord]:
    """The good records of one genome file (FASTA / GenBank, any supported compression), one at a
    time, in file order.

    `select` (`(index, name) -> bool`) picks records; the others are not checked beyond their
    name. Strict by default: the first problem raises `GenomeFormatError`. With
    `skip_bad_records=True` bad records are skipped and added to `stats`, or logged when no
    `stats` is given.
    """
    path = Path(path)
    bad = [] if stats is None else stats.bad_records
    for info, (bases, soft_masked) in _checked_records(path, select, skip_bad_records, bad):
        yield GenomeRecord(info.name, info.description, str(path), info.index, bases.decode("ascii"), soft_masked)
    if stats is None:
        _warn_skipped(path, bad)


def read_genome(path: PathLike, *, skip_bad_records: bool = False) -> dict[str, str]:
    """{name: sequence} for a whole file. Holds everything in memory: small genomes only."""
    return {r.name: r.sequence for r in iter_records(path, skip_bad_records=skip_bad_records)}
