"""Masked-LM pretraining with the Hugging Face Trainer.

The same code runs on one CPU, one GPU, or many GPUs and nodes under `accelerate launch` / `torchrun`
(DDP or FSDP come from the launcher and TrainingArguments, not from code here). Every checkpoint
folder is a complete Hub-loadable model; `--resume_from_checkpoint last` continues from the last one
exactly.

The arguments are three dataclasses, parsed by `HfArgumentParser` in `fgm pretrain`:
`PretrainModelArguments` (a new preset model, or a checkpoint to continue), `PretrainDataArguments`
(the corpus and the examples) and `PretrainingArguments`, the `TrainingArguments` with pretraining
defaults.
"""

import json
import logging
import os
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import NamedTuple

import numpy as np
import torch
from transformers import Trainer, TrainerCallback, set_seed
from transformers.trainer_utils import IntervalStrategy, SchedulerType, get_last_checkpoint

from ..checkpoints import checkpoint_argument, record_training_context, require_checkpoint
from ..model.configuration_fgm import PRESETS, FGMConfig
from ..data.corpus import corpus_summary, load_corpus, longest_sequence
from ..data.mlm import (MaskedGenomeWindows, SpeciesSampler, StreamingGenomeWindows, interleaved_species,
                        mlm_collator)
from ..data.planting import CopyPlanting
from ..model_card import write_model_card
from ..model.modeling_fgm import FGMForMaskedLM
from ..model.tokenization_fgm import FGMTokenizer
from .trainer_arguments import CheckedTrainingArguments

logger = logging.getLogger(__name__)


class TrainingPhase(NamedTuple):
    """A stretch of a pretraining run with one example length, one longest planted distance and one planting rate."""

    max_length: int
    plant_max_distance: int | None
    plant_rate: float
    last_step: int


def _schedule(text: str | None, final, max_steps: int, option: str, final_option: str, value_type=int,
              growing: bool = True) -> list[tuple]:
    """'VALUE:FRACTION,...' as (value, last step) pairs, ending with (`final`, `max_steps`); fractions must grow
    within (0, 1), each phase at least one step, and (`growing`) values must grow up to `final` where it is set."""
    if not text:
        return [(final, max_steps)]
    if max_steps <= 0:
        raise ValueError(f"{option} needs a positive --max_steps: its fractions are of the steps")
    pairs = []
    for part in text.split(","):
        try:
            value, fraction = part.split(":")
            pairs.append((value_type(value), round(float(fraction) * max_steps)))
        except ValueError:
            raise ValueError(f"{option}: {part!r} is not VALUE:FRACTION") from None
    values, ends = [p[0] for p in pairs] + ([final] if final is not None else []), [p[1] for p in pairs] + [max_steps]
    if (growing and values != sorted(set(values))) or ends != sorted(set(ends)) or ends[0] < 1:
        raise ValueError(f"{option} {text!r}: " + (f"values must grow up to {final_option} ({final}) and " if growing
                                                   else "") + "fractions grow within (0, 1), each phase at least one step")
    return pairs + [(final, max_steps)]


@dataclass
class PretrainModelArguments:
    """The model to pretrain: a new one from a preset, or a checkpoint to continue from."""

    _argument_group_name = "model"

    model_name_or_path: str | None = checkpoint_argument(
        "continue pretraining this checkpoint (folder or Hub id) instead of a new --preset model", default=None
    )
    preset: str = field(default="small", metadata={"choices": tuple(PRESETS), "help": "size of a new model"})
    config_overrides: dict | str | None = field(
        default=None, metadata={"help": 'JSON config fields of a new model, e.g. \'{"sliding_window": 256}\''}
    )
    kmer_size: int | None = field(
        default=None,
        metadata={"help": "k-mer size of a new model's tokenizer (default: the preset's; 6, NT-compatible, for flat "
                  "presets, 1 for the U-Nets, which read single bases)"},
    )
    attn_implementation: str | None = field(
        default=None,
        metadata={"help": "eager | sdpa | flex_attention | flash_attention_2 | flash_attention_3 | flash_attention_4 "
                  "(default: the newest flash build installed for the GPU, else sdpa)"},
    )

    def __post_init__(self):
        if isinstance(self.config_overrides, str):
            self.config_overrides = json.loads(self.config_overrides)
        if self.kmer_size is None:
            self.kmer_size = PRESETS[self.preset].get("kmer_size", 6)
        if self.model_name_or_path and self.config_overrides:
            raise ValueError("--config_overrides shapes a new --preset model; it cannot change --model_name_or_path")
        if self.model_name_or_path:
            require_checkpoint(self.model_name_or_path)


@dataclass
class PretrainDataArguments:
    """The corpus, and how its windows become training examples."""

    _argument_group_name = "data"

    corpus: str = field(metadata={"help": "folder written by `fgm corpus`, or a Hub dataset name"})
    max_length: int = field(default=1000, metadata={"help": "tokens per example at most, <cls> included (corpus "
                                                    "windows may be shorter: the checkpoint records the longest "
                                                    "example, in tokens and bases, as its training context)"})
    mlm_probability: float = field(default=0.15, metadata={"help": "fraction of nucleotide tokens masked (80/10/10)"})
    padding_free: bool = field(
        default=False,
        metadata={"help": "flatten each batch into one row (position_ids restart per example) instead of padding"},
    )
    max_eval_samples: int = field(default=256, metadata={"help": "validation windows scored at each evaluation"})
    streaming: bool = field(default=False, metadata={
        "help": "read --corpus (a folder of `fgm corpus --format shards`) as a stream, in bounded memory: the windows "
                "pass through a shuffle buffer, in an order set by the seed (resumes exactly); needs --max_steps"})
    shuffle_buffer: int = field(default=10_000, metadata={
        "help": "windows held in the --streaming shuffle buffer (BioNeMo's OpenGenome2: 10k-50k)"})
    shuffle_shards: int = field(default=10, metadata={
        "help": "shards the --streaming shuffle buffer is filled from at once, interleaved (datasets' "
                "max_buffer_input_shards, its default 10): each open shard holds memory in proportion to its size, "
                "so a stream's memory is bounded by this many shards and the buffer, whatever the corpus's size"})
    max_length_schedule: str | None = field(
        default=None,
        metadata={"help": "short to long inside one run: 'LENGTH:FRACTION,...', e.g. '256:0.25,512:0.5' trains the "
                  "first 25%% of --max_steps at 256 tokens, up to 50%% at 512, then at --max_length; every phase "
                  "ends with a checkpoint, from which the next one continues"},
    )
    plant_rate: float = field(
        default=0.0,
        metadata={"help": "copy planting (fgm/data/planting.py): the share of training windows, in [0, 1], in which a "
                  "segment of other training sequence is written twice, so that copying across distance pays "
                  "(default 0: natural sequence only)"},
    )
    plant_length: int = field(default=64, metadata={"help": "bases of a planted segment, at most half the window"})
    plant_min_distance: int | None = field(
        default=None, metadata={"help": "shortest distance between the two copies, start to start, in bases "
                                "(default: --plant_length, adjacent copies)"},
    )
    plant_max_distance: int | None = field(
        default=None, metadata={"help": "longest distance between the two copies (default: the training window "
                                "less --plant_length)"},
    )
    plant_curriculum: str | None = field(
        default=None,
        metadata={"help": "distances short to long inside one run: 'DISTANCE:FRACTION,...', e.g. '128:0.2,512:0.5' "
                  "plants copies at most 128 bases apart for the first 20%% of --max_steps, at most 512 up to 50%%, "
                  "then at most --plant_max_distance; phases end with a checkpoint as --max_length_schedule's do"},
    )
    plant_rate_schedule: str | None = field(
        default=None,
        metadata={"help": "planting rates inside one run: 'RATE:FRACTION,...', e.g. '0.5:0.55' plants copies in half "
                  "the windows for the first 55%% of --max_steps, then in --plant_rate of them; phases end with a "
                  "checkpoint as --max_length_schedule's do"},
    )

    def __post_init__(self):  # the planting itself is checked against the window (`CopyPlanting.check`)
        if self.plant_curriculum and not (self.plant_rate or self.plant_rate_schedule):
            raise ValueError("--plant_curriculum schedules planted copies: give a --plant_rate above 0 (or a "
                             "--plant_rate_schedule)")
        if self.shuffle_buffer < 1 or self.shuffle_shards < 1:
            raise ValueError(f"--shuffle_buffer ({self.shuffle_buffer}) and --shuffle_shards ({self.shuffle_shards}) "
                             "must be at least 1")
        if self.streaming and (self.plant_rate or self.plant_rate_schedule):
            raise ValueError("--plant_rate draws donor windows from the whole corpus, which --streaming does not hold: "
                             "plant copies with the corpus in memory")

    def planting(self, window_bases: int) -> CopyPlanting | None:
        """The copy planting for training windows of `window_bases` bases, or None without --plant_rate."""
        if not self.plant_rate:
            return None
        return CopyPlanting(
            rate=self.plant_rate,
            length=self.plant_length,
            min_distance=self.plant_min_distance or self.plant_length,
            max_distance=self.plant_max_distance or window_bases - self.plant_length,
        )

    def phases(self, max_steps: int) -> list[TrainingPhase]:
        """The run's phases: a new phase wherever --max_length_schedule, --plant_curriculum or --plant_rate_schedule
        changes a setting, the last at --max_length, --plant_max_distance and --plant_rate (a last step of -1: the
        end of the epochs)."""
        lengths = _schedule(self.max_length_schedule, self.max_length, max_steps, "--max_length_schedule",
                            "--max_length")
        distances = _schedule(self.plant_curriculum, self.plant_max_distance, max_steps, "--plant_curriculum",
                              "--plant_max_distance")
        rates = _schedule(self.plant_rate_schedule, self.plant_rate, max_steps, "--plant_rate_schedule",
                          "--plant_rate", value_type=float, growing=False)
        if not all(0.0 <= rate <= 1.0 for rate, _ in rates[:-1]):  # refused before the first phase trains
            raise ValueError(f"--plant_rate_schedule {self.plant_rate_schedule!r}: every rate must be within [0, 1]")
        ends = sorted({end for _, end in lengths + distances + rates}, key=lambda end: max_steps if end == -1 else end)

        def setting(schedule, end):  # the value in force at step `end`
            return next(value for value, last in schedule if last == -1 or last >= end)

        return [TrainingPhase(setting(lengths, end), setting(distances, end), setting(rates, end), end) for end in ends]


@dataclass
class PretrainingArguments(CheckedTrainingArguments):
    """`TrainingArguments` with pretraining defaults; where they differ from Trainer's, the help says so."""

    _argument_group_name = "training (Trainer options with pretraining defaults, and resuming)"

    max_steps: int = field(default=1000, metadata={"help": "optimizer steps, or -1: train --num_train_epochs epochs "
                                                   "(Trainer's default: -1)"})
    learning_rate: float = field(default=5e-4, metadata={"help": "peak learning rate (Trainer's default: 5e-5)"})
    lr_scheduler_type: SchedulerType | str = field(default="cosine", metadata={"help": "Trainer's default: linear"})
    warmup_steps: float = field(
        default=0.05, metadata={"help": "warmup steps, or a fraction (< 1) of all steps (Trainer's default: 0)"}
    )
    weight_decay: float = field(default=0.01, metadata={"help": "Trainer's default: 0"})
    eval_strategy: IntervalStrategy | str = field(
        default="steps", metadata={"help": "Trainer's default: no; off when the corpus has no validation split"}
    )
    eval_steps: float | None = field(default=200, metadata={"help": "Trainer's default: --logging_steps"})
    save_steps: float = field(default=200, metadata={"help": "Trainer's default: 500"})
    save_total_limit: int | None = field(default=3, metadata={"help": "Trainer's default: no limit"})
    logging_steps: float = field(default=20, metadata={"help": "Trainer's default: 500"})
    logging_first_step: bool = field(default=True, metadata={"help": "Trainer's default: False"})
    include_num_input_tokens_seen: str = field(
        default="non_padding",
        metadata={
            "choices": ("non_padding", "all", "no"),
            "help": "count input tokens, for the logged tokens_per_second (Trainer's default: no)",
        },
    )
    bf16: bool | None = field(
        default=None,
        metadata={
            "help": "bfloat16 mixed precision; default: on where CUDA supports it, --bf16 False to turn it off "
            "(Trainer's default: off)",
            "nargs": "?",
            "const": True,
        },
    )
    dataloader_num_workers: int | None = field(
        default=None,
        metadata={"help": "processes building batches; default: 2 on CUDA, where building a 32 x 1024 batch takes "
                  "about as long as a training step, and 0 on the CPU, whose cores train (Trainer's default: 0)"},
    )
    resume_from_checkpoint: str | None = field(
        default=None,
        metadata={"help": "continue from this checkpoint folder, or `last`: the newest checkpoint-N in "
                  "--output_dir (a fresh start when there is none)"},
    )
    soft_masked_loss_weight_train: float = field(default=1.0, metadata={
        "help": "GPN's: the training loss of a soft-masked base (lowercase in its FASTA: a repeat) is multiplied by "
                "this (GPN 0.1, PlantCAD 0.01; 1.0: every base alike); a k-mer token weighs the mean of its bases'"})
    soft_masked_loss_weight_evaluation: float = field(default=1.0, metadata={
        "help": "the same for the evaluation loss (GPN: 0.0, repeats left out of it)"})

    def __post_init__(self):
        for name in ("soft_masked_loss_weight_train", "soft_masked_loss_weight_evaluation"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"--{name} must be within [0, 1], got {getattr(self, name)}")
        on_cuda = not self.use_cpu and torch.cuda.is_available()
        if self.bf16 is None:
            self.bf16 = on_cuda and torch.cuda.is_bf16_supported()
        if self.dataloader_num_workers is None:
            self.dataloader_num_workers = 2 if on_cuda else 0
        super().__post_init__()

    def checkpoint_to_resume(self) -> str | None:
        if self.resume_from_checkpoint != "last":
            return self.resume_from_checkpoint
        return get_last_checkpoint(self.output_dir) if os.path.isdir(self.output_dir) else None


class EpochCallback(TrainerCallback):
    """Tells the example dataset the epoch, so crops and masks change every epoch (under DDP too)."""

    def __init__(self, dataset: MaskedGenomeWindows):
        self.dataset = dataset

    def on_epoch_begin(self, args, state, control, **kwargs):
        self.dataset.set_epoch(int(state.epoch + 1e-6))


class StopAfterStep(TrainerCallback):
    """Ends a phase of a length schedule with a checkpoint at its last step."""

    def __init__(self, step: int):
        self.step = step

    def on_step_end(self, args, state, control, **kwargs):
        if state.global_step >= self.step:
            control.should_save = control.should_training_stop = True


class ModelCardCallback(TrainerCallback):
    """Writes the model card (README.md) into every `checkpoint-N` folder; `save_pretrained` writes the rest."""

    def __init__(self, details: dict):
        self.details = details

    def write(self, folder, config, steps: int):
        write_model_card(folder, config, {**self.details, "steps trained": steps})

    def on_save(self, args, state, control, model=None, **kwargs):
        if args.should_save:
            self.write(Path(args.output_dir) / f"checkpoint-{state.global_step}", model.config, state.global_step)


class GenomeTrainer(Trainer):
    """The HF Trainer, logging `tokens_per_second` (non-padding input tokens, all processes), with the loss of
    each scored token weighted where examples carry a `loss_weight` (soft-masked bases, as GPN does)."""

    _last_log = None

    def __init__(self, *args, sampler=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.sampler = sampler  # the species' shares, for a corpus of many (else Trainer's random order)

    def _get_train_sampler(self, train_dataset=None):
        return self.sampler or super()._get_train_sampler(train_dataset)

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        if "loss_weight" not in inputs:
            return super().compute_loss(model, inputs, return_outputs, num_items_in_batch)
        weights = inputs.pop("loss_weight")
        outputs = model(**inputs)
        accumulated = num_items_in_batch is not None and self.model_accepts_loss_kwargs  # Trainer sums micro-batches
        loss = weighted_masked_lm_loss(outputs.logits, inputs["labels"], weights,
                                       num_items_in_batch if accumulated else None)
        return (loss, outputs) if return_outputs else loss

    def _set_signature_columns_if_needed(self):
        """The columns Trainer keeps in a batch: the model's inputs, and `loss_weight`, which `compute_loss` reads
        (Trainer would drop it as no argument of the model's forward)."""
        super()._set_signature_columns_if_needed()
        if "loss_weight" not in self._signature_columns:
            self._signature_columns.append("loss_weight")

    def _get_num_items_in_batch(self, batch_samples: list, device):
        """What the loss of an accumulated batch is divided by: Trainer's count of its scored tokens, or with loss
        weights their summed weight (over every micro-batch and rank), so that accumulating micro-batches gives the
        weighted loss of the whole batch exactly, as one batch would."""
        count = super()._get_num_items_in_batch(batch_samples, device)
        if count is None or "loss_weight" not in batch_samples[0]:
            return count
        weight = sum(batch["loss_weight"][batch["labels"] != -100].sum() for batch in batch_samples).to(device)
        if self.args.average_tokens_across_devices and self.args.world_size > 1:
            weight = self.accelerator.gather(weight).sum()
        return weight

    def log(self, logs: dict, *args, **kwargs):
        if "loss" in logs:
            now, seen = time.perf_counter(), self.state.num_input_tokens_seen
            if self._last_log is not None and now > self._last_log[0]:
                logs["tokens_per_second"] = round((seen - self._last_log[1]) / (now - self._last_log[0]), 1)
            self._last_log = (now, seen)
        super().log(logs, *args, **kwargs)


def weighted_masked_lm_loss(logits: torch.Tensor, labels: torch.Tensor, weights: torch.Tensor,
                            total_weight: torch.Tensor | None = None) -> torch.Tensor:
    """The cross-entropy of the scored tokens (labels != -100), each multiplied by its weight, over the sum of the
    weights (GPN's normalisation; `total_weight`: that of the whole accumulated batch); 0 where every scored token
    weighs 0. `logits` are the model's: one row per scored token (sparse prediction) or one per position."""
    scored = labels != -100
    if logits.shape[:-1] == labels.shape:
        logits = logits[scored]
    losses = torch.nn.functional.cross_entropy(logits.float(), labels[scored], reduction="none")
    weights = weights[scored].to(losses.dtype)
    total = weights.sum() if total_weight is None else total_weight.to(losses.dtype)
    return (losses * weights).sum() / total.clamp(min=1e-8)


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


def build_model(preset: str, tokenizer: FGMTokenizer, attn_implementation=None, **overrides) -> FGMForMaskedLM:
    config = FGMConfig.preset(preset, vocab_size=len(tokenizer), kmer_size=tokenizer.k, **overrides)
    model = FGMForMaskedLM(config)
    if attn_implementation:
        model.set_attn_implementation(attn_implementation)
    return model


class CorpusData(NamedTuple):
    """What pretraining reads of a corpus: the train split (rows, or a stream of them), its longest window, a few
    validation windows (None: no validation split), the build's parameters, and its species and windows."""

    train: object
    longest: int
    validation: object
    params: dict
    sources: list[str]
    windows: int


def read_corpus(data_args: PretrainDataArguments) -> CorpusData:
    """The corpus `data_args` names: in memory (`fgm corpus` folder or Hub dataset), or with --streaming its shards,
    read one at a time."""
    from itertools import islice

    from ..data.corpus import stream_split

    if data_args.streaming:
        train, summary = stream_split(data_args.corpus, "train")
        validation = None
        if "validation" in summary["splits"]:
            validation = list(islice(stream_split(data_args.corpus, "validation")[0], data_args.max_eval_samples))
        train_summary = summary["splits"]["train"]
        return CorpusData(train, summary["longest"]["train"], validation, summary["params"],
                          sorted(train_summary.get("soft_masked", {})) or ["(not recorded)"], train_summary["windows"])
    corpus = load_corpus(data_args.corpus)
    train = corpus["train"]
    validation = None
    if "validation" in corpus and len(corpus["validation"]):
        validation = corpus["validation"].select(range(min(data_args.max_eval_samples, len(corpus["validation"]))))
    sources = sorted(train.unique("source")) if "source" in train.column_names else ["(not recorded)"]
    return CorpusData(train, longest_sequence(train), validation, corpus_summary({"train": train}).params, sources,
                      len(train))


def training_details(corpus: CorpusData, data_args: PretrainDataArguments, training_args: PretrainingArguments,
                     planting, context: str) -> dict:
    """What the model card says about the run: the data, the example length, the optimisation, the masking, and
    the options that change what is learnt (loss weights, copy planting, species' shares, streaming)."""
    warmup = training_args.warmup_steps
    warmup = f"{warmup:.0%}" if warmup < 1 else f"{int(warmup)} steps"
    details = {
        "training genomes": ", ".join(corpus.sources),
        "corpus windows (train)": corpus.windows,
        "tokens per example at most (--max_length)": data_args.max_length if not data_args.max_length_schedule
        else f"{data_args.max_length} (grown by --max_length_schedule {data_args.max_length_schedule})",
        "training context (longest example; tokenizer_config.json)": context,
        "batch size x accumulation": f"{training_args.per_device_train_batch_size} x "
        f"{training_args.gradient_accumulation_steps}",
        f"learning rate ({training_args.lr_scheduler_type.value}, warmup)": f"{training_args.learning_rate} ({warmup})",
        "max steps": training_args.max_steps if training_args.max_steps > 0
        else f"by epochs ({training_args.num_train_epochs:g})",
        "seed": training_args.seed,
        "precision": "bf16" if training_args.bf16 else "fp32",
        "masking": f"{data_args.mlm_probability:.0%} of nucleotide tokens, 80/10/10, random crops and strands",
    }
    weights = (training_args.soft_masked_loss_weight_train, training_args.soft_masked_loss_weight_evaluation)
    if weights != (1.0, 1.0):
        details["soft-masked loss weight (train, evaluation)"] = f"{weights[0]:g}, {weights[1]:g}"
    if planting or data_args.plant_rate_schedule:  # the last phase's planting, and the schedules that led to it
        details["copy planting"] = ((f"{planting.rate:.0%} of windows, {planting.length}-base segments "
                                     f"{planting.min_distance}-{planting.max_distance} bases apart" if planting
                                     else "none in the last phase")
                                    + "".join(f" ({name} {schedule})" for name, schedule in [
                                        ("curriculum", data_args.plant_curriculum),
                                        ("rates", data_args.plant_rate_schedule)] if schedule))
    if corpus.params.get("species_weights"):
        details["species' sampling weights"] = ", ".join(
            f"{name} {w:g}" for name, w in corpus.params["species_weights"].items())
    if data_args.streaming:
        details["streaming"] = (f"Parquet shards, a shuffle buffer of {data_args.shuffle_buffer:,} windows filled "
                                f"from {data_args.shuffle_shards} shards at a time")
    return details


def build_trainer(
    model_args: PretrainModelArguments, data_args: PretrainDataArguments, training_args: PretrainingArguments
) -> GenomeTrainer:
    """A Trainer ready to pretrain `FGMForMaskedLM` on a corpus (train and optional validation split)."""
    corpus = read_corpus(data_args)
    set_seed(training_args.seed)  # before the model's weights are drawn
    if model_args.model_name_or_path:
        tokenizer = FGMTokenizer.from_pretrained(model_args.model_name_or_path)
        model = FGMForMaskedLM.from_pretrained(model_args.model_name_or_path,
                                               attn_implementation=model_args.attn_implementation)
    else:
        tokenizer = FGMTokenizer(k=model_args.kmer_size)
        model = build_model(
            model_args.preset, tokenizer, model_args.attn_implementation, **(model_args.config_overrides or {})
        )
    if data_args.padding_free and (model.config.unet_stages or model.config.token_conv_kernel):
        raise ValueError("--padding_free packs examples into one row, which the model's convolutions would mix: "
                         f"train {model_args.model_name_or_path or model_args.preset} with padding")
    seed, length = training_args.seed, data_args.max_length
    species_weights = corpus.params.get("species_weights")
    shares = bool(species_weights) and len(set(species_weights.values())) > 1
    if shares and data_args.streaming:  # species' shares drawn from the stream; in memory, by `SpeciesSampler`
        corpus = corpus._replace(train=interleaved_species(corpus.train, species_weights, corpus.sources, seed))
    planting = data_args.planting((length - 1) * tokenizer.k)
    windows = MaskedGenomeWindows(corpus.train, tokenizer, length, data_args.mlm_probability, train=True, seed=seed,
                                  planting=planting, soft_masked_weight=training_args.soft_masked_loss_weight_train)
    train = windows
    if data_args.streaming:
        train = StreamingGenomeWindows(corpus.train, windows, data_args.shuffle_buffer, data_args.shuffle_shards)
    # the longest example, saved with the checkpoint as the context it was trained at: an N-free crop of the
    # longest training window, in bases and in tokens
    bases = min(windows.crop_bases, corpus.longest)
    tokens = min(length, len(tokenizer.bulk_encode(["A" * bases])[0]))
    record_training_context(tokenizer, tokens, bases)
    evaluation = None
    if corpus.validation is not None:
        evaluation = MaskedGenomeWindows(corpus.validation, tokenizer, length, data_args.mlm_probability, train=False,
                                         seed=seed, soft_masked_weight=training_args.soft_masked_loss_weight_evaluation)
    elif training_args.eval_strategy != IntervalStrategy.NO:
        logger.warning("%s has no validation split: training without evaluation", data_args.corpus)
        training_args = replace(training_args, eval_strategy="no")
    details = training_details(corpus, data_args, training_args, planting, f"{tokens:,} tokens = {bases:,} bases")
    return GenomeTrainer(
        sampler=SpeciesSampler(windows, species_weights) if shares and not data_args.streaming else None,
        model=model,
        args=training_args,
        train_dataset=train,
        eval_dataset=evaluation,
        data_collator=mlm_collator(tokenizer, data_args.padding_free),
        processing_class=tokenizer,
        compute_metrics=masked_lm_metrics,
        preprocess_logits_for_metrics=preprocess_logits_for_metrics,
        callbacks=[ModelCardCallback(details), EpochCallback(train)],
    )


def pretrain(
    model_args: PretrainModelArguments, data_args: PretrainDataArguments, training_args: PretrainingArguments
) -> dict:
    """Train (phase by phase with a `max_length_schedule`), evaluate, and save a complete checkpoint in
    `output_dir`; returns the final metrics."""
    output_dir = training_args.output_dir
    resume = training_args.checkpoint_to_resume()
    done = json.loads((Path(resume) / "trainer_state.json").read_text())["global_step"] if resume else 0
    if 0 < training_args.max_steps <= done:
        # a finished run (a study or a job run again): Trainer would take one more step; evaluate and save it instead
        logger.warning("%s holds step %d of --max_steps %d: evaluated and saved, not trained further", resume, done,
                       training_args.max_steps)
        trainer = build_trainer(replace(model_args, model_name_or_path=resume, config_overrides=None), data_args,
                                training_args)
        previous = Path(output_dir) / "final_results.json"
        metrics = json.loads(previous.read_text()) if previous.exists() else {}
    for length, plant_max_distance, plant_rate, last_step in data_args.phases(training_args.max_steps):
        if 0 < last_step <= done:  # a finished phase
            continue
        phase = replace(data_args, max_length=length, plant_max_distance=plant_max_distance, plant_rate=plant_rate)
        trainer = build_trainer(model_args, phase, training_args)
        if last_step < training_args.max_steps:
            trainer.add_callback(StopAfterStep(last_step))
        metrics = dict(trainer.train(resume_from_checkpoint=resume).metrics)
        resume, done = os.path.join(output_dir, f"checkpoint-{last_step}"), last_step
    if trainer.eval_dataset is not None:
        metrics.update(trainer.evaluate())
    trainer.save_model(output_dir)
    if training_args.should_save:
        card = next(c for c in trainer.callback_handler.callbacks if isinstance(c, ModelCardCallback))
        card.write(output_dir, trainer.model.config, trainer.state.global_step or done)
    trainer.log_metrics("final", metrics)
    trainer.save_metrics("final", metrics)
    return metrics
