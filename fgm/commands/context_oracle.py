"""`fgm context-oracle`: where a genome's copies are, and what a perfect copier gains at each context (no neural model).

    fgm context-oracle --contexts 1k,10k,100k,1m --output_dir runs/oracle
    fgm context-oracle --genome genome.fa.gz --chroms chr21 --contexts 1k,10k,100k,1m,10m
    fgm context-oracle --genome data/genomes/drosophila_chr4/DmelanDM6_4.fna.gz --output_dir runs/oracle_dmel4
    fgm context-oracle --genome data/genomes/drosophila_chr4/DmelanDM6_4.fna.gz \
        --train_genome data/genomes/sacCer_S288C.fa.gz

Every base of the held-out sequence (default: chrXVI of the bundled yeast genome) and of any training sequences
(the other records, or --train_genome) is classed by the distance to its nearest copy (the --copy_key bases around
it, either strand): none, < 1 kb, 1-10 kb, 10-100 kb, >= 100 kb. At --positions seeded positions the copy oracle
predicts the base a copy inside the window holds (trusted at the error rate of copies at its distance), else the
best Markov model (orders 0-6); both are fitted on the training sequences or, for a genome of one record, on the
other half of the record, as the table says. Its loss and paired gain over that model per context are the upper
bound of what context-as-retrieval can give on this genome. Writes oracle.md, .json, .png.
"""

from dataclasses import dataclass, field
from pathlib import Path

from ..context.instrument import HeldOutArguments
from . import bases_list


@dataclass
class OracleArguments:
    _argument_group_name = "oracle"

    contexts: list[str] = field(default_factory=lambda: ["1k", "10k", "100k", "1m"],
                                metadata={"help": "window sizes in bases (clipped at the ends of each sequence)"})
    output_dir: str = field(default="runs/oracle", metadata={"help": "where the tables, plot and data go"})
    positions: int = field(default=20_000, metadata={"help": "sampled positions for the oracle's loss"})
    copy_key: int = field(default=24, metadata={"help": "bases around the masked base a copy must match (even, 2-32)"})
    markov_orders: list[int] = field(default_factory=lambda: list(range(7)), metadata={"help": "fallback orders"})
    seed: int = field(default=0, metadata={"help": "seed of the positions and of the bootstrap"})
    bootstrap: int = field(default=1000, metadata={"help": "bootstrap resamples for the intervals"})


ARGUMENTS = (OracleArguments, HeldOutArguments)


def run(args: OracleArguments, held_out: HeldOutArguments) -> int:
    from ..context.oracle_scan import oracle_scan

    oracle_scan(args.output_dir, bases_list(args.contexts), held_out, positions=args.positions, seed=args.seed,
                key=args.copy_key, markov_orders=args.markov_orders, n_bootstrap=args.bootstrap)
    print(Path(args.output_dir, "oracle.md").read_text())
    return 0
