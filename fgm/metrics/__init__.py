"""Local `evaluate` metric modules shipped with the package (no Hub access needed).

Each sub-folder is an `evaluate` module: `evaluate.load(str(path_to_folder))` imports
`<folder>/<folder>.py`. Use `fgm.training.metrics.load_metric("mcc")` to get one.
The folders are packages (they have an `__init__.py`) only so that setuptools ships them.
"""

from pathlib import Path

METRICS_DIR = Path(__file__).resolve().parent
METRIC_NAMES = ("mcc", "f1", "accuracy")

__all__ = ["METRICS_DIR", "METRIC_NAMES"]
