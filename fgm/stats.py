"""Bootstrap intervals: one resampling scheme for every table that reports a 95% interval.

Rows compared on the same items (positions, variants) use the same resamples (same seed), so their
intervals and paired differences are consistent with one another.
"""

from __future__ import annotations

import numpy as np


def resamples(n_items: int, n: int, seed: int) -> np.ndarray:
    """(n, n_items) indices: `n` bootstrap resamples of the items, drawn with `seed`."""
    return np.random.default_rng(seed).integers(0, n_items, (n, n_items))


def interval(estimate: float, replicates) -> list[float]:
    """[estimate, low, high]: the 95% percentile interval of the bootstrap replicates."""
    return [float(estimate), *np.percentile(replicates, [2.5, 97.5]).tolist()]


def mean_interval(values: np.ndarray, samples: np.ndarray) -> list[float]:
    """The mean of per-item values with its 95% interval over `samples` (from `resamples`)."""
    values = np.asarray(values, dtype=float)
    return interval(values.mean(), values[samples].mean(1))


def metric_interval(metric, labels: np.ndarray, scores: np.ndarray, n: int = 1000, seed: int = 0) -> list[float]:
    """`metric(labels, scores)` with its 95% interval over `n` resamples of the items; resamples holding a
    single label (where a ranking metric is undefined) are left out."""
    values = [metric(labels[s], scores[s]) for s in resamples(len(labels), n, seed) if labels[s].min() != labels[s].max()]
    return interval(metric(labels, scores), values)
