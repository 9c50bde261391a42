"""Model cards and Hub uploads for FGM checkpoint folders.

`save_pretrained` (model and tokenizer) already writes a complete, Hub-loadable folder; this module adds
the human-readable card and the upload.
"""

import os
from pathlib import Path

MODEL_CARD_TEMPLATE = Path(__file__).resolve().parent / "model_card.md"


def hub_offline() -> bool:
    """Whether the user switched the Hugging Face Hub off: any of the offline variables, read at call time."""
    variables = ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE", "TRANSFORMERS_OFFLINE")
    return any(os.environ.get(v, "").strip().lower() in {"1", "true", "yes", "on"} for v in variables)


def render_model_card(config, details: dict | None = None) -> str:
    """The model card template filled with the architecture and any training details given."""
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
    )


def write_model_card(folder, config, details: dict | None = None) -> Path:
    """`README.md` of a checkpoint folder."""
    path = Path(folder) / "README.md"
    path.write_text(render_model_card(config, details))
    return path


def push_checkpoint(folder, repo_id: str, private: bool = False, token: str | None = None, commit_message=None):
    """Upload a checkpoint folder to the Hub with `huggingface_hub` (needs network and a token)."""
    from huggingface_hub import HfApi

    api = HfApi(token=token)
    api.create_repo(repo_id, private=private, exist_ok=True)
    return api.upload_folder(
        folder_path=str(folder), repo_id=repo_id, commit_message=commit_message or "Upload FGM checkpoint"
    )
