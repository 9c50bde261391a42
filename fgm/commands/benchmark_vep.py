"""`fgm benchmark vep`: how well zero-shot scores separate labelled variants.

    fgm benchmark vep --model CKPT --dataset yeast_stop_vs_synonymous --output_dir runs/vep
    fgm benchmark vep --model CKPT --dataset clinvar.parquet --genome hg38.fa.gz --rename_chroms add-chr
    fgm benchmark vep --model CKPT --dataset songlab/gnomad_balanced --genome hg38.fa.gz   # needs the Hub

A set has the columns chrom, pos (1-based), ref, alt, label (1 / True: pathogenic, rare, deleterious).
Reported: AUROC and AUPRC with bootstrap 95% intervals, and the odds ratio of positives among the
lowest-scoring --tail fraction (rare vs common for allele-frequency sets), in OUTPUT_DIR/results.md
and results.json; per-variant scores in scores.parquet. The bundled yeast_stop_vs_synonymous set
(stop-gain vs synonymous SNVs in yeast CDS) needs no --genome.
"""

from dataclasses import dataclass, field

from ..checkpoints import checkpoint_argument
from ..variants.scoring import FRAMES, STRANDS
from . import Size


@dataclass
class VepBenchmarkArguments:
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


ARGUMENTS = (VepBenchmarkArguments,)


def run(args: VepBenchmarkArguments) -> int:
    from ..variants.benchmark import results_table, run_vep_benchmark

    results = run_vep_benchmark(
        args.model_name_or_path, args.dataset, args.output_dir, genome=args.genome, window=args.window,
        frames=args.frames, strands=args.strands, rename_chroms=args.rename_chroms, split=args.split,
        bootstrap=args.bootstrap, tail=args.tail, batch_size=args.batch_size, device=args.device, seed=args.seed,
    )
    print(results_table([results]))
    return 0
