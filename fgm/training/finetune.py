"""Fine-tuning `FGMForSequenceClassification` with the Hugging Face `Trainer`, the NT-benchmark way.

`finetune(model_args, data_args, training_args)` loads a task (an NT task from the Hub, a benchmark
folder, or local files), tokenizes it with the checkpoint's tokenizer, and trains one model per seed
(or per fold and seed with `folds >= 2`), each with early stopping on its validation split
(`EarlyStoppingCallback`, `load_best_model_at_end`). Every run is scored on the test split; the
results are the mean and 2 standard deviations over runs (as the NT paper reports its ten folds).

The arguments are three dataclasses, parsed by `HfArgumentParser` in `fgm finetune`:
`FinetuneModelArguments` (checkpoint, full or LoRA), `TaskArguments` (data and sequence lengths) and
`FinetuningArguments`, the `TrainingArguments` with fine-tuning defaults and the run plan.

Outputs in `output_dir`:
- `results.json`: arguments, data summary, per-run test/validation metrics and the summary;
- `results.md`: the same as a markdown table;
- `model/`: the best run's model (by validation headline metric), a Hub-loadable checkpoint.

Sequence length: a row longer than the model's maximum (`max_length` tokens, else
`tokenizer.model_max_length`) is an error that names the row, unless `length_mode` is
`"truncate"` (cut to the maximum) or `"chunk"` (sliding windows, each labelled like its sequence
while training; at evaluation the logits of a sequence's windows are averaged).
"""

import logging
import math
import shutil
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np
from transformers import EarlyStoppingCallback, Trainer, TrainingArguments, set_seed
from transformers.trainer_utils import IntervalStrategy, SaveStrategy

from ..checkpoints import checkpoint_argument
from ..data.windows import window_spans
from .metrics import (
    REPORTED_METRICS,
    average_logits_by_group,
    classification_metrics,
    make_compute_metrics,
    summarize_runs,
)
from .nt_tasks import BENCHMARKS, REVISED, get_task
from .reports import write_results
from .task_data import (
    LABEL,
    NAME,
    SEQUENCE,
    TaskData,
    column,
    kfold_indices,
    load_task_data,
    split_train_validation,
)

logger = logging.getLogger(__name__)

LENGTH_MODES = ("error", "truncate", "chunk")
MODEL_DIR = "model"


class SequenceTooLongError(ValueError):
    """A row is longer than the model's maximum input and neither truncation nor chunking was asked."""


# ------------------------------------------------------------------------------------------- arguments


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
        default=None, metadata={"help": "linear layers to adapt (default: every encoder linear layer)"}
    )

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
class FinetuningArguments(TrainingArguments):
    """`TrainingArguments` with fine-tuning defaults (where they differ from Trainer's, the help says so)
    and the run plan: one run per seed, or per fold and seed."""

    _argument_group_name = "training (Trainer options, fine-tuning defaults)"

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


# ------------------------------------------------------------------------------------------ tokenization


def load_tokenizer(checkpoint: str):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(checkpoint, trust_remote_code=True)


def model_max_tokens(tokenizer, max_length: int | None = None) -> int | None:
    """An explicit `max_length`, else the tokenizer's `model_max_length` (None when it is unset)."""
    if max_length is not None:
        if max_length < 2:
            raise ValueError(f"max_length must be at least 2 tokens, got {max_length}")
        return int(max_length)
    limit = getattr(tokenizer, "model_max_length", None)
    if limit is None or limit >= 1e9:  # transformers' VERY_LARGE_INTEGER sentinel: no limit recorded
        return None
    return int(limit)


def _kmer_size(tokenizer) -> int:
    for attr in ("k", "kmer_size"):
        value = getattr(tokenizer, attr, None)
        if isinstance(value, int) and value > 0:
            return value
    return 1


def _special_count(tokenizer) -> int:
    try:
        return int(tokenizer.num_special_tokens_to_add(pair=False))
    except Exception:  # noqa: BLE001
        k = _kmer_size(tokenizer)
        return len(tokenizer("A" * k)["input_ids"]) - 1


@dataclass
class EncodedSplit:
    """Token ids per row of a split: `rows[i]` is the list of token-id lists (one per chunk)."""

    name: str
    rows: list[list[list[int]]]
    labels: np.ndarray
    n_chunked: int = 0
    n_truncated: int = 0

    def select(self, indices) -> tuple[object, np.ndarray]:
        """A `datasets.Dataset` (input_ids, labels) of the chunks of `indices`, and each chunk's row id."""
        from datasets import Dataset

        ids, labels, groups = [], [], []
        for i in np.asarray(indices, dtype=np.int64).tolist():
            for chunk in self.rows[i]:
                ids.append(chunk)
                labels.append(int(self.labels[i]))
                groups.append(i)
        return Dataset.from_dict({"input_ids": ids, "labels": labels}), np.asarray(groups)

    def all(self):
        return self.select(np.arange(len(self.rows)))


def encode_split(
    tokenizer, ds, split: str, max_tokens: int | None, length_mode: str = "error", chunk_overlap=None
) -> EncodedSplit:
    """Tokenize a split; enforce the length policy (see module docstring)."""
    sequences = column(ds, SEQUENCE)
    names = column(ds, NAME) if NAME in ds.column_names else [f"row{i}" for i in range(len(ds))]
    try:
        encoded = tokenizer(sequences, add_special_tokens=True)["input_ids"]
    except ValueError as err:  # e.g. a character that is not a nucleotide: say which split
        raise ValueError(f"{split} split: {err}") from err
    rows: list[list[list[int]]] = []
    n_chunked = n_truncated = 0
    k = _kmer_size(tokenizer)
    n_special = _special_count(tokenizer)
    for i, ids in enumerate(encoded):
        if max_tokens is None or len(ids) <= max_tokens:
            rows.append([list(ids)])
            continue
        if length_mode == "error":
            raise SequenceTooLongError(
                f"{split} row {i} (0-based; name {names[i]!r}): {len(sequences[i])} nt -> {len(ids)} tokens, "
                "longer than the "
                f"model maximum of {max_tokens} tokens. Pass --length_mode truncate to cut such rows, --length_mode "
                "chunk to average sliding windows, or a larger --max_length if the model supports it."
            )
        if length_mode == "truncate":
            cut = tokenizer(sequences[i], add_special_tokens=True, truncation=True, max_length=max_tokens)["input_ids"]
            rows.append([list(cut)])
            n_truncated += 1
            continue
        window = max(k, (max_tokens - n_special) * k)
        overlap = window // 2 if chunk_overlap is None else int(chunk_overlap)
        if not 0 <= overlap < window:
            raise ValueError(f"chunk overlap must be in [0, {window}) nucleotides, got {overlap}")
        spans = window_spans(len(sequences[i]), window, window - overlap, frame=k, last_window="shifted")
        pieces = [sequences[i][a:b] for a, b in spans]
        chunk_ids = tokenizer(pieces, add_special_tokens=True, truncation=True, max_length=max_tokens)["input_ids"]
        rows.append([list(c) for c in chunk_ids])
        n_chunked += 1
    if n_truncated:
        logger.warning("%s: truncated %d rows to %d tokens", split, n_truncated, max_tokens)
    if n_chunked:
        logger.info("%s: split %d long rows into sliding chunks of <= %d tokens", split, n_chunked, max_tokens)
    return EncodedSplit(split, rows, np.asarray(column(ds, LABEL), dtype=np.int64), n_chunked, n_truncated)


# ------------------------------------------------------------------------------------------------ models


def load_classifier(checkpoint: str, data: TaskData):
    """`FGMForSequenceClassification` from a pretrained (masked-LM or classifier) checkpoint, with a
    fresh head sized for the task and the task's id2label / label2id in its config."""
    from fgm.modeling_fgm import FGMForSequenceClassification

    return FGMForSequenceClassification.from_pretrained(
        checkpoint,
        num_labels=data.num_labels,
        id2label=data.id2label,
        label2id=data.label2id,
        ignore_mismatched_sizes=True,
    )


def default_lora_targets(model) -> list[str]:
    """Names (last component) of the encoder's linear layers, the classifier excluded."""
    import torch.nn as nn

    names = set()
    for name, module in model.named_modules():
        if isinstance(module, nn.Linear) and not name.startswith("classifier"):
            names.add(name.rsplit(".", 1)[-1])
    return sorted(names)


def apply_lora(model, r: int = 8, alpha: int = 16, dropout: float = 0.05, target_modules=None):
    """Wrap `model` with LoRA adapters (peft); the classifier head is trained fully."""
    try:
        import peft
    except ImportError as err:
        raise ImportError(
            "LoRA fine-tuning needs the optional `peft` package: pip install 'flash-genomics-model[peft]' "
            "(or pip install peft), or use full fine-tuning (--method full)."
        ) from err
    config = peft.LoraConfig(
        task_type=peft.TaskType.SEQ_CLS,
        r=r,
        lora_alpha=alpha,
        lora_dropout=dropout,
        target_modules=list(target_modules) if target_modules else default_lora_targets(model),
        modules_to_save=["classifier"],
    )
    return peft.get_peft_model(model, config)


def _unwrap(model):
    """The plain `PreTrainedModel` (LoRA adapters merged in) for saving and inference."""
    if hasattr(model, "merge_and_unload"):
        return model.merge_and_unload()
    return model


def save_finetuned(model, tokenizer, out_dir, details: dict | None = None) -> Path:
    """A Hub-loadable checkpoint folder (weights, config with id2label, tokenizer, remote code, model card)."""
    from fgm.model_card import write_model_card

    out_dir = Path(out_dir)
    model.save_pretrained(out_dir)
    tokenizer.save_pretrained(out_dir)
    write_model_card(out_dir, model.config, details)
    return out_dir


# ------------------------------------------------------------------------------------------------- runs


def _plan_runs(args: FinetuningArguments, data: TaskData) -> list[dict]:
    """One entry per training run: fold (or None), seed, train indices, validation source."""
    n = len(data.train)
    labels = np.asarray(column(data.train, LABEL))
    runs = []
    if args.folds >= 2:
        if data.validation is not None:
            logger.warning(
                "k-fold cross-validation ignores the given validation file (each fold validates on its held-out part)"
            )
        for fold, (train_idx, val_idx) in enumerate(kfold_indices(labels, args.folds, args.split_seed)):
            for seed in args.seeds:
                runs.append({"fold": fold, "seed": seed, "train": train_idx, "validation": ("train", val_idx)})
    elif data.validation is not None:
        for seed in args.seeds:
            runs.append({"fold": None, "seed": seed, "train": np.arange(n), "validation": ("validation", None)})
    else:
        train_ds, val_ds = split_train_validation(
            data.train.add_column("_row", list(range(n))), args.validation_fraction, args.split_seed
        )
        train_idx, val_idx = np.asarray(column(train_ds, "_row")), np.asarray(column(val_ds, "_row"))
        for seed in args.seeds:
            runs.append({"fold": None, "seed": seed, "train": train_idx, "validation": ("train", val_idx)})
    return runs


@contextmanager
def _transformers_verbosity(level: int | None):
    """Temporarily change transformers' log level (None: leave it)."""
    if level is None:
        yield
        return
    from transformers.utils import logging as hf_logging

    previous = hf_logging.get_verbosity()
    hf_logging.set_verbosity(level)
    try:
        yield
    finally:
        hf_logging.set_verbosity(previous)


def _train_one(model_args, data_args, args, run, data, encoded, tokenizer, first_run: bool = True):
    """Train one run with its own `TrainingArguments` (`args`: output folder and seed of the run)."""
    set_seed(args.seed)
    # the "newly initialised classifier" load report is worth seeing once, not once per fold
    with _transformers_verbosity(None if first_run and not args.disable_tqdm else logging.ERROR):
        model = load_classifier(model_args.model_name_or_path, data)
    model.config.rc_average = False  # reverse-complement averaging is a test-time option only
    if model_args.method == "lora":
        model = apply_lora(
            model, model_args.lora_r, model_args.lora_alpha, model_args.lora_dropout, model_args.lora_target_modules
        )

    train_ds, _ = encoded["train"].select(run["train"])
    source, val_idx = run["validation"]
    if source == "train":
        val_ds, val_groups = encoded["train"].select(val_idx)
    else:
        val_ds, val_groups = encoded["validation"].all()
    test_ds, test_groups = encoded["test"].all()

    trainer = Trainer(
        model=model,
        args=args,
        train_dataset=train_ds,
        eval_dataset=val_ds,
        processing_class=tokenizer,  # the default collator pads with it (DataCollatorWithPadding)
        compute_metrics=make_compute_metrics(data.num_labels, val_groups if encoded_has_chunks(encoded) else None),
        callbacks=[EarlyStoppingCallback(early_stopping_patience=args.early_stopping_patience)],
    )
    trainer.train()
    validation = {
        k.removeprefix("eval_"): v for k, v in trainer.evaluate().items() if k.removeprefix("eval_") in REPORTED_METRICS
    }

    model = _unwrap(trainer.model)
    model.config.rc_average = bool(data_args.rc_average)
    trainer.model = model
    trainer.compute_metrics = None  # test rows are scored below, per sequence (chunks averaged)
    logits = trainer.predict(test_ds).predictions
    if isinstance(logits, (tuple, list)):
        logits = logits[0]
    logits, first = average_logits_by_group(np.asarray(logits), test_groups)
    test_labels = encoded["test"].labels[test_groups[first]]
    test = classification_metrics(logits.argmax(-1), test_labels, data.num_labels)
    state = trainer.state
    info = {
        "fold": run["fold"],
        "seed": run["seed"],
        "n_train": int(len(run["train"])),
        "n_validation": int(len(val_idx) if val_idx is not None else len(encoded["validation"].rows)),
        "test": test,
        "validation": validation,
        "best_step": _best_step(state),
        "steps": int(state.global_step),
        "epochs": float(state.epoch or 0.0),
    }
    if not args.keep_checkpoints:
        shutil.rmtree(args.output_dir, ignore_errors=True)
    return info, model


def encoded_has_chunks(encoded: dict) -> bool:
    return any(split.n_chunked for split in encoded.values())


def _best_step(state) -> int | None:
    checkpoint = getattr(state, "best_model_checkpoint", None)
    if checkpoint and "checkpoint-" in str(checkpoint):
        try:
            return int(str(checkpoint).rsplit("checkpoint-", 1)[1])
        except ValueError:
            return None
    return None


@contextmanager
def _progress_bars(enabled: bool):
    """Hide the Hub / transformers progress bars (weights loading, shard writing) with --disable_tqdm."""
    if enabled:
        yield
        return
    from transformers.utils import logging as hf_logging

    was_enabled = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()
    try:
        yield
    finally:
        if was_enabled:
            hf_logging.enable_progress_bar()


def finetune(
    model_args: FinetuneModelArguments, data_args: TaskArguments, training_args: FinetuningArguments
) -> dict:
    """Run the fine-tuning job; returns the results dictionary (also written as `results.json` /
    `results.md` in `training_args.output_dir`)."""
    with _progress_bars(not training_args.disable_tqdm):
        return _finetune(model_args, data_args, training_args)


def _finetune(model_args, data_args, training_args) -> dict:
    out = Path(training_args.output_dir)
    out.mkdir(parents=True, exist_ok=True)
    task = get_task(data_args.task, data_args.benchmark) if data_args.task else None
    data = load_task_data(
        task,
        train_file=data_args.train_file,
        test_file=data_args.test_file,
        validation_file=data_args.validation_file,
        data_dir=data_args.data_dir,
        hub_dataset=data_args.hub_dataset,
        dedup=data_args.dedup,
        label_names=data_args.class_names,
    )
    # this job's settings: the method's learning rate and the task's headline metric unless given
    training_args = replace(
        training_args,
        learning_rate=training_args.learning_rate or model_args.default_learning_rate,
        metric_for_best_model=training_args.metric_for_best_model or (task.headline_metric if task else "mcc"),
    )
    headline = training_args.metric_for_best_model
    tokenizer = load_tokenizer(model_args.model_name_or_path)
    max_tokens = model_max_tokens(tokenizer, data_args.max_length)
    encoded = {
        split: encode_split(tokenizer, ds, split, max_tokens, data_args.length_mode, data_args.chunk_overlap)
        for split, ds in (("train", data.train), ("test", data.test), ("validation", data.validation))
        if ds is not None
    }
    runs = _plan_runs(training_args, data)
    logger.info("%s: %d run(s), %d train / %d test rows", data.name, len(runs), len(data.train), len(data.test))

    infos, best_val = [], -math.inf
    for i, run in enumerate(runs):
        tag = f"fold{run['fold']}_seed{run['seed']}" if run["fold"] is not None else f"seed{run['seed']}"
        run_args = replace(training_args, output_dir=str(out / "runs" / tag), seed=run["seed"])
        info, model = _train_one(model_args, data_args, run_args, run, data, encoded, tokenizer, first_run=i == 0)
        infos.append(info)
        logger.info("run %d/%d (%s): test %s = %.4f", i + 1, len(runs), tag, headline, info["test"][headline])
        val = info["validation"].get(headline, -math.inf)
        if training_args.save_model and val > best_val and training_args.should_save:
            best_val = val
            details = {
                "task": data.name,
                "base checkpoint": model_args.model_name_or_path,
                "method": model_args.method,
                "run": tag,
                f"test {headline}": f"{info['test'][headline]:.4f}",
            }
            save_finetuned(model, tokenizer, out / MODEL_DIR, details)
        del model
    if (out / "runs").exists() and not training_args.keep_checkpoints:
        shutil.rmtree(out / "runs", ignore_errors=True)

    results = {
        "task": data.name,
        "benchmark": task.benchmark if task else None,
        "model": model_args.model_name_or_path,
        "headline_metric": headline,
        "num_labels": data.num_labels,
        "label_names": data.label_names,
        "data": {
            "source": data.source,
            "n_train": len(data.train),
            "n_validation": len(data.validation) if data.validation is not None else None,
            "n_test": len(data.test),
            "dedup": data.stats,
            "max_tokens": max_tokens,
            "chunked_rows": {k: v.n_chunked for k, v in encoded.items()},
            "truncated_rows": {k: v.n_truncated for k, v in encoded.items()},
        },
        "n_runs": len(infos),
        "runs": infos,
        "summary": {m: summarize_runs(r["test"][m] for r in infos) for m in REPORTED_METRICS},
        "model_dir": str(out / MODEL_DIR) if training_args.save_model else None,
        "arguments": {"model": asdict(model_args), "data": asdict(data_args), "training": training_args.to_dict()},
    }
    if training_args.should_save:
        write_results(out, results)
    return results
