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

from dataclasses import dataclass, field
from pathlib import Path

from ..checkpoints import checkpoint_argument
from ..context.instrument import HeldOutArguments, ScoringArguments
from . import bases_list


@dataclass
class RetrievalArguments:
    _argument_group_name = "retrieval"

    model_name_or_path: str = checkpoint_argument("masked-LM checkpoint folder or Hub id (FGM, or any masked LM with a "
                                                  "DNA tokenizer, e.g. a Nucleotide Transformer)")
    distances: list[str] = field(default_factory=lambda: ["32", "128", "512", "2k"],
                                 metadata={"help": "bases between the copies (start to start), e.g. 32,128,1k,10k"})
    output_dir: str = field(default="runs/retrieval", metadata={"help": "where the table, plot and data go"})
    windows: int = field(default=50, metadata={"help": "paired windows per distance"})
    copy_length: int = field(default=32, metadata={"help": "bases of the copied segment"})
    scored: int = field(default=4, metadata={"help": "bases scored in the middle of the second copy"})
    flank: int = field(default=32, metadata={"help": "bases of background before the first and after the second copy"})
    distractor: int = field(default=0, metadata={"help": "key substitutions of a near-copy at half the distance "
                                                 "(0: no distractor)"})
    control: str = field(default="other", metadata={"choices": ("other", "shuffled"), "help": "the control's first "
                         "copy: other genomic sequence, or the copy's bases shuffled (same composition)"})


ARGUMENTS = (RetrievalArguments, HeldOutArguments, ScoringArguments)


def run(args: RetrievalArguments, held_out: HeldOutArguments, scoring: ScoringArguments) -> int:
    from ..context.retrieval import retrieval_benchmark

    retrieval_benchmark(args.model_name_or_path, args.output_dir, bases_list(args.distances), held_out, scoring,
                        windows=args.windows, copy_length=args.copy_length, scored=args.scored, flank=args.flank,
                        distractor=args.distractor, control=args.control)
    print(Path(args.output_dir, "retrieval.md").read_text())
    return 0
