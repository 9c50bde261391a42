"""`fgm context-influence`: how far does a masked LM look?

At seeded positions of the held-out sequence, each scored alone with its token masked in a window of `context`
bases, the bases at distances [d, 2d) from the masked token on both sides are replaced by other genomic sequence
(the same offsets of a seeded donor window drawn elsewhere in the held-out sequence), for d = 1, 2, 4, ... up to
the window's edge. The mean change of the masked prediction (KL divergence from the intact prediction to the
perturbed one, and the change in loss on the true base, nats) per band is the model's influence curve: a model
that ignores everything beyond 8 bases has KL exactly 0 from the band [8, 16) on, whatever its context. The
positions and donors depend only on the held-out sequence and the seed, so curves of different models (a small
CPU model, a Nucleotide Transformer, a 1 Mb model) are measured on the same scale. Each band is saved as it
finishes.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from ..stats import mean_interval, resamples
from .instrument import HeldOutArguments, ScoringArguments, model_name
from .report import interval_text, markdown_table, saved_figure
from .scan import choose_positions

REACH_SHARE = 0.01  # `reach`: the farthest band whose KL per replaced base is at least this share of the largest


def bands(context: int) -> list[int]:
    """Band starts d = 1, 2, 4, ... whose band [d, 2d) reaches into a window of `context` bases around a token."""
    out, d = [], 1
    while d <= context // 2:
        out.append(d)
        d *= 2
    return out


def band_ranges(span: tuple[int, int], d: int, length: int) -> list[tuple[int, int]]:
    """The [low, high) stretches of a `length`-base window at distances [d, 2d) from the token `span`, clipped."""
    start, end = span
    left = (max(start - 2 * d + 1, 0), max(start - d + 1, 0))
    return [left, (min(end - 1 + d, length), min(end - 1 + 2 * d, length))]


def perturb(window: str, donor: str, span: tuple[int, int], d: int) -> str:
    """`window` with the bases at distances [d, 2d) from the token `span` = [start, end) taken from `donor`."""
    chars = bytearray(window.encode())
    for low, high in band_ranges(span, d, len(window)):
        chars[low:high] = donor[low:high].encode()
    return chars.decode()


def context_influence(
    model,
    output_dir,
    context: int | None = None,
    held_out: HeldOutArguments | None = None,
    scoring: ScoringArguments | None = None,
    *,
    positions: int = 500,
) -> dict:
    """The influence curve of `model` (a checkpoint of any masked LM with a DNA tokenizer, or a `(model,
    tokenizer)` pair) at `context` bases (default: its training context) on the held-out sequence (default:
    chrXVI of the bundled yeast genome). Writes influence.md, .json, .png and one band_<d>.npz per band."""
    held_out, scoring = held_out or HeldOutArguments(), scoring or ScoringArguments()
    data, seed, progress = held_out.load(), scoring.seed, not scoring.quiet
    scorer, trained = scoring.scorer(model)
    context = int(context or trained)
    if context < 2 * scorer.vocabulary.longest + 2:
        raise ValueError(f"a context of {context} bases leaves no band around a {scorer.vocabulary.longest}-base token")
    chosen, _ = choose_positions(data.held_out, context, positions, seed)
    donors, _ = choose_positions(data.held_out, context, positions, [seed, 1])
    donors = [donors[i] for i in np.random.default_rng([seed, 2]).permutation(len(donors))]

    def window(segment, position):
        return data.held_out[segment].sequence[position - context // 2 : position - context // 2 + context]

    windows = [window(*p) for p in chosen]
    donor_windows = [window(*p) for p in donors]
    index = [context // 2] * len(windows)
    bases = "".join(w[context // 2] for w in windows)
    intact = scorer.score(windows, index, progress=progress, desc="intact")
    output_dir = Path(output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    samples = resamples(len(windows), scoring.bootstrap, seed)
    rows = []
    for d in bands(context):
        saved = output_dir / f"band_{d}.npz"
        if saved.exists() and np.load(saved)["positions"].tolist() == [[context, *p] for p in chosen]:
            kl, change = np.load(saved)["kl"], np.load(saved)["loss_change"]
        else:
            perturbed = [perturb(window, donor, span, d)
                         for window, donor, span in zip(windows, donor_windows, intact.token_spans)]
            scores = scorer.score(perturbed, index, progress=progress, desc=f"band [{d:,}, {2 * d:,})")
            kl = (np.exp(intact.log_probs) * (intact.log_probs - scores.log_probs)).sum(1)
            kl = kl.clip(min=0)  # float32 rounding can make a KL of ~0 slightly negative
            change = scores.base_loss(bases) - intact.base_loss(bases)
            np.savez(saved, positions=np.array([[context, *p] for p in chosen]), kl=kl, loss_change=change)
        replaced = np.mean([sum(high - low for low, high in band_ranges(span, d, context))
                            for span in intact.token_spans])
        rows.append({"band": [d, 2 * d], "bases": float(replaced), "kl": mean_interval(kl, samples),
                     "loss_change": mean_interval(change, samples)})
    per_base = {row["band"][0]: row["kl"][0] / row["bases"] for row in rows}
    peak = max(per_base.values())
    reach = max((d for d, kl in per_base.items() if kl >= REACH_SHARE * peak), default=None) if peak else None
    results = {"model": model_name(scorer), "context": context, "training_context": trained,
               "extrapolation": context > trained, "positions": len(chosen), "seed": seed, "reach": reach,
               "intact_loss": mean_interval(intact.base_loss(bases), samples), "bands": rows}
    (output_dir / "influence.json").write_text(json.dumps(results, indent=2) + "\n")
    (output_dir / "influence.md").write_text(influence_table(results))
    plot_influence({"": results}, output_dir / "influence.png")
    return results


def influence_table(results: dict) -> str:
    """Markdown: per band, the mean KL and loss change of the masked prediction."""
    extrapolation = " (longer than the training context: extrapolation)" if results["extrapolation"] else ""
    reach = "no band changes the prediction"
    if results["reach"]:
        reach = (f"farthest band whose KL per replaced base is at least {REACH_SHARE:.0%} of the largest: "
                 f"[{results['reach']:,}, {2 * results['reach']:,})")
    caption = (
        f"Influence at {results['positions']:,} positions (seed {results['seed']}), each scored alone with its token "
        f"masked in a {results['context']:,}-base window{extrapolation}; the bases at distances [d, 2d) from the "
        f"masked token on both sides replaced by other genomic sequence; 95% bootstrap intervals. Intact loss "
        f"{results['intact_loss'][0]:.4f} nats per base; {reach}.")
    rows = [[f"[{row['band'][0]:,}, {row['band'][1]:,})", f"{row['bases']:,.0f}",
             "{:.2e} [{:.2e}, {:.2e}]".format(*row["kl"]), f"{row['kl'][0] / row['bases']:.1e}",
             interval_text(row["loss_change"], sign="+")] for row in results["bands"]]
    columns = ["band (bases from the masked token)", "bases replaced", "KL(intact \u2016 perturbed) (nats)",
               "KL per replaced base", "loss change (nats per base)"]
    return markdown_table(caption, columns, rows)


def plot_influence(runs: dict[str, dict], path) -> None:
    """Mean KL against band start, log-log, one line per model (label -> results)."""
    with saved_figure(path) as axis:
        for label, results in runs.items():
            x = [row["band"][0] for row in results["bands"]]
            kl = np.array([row["kl"] for row in results["bands"]])
            axis.plot(x, kl[:, 0], marker="o", label=label or "model")
            axis.fill_between(x, kl[:, 1], kl[:, 2], alpha=0.2)
        axis.set_xscale("log", base=2)
        axis.set_yscale("symlog", linthresh=1e-6)
        axis.set_ylim(bottom=0)  # KL is never negative
        axis.set_xlabel("distance d of the replaced band [d, 2d) from the masked token (bases)")
        axis.set_ylabel("mean KL of the masked prediction (nats)")
