"""Streaming genome readers: FASTA and GenBank, plain or compressed (gzip, bgzip, bz2, xz).

Memory stays bounded by the read block size (1 MiB by default) and the window size, never by the
genome size: sequences are parsed block by block and handed on as chunks, so a 3 Gb human
assembly streams through in constant memory. Parsing and validation run on whole blocks with
`bytes.translate` / `bytes.find` (C speed); lines are only counted, never looped over in Python,
except in GenBank files, which are read line by line.

Formats (detected from the content, the file extension as a fallback):

* FASTA: `>name description` header lines, sequence lines of any width (one unwrapped line of
  hundreds of megabases is fine), blank lines ignored, CRLF line endings accepted.
* GenBank (.gb / .gbk / .gbff): one or more `LOCUS ... //` records; the sequence comes from the
  ORIGIN section (position numbers and spaces removed). The record name is the VERSION
  (accession.version, as in NCBI FASTA headers), else the first ACCESSION, else the LOCUS name;
  the description is the DEFINITION. The base count must agree with the LOCUS line.
* Compression is detected from the magic bytes: gzip and bgzip (bgzip is multi-member gzip),
  bz2, xz. zstd is refused with a clear message.

Alphabet. Sequences are upper-cased (soft-masked lowercase bases become plain bases) and the
IUPAC ambiguity codes R Y S W K M B D H V become N, so everything downstream only sees `ACGTN`.
Every other character is an error that names the file, the record, the line, the column and the
character; that includes alignment gaps `-` / `.`, the stop `*`, RNA's `U` and digits (apart from
GenBank's ORIGIN position numbers). Spaces and tabs inside sequence lines are ignored.

Errors. Malformed input raises `GenomeFormatError` (a `ValueError`) naming the file, the record
and the line: sequence before the first header, a record without sequence, a header without a
name, a duplicate record name in one file, an invalid character, a GenBank record that is not
closed by `//` or whose length disagrees with its LOCUS line, a truncated or corrupt compressed
file. Nothing is skipped silently: with `skip_bad_records=True` a bad record is skipped and
counted instead (`ReadStats`, `GenomeIndex.bad_records`, and a logged warning). A truncated or
corrupt compressed file is always an error, since what is missing cannot be known.

Main entry points: `scan_genome` (validate a file and list its records and lengths),
`iter_records` (records with streaming sequence chunks), `iter_windows` (fixed-size windows from
a rolling buffer, over many files and species), `read_genome` (whole sequences, small genomes
only), `window_spans` / `count_windows` (the window arithmetic), `resolve_genomes` (file,
`source=file` and directory arguments).
"""

from __future__ import annotations

import bz2
import gzip
import logging
import lzma
import os
import re
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO, Callable, Iterable, Iterator, Literal, NamedTuple, Union

logger = logging.getLogger(__name__)

__all__ = [
    "ALLOWED_CHARACTERS",
    "DEFAULT_CHUNK_SIZE",
    "FASTA_EXTENSIONS",
    "GENBANK_EXTENSIONS",
    "GenomeFormatError",
    "GenomeIndex",
    "GenomeRecord",
    "ReadStats",
    "RecordInfo",
    "Window",
    "count_windows",
    "detect_format",
    "genome_stem",
    "iter_records",
    "iter_windows",
    "open_genome",
    "read_genome",
    "resolve_genomes",
    "scan_genome",
    "window_spans",
]

PathLike = Union[str, os.PathLike]

#: Read block size in bytes (decompressed); also the largest sequence chunk handed on.
DEFAULT_CHUNK_SIZE = 1 << 20

NUCLEOTIDES = "ACGTN"
IUPAC_AMBIGUITY = "RYSWKMBDHV"
#: Characters accepted in sequence data (either case); IUPAC ambiguity codes are read as N.
ALLOWED_CHARACTERS = NUCLEOTIDES + IUPAC_AMBIGUITY

FASTA_EXTENSIONS = (".fa", ".fasta", ".fna", ".fas", ".fsa", ".ffn", ".frn", ".mfa", ".seq")
GENBANK_EXTENSIONS = (".gb", ".gbk", ".gbff", ".gbf", ".genbank")
COMPRESSION_EXTENSIONS = (".gz", ".bgz", ".bgzf", ".bz2", ".xz")


def _translation_table() -> bytes:
    table = bytearray(range(256))
    for c in NUCLEOTIDES.encode():
        table[c] = table[c + 32] = c
    for c in IUPAC_AMBIGUITY.encode():
        table[c] = table[c + 32] = ord("N")
    return bytes(table)


_TABLE = _translation_table()  # valid characters -> ACGTN, anything else unchanged
_WHITESPACE = b" \t\r\n\v\f"
_DIGITS = b"0123456789"
_ACGTN = b"ACGTN"
_ALLOWED_CLASS = re.escape((ALLOWED_CHARACTERS + ALLOWED_CHARACTERS.lower()).encode())
_BAD_FASTA = re.compile(rb"[^" + _ALLOWED_CLASS + rb" \t\r\n\v\f]")
_BAD_GENBANK = re.compile(rb"[^" + _ALLOWED_CLASS + rb" \t\r\n\v\f0-9]")
_NON_WHITESPACE = re.compile(rb"[^ \t\r\n\v\f]")
_LOCUS_LENGTH = re.compile(rb"\s(\d+)\s+(bp|aa)\b", re.IGNORECASE)


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
    """One record of a genome file, as seen by the parser."""

    path: str
    index: int  # 0-based position in the file (-1: data before the first record)
    name: str | None
    description: str
    line: int  # line of the header (FASTA) or LOCUS line (GenBank)
    length: int = 0  # bases (after validation; only complete for good records)
    n_count: int = 0  # N bases, IUPAC codes included
    error: str | None = None  # why the record is bad; None for a good record

    @property
    def ok(self) -> bool:
        return self.error is None


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
    """A record with its sequence as a stream of upper-case ACGTN string chunks.

    `chunks` reads the file as it goes: consume it before advancing `iter_records` (what is
    left unread is skipped when the iterator moves on).
    """

    name: str
    description: str
    path: str
    index: int
    line: int
    chunks: Iterator[str]

    def sequence(self) -> str:
        """The whole sequence (reads the rest of the record into memory)."""
        return "".join(self.chunks)


class Window(NamedTuple):
    chrom: str
    start: int  # 0-based, inclusive
    end: int  # exclusive
    sequence: str
    source: str


# --------------------------------------------------------------------------------------------
# files, compression and format detection


def _show_char(byte: int) -> str:
    return repr(chr(byte)) if 32 <= byte < 127 else f"'\\x{byte:02x}'"


def _char_hint(byte: int) -> str:
    ch = chr(byte)
    if ch in "-.":
        return " (alignment gaps are not genome sequence)"
    if ch in "Uu":
        return " (RNA: write T for U)"
    if ch == "*" or ch.upper() in "EFIJLOPQXZ":
        return " (not a nucleotide; is this a protein file?)"
    if ch.isdigit():
        return " (digits are not sequence)"
    if ch == ">":
        return " ('>' only starts a header at the beginning of a line)"
    return ""


def _allowed_text() -> str:
    return f"allowed: {NUCLEOTIDES}, IUPAC codes {IUPAC_AMBIGUITY} (read as N), either case"


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


def _is_genome_file(path: Path) -> bool:
    return path.is_file() and _strip_extensions(path.name)[1] != ""


def detect_format(path: PathLike) -> str:
    """'fasta' or 'genbank', from the first non-blank line, else from the file extension."""
    path = Path(path)
    try:
        with open_genome(path) as fh:
            head = fh.read(1 << 16)
    except _READ_ERRORS as exc:
        if not _is_decompression_error(exc):
            raise
        raise _compression_error(path, None, None, exc) from exc
    first = b""
    for raw in head.splitlines():
        if raw.strip():
            first = raw.lstrip()
            break
    if first.startswith(b">"):
        return "fasta"
    if first.startswith(b"LOCUS"):
        return "genbank"
    if not head.strip():
        raise GenomeFormatError("the file is empty: no records", path=path)
    ext = _strip_extensions(path.name)[1]
    if ext in FASTA_EXTENSIONS:
        return "fasta"  # the parser reports the missing header with its line
    if ext in GENBANK_EXTENSIONS:
        return "genbank"
    shown = first[:60].decode("utf-8", "replace")
    raise GenomeFormatError(
        f"cannot tell the format: the first line {shown!r} is neither a FASTA header ('>') nor "
        f"a GenBank LOCUS line, and the extension is not one of "
        f"{', '.join(FASTA_EXTENSIONS + GENBANK_EXTENSIONS)}", path=path, line=1)


# --------------------------------------------------------------------------------------------
# parsers: generators of events
#   ("start", RecordInfo)         a selected record begins
#   ("data", bytes)               upper-case ACGTN sequence of the current record
#   ("end", RecordInfo)           the current record is complete and valid
#   ("bad", RecordInfo)           skip_bad_records: the record is bad (info.error says why)
# Records that `select(index, name)` rejects produce no events and are not validated.

Select = Callable[[int, str], bool]


class _Parser:
    def __init__(self, path: Path, fh: BinaryIO, select: Select | None, skip_bad_records: bool,
                 chunk_size: int):
        self.path = path
        self.fh = fh
        self.select = select
        self.skip = skip_bad_records
        self.chunk_size = max(1, int(chunk_size))
        self.lineno = 1
        self.index = -1
        self.rec: RecordInfo | None = None
        self.selected = False
        self.seen: dict[str, int] = {}
        self.pending_error: BaseException | None = None

    def read(self) -> bytes:
        """Up to chunk_size bytes. A damaged compressed stream is reported on the call after the
        one returning the data decoded before the damage, so the error names the record and
        line where the file stops making sense."""
        if self.pending_error is not None:
            exc = self.pending_error
            name = self.rec.name if self.rec is not None else None
            raise _compression_error(self.path, name, self.lineno, exc) from exc
        parts, size = [], 0
        try:
            while size < self.chunk_size:
                data = self.fh.read1(self.chunk_size - size)
                if not data:
                    break
                parts.append(data)
                size += len(data)
        except _READ_ERRORS as exc:
            if not _is_decompression_error(exc):
                raise
            self.pending_error = exc
            if not parts:
                return self.read()
        return b"".join(parts) if len(parts) != 1 else parts[0]

    def fail(self, rec: RecordInfo, message: str, line: int | None):
        """Strict: raise. Skip mode: mark the record bad and return the event to emit (or None)."""
        if not self.skip:
            raise GenomeFormatError(message, path=self.path, record=rec.name, line=line)
        if rec.error is None:
            rec.error = f"line {line}: {message}" if line is not None else message
            if rec.index < 0 or self.selected:
                return ("bad", rec)
        return None

    def new_record(self, name: str, description: str, line: int) -> list:
        """Open record `name` (header at `line`): returns the events to emit."""
        self.index += 1
        rec = RecordInfo(str(self.path), self.index, name or None, description, line)
        self.rec = rec
        self.selected = self.select is None or self.select(self.index, name)
        events = []
        if not name:
            ev = self.fail(rec, "header line without a record name", line)
        elif name in self.seen:
            ev = self.fail(rec, f"duplicate record name {name!r} (first at line {self.seen[name]})",
                           line)
        else:
            self.seen[name] = line
            ev = None
            if self.selected:
                events.append(("start", rec))
        if ev is not None:
            events.append(ev)
        return events

    def end_record(self, expected_length: int | None = None):
        """Close the current record: returns the event to emit, or None."""
        rec = self.rec
        if rec is None or not self.selected or rec.error is not None:
            return None
        if rec.length == 0:
            return self.fail(rec, "the record has no sequence", rec.line)
        if expected_length is not None and rec.length != expected_length:
            return self.fail(rec, f"the sequence has {rec.length} bases but the LOCUS line says "
                                  f"{expected_length} bp", rec.line)
        return ("end", rec)

    def clean(self, data: bytes, delete: bytes) -> bytes | None:
        """Upper-case ACGTN bytes, or None when `data` holds an invalid character."""
        out = data.translate(_TABLE, delete)
        if out.translate(None, _ACGTN):
            return None
        return out


class _FastaParser(_Parser):
    def events(self) -> Iterator[tuple]:
        col = 0  # bytes already read on the current line
        at_line_start = True
        header: bytearray | None = None
        header_line = 0
        junk: RecordInfo | None = None  # data before the first header
        while True:
            block = self.read()
            if not block:
                break
            pos, n = 0, len(block)
            while pos < n:
                if header is not None:  # inside a header line
                    nl = block.find(b"\n", pos)
                    if nl < 0:
                        header += block[pos:]
                        break
                    header += block[pos:nl]
                    pos = nl + 1
                    yield from self._header(header, header_line)
                    header = None
                    self.lineno += 1
                    col, at_line_start = 0, True
                    continue
                if at_line_start and block[pos] == 62:  # '>'
                    ev = self.end_record()
                    if ev is not None:
                        yield ev
                    header, header_line = bytearray(), self.lineno
                    pos += 1
                    continue
                nxt = block.find(b"\n>", pos)
                end = n if nxt < 0 else nxt + 1
                seg = block[pos:end]
                pos = end
                rec = self.rec
                if rec is None:
                    if junk is None:
                        m = _NON_WHITESPACE.search(seg)
                        if m is not None:
                            line = self.lineno + seg.count(b"\n", 0, m.start())
                            junk = RecordInfo(str(self.path), -1, None, "", line)
                            ev = self.fail(junk, "sequence data before the first '>' header "
                                                 "(is this a FASTA file?)", line)
                            if ev is not None:
                                yield ev
                elif self.selected and rec.error is None:
                    out = self.clean(seg, _WHITESPACE)
                    if out is None:
                        ev = self._bad_char(seg, col, _BAD_FASTA)
                        if ev is not None:
                            yield ev
                    elif out:
                        rec.length += len(out)
                        rec.n_count += out.count(b"N")
                        yield ("data", out)
                nls = seg.count(b"\n")
                if nls:
                    self.lineno += nls
                    col = len(seg) - seg.rfind(b"\n") - 1
                else:
                    col += len(seg)
                at_line_start = seg.endswith(b"\n")
        if header is not None:  # header on the last line, no newline after it
            yield from self._header(header, header_line)
        ev = self.end_record()
        if ev is not None:
            yield ev

    def _header(self, header: bytearray, line: int) -> list:
        text = bytes(header).decode("utf-8", "replace").strip()
        parts = text.split(None, 1)
        name = parts[0] if parts else ""
        description = parts[1] if len(parts) > 1 else ""
        return self.new_record(name, description, line)

    def _bad_char(self, seg: bytes, col: int, pattern: re.Pattern):
        p = pattern.search(seg).start()
        line = self.lineno + seg.count(b"\n", 0, p)
        nl = seg.rfind(b"\n", 0, p)
        column = col + p + 1 if nl < 0 else p - nl
        byte = seg[p]
        return self.fail(self.rec, f"invalid character {_show_char(byte)} at column {column}"
                                   f"{_char_hint(byte)}; {_allowed_text()}", line)


class _GenBankParser(_Parser):
    def lines(self) -> Iterator[bytes]:
        carry = b""
        while True:
            block = self.read()
            if not block:
                break
            block = carry + block
            parts = block.split(b"\n")
            carry = parts.pop()
            yield from parts
        if carry:
            yield carry

    def events(self) -> Iterator[tuple]:
        state = "out"  # out | head | seq
        self.lineno = 0
        locus_line = 0
        locus_name = accession = version = ""
        locus_length: int | None = None
        definition: list[str] = []
        last_key = b""
        junk: RecordInfo | None = None
        batch: list[bytes] = []
        batch_size = 0
        batch_line = 0
        head_error: tuple[str, int] | None = None

        def flush():
            nonlocal batch, batch_size
            lines, first = batch, batch_line
            batch, batch_size = [], 0
            rec = self.rec
            out = self.clean(b"".join(lines), _WHITESPACE + _DIGITS)
            if out is None:
                for k, ln in enumerate(lines):
                    if self.clean(ln, _WHITESPACE + _DIGITS) is None:
                        p = _BAD_GENBANK.search(ln).start()
                        byte = ln[p]
                        return self.fail(rec, f"invalid character {_show_char(byte)} at column "
                                              f"{p + 1}{_char_hint(byte)}; {_allowed_text()}",
                                         first + k)
            if out:
                rec.length += len(out)
                rec.n_count += out.count(b"N")
                return ("data", out)
            return None

        def unterminated(line: int):
            return self.fail(self.rec, f"the record starting at line {self.rec.line} is not closed "
                                       f"by '//' (truncated file?)", line)

        for raw in self.lines():
            self.lineno += 1
            if state == "seq":
                if raw.startswith(b"//") or raw.startswith(b"LOCUS"):
                    if batch:
                        ev = flush()
                        if ev is not None:
                            yield ev
                    if raw.startswith(b"LOCUS"):  # previous record not closed
                        if self.selected:
                            ev = unterminated(self.lineno)
                            if ev is not None:
                                yield ev
                    else:
                        ev = self.end_record(locus_length)
                        if ev is not None:
                            yield ev
                        state = "out"
                        continue
                    state = "out"  # fall through: the LOCUS line opens a new record
                elif self.selected and self.rec.error is None:
                    if not batch:
                        batch_line = self.lineno
                    batch.append(raw)
                    batch_size += len(raw)
                    if batch_size >= self.chunk_size:
                        ev = flush()
                        if ev is not None:
                            yield ev
                    continue
                else:
                    continue
            if state == "head":
                if raw.startswith(b"ORIGIN") or raw.startswith(b"//") or raw.startswith(b"LOCUS"):
                    name = version or accession or locus_name
                    events = self.new_record(name, " ".join(definition), locus_line)
                    yield from events
                    rec = self.rec
                    if head_error is not None and rec.error is None:
                        ev = self.fail(rec, *head_error)
                        if ev is not None:
                            yield ev
                    if raw.startswith(b"ORIGIN"):
                        state = "seq"
                        continue
                    if raw.startswith(b"//"):
                        if self.selected and rec.error is None:
                            ev = self.fail(rec, "the record has no ORIGIN sequence section (CONTIG /"
                                                " WGS master records are not supported)",
                                           locus_line)
                            if ev is not None:
                                yield ev
                        state = "out"
                        continue
                    if self.selected:  # LOCUS inside a header: previous record not closed
                        ev = unterminated(self.lineno)
                        if ev is not None:
                            yield ev
                    state = "out"  # fall through to open the new record
                else:
                    key = raw[:12].strip()
                    value = raw[12:].strip().decode("utf-8", "replace")
                    if key and not raw[:1].isspace():
                        last_key = key
                        token = value.split()[0] if value.split() else ""
                        token = "" if token in (".", "unknown") else token
                        if key == b"DEFINITION":
                            definition = [value] if value else []
                        elif key == b"ACCESSION":
                            accession = token
                        elif key == b"VERSION":
                            version = token
                    elif not key and last_key == b"DEFINITION" and value:
                        definition.append(value)
                    elif key:
                        last_key = key
                    continue
            # state == "out"
            if raw.startswith(b"LOCUS"):
                state = "head"
                locus_line = self.lineno
                tokens = raw.split()
                locus_name = tokens[1].decode("utf-8", "replace") if len(tokens) > 1 else ""
                accession = version = ""
                definition, last_key, head_error = [], b"LOCUS", None
                m = _LOCUS_LENGTH.search(raw)
                locus_length = int(m.group(1)) if m else None
                if m and m.group(2).lower() == b"aa":
                    head_error = ("a protein record (the LOCUS line says 'aa'), not DNA",
                                  locus_line)
                continue
            if raw.strip() and junk is None:
                junk = RecordInfo(str(self.path), -1, None, "", self.lineno)
                saved, self.rec = self.rec, None
                ev = self.fail(junk, "expected a LOCUS line to start a GenBank record",
                               self.lineno)
                self.rec = saved
                if ev is not None:
                    yield ev
        # end of file
        if state == "seq":
            if batch:
                ev = flush()
                if ev is not None:
                    yield ev
            if self.selected:
                ev = unterminated(self.lineno)
                if ev is not None:
                    yield ev
        elif state == "head":
            name = version or accession or locus_name
            yield from self.new_record(name, " ".join(definition), locus_line)
            if self.selected:
                ev = unterminated(self.lineno)
                if ev is not None:
                    yield ev


def _events(path: Path, select: Select | None, skip_bad_records: bool,
            chunk_size: int) -> Iterator[tuple]:
    fmt = detect_format(path)
    with open_genome(path) as fh:
        cls = _FastaParser if fmt == "fasta" else _GenBankParser
        yield from cls(path, fh, select, skip_bad_records, chunk_size).events()


# --------------------------------------------------------------------------------------------
# records


def _warn_skipped(path, bad: list[RecordInfo]) -> None:
    if bad:
        names = ", ".join(repr(r.name) if r.name else "(no name)" for r in bad[:10])
        more = f" and {len(bad) - 10} more" if len(bad) > 10 else ""
        logger.warning("%s: skipped %d bad record(s): %s%s", path, len(bad), names, more)


def scan_genome(path: PathLike, *, skip_bad_records: bool = False,
                chunk_size: int = DEFAULT_CHUNK_SIZE, progress=None) -> GenomeIndex:
    """Read and validate a whole file: its records, their lengths and N counts.

    Streams (constant memory). Raises `GenomeFormatError` on the first problem, or with
    `skip_bad_records=True` lists the bad records in `GenomeIndex.bad_records`. `progress`, an
    optional tqdm-like object, is updated with the bases read.
    """
    path = Path(path)
    fmt = detect_format(path)
    records: list[RecordInfo] = []
    bad: list[RecordInfo] = []
    for event in _events(path, None, skip_bad_records, chunk_size):
        kind = event[0]
        if kind == "data":
            if progress is not None:
                progress.update(len(event[1]))
        elif kind == "end":
            records.append(event[1])
        elif kind == "bad":
            bad.append(event[1])
    _warn_skipped(path, bad)
    return GenomeIndex(path, fmt, records, bad)


def _record_streams(path: Path, select: Select | None, skip_bad_records: bool,
                    chunk_size: int) -> Iterator[tuple[RecordInfo, Iterator[bytes]]]:
    """(record, iterator of ACGTN byte chunks) for the selected records, in file order.

    In skip mode the caller must already have excluded bad records through `select` (their
    problems may only show up after part of their sequence was handed on).
    """
    events = _events(path, select, skip_bad_records, chunk_size)

    def chunks(rec: RecordInfo) -> Iterator[bytes]:
        for event in events:
            kind = event[0]
            if kind == "data":
                yield event[1]
            elif kind == "end":
                return
            elif kind == "bad" and event[1] is rec:
                raise GenomeFormatError(f"{rec.error} (the file changed while it was read?)",
                                        path=path, record=rec.name)
        raise GenomeFormatError("unexpected end of the record stream", path=path, record=rec.name)

    for event in events:
        if event[0] == "start":
            rec = event[1]
            stream = chunks(rec)
            yield rec, stream
            for _ in stream:  # skip what the consumer left unread
                pass


def _selected_streams(path: Path, skip_bad_records: bool, select: Select | None,
                      stats: ReadStats | None, chunk_size: int):
    if skip_bad_records:
        index = scan_genome(path, skip_bad_records=True, chunk_size=chunk_size)
        if stats is not None:
            stats.bad_records.extend(index.bad_records)
        bad = {r.index for r in index.bad_records}
        if bad:
            user_select = select

            def select(i: int, name: str) -> bool:
                return i not in bad and (user_select is None or user_select(i, name))

    return _record_streams(path, select, skip_bad_records, chunk_size)


def iter_records(path: PathLike, *, skip_bad_records: bool = False, select: Select | None = None,
                 stats: ReadStats | None = None,
                 chunk_size: int = DEFAULT_CHUNK_SIZE) -> Iterator[GenomeRecord]:
    """Stream the records of one genome file (FASTA / GenBank, any supported compression).

    Yields `GenomeRecord`s whose `chunks` iterate the upper-case ACGTN sequence in pieces of at
    most `chunk_size` bases: memory is bounded by `chunk_size`, not by the genome. `select`
    (`(index, name) -> bool`) picks records; the others are skipped without validation. Strict
    by default: the first problem raises `GenomeFormatError`. With `skip_bad_records=True` the
    file is validated first (an extra pass), bad records are skipped, logged and added to
    `stats`.
    """
    path = Path(path)
    for rec, chunks in _selected_streams(path, skip_bad_records, select, stats, chunk_size):
        yield GenomeRecord(rec.name, rec.description, str(path), rec.index, rec.line,
                           (c.decode("ascii") for c in chunks))


def read_genome(path: PathLike, *, skip_bad_records: bool = False) -> dict[str, str]:
    """{name: sequence} for a whole file. Holds everything in memory: small genomes only."""
    return {r.name: r.sequence() for r in iter_records(path, skip_bad_records=skip_bad_records)}


# --------------------------------------------------------------------------------------------
# windows


def _check_window_args(window: int, stride: int | None, min_window: int | None) -> tuple[int, int, int]:
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
    * "shifted" (fine-tuning chunks): full windows while they end before the sequence end, then
      one window moved back to end exactly there, so every base is covered and every window has
      `window` bases; a sequence of at most `window` bases is the one window (0, length).
      `min_window` does not apply.

    `frame` rounds the stride down to a multiple of itself (at least one frame), so every start
    but a shifted last one stays in the k-mer frame of the whole sequence (frame=k).
    """
    if last_window not in ("partial", "shifted"):
        raise ValueError(f"last_window must be 'partial' or 'shifted', got {last_window!r}")
    if last_window == "shifted" and min_window is not None:
        raise ValueError("min_window applies to last_window='partial' only")
    window, stride, min_window = _check_window_args(window, stride, min_window)
    frame = int(frame)
    if frame < 1:
        raise ValueError(f"frame must be a positive number of bases, got {frame}")
    stride = max(frame, stride // frame * frame)
    if last_window == "shifted":
        if length <= window:
            return [(0, length)]
        starts = [*range(0, length - window, stride), length - window]
        return [(s, s + window) for s in starts]
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


def _slide(chunks: Iterable[bytes], window: int, stride: int,
           min_window: int) -> Iterator[tuple[int, int, bytes]]:
    """Windows (start, end, bases) from a stream of chunks, through a rolling buffer.

    Same spans as `window_spans`; the buffer never holds much more than one window plus one
    chunk.
    """
    buf = b""
    buf_start = 0  # sequence position of buf[0]
    start = 0  # next window start
    covered = 0
    for chunk in chunks:
        buf = buf + chunk if buf else chunk
        buf_end = buf_start + len(buf)
        while start + window <= buf_end:
            i = start - buf_start
            yield start, start + window, buf[i:i + window]
            covered = start + window
            start += stride
        if start > buf_start:
            cut = min(start - buf_start, len(buf))
            buf = buf[cut:]
            buf_start += cut
    length = buf_start + len(buf)
    if start < length and length - start >= min_window and length > covered:
        yield start, length, buf[start - buf_start:]


GenomeSpec = Union[PathLike, tuple]


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
            files = sorted(p for p in path.iterdir() if _is_genome_file(p))
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


def iter_windows(genomes, window: int, stride: int | None = None, *,
                 min_window: int | None = None, chroms: Iterable[str] | None = None,
                 skip_bad_records: bool = False, stats: ReadStats | None = None,
                 chunk_size: int = DEFAULT_CHUNK_SIZE) -> Iterator[Window]:
    """Windows over one or many genome files (see `resolve_genomes` for `genomes`).

    Streams: memory is bounded by `window + chunk_size`. Windows follow `window_spans`
    (stride defaults to window; a last partial window is kept when >= min_window, default
    window // 2). `chroms` restricts to these record names. Order: files as given, records in
    file order, windows by start.
    """
    window, stride, min_window = _check_window_args(window, stride, min_window)
    wanted = None if chroms is None else set(chroms)
    select = None if wanted is None else (lambda i, name: name in wanted)
    for source, path in resolve_genomes(genomes):
        for rec, chunks in _selected_streams(Path(path), skip_bad_records, select, stats,
                                             chunk_size):
            for start, end, seq in _slide(chunks, window, stride, min_window):
                yield Window(rec.name, start, end, seq.decode("ascii"), source)
