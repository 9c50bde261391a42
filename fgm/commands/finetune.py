"""`fgm finetune`: fine-tune a checkpoint on an NT task (Hub) or on local files.

    fgm finetune --model CKPT --task promoter_all --output-dir runs/promoter_all
    fgm finetune --model CKPT --train-file train.csv --test-file test.csv [--validation-file val.csv] \
        --output-dir runs/mytask

Local files: CSV / TSV / parquet / JSON lines / FASTA (">name|label") / save_to_disk folders with
columns `sequence, label[, name]`; string or integer labels.
"""

from __future__ import annotations

import argparse

from fgm.training.metrics import REPORTED_METRICS
from fgm.training.nt_tasks import BENCHMARKS, REVISED


def _seeds(text: str) -> list[int]:
    try:
        return [int(s) for s in text.replace(",", " ").split()]
    except ValueError as err:
        raise argparse.ArgumentTypeError(f"seeds must be integers, e.g. '1,2,3': {text!r}") from err


def add_training_arguments(parser: argparse.ArgumentParser) -> None:
    """Options shared by `fgm finetune` and `fgm benchmark nt`."""
    method = parser.add_argument_group("method")
    method.add_argument(
        "--method", choices=("full", "lora"), default="full", help="full fine-tuning or LoRA adapters (needs peft)"
    )
    method.add_argument("--lora-r", type=int, default=8, help="LoRA rank (default 8)")
    method.add_argument("--lora-alpha", type=int, default=16, help="LoRA alpha (default 16)")
    method.add_argument("--lora-dropout", type=float, default=0.05)
    method.add_argument(
        "--lora-target-modules", nargs="+", default=None, help="linear layers to adapt (default: all encoder linears)"
    )

    opt = parser.add_argument_group("optimisation")
    opt.add_argument("--learning-rate", type=float, default=None, help="default 1e-4 (full) / 5e-4 (LoRA)")
    opt.add_argument("--batch-size", type=int, default=32)
    opt.add_argument("--eval-batch-size", type=int, default=64)
    opt.add_argument("--epochs", type=float, default=3.0)
    opt.add_argument("--max-steps", type=int, default=-1, help="overrides --epochs when > 0")
    opt.add_argument("--warmup", type=float, default=0.05, help="warmup: fraction of steps (< 1) or number of steps")
    opt.add_argument("--weight-decay", type=float, default=0.01)
    opt.add_argument("--lr-scheduler", default="linear")
    opt.add_argument("--bf16", action="store_true", help="bfloat16 mixed precision")
    opt.add_argument("--gradient-checkpointing", action="store_true")

    runs = parser.add_argument_group("runs and validation")
    runs.add_argument("--seeds", type=_seeds, default=[42], help="one run per seed, e.g. '1,2,3' (default 42)")
    runs.add_argument("--folds", type=int, default=0, help="k-fold cross-validation of the training set (NT paper: 10)")
    runs.add_argument(
        "--validation-fraction", type=float, default=0.1, help="validation split carved from train (default 0.1)"
    )
    runs.add_argument("--split-seed", type=int, default=42, help="seed of the validation split / folds")
    runs.add_argument("--patience", type=int, default=3, help="early-stopping patience in evaluations")
    runs.add_argument("--eval-steps", type=int, default=None, help="evaluate every N steps (default: every epoch)")
    runs.add_argument(
        "--metric",
        choices=REPORTED_METRICS,
        default=None,
        help="early-stopping metric (default: the task's headline metric, else mcc)",
    )
    runs.add_argument(
        "--dedup",
        action="store_true",
        help="drop repeated sequences in each split and training rows that occur in the test split",
    )

    seq = parser.add_argument_group("sequences and inference")
    seq.add_argument(
        "--max-length",
        type=int,
        default=None,
        help="maximum tokens per input (default: the tokenizer's model_max_length)",
    )
    lengths = seq.add_mutually_exclusive_group()
    lengths.add_argument("--truncate", action="store_true", help="cut over-long rows to --max-length tokens")
    lengths.add_argument(
        "--chunk", action="store_true", help="split over-long rows into sliding windows; their logits are averaged"
    )
    seq.add_argument(
        "--chunk-overlap",
        type=int,
        default=None,
        help="nucleotides shared by consecutive chunks (default: half a chunk)",
    )
    seq.add_argument(
        "--rc-average", action="store_true", help="average the logits of each test sequence and its reverse complement"
    )

    misc = parser.add_argument_group("housekeeping")
    misc.add_argument("--keep-checkpoints", action="store_true", help="keep the Trainer's per-run checkpoints")
    misc.add_argument("--num-workers", type=int, default=0, help="dataloader workers")
    misc.add_argument("--logging-steps", type=int, default=50)
    misc.add_argument("--quiet", action="store_true", help="no progress bars")


def training_overrides(args) -> dict:
    """FinetuneConfig fields from the shared options."""
    length_mode = "truncate" if args.truncate else "chunk" if args.chunk else "error"
    return dict(
        method=args.method,
        lora_r=args.lora_r,
        lora_alpha=args.lora_alpha,
        lora_dropout=args.lora_dropout,
        lora_target_modules=args.lora_target_modules,
        learning_rate=args.learning_rate,
        batch_size=args.batch_size,
        eval_batch_size=args.eval_batch_size,
        epochs=args.epochs,
        max_steps=args.max_steps,
        warmup=args.warmup,
        weight_decay=args.weight_decay,
        lr_scheduler=args.lr_scheduler,
        bf16=args.bf16,
        gradient_checkpointing=args.gradient_checkpointing,
        seeds=args.seeds,
        folds=args.folds,
        validation_fraction=args.validation_fraction,
        split_seed=args.split_seed,
        patience=args.patience,
        eval_steps=args.eval_steps,
        metric=args.metric,
        dedup=args.dedup,
        max_length=args.max_length,
        length_mode=length_mode,
        chunk_overlap=args.chunk_overlap,
        rc_average=args.rc_average,
        keep_checkpoints=args.keep_checkpoints,
        num_workers=args.num_workers,
        logging_steps=args.logging_steps,
        progress=not args.quiet,
    )


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--model", required=True, help="pretrained checkpoint folder or Hub id (masked-LM or classifier)"
    )
    parser.add_argument("--output-dir", required=True, help="where the results and the fine-tuned model go")
    data = parser.add_argument_group("data (an NT task, or local files)")
    data.add_argument(
        "--task", default=None, help="NT task name, e.g. promoter_all (downloaded from the Hub unless --data-dir)"
    )
    data.add_argument("--benchmark", choices=BENCHMARKS, default=REVISED, help="NT task set (default: revised)")
    data.add_argument("--hub-dataset", default=None, help="override the Hub dataset of the task")
    data.add_argument("--data-dir", default=None, help="folder with <task>/train.<ext> and <task>/test.<ext>")
    data.add_argument("--train-file", default=None)
    data.add_argument("--test-file", default=None)
    data.add_argument("--validation-file", default=None, help="default: a split carved from the training file")
    parser.add_argument("--no-save-model", action="store_true", help="write the results only, not the fine-tuned model")
    add_training_arguments(parser)


def run(args) -> int:
    from fgm.training.finetune import FinetuneConfig, finetune

    if args.task is None and (args.train_file is None or args.test_file is None):
        raise SystemExit("fgm finetune: give --task NAME (NT benchmark) or both --train-file and --test-file")
    cfg = FinetuneConfig(
        model=args.model,
        output_dir=args.output_dir,
        task=args.task,
        benchmark=args.benchmark,
        hub_dataset=args.hub_dataset,
        data_dir=args.data_dir,
        train_file=args.train_file,
        test_file=args.test_file,
        validation_file=args.validation_file,
        save_model=not args.no_save_model,
        **training_overrides(args),
    )
    results = finetune(cfg)
    from fgm.training.reports import format_score

    metric = results["headline_metric"]
    print(
        f"{results['task']}: test {metric} {format_score(results['summary'][metric])} "
        f"over {results['n_runs']} run(s); results in {args.output_dir}/results.md"
    )
    return 0
