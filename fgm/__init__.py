"""Flash Genomics Model: a long-context DNA language model for Hugging Face Transformers."""

from .configuration_fgm import FGMConfig

__all__ = ["FGMConfig"]
__version__ = "0.1.0"
