"""Training: NT benchmark registry, task data, metrics, pretraining, fine-tuning and the benchmark runner.

Importing it imports transformers' `TrainingArguments`, which the argument dataclasses extend.
`run_finetune` is `fgm.training.finetune.finetune`.
"""

from .finetune import finetune as run_finetune  # `fgm.training.finetune` stays the module
from .finetune_arguments import FinetuneModelArguments, FinetuningArguments, TaskArguments, TaskDataArguments
from .metrics import classification_metrics, load_metric, make_compute_metrics, summarize_runs
from .nt_benchmark import BenchmarkArguments, BenchmarkTrainingArguments, benchmark_tasks, run_nt_benchmark
from .nt_tasks import BENCHMARKS, HUB_DATASETS, NT_TASKS, NTTask, get_task, list_tasks, resolve_tasks
from .task_data import (
    DataFormatError,
    HubUnavailableError,
    TaskData,
    deduplicate,
    encode_labels,
    find_task_files,
    kfold_indices,
    load_hub_task,
    load_task_data,
    read_split,
    split_train_validation,
)
from .task_encoding import SequenceTooLongError, encode_split

__all__ = [
    "BENCHMARKS",
    "HUB_DATASETS",
    "NT_TASKS",
    "NTTask",
    "get_task",
    "list_tasks",
    "resolve_tasks",
    "DataFormatError",
    "HubUnavailableError",
    "TaskData",
    "deduplicate",
    "encode_labels",
    "find_task_files",
    "kfold_indices",
    "load_hub_task",
    "load_task_data",
    "read_split",
    "split_train_validation",
    "classification_metrics",
    "load_metric",
    "make_compute_metrics",
    "summarize_runs",
    "FinetuneModelArguments",
    "FinetuningArguments",
    "TaskArguments",
    "TaskDataArguments",
    "BenchmarkArguments",
    "BenchmarkTrainingArguments",
    "SequenceTooLongError",
    "benchmark_tasks",
    "encode_split",
    "run_finetune",
    "run_nt_benchmark",
]
