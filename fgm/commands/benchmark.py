"""`fgm benchmark nt`: fine-tune and score a checkpoint on the NT benchmark, task by task.

    fgm benchmark nt --model CKPT --tasks all --output-dir runs/nt            # from the Hub
    fgm benchmark nt --model CKPT --tasks all --data-dir DIR --output-dir runs/nt  # local files

Local layout: DIR/<task>/train.<ext> and DIR/<task>/test.<ext> (optionally DIR/<task>/validation.<ext>),
<ext> one of csv, tsv, parquet, jsonl, fna; or save_to_disk folders DIR/<task>/train/, DIR/<task>/test/.
With --data-dir, `--tasks all` runs the tasks that have a folder there.
Resumable: a task whose OUTPUT/<task>/results.json exists is skipped. The table goes to
OUTPUT/nt_benchmark_<set>.md (and .json).
"""

from __future__ import annotations

import argparse

from fgm.commands.finetune import add_training_arguments, training_overrides
from fgm.training.nt_tasks import BENCHMARKS, REVISED


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("suite", choices=("nt",), help="benchmark suite (nt: Nucleotide Transformer downstream tasks)")
    parser.add_argument("--model", required=True, help="pretrained checkpoint folder or Hub id")
    parser.add_argument("--tasks", default="all", help="'all' or a comma-separated list of task names")
    parser.add_argument("--benchmark", choices=BENCHMARKS, default=REVISED, help="task set (default: revised)")
    parser.add_argument("--data-dir", default=None, help="local task folders (see above) instead of the Hub")
    parser.add_argument("--output-dir", default="runs/nt_benchmark")
    parser.add_argument("--published", default=None, help="CSV task,model,value[,source] of published numbers to show")
    parser.add_argument("--save-models", action="store_true", help="also keep each task's fine-tuned model")
    add_training_arguments(parser)


def run(args) -> int:
    from fgm.training.nt_benchmark import run_nt_benchmark

    payload = run_nt_benchmark(
        args.model,
        tasks=args.tasks,
        benchmark=args.benchmark,
        data_dir=args.data_dir,
        output_dir=args.output_dir,
        published=args.published,
        save_model=args.save_models,
        **training_overrides(args),
    )
    print(payload["table"])
    return 0
