"""`fgm benchmark vep`: how well zero-shot scores separate labelled variants.

A labelled set has the columns `chrom, pos, ref, alt, label` (pos 1-based; label 1 / True for the
positive class: pathogenic, rare, deleterious). Sources: a local CSV / TSV / parquet file, a Hub
dataset (e.g. songlab/clinvar, songlab/gnomad_balanced; offline, a Hub name fails with the local-file
hint), or the bundled `yeast_stop_vs_synonymous` set built from the bundled yeast genome and CDS
coordinates: in-silico SNVs that create a stop codon (positives) against synonymous ones.

Low scores mean "less likely than the reference", so every metric ranks by -score:
- AUROC and AUPRC with bootstrap 95% intervals (AUPRC's baseline is the positive fraction);
- the tail odds ratio: odds of a positive label among the lowest-scoring `tail` fraction of variants
  against the rest (for allele-frequency sets: rare vs common), with Woolf's 95% interval and
  Fisher's exact p-value.
Variants that are not SNVs are counted and left out; a REF that differs from the genome is an error.
"""

from __future__ import annotations

import gzip
import math
from dataclasses import dataclass, field, fields
from pathlib import Path

import numpy as np

from ..checkpoints import checkpoint_argument
from ..data.sizes import Size
from ..results import RECORD, Interval, Record, optional
from ..stats import metric_interval
from .scoring import FRAMES, SNV, STRANDS, VariantScorer
from .vcf import classify

BUNDLED_SETS = ("yeast_stop_vs_synonymous",)
COLUMNS = ("chrom", "pos", "ref", "alt", "label")


@dataclass
class VepBenchmarkArguments:
    """The options of `run_vep_benchmark` (`fgm benchmark vep`)."""

    model_name_or_path: str = checkpoint_argument("FGM masked-LM checkpoint folder or Hub id")
    dataset: str = field(metadata={"help": "a CSV / TSV / parquet file, a Hub dataset, or yeast_stop_vs_synonymous"})
    output_dir: str = field(default="runs/vep", metadata={"help": "where results.md, results.json and scores go"})
    genome: str | None = field(default=None, metadata={"help": "reference FASTA the set's coordinates refer to"})
    split: str = field(default="test", metadata={"help": "split of a Hub dataset"})
    window: Size | None = field(default=None, metadata={"help": "bases of context (default: the training context)"})
    frames: str = field(default="all", metadata={"choices": FRAMES, "help": "k-mer frames averaged"})
    strands: str = field(default="both", metadata={"choices": STRANDS, "help": "strands averaged"})
    rename_chroms: str | None = field(default=None, metadata={"help": "add-chr, strip-chr, or a two-column file"})
    bootstrap: int = field(default=1000, metadata={"help": "bootstrap resamples for the intervals"})
    tail: float = field(default=0.1, metadata={"help": "fraction of lowest scores for the odds ratio"})
    batch_size: int = field(default=8, metadata={"help": "windows per forward pass"})
    device: str | None = field(default=None, metadata={"help": "default: CUDA if available"})
    seed: int = field(default=0, metadata={"help": "bootstrap seed (and the draw of the bundled yeast set)"})


# ------------------------------------------------------------------------------------------------ results


@RECORD
class TailOddsRatio(Record):
    """Odds of a positive among the lowest-scoring `tail` fraction against the rest, with Woolf's 95% interval
    (`low`, `high`), Fisher's exact p-value and the 2 x 2 `table` [[tail positives, tail negatives], [rest
    positives, rest negatives]]."""

    tail: float
    odds_ratio: float
    low: float
    high: float
    p_value: float
    table: list[list[int]]

    @property
    def interval(self) -> Interval:
        return Interval(self.odds_ratio, self.low, self.high)


@RECORD
class VepMetrics(Record):
    """How well the scores rank the positives first: AUROC and AUPRC with bootstrap 95% intervals (AUPRC's
    baseline: the positive fraction) and the tail odds ratio, over `n` variants of which `positives` are 1."""

    n: int
    positives: int
    auroc: Interval
    auprc: Interval
    auprc_baseline: float
    tail_odds_ratio: TailOddsRatio


@RECORD
class VepSettings(Record):
    """What a VEP benchmark scored: the set, the checkpoint, the genome (and the BGZF copy read for a plain-gzip
    one), the scoring options, and the variants left out because they are not SNVs."""

    dataset: str
    model: str
    genome: str
    genome_bgzf_copy: str | None = optional()
    window: int
    frames: str
    strands: str
    skipped_not_snv: int


@RECORD
class VepBenchmarkResult(VepMetrics, VepSettings):
    """`results.json` of `fgm benchmark vep`: its settings (`VepSettings`), then its metrics (`VepMetrics`), in one
    JSON object."""

    redo = "run `fgm benchmark vep` again into a new --output_dir"


# ------------------------------------------------------------------------------------------------ data


def yeast_stop_vs_synonymous(n_per_class: int = 500, seed: int = 0):
    """Balanced stop-gain (label 1) and synonymous (label 0) SNVs in yeast CDS that start with ATG, end with a
    stop codon and have no other stop (the first and last codons left out), drawn with `seed` from genes
    taken in random order until each class has 20 times the candidates needed."""
    import pandas as pd
    from Bio.Data.CodonTable import standard_dna_table

    from ..data import bundled_genome
    from ..data.reference import ReferenceGenome
    from ..model.kmers_fgm import reverse_complement

    code, stops = standard_dna_table.forward_table, set(standard_dna_table.stop_codons)
    mutations = {  # sense codon -> [(offset, alt, label)]: 1 stop-gain, 0 synonymous
        codon: [(o, alt, int(m in stops)) for o in range(3) for alt in "ACGT" if alt != codon[o]
                for m in [codon[:o] + alt + codon[o + 1 :]] if m in stops or code.get(m) == aa]
        for codon, aa in code.items()
    }
    rows = {0: [], 1: []}
    genome_path = bundled_genome()
    rng = np.random.default_rng(seed)
    with gzip.open(genome_path.with_name("sacCer_S288C.cds.bed.gz"), "rt") as bed:
        lines = bed.read().splitlines()
    with ReferenceGenome(genome_path) as genome:
        for line in (lines[i] for i in rng.permutation(len(lines))):  # genes in random order, until enough
            if min(len(rows[0]), len(rows[1])) >= 20 * n_per_class:
                break
            chrom, start, end, gene, _, strand = line.split()[:6]
            start, end = int(start), int(end)
            cds = genome.fetch(chrom, start, end)
            cds = reverse_complement(cds) if strand == "-" else cds
            codons = [cds[i : i + 3] for i in range(0, len(cds), 3)]
            if len(cds) % 3 or codons[0] != "ATG" or codons[-1] not in stops or stops & set(codons[:-1]):
                continue
            for c in range(1, len(codons) - 1):
                for offset, alt, label in mutations.get(codons[c], ()):
                    i = 3 * c + offset  # index in the CDS as read on its strand
                    if strand == "+":
                        rows[label].append((chrom, start + i + 1, codons[c][offset], alt, label, gene))
                    else:
                        rows[label].append((chrom, end - i, reverse_complement(codons[c][offset]), reverse_complement(alt), label, gene))
    picked = [rows[label][i] for label in (1, 0) for i in sorted(rng.choice(len(rows[label]), n_per_class, replace=False))]
    return pd.DataFrame(picked, columns=[*COLUMNS, "gene"]), genome_path


def load_labelled_set(dataset, split: str = "test"):
    """A pandas DataFrame with the `chrom, pos, ref, alt, label` columns, from a file or the Hub."""
    import pandas as pd

    from ..offline import hub_offline

    path = Path(dataset)
    if path.is_file():
        if path.suffix == ".parquet":
            frame = pd.read_parquet(path)
        else:
            frame = pd.read_csv(path, sep="\t" if path.suffix in (".tsv", ".txt") or path.name.endswith(".tsv.gz") else ",")
    elif "/" in str(dataset) and not path.exists():
        if hub_offline():
            raise FileNotFoundError(
                f"{dataset!r} is not a local file and the Hugging Face Hub is offline. Download the set once "
                f"(datasets.load_dataset({str(dataset)!r}, split={split!r}).to_parquet('set.parquet')) and pass "
                "the file: --dataset set.parquet (columns chrom, pos, ref, alt, label)"
            )
        from datasets import load_dataset

        frame = load_dataset(str(dataset), split=split).to_pandas()
    else:
        raise FileNotFoundError(f"labelled variant set not found: {dataset!r} (a CSV / TSV / parquet file, a Hub "
                                f"dataset name, or one of {BUNDLED_SETS})")
    missing = [c for c in COLUMNS if c not in frame.columns]
    if missing:
        raise ValueError(f"{dataset}: missing column(s) {missing}; found {list(frame.columns)}")
    labels = frame["label"].astype(str).str.lower().map({"1": 1, "true": 1, "0": 0, "false": 0})
    if labels.isna().any():
        bad = frame.loc[labels.isna(), "label"].iloc[0]
        raise ValueError(f"{dataset}: labels must be 0/1 or True/False, found {bad!r} (row {labels.isna().idxmax()})")
    frame = frame.assign(label=labels.astype(int), chrom=frame["chrom"].astype(str), pos=frame["pos"].astype(int))
    return frame[list(COLUMNS)].reset_index(drop=True)


# ------------------------------------------------------------------------------------------------ metrics


def tail_odds_ratio(labels, scores, tail: float) -> TailOddsRatio:
    """Odds of a positive among the lowest-scoring `tail` fraction against the rest."""
    from scipy.stats import fisher_exact

    in_tail = np.zeros(len(scores), dtype=bool)
    in_tail[np.argsort(scores, kind="stable")[: max(1, int(round(tail * len(scores))))]] = True
    a, b = int((labels[in_tail] == 1).sum()), int((labels[in_tail] == 0).sum())
    c, d = int((labels[~in_tail] == 1).sum()), int((labels[~in_tail] == 0).sum())
    odds = (a + 0.5) * (d + 0.5) / ((b + 0.5) * (c + 0.5))  # Haldane-Anscombe: finite with empty cells
    spread = 1.96 * math.sqrt(sum(1 / (x + 0.5) for x in (a, b, c, d)))
    return TailOddsRatio(tail=tail, odds_ratio=odds, low=odds * math.exp(-spread), high=odds * math.exp(spread),
                         p_value=float(fisher_exact([[a, b], [c, d]])[1]), table=[[a, b], [c, d]])


def vep_metrics(labels, scores, bootstrap: int = 1000, seed: int = 0, tail: float = 0.1) -> VepMetrics:
    """The metrics of `scores` (low: less likely than the reference, so every metric ranks by -score) against 0/1
    `labels`; intervals over `bootstrap` resamples drawn with `seed`."""
    from sklearn.metrics import average_precision_score, roc_auc_score

    labels, ranking = np.asarray(labels), -np.asarray(scores, dtype=float)
    if len(set(labels.tolist())) != 2:
        raise ValueError(f"the set needs variants of both labels (0 and 1), it has only {sorted(set(labels.tolist()))}")
    return VepMetrics(
        n=len(labels),
        positives=int(labels.sum()),
        auroc=metric_interval(roc_auc_score, labels, ranking, bootstrap, seed),
        auprc=metric_interval(average_precision_score, labels, ranking, bootstrap, seed),
        auprc_baseline=float(labels.mean()),
        tail_odds_ratio=tail_odds_ratio(labels, np.asarray(scores, dtype=float), tail),
    )


# ------------------------------------------------------------------------------------------------ runner


def run_vep_benchmark(args: VepBenchmarkArguments, model=None) -> VepBenchmarkResult:
    """Score the labelled set `args.dataset` with the checkpoint `args.model_name_or_path` (or `model`, a loaded
    `(model, tokenizer)` pair, in its place) and write `scores.parquet`, `results.json` and `results.md` to
    `args.output_dir`; returns the results."""
    from ..checkpoints import context_window, load_checkpoint
    from ..data.reference import CACHE_FOLDER, ReferenceGenome

    output_dir, dataset, genome = Path(args.output_dir), args.dataset, args.genome
    output_dir.mkdir(parents=True, exist_ok=True)
    if dataset in BUNDLED_SETS:
        frame, genome = yeast_stop_vs_synonymous(seed=args.seed)
    else:
        frame = load_labelled_set(dataset, args.split)
        if genome is None:
            raise ValueError(f"{dataset}: pass the reference genome its coordinates refer to (--genome)")
    model, tokenizer = load_checkpoint(model or args.model_name_or_path, device=args.device)
    window = context_window(tokenizer, args.window)
    reasons = [classify(str(r).upper(), str(a).upper()) for r, a in zip(frame["ref"], frame["alt"])]
    snvs = frame[[r is None for r in reasons]].reset_index(drop=True)
    with ReferenceGenome(genome, args.rename_chroms, output_dir / CACHE_FOLDER) as reference:
        copy = reference.copy
        for row in snvs.itertuples():
            base = reference.fetch(row.chrom, row.pos - 1, row.pos)
            if base != row.ref.upper():
                raise ValueError(f"{dataset}, row {row.Index} ({row.chrom}:{row.pos}): REF is {row.ref!r} but "
                                 f"{genome} has {base!r}; is the set on another assembly?")
        scorer = VariantScorer(model, tokenizer, window, args.frames, args.strands, args.batch_size)
        scores = scorer.score(reference, [SNV(r.chrom, r.pos, r.ref.upper(), r.alt.upper()) for r in snvs.itertuples()])
    snvs = snvs.assign(score=np.nanmean(scores, axis=1), score_forward=scores[:, 0], score_reverse=scores[:, 1])
    snvs.to_parquet(output_dir / "scores.parquet", index=False)
    metrics = vep_metrics(snvs["label"].to_numpy(), snvs["score"].to_numpy(), args.bootstrap, args.seed, args.tail)
    results = VepBenchmarkResult(
        dataset=str(dataset), model=str(getattr(model, "name_or_path", "")), genome=str(genome),
        genome_bgzf_copy=str(copy) if copy else None, window=window, frames=args.frames, strands=args.strands,
        skipped_not_snv=len(frame) - len(snvs), **{f.name: getattr(metrics, f.name) for f in fields(metrics)},
    )
    results.save(output_dir / "results.json")
    (output_dir / "results.md").write_text(results_table([results]))
    return results


def results_table(results: list[VepBenchmarkResult]) -> str:
    """Markdown: one row per set, metrics with 95% intervals."""
    lines = [
        "| set | variants (positives) | AUROC [95% CI] | AUPRC [95% CI] (baseline) | tail OR [95% CI] | window | frames |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for r in results:
        auroc, auprc, tail = r.auroc, r.auprc, r.tail_odds_ratio
        lines.append(
            f"| {r.dataset} | {r.n} ({r.positives}) | {auroc.estimate:.3f} [{auroc.low:.3f}, {auroc.high:.3f}] | "
            f"{auprc.estimate:.3f} [{auprc.low:.3f}, {auprc.high:.3f}] ({r.auprc_baseline:.3f}) | "
            f"{tail.odds_ratio:.2f} [{tail.low:.2f}, {tail.high:.2f}] (lowest {tail.tail:.0%}) | "
            f"{r.window:,} | {r.frames} |"
        )
    return "\n".join(lines) + "\n"
