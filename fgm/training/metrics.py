"""Classification metrics through the `evaluate` modules shipped in `fgm/metrics` (offline-safe).

`classification_metrics` returns MCC, F1 and accuracy for every task (`ClassificationScores`):
- `mcc`: Matthews correlation coefficient (multi-class generalisation for > 2 classes);
- `f1`: binary F1 of class 1 for two-class tasks, macro F1 for tasks with more classes;
- `f1_macro`: macro F1 for every task (what some papers report for the binary NT tasks);
- `accuracy`.
"""

from __future__ import annotations

from dataclasses import fields
from functools import lru_cache
from pathlib import Path

import numpy as np

from fgm.metrics import METRIC_NAMES, METRICS_DIR
from fgm.results import RECORD, Record



@RECORD
class ClassificationScores(Record):
    """One run's scores on one split (F1: binary for 2 classes, macro for more)."""

    mcc: float
    f1: float
    f1_macro: float
    accuracy: float


@RECORD
class MetricSummary(Record):
    """One metric over `n` runs: the mean and 2 sample standard deviations (0 for a single run)."""

    mean: float
    two_sd: float
    n: int


@RECORD
class ScoreSummaries(Record):
    """Each metric of `ClassificationScores` summarised over runs."""

    mcc: MetricSummary
    f1: MetricSummary
    f1_macro: MetricSummary
    accuracy: MetricSummary


REPORTED_METRICS = tuple(field.name for field in fields(ClassificationScores))


def metric_path(name: str) -> Path:
    """Folder of a shipped `evaluate` module (`mcc`, `f1`, `accuracy`)."""
    if name not in METRIC_NAMES:
        raise ValueError(f"unknown metric {name!r}; shipped metrics: {METRIC_NAMES}")
    return METRICS_DIR / name


@lru_cache(maxsize=None)
def load_metric(name: str):
    """`evaluate.load` of a shipped module by its local path: works with HF_HUB_OFFLINE=1."""
    import evaluate

    return evaluate.load(str(metric_path(name)))


def classification_metrics(predictions, references, num_labels: int | None = None) -> ClassificationScores:
    """MCC, F1 (binary for 2 classes, macro for more), macro F1 and accuracy of class-id arrays."""
    predictions = np.asarray(predictions).astype(np.int64).reshape(-1).tolist()
    references = np.asarray(references).astype(np.int64).reshape(-1).tolist()
    if len(predictions) != len(references):
        raise ValueError(f"{len(predictions)} predictions but {len(references)} references")
    if not references:
        raise ValueError("no examples to score")
    if num_labels is None:
        num_labels = max(2, max(predictions + references) + 1)
    out = {}
    out.update(load_metric("mcc").compute(predictions=predictions, references=references))
    out.update(load_metric("f1").compute(predictions=predictions, references=references, num_labels=num_labels))
    macro = load_metric("f1").compute(
        predictions=predictions, references=references, num_labels=num_labels, average="macro"
    )
    out["f1_macro"] = macro["f1"]
    out.update(load_metric("accuracy").compute(predictions=predictions, references=references))
    return ClassificationScores(**{k: float(out[k]) for k in REPORTED_METRICS})


def average_logits_by_group(logits: np.ndarray, groups) -> tuple[np.ndarray, np.ndarray]:
    """Mean logits over rows sharing a group id (chunks of one sequence), in first-seen order.

    Returns (group_logits, first_row_index_of_each_group)."""
    logits = np.asarray(logits)
    groups = np.asarray(groups)
    unique, first, inverse = np.unique(groups, return_index=True, return_inverse=True)
    sums = np.zeros((len(unique), logits.shape[-1]), dtype=np.float64)
    np.add.at(sums, inverse, logits)
    counts = np.bincount(inverse, minlength=len(unique))[:, None]
    order = np.argsort(first)
    return (sums / counts)[order], first[order]


def make_compute_metrics(num_labels: int, groups=None):
    """A `Trainer` `compute_metrics`: argmax of the logits -> `classification_metrics`.

    `groups` (one id per evaluation row, in dataset order) averages the logits of rows that belong to
    the same sequence (sliding chunks) before scoring, so the metric is per sequence."""

    def compute_metrics(eval_pred) -> dict[str, float]:
        logits, labels = eval_pred.predictions, eval_pred.label_ids
        if isinstance(logits, (tuple, list)):
            logits = logits[0]
        logits, labels = np.asarray(logits), np.asarray(labels)
        if groups is not None:
            logits, first = average_logits_by_group(logits, groups)
            labels = labels[first]
        return classification_metrics(logits.argmax(-1), labels, num_labels).to_json()

    return compute_metrics


def summarize_runs(values) -> MetricSummary:
    """Mean and 2 x sample standard deviation (ddof=1; 0 for a single run) of a list of scores,
    as the NT paper reports fine-tuning results over its ten folds (no scores: NaN, n = 0)."""
    values = np.asarray(list(values), dtype=np.float64)
    if values.size == 0:
        return MetricSummary(mean=float("nan"), two_sd=float("nan"), n=0)
    sd = float(values.std(ddof=1)) if values.size > 1 else 0.0
    return MetricSummary(mean=float(values.mean()), two_sd=2.0 * sd, n=int(values.size))


def summarize_scores(scores: list[ClassificationScores]) -> ScoreSummaries:
    """Every metric of `scores` (one per run) summarised by `summarize_runs`."""
    return ScoreSummaries(**{m: summarize_runs(getattr(s, m) for s in scores) for m in REPORTED_METRICS})
