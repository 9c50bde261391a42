"""Whether the Hugging Face Hub is switched off: one check for every room that would download or upload."""

import os

OFFLINE_VARIABLES = ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE", "TRANSFORMERS_OFFLINE")


def hub_offline() -> bool:
    """Whether the user switched the Hugging Face Hub off: any of the offline variables, read at call time."""
    return any(os.environ.get(v, "").strip().lower() in {"1", "true", "yes", "on"} for v in OFFLINE_VARIABLES)
