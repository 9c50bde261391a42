"""`fgm context-influence`: how far does a masked (or causal) LM look?

At seeded positions of the held-out sequence, each scored alone with its token masked in a window of `context`
bases, the bases at distances [d, 2d) from the masked token on both sides are replaced by other genomic sequence
(the same offsets of a seeded donor window drawn elsewhere in the held-out sequence), for d = 1, 2, 4, ... up to
the window's edge. The mean change of the masked prediction (KL divergence from the intact prediction to the
perturbed one, and the change in loss on the true base, nats) per band is the model's influence curve: a model
that ignores everything beyond 8 bases has KL exactly 0 from the band [8, 16) on, whatever its context. The
positions and donors depend only on the held-out sequence and the seed, so curves of different models (a small
CPU model, a Nucleotide Transformer, a 1 Mb model) are measured on the same scale. Each band is saved as it
finishes.

A causal LM sees only the bases before the scored one: its window ends with the scored base's token, and only the
band [d, 2d) before that token is replaced (the bases after it cannot move its prediction).

Natural sequence rarely holds a copy, so a model that copies looks, on average, no farther than one that does
not. `copy_distance` puts one in every window: the bases around the scored one written again that far before it,
so the band holding the copy shows what the model does with a copy at that distance (for a causal LM, the bases
ending with the scored one, its key and the base it predicts).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..checkpoints import checkpoint_argument
from ..data.sizes import Size
from ..stats import mean_interval, resamples
from .instrument import HeldOutArguments, ScoringArguments, model_name
from .report import input_text, interval_text, markdown_table, saved_figure, scored_how
from .results import Band, InfluenceResult, PlantedCopy
from .scan import causal_window, choose_positions

REACH_SHARE = 0.01
# Whole bands, not per replaced base: a few distant bases can matter as much as the neighbours (a copy), and a per
# base share of 1% could then never reach past ~100 bases, however strongly the model reads them.
REACH_RULE = f"the farthest band whose KL is at least {REACH_SHARE:.0%} of the largest band's"


def reach(rows: list[Band]) -> int | None:
    """Start d of the farthest band [d, 2d) whose mean KL is at least REACH_SHARE of the largest (REACH_RULE);
    None when no band changes the prediction."""
    peak = max(row.kl.estimate for row in rows)
    return max(row.start for row in rows if row.kl.estimate >= REACH_SHARE * peak) if peak > 0 else None


def bands(context: int) -> list[int]:
    """Band starts d = 1, 2, 4, ... whose band [d, 2d) reaches into a window of `context` bases around a token."""
    out, d = [], 1
    while d <= context // 2:
        out.append(d)
        d *= 2
    return out


def band_ranges(span: tuple[int, int], d: int, length: int, causal: bool = False) -> list[tuple[int, int]]:
    """The [low, high) stretches of a `length`-base window at distances [d, 2d) from the token `span`, clipped
    (`causal`: only the one before it)."""
    start, end = span
    left = (max(start - 2 * d + 1, 0), max(start - d + 1, 0))
    return [left] if causal else [left, (min(end - 1 + d, length), min(end - 1 + 2 * d, length))]


def plant_copy(window: str, position: int, distance: int, length: int, before: int | None = None) -> str:
    """`window` with its `length` bases around `position` (`before` of them before it; default half) written again,
    `distance` bases before them."""
    start = position - (length // 2 if before is None else before)
    if distance < length or start - distance < 0:
        reach = distance + position - start  # bases before the scored one the copy needs
        after = reach if before is None else len(window) - position  # a centred window has as many after it
        raise ValueError(f"a {length}-base copy {distance:,} bases before the scored base needs a distance of at least "
                         f"{length} and a window of at least {reach + after:,} bases; the "
                         f"window has {len(window):,}")
    return window[:start - distance] + window[start:start + length] + window[start - distance + length:]


def perturb(window: str, donor: str, span: tuple[int, int], d: int, causal: bool = False) -> str:
    """`window` with the bases at distances [d, 2d) from the token `span` = [start, end) taken from `donor`."""
    chars = bytearray(window.encode())
    for low, high in band_ranges(span, d, len(window), causal):
        chars[low:high] = donor[low:high].encode()
    return chars.decode()


@dataclass
class InfluenceArguments:
    """What `context_influence` measures and where it writes."""

    _argument_group_name = "influence"

    model_name_or_path: str = checkpoint_argument("checkpoint folder or Hub id of a masked LM (FGM, a Nucleotide "
                                                  "Transformer) or a causal LM (Carbon) with a DNA tokenizer")
    context: Size | None = field(default=None, metadata={"help": "window in bases (default: the training context)"})
    output_dir: str = field(default="runs/influence", metadata={"help": "where the table, plot and data go"})
    positions: int = field(default=500, metadata={"help": "scored positions"})
    copy_distance: Size | None = field(default=None, metadata={
        "help": "write the bases around each scored base again this many bases before it (default: no copy)"})
    copy_length: int = field(default=32, metadata={"help": "bases of that copy"})


def context_influence(args: InfluenceArguments, held_out: HeldOutArguments | None = None,
                      scoring: ScoringArguments | None = None, model=None) -> InfluenceResult:
    """The influence curve of the checkpoint `args.model_name_or_path` (any masked or causal LM with a DNA tokenizer; or
    `model`, a loaded `(model, tokenizer)` pair, in its place) at `args.context` bases (default: its training context)
    on the held-out sequence (default: chrXVI of the bundled yeast genome); with `args.copy_distance`, in windows where
    the `args.copy_length` bases around each scored base are written again that far before it. Writes influence.md,
    .json, .png and one band_<d>.npz per band to `args.output_dir`."""
    held_out, scoring = held_out or HeldOutArguments(), scoring or ScoringArguments()
    data, seed, progress = held_out.load(), scoring.seed, not scoring.quiet
    positions, copy_distance, copy_length = args.positions, args.copy_distance, args.copy_length
    scorer, trained = scoring.scorer(model or args.model_name_or_path)
    context, k, causal = int(args.context or trained), scorer.vocabulary.longest, scorer.causal
    if context < 2 * k + 2:
        raise ValueError(f"a context of {context} bases leaves no band around a {k}-base token")
    scored = -causal_window(0, context, k)[0] if causal else context // 2  # the scored base's offset in its window
    chosen, _ = choose_positions(data.held_out, context, positions, seed, before=scored)
    donors, _ = choose_positions(data.held_out, context, positions, [seed, 1], before=scored)
    donors = [donors[i] for i in np.random.default_rng([seed, 2]).permutation(len(donors))]

    def window(segment, position):
        return data.held_out[segment].sequence[position - scored : position - scored + context]

    windows = [window(*p) for p in chosen]
    if copy_distance:
        windows = [plant_copy(w, scored, copy_distance, copy_length, copy_length - 1 if causal else None)
                   for w in windows]
    key = np.array([[context, *p] for p in chosen] + [[copy_distance or 0, copy_length, 0]])  # what a band file holds
    donor_windows = [window(*p) for p in donors]
    index = [scored] * len(windows)
    bases = "".join(w[scored] for w in windows)
    intact = scorer.score(windows, index, progress=progress, desc="intact")
    output_dir = Path(args.output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    samples = resamples(len(windows), scoring.bootstrap, seed)
    rows = []
    for d in bands(context):
        saved = output_dir / f"band_{d}.npz"
        if saved.exists() and np.array_equal(np.load(saved)["positions"], key):
            kl, change = np.load(saved)["kl"], np.load(saved)["loss_change"]
        else:
            perturbed = [perturb(window, donor, span, d, causal)
                         for window, donor, span in zip(windows, donor_windows, intact.token_spans)]
            scores = scorer.score(perturbed, index, progress=progress, desc=f"band [{d:,}, {2 * d:,})")
            kl = (np.exp(intact.log_probs) * (intact.log_probs - scores.log_probs)).sum(1)
            kl = kl.clip(min=0)  # float32 rounding can make a KL of ~0 slightly negative
            change = scores.base_loss(bases) - intact.base_loss(bases)
            np.savez(saved, positions=key, kl=kl, loss_change=change)
        replaced = np.mean([sum(high - low for low, high in band_ranges(span, d, context, causal))
                            for span in intact.token_spans])
        rows.append(Band(band=(d, 2 * d), bases=float(replaced), kl=mean_interval(kl, samples),
                         loss_change=mean_interval(change, samples)))
    copy = copy_distance and PlantedCopy(distance=copy_distance, length=copy_length,
                                         band=max(d for d in bands(context) if d <= copy_distance))
    results = InfluenceResult(model=model_name(scorer), context=context, training_context=trained,
                              extrapolation=context > trained, positions=len(chosen), seed=seed, reach=reach(rows),
                              copy=copy or None, intact_loss=mean_interval(intact.base_loss(bases), samples),
                              bands=rows, causal=causal or None,
                              input_rule=scorer.input_rule)
    results.save(output_dir / "influence.json")
    (output_dir / "influence.md").write_text(influence_table(results))
    plot_influence({"": results}, output_dir / "influence.png")
    return results


def influence_table(results: InfluenceResult) -> str:
    """Markdown: per band, the mean KL and loss change of the prediction."""
    extrapolation = " (longer than the training context: extrapolation)" if results.extrapolation else ""
    reach_text = "no band changes the prediction"
    if results.reach:
        reach_text = f"reach ({REACH_RULE}): [{results.reach:,}, {2 * results.reach:,})"
    copy, planted, causal = results.copy, "", results.causal
    if copy:
        planted = (f", the {copy.length} bases {'ending with' if causal else 'around'} the scored one written again "
                   f"{copy.distance:,} bases before them (band [{copy.band:,}, {2 * copy.band:,}) holds the copy)")
    caption = (
        f"Influence at {results.positions:,} positions (seed {results.seed}), {scored_how(causal)}, alone in a "
        f"{results.context:,}-base window{extrapolation}{planted}; the bases at distances [d, 2d) from the scored "
        f"token {'before it' if causal else 'on both sides'} replaced by other genomic sequence; 95% bootstrap "
        f"intervals. Intact loss {results.intact_loss.estimate:.4f} nats per base; {reach_text}."
        f"{input_text(results.input_rule)}")
    rows = [[f"[{row.band[0]:,}, {row.band[1]:,})", f"{row.bases:,.0f}",
             f"{row.kl.estimate:.2e} [{row.kl.low:.2e}, {row.kl.high:.2e}]", f"{row.kl.estimate / row.bases:.1e}",
             interval_text(row.loss_change, sign="+")] for row in results.bands]
    columns = ["band (bases from the scored token)", "bases replaced", "KL(intact \u2016 perturbed) (nats)",
               "KL per replaced base", "loss change (nats per base)"]
    return markdown_table(caption, columns, rows)


def plot_influence(runs: dict[str, InfluenceResult], path) -> None:
    """Mean KL against band start, log-log, one line per model (label -> results)."""
    with saved_figure(path) as axis:
        for label, results in runs.items():
            x = [row.start for row in results.bands]
            axis.plot(x, [row.kl.estimate for row in results.bands], marker="o", label=label or "model")
            axis.fill_between(x, [row.kl.low for row in results.bands], [row.kl.high for row in results.bands],
                              alpha=0.2)
        axis.set_xscale("log", base=2)
        axis.set_yscale("symlog", linthresh=1e-6)
        axis.set_ylim(bottom=0)  # KL is never negative
        axis.set_xlabel("distance d of the replaced band [d, 2d) from the masked token (bases)")
        axis.set_ylabel("mean KL of the masked prediction (nats)")
