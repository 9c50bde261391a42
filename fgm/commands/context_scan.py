"""`fgm context-scan`: masked-LM loss against context size, at the same positions for every size.

    fgm context-scan --model CKPT --corpus runs/yeast/corpus --split test --contexts 1k,4k,16k,64k
    fgm context-scan --model CKPT --genome genome.fa.gz --chroms chrXVI --contexts 1k 4k --positions 5000
    fgm context-scan --model CKPT --genome data/genomes/drosophila_chr4/DmelanDM6_4.fna.gz --contexts 1k,10k
    fgm context-scan --model CKPT --genome data/genomes/drosophila_chr4/DmelanDM6_4.fna.gz --contexts 1k,10k \
        --stratum 1-10kb --positions 200        # only positions whose nearest copy is 1 to 10 kb away
    fgm context-scan --model CKPT_B ... --versus runs/scan_a   # B minus A, paired, at A's positions

Positions are a seeded sample of the held-out sequence (default: chrXVI of the bundled yeast genome); each is
scored alone, its token masked, in a window of each size centred on it (the same token at every size). Windows
longer than the checkpoint's training context are marked as extrapolation. Baselines: bidirectional Markov models
of orders 0-6 and the copy oracle, scored on the same positions under the same masking, fitted on the training
split (with --genome: the records not scanned; --train_genome: that genome; a genome of one record: the other half
of the record, said in the table). Writes scan.md, scan.json and scan.png to --output_dir; resumes size by size.
"""

from dataclasses import dataclass, field
from pathlib import Path

from ..checkpoints import checkpoint_argument
from ..context.instrument import HeldOutArguments, ScoringArguments
from . import bases_list


@dataclass
class ContextScanArguments:
    _argument_group_name = "scan"

    model_name_or_path: str = checkpoint_argument("masked-LM checkpoint folder or Hub id (FGM, or any masked LM with a "
                                                  "DNA tokenizer, e.g. a Nucleotide Transformer)")
    contexts: list[str] = field(metadata={"help": "window sizes in bases, e.g. 1k,4k,16k,64k"})
    output_dir: str = field(default="runs/context_scan", metadata={"help": "where the table, plot and data go"})
    positions: int = field(default=2000, metadata={"help": "scored positions"})
    markov_orders: list[int] = field(default_factory=lambda: list(range(7)), metadata={"help": "baseline orders"})
    stratum: str | None = field(default=None, metadata={
        "help": "draw every position from this repeat stratum: 'no copy', '< 1 kb', '1-10 kb', '10-100 kb' or "
                "'>= 100 kb' (spaces optional)"})
    versus: str | None = field(default=None, metadata={
        "help": "another model's scan folder at the same positions and contexts: this model's loss minus its, paired, "
                "overall and per stratum"})


ARGUMENTS = (ContextScanArguments, HeldOutArguments, ScoringArguments)


def run(args: ContextScanArguments, held_out: HeldOutArguments, scoring: ScoringArguments) -> int:
    from ..context.scan import context_scan

    context_scan(args.model_name_or_path, args.output_dir, bases_list(args.contexts), held_out, scoring,
                 positions=args.positions, markov_orders=args.markov_orders, stratum=args.stratum,
                 versus=args.versus)
    print(Path(args.output_dir, "scan.md").read_text())
    return 0
