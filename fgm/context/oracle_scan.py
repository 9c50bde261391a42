"""`fgm context-oracle`: where a genome's copies are and what the copy oracle gains at each context, with no
neural model at all.

Two measurements of the held-out sequence (`HeldOutArguments`; default: chrXVI of the bundled yeast genome, the
other chromosomes fitting the Markov fallback and the oracle's error rates; a genome of one record fits them on the
other half of the record). The repeat strata of every base (single-base masked tokens): the share whose nearest copy
is < 1 kb, 1-10 kb, 10-100 kb, >= 100 kb away or absent, for the held-out and any training sequences. And the copy
oracle at seeded positions for each context: a window of that size centred on the position (clipped at the ends of
its sequence, so that contexts longer than a chromosome still mean "the whole chromosome"), the oracle's loss, its
paired difference to the best Markov model (its gain), and per stratum. The oracle's gain against context is the
upper bound of what context-as-retrieval can give there.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from .copies import KEY, STRATA, find_copies, strata
from .instrument import HeldOutArguments
from .oracle import copy_oracle, error_rate_text
from .report import interval_text, markdown_table, saved_figure, share_text
from .scan import MARKOV_ORDERS, choose_positions, markov_scores, paired_difference, strata_results, summarize


def base_strata(sequences: list[str], key: int = KEY) -> np.ndarray:
    """Bases of `sequences` in each stratum (counts in the order of STRATA), every base a single-base token."""
    counts = np.zeros(len(STRATA), dtype=np.int64)
    for sequence in sequences:
        positions = np.arange(len(sequence))
        copies = find_copies([sequence], np.stack([np.zeros_like(positions), positions], 1),
                             np.stack([positions, positions + 1], 1), key)
        counts += np.bincount(strata(copies.distance), minlength=len(STRATA))
    return counts


def oracle_scan(output_dir, contexts: list[int], held_out: HeldOutArguments | None = None, *, positions: int = 20_000,
                seed: int = 0, key: int = KEY, markov_orders=MARKOV_ORDERS, n_bootstrap: int = 1000) -> dict:
    """The repeat strata and the copy oracle of the held-out sequence at `contexts` (bases). Writes oracle.md,
    oracle.json and oracle.png to `output_dir`; returns the results."""
    held_out = held_out or HeldOutArguments()
    data = held_out.load()
    contexts = sorted(set(int(c) for c in contexts))
    chosen, _ = choose_positions(data.held_out, key + 1, positions, seed)
    spans = np.array([(p, p + 1) for _, p in chosen])
    rows = markov_scores(data, chosen, [tuple(s) for s in spans], markov_orders)
    lengths = np.array([len(data.held_out[s].sequence) for s, _ in chosen])
    centres = spans[:, 0]
    windows = {c: (np.maximum(centres - c // 2, 0), np.minimum(centres - c // 2 + c, lengths)) for c in contexts}
    copies, fit, in_window = copy_oracle(rows, data, chosen, spans, windows, key, seed)
    summary = summarize(rows, n_bootstrap, seed)
    best = fit["fallback"]
    stratum = strata(copies.distance)
    results = {
        "seed": seed, "positions": len(chosen), "copy_oracle": fit,
        "bases": {"held_out": base_strata([s.sequence for s in data.held_out], key).tolist(),
                  **({"train": base_strata(data.train, key).tolist()} if data.train else {})},
        "best_baseline": {"name": best, **summary[best]},
        "contexts": [{"context": c, "copy_in_window": float(in_window[c].mean()), **summary[f"copy oracle {c}"],
                      "vs_best_baseline": paired_difference(rows, f"copy oracle {c}", best, n_bootstrap, seed)}
                     for c in contexts],
        "strata": strata_results(rows, contexts, stratum, best, n_bootstrap, seed, {"copy_oracle": "copy oracle"}),
    }
    output_dir = Path(output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    (output_dir / "oracle.json").write_text(json.dumps(results, indent=2) + "\n")
    (output_dir / "oracle.md").write_text(oracle_table(results))
    with saved_figure(output_dir / "oracle.png") as axis:
        axis.plot(contexts, [-row["vs_best_baseline"]["loss"][0] for row in results["contexts"]], marker="o",
                  label="copy oracle's gain over the best Markov model")
        axis.set_xscale("log")
        axis.set_xlabel("context (bases)")
        axis.set_ylabel("nats per base")
    return results


def oracle_table(results: dict) -> str:
    """Markdown: the share of bases per stratum, then the oracle's loss and gain per context."""
    fit = results["copy_oracle"]
    shares = []
    for name, counts in results["bases"].items():
        counts = np.array(counts)
        shares.append([name.replace("_", "-"), f"{counts.sum():,}", *(f"{100 * c / counts.sum():.2f}%" for c in counts),
                       f"{100 * counts[1:].sum() / counts.sum():.2f}%"])
    text = markdown_table(
        f"Share of bases by the distance to their nearest copy (the {fit['key']} bases around the base, either strand, "
        "not overlapping it, anywhere in its own sequence), every base of each sequence.",
        ["sequences", "bases", *STRATA, "any copy"], shares)
    caption = (
        f"Copy oracle at {results['positions']:,} positions (seed {results['seed']}) of the held-out sequence, in a "
        f"window of each context centred on the position (clipped at its sequence's ends): the base a copy inside "
        f"the window holds, else {fit['fallback']} ({results['best_baseline']['loss'][0]:.4f} nats per base; Markov "
        f"orders fitted on {fit['fitted_on']}); {error_rate_text(fit)}. Gain = the best baseline's loss minus the "
        "oracle's, paired; 95% bootstrap intervals.")
    rows = [[f"{row['context']:,}", f"{100 * row['copy_in_window']:.2f}%", interval_text(row["loss"]),
             interval_text(gain(row), sign="+")] for row in results["contexts"]]
    text += "\n" + markdown_table(caption, ["context (bases)", "positions with a copy in the window",
                                            "copy oracle loss", "gain over the best baseline"], rows)
    contexts = [f"{row['context']:,}" for row in results["contexts"]]
    rows = [[row["stratum"], f"{row['positions']:,} ({share_text(row['share'])})",
             *([interval_text(v) for v in row["copy_oracle"]] if row["positions"] else
               ["no sampled position is in this stratum"] + [""] * (len(contexts) - 1))]
            for row in results["strata"]]
    return text + "\n" + markdown_table("Copy oracle loss per stratum of the sampled positions (nats per base).",
                                        ["stratum", "positions (share)", *contexts], rows)


def gain(row: dict) -> list[float]:
    """The oracle's gain over the best baseline with its interval: minus their paired loss difference."""
    estimate, low, high = row["vs_best_baseline"]["loss"]
    return [-estimate, -high, -low]
