"""Fine-tuning `FGMForSequenceClassification` with the Hugging Face `Trainer`, the NT-benchmark way.

`finetune(model_args, data_args, training_args)` loads a task (an NT task from the Hub, a benchmark
folder, or local files), tokenizes it with the checkpoint's tokenizer (`task_encoding`), and trains one
model per seed (or per fold and seed with `folds >= 2`), each with early stopping on its validation split
(`EarlyStoppingCallback`, `load_best_model_at_end`). Every run is scored on the test split; the
results are the mean and 2 standard deviations over runs (as the NT paper reports its ten folds).
The arguments are the dataclasses of `finetune_arguments`, parsed by `HfArgumentParser` in `fgm finetune`.

Outputs in `output_dir`:
- `results.json`: the `FinetuneResult` (`fgm.training.reports`): data summary, per-run test/validation metrics,
  their summary and the options;
- `results.md`: the same as a markdown table;
- `model/`: the best run's model (by validation headline metric), a Hub-loadable checkpoint.
"""

import logging
import math
import shutil
from contextlib import contextmanager
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np
from transformers import EarlyStoppingCallback, Trainer, set_seed

from ..model_card import write_model_card
from .finetune_arguments import FinetuneModelArguments, FinetuningArguments, TaskArguments
from .metrics import (
    REPORTED_METRICS,
    ClassificationScores,
    average_logits_by_group,
    classification_metrics,
    make_compute_metrics,
    summarize_scores,
)
from .nt_tasks import get_task
from .reports import FinetuneResult, JobArguments, RunResult, SplitCounts, TaskDataSummary, write_results
from .task_data import LABEL, TaskData, column, kfold_indices, load_task_data, split_train_validation
from .task_encoding import encode_split, load_tokenizer, model_max_tokens

logger = logging.getLogger(__name__)

MODEL_DIR = "model"


# ------------------------------------------------------------------------------------------------ models


def is_fgm(checkpoint: str, trust_remote_code: bool = False) -> bool:
    """Whether `checkpoint` is an FGM model (else a peer's encoder, fine-tuned through the Auto classes)."""
    from transformers import AutoConfig

    return AutoConfig.from_pretrained(checkpoint, trust_remote_code=trust_remote_code).model_type == "fgm"


def load_classifier(checkpoint: str, data: TaskData, trust_remote_code: bool = False):
    """A sequence classifier from a pretrained (masked-LM or classifier) checkpoint, with a fresh head sized for
    the task and the task's id2label / label2id in its config: `FGMForSequenceClassification` for FGM, else the
    checkpoint's own class through `AutoModelForSequenceClassification` (a Nucleotide Transformer, DNABERT-2,
    Caduceus, NTv3 folder; `trust_remote_code` for code shipped in it)."""
    from transformers import AutoModelForSequenceClassification

    from fgm.model.modeling_fgm import FGMForSequenceClassification

    loader = FGMForSequenceClassification if is_fgm(checkpoint, trust_remote_code) else \
        AutoModelForSequenceClassification
    extra = {} if loader is FGMForSequenceClassification else {"trust_remote_code": trust_remote_code}
    return loader.from_pretrained(checkpoint, num_labels=data.num_labels, id2label=data.id2label,
                                  label2id=data.label2id, ignore_mismatched_sizes=True, **extra)


def check_peer_options(model_args, data_args) -> None:
    """Refuse, by name, the options a peer's checkpoint (not FGM) cannot take."""
    if is_fgm(model_args.model_name_or_path, model_args.trust_remote_code):
        return
    if data_args.rc_average:
        raise ValueError(f"--rc_average averages both strands inside FGM's classifier; {model_args.model_name_or_path} "
                         "is not an FGM model: drop --rc_average")
    if model_args.method == "lora" and not model_args.lora_target_modules:
        raise ValueError(f"--method lora on {model_args.model_name_or_path} (not an FGM model): name the layers to "
                         "adapt with --lora_target_modules (e.g. query value for a BERT or ESM encoder)")


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
    """A Hub-loadable checkpoint folder (weights, config with id2label, tokenizer, remote code, and for FGM a model
    card; a peer's folder keeps its own code and card conventions)."""
    out_dir = Path(out_dir)
    model.save_pretrained(out_dir)
    tokenizer.save_pretrained(out_dir)
    if model.config.model_type == "fgm":
        write_model_card(out_dir, model.config, details)
    return out_dir


# ------------------------------------------------------------------------------------------------- runs


@dataclass
class Run:
    """One training run of the plan: its seed, its fold with cross-validation (else None), the training
    split's rows it trains on and those it validates on (None: it validates on the validation split)."""

    fold: int | None
    seed: int
    train: np.ndarray
    validation: np.ndarray | None = None

    @property
    def tag(self) -> str:
        """The run's name, and its folder under OUTPUT_DIR/runs."""
        return f"seed{self.seed}" if self.fold is None else f"fold{self.fold}_seed{self.seed}"


def _plan_runs(args: FinetuningArguments, data: TaskData) -> list[Run]:
    """One run per fold and seed with cross-validation, else one per seed."""
    n = len(data.train)
    if args.folds >= 2:
        if data.validation is not None:
            logger.warning(
                "k-fold cross-validation ignores the given validation file (each fold validates on its held-out part)"
            )
        labels = np.asarray(column(data.train, LABEL))
        folds = enumerate(kfold_indices(labels, args.folds, args.split_seed))
        return [Run(fold, seed, train_idx, val_idx) for fold, (train_idx, val_idx) in folds for seed in args.seeds]
    if data.validation is not None:
        return [Run(None, seed, np.arange(n)) for seed in args.seeds]
    train_ds, val_ds = split_train_validation(
        data.train.add_column("_row", list(range(n))), args.validation_fraction, args.split_seed
    )
    train_idx, val_idx = np.asarray(column(train_ds, "_row")), np.asarray(column(val_ds, "_row"))
    return [Run(None, seed, train_idx, val_idx) for seed in args.seeds]


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


def _train_one(model_args, data_args, args, run: Run, data, encoded, tokenizer,
               first_run: bool = True) -> tuple[RunResult, object]:
    """Train one run with its own `TrainingArguments` (`args`: output folder and seed of the run); returns its
    scores and its model."""
    set_seed(args.seed)
    # the "newly initialised classifier" load report is worth seeing once, not once per fold
    with _transformers_verbosity(None if first_run and not args.disable_tqdm else logging.ERROR):
        model = load_classifier(model_args.model_name_or_path, data, model_args.trust_remote_code)
    fgm_model = model.config.model_type == "fgm"
    if fgm_model:
        model.config.rc_average = False  # reverse-complement averaging is a test-time option only
    if model_args.method == "lora":
        model = apply_lora(
            model, model_args.lora_r, model_args.lora_alpha, model_args.lora_dropout, model_args.lora_target_modules
        )

    train_ds, _ = encoded["train"].select(run.train)
    if run.validation is None:
        val_ds, val_groups = encoded["validation"].all()
    else:
        val_ds, val_groups = encoded["train"].select(run.validation)
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
    evaluated = trainer.evaluate()
    validation = ClassificationScores(**{m: evaluated[f"eval_{m}"] for m in REPORTED_METRICS})

    model = _unwrap(trainer.model)
    if fgm_model:
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
    info = RunResult(
        fold=run.fold,
        seed=run.seed,
        n_train=int(len(run.train)),
        n_validation=int(len(encoded["validation"].rows) if run.validation is None else len(run.validation)),
        test=test,
        validation=validation,
        best_step=_best_step(state),
        steps=int(state.global_step),
        epochs=float(state.epoch or 0.0),
    )
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
) -> FinetuneResult:
    """Run the fine-tuning job; returns its results (also written as `results.json` / `results.md` in
    `training_args.output_dir`)."""
    with _progress_bars(not training_args.disable_tqdm):
        return _finetune(model_args, data_args, training_args)


def _train_runs(model_args, data_args, training_args, runs, data, encoded, tokenizer) -> list[RunResult]:
    """Train and score each run (fold x seed) in turn; the model of the best validation score is saved
    (`MODEL_DIR`), the runs' own folders removed unless `keep_checkpoints`. Returns each run's scores."""
    out, headline = Path(training_args.output_dir), training_args.metric_for_best_model
    infos, best_val = [], -math.inf
    for i, run in enumerate(runs):
        run_args = replace(training_args, output_dir=str(out / "runs" / run.tag), seed=run.seed)
        info, model = _train_one(model_args, data_args, run_args, run, data, encoded, tokenizer, first_run=i == 0)
        infos.append(info)
        test = getattr(info.test, headline)
        logger.info("run %d/%d (%s): test %s = %.4f", i + 1, len(runs), run.tag, headline, test)
        val = getattr(info.validation, headline)
        if training_args.save_model and val > best_val and training_args.should_save:
            best_val = val
            details = {"task": data.name, "base checkpoint": model_args.model_name_or_path,
                       "method": model_args.method, "run": run.tag, f"test {headline}": f"{test:.4f}"}
            save_finetuned(model, tokenizer, out / MODEL_DIR, details)
        del model
    if (out / "runs").exists() and not training_args.keep_checkpoints:
        shutil.rmtree(out / "runs", ignore_errors=True)
    return infos


def _finetune(model_args, data_args, training_args) -> FinetuneResult:
    out = Path(training_args.output_dir)
    out.mkdir(parents=True, exist_ok=True)
    task = get_task(data_args.task, data_args.benchmark) if data_args.task else None
    data = load_task_data(task, train_file=data_args.train_file, test_file=data_args.test_file,
                          validation_file=data_args.validation_file, data_dir=data_args.data_dir,
                          hub_dataset=data_args.hub_dataset, dedup=data_args.dedup, label_names=data_args.class_names)
    # this job's settings: the method's learning rate and the task's headline metric unless given
    training_args = replace(
        training_args,
        learning_rate=training_args.learning_rate or model_args.default_learning_rate,
        metric_for_best_model=training_args.metric_for_best_model or (task.headline_metric if task else "mcc"),
    )
    headline = training_args.metric_for_best_model
    check_peer_options(model_args, data_args)
    tokenizer = load_tokenizer(model_args.model_name_or_path, model_args.trust_remote_code)
    max_tokens = model_max_tokens(tokenizer, data_args.max_length)
    encoded = {
        split: encode_split(tokenizer, ds, split, max_tokens, data_args.length_mode, data_args.chunk_overlap)
        for split, ds in (("train", data.train), ("test", data.test), ("validation", data.validation))
        if ds is not None
    }
    runs = _plan_runs(training_args, data)
    logger.info("%s: %d run(s), %d train / %d test rows", data.name, len(runs), len(data.train), len(data.test))

    infos = _train_runs(model_args, data_args, training_args, runs, data, encoded, tokenizer)

    results = FinetuneResult(
        task=data.name,
        benchmark=task.benchmark if task else None,
        model=model_args.model_name_or_path,
        headline_metric=headline,
        num_labels=data.num_labels,
        label_names=data.label_names,
        data=TaskDataSummary(
            source=data.source,
            n_train=len(data.train),
            n_validation=len(data.validation) if data.validation is not None else None,
            n_test=len(data.test),
            dedup=data.dedup,
            max_tokens=max_tokens,
            chunked_rows=SplitCounts(**{k: v.n_chunked for k, v in encoded.items()}),
            truncated_rows=SplitCounts(**{k: v.n_truncated for k, v in encoded.items()}),
        ),
        n_runs=len(infos),
        runs=infos,
        summary=summarize_scores([r.test for r in infos]),
        model_dir=str(out / MODEL_DIR) if training_args.save_model else None,
        arguments=JobArguments(model=asdict(model_args), data=asdict(data_args), training=training_args.to_dict()),
    )
    if training_args.should_save:
        write_results(out, results, model_args, data_args, training_args)
    return results
