"""Model cards and Hub uploads for FGM checkpoint folders.

`save_pretrained` (model and tokenizer) already writes a complete, Hub-loadable folder; this module adds
the human-readable card and the upload.
"""

import json
import os
from pathlib import Path

MODEL_CARD_TEMPLATE = Path(__file__).resolve().parent / "model_card.md"


def hub_offline() -> bool:
    """Whether the user switched the Hugging Face Hub off: any of the offline variables, read at call time."""
    variables = ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE", "TRANSFORMERS_OFFLINE")
    return any(os.environ.get(v, "").strip().lower() in {"1", "true", "yes", "on"} for v in variables)


def render_model_card(config, details: dict | None = None, evaluation: str | None = None) -> str:
    """The model card template filled with the architecture, any training details and evaluation results."""
    details = details or {}
    detail_rows = "\n".join(f"| {key} | {value} |" for key, value in details.items()) or "| (none recorded) | |"
    counts = {t: config.layer_types.count(t) for t in ("full_attention", "sliding_attention")}
    return MODEL_CARD_TEMPLATE.read_text().format(
        hidden_size=config.hidden_size,
        num_hidden_layers=config.num_hidden_layers,
        num_attention_heads=config.num_attention_heads,
        intermediate_size=config.intermediate_size,
        full_layers=counts["full_attention"],
        sliding_layers=counts["sliding_attention"],
        sliding_window=config.sliding_window,
        kmer_size=config.kmer_size,
        vocab_size=config.vocab_size,
        training_details=detail_rows,
        evaluation=evaluation or NO_EVALUATION,
    )


NO_EVALUATION = "No results recorded yet (`fgm push` lists the NT and VEP results it finds in the folder)."


def write_model_card(folder, config, details: dict | None = None) -> Path:
    """`README.md` of a checkpoint folder."""
    path = Path(folder) / "README.md"
    path.write_text(render_model_card(config, details))
    return path


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
    from transformers import AutoConfig

    folder = Path(folder)
    if not (folder / "config.json").is_file():
        raise FileNotFoundError(f"{folder} is not a checkpoint folder (no config.json)")
    if hub_offline():
        raise RuntimeError(f"cannot push {folder} to {repo_id!r}: the Hugging Face Hub is offline "
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
    api.create_repo(repo_id, private=private, exist_ok=True)
    return api.upload_folder(
        folder_path=str(folder), repo_id=repo_id, commit_message=commit_message or "Upload FGM checkpoint"
    )
