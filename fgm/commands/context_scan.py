"""`fgm context-scan`: masked-LM loss against context size, at the same positions for every size.

    fgm context-scan --model CKPT --corpus runs/yeast/corpus --split test --contexts 1k,4k,16k,64k
    fgm context-scan --model CKPT --genome genome.fa.gz --chroms chrXVI --contexts 1k 4k --positions 5000

Positions are a seeded sample of the held-out sequence; each is scored alone, its token masked, in a
window of each size centred on it (the same token at every size). Windows longer than the checkpoint's
training context are marked as extrapolation. Baselines: bidirectional Markov models of orders 0-6 fitted
on the training split (with --genome: the records not scanned), scored on the same positions under the
same masking. Writes scan.md, scan.json and scan.png to --output_dir; resumes size by size.
"""

from dataclasses import dataclass, field
from pathlib import Path

from ..checkpoints import checkpoint_argument
from . import bases_list


@dataclass
class ContextScanArguments:
    model_name_or_path: str = checkpoint_argument("masked-LM checkpoint folder or Hub id (FGM, or any masked LM with a "
                                                  "DNA tokenizer, e.g. a Nucleotide Transformer)")
    contexts: list[str] = field(metadata={"help": "window sizes in bases, e.g. 1k,4k,16k,64k"})
    output_dir: str = field(default="runs/context_scan", metadata={"help": "where the table, plot and data go"})
    corpus: str | None = field(default=None, metadata={"help": "a corpus from `fgm corpus` (its train split fits the "
                                                       "baselines)"})
    split: str = field(default="test", metadata={"help": "held-out corpus split to scan"})
    genome: str | None = field(default=None, metadata={"help": "a genome file instead of a corpus"})
    chroms: list[str] | None = field(default=None, metadata={"help": "with --genome: the records to scan"})
    positions: int = field(default=2000, metadata={"help": "scored positions"})
    seed: int = field(default=0, metadata={"help": "seed of the positions and of the bootstrap"})
    markov_orders: list[int] = field(default_factory=lambda: list(range(7)), metadata={"help": "baseline orders"})
    batch_size: int = field(default=8, metadata={"help": "windows per forward pass"})
    bootstrap: int = field(default=1000, metadata={"help": "bootstrap resamples for the intervals"})
    device: str | None = field(default=None, metadata={"help": "default: CUDA if available"})
    trust_remote_code: bool = field(default=False, metadata={"help": "run the model code shipped in the checkpoint "
                                                             "(needed for Hub models whose code is not in transformers)"})
    quiet: bool = field(default=False, metadata={"help": "no progress bars"})


ARGUMENTS = (ContextScanArguments,)


def run(args: ContextScanArguments) -> int:
    from ..context.scan import context_scan

    context_scan(
        args.model_name_or_path, args.output_dir, bases_list(args.contexts), corpus=args.corpus, split=args.split,
        genome=args.genome, chroms=args.chroms, positions=args.positions, seed=args.seed,
        markov_orders=args.markov_orders, batch_size=args.batch_size, n_bootstrap=args.bootstrap,
        device=args.device, trust_remote_code=args.trust_remote_code, progress=not args.quiet,
    )
    print(Path(args.output_dir, "scan.md").read_text())
    return 0
