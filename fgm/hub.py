"""Complete, Hub-loadable checkpoint folders: weights (safetensors), config with the full auto_map,
tokenizer, the remote-code files and a model card; and pushing such a folder to the Hub.

A folder written here loads with `AutoModel*.from_pretrained(folder, trust_remote_code=True)` in a
process where `fgm` is not installed.
"""

import json
import shutil
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent
REMOTE_CODE_FILES = ("configuration_fgm.py", "modeling_fgm.py", "tokenization_fgm.py")
AUTO_MAP = {
    "AutoConfig": "configuration_fgm.FGMConfig",
    "AutoModel": "modeling_fgm.FGMModel",
    "AutoModelForMaskedLM": "modeling_fgm.FGMForMaskedLM",
    "AutoModelForSequenceClassification": "modeling_fgm.FGMForSequenceClassification",
    "AutoModelForTokenClassification": "modeling_fgm.FGMForTokenClassification",
}
TOKENIZER_AUTO_MAP = {"AutoTokenizer": ["tokenization_fgm.FGMTokenizer", None]}
MODEL_CARD_TEMPLATE = PACKAGE_DIR / "model_card.md"


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


def save_checkpoint(model, tokenizer, out_dir, details: dict | None = None) -> Path:
    """Write `model` and `tokenizer` as a self-contained, Hub-loadable folder; returns the folder."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    model.config.auto_map = dict(AUTO_MAP)
    model.save_pretrained(out_dir)
    tokenizer.save_pretrained(out_dir)
    write_remote_code(out_dir)
    (out_dir / "README.md").write_text(render_model_card(model.config, details))
    return out_dir


def write_remote_code(out_dir) -> None:
    """Copy the remote-code files and point the tokenizer config at them (idempotent)."""
    for name in REMOTE_CODE_FILES:
        shutil.copyfile(PACKAGE_DIR / name, Path(out_dir) / name)
    tokenizer_config = Path(out_dir) / "tokenizer_config.json"
    if tokenizer_config.exists():
        data = json.loads(tokenizer_config.read_text())
        data["auto_map"] = TOKENIZER_AUTO_MAP
        tokenizer_config.write_text(json.dumps(data, indent=2) + "\n")


def push_checkpoint(folder, repo_id: str, private: bool = False, token: str | None = None, commit_message=None):
    """Upload a checkpoint folder to the Hub with `huggingface_hub` (needs network and a token)."""
    from huggingface_hub import HfApi

    api = HfApi(token=token)
    api.create_repo(repo_id, private=private, exist_ok=True)
    return api.upload_folder(
        folder_path=str(folder), repo_id=repo_id, commit_message=commit_message or "Upload FGM checkpoint"
    )
