"""What the instruments (`scan`, `oracle_scan`, `retrieval`, `influence`) share: the held-out sequence they draw
from and how they load and score a model. The two dataclasses are both the commands' options (`HfArgumentParser`)
and the library's."""

from __future__ import annotations

from dataclasses import dataclass, field

from .scan import ScanData, scan_data


@dataclass
class HeldOutArguments:
    """The held-out sequence: a corpus split, records of a genome, or by default chrXVI of the bundled yeast genome
    (the chromosome the demo and the study hold out for testing), so every model sees the same sequence; and the
    sequences the baselines are fitted on (`scan_data`): the corpus's train split, the genome's other records or a
    --train_genome, else the other half of each held-out record."""

    _argument_group_name = "held-out sequence"

    corpus: str | None = field(default=None, metadata={"help": "a corpus from `fgm corpus` (its --split is used)"})
    split: str = field(default="test", metadata={"help": "held-out corpus split"})
    genome: str | None = field(default=None, metadata={"help": "a genome file (default: the bundled yeast genome)"})
    chroms: list[str] | None = field(default=None, metadata={"help": "records of --genome (default: every record; "
                                                             "with the bundled genome: chrXVI)"})
    train_genome: str | None = field(default=None, metadata={
        "help": "a genome whose records fit the Markov baselines and the copy oracle's error rates (default: the "
                "corpus's train split or the records of --genome not held out; with neither, each half of a held-out "
                "record is fitted on the other half)"})

    def load(self) -> ScanData:
        if self.corpus is None and self.genome is None:
            from ..data import bundled_genome

            return scan_data(genome=bundled_genome(), chroms=self.chroms or ["chrXVI"], train_genome=self.train_genome)
        return scan_data(self.corpus, self.split, self.genome, self.chroms, self.train_genome)


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
        """A `MaskedBaseScorer` for `model` (a checkpoint of any masked LM with a DNA tokenizer, or a pair), and the
        context it was trained at (bases)."""
        from ..checkpoints import load_checkpoint, training_context
        from ..inference import MaskedBaseScorer

        model, tokenizer = load_checkpoint(model, device=self.device, trust_remote_code=self.trust_remote_code)
        return MaskedBaseScorer(model, tokenizer, self.batch_size), training_context(tokenizer)


def model_name(scorer) -> str:
    return str(getattr(scorer.model, "name_or_path", ""))
