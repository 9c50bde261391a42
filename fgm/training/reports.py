"""Result files of fine-tuning runs: `results.json` / `results.md` per task, and the benchmark table.

Scores are reported as the NT paper does: mean ± 2 standard deviations over runs (folds x seeds).
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path

import numpy as np

from .metrics import REPORTED_METRICS
from .nt_tasks import PUBLISHED_MODELS, PUBLISHED_SOURCES

RESULTS_JSON, RESULTS_MD = "results.json", "results.md"


def _json_default(value):
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.floating):
        return float(value)
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"not JSON serializable: {type(value)}")


def write_json(path: Path, payload: dict) -> None:
    """Write through a temporary file, so an interrupted run never leaves a half-written file behind."""
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(payload, indent=2, default=_json_default) + "\n")
    os.replace(tmp, path)


def format_score(summary: dict | None, digits: int = 3) -> str:
    if not summary or summary.get("n", 0) == 0 or summary.get("mean") is None or math.isnan(summary["mean"]):
        return "n/a"
    return f"{summary['mean']:.{digits}f} ± {summary['two_sd']:.{digits}f}"


def results_markdown(results: dict) -> str:
    head = results["headline_metric"]
    arguments = results["arguments"]
    training = arguments["training"]
    lines = [
        f"# Fine-tuning results: {results['task']}",
        "",
        f"- model: `{results['model']}`",
        f"- data: {results['data']['source']} (train {results['data']['n_train']}, "
        f"validation {results['data']['n_validation'] or 'carved from train'}, test {results['data']['n_test']})",
        f"- classes: {results['num_labels']} ({', '.join(results['label_names'])})",
        f"- method: {arguments['model']['method']}; runs: {results['n_runs']} "
        f"({training['folds'] or 'no'} folds x {len(training['seeds'])} seed(s)); "
        f"reverse-complement averaging at test: {'yes' if arguments['data']['rc_average'] else 'no'}",
        "",
        "Test-set scores, mean ± 2 standard deviations over runs (F1: binary for 2 classes, macro for more).",
        "",
        "| metric | mean ± 2 sd | runs |",
        "| --- | --- | --- |",
    ]
    for metric in REPORTED_METRICS:
        label = f"**{metric}** (headline)" if metric == head else metric
        lines.append(f"| {label} | {format_score(results['summary'][metric])} | {results['summary'][metric]['n']} |")
    lines += [
        "",
        "| run | fold | seed | "
        + " | ".join(f"test {m}" for m in REPORTED_METRICS)
        + f" | validation {head} | epochs |",
    ]
    lines.append("| --- " * (5 + len(REPORTED_METRICS)) + "|")
    for i, run in enumerate(results["runs"]):
        scores = " | ".join(f"{run['test'][m]:.4f}" for m in REPORTED_METRICS)
        val = run["validation"].get(head)
        fold = "-" if run["fold"] is None else run["fold"]
        val_text = "n/a" if val is None else f"{val:.4f}"
        lines.append(f"| {i} | {fold} | {run['seed']} | {scores} | {val_text} | {run['epochs']:.2f} |")
    return "\n".join(lines) + "\n"


def write_results(out: Path, results: dict) -> None:
    write_json(out / RESULTS_JSON, results)
    (out / RESULTS_MD).write_text(results_markdown(results))


def benchmark_table(
    rows: list[dict], benchmark: str, sources: list[str] | None = None, model: str | None = None, data_dir=None
) -> str:
    """Markdown table: task, metric, FGM mean ± 2 sd, n test, then the published models."""
    data = (
        f"local files in `{data_dir}` (`<task>/train.*`, `<task>/test.*`); the published numbers refer to the "
        "Hub datasets, so they are comparable only if these files are the NT data"
        if data_dir
        else "the NT datasets from the Hugging Face Hub"
    )
    lines = [
        f"# NT benchmark ({benchmark} set)",
        "",
        *([f"- model: `{model}`"] if model else []),
        f"- data: {data}",
        "- FGM: test-set score of the task's headline metric, mean ± 2 standard deviations over runs "
        "(folds x seeds); n test = test sequences.",
        "- published columns: see the sources below; n/a = no published number available.",
        "",
        "| task | metric | FGM (mean ± 2 sd) | runs | n test | " + " | ".join(PUBLISHED_MODELS) + " |",
        "| --- " * (5 + len(PUBLISHED_MODELS)) + "|",
    ]
    for row in rows:
        published = []
        for name in PUBLISHED_MODELS:
            value = row["published"].get(name)
            published.append("n/a" if value is None else f"{value:.3f}")
        lines.append(
            f"| {row['task']} | {row['metric']} | {format_score(row['score'])} | {row['score']['n']} "
            f"| {row['n_test']} | " + " | ".join(published) + " |"
        )
    lines += ["", "Sources of the published numbers:", ""]
    if sources is None:
        sources = PUBLISHED_SOURCES.get(benchmark, ["none recorded for this benchmark set"])
    lines += [f"- {source}" for source in sources]
    return "\n".join(lines) + "\n"
