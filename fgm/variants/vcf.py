"""Reading variants from VCF / BCF (pysam) against a reference, one row per ALT allele.

Multi-allelic records are split per ALT. Every allele becomes a row: SNVs are scored; the others get
an empty score and a reason code, and are counted, never dropped:

    indel         REF and ALT differ in length
    mnp           a multi-base substitution (REF and ALT of equal length > 1)
    symbolic      a symbolic or breakend allele (<DEL>, <INS>, N[chr2:100[, ...): a structural variant
    star          the '*' allele (the site is spanned by an upstream deletion)
    no_alt        a record without ALT allele ('.')
    not_acgt      an allele with a base other than A, C, G, T (e.g. N or an IUPAC code)
    ref_mismatch  REF differs from the FASTA (only with skip_ref_mismatch; otherwise an error)
    unknown_contig  the FASTA has no such contig (only with skip_unknown_contigs; otherwise an error)

Errors name the file, the line (the record number for BCF) and the record: a contig missing from the
FASTA (with its names and the chr-prefix fix), a position past the contig end, a REF that differs from
the FASTA, a malformed line.
"""

from __future__ import annotations

import contextlib
import gzip
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from ..data.reference import ContigNotFoundError

REASONS = ("indel", "mnp", "symbolic", "star", "no_alt", "not_acgt", "ref_mismatch", "unknown_contig")


class VariantFileError(ValueError):
    """A VCF problem, located: file, line (or record number) and record."""


@dataclass
class VariantRow:
    chrom: str
    pos: int  # 1-based
    id: str
    ref: str
    alt: str
    reason: str | None = None  # None: an SNV to score
    record: int = 0  # 0-based index of the VCF record it comes from (rows of one record share it)


END_INFO = '##INFO=<ID=END,Number=1,Type=Integer,Description="End position of the variant (VCF reserved key)">'


@contextlib.contextmanager
def readable_by_htslib(path, declare_contigs: dict[str, int | None] | None = None):
    """`path`, or a temporary copy htslib can use: decompressed when it is plain gzip (htslib reads only
    bgzip), and, when `declare_contigs` is given (for writing records back), with the header lines
    htslib needs to write them: `##contig` lines for those contigs (name -> length, None when unknown) and
    the reserved INFO/END key (used by symbolic alleles), where the header lacks them."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"variant file not found: {path}")
    with open(path, "rb") as handle:
        head = handle.read(16)
    plain_gzip = head[:2] == b"\x1f\x8b" and head[12:14] != b"BC"  # BGZF blocks carry a 'BC' extra field
    lines = _text_lines(path) if declare_contigs else None
    missing = []
    if lines is not None:
        header = [line for line in lines if line.startswith("##")]
        declared = {line.split("ID=", 1)[1].split(",")[0].rstrip(">") for line in header if line.startswith("##contig")}
        missing = [f"##contig=<ID={name}" + ("" if length is None else f",length={length}") + ">"
                   for name, length in declare_contigs.items() if name not in declared]
        missing += [] if any(line.startswith("##INFO=<ID=END,") for line in header) else [END_INFO]
    if not plain_gzip and not missing:
        yield path
        return
    with tempfile.TemporaryDirectory() as folder:
        copy = Path(folder) / path.name.removesuffix(".gz")
        if missing:
            chrom = next(i for i, line in enumerate(lines) if line.startswith("#CHROM"))
            copy.write_text("\n".join(lines[:chrom] + missing + lines[chrom:]) + "\n")
        else:
            with gzip.open(path) as source, open(copy, "wb") as sink:
                shutil.copyfileobj(source, sink)
        yield copy


def _text_lines(path: Path) -> list[str] | None:
    """The lines of a text VCF (plain or gzip), None for BCF; only read to locate an error."""
    with open(path, "rb") as handle:
        magic = handle.read(4)
    opener = gzip.open if magic[:2] == b"\x1f\x8b" else open
    with opener(path, "rb") as handle:
        if handle.read(3) == b"BCF":
            return None
    with opener(path, "rt", errors="replace") as handle:
        return handle.read().splitlines()


def _where(path: Path, record_index: int) -> str:
    """'FILE, line N' for text VCFs (header lines counted), 'FILE, record N' for BCF."""
    lines = _text_lines(path)
    if lines is None:
        return f"{path}, record {record_index + 1}"
    header = sum(1 for line in lines if line.startswith("#"))
    return f"{path}, line {header + record_index + 1}"


def _malformed(path: Path, record_index: int, err: Exception) -> VariantFileError:
    lines = _text_lines(path)
    if lines is None:
        return VariantFileError(f"{path}, record {record_index + 1}: htslib cannot decode this BCF record ({err})")
    body = [(n, line) for n, line in enumerate(lines, start=1) if line and not line.startswith("#")]
    if record_index >= len(body):
        return VariantFileError(f"{path}: unreadable after record {record_index} ({err})")
    number, line = body[record_index]
    fields = line.split("\t")
    if len(fields) < 8:
        what = f"{len(fields)} tab-separated columns, a VCF record needs at least 8"
    elif not fields[1].isdigit() or int(fields[1]) < 1:
        what = f"POS {fields[1]!r} is not a positive integer"
    else:
        what = f"htslib cannot parse it ({err})"
    return VariantFileError(f"{path}, line {number}: malformed record {line[:80]!r}: {what}")


def classify(ref: str, alt: str | None) -> str | None:
    """The reason an allele is not scored, or None for an SNV."""
    if alt is None or alt == ".":
        return "no_alt"
    if alt == "*":
        return "star"
    if alt.startswith("<") or "[" in alt or "]" in alt:
        return "symbolic"
    if len(ref) != len(alt):
        return "indel"
    if len(ref) > 1:
        return "mnp"
    if ref.upper() not in "ACGT" or alt.upper() not in "ACGT":
        return "not_acgt"
    return None


def read_variants(path, genome, skip_ref_mismatch: bool = False, skip_unknown_contigs: bool = False
                  ) -> list[VariantRow]:
    """All ALT alleles of a VCF / BCF (plain, gzip or bgzip) as rows (see the module docstring), checked
    against `genome`."""
    import pysam

    rows: list[VariantRow] = []
    index = -1
    verbosity = pysam.set_verbosity(0)  # htslib's own warnings and errors: FGM reports located ones instead
    with readable_by_htslib(path) as readable:
        try:
            with pysam.VariantFile(str(readable)) as vcf:
                for index, record in enumerate(vcf):
                    rows.extend(_rows(Path(path), index, record, genome, skip_ref_mismatch, skip_unknown_contigs))
        except (OSError, ValueError) as err:
            if isinstance(err, VariantFileError):
                raise
            raise _malformed(Path(path), index + 1, err) from err
        finally:
            pysam.set_verbosity(verbosity)
    return rows


def _rows(path: Path, index: int, record, genome, skip_ref_mismatch: bool, skip_unknown_contigs: bool
          ) -> list[VariantRow]:
    ref = record.ref.upper()
    name = f"{record.chrom}:{record.pos} {record.id or '.'}"
    alts = record.alts or (None,)
    try:
        contig = genome.contig(record.chrom)
    except ContigNotFoundError as err:
        if skip_unknown_contigs:
            return [VariantRow(record.chrom, record.pos, record.id or ".", ref, alt or ".", "unknown_contig", index)
                    for alt in alts]
        raise VariantFileError(f"{_where(path, index)} ({name}): {err} (--skip_unknown_contigs writes such records "
                               "with the reason unknown_contig and goes on)") from None
    end = record.pos - 1 + len(ref)
    if end > genome.lengths[contig]:
        raise VariantFileError(
            f"{_where(path, index)} ({name}): position past the end of {contig} "
            f"({genome.lengths[contig]:,} bases in {genome.path}); is the VCF on another assembly?"
        )
    reference = genome.fetch(record.chrom, record.pos - 1, end)
    mismatch = reference != ref and ref != "N" * len(ref)
    if mismatch and not skip_ref_mismatch:
        raise VariantFileError(
            f"{_where(path, index)} ({name}): REF is {ref!r} but {genome.path} has {reference!r} at "
            f"{contig}:{record.pos}; is the VCF on another assembly? (--skip-ref-mismatch writes such "
            "records with the reason ref_mismatch and goes on)"
        )
    return [
        VariantRow(record.chrom, record.pos, record.id or ".", ref, alt or ".",
                   "ref_mismatch" if mismatch else classify(ref, alt), index)
        for alt in alts
    ]
