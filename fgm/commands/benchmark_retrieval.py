"""`fgm benchmark retrieval`: zero-shot retrieval gain of a masked LM against the distance between two copies.

    fgm benchmark retrieval --model CKPT --distances 32,128,512,2k --output_dir runs/retrieval
    fgm benchmark retrieval --model CKPT --genome genome.fa.gz --chroms chr21 --distances 1k,10k,100k --distractor 2

For each distance d: --windows windows of the held-out sequence (default: chrXVI of the bundled yeast genome)
in which a --copy_length-base segment of other genomic sequence is written twice, d bases apart; the middle
--scored bases of the second copy are scored, each with its token masked, against a control window identical
except that the first copy is other genomic sequence. Retrieval gain = control loss - copy loss (nats per base;
ln 4 = 1.386 at most, 0 = no use of the copy), with 95% bootstrap intervals over windows; --distractor N adds a
near-copy at half the distance, differing at the scored bases and N key bases; --control shuffled keeps the
first copy's composition in the control, so that only order-specific copying gains. Any masked LM with a DNA tokenizer
(--trust_remote_code for Hub code). Writes retrieval.md, .json, .png; resumes distance by distance.
"""

from pathlib import Path

from ..context.instrument import HeldOutArguments, ScoringArguments
from ..context.retrieval import RetrievalArguments

ARGUMENTS = (RetrievalArguments, HeldOutArguments, ScoringArguments)


def run(args: RetrievalArguments, held_out: HeldOutArguments, scoring: ScoringArguments) -> int:
    from ..context.retrieval import retrieval_benchmark

    retrieval_benchmark(args, held_out, scoring)
    print(Path(args.output_dir, "retrieval.md").read_text())
    return 0
