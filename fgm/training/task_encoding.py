"""Task sequences as token ids for fine-tuning, under a length policy.

A row longer than the model's maximum (`max_length` tokens, else `tokenizer.model_max_length`) is an
error that names the row, unless `length_mode` is `"truncate"` (cut to the maximum) or `"chunk"`
(sliding windows, each labelled like its sequence while training; at evaluation the logits of a
sequence's windows are averaged).
"""

import logging
from dataclasses import dataclass

import numpy as np

from ..data.windows import window_spans
from .task_data import LABEL, NAME, SEQUENCE, column

logger = logging.getLogger(__name__)

LENGTH_MODES = ("error", "truncate", "chunk")


class SequenceTooLongError(ValueError):
    """A row is longer than the model's maximum input and neither truncation nor chunking was asked."""


def load_tokenizer(checkpoint: str, trust_remote_code: bool = False):
    """The checkpoint's own tokenizer (FGM's is registered with AutoTokenizer by `import fgm`)."""
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(checkpoint, trust_remote_code=trust_remote_code)


def model_max_tokens(tokenizer, max_length: int | None = None) -> int | None:
    """An explicit `max_length`, else the tokenizer's `model_max_length` (None when it is unset)."""
    if max_length is not None:
        if max_length < 2:
            raise ValueError(f"max_length must be at least 2 tokens, got {max_length}")
        return int(max_length)
    limit = getattr(tokenizer, "model_max_length", None)
    if limit is None or limit >= 1e9:  # transformers' VERY_LARGE_INTEGER sentinel: no limit recorded
        return None
    return int(limit)


def _kmer_size(tokenizer) -> int:
    for attr in ("k", "kmer_size"):
        value = getattr(tokenizer, attr, None)
        if isinstance(value, int) and value > 0:
            return value
    return 1


def _special_count(tokenizer) -> int:
    try:
        return int(tokenizer.num_special_tokens_to_add(pair=False))
    except Exception:  # noqa: BLE001
        k = _kmer_size(tokenizer)
        return len(tokenizer("A" * k)["input_ids"]) - 1


@dataclass
class EncodedSplit:
    """Token ids per row of a split: `rows[i]` is the list of token-id lists (one per chunk)."""

    name: str
    rows: list[list[list[int]]]
    labels: np.ndarray
    n_chunked: int = 0
    n_truncated: int = 0

    def select(self, indices) -> tuple[object, np.ndarray]:
        """A `datasets.Dataset` (input_ids, labels) of the chunks of `indices`, and each chunk's row id."""
        from datasets import Dataset

        ids, labels, groups = [], [], []
        for i in np.asarray(indices, dtype=np.int64).tolist():
            for chunk in self.rows[i]:
                ids.append(chunk)
                labels.append(int(self.labels[i]))
                groups.append(i)
        return Dataset.from_dict({"input_ids": ids, "labels": labels}), np.asarray(groups)

    def all(self):
        return self.select(np.arange(len(self.rows)))


def encode_split(
    tokenizer, ds, split: str, max_tokens: int | None, length_mode: str = "error", chunk_overlap=None
) -> EncodedSplit:
    """Tokenize a split; enforce the length policy (see the module docstring)."""
    sequences = column(ds, SEQUENCE)
    names = column(ds, NAME) if NAME in ds.column_names else [f"row{i}" for i in range(len(ds))]
    try:
        encoded = tokenizer(sequences, add_special_tokens=True)["input_ids"]
    except ValueError as err:  # e.g. a character that is not a nucleotide: say which split
        raise ValueError(f"{split} split: {err}") from err
    rows: list[list[list[int]]] = []
    n_chunked = n_truncated = 0
    k = _kmer_size(tokenizer)
    n_special = _special_count(tokenizer)
    for i, ids in enumerate(encoded):
        if max_tokens is None or len(ids) <= max_tokens:
            rows.append([list(ids)])
            continue
        if length_mode == "error":
            raise SequenceTooLongError(
                f"{split} row {i} (0-based; name {names[i]!r}): {len(sequences[i])} nt -> {len(ids)} tokens, "
                "longer than the "
                f"model maximum of {max_tokens} tokens. Pass --length_mode truncate to cut such rows, --length_mode "
                "chunk to average sliding windows, or a larger --max_length if the model supports it."
            )
        if length_mode == "truncate":
            cut = tokenizer(sequences[i], add_special_tokens=True, truncation=True, max_length=max_tokens)["input_ids"]
            rows.append([list(cut)])
            n_truncated += 1
            continue
        window = max(k, (max_tokens - n_special) * k)
        overlap = window // 2 if chunk_overlap is None else int(chunk_overlap)
        if not 0 <= overlap < window:
            raise ValueError(f"chunk overlap must be in [0, {window}) nucleotides, got {overlap}")
        spans = window_spans(len(sequences[i]), window, window - overlap, frame=k, last_window="shifted")
        pieces = [sequences[i][a:b] for a, b in spans]
        chunk_ids = tokenizer(pieces, add_special_tokens=True, truncation=True, max_length=max_tokens)["input_ids"]
        rows.append([list(c) for c in chunk_ids])
        n_chunked += 1
    if n_truncated:
        logger.warning("%s: truncated %d rows to %d tokens", split, n_truncated, max_tokens)
    if n_chunked:
        logger.info("%s: split %d long rows into sliding chunks of <= %d tokens", split, n_chunked, max_tokens)
    return EncodedSplit(split, rows, np.asarray(column(ds, LABEL), dtype=np.int64), n_chunked, n_truncated)
