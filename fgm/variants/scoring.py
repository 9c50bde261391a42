"""Zero-shot SNV scores from FGM's masked language model: the masked-marginal log-likelihood ratio.

    score = log P(alt) - log P(ref)

P is the model's probability of each base at the variant's position, given a window of the reference
centred on the variant in which the token holding the variant is replaced by <mask>:

    P(b) = sum of softmax(logits)[v] over tokens v with base b at offset p
           / sum of softmax(logits)[v] over tokens v that reach offset p

(p: the variant's offset inside its token; `kmers_fgm.nucleotide_marginals`). Windows are clipped at
contig ends, never filled with invented bases; N bases stay N.

Strands: the reverse strand scores the reverse complement of the window at the complemented alleles;
`strands="both"` reports the mean of the two.

k-mer frames: with non-overlapping k-mers, where the window starts decides the variant's offset p
inside its token. `frames="all"` averages the scores of the k windows that put the variant at each
offset 0..k-1 (nearest to centred); `frames="center"` uses the one window that puts it at offset
k // 2 (k times cheaper). For k = 1 both are the single centred window.

Work is shared where the model allows it: one masked forward pass per distinct (window, strand,
masked token), so the alleles of a multi-allelic site and variants in the same token reuse it
(`inference.MaskedBaseScorer`, which also serves any Hugging Face masked LM with a DNA tokenizer).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..inference import MaskedBaseScorer
from ..model.kmers_fgm import BASES, reverse_complement

FRAMES = ("all", "center")
STRANDS = ("both", "forward", "reverse")


@dataclass(frozen=True)
class SNV:
    chrom: str
    pos: int  # 1-based, as in VCF
    ref: str
    alt: str


@dataclass(frozen=True)
class Window:
    """A stretch of the reference, read on one strand, with the variant's index in the read sequence."""

    chrom: str
    start: int  # 0-based, forward-strand coordinates
    end: int
    reverse: bool
    index: int  # variant position inside the sequence as read (reverse: from the window's end)


def frame_windows(chrom: str, pos0: int, contig_length: int, window: int, k: int, frames: str, reverse: bool):
    """The windows that score one variant on one strand: one per k-mer frame asked for, clipped to the contig.

    The centred window puts the variant at index window // 2 of the sequence as read on its strand
    (forward: i = pos0 - start; reverse: i = end - 1 - pos0), so a reverse-complemented genome reads
    exactly the same sequences. Frame o shifts it by at most k // 2 bases so that i % k == o.
    """
    offsets = range(k) if frames == "all" else [k // 2]
    centred = pos0 + 1 + window // 2 - window if reverse else pos0 - window // 2
    chosen = set()
    for offset in offsets:
        index = (centred + window - 1 - pos0) if reverse else (pos0 - centred)
        shift = (index - offset) % k  # the start moves by +shift (forward) or -shift (reverse)
        shift = shift - k if shift > k // 2 else shift
        start = centred - shift if reverse else centred + shift
        start = min(max(start, 0), max(contig_length - window, 0))
        end = min(start + window, contig_length)
        chosen.add(Window(chrom, start, end, reverse, end - 1 - pos0 if reverse else pos0 - start))
    return chosen


class VariantScorer:
    """Scores SNVs with a masked LM and its tokenizer (see the module docstring for the formula)."""

    def __init__(self, model, tokenizer, window: int, frames: str = "all", strands: str = "both", batch_size: int = 8):
        if frames not in FRAMES:
            raise ValueError(f"frames must be one of {FRAMES}, got {frames!r}")
        if strands not in STRANDS:
            raise ValueError(f"strands must be one of {STRANDS}, got {strands!r}")
        if window < 1:
            raise ValueError(f"window must be at least 1 base, got {window}")
        self.scorer = MaskedBaseScorer(model, tokenizer, batch_size)
        self.k = self.scorer.vocabulary.longest
        self.window, self.frames, self.strands = window, frames, strands

    def score(self, genome, snvs: list[SNV]) -> np.ndarray:
        """Scores as an (n, 2) array: forward- and reverse-strand means over frames (NaN where not asked)."""
        strands = {"both": (False, True), "forward": (False,), "reverse": (True,)}[self.strands]
        plan = [
            [
                (reverse, frame_windows(snv.chrom, snv.pos - 1, genome.lengths[genome.contig(snv.chrom)],
                                        self.window, self.k, self.frames, reverse))
                for reverse in strands
            ]
            for snv in snvs
        ]
        windows = sorted({w for per in plan for _, ws in per for w in ws},
                         key=lambda w: (w.chrom, w.start, w.end, w.reverse, w.index))
        sequences = []
        for w in windows:
            sequence = genome.fetch(w.chrom, w.start, w.end)
            sequences.append(reverse_complement(sequence) if w.reverse else sequence)
        log_probs = dict(zip(windows, self.scorer.score(sequences, [w.index for w in windows]).log_probs))
        scores = np.full((len(snvs), 2), np.nan)
        for row, (snv, per_strand) in enumerate(zip(snvs, plan)):
            for reverse, windows in per_strand:
                ref, alt = (reverse_complement(snv.ref), reverse_complement(snv.alt)) if reverse else (snv.ref, snv.alt)
                llrs = [log_probs[w][BASES.index(alt)] - log_probs[w][BASES.index(ref)] for w in windows]
                scores[row, int(reverse)] = float(np.mean(llrs))
        return scores
