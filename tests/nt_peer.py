"""A Nucleotide Transformer v2-shaped peer for the zero-shot tools: transformers' `EsmForMaskedLM` (rotary, no
dropout, untied head) with an `EsmTokenizer` over NT's 6-mer vocabulary, saved to a local folder so that it loads
through `AutoModelForMaskedLM` / `AutoTokenizer` offline, as a downloaded NT checkpoint would."""

from pathlib import Path

import torch
from transformers import EsmConfig, EsmForMaskedLM, EsmTokenizer

from fgm.model.kmers_fgm import kmer_vocabulary


def save_nt_peer(folder: Path, seed: int = 0) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "vocab.txt").write_text("\n".join(kmer_vocabulary(6)) + "\n")
    tokenizer = EsmTokenizer(str(folder / "vocab.txt"), eos_token=None)  # NT v2: <cls> then the tokens, no <eos>
    torch.manual_seed(seed)
    config = EsmConfig(vocab_size=len(tokenizer), hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                       intermediate_size=64, max_position_embeddings=2050, position_embedding_type="rotary",
                       emb_layer_norm_before=False, token_dropout=False, hidden_dropout_prob=0.0,
                       attention_probs_dropout_prob=0.0, tie_word_embeddings=False, pad_token_id=1, mask_token_id=2)
    EsmForMaskedLM(config).save_pretrained(folder)
    tokenizer.model_max_length = 1000  # NT v2 records its context in tokens: 1000 tokens of 6 bases
    tokenizer.save_pretrained(folder)
    return folder
