"""Can a model of the demo's size learn retrieval at all within a CPU budget?

Pretrains the `demo` preset (0.8M parameters, single nucleotides, 199-base windows, the demo's optimizer settings;
--preset unet-demo: the U-Net of about the same size) on the bundled yeast genome's training chromosomes (or, with
--background random, on uniform random bases of the same windows: a positive control), optionally with a copy
planted in every training window (a 32-base segment of other training sequence written twice, 32 to 135 bases
apart, start to start, at a random place; --copy_length 96: a tandem duplicate filling the window), optionally
with full attention in every layer or continuing from a checkpoint (--init, a curriculum), then measures it with
`fgm benchmark retrieval` on chrXVI (the held-out test chromosome, never trained on) and scans its natural-genome
loss on chrXV as the demo does.

    python scripts/retrieval_learning.py --output_dir runs/retrieval_learning/planted --planted
    python scripts/retrieval_learning.py --output_dir runs/retrieval_learning/planted_full --planted --full_attention
    python scripts/retrieval_learning.py --output_dir runs/retrieval_learning/tandem96_full --planted --copy_length 96 \
        --full_attention
    python scripts/retrieval_learning.py --output_dir runs/retrieval_learning/unet_planted --planted --preset unet-demo
    python scripts/retrieval_learning.py --output_dir runs/retrieval_learning/random_full --planted \
        --background random --full_attention

Every run is seeded and resumable (training from its last checkpoint, the benchmark distance by distance). The
README's "Can a small model learn retrieval?" lists the runs and their numbers.
"""

import argparse
import json
from pathlib import Path

import numpy as np

from fgm.context.instrument import HeldOutArguments, ScoringArguments
from fgm.context.retrieval import retrieval_benchmark
from fgm.context.scan import context_scan
from fgm.data import bundled_genome
from fgm.data.corpus import build_corpus, save_corpus
from fgm.training.pretrain import PretrainDataArguments, PretrainingArguments, PretrainModelArguments, pretrain

WINDOW = 199  # bases per training example (200 tokens with <cls>)


def plant_copies(rows: list[dict], seed: int, length: int = 32) -> list[dict]:
    """Each row with a `length`-base segment of another row written twice into it, `length` to 199 - 2 x length
    bases apart, start to start (at least `length`: 96 bases make a tandem duplicate filling the window)."""
    rng = np.random.default_rng(seed)
    planted = []
    for row in rows:
        donor = rows[rng.integers(len(rows))]["sequence"]
        start = int(rng.integers(len(donor) - length + 1))
        needle = donor[start : start + length]
        distance = int(rng.integers(length, max(WINDOW - 2 * length, length) + 1))
        first = int(rng.integers(WINDOW - length - distance + 1))
        second = first + distance
        sequence = row["sequence"]
        sequence = (sequence[:first] + needle + sequence[first + length : second] + needle
                    + sequence[second + length :])
        planted.append({**row, "sequence": sequence})
    return planted


def random_background(rows: list[dict], seed: int) -> list[dict]:
    """Each row's bases replaced by uniform random ones: nothing but a planted copy is predictable (a positive
    control: can this model and budget learn to copy at all?)."""
    rng = np.random.default_rng(seed + 1)
    return [{**row, "sequence": "".join(rng.choice(list("ACGT"), len(row["sequence"])))} for row in rows]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--output_dir", required=True)
    parser.add_argument("--planted", action="store_true", help="plant a copy in every training window")
    parser.add_argument("--background", choices=("genome", "random"), default="genome",
                        help="training windows of yeast sequence, or of uniform random bases (with --planted)")
    parser.add_argument("--copy_length", type=int, default=32, help="bases of each planted segment")
    parser.add_argument("--preset", default="demo", help="the model: demo (flat) or unet-demo (the U-Net)")
    parser.add_argument("--full_attention", action="store_true", help="full attention in every layer")
    parser.add_argument("--init", help="continue from this checkpoint (a curriculum) instead of a new model")
    parser.add_argument("--max_steps", type=int, default=2000)
    parser.add_argument("--mlm_probability", type=float, default=0.3)
    parser.add_argument("--distances", default="32,64,96,128,512", help="retrieval benchmark distances")
    parser.add_argument("--windows", type=int, default=100, help="retrieval windows per distance")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    out = Path(args.output_dir)

    corpus = build_corpus([bundled_genome()], window=WINDOW, stride=WINDOW, val_chroms="chrXV", test_chroms="chrXVI",
                          progress=False)
    if args.background == "random" and not args.planted:
        parser.error("--background random needs --planted (random bases alone teach nothing)")
    if args.planted:
        from datasets import Dataset

        rows = corpus["train"].to_list()
        rows = random_background(rows, args.seed) if args.background == "random" else rows
        corpus["train"] = Dataset.from_list(plant_copies(rows, args.seed, args.copy_length))
    save_corpus(corpus, out / "corpus", overwrite=True)
    overrides = {"layer_types": ["full_attention"] * 4} if args.full_attention and not args.init else None
    pretrain(
        PretrainModelArguments(model_name_or_path=args.init, preset=args.preset, kmer_size=1,
                               config_overrides=overrides),
        PretrainDataArguments(corpus=str(out / "corpus"), max_length=WINDOW + 1, mlm_probability=args.mlm_probability),
        PretrainingArguments(output_dir=str(out / "model"), resume_from_checkpoint="last", max_steps=args.max_steps,
                             per_device_train_batch_size=16, learning_rate=1e-3, eval_strategy="no",
                             save_steps=max(args.max_steps // 4, 1), logging_steps=50, seed=args.seed,
                             disable_tqdm=True, report_to="none"),
    )
    scoring = ScoringArguments(seed=args.seed, quiet=True)
    retrieval = retrieval_benchmark(out / "model", out / "retrieval", [int(d) for d in args.distances.split(",")],
                                    scoring=scoring, windows=args.windows)
    scan = context_scan(out / "model", out / "scan", [WINDOW],  # chrXV: natural sequence, planted or not
                        HeldOutArguments(corpus=str(out / "corpus"), split="validation"), scoring, positions=2000)
    summary = {"preset": args.preset, "background": args.background, "init": args.init, "planted": args.planted,
               "copy_length": args.copy_length,
               "full_attention": args.full_attention, "max_steps": args.max_steps,
               "mlm_probability": args.mlm_probability,
               "gain": {row["distance"]: row["gain"] for row in retrieval["rows"]},
               "natural_loss": scan["contexts"][0]["loss"], "vs_best_markov": scan["contexts"][0]["vs_best_baseline"]}
    (out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    print((out / "retrieval" / "retrieval.md").read_text())
    print(json.dumps(summary, indent=2))


if __name__ == "__main__":
    main()
