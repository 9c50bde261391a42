"""`fgm corpus`: build a windowed genome corpus (datasets) from FASTA / GenBank files.

Examples:
    fgm corpus --output_dir runs/yeast_corpus --window 6000 --val_chroms chrXV --test_chroms chrXVI
    fgm corpus --genome ecoli.fa.gz --output_dir runs/ecoli_corpus --val_frac 0.05 --test_frac 0.05
    fgm corpus --genome ecoli.fa.gz --output_dir runs/ecoli_corpus --val_regions NC_000913.3:1-200000

Splits hold out whole chromosomes (--val_chroms), regions of them (--val_regions CHROM:START-END, 1-based and
inclusive; the rest of the record trains) or the last fraction of the genome's bases (--val_frac; test last,
validation before it); the same for --test_*. A genome of one record is split by region or fraction.
"""

from ..data.corpus import CorpusArguments, make_corpus

ARGUMENTS = (CorpusArguments,)


def run(args: CorpusArguments) -> int:
    make_corpus(args)
    return 0
