"""`fgm benchmark long-range`: can a model carry information over a distance d at all?

A synthetic task on a real genomic background: each sequence is a window of the genome with two motifs
written into it, the first `flank` bases from the start and the second d bases further. The label is 1
when the two motifs are the same and 0 when they differ. Each site on its own carries no information
(every motif is equally likely at both sites under both labels), so only a model that relates the two
sites, d bases apart, beats chance. The motifs, windows, strands and labels are drawn from a seed: the
same seed gives the same data, bit for bit.

For each distance the checkpoint is fine-tuned (`fgm finetune`, local files) and scored on held-out
sequences; the table and plot give test accuracy against d (0.5 = chance).
"""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np

from ..kmers_fgm import reverse_complement

MOTIF_LENGTH, N_MOTIFS, FLANK = 8, 8, 32


def probe_length(distance: int) -> int:
    """Size of a probe sequence: the flanks, the distance and the second motif."""
    return distance + MOTIF_LENGTH + 2 * FLANK


def probe_data(genome_sequences: list[str], distance: int, n_train: int, n_test: int, seed: int = 0):
    """Train and test rows (`sequence`, `label`, `name`) for one distance, alternating labels."""
    rng = np.random.default_rng([seed, distance])
    motif_length, n_motifs, flank = MOTIF_LENGTH, N_MOTIFS, FLANK
    motifs = ["".join(rng.choice(list("ACGT"), motif_length)) for _ in range(n_motifs)]
    length = probe_length(distance)
    usable = [s for s in genome_sequences if len(s) > length]
    if not usable:
        raise ValueError(f"no sequence is longer than the {length:,} bases a distance of {distance:,} needs")
    rows = []
    for i in range(n_train + n_test):
        source = usable[rng.integers(len(usable))]
        start = int(rng.integers(len(source) - length))
        background = source[start : start + length]
        if rng.random() < 0.5:
            background = reverse_complement(background)
        label = i % 2
        first = int(rng.integers(n_motifs))
        second = first if label else int((first + 1 + rng.integers(n_motifs - 1)) % n_motifs)
        a, b = flank, flank + distance
        sequence = (background[:a] + motifs[first] + background[a + motif_length : b] + motifs[second]
                    + background[b + motif_length :])
        rows.append({"sequence": sequence, "label": label, "name": f"d{distance}_{i}"})
    return {"train": rows[:n_train], "test": rows[n_train:]}


def long_range_probe(
    model,
    output_dir,
    distances: list[int],
    *,
    genome=None,
    chroms=None,
    n_train: int = 2000,
    n_test: int = 500,
    seed: int = 0,
    training_args=None,
    model_args=None,
) -> dict:
    """Fine-tune `model` (a checkpoint) on the probe at each distance; write `long_range.md`, `.json` and
    `.png` to `output_dir`. Each distance is resumable (its fine-tuning results are kept)."""
    import pandas as pd

    from ..data import bundled_genome
    from ..data.genome import iter_records
    from ..training.finetune import finetune
    from ..training.finetune_arguments import FinetuneModelArguments, FinetuningArguments, TaskArguments

    output_dir = Path(output_dir)
    genome = genome or bundled_genome()
    wanted = None if chroms is None else set(chroms)
    sequences = [r.sequence for r in iter_records(genome) if wanted is None or r.name in wanted]
    model_args = model_args or FinetuneModelArguments(model_name_or_path=str(model))
    training_args = training_args or FinetuningArguments(output_dir=str(output_dir))
    rows = []
    for distance in sorted(set(distances)):
        folder = output_dir / f"d_{distance}"
        results_file = folder / "results.json"
        if not results_file.exists():
            folder.mkdir(parents=True, exist_ok=True)
            data = probe_data(sequences, distance, n_train, n_test, seed)
            for split, split_rows in data.items():
                pd.DataFrame(split_rows).to_parquet(folder / f"{split}.parquet", index=False)
            finetune(
                model_args,
                TaskArguments(train_file=str(folder / "train.parquet"), test_file=str(folder / "test.parquet"),
                              max_length=probe_length(distance) + 1),
                replace(training_args, output_dir=str(folder), metric_for_best_model="accuracy", seed=seed),
            )
        results = json.loads(results_file.read_text())
        accuracy, n_test = results["summary"]["accuracy"], results["data"]["n_test"]
        rows.append({"distance": distance, "sequence_length": probe_length(distance), "accuracy": accuracy,
                     "interval": accuracy_interval(accuracy["mean"], n_test * accuracy["n"]), "n_test": n_test})
    report = {"model": str(model), "seed": seed, "n_train": n_train, "rows": rows}
    (output_dir / "long_range.json").write_text(json.dumps(report, indent=2) + "\n")
    lines = ["Test accuracy on the two-motif probe (0.5 = chance) with its 95% binomial (Wilson) interval over the test "
             "predictions, and 2 sd over fine-tuning runs.", "",
             "| distance (bases) | sequence (bases) | accuracy [95% CI] | 2 sd over runs (runs) | test sequences |",
             "| --- | --- | --- | --- | --- |"]
    lines += [f"| {r['distance']:,} | {r['sequence_length']:,} | {r['accuracy']['mean']:.3f} [{r['interval'][0]:.3f}, "
              f"{r['interval'][1]:.3f}] | {r['accuracy']['two_sd']:.3f} ({r['accuracy']['n']}) | {r['n_test']} |"
              for r in rows]
    (output_dir / "long_range.md").write_text("\n".join(lines) + "\n")
    _plot(rows, output_dir / "long_range.png")
    return report


def accuracy_interval(accuracy: float, n: int) -> tuple[float, float]:
    """95% Wilson interval of an accuracy measured on `n` predictions: is the probe above chance at all?"""
    from scipy.stats import binomtest

    interval = binomtest(round(accuracy * n), n).proportion_ci(method="wilson")
    return interval.low, interval.high


def _plot(rows: list[dict], path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axis = plt.subplots(figsize=(5.6, 3.8))
    x = [r["distance"] for r in rows]
    means = np.array([r["accuracy"]["mean"] for r in rows])
    bounds = np.array([r["interval"] for r in rows])
    axis.errorbar(x, means, yerr=[means - bounds[:, 0], bounds[:, 1] - means], marker="o", capsize=3)
    axis.axhline(0.5, color="grey", linestyle="--", label="chance")
    axis.set_xscale("log")
    axis.set_xlabel("distance between the motifs (bases)")
    axis.set_ylabel("test accuracy")
    axis.set_ylim(0.4, 1.0)
    axis.legend()
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)
