"""Zero-shot inference shared by the context scan, variant scores, embeddings and the context instruments.

It works on any Hugging Face masked LM whose tokenizer spells DNA: FGM, or a Nucleotide Transformer
checkpoint loaded through `AutoModelForMaskedLM`. What each token covers is read from the tokenizer's
vocabulary (`DNAVocabulary`), so k-mer, single-base and variable-length vocabularies are handled alike
and no tokenizer needs to give offsets.

The one zero-shot primitive is `MaskedBaseScorer`: the log-probabilities of A, C, G and T at chosen bases,
each scored with the token that holds it replaced by the mask token. Per base, the probability is the
softmax mass of the vocabulary tokens that carry that base at the base's offset inside the masked token,
renormalized over the tokens that reach that offset (`kmers_fgm.nucleotide_marginals`).
"""

from __future__ import annotations

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
class MaskedScores:
    """Per scored base: ln P(A, C, G, T) (n, 4), the masked token's span [start, end) in its sequence (n, 2),
    and the token-level score of the true token (the model's own objective)."""

    log_probs: np.ndarray
    token_spans: np.ndarray
    token_loss: np.ndarray
    token_correct: np.ndarray

    def base_loss(self, bases: list[str] | str) -> np.ndarray:
        """-ln P(true base) per row; `bases` are the true letters (ACGT)."""
        return -self.log_probs[np.arange(len(self.log_probs)), [BASES.index(b) for b in bases]]

    def base_correct(self, bases: list[str] | str) -> np.ndarray:
        return self.log_probs.argmax(1) == np.array([BASES.index(b) for b in bases])


class MaskedBaseScorer:
    """Scores bases of DNA sequences with a masked LM, one masked token per scored base.

    Identical (sequence, masked token) pairs are computed once, so the alleles of one site and bases that
    share a token cost one forward pass. Rows are batched by length; padding never changes a score.
    """

    def __init__(self, model, tokenizer, batch_size: int = 8):
        if tokenizer.mask_token_id is None:
            raise ValueError(f"{type(tokenizer).__name__} has no mask token: a masked language model is needed")
        self.model, self.tokenizer, self.batch_size = model.eval(), tokenizer, batch_size
        self.vocabulary = DNAVocabulary(tokenizer, model.config.vocab_size)
        self.device = model_device(model)

    def encode(self, sequences: list[str]) -> list[torch.Tensor]:
        """Token ids of each sequence, checked to spell it base for base."""
        ids = self.tokenizer(list(sequences), verbose=False)["input_ids"]
        out = []
        for i, (sequence, row) in enumerate(zip(sequences, ids)):
            row = torch.tensor(row)
            if int(self.vocabulary.lengths[row].sum()) != len(sequence):
                raise ValueError(f"sequence {i} ({len(sequence):,} bases) is not spelled base for base by "
                                 f"{type(self.tokenizer).__name__}'s tokens ({int(self.vocabulary.lengths[row].sum()):,} "
                                 "bases): give uppercase A, C, G, T, N")
            out.append(row)
        return out

    @torch.no_grad()
    def score(self, sequences: list[str], indices: list[int], progress: bool = False,
              desc: str = "masked tokens") -> MaskedScores:
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
        return MaskedScores(log_probs[job, offset].double().numpy(), np.array([r[2] for r in rows]),
                            -token_log_probs[job].double().numpy(), token_correct[job].numpy())

    def _forward(self, rows: list[torch.Tensor], tokens: list[int]):
        """Logits at one masked token per row (rows, vocab), and the true ids there."""
        ids = torch.full((len(rows), max(len(r) for r in rows)), self.tokenizer.pad_token_id, dtype=torch.long)
        mask, labels = torch.zeros_like(ids), torch.full_like(ids, -100)
        for i, (row, token) in enumerate(zip(rows, tokens)):
            ids[i, : len(row)], mask[i, : len(row)] = row, 1
            labels[i, token], ids[i, token] = row[token], self.tokenizer.mask_token_id
        truth = labels[labels != -100]
        with inference_autocast(self.device):
            logits = self.model(input_ids=ids.to(self.device), attention_mask=mask.to(self.device),
                                labels=labels.to(self.device)).logits
        if logits.dim() == 3:  # no sparse prediction: logits for every token
            logits = logits[labels.to(self.device) != -100]
        return logits.float(), truth
