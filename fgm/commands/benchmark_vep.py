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

from ..variants.benchmark import VepBenchmarkArguments, results_table, run_vep_benchmark

ARGUMENTS = (VepBenchmarkArguments,)


def run(args: VepBenchmarkArguments) -> int:
    print(results_table([run_vep_benchmark(args)]))
    return 0
