"""Honest baselines for masked- and causal-LM scores: what local context alone predicts.

`BidirectionalMarkov` of order m predicts a masked base from the m bases on each side of its masked
token, with counts from the training sequences (both strands); order 0 is the base frequencies. FGM's
scans and demo score these on the same positions, under the same masking, as the model. `CausalMarkov`
predicts a base from the m bases before it, what a causal LM is read against.
"""

import numpy as np

from ..model.kmers_fgm import reverse_complement


class BidirectionalMarkov:
    """P(base | `order` bases left of the masked token, `order` bases right of it): the best a model can do
    from local context alone, scored under the same masking as FGM.

    The masked token spans `gap` bases (k for k-mer models, 1 for single nucleotides); the scored base is
    at `offset` inside it. Counts come from the training sequences on both strands, every position,
    with add-one smoothing; order 0 is the base frequencies.
    """

    right = True  # whether the `order` bases right of the token are read

    def __init__(self, order: int, gap: int = 1, offset: int = 0):
        if not 0 <= offset < gap or order < 0:
            raise ValueError(f"need order >= 0 and 0 <= offset < gap, got order={order}, gap={gap}, offset={offset}")
        self.order, self.gap, self.offset = order, gap, offset
        self.counts = np.zeros((4 ** (self.order * (1 + self.right)), 4), dtype=np.int64)

    def _keys(self, codes: np.ndarray, starts: np.ndarray) -> np.ndarray:
        """Context key of the tokens starting at `starts`; -1 where the context holds an N."""
        m, keys = self.order, np.zeros(len(starts), dtype=np.int64)
        valid = np.ones(len(starts), dtype=bool)
        for j in range(m):  # left bases, then right bases, most significant first
            for position in (starts - m + j, starts + self.gap + j)[: 1 + self.right]:
                base = codes[position]
                valid &= base >= 0
                keys = keys * 4 + np.maximum(base, 0)
        return np.where(valid, keys, -1)

    def fit(self, sequences) -> "BidirectionalMarkov":
        """Add the counts of these sequences and of their reverse complements."""
        cells = []
        for sequence in sequences:
            for strand in (sequence, reverse_complement(sequence)):
                codes = encode_bases(strand)
                starts = np.arange(self.order, len(codes) - self.gap - self.order * self.right + 1)
                keys = self._keys(codes, starts)
                keep = (keys >= 0) & (codes[starts + self.offset] >= 0)
                cells.append(keys[keep] * 4 + codes[starts[keep] + self.offset])
        if cells:  # one count over every cell: a table of 4**(2 * order + 1) counts is built once
            counts = np.bincount(np.concatenate(cells), minlength=self.counts.size)
            self.counts += counts.reshape(self.counts.shape)
        return self

    def log_probs(self, contexts: list[str]) -> np.ndarray:
        """ln P(A, C, G, T) for each context string: `order` bases, the masked token's `gap` bases (any
        letters: they are not looked at), `order` bases (none for `CausalMarkov`)."""
        width = self.order * (1 + self.right) + self.gap
        if any(len(c) != width for c in contexts):
            raise ValueError(f"contexts must have {width} characters (order {self.order}, gap {self.gap})")
        codes = encode_bases("".join(contexts))
        keys = self._keys(codes, np.arange(len(contexts)) * width + self.order)
        counts = np.where(keys[:, None] >= 0, self.counts[np.maximum(keys, 0)], 0) + 1  # N in the context: uniform
        return np.log(counts / counts.sum(1, keepdims=True))


class CausalMarkov(BidirectionalMarkov):
    """P(base | the `order` bases before it): the best a causal model can do from local context alone (contexts
    of `log_probs`: the `order` bases, then the scored one, which is not looked at)."""

    right = False

    def __init__(self, order: int):
        super().__init__(order)


def encode_bases(sequence: str) -> np.ndarray:
    """A C G T -> 0 1 2 3, anything else (N) -> -1, as int64."""
    table = np.full(256, -1, dtype=np.int64)
    table[np.frombuffer(b"ACGT", dtype=np.uint8)] = np.arange(4)
    return table[np.frombuffer(sequence.encode("ascii"), dtype=np.uint8)]
