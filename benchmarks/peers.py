"""What the benchmarks share: FGM and transformers' ModernBERT and ESM (Nucleotide Transformer v2 shape) with the
same width, depth, heads, vocabulary and local window; a masked-LM batch; the hash of the FGM code measured.

Models (`name`), in the shape of FGM preset `preset`:
  fgm           FGMForMaskedLM (2 sliding layers, then 1 full, repeated)
  fgm-gc        the same with gradient checkpointing
  fgm-sliding   FGM with every layer sliding (shows linear memory growth)
  modernbert    ModernBertForMaskedLM, local_attention = FGM's sliding_window, global_attn_every_n_layers=3,
                GeGLU intermediate_size = FGM's (the same MLP shape as FGM's SwiGLU), sparse_prediction=True
  esm           EsmForMaskedLM in the NT v2 shape: rotary, emb_layer_norm_before=False, token_dropout=False,
                no dropout, untied LM head (as NT v2); plain GELU MLP 1.5x FGM's width, so that the encoder
                has FGM's parameter count
"""

from __future__ import annotations

import hashlib
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
VOCAB = 4107
MODELS = ("fgm", "fgm-gc", "fgm-sliding", "modernbert", "esm")


def fgm_config(preset: str, **overrides):
    sys.path.insert(0, str(REPO))
    from fgm.model.configuration_fgm import FGMConfig

    return FGMConfig.preset(preset, **overrides)


def build_model(name: str, preset: str = "small", attn_implementation: str = "sdpa", max_positions: int = 32768):
    """One of MODELS with FGM preset `preset`'s shape and attention backend `attn_implementation`."""
    import torch

    torch.manual_seed(0)
    shape = fgm_config(preset)
    if name in ("fgm", "fgm-gc", "fgm-sliding"):
        from fgm.model.modeling_fgm import FGMForMaskedLM

        overrides = {"layer_types": ["sliding_attention"] * shape.num_hidden_layers} if name == "fgm-sliding" else {}
        config = fgm_config(preset, **overrides)
        config._attn_implementation = attn_implementation
        model = FGMForMaskedLM(config)
        if name == "fgm-gc":
            # transformers >= 5.2x renames it activation_checkpointing_enable (the old name warns).
            getattr(model, "activation_checkpointing_enable", model.gradient_checkpointing_enable)()
        return model
    common = dict(
        vocab_size=VOCAB,
        hidden_size=shape.hidden_size,
        num_hidden_layers=shape.num_hidden_layers,
        num_attention_heads=shape.num_attention_heads,
        max_position_embeddings=max_positions,
        pad_token_id=1,
    )
    if name == "modernbert":
        from transformers import ModernBertConfig, ModernBertForMaskedLM

        config = ModernBertConfig(
            **common,
            intermediate_size=shape.intermediate_size,
            local_attention=shape.sliding_window,
            global_attn_every_n_layers=3,
            sparse_prediction=True,
            cls_token_id=3,
            sep_token_id=4,
            eos_token_id=4,
            bos_token_id=5,
        )
        config._attn_implementation = attn_implementation
        return ModernBertForMaskedLM(config)
    if name == "esm":
        from transformers import EsmConfig, EsmForMaskedLM

        config = EsmConfig(
            **common,
            intermediate_size=3 * shape.intermediate_size // 2,
            position_embedding_type="rotary",
            emb_layer_norm_before=False,
            token_dropout=False,
            hidden_dropout_prob=0.0,
            attention_probs_dropout_prob=0.0,
            layer_norm_eps=1e-12,
            tie_word_embeddings=False,
            mask_token_id=2,
        )
        config._attn_implementation = attn_implementation
        return EsmForMaskedLM(config)
    raise SystemExit(f"unknown model {name!r}; choose from {', '.join(MODELS)}")


def make_batch(length: int, batch: int = 1, seed: int = 0):
    """<cls> + random 6-mer ids (6..4101); 15% of the positions masked and labelled (-100 elsewhere)."""
    import torch

    g = torch.Generator().manual_seed(seed)
    ids = torch.randint(6, 6 + 4**6, (batch, length), generator=g)
    ids[:, 0] = 3
    labels = torch.full_like(ids, -100)
    for row in range(batch):
        positions = torch.randperm(length - 1, generator=g)[: round(0.15 * length)] + 1
        labels[row, positions] = ids[row, positions]
        ids[row, positions] = 2
    return ids, labels


def fgm_source_hash() -> str:
    """sha256 (12 hex digits) of the FGM model code, so a results file says which code it measured."""
    digest = hashlib.sha256()
    for name in ("modeling_fgm.py", "attention_fgm.py", "configuration_fgm.py"):
        path = REPO / "fgm" / "model" / name
        digest.update(path.read_bytes() if path.exists() else b"")
    return digest.hexdigest()[:12]
