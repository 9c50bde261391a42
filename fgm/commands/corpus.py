"""`fgm corpus`: build a windowed genome corpus (datasets) from FASTA / GenBank files.

Examples:
    fgm corpus --output_dir runs/yeast_corpus --window 6000 --val_chroms chrXV --test_chroms chrXVI
    fgm corpus --genome ecoli.fa.gz --output_dir runs/ecoli_corpus --val_frac 0.05 --test_frac 0.05
    fgm corpus --genome ecoli.fa.gz --output_dir runs/ecoli_corpus --val_regions NC_000913.3:1-200000

Splits hold out whole chromosomes (--val_chroms), regions of them (--val_regions CHROM:START-END, 1-based and
inclusive; the rest of the record trains) or the last fraction of the genome's bases (--val_frac; test last,
validation before it); the same for --test_*. A genome of one record is split by region or fraction.
"""

from dataclasses import dataclass, field

from . import Size


@dataclass
class CorpusArguments:
    """Which genomes, how they are cut into windows, and where the corpus goes."""

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
    output_dir: str | None = field(
        default=None, metadata={"metavar": "DIR", "help": "folder for the corpus (datasets save_to_disk)"}
    )
    overwrite: bool = field(default=False, metadata={"help": "replace a corpus already saved in --output_dir"})
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


ARGUMENTS = (CorpusArguments,)


def run(args: CorpusArguments) -> int:
    from ..data import bundled_genome
    from ..data.corpus import build_corpus, corpus_summary, push_corpus_to_hub, save_corpus
    from ..data.genome import GenomeFormatError

    if args.quiet:
        import datasets

        datasets.disable_progress_bars()
    if not args.output_dir and not args.push_to_hub:
        raise ValueError("give --output_dir DIR and/or --push_to_hub REPO")
    try:
        corpus = build_corpus(
            args.genome or [bundled_genome()],
            window=args.window,
            stride=args.stride,
            val_chroms=args.val_chroms,
            test_chroms=args.test_chroms,
            max_n_frac=args.max_n_frac,
            skip_bad_records=args.skip_bad_records,
            min_window=args.min_window,
            chroms=args.chroms,
            val_regions=args.val_regions,
            test_regions=args.test_regions,
            val_frac=args.val_frac,
            test_frac=args.test_frac,
            cache_dir=args.cache_dir,
            progress=not args.quiet,
        )
    except GenomeFormatError as exc:
        if args.skip_bad_records or "truncated or corrupt" in str(exc):
            raise
        raise GenomeFormatError(f"{exc}\n(--skip_bad_records skips and counts malformed records instead)") from exc
    if args.quiet:
        print(corpus_summary(corpus).table())
    if args.output_dir:
        out = save_corpus(corpus, args.output_dir, overwrite=args.overwrite)
        print(f"saved corpus to {out}")
    if args.push_to_hub:
        push_corpus_to_hub(corpus, args.push_to_hub, private=True if args.private else None)
        print(f"pushed corpus to https://huggingface.co/datasets/{args.push_to_hub}")
    return 0
