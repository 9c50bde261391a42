"""Bootstrap intervals: one resampling scheme for every table that reports a 95% interval.

Rows compared on the same items (positions, variants) use the same resamples (same seed), so their
intervals and paired differences are consistent with one another.
"""

from __future__ import annotations

import numpy as np

from .results import Interval


def resamples(n_items: int, n: int, seed: int) -> np.ndarray:
    """(n, n_items) indices: `n` bootstrap resamples of the items, drawn with `seed`."""
    return np.random.default_rng(seed).integers(0, n_items, (n, n_items))


def interval(estimate: float, replicates) -> Interval:
    """The estimate with the 95% percentile interval of its bootstrap replicates."""
    return Interval(float(estimate), *np.percentile(replicates, [2.5, 97.5]).tolist())


def mean_interval(values: np.ndarray, samples: np.ndarray) -> Interval:
    """The mean of per-item values with its 95% interval over `samples` (from `resamples`)."""
    values = np.asarray(values, dtype=float)
    return interval(values.mean(), values[samples].mean(1))


def metric_interval(metric, labels: np.ndarray, scores: np.ndarray, n: int = 1000, seed: int = 0) -> Interval:
    """`metric(labels, scores)` with its 95% interval over `n` resamples of the items; resamples holding a
    single label (where a ranking metric is undefined) are left out."""
    values = [metric(labels[s], scores[s]) for s in resamples(len(labels), n, seed) if labels[s].min() != labels[s].max()]
    return interval(metric(labels, scores), values)
