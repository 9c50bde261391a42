"""Is a copier's extra loss on bases with no copy overconfidence? (README, "Does learned copying transfer to natural
repeats?")

`fgm context-scan` folders, each of one masked LM at the same positions. Each model scores the "no copy" stratum's
bases again, in the scan's own windows (its saved losses are checked against the new ones), and one temperature T
divides its log-probabilities, T fitted on a grid to the lowest mean loss: the loss at T = 1 (the scan's), the best
T, and the loss there. T above 1 means the model is overconfident there: its predictions are sharper than its
accuracy earns. T is fitted on the positions it is scored on; one parameter on ~2,000 positions flatters little.

    python scripts/no_copy_calibration.py runs/positive_control/scan_yeast runs/natural_twin/scan_yeast \
        --genome data/genomes/sacCer_S288C.fa.gz --chroms chrXVI
"""

import argparse
import json
from pathlib import Path

import numpy as np

from fgm.checkpoints import load_language_model
from fgm.context.held_out import genome_segments
from fgm.context.scan import scores_file, strata_file, window_start
from fgm.inference import BASES, MaskedBaseScorer

TEMPERATURES = np.round(np.arange(0.5, 2.001, 0.01), 2)


def no_copy_log_probs(scan: Path, sequences: list[str], context: int, largest: int, k: int, scorer):
    """Log-probabilities of A, C, G, T at the scan's no-copy positions, in its `context`-base windows, and the index
    of each true base."""
    saved = np.load(scores_file(scan, context))
    no_copy = np.load(strata_file(scan))["stratum"] == 0
    chosen = saved["positions"][no_copy]
    starts = [window_start(int(p), context, largest, k) for _, p in chosen]
    windows = [sequences[s][a : a + context] for (s, _), a in zip(chosen, starts)]
    scores = scorer.score(windows, [int(p) - a for (_, p), a in zip(chosen, starts)])
    bases = [sequences[s][p] for s, p in chosen]
    if not np.allclose(scores.base_loss(bases), saved["base_loss"][no_copy], atol=1e-4):
        raise ValueError(f"{scan}: the rescored losses at {context:,} bases differ from the scan's: another "
                         "genome, --chroms or model than the scan read?")
    return scores.log_probs, np.array([BASES.index(b) for b in bases])


def tempered_losses(log_probs: np.ndarray, truth: np.ndarray) -> np.ndarray:
    """Mean loss at each of TEMPERATURES."""
    scaled = log_probs[None] / TEMPERATURES[:, None, None]
    scaled -= np.logaddexp.reduce(scaled, axis=2, keepdims=True)
    return -scaled[:, np.arange(len(truth)), truth].mean(1)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("scans", type=Path, nargs="+", help="context-scan folders, one per model")
    parser.add_argument("--genome", required=True, help="the FASTA the scans read")
    parser.add_argument("--chroms", nargs="*", help="the records they read (default: all)")
    args = parser.parse_args()
    sequences = [segment.sequence.upper() for segment in genome_segments(args.genome, args.chroms)]
    print("| model | context | no-copy positions | loss at T = 1 | best T | loss at best T | gained by T |")
    print("| --- " * 7 + "|")
    for scan in args.scans:
        summary = json.loads((scan / "scan.json").read_text())
        model, tokenizer = load_language_model(summary["model"])
        scorer = MaskedBaseScorer(model, tokenizer, batch_size=16)
        contexts = [row["context"] for row in summary["contexts"]]
        for context in contexts:
            log_probs, truth = no_copy_log_probs(scan, sequences, context, contexts[-1], summary["kmer_size"], scorer)
            losses = tempered_losses(log_probs, truth)
            at_one, best = losses[TEMPERATURES == 1.0][0], int(losses.argmin())
            print(f"| {summary['model']} | {context:,} | {len(truth):,} | {at_one:.4f} | "
                  f"{TEMPERATURES[best]:.2f} | {losses[best]:.4f} | {at_one - losses[best]:.4f} |", flush=True)


if __name__ == "__main__":
    main()
