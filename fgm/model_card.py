"""The model card (`README.md`) of an FGM checkpoint folder: `model_card.md` filled with the architecture,
the training details and any evaluation results.

`save_pretrained` (model and tokenizer) already writes a complete, Hub-loadable folder; the card adds the
human-readable part. Training writes it into every checkpoint; `fgm push` (`fgm.hub`) adds the results.
"""

from pathlib import Path

MODEL_CARD_TEMPLATE = Path(__file__).resolve().parent / "model_card.md"
NO_EVALUATION = "No results recorded yet (`fgm push` lists the NT and VEP results it finds in the folder)."


def render_model_card(config, details: dict | None = None, evaluation: str | None = None) -> str:
    """The model card template filled with the architecture, any training details and evaluation results."""
    details = details or {}
    detail_rows = "\n".join(f"| {key} | {value} |" for key, value in details.items()) or "| (none recorded) | |"
    counts = {t: config.layer_types.count(t) for t in ("full_attention", "sliding_attention")}
    stages = getattr(config, "unet_stages", 0)
    unet = (f"{stages} stages: {config.unet_block} bases per trunk token, channels "
            f"{' -> '.join(map(str, config.unet_widths))}" if stages else "none (a flat model)")
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
        unet=unet,
        training_details=detail_rows,
        evaluation=evaluation or NO_EVALUATION,
    )


def write_model_card(folder, config, details: dict | None = None) -> Path:
    """`README.md` of a checkpoint folder."""
    path = Path(folder) / "README.md"
    path.write_text(render_model_card(config, details))
    return path
