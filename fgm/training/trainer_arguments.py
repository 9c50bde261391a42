"""What the Trainer options of `fgm pretrain` and `fgm finetune` share: transformers' `TrainingArguments`, with
the values Trainer would silently misread refused."""

from dataclasses import dataclass

from transformers import TrainingArguments


@dataclass
class CheckedTrainingArguments(TrainingArguments):
    """`TrainingArguments` whose `max_steps` keeps Trainer's one meaning: a positive number of optimizer steps, or
    -1 to train for `num_train_epochs` epochs; any other value is refused, before any work."""

    def __post_init__(self):
        if self.max_steps == 0 or self.max_steps < -1:
            raise ValueError(f"--max_steps must be a positive number of steps, or -1 to train for --num_train_epochs "
                             f"epochs; got {self.max_steps}")
        super().__post_init__()
