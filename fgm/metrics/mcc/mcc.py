"""Matthews correlation coefficient (multi-class, scikit-learn's definition) as an `evaluate` module."""

import datasets
import evaluate
from sklearn.metrics import matthews_corrcoef

_DESCRIPTION = """Matthews correlation coefficient (MCC) between predicted and reference class ids.
For more than two classes this is the multi-class generalisation (Gorodkin's R_K), as computed by
`sklearn.metrics.matthews_corrcoef`. Range [-1, 1]; 0 for a constant predictor. The headline metric of
the Nucleotide Transformer benchmark."""

_KWARGS_DESCRIPTION = """
Args:
    predictions (list of int): predicted class ids.
    references (list of int): true class ids.
    sample_weight (list of float, optional): per-example weights.
Returns:
    mcc (float): the Matthews correlation coefficient.
Example:
    >>> mcc = evaluate.load("fgm/metrics/mcc")
    >>> mcc.compute(predictions=[0, 1, 1, 0], references=[0, 1, 0, 0])
    {'mcc': 0.5773502691896258}
"""

_CITATION = """@article{matthews1975,
  title={Comparison of the predicted and observed secondary structure of T4 phage lysozyme},
  author={Matthews, Brian W.}, journal={Biochimica et Biophysica Acta}, volume={405}, pages={442--451}, year={1975}}"""


@evaluate.utils.file_utils.add_start_docstrings(_DESCRIPTION, _KWARGS_DESCRIPTION)
class Mcc(evaluate.Metric):
    def _info(self):
        return evaluate.MetricInfo(
            description=_DESCRIPTION,
            citation=_CITATION,
            inputs_description=_KWARGS_DESCRIPTION,
            features=datasets.Features({"predictions": datasets.Value("int64"), "references": datasets.Value("int64")}),
            reference_urls=["https://scikit-learn.org/stable/modules/generated/sklearn.metrics.matthews_corrcoef.html"],
        )

    def _compute(self, predictions, references, sample_weight=None):
        return {"mcc": float(matthews_corrcoef(references, predictions, sample_weight=sample_weight))}
