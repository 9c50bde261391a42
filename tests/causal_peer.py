"""Causal DNA LMs in the shape of the ones that read 100 kb and more, saved to local folders that load through
`AutoModelForCausalLM` / `AutoTokenizer` offline, as a downloaded checkpoint would: transformers' `LlamaForCausalLM`
(Carbon's and GENERator's architecture) with a fast tokenizer (`tokenizers`) that puts a BOS before the sequence
and cuts it into single bases (Evo's and HyenaDNA's vocabulary) or into 6-mers from its first base, a leftover or
an N as single letters (Carbon's and GENERator's)."""

from itertools import product
from pathlib import Path

import torch
from tokenizers import Regex, Tokenizer, models, pre_tokenizers, processors
from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

SPECIAL = ["<pad>", "<bos>", "<eos>", "<unk>"]


def dna_tokenizer(k: int) -> PreTrainedTokenizerFast:
    """BOS, then the sequence in k-mers of A/C/G/T from its first base, anything else one letter at a time."""
    tokens = SPECIAL + list("ACGTN") + (["".join(p) for p in product("ACGT", repeat=k)] if k > 1 else [])
    model = Tokenizer(models.WordLevel({token: i for i, token in enumerate(tokens)}, unk_token="<unk>"))
    model.pre_tokenizer = pre_tokenizers.Split(Regex(f"[ACGT]{{{k}}}|." if k > 1 else "."), behavior="isolated")
    model.post_processor = processors.TemplateProcessing(single="<bos> $A", special_tokens=[("<bos>", 1)])
    return PreTrainedTokenizerFast(tokenizer_object=model, bos_token="<bos>", eos_token="<eos>", pad_token="<pad>",
                                   unk_token="<unk>")


def causal_model(tokenizer, seed: int = 0, init: float = 0.02) -> LlamaForCausalLM:
    torch.manual_seed(seed)
    config = LlamaConfig(vocab_size=len(tokenizer), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                         num_attention_heads=2, num_key_value_heads=2, max_position_embeddings=4096,
                         initializer_range=init, bos_token_id=1, eos_token_id=2, pad_token_id=0,
                         tie_word_embeddings=False)
    return LlamaForCausalLM(config).eval()


def save_causal_peer(folder: Path, k: int = 1, seed: int = 0, init: float = 0.02, context_tokens: int = 1024) -> Path:
    """A tiny random `LlamaForCausalLM` and its k-mer tokenizer in `folder`; the context it records is
    `context_tokens` tokens (BOS included), as a Hub checkpoint records its own."""
    folder.mkdir(parents=True, exist_ok=True)
    tokenizer = dna_tokenizer(k)
    causal_model(tokenizer, seed, init).save_pretrained(folder)
    tokenizer.model_max_length = context_tokens
    tokenizer.save_pretrained(folder)
    return folder


def train_offset_copier(folder: Path, steps: int = 200, distance: int = 64, length: int = 128, seed: int = 0) -> Path:
    """A tiny `LlamaForCausalLM` trained (plain AdamW loop) on uniform random bases in which every window holds a
    32-base segment written twice, `distance` bases apart: a causal model of known behaviour, which learns to read
    the base `distance` back (retrieval gains there, nowhere else), saved with its tokenizer to `folder`."""
    import numpy as np

    tokenizer = dna_tokenizer(1)
    torch.manual_seed(seed)
    model = LlamaForCausalLM(LlamaConfig(vocab_size=len(tokenizer), hidden_size=64, intermediate_size=128,
                                         num_hidden_layers=2, num_attention_heads=2, num_key_value_heads=2,
                                         max_position_embeddings=4096, bos_token_id=1, eos_token_id=2, pad_token_id=0,
                                         tie_word_embeddings=False))
    optimizer = torch.optim.AdamW(model.parameters(), lr=3e-3)
    bases, rng = torch.tensor(tokenizer.convert_tokens_to_ids(list("ACGT"))), np.random.default_rng(seed)
    for _ in range(steps):
        windows = rng.integers(0, 4, (32, length))
        for row, first in zip(windows, rng.integers(0, length - distance - 32, len(windows))):
            row[first + distance : first + distance + 32] = row[first : first + 32]
        ids = torch.cat([torch.full((len(windows), 1), tokenizer.bos_token_id), bases[torch.tensor(windows)]], 1)
        loss = model(input_ids=ids, labels=ids).loss
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    model.eval().save_pretrained(folder)
    tokenizer.model_max_length = length + 1
    tokenizer.save_pretrained(folder)
    return folder
