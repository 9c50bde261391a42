"""`fgm embed`: embeddings of sequences of any length, from any FGM checkpoint.

    fgm embed --model CKPT --fasta seqs.fa --output emb.safetensors
    fgm embed --model CKPT --bed regions.bed --genome REF.fa.gz --output emb.parquet --pooling per-nucleotide
    fgm embed --model CKPT --sequences seqs.tsv --output emb.npy --layer 6 --rc_average

Poolings: mean (over nucleotides), cls, per-token, per-nucleotide. Long inputs are embedded in chunks
of --chunk bases overlapping by --overlap, in the k-mer frame of the whole sequence, and stitched: each
base comes from the chunk where it is most central. Outputs carry ids and coordinates: safetensors
(metadata), parquet (columns), npy (OUTPUT.index.tsv beside it; per-token spans in .token_spans.npy).
"""

import json

from ..embeddings import EmbedArguments, embed

ARGUMENTS = (EmbedArguments,)


def run(args: EmbedArguments) -> int:
    print(json.dumps(embed(args).to_json(), indent=2))
    return 0
