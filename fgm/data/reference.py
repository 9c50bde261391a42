"""Random access to a reference genome: an indexed FASTA read through pysam (htslib's faidx).

Plain and bgzip-compressed FASTA work; a missing `.fai` (and `.gzi` for bgzip) index is built next to
the file on first use. A plain-gzip file cannot be indexed: given a `cache_dir`, it is read from a BGZF copy made
there once (pysam writes BGZF, no bgzip program needed) and reused while the file is unchanged; without one, the
error says how to recompress it.
Sequences come back normalized (upper case, IUPAC ambiguity codes as N); coordinates are 0-based,
half-open, and a request past a contig end is an error, never a silently shorter sequence.

`rename_chroms` maps the names used by the caller (a VCF, a BED file) to the FASTA's: `add-chr`
(1 -> chr1), `strip-chr` (chr1 -> 1), or a two-column file `old new` (as bcftools --rename-chrs).
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from ..model.kmers_fgm import normalize_sequence

RENAME_RULES = ("add-chr", "strip-chr")
CACHE_FOLDER = "reference_cache"  # the folder, beside a command's output, of BGZF copies of plain-gzip references


class ContigNotFoundError(KeyError):
    """A contig name the FASTA does not have; the message lists the FASTA's names and a fix."""

    def __str__(self):
        return str(self.args[0])


def _is_plain_gzip(path: Path) -> bool:
    with open(path, "rb") as handle:
        head = handle.read(16)
    return head[:2] == b"\x1f\x8b" and head[12:14] != b"BC"  # bgzip blocks carry a 'BC' extra field


def bgzf_copy(path: Path, cache_dir) -> Path:
    """A BGZF copy of the plain-gzip file `path` in `cache_dir`, written once: its name carries a hash of the
    file's path, size and modification time, so an unchanged file reuses it and a changed one gets a new copy."""
    import gzip
    import shutil

    import pysam

    stat = path.stat()
    key = hashlib.sha256(f"{path.resolve()}|{stat.st_size}|{stat.st_mtime_ns}".encode()).hexdigest()[:12]
    copy = Path(cache_dir) / f"{key}-{path.name}"
    if not copy.exists():
        copy.parent.mkdir(parents=True, exist_ok=True)
        partial = copy.with_name(copy.name + ".partial")
        with gzip.open(path, "rb") as source, pysam.BGZFile(str(partial), "wb") as sink:
            shutil.copyfileobj(source, sink, 1 << 22)
        partial.replace(copy)
    return copy


def read_rename_rule(rule: str | None) -> dict[str, str] | str | None:
    """`add-chr`, `strip-chr`, a two-column mapping file, or None."""
    if rule is None or rule in RENAME_RULES:
        return rule
    path = Path(rule)
    if not path.is_file():
        raise FileNotFoundError(f"--rename-chroms: {rule!r} is neither {' nor '.join(RENAME_RULES)} nor a file")
    mapping = {}
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        fields = line.split()
        if not fields or fields[0].startswith("#"):
            continue
        if len(fields) != 2:
            raise ValueError(f"{path}, line {number}: expected two columns 'old new', got {line!r}")
        mapping[fields[0]] = fields[1]
    return mapping


class ReferenceGenome:
    """An indexed FASTA. `genome.fetch("chrI", 1000, 2000)` -> 1,000 normalized bases. `copy`: the BGZF copy read
    instead of a plain-gzip `path` (None when the file is read itself)."""

    def __init__(self, path, rename_chroms: str | dict | None = None, cache_dir=None):
        import pysam

        self.path = Path(path)
        if not self.path.is_file():
            raise FileNotFoundError(f"reference FASTA not found: {self.path}")
        self.copy = None
        if _is_plain_gzip(self.path):
            if cache_dir is None:
                raise ValueError(
                    f"{self.path} is compressed with plain gzip, which cannot be indexed for random access. "
                    f"Decompress it (`gunzip -k {self.path}`), or recompress it with bgzip: `zcat {self.path} | "
                    f"bgzip > {self.path.with_suffix('.bgz')}` (the fgm commands do this themselves)."
                )
            self.copy = bgzf_copy(self.path, cache_dir)
        readable = self.copy or self.path
        try:
            self._fasta = pysam.FastaFile(str(readable))
        except (OSError, ValueError) as err:
            raise ValueError(
                f"cannot open or index {readable} ({err}). The .fai index (and .gzi for bgzip) is built next "
                f"to the file on first use: the folder must be writable, or build it yourself with "
                f"`samtools faidx {readable}`. Line lengths must be equal within each record."
            ) from err
        self.lengths = dict(zip(self._fasta.references, self._fasta.lengths))
        self.rename = rename_chroms if isinstance(rename_chroms, dict) else read_rename_rule(rename_chroms)

    def contig(self, name: str) -> str:
        """The FASTA's name for `name`, after renaming; a clear error when there is none."""
        if isinstance(self.rename, dict):
            renamed = self.rename.get(name, name)
        elif self.rename == "add-chr":
            renamed = name if name.startswith("chr") else f"chr{name}"
        elif self.rename == "strip-chr":
            renamed = name.removeprefix("chr")
        else:
            renamed = name
        if renamed in self.lengths:
            return renamed
        names = list(self.lengths)
        shown = ", ".join(names[:25]) + (f", ... ({len(names)} in all)" if len(names) > 25 else "")
        hint = ""
        if self.rename is None and f"chr{name}" in self.lengths:
            hint = " The FASTA names carry a 'chr' prefix: pass --rename-chroms add-chr."
        elif self.rename is None and name.removeprefix("chr") in self.lengths:
            hint = " The FASTA names have no 'chr' prefix: pass --rename-chroms strip-chr."
        raise ContigNotFoundError(f"contig {name!r} is not in {self.path} (its contigs: {shown}).{hint}")

    def fetch(self, chrom: str, start: int, end: int) -> str:
        """Size [start, end) of `chrom` (0-based), upper case with IUPAC codes read as N."""
        contig = self.contig(chrom)
        length = self.lengths[contig]
        if not 0 <= start <= end <= length:
            raise ValueError(f"{chrom}:{start + 1}-{end} is outside the contig ({contig} has {length:,} bases)")
        sequence = self._fasta.fetch(contig, start, end)
        return normalize_sequence(sequence, f" of {self.path} {contig}:{start + 1}-{end}")

    def close(self):
        self._fasta.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

