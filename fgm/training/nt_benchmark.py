"""The NT benchmark runner: fine-tune and score one checkpoint on a list of NT tasks, task by task.

Each task is a `finetune` job writing `OUTPUT_DIR/<task>/results.json`; a task whose file exists is
read back (`FinetuneResult.load`, which refuses a file another version wrote) instead of run again, so an
interrupted benchmark resumes where it stopped. The scores go into one table next to published numbers
(`OUTPUT_DIR/nt_benchmark_<set>.md` and `.json`, an `NTBenchmarkResult`).
"""

import logging
from dataclasses import dataclass, field, fields, replace
from pathlib import Path

from .finetune import finetune
from .finetune_arguments import FinetuneModelArguments, FinetuningArguments, TaskArguments, TaskDataArguments
from .nt_tasks import (
    PUBLISHED_MODELS,
    PUBLISHED_SOURCES,
    REVISED,
    NTTask,
    load_published,
    published_score,
    resolve_tasks,
)
from .reports import RESULTS_JSON, FinetuneResult, NTBenchmarkResult, NTBenchmarkRow
from .task_data import find_task_files

logger = logging.getLogger(__name__)


@dataclass
class BenchmarkArguments(TaskDataArguments):
    """Which NT tasks to run, and published numbers to compare with."""

    tasks: str = field(
        default="all",
        metadata={"help": "'all' (with --data_dir: every task that has a folder there) or comma-separated task names"},
    )
    published: str | None = field(
        default=None, metadata={"help": "CSV task,model,value[,source] of published numbers to show"}
    )


@dataclass
class BenchmarkTrainingArguments(FinetuningArguments):
    """`FinetuningArguments` for the benchmark: the same options, but no model is kept unless asked."""

    save_model: bool = field(
        default=False, metadata={"help": "also keep each task's best fine-tuned model (default here: off)"}
    )


def benchmark_tasks(tasks, benchmark: str = REVISED, data_dir=None) -> list[NTTask]:
    """Tasks to run: `all` (every task of the benchmark; with `data_dir`, those that have a folder
    there) or a list of names."""
    selected = resolve_tasks(tasks, benchmark)
    wants_all = tasks == "all" or tasks == ["all"] or not tasks
    if data_dir is not None and wants_all:
        present = []
        for task in selected:
            try:
                find_task_files(data_dir, task.name)
                present.append(task)
            except FileNotFoundError:
                pass
        missing = [t.name for t in selected if t not in present]
        if not present:
            raise FileNotFoundError(
                f"{data_dir} has no task folders of the {benchmark} NT benchmark "
                f"(e.g. {data_dir}/promoter_all/train.csv)"
            )
        if missing:
            logger.warning("no data in %s for %d task(s), skipped: %s", data_dir, len(missing), ", ".join(missing))
        selected = present
    return selected


def run_nt_benchmark(
    model_args: FinetuneModelArguments, benchmark_args: BenchmarkArguments, training_args: FinetuningArguments
) -> NTBenchmarkResult:
    """Fine-tune and score `model_args.model_name_or_path` on NT tasks in sequence; resumable task by task.

    With `benchmark_args.data_dir`, task data comes from `data_dir/<task>/train.*` and
    `data_dir/<task>/test.*` (see `fgm.training.task_data.find_task_files`), otherwise from the Hub.
    `benchmark_args.published`: optional CSV (task,model,value[,source]) of published numbers for the
    comparison columns (see `fgm.training.nt_tasks.load_published`).
    Writes `output_dir/nt_benchmark_<benchmark>.md` and `.json`; returns the results (`.table`: the markdown)."""
    out = Path(training_args.output_dir)
    out.mkdir(parents=True, exist_ok=True)
    benchmark, data_dir = benchmark_args.benchmark, benchmark_args.data_dir
    selected = benchmark_tasks(benchmark_args.tasks, benchmark, data_dir)
    if benchmark_args.published:
        extra, sources = load_published(benchmark_args.published)
        sources = sources or [f"user-supplied file {benchmark_args.published} (no source column)"]
    else:
        extra, sources = {}, list(PUBLISHED_SOURCES.get(benchmark, []))
    shared = {f.name: getattr(benchmark_args, f.name) for f in fields(TaskDataArguments)}
    rows = []
    for i, task in enumerate(selected):
        task_dir = out / task.name
        results_path = task_dir / RESULTS_JSON
        if results_path.exists():
            logger.info("[%d/%d] %s: results exist (%s), skipped", i + 1, len(selected), task.name, results_path)
            results = FinetuneResult.load(results_path)
        else:
            logger.info("[%d/%d] %s: fine-tuning", i + 1, len(selected), task.name)
            results = finetune(
                model_args,
                TaskArguments(task=task.name, **shared),
                replace(training_args, output_dir=str(task_dir)),
            )
        metric = task.headline_metric
        rows.append(NTBenchmarkRow(
            task=task.name,
            metric=metric,
            score=results.summary_of(metric),
            all_metrics=results.summary,
            n_test=results.data.n_test,
            published={m: published_score(benchmark, task.name, m, extra) for m in PUBLISHED_MODELS},
        ))
    result = NTBenchmarkResult(benchmark=benchmark, model=model_args.model_name_or_path,
                               data_dir=str(data_dir) if data_dir else None, rows=rows, published_sources=sources)
    if training_args.should_save:
        result.save(out / f"nt_benchmark_{benchmark}.json")
        (out / f"nt_benchmark_{benchmark}.md").write_text(result.table)
    return result
