"""Result files of fine-tuning runs: `results.json` / `results.md` per task (`FinetuneResult`), and the benchmark
table (`NTBenchmarkResult`, `nt_benchmark_<set>.json` / `.md`).

Scores are reported as the NT paper does: mean ± 2 standard deviations over runs (folds x seeds).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from ..results import RECORD, Record, optional
from .finetune_arguments import FinetuneModelArguments, FinetuningArguments, TaskArguments
from .metrics import REPORTED_METRICS, ClassificationScores, MetricSummary, ScoreSummaries
from .nt_tasks import PUBLISHED_MODELS
from .task_data import DedupStats

RESULTS_JSON, RESULTS_MD = "results.json", "results.md"


# ------------------------------------------------------------------------------------------------ one task


@RECORD
class SplitCounts(Record):
    """A number per split of the task (validation: only where the task has a validation split of its own)."""

    train: int
    test: int
    validation: int | None = optional()


@RECORD
class TaskDataSummary(Record):
    """The task's data: where it came from, its rows per split (after `--dedup`; n_validation None: carved from
    train), the longest input in tokens, and the rows chunked or truncated to fit it."""

    source: str
    n_train: int
    n_validation: int | None
    n_test: int
    dedup: DedupStats
    max_tokens: int
    chunked_rows: SplitCounts
    truncated_rows: SplitCounts


@RECORD
class RunResult(Record):
    """One run (a seed, and with cross-validation a fold): its rows, its test scores, the validation scores of the
    checkpoint it kept (`best_step`; None: the last), and how long it trained."""

    fold: int | None
    seed: int
    n_train: int
    n_validation: int
    test: ClassificationScores
    validation: ClassificationScores
    best_step: int | None
    steps: int
    epochs: float


@RECORD
class JobArguments(Record):
    """The options the job ran with, as `dataclasses.asdict` (model, data) and `TrainingArguments.to_dict` (training)
    write them: a record of the run, not read back into options."""

    model: dict[str, Any]
    data: dict[str, Any]
    training: dict[str, Any]


@RECORD
class FinetuneResult(Record):
    """`results.json` of `fgm finetune` (and of each task of `fgm benchmark nt`): the task, the checkpoint
    fine-tuned (`model`), every run's scores and their summary per metric, the folder of the best run's model
    (None: not kept) and the options."""

    redo = ("run `fgm finetune` again into a new --output_dir (`fgm benchmark nt` fine-tunes a task again once its "
            "folder is deleted)")

    task: str
    benchmark: str | None
    model: str
    headline_metric: str
    num_labels: int
    label_names: list[str]
    data: TaskDataSummary
    n_runs: int
    runs: list[RunResult]
    summary: ScoreSummaries
    model_dir: str | None
    arguments: JobArguments

    def summary_of(self, metric: str) -> MetricSummary:
        """The summary over runs of one of `REPORTED_METRICS`."""
        if metric not in REPORTED_METRICS:
            raise ValueError(f"{metric!r} is not one of the reported metrics {REPORTED_METRICS}")
        return getattr(self.summary, metric)


def format_score(summary: MetricSummary | None, digits: int = 3) -> str:
    if summary is None or summary.n == 0 or math.isnan(summary.mean):
        return "n/a"
    return f"{summary.mean:.{digits}f} ± {summary.two_sd:.{digits}f}"


def results_markdown(results: FinetuneResult, model_args: FinetuneModelArguments, data_args: TaskArguments,
                     training_args: FinetuningArguments) -> str:
    """`results.md`: the job, each metric's summary over runs, then every run."""
    head, data = results.headline_metric, results.data
    lines = [
        f"# Fine-tuning results: {results.task}",
        "",
        f"- model: `{results.model}`",
        f"- data: {data.source} (train {data.n_train}, "
        f"validation {data.n_validation or 'carved from train'}, test {data.n_test})",
        f"- classes: {results.num_labels} ({', '.join(results.label_names)})",
        f"- method: {model_args.method}; runs: {results.n_runs} "
        f"({training_args.folds or 'no'} folds x {len(training_args.seeds)} seed(s)); "
        f"reverse-complement averaging at test: {'yes' if data_args.rc_average else 'no'}",
        "",
        "Test-set scores, mean ± 2 standard deviations over runs (F1: binary for 2 classes, macro for more).",
        "",
        "| metric | mean ± 2 sd | runs |",
        "| --- | --- | --- |",
    ]
    for metric in REPORTED_METRICS:
        label = f"**{metric}** (headline)" if metric == head else metric
        summary = results.summary_of(metric)
        lines.append(f"| {label} | {format_score(summary)} | {summary.n} |")
    lines += [
        "",
        "| run | fold | seed | "
        + " | ".join(f"test {m}" for m in REPORTED_METRICS)
        + f" | validation {head} | epochs |",
    ]
    lines.append("| --- " * (5 + len(REPORTED_METRICS)) + "|")
    for i, run in enumerate(results.runs):
        scores = " | ".join(f"{getattr(run.test, m):.4f}" for m in REPORTED_METRICS)
        fold = "-" if run.fold is None else run.fold
        lines.append(f"| {i} | {fold} | {run.seed} | {scores} | {getattr(run.validation, head):.4f} | "
                     f"{run.epochs:.2f} |")
    return "\n".join(lines) + "\n"


def write_results(out: Path, results: FinetuneResult, model_args: FinetuneModelArguments, data_args: TaskArguments,
                  training_args: FinetuningArguments) -> None:
    results.save(out / RESULTS_JSON)
    (out / RESULTS_MD).write_text(results_markdown(results, model_args, data_args, training_args))


# ------------------------------------------------------------------------------------------------ the benchmark


@RECORD
class NTBenchmarkRow(Record):
    """One task of the benchmark: its headline `metric`'s summary over runs (`score`), every metric's, the test
    sequences, and the published score of each of `PUBLISHED_MODELS` (None: none published)."""

    task: str
    metric: str
    score: MetricSummary
    all_metrics: ScoreSummaries
    n_test: int
    published: dict[str, float | None]


@RECORD
class NTBenchmarkResult(Record):
    """`nt_benchmark_<set>.json` of `fgm benchmark nt`: the set, the checkpoint, the local task folders (None: the
    Hub), one row per task, and the sources of the published numbers."""

    redo = "run `fgm benchmark nt` again (each task whose results.json exists is read, not fine-tuned again)"

    benchmark: str
    model: str
    data_dir: str | None
    rows: list[NTBenchmarkRow]
    published_sources: list[str]

    @property
    def table(self) -> str:
        """The markdown table, `nt_benchmark_<set>.md`."""
        return benchmark_table(self)


def benchmark_table(result: NTBenchmarkResult) -> str:
    """Markdown table: task, metric, FGM mean ± 2 sd, n test, then the published models."""
    data = (
        f"local files in `{result.data_dir}` (`<task>/train.*`, `<task>/test.*`); the published numbers refer to the "
        "Hub datasets, so they are comparable only if these files are the NT data"
        if result.data_dir
        else "the NT datasets from the Hugging Face Hub"
    )
    lines = [
        f"# NT benchmark ({result.benchmark} set)",
        "",
        *([f"- model: `{result.model}`"] if result.model else []),
        f"- data: {data}",
        "- FGM: test-set score of the task's headline metric, mean ± 2 standard deviations over runs "
        "(folds x seeds); n test = test sequences.",
        "- published columns: see the sources below; n/a = no published number available.",
        "",
        "| task | metric | FGM (mean ± 2 sd) | runs | n test | " + " | ".join(PUBLISHED_MODELS) + " |",
        "| --- " * (5 + len(PUBLISHED_MODELS)) + "|",
    ]
    for row in result.rows:
        published = []
        for name in PUBLISHED_MODELS:
            value = row.published.get(name)
            published.append("n/a" if value is None else f"{value:.3f}")
        lines.append(
            f"| {row.task} | {row.metric} | {format_score(row.score)} | {row.score.n} "
            f"| {row.n_test} | " + " | ".join(published) + " |"
        )
    lines += ["", "Sources of the published numbers:", ""]
    lines += [f"- {source}" for source in result.published_sources or ["none recorded for this benchmark set"]]
    return "\n".join(lines) + "\n"
