"""Zero-shot inference shared by the context scan, variant scores, embeddings and the context instruments.

It works on any Hugging Face masked LM whose tokenizer spells DNA: FGM, or a Nucleotide Transformer
checkpoint loaded through `AutoModelForMaskedLM`. What each token covers is read from the tokenizer's
vocabulary (`DNAVocabulary`), so k-mer, single-base and variable-length vocabularies are handled alike
and no tokenizer needs to give offsets.

The one zero-shot primitive is a base scorer: the log-probabilities of A, C, G and T at chosen bases.
`MaskedBaseScorer` scores each base with the token that holds it replaced by the mask token: per base, the
probability is the softmax mass of the vocabulary tokens that carry that base at the base's offset inside the
masked token, renormalized over the tokens that reach that offset (`kmers_fgm.nucleotide_marginals`).
`CausalBaseScorer` does the same for a causal LM (Carbon, GENERator, HyenaDNA, Evo) from the bases before the
scored one only; `base_scorer` picks the one a model needs.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass

import numpy as np
import torch

from .model.kmers_fgm import BASES, nucleotide_marginals

DNA_LETTERS = frozenset("ACGTN")


def inference_autocast(device: torch.device):
    """bf16 autocast on CUDA (flash kernels need it, and it halves activation memory); fp32 elsewhere."""
    return torch.autocast(device.type, dtype=torch.bfloat16, enabled=device.type == "cuda")


def model_device(model) -> torch.device:
    return next(model.parameters()).device


class DNAVocabulary:
    """The bases each token id spells, from the tokenizer's vocabulary strings.

    `bases` (vocab, longest token) holds "ACGT" indices (A=0, C=1, G=2, T=3), -1 where a token has no
    base at that offset; `lengths` (vocab,) the number of bases a token covers (N counts, special tokens
    and anything that is not DNA letters count 0). `size` pads the tables to the model's output width.
    """

    def __init__(self, tokenizer, size: int | None = None):
        tokens = tokenizer.convert_ids_to_tokens(list(range(len(tokenizer))))
        spelled = [t if t and set(t) <= DNA_LETTERS else "" for t in tokens]
        if not any(spelled):
            raise ValueError(f"{type(tokenizer).__name__} has no token made of DNA letters (A, C, G, T, N): "
                             "these tools need a DNA tokenizer")
        width = max(len(t) for t in spelled)
        rows = max(size or 0, len(spelled))
        self.bases = torch.full((rows, width), -1, dtype=torch.long)
        self.lengths = torch.zeros(rows, dtype=torch.long)
        for i, token in enumerate(spelled):
            self.lengths[i] = len(token)
            for j, base in enumerate(token):
                if base != "N":
                    self.bases[i, j] = BASES.index(base)
        self.longest = width

    def token_starts(self, input_ids: torch.Tensor) -> torch.Tensor:
        """Where each token's bases start in its row's sequence (padding and special tokens cover none)."""
        lengths = self.lengths[input_ids]
        return lengths.cumsum(-1) - lengths

    def marginals(self, logits: torch.Tensor) -> torch.Tensor:
        """(..., vocab) logits -> (..., longest token, 4) per-offset base probabilities."""
        return nucleotide_marginals(logits, self.bases.to(logits.device))


@dataclass
class BaseScores:
    """Per scored base: ln P(A, C, G, T) (n, 4), the span [start, end) in its sequence of the token that holds it
    (n, 2), and the token-level score of the true token (the model's own objective)."""

    log_probs: np.ndarray
    token_spans: np.ndarray
    token_loss: np.ndarray
    token_correct: np.ndarray

    def base_loss(self, bases: list[str] | str) -> np.ndarray:
        """-ln P(true base) per row; `bases` are the true letters (ACGT)."""
        return -self.log_probs[np.arange(len(self.log_probs)), [BASES.index(b) for b in bases]]

    def base_correct(self, bases: list[str] | str) -> np.ndarray:
        return self.log_probs.argmax(1) == np.array([BASES.index(b) for b in bases])


def encode_dna(tokenizer, vocabulary: DNAVocabulary, sequences: list[str]) -> list[torch.Tensor]:
    """Token ids of each sequence (with the tokenizer's special tokens), checked to spell it base for base."""
    ids = tokenizer(list(sequences), verbose=False)["input_ids"]
    out = []
    for i, (sequence, row) in enumerate(zip(sequences, ids)):
        row = torch.tensor(row, dtype=torch.long)
        if int(vocabulary.lengths[row].sum()) != len(sequence):
            raise ValueError(f"sequence {i} ({len(sequence):,} bases) is not spelled base for base by "
                             f"{type(tokenizer).__name__}'s tokens ({int(vocabulary.lengths[row].sum()):,} "
                             "bases): give uppercase A, C, G, T, N")
        out.append(row)
    return out


def position_limit(model) -> int | None:
    """The most tokens `model` can read: the size of a learned (absolute) position table (BERT, ESM, GPT-2), less
    the rows a table with a padding row skips (ESM and RoBERTa count positions from padding_idx + 1); None for
    relative positions (RoPE, ALiBi, convolutions), which run past their training length as extrapolation."""
    config = model.config
    kind = getattr(config, "position_embedding_type", "absolute" if hasattr(config, "n_positions") else None)
    if kind != "absolute":
        return None
    table = next((module for name, module in model.named_modules()
                  if name.endswith("position_embeddings") and isinstance(module, torch.nn.Embedding)), None)
    if table is not None and table.padding_idx is not None:
        return table.num_embeddings - table.padding_idx - 1
    return getattr(config, "n_positions", None) or getattr(config, "max_position_embeddings", None)


def check_length(model, tokens: int) -> None:
    """Refuse by name a row longer than the model's position table (`position_limit`), before it fails inside."""
    limit = position_limit(model)
    if limit and tokens > limit:
        raise ValueError(f"{getattr(model, 'name_or_path', '') or type(model).__name__} reads at most {limit:,} tokens "
                         f"(its learned position embeddings); a window of {tokens:,} tokens is longer: ask for a "
                         "shorter context")


def length_multiple(model) -> int:
    """The multiple of tokens a model's input must have: 2 ** num_downsamples for a U-Net such as NTv3 (7
    downsamplings: 128), else 1."""
    downsamples = getattr(model.config, "num_downsamples", None)
    return 2 ** int(downsamples) if downsamples else 1


def is_causal_lm(model) -> bool:
    """Whether a loaded model predicts the next token (a causal LM: Llama, HyenaDNA, Evo) rather than masked ones."""
    return hasattr(model, "can_generate") and bool(model.can_generate())


def base_scorer(model, tokenizer, batch_size: int = 8):
    """The scorer a loaded model needs: `CausalBaseScorer` for a causal LM, else `MaskedBaseScorer`."""
    return (CausalBaseScorer if is_causal_lm(model) else MaskedBaseScorer)(model, tokenizer, batch_size)


class MaskedBaseScorer:
    """Scores bases of DNA sequences with a masked LM, one masked token per scored base.

    Identical (sequence, masked token) pairs are computed once, so the alleles of one site and bases that
    share a token cost one forward pass. Rows are batched by length; padding never changes a score.
    """

    causal = False

    def __init__(self, model, tokenizer, batch_size: int = 8):
        if tokenizer.mask_token_id is None:
            raise ValueError(f"{type(tokenizer).__name__} has no mask token: a masked language model is needed")
        self.model, self.tokenizer, self.batch_size = model.eval(), tokenizer, batch_size
        self.vocabulary = DNAVocabulary(tokenizer, model.config.vocab_size)
        self.device = model_device(model)
        self.multiple, self.input_rule = length_multiple(model), None
        if self.multiple > 1:
            self.n_id = tokenizer.convert_tokens_to_ids("N")
            if self.n_id is None or int(self.vocabulary.lengths[self.n_id]) != 1:
                raise ValueError(f"{type(tokenizer).__name__} has no N token, which pads the input of a model whose "
                                 f"length must be a multiple of {self.multiple} tokens")
            self.input_rule = (f"each window padded on the right with N to a multiple of {self.multiple} tokens, as "
                               f"the model's {int(model.config.num_downsamples)} downsamplings need (never <pad>, "
                               "which it was not trained on)")

    def encode(self, sequences: list[str]) -> list[torch.Tensor]:
        """Token ids of each sequence (with the tokenizer's special tokens), checked to spell it base for base, and
        padded with N after its last base to the length the model takes (`length_multiple`)."""
        rows = encode_dna(self.tokenizer, self.vocabulary, sequences)
        if self.multiple == 1:
            return rows
        out = []
        for row in rows:
            end = int((self.vocabulary.lengths[row] > 0).nonzero()[-1]) + 1  # before any trailing special token
            out.append(torch.cat([row[:end], torch.full(((-len(row)) % self.multiple,), self.n_id), row[end:]]))
        return out

    @torch.no_grad()
    def score(self, sequences: list[str], indices: list[int], progress: bool = False,
              desc: str = "masked tokens") -> BaseScores:
        """Score base `indices[i]` of `sequences[i]` for every i."""
        from tqdm.auto import tqdm

        unique = {text: i for i, text in enumerate(dict.fromkeys(sequences))}
        encoded = self.encode(list(unique))
        jobs, rows = {}, []  # (sequence, masked token) -> job index; per request: (job, offset in token)
        for text, index in zip(sequences, indices):
            ids = encoded[unique[text]]
            starts = self.vocabulary.token_starts(ids)
            token = int(torch.searchsorted(starts, index, right=True)) - 1  # the last token starting at or before
            rows.append((jobs.setdefault((unique[text], token), len(jobs)), index - int(starts[token]),
                         (int(starts[token]), int(starts[token] + self.vocabulary.lengths[ids[token]]))))
        order = sorted(jobs, key=lambda job: len(encoded[job[0]]))
        log_probs = torch.empty(len(jobs), self.vocabulary.longest, 4)
        token_log_probs, token_correct = torch.empty(len(jobs)), torch.empty(len(jobs), dtype=torch.bool)
        for first in tqdm(range(0, len(order), self.batch_size), desc=desc, disable=not progress):
            batch = order[first : first + self.batch_size]
            logits, truth = self._forward([encoded[s] for s, _ in batch], [t for _, t in batch])
            where = torch.tensor([jobs[job] for job in batch])
            log_probs[where] = self.vocabulary.marginals(logits).clamp(min=1e-30).log().cpu()
            token_scores = logits.float().log_softmax(-1).cpu()
            token_log_probs[where] = token_scores[torch.arange(len(batch)), truth]
            token_correct[where] = token_scores.argmax(-1) == truth
        job, offset = torch.tensor([r[0] for r in rows]), torch.tensor([r[1] for r in rows])
        return BaseScores(log_probs[job, offset].double().numpy(), np.array([r[2] for r in rows]),
                          -token_log_probs[job].double().numpy(), token_correct[job].numpy())

    def _forward(self, rows: list[torch.Tensor], tokens: list[int]):
        """Logits at one masked token per row (rows, vocab), and the true ids there."""
        fill = self.n_id if self.multiple > 1 else self.tokenizer.pad_token_id  # a model with input rules: N
        ids = torch.full((len(rows), max(len(r) for r in rows)), fill, dtype=torch.long)
        mask, labels = torch.zeros_like(ids), torch.full_like(ids, -100)
        for i, (row, token) in enumerate(zip(rows, tokens)):
            ids[i, : len(row)], mask[i, : len(row)] = row, 1
            labels[i, token], ids[i, token] = row[token], self.tokenizer.mask_token_id
        truth = labels[labels != -100]
        check_length(self.model, ids.shape[1])
        with inference_autocast(self.device):
            logits = self.model(input_ids=ids.to(self.device), attention_mask=mask.to(self.device),
                                labels=labels.to(self.device)).logits
        if logits.dim() == 3:  # no sparse prediction: logits for every token
            logits = logits[labels.to(self.device) != -100]
        return logits.float(), truth


def prefix_marginals(probs: torch.Tensor, bases: torch.Tensor, prefix: torch.Tensor, offset: torch.Tensor):
    """P(base at `offset` of the next token | the token's bases before it): (n, vocab) next-token probabilities,
    the (vocab, width) base table of `DNAVocabulary`, each row's known bases `prefix` (n, width; those at offsets
    below `offset` are read) and `offset` (n,) -> (n, 4). The mass of the tokens that spell the prefix and then
    each base, renormalized over the tokens that spell the prefix and reach the offset."""
    bases = bases.to(probs.device)
    known = torch.arange(bases.shape[1], device=probs.device)[None, :] < offset[:, None]  # (n, width)
    spells = ((bases[None] == prefix[:, None]) | ~known[:, None]).all(-1)  # (n, vocab)
    at = bases.T[offset]  # (n, vocab): each token's base at the row's offset
    mass = torch.stack([(probs * (spells & (at == b))).sum(-1) for b in range(4)], -1)
    return mass / mass.sum(-1, keepdim=True).clamp(min=1e-30)


class CausalBaseScorer:
    """Scores bases of DNA sequences with a causal LM: each base from the bases before it in its sequence only.

    A sequence is cut into tokens from its first base (a k-mer model reads whole tokens in that frame), so a base
    at index i lies at offset j = i mod k of the token starting at t = i - j. Its probability is read from the
    next-token distribution after the tokens of the t bases before (with the tokenizer's BOS where it adds one),
    given the j bases of its own token that precede it: the mass of the tokens that spell those j bases and then
    the base, renormalized over the tokens that spell them and reach offset j (`prefix_marginals`). For a
    single-base vocabulary that is the next-token probability of each base, renormalized over A, C, G and T. The
    bases after i are never read. Identical prefixes are computed once; rows are right-padded, which a causal
    model cannot see, so a score is the same alone or in any batch.
    """

    causal, input_rule = True, None

    def __init__(self, model, tokenizer, batch_size: int = 8):
        self.model, self.tokenizer, self.batch_size = model.eval(), tokenizer, batch_size
        self.vocabulary = DNAVocabulary(tokenizer, model.config.vocab_size)
        self.device = model_device(model)
        self.pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0

    def encode(self, prefixes: list[str]) -> list[torch.Tensor]:
        """Token ids of each prefix with the tokens the tokenizer puts before it (a BOS) and none after (an EOS
        would end the sequence whose next token is asked for)."""
        out = []
        for row in encode_dna(self.tokenizer, self.vocabulary, prefixes):
            spelled = (self.vocabulary.lengths[row] > 0).nonzero()
            end = int(spelled[-1]) + 1 if len(spelled) else int(row[:1].tolist() == [self.tokenizer.bos_token_id])
            if not end:
                raise ValueError(f"{type(self.tokenizer).__name__} puts no token (BOS) before a sequence: a causal LM "
                                 "scores only bases with at least one base before them")
            out.append(row[:end])
        return out

    @torch.no_grad()
    def score(self, sequences: list[str], indices: list[int], progress: bool = False,
              desc: str = "bases") -> BaseScores:
        """Score base `indices[i]` of `sequences[i]` for every i, from the bases before it."""
        from tqdm.auto import tqdm

        k = self.vocabulary.longest
        starts = [index - index % k for index in indices]
        unique = {text: i for i, text in enumerate(dict.fromkeys(s[:t] for s, t in zip(sequences, starts)))}
        encoded = self.encode(list(unique))
        order = sorted(range(len(encoded)), key=lambda i: len(encoded[i]))
        next_token = torch.empty(len(encoded), len(self.vocabulary.lengths))
        for first in tqdm(range(0, len(order), self.batch_size), desc=desc, disable=not progress):
            batch = order[first : first + self.batch_size]
            next_token[batch] = self._forward([encoded[i] for i in batch])
        rows = torch.tensor([unique[s[:t]] for s, t in zip(sequences, starts)], dtype=torch.long)
        offset = torch.tensor([i - t for i, t in zip(indices, starts)], dtype=torch.long)
        prefix = torch.full((len(sequences), k), -1, dtype=torch.long)
        for n, (text, t, index) in enumerate(zip(sequences, starts, indices)):
            prefix[n, : index - t] = torch.tensor(["ACGT".find(b) for b in text[t:index]], dtype=torch.long)
        log_probs = prefix_marginals(next_token[rows].exp(), self.vocabulary.bases, prefix, offset).clamp(1e-30).log()
        pieces = self.tokenizer([s[t : t + k] for s, t in zip(sequences, starts)], add_special_tokens=False)
        truth = torch.tensor([ids[0] for ids in pieces["input_ids"]])  # the true next token
        token_scores = next_token[rows]
        return BaseScores(log_probs.double().numpy(),
                          np.array([(t, min(t + k, len(s))) for s, t in zip(sequences, starts)]),
                          -token_scores[torch.arange(len(rows)), truth].double().numpy(),
                          (token_scores.argmax(-1) == truth).numpy())

    def _forward(self, rows: list[torch.Tensor]) -> torch.Tensor:
        """ln P(next token) after each row (rows, vocab), right-padded in one batch. Where the model takes
        `logits_to_keep` (transformers' causal LMs), only the rows' last positions are projected to the vocabulary:
        a 6-mer vocabulary's logits at every position of a 100 kb window would take gigabytes."""
        ids = torch.full((len(rows), max(len(r) for r in rows)), self.pad_id, dtype=torch.long)
        mask = torch.zeros_like(ids)
        for i, row in enumerate(rows):
            ids[i, : len(row)], mask[i, : len(row)] = row, 1
        check_length(self.model, ids.shape[1])
        last = [len(r) - 1 for r in rows]
        kept = sorted(set(last)) if "logits_to_keep" in inspect.signature(self.model.forward).parameters else None
        keep = {"logits_to_keep": torch.tensor(kept, device=self.device)} if kept else {}
        with inference_autocast(self.device):
            logits = self.model(input_ids=ids.to(self.device), attention_mask=mask.to(self.device), **keep).logits
        column = torch.tensor([kept.index(end) for end in last] if kept else last, device=logits.device)
        return logits[torch.arange(len(rows), device=logits.device), column].float().log_softmax(-1).cpu()
