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

from pathlib import Path

from ..context.instrument import HeldOutArguments, ScoringArguments
from ..context.scan import ScanArguments

ARGUMENTS = (ScanArguments, HeldOutArguments, ScoringArguments)


def run(args: ScanArguments, held_out: HeldOutArguments, scoring: ScoringArguments) -> int:
    from ..context.scan import context_scan

    context_scan(args, held_out, scoring)
    print(Path(args.output_dir, "scan.md").read_text())
    return 0
