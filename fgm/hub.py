"""Hub uploads of FGM checkpoint folders, with the evaluation results found beside them in the model card.

The card itself is `fgm.model_card`, which training writes into every checkpoint; the evaluation section
reads the result files of the top rooms (NT fine-tuning, VEP), so it lives here, above them.
"""

import json
from pathlib import Path

from .model_card import NO_EVALUATION, render_model_card
from .offline import hub_offline


def evaluation_section(paths) -> str:
    """Markdown tables of the `fgm benchmark nt`, `fgm finetune` and `fgm benchmark vep` results (JSON files)
    found in `paths` (files or folders, searched recursively)."""
    from .training.reports import format_score
    from .variants.benchmark import results_table

    found = []
    for path in map(Path, paths):
        found += sorted(path.rglob("*.json")) if path.is_dir() else [path]
    nt_rows, vep = [], []
    for path in found:
        try:
            data = json.loads(path.read_text())
        except (OSError, ValueError):
            continue
        if not isinstance(data, dict):
            continue
        if "rows" in data and "benchmark" in data:  # fgm benchmark nt
            nt_rows += [(row["task"], row["metric"], format_score(row["score"]), row["n_test"]) for row in data["rows"]]
        elif "headline_metric" in data and "summary" in data:  # fgm finetune
            metric = data["headline_metric"]
            nt_rows.append((data["task"], metric, format_score(data["summary"][metric]), data["data"]["n_test"]))
        elif "auroc" in data and "tail_odds_ratio" in data:  # fgm benchmark vep
            vep.append(data)
    parts = []
    if nt_rows:
        lines = ["| task | metric | test score (mean ± 2 sd) | test sequences |", "| --- | --- | --- | --- |"]
        parts.append("\n".join(lines + [f"| {t} | {m} | {s} | {n} |" for t, m, s, n in dict.fromkeys(nt_rows)]))
    if vep:
        parts.append("Zero-shot variant effect prediction (`fgm benchmark vep`):\n\n" + results_table(vep).rstrip())
    return "\n\n".join(parts) or NO_EVALUATION


def push_checkpoint(folder, repo_id: str, private: bool = False, token: str | None = None, results=(),
                    commit_message=None):
    """Upload a checkpoint folder to the Hub with `huggingface_hub`, after writing the NT and VEP results
    found in the folder (and in `results`) into its model card. Needs network and a token."""
    from huggingface_hub import HfApi
    from huggingface_hub.errors import HfHubHTTPError, HTTPError
    from transformers import AutoConfig

    from .checkpoints import require_checkpoint

    folder = Path(require_checkpoint(folder))
    if not (folder / "config.json").is_file():
        raise FileNotFoundError(f"{folder} is not a checkpoint folder (no config.json)")
    if hub_offline():
        raise ConnectionError(f"cannot push {folder} to {repo_id!r}: the Hugging Face Hub is switched off here "
                              "(HF_HUB_OFFLINE / HF_DATASETS_OFFLINE / TRANSFORMERS_OFFLINE is set)")
    evaluation = evaluation_section([folder, *results])
    card = folder / "README.md"
    if card.exists() and "\n## Evaluation\n" in card.read_text():
        head, rest = card.read_text().split("\n## Evaluation\n", 1)
        tail = rest[rest.find("\n## ") :] if "\n## " in rest else "\n"
        card.write_text(f"{head}\n## Evaluation\n\n{evaluation}\n{tail}")
    else:
        card.write_text(render_model_card(AutoConfig.from_pretrained(folder), evaluation=evaluation))
    api = HfApi(token=token)
    try:
        api.create_repo(repo_id, private=private, exist_ok=True)
        return api.upload_folder(
            folder_path=str(folder), repo_id=repo_id, commit_message=commit_message or "Upload FGM checkpoint"
        )
    except HfHubHTTPError:
        raise  # the Hub answered (a bad token, a repository of someone else): its message says what is wrong
    except HTTPError as err:  # no answer: no network, a proxy, DNS, a timeout
        raise ConnectionError(f"cannot push {folder} to {repo_id!r}: the Hugging Face Hub cannot be reached "
                              f"({type(err).__name__}: {err}); check the network connection") from err
