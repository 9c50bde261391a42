"""Masked-LM pretraining with the Hugging Face Trainer.

The same code runs on one CPU, one GPU, or many GPUs and nodes under `accelerate launch` / `torchrun`
(DDP or FSDP come from the launcher and TrainingArguments, not from code here). Every checkpoint
folder is a complete Hub-loadable model; `resume=True` continues from the last one exactly.
"""

import math
import os
import time
from pathlib import Path

import numpy as np
import torch
from transformers import Trainer, TrainerCallback, TrainingArguments

from ..configuration_fgm import FGMConfig
from ..data.mlm import GenomeMLMCollator, MaskedGenomeWindows
from ..hub import write_model_card
from ..modeling_fgm import FGMForMaskedLM
from ..tokenization_fgm import FGMTokenizer


class EpochCallback(TrainerCallback):
    """Tells the example dataset the epoch, so crops and masks change every epoch (under DDP too)."""

    def __init__(self, dataset: MaskedGenomeWindows):
        self.dataset = dataset

    def on_epoch_begin(self, args, state, control, **kwargs):
        self.dataset.set_epoch(int(state.epoch + 1e-6))


class ModelCardCallback(TrainerCallback):
    """Writes the model card (README.md) into every `checkpoint-N` folder; `save_pretrained` writes the rest."""

    def __init__(self, details: dict):
        self.details = details

    def write(self, folder, config, steps: int):
        write_model_card(folder, config, {**self.details, "steps trained": steps})

    def on_save(self, args, state, control, model=None, **kwargs):
        if state.is_world_process_zero:
            self.write(Path(args.output_dir) / f"checkpoint-{state.global_step}", model.config, state.global_step)


class GenomeTrainer(Trainer):
    """The HF Trainer, logging `tokens_per_second` (non-padding input tokens, all processes)."""

    _last_log = None

    def log(self, logs: dict, *args, **kwargs):
        if "loss" in logs:
            now, seen = time.perf_counter(), self.state.num_input_tokens_seen
            if self._last_log is not None and now > self._last_log[0]:
                logs["tokens_per_second"] = round((seen - self._last_log[1]) / (now - self._last_log[0]), 1)
            self._last_log = (now, seen)
        super().log(logs, *args, **kwargs)


def preprocess_logits_for_metrics(logits, labels):
    """Per masked token: the predicted id and the negative log-likelihood of the true one, laid out
    like `labels` (the model's logits are sparse, masked positions only), so that batches can be
    gathered and trimmed by rows like the labels are."""
    masked = labels != -100
    nll = -torch.log_softmax(logits.float(), -1).gather(-1, labels[masked][:, None]).squeeze(-1)
    dense = torch.full((*labels.shape, 2), -100.0, device=logits.device)
    dense[masked] = torch.stack([logits.argmax(-1).float(), nll], dim=-1)
    return dense


def masked_lm_metrics(eval_prediction) -> dict:
    """MLM accuracy and perplexity over every masked token of the evaluation set."""
    labels = np.asarray(eval_prediction.label_ids)
    predicted = np.asarray(eval_prediction.predictions)[: labels.shape[0], : labels.shape[1]]
    masked = labels != -100
    return {
        "mlm_accuracy": float((predicted[masked][:, 0] == labels[masked]).mean()),
        "perplexity": float(np.exp(min(predicted[masked][:, 1].mean(), 50.0))),
    }


def build_model(preset: str, tokenizer: FGMTokenizer, attn_implementation="sdpa", **overrides) -> FGMForMaskedLM:
    config = FGMConfig.preset(preset, vocab_size=len(tokenizer), kmer_size=tokenizer.k, **overrides)
    model = FGMForMaskedLM(config)
    model.set_attn_implementation(attn_implementation)
    return model


def build_trainer(
    corpus,
    output_dir: str,
    preset: str = "small",
    model_overrides: dict | None = None,
    init_from: str | None = None,
    k: int = 6,
    seq_len: int = 1000,
    max_steps: int = 1000,
    batch_size: int = 8,
    grad_accum: int = 1,
    learning_rate: float = 5e-4,
    warmup_ratio: float = 0.05,
    weight_decay: float = 0.01,
    seed: int = 0,
    gradient_checkpointing: bool = False,
    pack: bool = False,
    eval_steps: int = 200,
    save_steps: int = 200,
    logging_steps: int = 20,
    max_eval_windows: int = 256,
    attn_implementation: str = "sdpa",
    save_total_limit: int | None = 3,
    **training_args,
) -> GenomeTrainer:
    """A Trainer ready to pretrain `FGMForMaskedLM` on a corpus (`DatasetDict` with train/validation)."""
    torch.manual_seed(seed)
    if init_from:
        tokenizer = FGMTokenizer.from_pretrained(init_from)
        model = FGMForMaskedLM.from_pretrained(init_from)
        model.set_attn_implementation(attn_implementation)
    else:
        tokenizer = FGMTokenizer(k=k)
        model = build_model(preset, tokenizer, attn_implementation, **(model_overrides or {}))
    train = MaskedGenomeWindows(corpus["train"], tokenizer, seq_len, train=True, seed=seed)
    evaluation = None
    if "validation" in corpus and len(corpus["validation"]):
        rows = corpus["validation"].select(range(min(max_eval_windows, len(corpus["validation"]))))
        evaluation = MaskedGenomeWindows(rows, tokenizer, seq_len, train=False, seed=seed)
    use_bf16 = torch.cuda.is_available() and torch.cuda.is_bf16_supported()
    # Launched as several processes on a machine without CUDA: DDP over gloo needs use_cpu.
    if not torch.cuda.is_available() and int(os.environ.get("WORLD_SIZE", "1")) > 1:
        training_args.setdefault("use_cpu", True)
    args = TrainingArguments(
        output_dir=output_dir,
        max_steps=max_steps,
        per_device_train_batch_size=batch_size,
        per_device_eval_batch_size=batch_size,
        gradient_accumulation_steps=grad_accum,
        learning_rate=learning_rate,
        lr_scheduler_type="cosine",
        warmup_steps=math.ceil(warmup_ratio * max_steps),
        weight_decay=weight_decay,
        seed=seed,
        data_seed=seed,
        bf16=use_bf16,
        gradient_checkpointing=gradient_checkpointing,
        eval_strategy="steps" if evaluation is not None else "no",
        eval_steps=eval_steps,
        save_strategy="steps",
        save_steps=save_steps,
        save_total_limit=save_total_limit,
        logging_steps=logging_steps,
        logging_first_step=True,
        include_num_input_tokens_seen="non_padding",
        remove_unused_columns=False,
        report_to="none",
        dataloader_num_workers=0,
        **training_args,
    )
    sources = corpus["train"].unique("source") if "source" in corpus["train"].column_names else ["(not recorded)"]
    details = {
        "training genomes": ", ".join(sorted(sources)),
        "corpus windows (train)": len(corpus["train"]),
        "sequence length (tokens)": seq_len,
        "batch size x accumulation": f"{batch_size} x {grad_accum}",
        "learning rate (cosine, warmup)": f"{learning_rate} ({warmup_ratio:.0%})",
        "max steps": max_steps,
        "seed": seed,
        "precision": "bf16" if use_bf16 else "fp32",
        "masking": "15% of nucleotide tokens, 80/10/10, random crops and strands",
    }
    return GenomeTrainer(
        model=model,
        args=args,
        train_dataset=train,
        eval_dataset=evaluation,
        data_collator=GenomeMLMCollator(tokenizer.pad_token_id, pack=pack),
        processing_class=tokenizer,
        compute_metrics=masked_lm_metrics,
        preprocess_logits_for_metrics=preprocess_logits_for_metrics,
        callbacks=[ModelCardCallback(details), EpochCallback(train)],
    )


def pretrain(corpus, output_dir: str, resume: bool = False, **kwargs) -> dict:
    """Train, evaluate, and save a complete checkpoint in `output_dir`; returns the final metrics."""
    trainer = build_trainer(corpus, output_dir, **kwargs)
    last_checkpoint = resume and any(Path(output_dir).glob("checkpoint-*"))
    metrics = dict(trainer.train(resume_from_checkpoint=True if last_checkpoint else None).metrics)
    if trainer.eval_dataset is not None:
        metrics.update(trainer.evaluate())
    trainer.save_model(output_dir)
    if trainer.is_world_process_zero():
        card = next(c for c in trainer.callback_handler.callbacks if isinstance(c, ModelCardCallback))
        card.write(output_dir, trainer.model.config, trainer.state.global_step)
    trainer.log_metrics("final", metrics)
    trainer.save_metrics("final", metrics)
    return metrics
