"""`fgm embed`: embeddings of sequences of any length, from any FGM checkpoint.

    fgm embed --model CKPT --fasta seqs.fa --output emb.safetensors
    fgm embed --model CKPT --bed regions.bed --genome REF.fa.gz --output emb.parquet --pooling per-nucleotide
    fgm embed --model CKPT --sequences seqs.tsv --output emb.npy --layer 6 --rc_average

Poolings: mean (over nucleotides), cls, per-token, per-nucleotide. Long inputs are embedded in chunks
of --chunk bases overlapping by --overlap, in the k-mer frame of the whole sequence, and stitched: each
base comes from the chunk where it is most central. Outputs carry ids and coordinates: safetensors
(metadata), parquet (columns), npy (OUTPUT.index.tsv beside it; per-token spans in .token_spans.npy).
"""

from dataclasses import dataclass, field

from ..checkpoints import checkpoint_argument
from ..embeddings import POOLINGS
from . import Size


@dataclass
class EmbedArguments:
    model_name_or_path: str = checkpoint_argument("FGM checkpoint folder or Hub id (any head)")
    output: str = field(metadata={"help": "output file: .safetensors, .parquet or .npy"})
    fasta: str | None = field(default=None, metadata={"help": "one embedding per FASTA record"})
    bed: str | None = field(default=None, metadata={"help": "BED regions (with --genome); 4th column = name, 6th = "
                                                    "strand (-: the reverse complement)"})
    genome: str | None = field(default=None, metadata={"help": "reference FASTA for --bed: plain, bgzip or gzip "
                                                       "(copied to BGZF once, beside the output)"})
    sequences: str | None = field(default=None, metadata={"help": "TSV / CSV with id and sequence columns"})
    pooling: str = field(default="mean", metadata={"choices": POOLINGS, "help": "what one vector stands for"})
    layer: int = field(default=-1, metadata={"help": "hidden state: 0 embedding layer, -1 last layer (after the norm)"})
    chunk: Size | None = field(
        default=None, metadata={"help": "bases per chunk (default: the checkpoint's training context)"})
    overlap: Size | None = field(default=None, metadata={"help": "bases shared by neighbouring chunks (default: chunk / 4)"})
    rc_average: bool = field(default=False, metadata={"help": "average with the reverse complement's vectors"})
    output_format: str | None = field(
        default=None, metadata={"choices": ("safetensors", "parquet", "npy"), "help": "default: from the file name"})
    rename_chroms: str | None = field(
        default=None, metadata={"help": "BED -> FASTA contig names: add-chr, strip-chr, or a two-column file"})
    batch_size: int = field(default=8, metadata={"help": "chunks per forward pass"})
    device: str | None = field(default=None, metadata={"help": "cpu, cuda, ... (default: CUDA if available)"})
    quiet: bool = field(default=False, metadata={"help": "no progress bar"})


ARGUMENTS = (EmbedArguments,)


def run(args: EmbedArguments) -> int:
    import json

    from ..embeddings import embed

    summary = embed(
        args.model_name_or_path, args.output, fasta=args.fasta, bed=args.bed, genome=args.genome,
        sequences=args.sequences, pooling=args.pooling, layer=args.layer, chunk=args.chunk, overlap=args.overlap,
        rc_average=args.rc_average, output_format=args.output_format, rename_chroms=args.rename_chroms,
        batch_size=args.batch_size, device=args.device, progress=not args.quiet,
    )
    print(json.dumps(summary, indent=2))
    return 0
