"""Loading checkpoints for inference, and the context a checkpoint was trained at.

FGM checkpoints and other Hugging Face masked LMs with a DNA tokenizer (a Nucleotide Transformer folder,
with `trust_remote_code` where its code ships in the folder) load alike; the long-context instruments also load
causal LMs (`load_language_model`: Carbon, GENERator, HyenaDNA, Evo).
"""

from __future__ import annotations

import logging
from dataclasses import field
from pathlib import Path

logger = logging.getLogger(__name__)

FALLBACK_CONTEXT = 6000  # bases, for checkpoints that record no training context
# The tokenizer_config.json key in which pretraining records the bases of its longest example, beside the tokens
# in `model_max_length`.
CONTEXT_BASES_KEY = "training_context_bases"


def require_checkpoint(name) -> str:
    """`name` unchanged, unless it names a local folder that does not exist: then a `FileNotFoundError` that says
    so, before any Hub call. A name looks local when it cannot be a Hub id (`name` or `owner/name`), starts with
    `/`, `.` or `~`, or its first folder exists here (`runs/model` when `runs/` does)."""
    from huggingface_hub.errors import HFValidationError
    from huggingface_hub.utils import validate_repo_id

    text = str(name)
    path = Path(text).expanduser()
    if path.exists():
        if not path.is_dir():
            raise NotADirectoryError(f"{text} is a file; a checkpoint is a folder (config.json, weights, tokenizer)")
        return text
    try:
        validate_repo_id(text)
        hub_id = not text.startswith((".", "~")) and not Path(text.split("/")[0]).is_dir()
    except HFValidationError:
        hub_id = False
    if not hub_id:
        raise FileNotFoundError(f"checkpoint folder not found: {text} (no such folder; a Hub id has the form "
                                "owner/name)")
    return text


def load_checkpoint(checkpoint, auto_class=None, device: str | None = None, trust_remote_code: bool = False):
    """`(model, tokenizer)` of a checkpoint folder or Hub id, in eval mode, on `device` (default: CUDA when
    available); a `(model, tokenizer)` pair is returned as given. `auto_class`: the transformers Auto class
    (default AutoModelForMaskedLM, and then a causal LM is refused by name: what needs the bases on both sides of
    a base cannot be read from a model that sees only those before it)."""
    if isinstance(checkpoint, tuple):
        return checkpoint
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    checkpoint = require_checkpoint(checkpoint)
    if auto_class is None:
        auto_class = language_model_class(checkpoint, trust_remote_code)
        if auto_class is AutoModelForCausalLM:
            raise ValueError(f"{checkpoint} is a causal language model: this tool needs a masked LM (it reads the "
                             "bases on both sides of a base); context-scan, benchmark retrieval and context-influence "
                             "take causal LMs")
    tokenizer = AutoTokenizer.from_pretrained(checkpoint, trust_remote_code=trust_remote_code)
    model = auto_class.from_pretrained(checkpoint, trust_remote_code=trust_remote_code)
    device = device or ("cuda" if torch.cuda.is_available() else "cpu")
    return model.to(device).eval(), tokenizer


def language_model_class(checkpoint, trust_remote_code: bool = False):
    """AutoModelForMaskedLM or AutoModelForCausalLM: the language-model head a checkpoint's config maps to (in its
    `auto_map` where its code ships in the folder, else in transformers' registry; masked first, for configs
    such as BERT's that have both)."""
    from transformers import AutoConfig, AutoModelForCausalLM, AutoModelForMaskedLM

    config = AutoConfig.from_pretrained(checkpoint, trust_remote_code=trust_remote_code)
    shipped = getattr(config, "auto_map", None) or {}
    for auto_class in (AutoModelForMaskedLM, AutoModelForCausalLM):
        if auto_class.__name__ in shipped or type(config) in auto_class._model_mapping:
            return auto_class
    raise ValueError(f"{checkpoint} ({type(config).__name__}) is neither a masked nor a causal language model: its "
                     "config maps to no AutoModelForMaskedLM or AutoModelForCausalLM")


def load_language_model(checkpoint, device: str | None = None, trust_remote_code: bool = False):
    """`(model, tokenizer)` of a masked or a causal LM, each through its own Auto class (`load_checkpoint`)."""
    if isinstance(checkpoint, tuple):
        return checkpoint
    checkpoint = require_checkpoint(checkpoint)
    return load_checkpoint(checkpoint, language_model_class(checkpoint, trust_remote_code), device, trust_remote_code)


def record_training_context(tokenizer, tokens: int, bases: int) -> None:
    """Record on `tokenizer` (so in the checkpoint's tokenizer_config.json) the longest example the model was
    trained on: `tokens` as `model_max_length`, `bases` under `CONTEXT_BASES_KEY`."""
    tokenizer.model_max_length = int(tokens)
    tokenizer.init_kwargs[CONTEXT_BASES_KEY] = int(bases)


def training_context(tokenizer) -> int:
    """The context the checkpoint was trained at, in bases: the bases FGM's pretraining records
    (`record_training_context`), else `tokenizer.model_max_length` tokens (one special token excluded) times the
    bases of its longest token (a Nucleotide Transformer records its context in tokens); FALLBACK_CONTEXT when
    the tokenizer records no real length (FGM's capacity, or transformers' "no limit")."""
    from .inference import DNAVocabulary
    from .model.kmers_fgm import DEFAULT_MAX_BASES

    if tokenizer.init_kwargs.get(CONTEXT_BASES_KEY):
        return int(tokenizer.init_kwargs[CONTEXT_BASES_KEY])
    k = getattr(tokenizer, "k", None) or DNAVocabulary(tokenizer).longest
    if tokenizer.model_max_length >= DEFAULT_MAX_BASES // k + k:  # a capacity, not a training length
        return FALLBACK_CONTEXT
    return (tokenizer.model_max_length - 1) * k


def context_window(tokenizer, window: int | None, what: str = "windows") -> int:
    """The bases a tool reads at once: `window` when given, else the checkpoint's training context; a warning says
    when they are more than the model was trained at (its outputs there are extrapolation)."""
    trained = training_context(tokenizer)
    if window and window > trained:
        logger.warning("%s of %s bases: longer than the %s bases this model was trained at, so its outputs are "
                       "extrapolation (leave the size out to use the training context)", what, f"{window:,}",
                       f"{trained:,}")
    return window or trained


def checkpoint_argument(help: str, **kwargs):
    """The dataclass field every command names its checkpoint with: --model_name_or_path, or --model."""
    return field(**kwargs, metadata={"aliases": ["--model"], "help": help})
