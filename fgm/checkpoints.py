"""Loading checkpoints for inference, and the context a checkpoint was trained at.

FGM checkpoints and other Hugging Face masked LMs with a DNA tokenizer (a Nucleotide Transformer folder,
with `trust_remote_code` where its code ships in the folder) load alike.
"""

from __future__ import annotations

from dataclasses import field

FALLBACK_CONTEXT = 6000  # bases, for checkpoints that record no training context


def load_checkpoint(checkpoint, auto_class=None, device: str | None = None, trust_remote_code: bool = False):
    """`(model, tokenizer)` of a checkpoint folder or Hub id, in eval mode, on `device` (default: CUDA when
    available); a `(model, tokenizer)` pair is returned as given. `auto_class`: the transformers Auto class
    (default AutoModelForMaskedLM)."""
    if isinstance(checkpoint, tuple):
        return checkpoint
    import torch
    from transformers import AutoModelForMaskedLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(checkpoint, trust_remote_code=trust_remote_code)
    model = (auto_class or AutoModelForMaskedLM).from_pretrained(checkpoint, trust_remote_code=trust_remote_code)
    device = device or ("cuda" if torch.cuda.is_available() else "cpu")
    return model.to(device).eval(), tokenizer


def training_context(tokenizer) -> int:
    """The context the checkpoint was trained at, in bases: `tokenizer.model_max_length` tokens (one special
    token excluded) times the bases of its longest token, as FGM's pretraining records it;
    FALLBACK_CONTEXT when the tokenizer records no real length (FGM's capacity, or transformers' "no limit")."""
    from .inference import DNAVocabulary
    from .kmers_fgm import DEFAULT_MAX_BASES

    k = getattr(tokenizer, "k", None) or DNAVocabulary(tokenizer).longest
    if tokenizer.model_max_length >= DEFAULT_MAX_BASES // k + k:  # a capacity, not a training length
        return FALLBACK_CONTEXT
    return (tokenizer.model_max_length - 1) * k


def checkpoint_argument(help: str, **kwargs):
    """The dataclass field every command names its checkpoint with: --model_name_or_path, or --model."""
    return field(**kwargs, metadata={"aliases": ["--model"], "help": help})
