"""What the instruments (`scan`, `oracle_scan`, `retrieval`, `influence`) share: the held-out sequence they draw
from (`held_out.HeldOutArguments`) and how they load and score a model (`ScoringArguments`). Both dataclasses are
the commands' options (`HfArgumentParser`) and the library's."""

from __future__ import annotations

from dataclasses import dataclass, field

from .held_out import HeldOutArguments

__all__ = ["HeldOutArguments", "ScoringArguments", "model_name"]


@dataclass
class ScoringArguments:
    """How a model is loaded and scored, and the seed of the data and of the bootstrap."""

    _argument_group_name = "scoring"

    seed: int = field(default=0, metadata={"help": "seed of the data drawn and of the bootstrap"})
    batch_size: int = field(default=8, metadata={"help": "windows per forward pass"})
    bootstrap: int = field(default=1000, metadata={"help": "bootstrap resamples for the 95%% intervals"})
    device: str | None = field(default=None, metadata={"help": "default: CUDA if available"})
    trust_remote_code: bool = field(default=False, metadata={
        "help": "run the model code shipped in the checkpoint (Hub models whose code is not in transformers)"})
    quiet: bool = field(default=False, metadata={"help": "no progress bars"})

    def scorer(self, model):
        """A base scorer for `model` (a checkpoint of any masked or causal LM with a DNA tokenizer, or a pair):
        `MaskedBaseScorer` or `CausalBaseScorer`; and the context it was trained at (bases)."""
        from ..checkpoints import load_language_model, training_context
        from ..inference import base_scorer

        model, tokenizer = load_language_model(model, self.device, self.trust_remote_code)
        return base_scorer(model, tokenizer, self.batch_size), training_context(tokenizer)


def model_name(scorer) -> str:
    return str(getattr(scorer.model, "name_or_path", ""))
