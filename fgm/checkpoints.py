"""Loading FGM checkpoints for inference, and the context a checkpoint was trained at."""

from __future__ import annotations

from dataclasses import field

FALLBACK_CONTEXT = 6000  # bases, for checkpoints that record no training context


def load_checkpoint(checkpoint, auto_class=None, device: str | None = None):
    """`(model, tokenizer)` of an FGM checkpoint folder or Hub id, in eval mode, on `device` (default: CUDA
    when available). `auto_class`: the transformers Auto class (default AutoModelForMaskedLM)."""
    import torch
    from transformers import AutoModelForMaskedLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(checkpoint)
    model = (auto_class or AutoModelForMaskedLM).from_pretrained(checkpoint)
    if getattr(model.config, "model_type", None) != "fgm":
        raise ValueError(f"{checkpoint} is not an FGM checkpoint (model type {model.config.model_type!r})")
    device = device or ("cuda" if torch.cuda.is_available() else "cpu")
    return model.to(device).eval(), tokenizer


def training_context(tokenizer) -> int:
    """The context the checkpoint was trained at, in bases: `tokenizer.model_max_length` tokens (the <cls>
    token excluded) times k, as pretraining records it; FALLBACK_CONTEXT when the checkpoint records none."""
    from .kmers_fgm import DEFAULT_MAX_BASES

    k = tokenizer.k
    if tokenizer.model_max_length >= DEFAULT_MAX_BASES // k + k:  # the tokenizer's capacity, not a training length
        return FALLBACK_CONTEXT
    return (tokenizer.model_max_length - 1) * k


def checkpoint_argument(help: str, **kwargs):
    """The dataclass field every command names its checkpoint with: --model_name_or_path, or --model."""
    return field(**kwargs, metadata={"aliases": ["--model"], "help": help})
