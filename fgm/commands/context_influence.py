"""`fgm context-influence`: how far does a masked LM look? The change of a masked prediction when distant bases change.

    fgm context-influence --model CKPT --output_dir runs/influence
    fgm context-influence --model CKPT --context 16k --genome genome.fa.gz --chroms chr21 --positions 1000
    fgm context-influence --model CKPT --copy_distance 1k     # with a copy 1 kb away in every window

At --positions seeded positions of the held-out sequence (default: chrXVI of the bundled yeast genome), each
scored alone with its token masked in a --context-base window (default: the checkpoint's training context), the
bases at distances [d, 2d) from the masked token on both sides are replaced by other genomic sequence, for
d = 1, 2, 4, ... to the window's edge; per band, the mean KL divergence of the masked prediction and the mean
loss change (nats) with 95% bootstrap intervals, and the reach: the farthest band whose KL is at least 1% of the
largest band's. With --copy_distance D, the --copy_length bases around each scored base are written again D bases
before them, so the band holding the copy shows whether the model reads a copy that far (natural sequence rarely
holds one). Any masked LM with a DNA tokenizer. Writes influence.md, .json, .png; resumes band by band.
"""

from pathlib import Path

from ..context.instrument import HeldOutArguments, ScoringArguments
from ..context.influence import InfluenceArguments

ARGUMENTS = (InfluenceArguments, HeldOutArguments, ScoringArguments)


def run(args: InfluenceArguments, held_out: HeldOutArguments, scoring: ScoringArguments) -> int:
    from ..context.influence import context_influence

    context_influence(args, held_out, scoring)
    print(Path(args.output_dir, "influence.md").read_text())
    return 0
