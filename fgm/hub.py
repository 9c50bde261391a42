"""Hub uploads of FGM checkpoint folders, with the evaluation results found beside them in the model card.

The card itself is `fgm.model_card`, which training writes into every checkpoint; the evaluation section
reads the result files of the top rooms (NT fine-tuning, VEP), so it lives here, above them.
"""

import json
from dataclasses import dataclass, field
from pathlib import Path

from .checkpoints import checkpoint_argument
from .model_card import NO_EVALUATION, render_model_card
from .offline import hub_offline

NT_BENCHMARK_FILES = "nt_benchmark_*.json"  # `fgm benchmark nt`
RESULTS_FILES = "results.json"  # `fgm finetune` and `fgm benchmark vep`


@dataclass
class PushArguments:
    """The options of `push_checkpoint` (`fgm push`)."""

    model_name_or_path: str = checkpoint_argument("checkpoint folder to upload")
    repo_id: str = field(metadata={"help": "Hub repository, e.g. me/fgm-yeast (created if missing)"})
    results: list[str] = field(
        default_factory=list, metadata={"help": "more result files or folders (fgm finetune / benchmark nt / "
                                        "benchmark vep outputs) for the model card"})
    private: bool = field(default=False, metadata={"help": "create the repository as private"})
    token: str | None = field(default=None, metadata={"help": "Hub token (default: the logged-in one)"})
    commit_message: str | None = field(default=None, metadata={"help": "default: Upload FGM checkpoint"})


def read_result(path: Path):
    """The result saved at `path`: an `NTBenchmarkResult` (nt_benchmark_*.json), else a `VepBenchmarkResult` or a
    `FinetuneResult` by its keys. A file that does not fit its type is refused, saying how to redo it."""
    from .training.reports import FinetuneResult, NTBenchmarkResult
    from .variants.benchmark import VepBenchmarkResult

    if path.match(NT_BENCHMARK_FILES):
        return NTBenchmarkResult.load(path)
    try:
        data = json.loads(path.read_text())
    except ValueError as error:
        raise ValueError(f"{path} is not a JSON file of FGM results ({error})") from None
    return (VepBenchmarkResult if isinstance(data, dict) and "auroc" in data else FinetuneResult).load(path)


def evaluation_section(paths) -> str:
    """Markdown tables of the `fgm benchmark nt`, `fgm finetune` and `fgm benchmark vep` results in `paths`: files,
    or folders searched recursively for `results.json` and `nt_benchmark_*.json`."""
    from .training.reports import NTBenchmarkResult, format_score
    from .variants.benchmark import VepBenchmarkResult, results_table

    found = []
    for path in map(Path, paths):
        found += sorted({*path.rglob(RESULTS_FILES), *path.rglob(NT_BENCHMARK_FILES)}) if path.is_dir() else [path]
    nt_rows, vep = [], []
    for result in map(read_result, found):
        if isinstance(result, NTBenchmarkResult):
            nt_rows += [(row.task, row.metric, format_score(row.score), row.n_test) for row in result.rows]
        elif isinstance(result, VepBenchmarkResult):
            vep.append(result)
        else:
            metric = result.headline_metric
            nt_rows.append((result.task, metric, format_score(result.summary_of(metric)), result.data.n_test))
    parts = []
    if nt_rows:
        lines = ["| task | metric | test score (mean ± 2 sd) | test sequences |", "| --- | --- | --- | --- |"]
        parts.append("\n".join(lines + [f"| {t} | {m} | {s} | {n} |" for t, m, s, n in dict.fromkeys(nt_rows)]))
    if vep:
        parts.append("Zero-shot variant effect prediction (`fgm benchmark vep`):\n\n" + results_table(vep).rstrip())
    return "\n\n".join(parts) or NO_EVALUATION


def push_checkpoint(args: PushArguments):
    """Upload the checkpoint folder `args.model_name_or_path` to the Hub repository `args.repo_id` with
    `huggingface_hub`, after writing the NT and VEP results found in the folder (and in `args.results`) into its
    model card; returns the upload's commit. Needs network and a token."""
    from huggingface_hub import HfApi
    from huggingface_hub.errors import HfHubHTTPError, HTTPError
    from transformers import AutoConfig

    from .checkpoints import require_checkpoint

    folder, repo_id = Path(require_checkpoint(args.model_name_or_path)), args.repo_id
    if not (folder / "config.json").is_file():
        raise FileNotFoundError(f"{folder} is not a checkpoint folder (no config.json)")
    if hub_offline():
        raise ConnectionError(f"cannot push {folder} to {repo_id!r}: the Hugging Face Hub is switched off here "
                              "(HF_HUB_OFFLINE / HF_DATASETS_OFFLINE / TRANSFORMERS_OFFLINE is set)")
    evaluation = evaluation_section([folder, *args.results])
    card = folder / "README.md"
    if card.exists() and "\n## Evaluation\n" in card.read_text():
        head, rest = card.read_text().split("\n## Evaluation\n", 1)
        tail = rest[rest.find("\n## ") :] if "\n## " in rest else "\n"
        card.write_text(f"{head}\n## Evaluation\n\n{evaluation}\n{tail}")
    else:
        card.write_text(render_model_card(AutoConfig.from_pretrained(folder), evaluation=evaluation))
    api = HfApi(token=args.token)
    try:
        api.create_repo(repo_id, private=args.private, exist_ok=True)
        return api.upload_folder(
            folder_path=str(folder), repo_id=repo_id, commit_message=args.commit_message or "Upload FGM checkpoint"
        )
    except HfHubHTTPError:
        raise  # the Hub answered (a bad token, a repository of someone else): its message says what is wrong
    except HTTPError as err:  # no answer: no network, a proxy, DNS, a timeout
        raise ConnectionError(f"cannot push {folder} to {repo_id!r}: the Hugging Face Hub cannot be reached "
                              f"({type(err).__name__}: {err}); check the network connection") from err
