"""`fgm score-variants` / `fgm.score_variants`: zero-shot scores for the variants of a VCF.

The score and its options are defined in `fgm.variants.scoring`, the rows and reason codes in
`fgm.variants.vcf`. Output: TSV (default), parquet, or the input VCF with INFO fields FGM_LLR and
FGM_REASON (one value per ALT). Rows are scored in fixed chunks and appended to `OUTPUT.partial.tsv`,
so an interrupted run continues with `resume` (`ScoreVariantsArguments`) and gives exactly the same
numbers; the output file itself appears only once every row is done, so it is never half-written.
"""

from __future__ import annotations

import json
import math
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..checkpoints import checkpoint_argument
from ..data.sizes import Size
from ..results import RECORD, Record, optional
from .scoring import FRAMES, SNV, STRANDS, VariantScorer
from .vcf import REASONS, VariantFileError, read_variants, readable_by_htslib

__all__ = ["FORMULA", "ScoreVariantsArguments", "VariantFileError", "VariantScoresSummary", "score_variants"]

FORMULA = (
    "score = ln P(alt) - ln P(ref) at the variant base; P = the masked LM's k-mer softmax at the masked token "
    "holding the variant, marginalized to the variant's offset in it; mean over k-mer frames and strands"
)
COLUMNS = ("chrom", "pos", "id", "ref", "alt", "score", "score_forward", "score_reverse", "reason")
FORMATS = {".tsv": "tsv", ".txt": "tsv", ".parquet": "parquet", ".vcf": "vcf", ".vcf.gz": "vcf", ".bcf": "vcf"}
CHUNK_ROWS = 256  # rows scored (and written) together; fixed so that resumed runs batch identically


@dataclass
class ScoreVariantsArguments:
    """The options of `score_variants` (`fgm score-variants`)."""

    model_name_or_path: str = checkpoint_argument("FGM masked-LM checkpoint folder or Hub id")
    genome: str = field(metadata={"help": "reference FASTA: plain, bgzip (a .fai / .gzi index is built if missing) "
                                  "or gzip (copied to BGZF once, beside the output)"})
    vcf: str = field(metadata={"help": "variants: VCF or BCF, plain, gzip or bgzip"})
    output: str = field(metadata={"help": "output file: .tsv, .parquet, .vcf, .vcf.gz or .bcf"})
    window: Size | None = field(
        default=None, metadata={"help": "bases of context around each variant (default: the checkpoint's training "
                                "context)"})
    frames: str = field(default="all", metadata={"choices": FRAMES, "help": "k-mer frames averaged (see above)"})
    strands: str = field(default="both", metadata={"choices": STRANDS, "help": "strands scored (both: their mean)"})
    output_format: str | None = field(
        default=None, metadata={"choices": ("tsv", "parquet", "vcf"), "help": "default: from the output file name"})
    skip_ref_mismatch: bool = field(
        default=False, metadata={"help": "write records whose REF differs from the FASTA with the reason "
                                 "ref_mismatch instead of stopping"})
    skip_unknown_contigs: bool = field(
        default=False, metadata={"help": "write records on a contig the FASTA lacks with the reason unknown_contig "
                                 "instead of stopping"})
    rename_chroms: str | None = field(
        default=None, metadata={"help": "VCF -> FASTA contig names: add-chr, strip-chr, or a two-column file"})
    batch_size: int = field(default=8, metadata={"help": "windows per forward pass"})
    resume: bool = field(default=False, metadata={"help": "continue an interrupted run with the same settings"})
    device: str | None = field(default=None, metadata={"help": "cpu, cuda, cuda:1, ... (default: CUDA if available)"})
    quiet: bool = field(default=False, metadata={"help": "no progress bar"})


@RECORD
class VariantScoresSummary(Record):
    """`OUTPUT.summary.json`: the rows read, scored and skipped (per reason code), the speed, and the settings the
    scores depend on (`model`: the checkpoint's name or path, as it names itself)."""

    redo = "run `fgm score-variants` again, with the same options"

    output: str
    rows: int
    scored: int
    skipped: dict[str, int]
    variants_per_second: float | None
    model: str
    genome: str
    vcf: str
    window: int
    frames: str
    strands: str
    kmer_size: int
    genome_bgzf_copy: str | None = optional()


def _output_format(output: Path, output_format: str | None) -> str:
    if output_format:
        if output_format not in set(FORMATS.values()):
            raise ValueError(f"output_format must be one of {sorted(set(FORMATS.values()))}, got {output_format!r}")
        return output_format
    for suffix, fmt in sorted(FORMATS.items(), key=lambda item: -len(item[0])):
        if output.name.endswith(suffix):
            return fmt
    raise ValueError(f"cannot tell the output format from {output.name!r}: use .tsv, .parquet, .vcf[.gz] or "
                     "pass output_format")


def _header(settings: dict) -> list[str]:
    return [f"## fgm score-variants: {FORMULA}", "## " + json.dumps(settings, sort_keys=True), "\t".join(COLUMNS)]


def _format(value: float) -> str:
    return "" if math.isnan(value) else f"{value:.6g}"


def score_variants(args: ScoreVariantsArguments, model=None) -> VariantScoresSummary:
    """Score every ALT allele of `args.vcf` against `args.genome` with the checkpoint `args.model_name_or_path` (or
    `model`, a loaded `(model, tokenizer)` pair, in its place) into `args.output`; returns the summary, also saved
    as `OUTPUT.summary.json`.

    `args.window`: bases of context (default: the checkpoint's training context). See `fgm.variants.scoring` for
    the score, `frames` and `strands`, and `fgm.variants.vcf` for the reason codes of alleles that are not scored.
    A plain-gzip `genome` is read from a BGZF copy in `reference_cache/` beside `output` (made once).
    """
    from ..checkpoints import context_window, load_checkpoint
    from ..data.reference import CACHE_FOLDER, ReferenceGenome

    output = Path(args.output)
    fmt = _output_format(output, args.output_format)
    if args.frames not in FRAMES or args.strands not in STRANDS:
        raise ValueError(f"frames must be one of {FRAMES} and strands one of {STRANDS}")
    reference = ReferenceGenome(args.genome, args.rename_chroms, output.parent / CACHE_FOLDER)
    # input errors before the model loads
    rows = read_variants(args.vcf, reference, args.skip_ref_mismatch, args.skip_unknown_contigs)
    model, tokenizer = load_checkpoint(model or args.model_name_or_path, device=args.device)
    window = context_window(tokenizer, args.window)
    scorer = VariantScorer(model, tokenizer, window, args.frames, args.strands, args.batch_size)
    settings = {"model": str(getattr(model, "name_or_path", "")), "genome": str(args.genome), "vcf": str(args.vcf),
                "window": window, "frames": args.frames, "strands": args.strands,
                "kmer_size": scorer.k}  # the longest token's bases: any masked LM's tokenizer, not FGM's config
    partial = output.with_name(output.name + ".partial.tsv")
    done = _resume_point(partial, settings, len(rows)) if args.resume else 0
    if not done:
        partial.parent.mkdir(parents=True, exist_ok=True)
        partial.write_text("\n".join(_header(settings)) + "\n")

    started = time.perf_counter()
    scored_now = _append_scores(partial, scorer, reference, rows, done, not args.quiet)
    seconds = time.perf_counter() - started

    contigs = {r.chrom: None if r.reason == "unknown_contig" else reference.lengths[reference.contig(r.chrom)]
               for r in rows}
    _publish(partial, output, fmt, args.vcf, contigs, settings)
    reasons = Counter(r.reason for r in rows if r.reason)
    reference.close()
    summary = VariantScoresSummary(
        output=str(output), rows=len(rows), scored=sum(r.reason is None for r in rows),
        skipped={reason: reasons[reason] for reason in REASONS if reasons[reason]},
        variants_per_second=round(scored_now / seconds, 2) if seconds > 0 and scored_now else None,
        **settings, genome_bgzf_copy=str(reference.copy) if reference.copy else None,
    )
    summary.save(output.with_name(output.name + ".summary.json"))
    return summary


def _append_scores(partial: Path, scorer, reference, rows, done: int, progress: bool) -> int:
    """Score `rows` from row `done` on, CHUNK_ROWS at a time, each chunk appended to `partial` and flushed (so an
    interrupted run resumes there); rows with a reason are written unscored. Returns the SNVs scored."""
    from tqdm.auto import tqdm

    scored_now = 0
    with open(partial, "a") as out, tqdm(total=len(rows), initial=done, unit="variant", disable=not progress) as bar:
        for first in range(done, len(rows), CHUNK_ROWS):
            chunk = rows[first : first + CHUNK_ROWS]
            snvs = [(i, SNV(r.chrom, r.pos, r.ref, r.alt.upper())) for i, r in enumerate(chunk) if r.reason is None]
            scores = scorer.score(reference, [snv for _, snv in snvs]) if snvs else []
            by_row = {i: s for (i, _), s in zip(snvs, scores)}
            for i, row in enumerate(chunk):
                forward, reverse = by_row.get(i, (math.nan, math.nan))
                mean = float(np.nanmean([forward, reverse])) if i in by_row else math.nan
                out.write("\t".join([row.chrom, str(row.pos), row.id, row.ref, row.alt, _format(mean),
                                     _format(forward), _format(reverse), row.reason or ""]) + "\n")
            out.flush()
            scored_now += len(snvs)
            bar.update(len(chunk))
    return scored_now


def _resume_point(partial: Path, settings: dict, total: int) -> int:
    """Rows already written by an interrupted run with the same settings (0 if there is none)."""
    if not partial.exists():
        return 0
    lines = partial.read_text().splitlines()
    if lines[: len(_header(settings))] != _header(settings):
        raise ValueError(f"{partial} was written with other settings than this run's ({settings}); "
                         "delete it or run with the same settings")
    done = len(lines) - len(_header(settings))
    if done % CHUNK_ROWS and done != total:
        raise ValueError(f"{partial} holds {done} rows, not a whole number of {CHUNK_ROWS}-row chunks: damaged")
    return done


def _publish(partial: Path, output: Path, fmt: str, vcf, contigs: dict[str, int | None], settings: dict) -> None:
    """Turn the complete partial TSV into the requested output, then remove it."""
    import pandas as pd

    if fmt == "tsv":
        partial.replace(output)
        return
    table = pd.read_csv(partial, sep="\t", comment="#", dtype={"chrom": str, "id": str, "ref": str, "alt": str,
                                                                 "reason": str}, keep_default_na=False,
                        na_values={"score": [""], "score_forward": [""], "score_reverse": [""]})
    if fmt == "parquet":
        import pyarrow as pa
        import pyarrow.parquet as pq

        arrow = pa.Table.from_pandas(table, preserve_index=False)
        metadata = {**(arrow.schema.metadata or {}), b"fgm": json.dumps({"formula": FORMULA, **settings}).encode()}
        pq.write_table(arrow.replace_schema_metadata(metadata), output)
    else:
        _write_vcf(vcf, output, table, contigs, settings)
    partial.unlink()


def _write_vcf(vcf, output: Path, table, contigs: dict[str, int | None], settings: dict) -> None:
    """The input VCF with FGM_LLR and FGM_REASON INFO fields (Number=A: one value per ALT)."""
    import pysam

    with readable_by_htslib(vcf, contigs) as readable, pysam.VariantFile(str(readable)) as source:
        header = source.header
        header.add_meta("INFO", items=[("ID", "FGM_LLR"), ("Number", "A"), ("Type", "Float"),
                                        ("Description", f"FGM {FORMULA}")])
        header.add_meta("INFO", items=[("ID", "FGM_REASON"), ("Number", "A"), ("Type", "String"),
                                        ("Description", "Why FGM_LLR is missing: " + ", ".join(REASONS))])
        header.add_meta("fgm_score_variants", " ".join(f"{key}={value}" for key, value in sorted(settings.items())))
        mode = "wb" if output.name.endswith(".bcf") else "wz" if output.name.endswith(".gz") else "w"
        position = 0
        with pysam.VariantFile(str(output), mode, header=header) as sink:
            for record in source:
                n = len(record.alts or (None,))
                alleles = table.iloc[position : position + n]
                position += n
                if record.alts:
                    record.info["FGM_LLR"] = tuple(None if math.isnan(v) else float(v) for v in alleles["score"])
                    record.info["FGM_REASON"] = tuple(r or "." for r in alleles["reason"])
                sink.write(record)
