"""F1 score as an `evaluate` module: binary F1 (positive class 1) for two classes, macro F1 for more."""

import datasets
import evaluate
from sklearn.metrics import f1_score

_DESCRIPTION = """F1 score between predicted and reference class ids.
Averaging (`average="auto"`, the default): binary F1 of the positive class (`pos_label`, default 1)
when the task has two classes, macro-averaged F1 (unweighted mean over classes) when it has more.
Pass `num_labels` so that the choice depends on the task, not on which classes a batch happens to
contain; without it the number of classes is taken from the labels seen. Any other `average`
("binary", "macro", "micro", "weighted") is passed to `sklearn.metrics.f1_score` unchanged."""

_KWARGS_DESCRIPTION = """
Args:
    predictions (list of int): predicted class ids.
    references (list of int): true class ids.
    num_labels (int, optional): number of classes of the task (decides "auto" averaging).
    average (str, optional): "auto" (default), "binary", "macro", "micro" or "weighted".
    pos_label (int, optional): positive class for binary F1 (default 1).
Returns:
    f1 (float)
Example:
    >>> f1 = evaluate.load("fgm/metrics/f1")
    >>> f1.compute(predictions=[0, 1, 1, 0], references=[0, 1, 0, 0])
    {'f1': 0.6666666666666666}
"""


@evaluate.utils.file_utils.add_start_docstrings(_DESCRIPTION, _KWARGS_DESCRIPTION)
class F1(evaluate.Metric):
    def _info(self):
        return evaluate.MetricInfo(
            description=_DESCRIPTION,
            citation="",
            inputs_description=_KWARGS_DESCRIPTION,
            features=datasets.Features({"predictions": datasets.Value("int64"), "references": datasets.Value("int64")}),
            reference_urls=["https://scikit-learn.org/stable/modules/generated/sklearn.metrics.f1_score.html"],
        )

    def _compute(self, predictions, references, num_labels=None, average="auto", pos_label=1, sample_weight=None):
        labels = None
        if average == "auto":
            if num_labels is None:
                num_labels = max(2, len(set(predictions) | set(references)))
            average = "binary" if num_labels == 2 else "macro"
            if average == "macro":
                labels = list(range(num_labels))
        score = f1_score(
            references,
            predictions,
            labels=labels,
            average=average,
            pos_label=pos_label,
            sample_weight=sample_weight,
            zero_division=0,
        )
        return {"f1": float(score)}
