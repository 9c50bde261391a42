"""Does a copier's extra loss on bases with no copy come from false matches? (README, "Does learned copying
transfer to natural repeats?")

Two models' `fgm context-scan` folders made at the same positions (the second's `--versus` partner). For each
position of the "no copy" stratum and each context, the best partial match of its key (the 7 bases on either side,
the bases the positive control's 15-base convolution gives attention to find a copy by) anywhere else in its window,
either strand, counted in matching bases out of 14; then the first model's loss minus the second's, per match band,
with 95% bootstrap intervals (`fgm.stats`). If a copier paid for trusting false matches, its cost would sit where a
near-match exists.

    python scripts/no_copy_cost_by_key_match.py runs/pc6/scan_yeast runs/pc6_twin/scan_yeast \
        --genome data/genomes/sacCer_S288C.fa.gz --chroms chrXVI
"""

import argparse
from pathlib import Path

import numpy as np

from fgm.context.held_out import genome_segments
from fgm.model.kmers_fgm import COMPLEMENT
from fgm.stats import mean_interval, resamples

FLANK = 7
BANDS = [(0, 9), (10, 10), (11, 11), (12, 14)]


def best_key_match(sequence: str, position: int, context: int) -> int:
    """The most of the 2 x FLANK bases around `position` that another place in its window (either strand) matches."""
    offsets = np.r_[-FLANK:0, 1 : FLANK + 1]
    low = max(0, position - context // 2)
    window = sequence[low : position + context // 2]
    key = np.frombuffer(sequence[position - FLANK : position + FLANK + 1].encode(), np.uint8)[offsets + FLANK]
    best = 0
    for strand, text in enumerate((window, window.translate(COMPLEMENT)[::-1])):
        codes = np.frombuffer(text.encode(), np.uint8)
        centres = np.arange(FLANK, len(codes) - FLANK)
        matches = (codes[centres[:, None] + offsets] == key).sum(1)
        own = position - low if strand == 0 else len(codes) - 1 - (position - low)
        best = max(best, int(matches[centres != own].max()))
    return best


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("scan", type=Path, help="the model's context-scan folder")
    parser.add_argument("versus", type=Path, help="the other model's, at the same positions")
    parser.add_argument("--genome", required=True, help="the FASTA the scans read")
    parser.add_argument("--chroms", nargs="*", help="the records they read (default: all)")
    args = parser.parse_args()
    sequences = [segment.sequence.upper() for segment in genome_segments(args.genome, args.chroms)]
    no_copy = np.load(args.scan / "strata.npz")["stratum"] == 0
    print("| context | no-copy positions | cost, all | " + " | ".join(f"key match {a}-{b}/14" for a, b in BANDS) + " |")
    print("| --- " * (3 + len(BANDS)) + "|")
    for path in sorted(args.scan.glob("context_*.npz"), key=lambda p: int(p.stem.split("_")[1])):
        context = int(path.stem.split("_")[1])
        mine, theirs = np.load(path), np.load(args.versus / path.name)
        if not (mine["positions"] == theirs["positions"]).all():
            raise ValueError(f"{path} and {args.versus / path.name} score different positions")
        cost = (mine["base_loss"] - theirs["base_loss"])[no_copy]
        best = np.array([best_key_match(sequences[s], p, context)
                         for s, p in mine["positions"][no_copy]])
        cells = [interval_cell(cost), *(interval_cell(cost[(best >= low) & (best <= high)]) for low, high in BANDS)]
        print(f"| {context:,} | {no_copy.sum():,} | " + " | ".join(cells) + " |")


def interval_cell(costs: np.ndarray) -> str:
    """Mean cost [95% bootstrap interval] (positions), or "none" for an empty band."""
    if not len(costs):
        return "none"
    cost = mean_interval(costs, resamples(len(costs), 1000, seed=0))
    return f"{cost.estimate:+.3f} [{cost.low:+.3f}, {cost.high:+.3f}] ({len(costs)})"


if __name__ == "__main__":
    main()
