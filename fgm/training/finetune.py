"""Fine-tuning `FGMForSequenceClassification` with the Hugging Face `Trainer`, the NT-benchmark way.

`finetune(FinetuneConfig(...))` loads a task (NT task from the Hub, a benchmark folder, or local
files), tokenizes it with the checkpoint's tokenizer, and trains one model per seed (or per fold
and seed with `folds >= 2`), each with early stopping on its validation split
(`EarlyStoppingCallback`, `load_best_model_at_end`). Every run is scored on the test split; the
results are the mean and 2 standard deviations over runs (as the NT paper reports its ten folds).

Outputs in `output_dir`:
- `results.json`: configuration, data summary, per-run test/validation metrics and the summary;
- `results.md`: the same as a markdown table;
- `model/`: the best run's model (by validation headline metric), a Hub-loadable checkpoint.

Sequence length: a row longer than the model's maximum (`max_length` tokens, else
`tokenizer.model_max_length`) is an error that names the row, unless `length_mode` is
`"truncate"` (cut to the maximum) or `"chunk"` (sliding windows, each labelled like its sequence
while training; at evaluation the logits of a sequence's windows are averaged).

"""

from __future__ import annotations

import logging
import math
import os
import shutil
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from .metrics import (
    REPORTED_METRICS,
    average_logits_by_group,
    classification_metrics,
    make_compute_metrics,
    summarize_runs,
)
from .nt_tasks import REVISED, NTTask, get_task
from .reports import RESULTS_JSON, RESULTS_MD, results_markdown, write_json
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


@dataclass
class FinetuneConfig:
    """Everything one fine-tuning job needs; the CLI maps its flags onto these fields."""

    model: str
    output_dir: str
    # data: an NT task (Hub, or `data_dir/<task>/`) or local files
    task: str | None = None
    benchmark: str = REVISED
    hub_dataset: str | None = None
    train_file: str | None = None
    test_file: str | None = None
    validation_file: str | None = None
    data_dir: str | None = None
    dedup: bool = False
    # method
    method: str = "full"  # "full" | "lora"
    lora_r: int = 8
    lora_alpha: int = 16
    lora_dropout: float = 0.05
    lora_target_modules: list[str] | None = None
    # optimisation
    learning_rate: float | None = None  # default 1e-4 (full) / 5e-4 (LoRA)
    batch_size: int = 32
    eval_batch_size: int = 64
    epochs: float = 3.0
    max_steps: int = -1
    warmup: float = 0.05  # fraction of steps (< 1) or a step count
    weight_decay: float = 0.01
    lr_scheduler: str = "linear"
    bf16: bool = False
    gradient_checkpointing: bool = False
    # runs and validation
    seeds: list[int] = field(default_factory=lambda: [42])
    folds: int = 0  # >= 2: k-fold cross-validation of the training set
    validation_fraction: float = 0.1
    split_seed: int = 42
    patience: int = 3
    eval_steps: int | None = None  # None: evaluate (and early-stop) once per epoch
    metric: str | None = None  # early-stopping metric; default: the task's headline metric (else mcc)
    # inference and lengths
    rc_average: bool = False
    max_length: int | None = None  # tokens, including special tokens
    length_mode: str = "error"  # "error" | "truncate" | "chunk"
    chunk_overlap: int | None = None  # nucleotides shared by consecutive chunks (default: half a chunk)
    # output and housekeeping
    save_model: bool = True
    keep_checkpoints: bool = False
    num_workers: int = 0
    logging_steps: int = 50
    progress: bool = True

    def __post_init__(self):
        if self.method not in ("full", "lora"):
            raise ValueError(f"method must be 'full' or 'lora', got {self.method!r}")
        if self.length_mode not in LENGTH_MODES:
            raise ValueError(f"length_mode must be one of {LENGTH_MODES}, got {self.length_mode!r}")
        if isinstance(self.seeds, int):
            self.seeds = [self.seeds]
        if not self.seeds:
            raise ValueError("give at least one seed")
        if self.folds == 1 or self.folds < 0:
            raise ValueError(f"folds must be 0 (no cross-validation) or >= 2, got {self.folds}")

    @property
    def lr(self) -> float:
        if self.learning_rate is not None:
            return self.learning_rate
        return 5e-4 if self.method == "lora" else 1e-4


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


def chunk_spans(length: int, window: int, overlap: int, k: int = 1) -> list[tuple[int, int]]:
    """[start, end) nucleotide windows of `window` bp covering a sequence of `length` bp, consecutive
    windows sharing `overlap` bp; starts are multiples of `k` (same k-mer frame as the whole
    sequence) except possibly the last window, which ends at the sequence end."""
    if length <= window:
        return [(0, length)]
    step = max(k, ((window - overlap) // k) * k)
    spans, start = [], 0
    while start + window < length:
        spans.append((start, start + window))
        start += step
    spans.append((max(0, length - window), length))
    return spans


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
                f"model maximum of {max_tokens} tokens. Pass --truncate to cut such rows, --chunk to average "
                "sliding windows, or a larger --max-length if the model supports it."
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
        pieces = [sequences[i][a:b] for a, b in chunk_spans(len(sequences[i]), window, overlap, k)]
        chunk_ids = tokenizer(pieces, add_special_tokens=True, truncation=True, max_length=max_tokens)["input_ids"]
        rows.append([list(c) for c in chunk_ids])
        n_chunked += 1
    if n_truncated:
        logger.warning("%s: truncated %d rows to %d tokens", split, n_truncated, max_tokens)
    if n_chunked:
        logger.info("%s: split %d long rows into sliding chunks of <= %d tokens", split, n_chunked, max_tokens)
    return EncodedSplit(split, rows, np.asarray(column(ds, LABEL), dtype=np.int64), n_chunked, n_truncated)


class PadCollator:
    """Right-pads `input_ids` with the pad id and builds the attention mask."""

    def __init__(self, pad_token_id: int):
        self.pad_token_id = int(pad_token_id)

    def __call__(self, features):
        import torch

        width = max(len(f["input_ids"]) for f in features)
        ids = torch.full((len(features), width), self.pad_token_id, dtype=torch.long)
        mask = torch.zeros((len(features), width), dtype=torch.long)
        for row, f in enumerate(features):
            n = len(f["input_ids"])
            ids[row, :n] = torch.as_tensor(f["input_ids"], dtype=torch.long)
            mask[row, :n] = 1
        batch = {"input_ids": ids, "attention_mask": mask}
        if "labels" in features[0]:
            batch["labels"] = torch.as_tensor([int(f["labels"]) for f in features], dtype=torch.long)
        return batch


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


def _pad_token_id(tokenizer, model) -> int:
    if tokenizer.pad_token_id is not None:
        return int(tokenizer.pad_token_id)
    config = getattr(model, "config", None)  # a peft wrapper exposes the base model's config
    pad = getattr(config, "pad_token_id", None)
    return int(pad) if pad is not None else 0


def save_finetuned(model, tokenizer, out_dir, details: dict | None = None) -> Path:
    """A Hub-loadable checkpoint folder (weights, config with id2label, tokenizer, remote code, model card)."""
    from fgm.hub import write_model_card

    out_dir = Path(out_dir)
    model.save_pretrained(out_dir)
    tokenizer.save_pretrained(out_dir)
    write_model_card(out_dir, model.config, details)
    return out_dir


# ------------------------------------------------------------------------------------------------- runs


def _plan_runs(cfg: FinetuneConfig, data: TaskData) -> list[dict]:
    """One entry per training run: fold (or None), seed, train indices, validation source."""
    n = len(data.train)
    labels = np.asarray(column(data.train, LABEL))
    runs = []
    if cfg.folds >= 2:
        if data.validation is not None:
            logger.warning(
                "k-fold cross-validation ignores the given validation file (each fold validates on its held-out part)"
            )
        for fold, (train_idx, val_idx) in enumerate(kfold_indices(labels, cfg.folds, cfg.split_seed)):
            for seed in cfg.seeds:
                runs.append({"fold": fold, "seed": seed, "train": train_idx, "validation": ("train", val_idx)})
    elif data.validation is not None:
        for seed in cfg.seeds:
            runs.append({"fold": None, "seed": seed, "train": np.arange(n), "validation": ("validation", None)})
    else:
        train_ds, val_ds = split_train_validation(
            data.train.add_column("_row", list(range(n))), cfg.validation_fraction, cfg.split_seed
        )
        train_idx, val_idx = np.asarray(column(train_ds, "_row")), np.asarray(column(val_ds, "_row"))
        for seed in cfg.seeds:
            runs.append({"fold": None, "seed": seed, "train": train_idx, "validation": ("train", val_idx)})
    return runs


def _headline(cfg: FinetuneConfig, task: NTTask | None) -> str:
    metric = cfg.metric or (task.headline_metric if task else "mcc")
    if metric not in REPORTED_METRICS:
        raise ValueError(f"metric must be one of {REPORTED_METRICS}, got {metric!r}")
    return metric


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


def _train_one(cfg, run, data, encoded, tokenizer, headline, run_dir, first_run: bool = True):
    import torch
    from transformers import EarlyStoppingCallback, PrinterCallback, Trainer, TrainingArguments, set_seed

    set_seed(run["seed"])
    # the "newly initialised classifier" load report is worth seeing once, not once per fold
    with _transformers_verbosity(None if first_run and cfg.progress else logging.ERROR):
        model = load_classifier(cfg.model, data)
    model.config.rc_average = False  # reverse-complement averaging is a test-time option only
    if cfg.gradient_checkpointing:
        model.gradient_checkpointing_enable()
    if cfg.method == "lora":
        model = apply_lora(model, cfg.lora_r, cfg.lora_alpha, cfg.lora_dropout, cfg.lora_target_modules)

    train_ds, _ = encoded["train"].select(run["train"])
    source, val_idx = run["validation"]
    if source == "train":
        val_ds, val_groups = encoded["train"].select(val_idx)
    else:
        val_ds, val_groups = encoded["validation"].all()
    test_ds, test_groups = encoded["test"].all()

    strategy = "steps" if cfg.eval_steps else "epoch"
    args = TrainingArguments(
        output_dir=str(run_dir),
        per_device_train_batch_size=cfg.batch_size,
        per_device_eval_batch_size=cfg.eval_batch_size,
        learning_rate=cfg.lr,
        num_train_epochs=cfg.epochs,
        max_steps=cfg.max_steps,
        warmup_steps=cfg.warmup,
        weight_decay=cfg.weight_decay,
        lr_scheduler_type=cfg.lr_scheduler,
        eval_strategy=strategy,
        save_strategy=strategy,
        eval_steps=cfg.eval_steps,
        save_steps=cfg.eval_steps,
        logging_strategy="steps",
        logging_steps=cfg.logging_steps,
        load_best_model_at_end=True,
        metric_for_best_model=headline,
        greater_is_better=True,
        save_total_limit=1,
        save_only_model=True,
        seed=run["seed"],
        data_seed=run["seed"],
        bf16=cfg.bf16,
        dataloader_num_workers=cfg.num_workers,
        report_to="none",
        disable_tqdm=not cfg.progress,
        use_cpu=not torch.cuda.is_available(),
    )
    pad_id = _pad_token_id(tokenizer, model)
    trainer = Trainer(
        model=model,
        args=args,
        data_collator=PadCollator(pad_id),
        train_dataset=train_ds,
        eval_dataset=val_ds,
        compute_metrics=make_compute_metrics(data.num_labels, val_groups if encoded_has_chunks(encoded) else None),
        callbacks=[EarlyStoppingCallback(early_stopping_patience=cfg.patience)],
    )
    if not cfg.progress:
        trainer.remove_callback(PrinterCallback)
    trainer.train()
    validation = {
        k.removeprefix("eval_"): v for k, v in trainer.evaluate().items() if k.removeprefix("eval_") in REPORTED_METRICS
    }

    model = _unwrap(trainer.model)
    model.config.rc_average = bool(cfg.rc_average)
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
    if not cfg.keep_checkpoints:
        shutil.rmtree(run_dir, ignore_errors=True)
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


def _is_main_process() -> bool:
    """Only rank 0 writes results and models when launched with torchrun / accelerate."""
    return int(os.environ.get("RANK", "0")) == 0


@contextmanager
def _progress_bars(enabled: bool):
    """Hide the Hub / transformers progress bars (weights loading, shard writing) when quiet."""
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


def finetune(cfg: FinetuneConfig) -> dict:
    """Run the fine-tuning job described by `cfg`; returns the results dictionary (also written as
    `results.json` / `results.md` in `cfg.output_dir`)."""
    with _progress_bars(cfg.progress):
        return _finetune(cfg)


def _finetune(cfg: FinetuneConfig) -> dict:
    out = Path(cfg.output_dir)
    out.mkdir(parents=True, exist_ok=True)
    task = get_task(cfg.task, cfg.benchmark) if cfg.task else None
    data = load_task_data(
        task,
        train_file=cfg.train_file,
        test_file=cfg.test_file,
        validation_file=cfg.validation_file,
        data_dir=cfg.data_dir,
        hub_dataset=cfg.hub_dataset,
        dedup=cfg.dedup,
    )
    headline = _headline(cfg, task)
    tokenizer = load_tokenizer(cfg.model)
    max_tokens = model_max_tokens(tokenizer, cfg.max_length)
    encoded = {
        split: encode_split(tokenizer, ds, split, max_tokens, cfg.length_mode, cfg.chunk_overlap)
        for split, ds in (("train", data.train), ("test", data.test), ("validation", data.validation))
        if ds is not None
    }
    runs = _plan_runs(cfg, data)
    logger.info("%s: %d run(s), %d train / %d test rows", data.name, len(runs), len(data.train), len(data.test))

    infos, best_val = [], -math.inf
    for i, run in enumerate(runs):
        tag = f"fold{run['fold']}_seed{run['seed']}" if run["fold"] is not None else f"seed{run['seed']}"
        info, model = _train_one(cfg, run, data, encoded, tokenizer, headline, out / "runs" / tag, first_run=i == 0)
        infos.append(info)
        logger.info("run %d/%d (%s): test %s = %.4f", i + 1, len(runs), tag, headline, info["test"][headline])
        val = info["validation"].get(headline, -math.inf)
        if cfg.save_model and val > best_val and _is_main_process():
            best_val = val
            details = {
                "task": data.name,
                "base checkpoint": cfg.model,
                "method": cfg.method,
                "run": tag,
                f"test {headline}": f"{info['test'][headline]:.4f}",
            }
            save_finetuned(model, tokenizer, out / MODEL_DIR, details)
        del model
    if (out / "runs").exists() and not cfg.keep_checkpoints:
        shutil.rmtree(out / "runs", ignore_errors=True)

    results = {
        "task": data.name,
        "benchmark": task.benchmark if task else None,
        "model": cfg.model,
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
        "model_dir": str(out / MODEL_DIR) if cfg.save_model else None,
        "config": asdict(cfg),
    }
    if _is_main_process():
        write_json(out / RESULTS_JSON, results)
        (out / RESULTS_MD).write_text(results_markdown(results))
    return results
