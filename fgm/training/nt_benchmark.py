"""The NT benchmark runner: fine-tune and score one checkpoint on a list of NT tasks, task by task.

Each task is a `finetune` job writing `output_dir/<task>/results.json`; a task whose file exists is
not run again, so an interrupted benchmark resumes where it stopped. The scores go into one table
next to published numbers (`output_dir/nt_benchmark_<set>.md` and `.json`).
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

from .finetune import FinetuneConfig, _is_main_process, finetune
from .nt_tasks import (
    PUBLISHED_MODELS,
    PUBLISHED_SOURCES,
    REVISED,
    NTTask,
    load_published,
    published_score,
    resolve_tasks,
)
from .reports import RESULTS_JSON, benchmark_table, write_json
from .task_data import find_task_files

logger = logging.getLogger(__name__)


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
    model: str,
    tasks="all",
    benchmark: str = REVISED,
    data_dir=None,
    output_dir="runs/nt_benchmark",
    published=None,
    **overrides,
) -> dict:
    """Fine-tune and score `model` on NT tasks in sequence; resumable task by task.

    Each task writes `output_dir/<task>/results.json`; a task whose file exists is not run again.
    With `data_dir`, task data comes from `data_dir/<task>/train.*` and `data_dir/<task>/test.*`
    (see `fgm.training.task_data.find_task_files`), otherwise from the Hub.
    `published`: optional CSV (task,model,value[,source]) of published numbers for the comparison
    columns (see `fgm.training.nt_tasks.load_published`).
    Writes `output_dir/nt_benchmark_<benchmark>.md` and `.json`; returns the JSON payload."""
    out = Path(output_dir)
    out.mkdir(parents=True, exist_ok=True)
    overrides.setdefault("save_model", False)
    selected = benchmark_tasks(tasks, benchmark, data_dir)
    if published:
        extra, sources = load_published(published)
        sources = sources or [f"user-supplied file {published} (no source column)"]
    else:
        extra, sources = {}, list(PUBLISHED_SOURCES.get(benchmark, []))
    rows = []
    for i, task in enumerate(selected):
        task_dir = out / task.name
        results_path = task_dir / RESULTS_JSON
        if results_path.exists():
            logger.info("[%d/%d] %s: results exist (%s), skipped", i + 1, len(selected), task.name, results_path)
            results = json.loads(results_path.read_text())
        else:
            logger.info("[%d/%d] %s: fine-tuning", i + 1, len(selected), task.name)
            cfg = FinetuneConfig(
                model=model,
                output_dir=str(task_dir),
                task=task.name,
                benchmark=benchmark,
                data_dir=data_dir,
                **overrides,
            )
            results = finetune(cfg)
        metric = task.headline_metric
        rows.append(
            {
                "task": task.name,
                "metric": metric,
                "score": results["summary"][metric],
                "all_metrics": results["summary"],
                "n_test": results["data"]["n_test"],
                "published": {m: published_score(benchmark, task.name, m, extra) for m in PUBLISHED_MODELS},
            }
        )
    payload = {
        "benchmark": benchmark,
        "model": model,
        "data_dir": str(data_dir) if data_dir else None,
        "rows": rows,
        "published_sources": sources,
    }
    table = benchmark_table(rows, benchmark, sources, model=model, data_dir=data_dir)
    if _is_main_process():
        write_json(out / f"nt_benchmark_{benchmark}.json", payload)
        (out / f"nt_benchmark_{benchmark}.md").write_text(table)
    payload["table"] = table
    return payload
