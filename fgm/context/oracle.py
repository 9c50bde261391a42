"""The copy oracle: the most that context-as-retrieval can give on a genome, computed with no neural model.

For a scored base whose copy (`copies.find_copies`) lies wholly inside the window, it predicts the base the copy
holds with probability 1 - e (and e / 3 for each other base); otherwise it falls back to the best Markov model on
the same positions. e is the rate at which a copy's base differs from the true base on the training split (the
nearest copy in the same training sequence, add-one smoothed), so the oracle is honest about diverged repeats. Its loss
against context size is what a perfect retriever gains as the window grows to take in more copies.
"""

from __future__ import annotations

import numpy as np

from .copies import KEY, Copies, find_copies

FIT_POSITIONS = 20_000


def fit_error_rate(train: list[str], gap: int, key: int = KEY, positions: int = FIT_POSITIONS, seed: int = 0) -> dict:
    """How often the nearest copy (in the same sequence) of a training base holds another base: a seeded sample
    of `positions` bases of the training sequences, masked tokens of `gap` bases. Returns the rate and its counts."""
    from .baselines import encode_bases

    lengths = np.array([len(s) for s in train])
    room = np.maximum(lengths - key - gap + 1, 0)
    if not room.sum():
        return {"error_rate": 0.5, "copies": 0, "mismatches": 0, "sampled": 0}
    rng = np.random.default_rng([seed, 1])
    draws = np.sort(rng.choice(int(room.sum()), min(positions, int(room.sum())), replace=False))
    which = np.searchsorted(np.cumsum(room), draws, side="right")
    token_starts = draws - (np.cumsum(room) - room)[which] + key // 2
    offsets = rng.integers(0, gap, len(draws))
    copies = find_copies(train, np.stack([which, token_starts + offsets], 1),
                         np.stack([token_starts, token_starts + gap], 1), key)
    truth = np.array([encode_bases(train[w][p])[0] for w, p in zip(which, token_starts + offsets)], dtype=np.int64)
    near = np.isfinite(copies.distance) & (truth >= 0)
    nearest = np.where(copies.left_distance <= copies.right_distance, copies.left_base, copies.right_base)
    nearest, truth = nearest[near], truth[near]
    mismatches, n = int((nearest != truth).sum()), int(near.sum())
    return {"error_rate": (mismatches + 1) / (n + 2), "copies": n, "mismatches": mismatches, "sampled": len(draws)}


def copy_in_window(copies: Copies, starts: np.ndarray, ends: np.ndarray) -> np.ndarray:
    """The base (0-3) of the nearest copy lying wholly inside each window [start, end); -1: none."""
    left = (copies.left_start >= starts) & (copies.left_base >= 0)
    right = (copies.right_end >= 0) & (copies.right_end <= ends) & (copies.right_base >= 0)
    left_distance = np.where(left, copies.left_distance, np.inf)
    right_distance = np.where(right, copies.right_distance, np.inf)
    return np.where(left & (left_distance <= right_distance), copies.left_base, np.where(right, copies.right_base, -1))


def oracle_scores(predicted: np.ndarray, truth: np.ndarray, error_rate: float,
                  fallback: tuple[np.ndarray, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """(loss, correct) of the oracle: the copy's base where there is one (`predicted` >= 0), else `fallback`."""
    has = predicted >= 0
    hit = predicted == truth
    loss = np.where(has, np.where(hit, -np.log1p(-error_rate), -np.log(error_rate / 3)), fallback[0])
    return loss, np.where(has, hit, fallback[1])


def copy_oracle(rows: dict, data, chosen, spans: np.ndarray, windows: dict, key: int = KEY, seed: int = 0):
    """Add the copy oracle's (loss, correct) at each context to `rows`, which hold the Markov baselines at the
    `chosen` positions (the best is its fallback; a uniform guess without one). `spans`: each position's masked
    token; `windows`: context -> (starts, ends) of each position's window. Returns the positions' copies, the
    error-rate fit, and per context whether each position's copy lies inside its window."""
    from .baselines import encode_bases

    sequences = [segment.sequence for segment in data.held_out]
    copies = find_copies(sequences, chosen, spans, key)
    fit = fit_error_rate(data.train, int(np.bincount(spans[:, 1] - spans[:, 0]).argmax()), key, seed=seed)
    truth = encode_bases("".join(sequences[s][p] for s, p in chosen))
    markov = [name for name in rows if name.startswith("Markov")]
    best = min(markov, key=lambda name: rows[name][0].mean(), default=None)
    fallback = rows[best] if best else (np.full(len(chosen), np.log(4)), np.zeros(len(chosen), dtype=bool))
    in_window = {}
    for context, (starts, ends) in windows.items():
        predicted = copy_in_window(copies, starts, ends)
        rows[f"copy oracle {context}"] = oracle_scores(predicted, truth, fit["error_rate"], fallback)
        in_window[context] = predicted >= 0
    return copies, {**fit, "key": key, "fallback": best or "uniform"}, in_window
