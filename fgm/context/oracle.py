"""The copy oracle: the most that context-as-retrieval can give on a genome, computed with no neural model.

For a scored base whose copy (`copies.find_copies`) lies wholly inside the window, it predicts the base the copy
holds with probability 1 - e (and e / 3 for each other base); otherwise it falls back to the best Markov model on
the same positions. e is the rate at which a copy's base differs from the true base, by the copy's distance
stratum (copies 100 kb away have diverged more than tandem ones), measured on sequences the scored positions are
not in (`ScanData.folds`: training sequences, or the other half of a held-out record): the nearest copy on the
same whole sequence of a seeded sample of their bases, add-one smoothed, so a stratum with few copies gets a
cautious rate and the oracle stays honest about diverged repeats. Where one family of copies has diverged more than
its stratum's rate, the copies of a stratum can still predict worse than the fallback on the sampled positions;
there the oracle takes the fallback's scores (`floor`, said in the reports), since a bound is never worse than its
fallback. Its loss against context size is what a perfect retriever gains as the window grows to take in more
copies. For a causal LM the copies are earlier ones only (`find_earlier_copies`), fitted and used alike.
"""

from __future__ import annotations

import numpy as np

from .copies import KEY, STRATA, Copies, find_copies, find_earlier_copies, strata
from .results import CopyOracleFit, ErrorRateFit, Floored, StratumErrors

FIT_POSITIONS = 200_000


def fit_error_rates(sequences: list[str], gap: int, key: int = KEY, positions: int = FIT_POSITIONS,
                    seed: int = 0, causal: bool = False) -> ErrorRateFit:
    """How often the nearest copy (on the same sequence) of a base holds another base, per distance stratum: a
    seeded sample of `positions` bases of `sequences`, masked tokens of `gap` bases (`causal`: the nearest earlier
    copy of the bases before it). Returns the bases sampled and, per stratum with copies (STRATA[1:]), the copies,
    the mismatches and the add-one smoothed rate."""
    from .baselines import encode_bases

    lengths = np.array([len(s) for s in sequences], dtype=np.int64)
    room = np.maximum(lengths - key - gap + 1, 0)
    copies_by_stratum, mismatches_by_stratum = np.zeros(len(STRATA), np.int64), np.zeros(len(STRATA), np.int64)
    draws = np.zeros(0, dtype=np.int64)
    if room.sum():
        rng = np.random.default_rng([seed, 1])
        draws = np.sort(rng.choice(int(room.sum()), min(positions, int(room.sum())), replace=False))
        which = np.searchsorted(np.cumsum(room), draws, side="right")
        token_starts = draws - (np.cumsum(room) - room)[which] + key // 2
        scored = token_starts + rng.integers(0, gap, len(draws))
        scored = token_starts + key // 2 if causal else scored  # a causal base has the whole key before it
        queries = np.stack([which, scored], 1)
        copies = (find_earlier_copies(sequences, queries, key) if causal else
                  find_copies(sequences, queries, np.stack([token_starts, token_starts + gap], 1), key))
        truth = np.full(len(draws), -1, dtype=np.int64)
        for index in np.unique(which):
            truth[which == index] = encode_bases(sequences[index])[scored[which == index]]
        nearest = np.where(copies.left_distance <= copies.right_distance, copies.left_base, copies.right_base)
        stratum = np.where(truth >= 0, strata(copies.distance), 0)
        copies_by_stratum = np.bincount(stratum, minlength=len(STRATA))
        mismatches_by_stratum = np.bincount(stratum, weights=nearest != truth, minlength=len(STRATA)).astype(np.int64)
    return ErrorRateFit(sampled=len(draws), strata=[
        StratumErrors(stratum=name, copies=int(copies_by_stratum[i]), mismatches=int(mismatches_by_stratum[i]),
                      error_rate=(int(mismatches_by_stratum[i]) + 1) / (int(copies_by_stratum[i]) + 2))
        for i, name in enumerate(STRATA) if i])


def stratum_rates(fit: ErrorRateFit) -> np.ndarray:
    """The error rate of a copy in each stratum, indexed as STRATA (no copy: 0.5, never used)."""
    return np.array([0.5] + [row.error_rate for row in fit.strata])


def error_rate_text(fit: CopyOracleFit) -> str:
    """The oracle's error rates per distance stratum in words, with the copies they were counted on."""
    folds = fit.folds
    copies = np.sum([[row.copies for row in f.strata] for f in folds], 0)
    mismatches = np.sum([[row.mismatches for row in f.strata] for f in folds], 0)
    rates = ", ".join(f"{name} {(m + 1) / (n + 2):.4f} ({m:,} of {n:,})"
                      for name, n, m in zip(STRATA[1:], copies, mismatches))
    pooled = f", pooled over the {len(folds)} halves" if len(folds) > 1 else ""
    floored = "; ".join(f"{row.context:,} bases: {', '.join(row.strata)}" for row in fit.floored)
    return (f"copy error rates by distance (copies holding another base, of the nearest copies of "
            f"{sum(f.sampled for f in folds):,} sampled bases of {fit.fitted_on}{pooled}): {rates}"
            + (f"; strata whose copies predicted worse than the fallback, which the oracle takes there: {floored}"
               if floored else ""))


def copy_in_window(copies: Copies, starts: np.ndarray, ends: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The base (0-3; -1: none) and the distance (inf: none) of the nearest copy lying wholly inside each window
    [start, end)."""
    left = (copies.left_start >= starts) & (copies.left_base >= 0)
    right = (copies.right_end >= 0) & (copies.right_end <= ends) & (copies.right_base >= 0)
    left_distance = np.where(left, copies.left_distance, np.inf)
    right_distance = np.where(right, copies.right_distance, np.inf)
    use_left = left & (left_distance <= right_distance)
    base = np.where(use_left, copies.left_base, np.where(right, copies.right_base, -1))
    return base, np.minimum(left_distance, right_distance)


def oracle_scores(predicted: np.ndarray, truth: np.ndarray, error_rate: np.ndarray,
                  fallback: tuple[np.ndarray, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """(loss, correct) of the oracle: the copy's base where there is one (`predicted` >= 0), trusted with each
    position's `error_rate`, else `fallback`."""
    has = predicted >= 0
    hit = predicted == truth
    loss = np.where(has, np.where(hit, -np.log1p(-error_rate), -np.log(error_rate / 3)), fallback[0])
    return loss, np.where(has, hit, fallback[1])


def copy_oracle(rows: dict, data, chosen, spans: np.ndarray, windows: dict, key: int = KEY, seed: int = 0,
                causal: bool = False):
    """Add the copy oracle's (loss, correct) at each context to `rows`, which hold the Markov baselines at the
    `chosen` positions (the best is its fallback; a uniform guess without one). `spans`: each position's masked
    token; `windows`: context -> (starts, ends) of each position's window; `causal`: earlier copies only.
    Returns the positions' copies, the error-rate fits (one per fold of `data`) and per context whether each
    position's copy lies inside its window."""
    from .baselines import encode_bases

    sequences = [segment.sequence for segment in data.held_out]
    copies = find_earlier_copies(sequences, chosen, key) if causal else find_copies(sequences, chosen, spans, key)
    gap = 1 if causal else int(np.bincount(spans[:, 1] - spans[:, 0]).argmax())
    rates, folds = np.zeros((len(chosen), len(STRATA))), []
    for fold_sequences, members in data.folds(chosen):
        folds.append(fit_error_rates(fold_sequences, gap, key, seed=seed, causal=causal))
        rates[members] = stratum_rates(folds[-1])
    truth = encode_bases("".join(sequences[s][p] for s, p in chosen))
    markov = [name for name in rows if name.startswith("Markov")]
    best = min(markov, key=lambda name: rows[name][0].mean(), default=None)
    fallback = rows[best] if best else (np.full(len(chosen), np.log(4)), np.zeros(len(chosen), dtype=bool))
    in_window, floored = {}, {}
    for context, (starts, ends) in windows.items():
        predicted, distance = copy_in_window(copies, starts, ends)
        error_rate = rates[np.arange(len(chosen)), strata(distance)]
        rows[f"copy oracle {context}"], floored[context] = floor(
            oracle_scores(predicted, truth, error_rate, fallback), fallback, strata(copies.distance), predicted >= 0)
        in_window[context] = predicted >= 0
    fit = CopyOracleFit(key=key, fallback=best or "uniform", fitted_on=data.fitted_on, folds=folds,
                        floored=[Floored(context=context, strata=names) for context, names in floored.items() if names])
    return copies, fit, in_window


def floor(scores: tuple[np.ndarray, np.ndarray], fallback: tuple[np.ndarray, np.ndarray], stratum: np.ndarray,
          copied: np.ndarray) -> tuple[tuple[np.ndarray, np.ndarray], list[str]]:
    """A bound is never worse than its fallback: in each repeat stratum where the copied positions (`copied`) lose
    more on average than the fallback does on them (a family of copies more diverged than its stratum's rate),
    those positions take the fallback's scores. Returns the scores and the names of the strata floored."""
    loss, correct = scores[0].copy(), scores[1].copy()
    floored = []
    for index, name in enumerate(STRATA):
        members = copied & (stratum == index)
        if members.any() and loss[members].mean() > fallback[0][members].mean():
            loss[members], correct[members] = fallback[0][members], fallback[1][members]
            floored.append(name)
    return (loss, correct), floored
