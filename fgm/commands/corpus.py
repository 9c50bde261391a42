"""`fgm corpus`: build a windowed genome corpus (datasets) from FASTA / GenBank files.

Example:
    fgm corpus --output_dir runs/yeast_corpus --window 6000 --val-chroms chrXV --test-chroms chrXVI
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
