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

from pathlib import Path

from ..context.instrument import HeldOutArguments
from ..context.oracle_scan import OracleArguments

ARGUMENTS = (OracleArguments, HeldOutArguments)


def run(args: OracleArguments, held_out: HeldOutArguments) -> int:
    from ..context.oracle_scan import oracle_scan

    oracle_scan(args, held_out)
    print(Path(args.output_dir, "oracle.md").read_text())
    return 0
