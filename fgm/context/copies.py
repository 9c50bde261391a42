"""Where a scored base has a copy: the repeat strata of `fgm context-scan` and the copy oracle's evidence.

A copy of a scored base is another occurrence, on either strand, of the `key` bases around its masked token
(key / 2 on each side; the token's own bases are left out, as the model does not see them) that does not overlap
the original. The base the copy holds where the masked base would be is what retrieval predicts; it may differ
from the true base (a substitution between the copies), which is what the copy oracle's error rate measures.

For a causal LM, which sees only the bases before a scored one, a copy is an earlier occurrence of the `key` bases
just before it (`find_earlier_copies`), and what it predicts is the base that follows it (on the reverse strand,
the complement of the base before it).

Copies are found with an index of the held-out sequence, not a quadratic search: every key of both strands is
ranked and sorted once per sequence and masked-token width, and each query is two binary searches, one for the
nearest copy ending before the original and one for the nearest starting after it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

KEY = 24
STRATA = ("no copy", "< 1 kb", "1-10 kb", "10-100 kb", ">= 100 kb")
STRATUM_EDGES = (1_000, 10_000, 100_000)


@dataclass
class Copies:
    """The nearest copy on each side of each query, in the coordinates of its sequence.

    `left_start`: first base of the nearest copy that ends before the original (-1: none); `right_end`: one past
    the last base of the nearest that starts after it (-1: none); `*_base`: the base (A, C, G, T = 0-3) the copy
    holds at the masked position; `*_distance`: bases from the scored base to that base (inf: no copy).
    """

    left_start: np.ndarray
    left_base: np.ndarray
    left_distance: np.ndarray
    right_end: np.ndarray
    right_base: np.ndarray
    right_distance: np.ndarray

    @property
    def distance(self) -> np.ndarray:
        """Bases to the nearest copy on either side (inf: none in the sequence)."""
        return np.minimum(self.left_distance, self.right_distance)


def strata(distance: np.ndarray) -> np.ndarray:
    """Index into STRATA of each distance: no copy, < 1 kb, 1-10 kb, 10-100 kb, >= 100 kb."""
    return np.where(np.isinf(distance), 0, 1 + np.searchsorted(STRATUM_EDGES, distance, side="right"))


def _flank_codes(codes: np.ndarray, flank: int) -> tuple[np.ndarray, np.ndarray]:
    """2-bit code of the `flank` bases starting at each position, and whether they hold no N."""
    count = len(codes) - flank + 1
    value, clean = np.zeros(max(count, 0), dtype=np.uint64), np.ones(max(count, 0), dtype=bool)
    for j in range(flank):
        part = codes[j : j + count]
        value = value * np.uint64(4) + np.maximum(part, 0).astype(np.uint64)
        clean &= part >= 0
    return value, clean


def _span_keys(codes: np.ndarray, flank: int, gap: int) -> tuple[np.ndarray, np.ndarray]:
    """Key (left flank, right flank) of the span of `2 * flank + gap` bases starting at each position; validity."""
    value, clean = _flank_codes(codes, flank)
    count = len(codes) - 2 * flank - gap + 1
    if count <= 0:
        return np.zeros(0, dtype=np.uint64), np.zeros(0, dtype=bool)
    right = slice(flank + gap, flank + gap + count)
    return (value[:count] << np.uint64(2 * flank)) | value[right], clean[:count] & clean[right]


class CopyIndex:
    """Every key of one sequence on both strands, for masked tokens of `gap` bases, sorted for binary search."""

    def __init__(self, codes: np.ndarray, flank: int, gap: int):
        self.codes, self.flank, self.gap = codes, flank, gap
        self.width = width = 2 * flank + gap
        n = len(codes)
        forward, forward_ok = _span_keys(codes, flank, gap)
        reverse_codes = np.where(codes[::-1] >= 0, 3 - codes[::-1], -1)
        reverse, reverse_ok = _span_keys(reverse_codes, flank, gap)
        starts = np.arange(len(forward))
        # a reverse key at t reads the forward span starting at n - width - t
        keys = np.concatenate([forward[forward_ok], reverse[reverse_ok]])
        span_starts = np.concatenate([starts[forward_ok], (n - width - starts)[reverse_ok]])
        strands = np.concatenate([np.zeros(forward_ok.sum(), bool), np.ones(reverse_ok.sum(), bool)])
        unique, rank = np.unique(keys, return_inverse=True)
        self.scale = n + 1
        composite = rank.astype(np.int64) * self.scale + span_starts
        order = np.argsort(composite, kind="stable")
        self.sorted, self.reverse_strand = composite[order], strands[order]
        self.forward_rank = np.full(len(forward), -1, dtype=np.int64)
        self.forward_rank[forward_ok] = rank[: forward_ok.sum()]

    def nearest(self, token_starts: np.ndarray, positions: np.ndarray):
        """(start, base, distance) of the nearest copy on each side (left: ending before the original's span,
        right: starting after it) for masked tokens starting at `token_starts` holding scored `positions`."""
        none = (np.full(len(positions), -1), np.full(len(positions), -1), np.full(len(positions), np.inf))
        if not len(self.sorted):
            return [none, none]
        span = token_starts - self.flank
        fits = (span >= 0) & (span < len(self.forward_rank))
        rank = np.where(fits, self.forward_rank[np.clip(span, 0, len(self.forward_rank) - 1)], -1)
        offset = positions - token_starts
        sides = []
        for target, side in ((span - self.width, "right"), (span + self.width, "left")):
            found = np.searchsorted(self.sorted, rank * self.scale + target, side=side) - (side == "right")
            hit = (rank >= 0) & (found >= 0) & (found < len(self.sorted))
            found = np.clip(found, 0, len(self.sorted) - 1)
            hit &= self.sorted[found] // self.scale == rank
            start, reverse = self.sorted[found] % self.scale, self.reverse_strand[found]
            where = np.where(reverse, start + self.flank + self.gap - 1 - offset, start + self.flank + offset)
            raw = self.codes[np.clip(where, 0, len(self.codes) - 1)]
            base = np.where(reverse, np.where(raw >= 0, 3 - raw, -1), raw)
            hit &= (base >= 0) & (where >= 0) & (where < len(self.codes))  # N (or no base) there predicts nothing
            sides.append((np.where(hit, start, -1), np.where(hit, base, -1),
                          np.where(hit, np.abs(where - positions), np.inf)))
        return sides


def find_copies(sequences: list[str], queries, token_spans, key: int = KEY) -> Copies:
    """The nearest copies of each query (sequence index, scored position), whose masked token spans
    `token_spans[i]` = [start, end) in its sequence; `key` (even, 2-32) bases around the token must match."""
    from .baselines import encode_bases

    if key % 2 or not 2 <= key <= 32:
        raise ValueError(f"the copy key must be an even number of bases from 2 to 32, got {key}")
    queries, token_spans = np.asarray(queries, dtype=np.int64).reshape(-1, 2), np.asarray(token_spans, dtype=np.int64)
    n = len(queries)
    out = {"left_start": np.full(n, -1), "left_base": np.full(n, -1), "left_distance": np.full(n, np.inf),
           "right_end": np.full(n, -1), "right_base": np.full(n, -1), "right_distance": np.full(n, np.inf)}
    gaps = token_spans[:, 1] - token_spans[:, 0]
    for sequence in np.unique(queries[:, 0]):
        codes = encode_bases(sequences[sequence])
        for gap in np.unique(gaps[queries[:, 0] == sequence]):
            rows = np.flatnonzero((queries[:, 0] == sequence) & (gaps == gap))
            index = CopyIndex(codes, key // 2, int(gap))
            (left, left_base, left_distance), (right, right_base, right_distance) = index.nearest(
                token_spans[rows, 0], queries[rows, 1])
            out["left_start"][rows], out["left_base"][rows], out["left_distance"][rows] = left, left_base, left_distance
            out["right_end"][rows] = np.where(right >= 0, right + index.width, -1)
            out["right_base"][rows], out["right_distance"][rows] = right_base, right_distance
    return Copies(**out)


def find_earlier_copies(sequences: list[str], queries, key: int = KEY) -> Copies:
    """For a causal LM: the nearest copy of each query (sequence index, scored position) before it, on either strand,
    of the `key` (even, 2-32) bases just before the scored base, not overlapping them; `left_start` is the first
    base of the copy or of the base it predicts, whichever comes first. No copy after a base counts (`right_*`:
    none)."""
    from .baselines import encode_bases

    if key % 2 or not 2 <= key <= 32:
        raise ValueError(f"the copy key must be an even number of bases from 2 to 32, got {key}")
    queries = np.asarray(queries, dtype=np.int64).reshape(-1, 2)
    n = len(queries)
    out = {"left_start": np.full(n, -1), "left_base": np.full(n, -1), "left_distance": np.full(n, np.inf),
           "right_end": np.full(n, -1), "right_base": np.full(n, -1), "right_distance": np.full(n, np.inf)}
    for sequence in np.unique(queries[:, 0]):
        rows = np.flatnonzero(queries[:, 0] == sequence)
        positions = queries[rows, 1]
        # the key as a "token" of no bases between two flanks of key / 2: the predicted base is key / 2 past its end
        index = CopyIndex(encode_bases(sequences[sequence]), key // 2, 0)
        start, base, distance = index.nearest(positions - key // 2, positions)[0]
        reached = positions - np.where(start >= 0, distance, 0).astype(np.int64)  # the base the copy predicts
        out["left_start"][rows] = np.where(start >= 0, np.minimum(start, reached), -1)
        out["left_base"][rows], out["left_distance"][rows] = base, distance
    return Copies(**out)
