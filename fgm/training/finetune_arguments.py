"""The arguments of `fgm finetune` and `fgm benchmark nt`: dataclasses that `HfArgumentParser` fills from the
command line.

`FinetuneModelArguments` (checkpoint, full or LoRA), `TaskArguments` (data and sequence lengths; its base
`TaskDataArguments` is what every task of a benchmark shares) and `FinetuningArguments`, the
`TrainingArguments` with fine-tuning defaults and the run plan.
"""

from dataclasses import dataclass, field

from transformers.trainer_utils import IntervalStrategy, SaveStrategy

from ..checkpoints import checkpoint_argument, require_checkpoint
from .metrics import REPORTED_METRICS
from .nt_tasks import BENCHMARKS, REVISED
from .task_encoding import LENGTH_MODES
from .trainer_arguments import CheckedTrainingArguments


@dataclass
class FinetuneModelArguments:
    """The checkpoint to fine-tune, and whether all its weights train or LoRA adapters do."""

    _argument_group_name = "model"

    model_name_or_path: str = checkpoint_argument("pretrained checkpoint folder or Hub id (masked-LM or classifier)")
    method: str = field(
        default="full", metadata={"choices": ("full", "lora"), "help": "full fine-tuning or LoRA adapters (needs peft)"}
    )
    lora_r: int = field(default=8, metadata={"help": "LoRA rank"})
    lora_alpha: int = field(default=16, metadata={"help": "LoRA alpha"})
    lora_dropout: float = field(default=0.05, metadata={"help": "LoRA dropout"})
    lora_target_modules: list[str] | None = field(
        default=None, metadata={"help": "linear layers to adapt (default for FGM: every encoder linear layer)"}
    )
    trust_remote_code: bool = field(default=False, metadata={
        "help": "run the model code a peer's checkpoint ships (DNABERT-2, Caduceus, NTv3 folders); FGM and "
                "transformers' own models (Nucleotide Transformer v2: ESM) need none"})

    def __post_init__(self):
        require_checkpoint(self.model_name_or_path)

    @property
    def default_learning_rate(self) -> float:
        return 5e-4 if self.method == "lora" else 1e-4


@dataclass
class TaskDataArguments:
    """Where NT tasks come from and how their sequences reach the model (`fgm finetune`, `fgm benchmark nt`)."""

    _argument_group_name = "data"

    benchmark: str = field(default=REVISED, metadata={"choices": BENCHMARKS, "help": "NT task set"})
    data_dir: str | None = field(
        default=None,
        metadata={"help": "local task folders DIR/<task>/train.<ext> and DIR/<task>/test.<ext> instead of the Hub"},
    )
    dedup: bool = field(
        default=False,
        metadata={"help": "drop repeated sequences in each split and training rows that occur in the test split"},
    )
    max_length: int | None = field(
        default=None,
        metadata={
            "help": "maximum tokens per input, special tokens included (default: the tokenizer's model_max_length)"
        },
    )
    length_mode: str = field(
        default="error",
        metadata={
            "choices": LENGTH_MODES,
            "help": "a row longer than --max_length: stop with an error naming it, truncate it, or chunk it into "
            "sliding windows whose logits are averaged",
        },
    )
    chunk_overlap: int | None = field(
        default=None, metadata={"help": "nucleotides shared by consecutive chunks (default: half a chunk)"}
    )
    rc_average: bool = field(
        default=False, metadata={"help": "average the logits of each test sequence and its reverse complement"}
    )


@dataclass
class TaskArguments(TaskDataArguments):
    """One task: an NT task by name, or local files in the NT schema (`sequence, label[, name]`)."""

    task: str | None = field(
        default=None, metadata={"help": "NT task name, e.g. promoter_all (from the Hub unless --data_dir)"}
    )
    hub_dataset: str | None = field(default=None, metadata={"help": "override the Hub dataset of the task"})
    train_file: str | None = field(
        default=None, metadata={"help": "CSV / TSV / parquet / JSON lines / FASTA '>name|label' / save_to_disk folder"}
    )
    test_file: str | None = field(default=None, metadata={"help": "same formats as --train_file"})
    validation_file: str | None = field(
        default=None, metadata={"help": "default: a validation split carved from the training file"}
    )
    class_names: list[str] | None = field(
        default=None,
        metadata={"help": "the classes in id order (default: the labels of the training split); any other label "
                  "is an error"},
    )

    def __post_init__(self):
        if self.task is None and (self.train_file is None or self.test_file is None):
            raise ValueError("give --task NAME (NT benchmark) or both --train_file and --test_file")


@dataclass
class FinetuningArguments(CheckedTrainingArguments):
    """`TrainingArguments` with fine-tuning defaults (where they differ from Trainer's, the help says so)
    and the run plan: one run per seed, or per fold and seed."""

    _argument_group_name = "training (Trainer options with fine-tuning defaults, and the run plan)"

    learning_rate: float | None = field(
        default=None, metadata={"help": "peak learning rate; default 1e-4 for full fine-tuning, 5e-4 for LoRA "
                                "(Trainer's default: 5e-5)"}
    )
    per_device_train_batch_size: int = field(default=32, metadata={"help": "Trainer's default: 8"})
    per_device_eval_batch_size: int = field(default=64, metadata={"help": "Trainer's default: 8"})
    warmup_steps: float = field(
        default=0.05, metadata={"help": "warmup steps, or a fraction (< 1) of all steps (Trainer's default: 0)"}
    )
    weight_decay: float = field(default=0.01, metadata={"help": "Trainer's default: 0"})
    eval_strategy: IntervalStrategy | str = field(
        default="epoch", metadata={"help": "when to evaluate and early-stop: epoch or steps (Trainer's default: no)"}
    )
    save_strategy: SaveStrategy | str = field(
        default="epoch", metadata={"help": "must match --eval_strategy (Trainer's default: steps)"}
    )
    logging_steps: float = field(default=50, metadata={"help": "Trainer's default: 500"})
    load_best_model_at_end: bool = field(
        default=True, metadata={"help": "test the best validated checkpoint of each run (Trainer's default: False)"}
    )
    metric_for_best_model: str | None = field(
        default=None,
        metadata={
            "choices": REPORTED_METRICS,
            "help": "early-stopping metric and headline of the results (default: the task's headline metric, "
            "else mcc; Trainer's: loss)",
        },
    )
    save_total_limit: int | None = field(default=1, metadata={"help": "Trainer's default: no limit"})
    save_only_model: bool = field(
        default=True, metadata={"help": "run checkpoints hold weights only (Trainer's default: False)"}
    )
    # the run plan
    seeds: list[int] | None = field(
        default=None, metadata={"help": "one run per seed (default: one run, with --seed)"}
    )
    folds: int = field(
        default=0, metadata={"help": "k-fold cross-validation of the training set (NT paper: 10); 0: no folds"}
    )
    validation_fraction: float = field(
        default=0.1, metadata={"help": "validation split carved from train when there is no validation file"}
    )
    split_seed: int = field(default=42, metadata={"help": "seed of the validation split and the folds"})
    early_stopping_patience: int = field(
        default=3, metadata={"help": "evaluations without improvement before stopping"}
    )
    keep_checkpoints: bool = field(default=False, metadata={"help": "keep each run's Trainer checkpoints"})
    save_model: bool = field(
        default=True, metadata={"help": "keep the best run's fine-tuned model in OUTPUT_DIR/model"}
    )

    def __post_init__(self):
        if self.metric_for_best_model not in (None, *REPORTED_METRICS):
            raise ValueError(
                f"metric_for_best_model must be one of {REPORTED_METRICS}, got {self.metric_for_best_model!r}"
            )
        if self.folds == 1 or self.folds < 0:
            raise ValueError(f"folds must be 0 (no cross-validation) or >= 2, got {self.folds}")
        if self.seeds == []:
            raise ValueError("give at least one seed")
        self.seeds = list(self.seeds or [self.seed])
        task_metric = self.metric_for_best_model is None
        super().__post_init__()
        if task_metric:  # keep it unset (Trainer would pick the loss): `finetune` fills in the task's metric
            self.metric_for_best_model = self.greater_is_better = None
