"""FGM k-mer tokenizer: the Nucleotide Transformer v2 vocabulary, with strict nucleotide validation.

Ships inside every FGM checkpoint with ``kmers_fgm.py`` (the vocabulary layout and the pure-torch k-mer helpers); it
imports only the standard library, torch, transformers, tokenizers and that sibling module.

Tokenization rule (NT's own algorithm)
    Split the sequence on ``N``; cut every N-free piece left to right into non-overlapping k-mers; a last chunk
    shorter than k becomes single-letter tokens; every ``N`` is its own token. Equivalently: the regex
    ``[ACGT]{k}|[ACGTN]`` applied left to right. Lowercase (soft-masked) bases are read as uppercase, IUPAC ambiguity
    codes ``R Y S W K M B D H V`` (any case) are read as ``N``. Any other character (whitespace, digits, ``U``,
    ``-``, non-ASCII, ...) raises ``ValueError`` naming the character, its 0-based position and, in a batch, the
    sequence index: never a silent ``<unk>``. With ``add_special_tokens=True`` only ``<cls>`` is prepended (NT v2
    adds no ``<eos>``). Special-token strings such as ``<mask>`` may appear inside the text and are kept as tokens.
"""

from __future__ import annotations

import array
import contextlib
import itertools
import os
import re

import torch
from tokenizers import Regex, Tokenizer, decoders, normalizers, pre_tokenizers, processors
from tokenizers.models import WordPiece
from transformers.tokenization_utils_base import BatchEncoding, TruncationStrategy
from transformers.tokenization_utils_tokenizers import TokenizersBackend
from transformers.utils import PaddingStrategy, TensorType

from .kmers_fgm import (
    DEFAULT_MAX_BASES,
    IUPAC_AMBIGUOUS,
    SPECIAL_TOKENS,
    _arithmetic_runs,
    _check_k,
    _encode_framed,
    _first_invalid,
    _invalid_character_error,
    _normalize_bytes,
    _tables,
    kmer_vocabulary,
    normalize_sequence,
)

__all__ = ["FGMTokenizer"]

_BULK_CALL_MIN_BASES = 1 << 15  # __call__ batches at least this long use the vectorized torch encoder


# ----------------------------------------------------------------------------------------------------------------
# The Hugging Face tokenizer
# ----------------------------------------------------------------------------------------------------------------


def _build_backend(k: int) -> Tokenizer:
    """The Rust pipeline: split on N (each N isolated), cut the pieces into fixed chunks of k letters, and look the
    chunks up with a WordPiece model without continuation prefix, so a k-letter chunk is one k-mer token and a
    shorter last chunk falls back to single letters (the vocabulary has no 2..k-1-mers). Input reaching it is
    already validated and uppercased by FGMTokenizer (see ``normalize_sequence``)."""
    vocab = {tok: i for i, tok in enumerate(kmer_vocabulary(k))}
    backend = Tokenizer(WordPiece(vocab, unk_token="<unk>", continuing_subword_prefix="", max_input_chars_per_word=k))
    backend.pre_tokenizer = pre_tokenizers.Sequence(
        [pre_tokenizers.Split("N", behavior="isolated"), pre_tokenizers.FixedLength(length=k)]
    )
    backend.decoder = decoders.Fuse()
    return backend


def _standalone_normalizer():
    ambiguous = IUPAC_AMBIGUOUS + IUPAC_AMBIGUOUS.lower() + "n"
    return normalizers.Sequence(
        [normalizers.Replace(Regex(f"[{ambiguous}]"), "N")] + [normalizers.Replace(c, c.upper()) for c in "acgt"]
    )


class FGMTokenizer(TokenizersBackend):
    r"""Fast k-mer DNA tokenizer with the Nucleotide Transformer v2 vocabulary layout (k=6 by default).

    See the module docstring for the vocabulary and the tokenization rule. Highlights:

    - ``k`` (1..8) is saved in ``tokenizer_config.json`` and restored by ``from_pretrained``.
    - ``tokenizer(seqs)`` validates every sequence (one ``bytes.translate`` + ``find`` per sequence, C speed) and
      raises ``ValueError`` on any non-nucleotide character, naming it, its position and its index in the batch.
    - ``return_offsets_mapping=True`` gives character (nucleotide) spans in the input string; specials get (0, 0).
    - ``bulk_encode`` is a vectorized torch encoder for corpus building with identical ids.
    - ``model_max_length`` defaults to ``DEFAULT_MAX_BASES // k + k`` tokens (2**20 bases; 174,768 for k=6).

    How ``__call__`` runs (same output either way; ``tests/test_tokenizer.py`` checks the paths against each other):
    a batch of single sequences totalling at least ``_BULK_CALL_MIN_BASES`` (32 kb) without special-token strings
    goes through the vectorized torch encoder, with the backend's truncation and padding rules redone in torch;
    everything else (small inputs, pairs, pretokenized input, offsets, overflowing tokens) goes through the
    ``tokenizers`` backend, which skips character offsets unless they are asked for. In both cases the
    ``tokenizers.Encoding`` objects behind ``BatchEncoding.tokens()`` / ``word_ids()`` / ``token_to_chars()`` are
    computed on first use.

    Example::

        >>> tok = FGMTokenizer()
        >>> tok("ACGTACGTA")["input_ids"]
        [3, 728, 4105, 4103, 4102]
    """

    vocab_files_names = {"tokenizer_file": "tokenizer.json"}
    model_input_names = ["input_ids", "attention_mask"]
    padding_side = "right"
    truncation_side = "right"

    def __init__(
        self,
        k: int = 6,
        unk_token: str = "<unk>",
        pad_token: str = "<pad>",
        mask_token: str = "<mask>",
        cls_token: str = "<cls>",
        eos_token: str = "<eos>",
        bos_token: str = "<bos>",
        model_max_length: int | None = None,
        **kwargs,
    ):
        _check_k(k)
        self.k = k
        # The backend is fully determined by k: ignore any serialized pipeline handed back by from_pretrained.
        for key in (
            "tokenizer_object",
            "tokenizer_file",
            "vocab",
            "vocab_file",
            "merges",
            "post_processor",
            "tokenizer_padding",
            "tokenizer_truncation",
            "_json_padding",
            "_json_truncation",
        ):
            kwargs.pop(key, None)
        kwargs.pop("add_bos_token", None)
        kwargs.pop("add_eos_token", None)
        expected = (unk_token, pad_token, mask_token, cls_token, eos_token, bos_token)
        if [str(token) for token in expected] != SPECIAL_TOKENS:
            raise ValueError(f"FGMTokenizer's special tokens are fixed to {SPECIAL_TOKENS}, got {expected}")
        self._tokenizer = _build_backend(k)
        if model_max_length is None:
            model_max_length = DEFAULT_MAX_BASES // k + k
        super().__init__(
            k=k,
            unk_token=unk_token,
            pad_token=pad_token,
            mask_token=mask_token,
            cls_token=cls_token,
            eos_token=eos_token,
            bos_token=bos_token,
            model_max_length=model_max_length,
            **kwargs,
        )
        self.update_post_processor()
        self._special_pattern = re.compile("(" + "|".join(re.escape(t) for t in SPECIAL_TOKENS) + ")")

    # -- properties ----------------------------------------------------------------------------------------------------

    @property
    def kmer_size(self) -> int:
        return self.k

    def update_post_processor(self):
        """NT v2 convention: ``<cls>`` prepended, no ``<eos>`` (pairs: ``<cls> A B``)."""
        cls_id = SPECIAL_TOKENS.index("<cls>")
        self._tokenizer.post_processor = processors.TemplateProcessing(
            single="<cls>:0 $A:0", pair="<cls>:0 $A:0 $B:1", special_tokens=[("<cls>", cls_id)]
        )

    # -- validation ----------------------------------------------------------------------------------------------------

    def _normalize_one(self, seq: str, where: str, allow_special: bool) -> str:
        if allow_special and "<" in seq:
            pieces = self._special_pattern.split(seq)
            offset = 0
            for i, piece in enumerate(pieces):
                if i % 2 == 0 and piece:
                    try:
                        pieces[i] = normalize_sequence(piece)
                    except ValueError:
                        raise _invalid_character_error(seq, offset + _first_invalid(piece), where) from None
                offset += len(piece)
            return "".join(pieces)
        return normalize_sequence(seq, where)

    def _normalize_input(self, text, is_split_into_words: bool, allow_special: bool, label: str):
        if text is None:
            return None
        if isinstance(text, str):
            return self._normalize_one(text, label, allow_special)
        if not isinstance(text, (list, tuple)):
            return text  # let the base class raise its usual error
        normalize = self._normalize_one
        if is_split_into_words and (not text or isinstance(text[0], str)):
            return [normalize(w, f" of word {j}{label}", allow_special) for j, w in enumerate(text)]
        out = []
        for i, item in enumerate(text):
            where = f" of sequence {i} in the batch{label}"
            if isinstance(item, str):
                out.append(normalize(item, where, allow_special))
            elif isinstance(item, (list, tuple)) and is_split_into_words:
                out.append([normalize(w, f" of word {j}{where}", allow_special) for j, w in enumerate(item)])
            elif isinstance(item, (list, tuple)):  # (text, text_pair) tuple inside a batch
                out.append(type(item)(normalize(s, f" of part {j}{where}", allow_special) for j, s in enumerate(item)))
            else:
                out.append(item)
        return out

    def _encode_plus(
        self,
        text,
        text_pair=None,
        add_special_tokens: bool = True,
        padding_strategy: PaddingStrategy = PaddingStrategy.DO_NOT_PAD,
        truncation_strategy: TruncationStrategy = TruncationStrategy.DO_NOT_TRUNCATE,
        max_length: int | None = None,
        stride: int = 0,
        is_split_into_words: bool = False,
        pad_to_multiple_of: int | None = None,
        padding_side: str | None = None,
        return_tensors=None,
        return_token_type_ids: bool | None = None,
        return_attention_mask: bool | None = None,
        return_overflowing_tokens: bool = False,
        return_special_tokens_mask: bool = False,
        return_offsets_mapping: bool = False,
        return_length: bool = False,
        verbose: bool = True,
        split_special_tokens: bool | None = None,
        **kwargs,
    ) -> BatchEncoding:
        """Validate/normalize the input, then encode it (see the class docstring for the paths taken).

        Unless offsets or overflowing tokens are requested, the ids come from the vectorized torch encoder (large
        batches) or from the Rust backend without character offsets (``encode_batch_fast``, twice as fast as with
        them); the ``tokenizers.Encoding`` objects behind ``tokens()``, ``word_ids()``, ``token_to_chars()`` etc. are
        then computed on first use, so the returned ``BatchEncoding`` behaves exactly as usual.
        """
        full = bool(kwargs.pop("_full_encodings", False))
        if split_special_tokens is None:
            split_special_tokens = self.split_special_tokens
        text = self._normalize_input(text, is_split_into_words, not split_special_tokens, "")
        text_pair = self._normalize_input(text_pair, is_split_into_words, not split_special_tokens, " (text_pair)")
        call_kwargs = dict(
            add_special_tokens=add_special_tokens,
            padding_strategy=padding_strategy,
            truncation_strategy=truncation_strategy,
            max_length=max_length,
            stride=stride,
            is_split_into_words=is_split_into_words,
            pad_to_multiple_of=pad_to_multiple_of,
            padding_side=padding_side,
            return_token_type_ids=return_token_type_ids,
            return_attention_mask=return_attention_mask,
            return_overflowing_tokens=return_overflowing_tokens,
            return_special_tokens_mask=return_special_tokens_mask,
            return_offsets_mapping=return_offsets_mapping,
            return_length=return_length,
            verbose=verbose,
            split_special_tokens=split_special_tokens,
            **kwargs,
        )
        if is_split_into_words:
            is_batched = isinstance(text, (list, tuple)) and bool(text) and isinstance(text[0], (list, tuple))
        else:
            is_batched = isinstance(text, (list, tuple))
        simple = (
            not full
            and not return_offsets_mapping
            and not return_overflowing_tokens
            and not kwargs.get("sanitize_control_tokens")
            and (not is_batched or len(text) > 0)
            and _all_str(text, is_split_into_words, is_batched)
            and (text_pair is None or _all_str(text_pair, is_split_into_words, is_batched))
            and (
                not is_batched
                or text_pair is None
                or (not isinstance(text_pair, str) and len(text_pair) == len(text))
            )
        )
        if not simple:  # the base class handles (and reports errors for) everything else
            return super()._encode_plus(text, text_pair, return_tensors=return_tensors, **call_kwargs)

        if return_token_type_ids is None:
            return_token_type_ids = "token_type_ids" in self.model_input_names
        if return_attention_mask is None:
            return_attention_mask = "attention_mask" in self.model_input_names
        n_sequences = 1 if text_pair is None else 2

        def full_encodings():
            return TokenizersBackend._encode_plus(self, text, text_pair, **call_kwargs).encodings

        sequences = text if is_batched else [text]
        if (
            text_pair is None
            and not is_split_into_words
            and sum(map(len, sequences)) >= _BULK_CALL_MIN_BASES
            and not any("<" in seq for seq in sequences)
        ):
            data = self._call_via_bulk(
                sequences,
                is_batched,
                add_special_tokens,
                padding_strategy,
                truncation_strategy,
                max_length,
                pad_to_multiple_of,
                padding_side,
                return_tensors,
                return_token_type_ids,
                return_attention_mask,
                return_special_tokens_mask,
                return_length,
                verbose,
            )
            if data is not None:
                tensor_type = None if return_tensors in ("pt", TensorType.PYTORCH) else return_tensors
                return _LazyEncodingsBatch(data, full_encodings, tensor_type=tensor_type, n_sequences=n_sequences)

        if is_batched:
            batch = list(zip(text, text_pair)) if text_pair is not None else text
        else:
            batch = [(text, text_pair)] if text_pair else [text]
        self.set_truncation_and_padding(
            padding_strategy=padding_strategy,
            truncation_strategy=truncation_strategy,
            max_length=max_length,
            stride=stride,
            pad_to_multiple_of=pad_to_multiple_of,
            padding_side=padding_side,
        )
        if self._tokenizer.encode_special_tokens != split_special_tokens:
            self._tokenizer.encode_special_tokens = split_special_tokens
        encodings = self._tokenizer.encode_batch_fast(
            batch, add_special_tokens=add_special_tokens, is_pretokenized=is_split_into_words
        )
        data = {"input_ids": [e.ids for e in encodings]}
        if return_token_type_ids:
            data["token_type_ids"] = [e.type_ids for e in encodings]
        if return_attention_mask:
            data["attention_mask"] = [e.attention_mask for e in encodings]
        if return_special_tokens_mask:
            data["special_tokens_mask"] = [e.special_tokens_mask for e in encodings]
        if return_length:
            data["length"] = [len(e.ids) for e in encodings]
        for ids in data["input_ids"]:
            self._eventual_warn_about_too_long_sequence(ids, max_length, verbose)
        if not is_batched and return_tensors is None:
            data = _unbatch(data)
        elif return_tensors in ("pt", TensorType.PYTORCH) and len({len(row) for row in data["input_ids"]}) == 1:
            # Equal-length rows (padded): one flat int64 buffer per field, ~3x faster than torch.tensor(list of lists)
            data = {key: _rows_to_long_tensor(value) for key, value in data.items()}
            return_tensors = None
        return _LazyEncodingsBatch(data, full_encodings, tensor_type=return_tensors, n_sequences=n_sequences)

    def tokenize(self, text: str, pair: str | None = None, add_special_tokens: bool = False, **kwargs) -> list[str]:
        kwargs["_full_encodings"] = True
        return super().tokenize(text, pair=pair, add_special_tokens=add_special_tokens, **kwargs)

    # -- vectorized encoder -------------------------------------------------------------------------------------------

    def bulk_encode(
        self, sequences: list[str], add_special_tokens: bool = True, num_threads: int | None = None
    ) -> list[torch.Tensor]:
        """Vectorized torch tokenization of many sequences, for corpus building.

        Validates and normalizes exactly like ``__call__`` (same ``ValueError``s), then encodes the whole batch in
        one pass (the sequences are joined with ``N`` separators, which cannot change the k-mer phase).
        Returns one 1-D ``LongTensor`` of ids per sequence (``<cls>`` first when ``add_special_tokens``), identical
        to ``self(sequences, add_special_tokens=...)["input_ids"]``. The tensors are views into one shared buffer.
        Special-token strings inside the sequences are not supported here (they raise ``ValueError``).

        ``num_threads``: torch intra-op threads used during the call (restored afterwards; ``None``, the default,
        keeps the current setting). On an oversubscribed machine 1 thread encodes much faster (see
        ``benchmarks/results_tokenizer.md``), but switching the setting rebuilds torch's thread pool, which slows a
        training loop that tokenizes between steps by ~40%: so only corpus-building code should ask for it.
        """
        if isinstance(sequences, str) or not isinstance(sequences, (list, tuple)):
            raise TypeError("bulk_encode expects a list of str (one per sequence)")
        if not sequences:
            return []
        with _torch_threads(num_threads):
            return self._bulk_encode(sequences, add_special_tokens)

    def _bulk_encode(self, sequences, add_special_tokens: bool) -> list[torch.Tensor]:
        flat, sizes = self._bulk_flat(sequences, add_special_tokens, normalized=False)
        return list(torch.split(flat, sizes))

    def _bulk_flat(self, sequences, add_special_tokens: bool, normalized: bool) -> tuple[torch.Tensor, list[int]]:
        """All sequences' ids back to back (``<cls>`` included when asked) and the number of ids per sequence.
        ``normalized``: the sequences already went through ``normalize_sequence``."""
        buffer = bytearray(b"N")
        has_n = False
        for i, seq in enumerate(sequences):
            part = seq.encode("ascii") if normalized else _normalize_bytes(seq, f" of sequence {i} in the batch")
            has_n = has_n or b"N" in part
            buffer += part
            buffer += b"N"
        lengths = torch.tensor([len(s) for s in sequences], dtype=torch.long)
        frame_pos = torch.zeros(len(sequences) + 1, dtype=torch.long)
        torch.cumsum(lengths + 1, 0, out=frame_pos[1:])
        codes = torch.frombuffer(buffer, dtype=torch.uint8)
        # Without N inside the sequences the only N's are the separators, whose positions are known.
        ids, n_pos, n_tok = _encode_framed(codes, self.k, _tables(self.k), None if has_n else frame_pos)
        frame_tok = n_tok[torch.searchsorted(n_pos, frame_pos)] if has_n else n_tok
        sizes = (frame_tok[1:] - frame_tok[:-1]).tolist()
        if add_special_tokens:
            ids[frame_tok[:-1]] = self.cls_token_id
            return ids[: int(frame_tok[-1])], sizes
        keep = torch.ones(len(ids), dtype=torch.bool)
        keep[frame_tok] = False
        return ids[keep], [size - 1 for size in sizes]

    def _call_via_bulk(
        self,
        sequences: list[str],
        is_batched: bool,
        add_special_tokens: bool,
        padding_strategy: PaddingStrategy,
        truncation_strategy: TruncationStrategy,
        max_length: int | None,
        pad_to_multiple_of: int | None,
        padding_side: str | None,
        return_tensors,
        return_token_type_ids: bool,
        return_attention_mask: bool,
        return_special_tokens_mask: bool,
        return_length: bool,
        verbose: bool,
    ) -> dict | None:
        """``__call__`` for single (unpaired) sequences through the vectorized encoder, with the backend's
        truncation and padding rules re-done in torch. Returns the output fields, or None to defer to the
        ``tokenizers`` backend for a case it does not cover (which then also raises the usual errors)."""
        n_special = 1 if add_special_tokens else 0
        truncate = truncation_strategy != TruncationStrategy.DO_NOT_TRUNCATE and max_length is not None
        if truncate and (truncation_strategy == TruncationStrategy.ONLY_SECOND or max_length <= n_special):
            return None
        if padding_strategy == PaddingStrategy.MAX_LENGTH and max_length is None:
            return None
        flat, sizes = self._bulk_flat(sequences, add_special_tokens, normalized=True)
        batch = len(sizes)
        size = torch.tensor(sizes, dtype=torch.long)
        start = torch.cumsum(size, 0) - size
        # Each output row = segment A (a leading part of the row) + segment B (a trailing part): B is only used to
        # keep the last tokens after the special ones when truncating on the left.
        head, tail = size, torch.zeros_like(size)
        if truncate:
            if self.truncation_side == "right":
                head = size.clamp(max=max_length)
            else:
                cut = size > max_length
                head = torch.where(cut, torch.full_like(size, n_special), size)
                tail = torch.where(cut, torch.full_like(size, max_length - n_special), tail)
        kept = head + tail
        kept_list = kept.tolist()
        width = None
        if padding_strategy == PaddingStrategy.LONGEST:
            width = max(kept_list) if kept_list else 0
        elif padding_strategy == PaddingStrategy.MAX_LENGTH:
            width = max_length
        if width is not None and pad_to_multiple_of:
            width = -(-width // pad_to_multiple_of) * pad_to_multiple_of
        if width is not None and kept_list and max(kept_list) > width:
            return None  # rows longer than a fixed padding length: ragged output, leave it to the backend
        if width is None and return_tensors is not None and len(set(kept_list)) > 1:
            return None  # ragged rows cannot become a tensor: the backend path raises the usual error
        padded = width is not None
        if not padded:
            width = kept_list[0] if kept_list else 0
        left = padded and (padding_side or self.padding_side) == "left"
        dense = padded or _all_equal(kept_list, width)
        if dense:  # each row starts at row * width, after the left padding
            row_start = torch.arange(batch) * width + ((width - kept) if left else 0)
            out_size = batch * width
        else:  # rows back to back
            row_start = torch.cumsum(kept, 0) - kept
            out_size = int(kept.sum())
        n_head, n_tail = int(head.sum()), int(tail.sum())
        src = torch.cat(
            [_arithmetic_runs(start, head, n_head, 1), _arithmetic_runs(start + size - tail, tail, n_tail, 1)]
        )
        dst = torch.cat(
            [_arithmetic_runs(row_start, head, n_head, 1), _arithmetic_runs(row_start + head, tail, n_tail, 1)]
        )
        out = torch.full((out_size,), self.pad_token_id, dtype=torch.long)
        out[dst] = flat[src]
        if dense:
            input_ids = out.view(batch, width)
            column = torch.arange(width)
            first = (row_start - torch.arange(batch) * width)[:, None]
            real = (column >= first) & (column < first + kept[:, None])
            data = {"input_ids": input_ids}
            if return_token_type_ids:
                data["token_type_ids"] = torch.zeros_like(input_ids)
            if return_attention_mask:
                data["attention_mask"] = real.long()
            if return_special_tokens_mask:
                special = ~real
                if n_special:
                    special |= column == first
                data["special_tokens_mask"] = special.long()
            if return_length:
                data["length"] = torch.full((batch,), width, dtype=torch.long)
            if return_tensors not in ("pt", TensorType.PYTORCH):
                data = {key: value.tolist() for key, value in data.items()}
        else:  # ragged python lists
            ids = out.tolist()
            bounds = list(itertools.accumulate(kept_list, initial=0))
            rows = [ids[a:b] for a, b in zip(bounds, bounds[1:])]
            data = {"input_ids": rows}
            if return_token_type_ids:
                data["token_type_ids"] = [[0] * n for n in kept_list]
            if return_attention_mask:
                data["attention_mask"] = [[1] * n for n in kept_list]
            if return_special_tokens_mask:
                data["special_tokens_mask"] = [[1] * min(n, n_special) + [0] * (n - n_special) for n in kept_list]
            if return_length:
                data["length"] = kept_list
        for n in kept_list:
            self._eventual_warn_about_too_long_sequence(range(n), max_length, verbose)
        if not is_batched and return_tensors is None:
            data = _unbatch(data)
        return data

    # -- misc ----------------------------------------------------------------------------------------------------------

    def _save_pretrained(self, save_directory, file_names, legacy_format=None, filename_prefix=None):
        """Save ``tokenizer.json`` with a normalizer added (uppercase, IUPAC codes -> N), so that the file alone,
        used without this class, reads soft-masked and ambiguous bases the same way. FGMTokenizer itself rebuilds
        its pipeline from ``k`` on load and normalizes in Python, where it also validates."""
        files = super()._save_pretrained(save_directory, file_names, legacy_format, filename_prefix)
        backend = Tokenizer.from_str(self._tokenizer.to_str())
        backend.normalizer = _standalone_normalizer()
        backend.no_padding()
        backend.no_truncation()
        backend.save(files[-1])
        return files

    def save_vocabulary(self, save_directory: str, filename_prefix: str | None = None) -> tuple[str]:
        """Write ``vocab.txt`` (one token per line, NT / EsmTokenizer format)."""
        path = os.path.join(save_directory, (filename_prefix + "-" if filename_prefix else "") + "vocab.txt")
        with open(path, "w", encoding="utf-8") as f:
            f.write("\n".join(kmer_vocabulary(self.k)) + "\n")
        return (path,)



FGMTokenizer.register_for_auto_class()

def _all_equal(lengths: list[int], width: int) -> bool:
    return all(n == width for n in lengths)


def _unbatch(data: dict) -> dict:
    """Drop the batch level of a single input's fields, as TokenizersBackend does (``length`` stays a list)."""
    return {key: value[0] if value and isinstance(value[0], list) else value for key, value in data.items()}


@contextlib.contextmanager
def _torch_threads(num_threads: int | None):
    """Run a block with ``torch.set_num_threads(num_threads)`` (None: unchanged), restoring the setting after."""
    previous = torch.get_num_threads()
    if num_threads is None or num_threads == previous:
        yield
        return
    torch.set_num_threads(num_threads)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


def _rows_to_long_tensor(rows: list) -> torch.Tensor:
    """``torch.tensor(rows)`` for a list of equal-length int lists (or a flat list of ints), via one int64 buffer."""
    if rows and isinstance(rows[0], list):
        flat = array.array("q", itertools.chain.from_iterable(rows))
        shape = (len(rows), len(rows[0]))
    else:
        flat, shape = array.array("q", rows), (len(rows),)
    if not len(flat):
        return torch.zeros(shape, dtype=torch.long)
    return torch.frombuffer(flat, dtype=torch.long).view(shape)


def _all_str(text, is_split_into_words: bool, is_batched: bool) -> bool:
    """Whether ``text`` has the plain shape the fast path handles: str, list[str] or (pretokenized) list[list[str]]."""
    if isinstance(text, str):
        return not is_split_into_words
    if not isinstance(text, (list, tuple)):
        return False
    if is_split_into_words:
        items = [w for item in text for w in item] if is_batched else text
        return all(isinstance(w, str) for w in items)
    return all(isinstance(item, str) for item in text)


class _LazyEncodingsBatch(BatchEncoding):
    """A ``BatchEncoding`` whose ``tokenizers.Encoding`` objects are computed on first access.

    FGMTokenizer's default path asks the Rust backend for ids only (no character offsets, twice as fast). Anything
    that needs the encodings (``tokens()``, ``word_ids()``, ``token_to_chars()``, ``encodings``, ``batch[i]``)
    triggers one full encoding of the same inputs with the same settings.
    """

    def __init__(self, data, compute_encodings, tensor_type=None, n_sequences=None):
        self.__dict__["_compute_encodings"] = compute_encodings
        super().__init__(data, encoding=None, tensor_type=tensor_type, n_sequences=n_sequences)

    @property
    def _encodings(self):
        state = self.__dict__
        if state.get("_materialized") is None and state.get("_compute_encodings") is not None:
            state["_materialized"] = state.pop("_compute_encodings")()
        return state.get("_materialized")

    @_encodings.setter
    def _encodings(self, value):
        self.__dict__["_materialized"] = value

    def __getstate__(self):  # pickling ships the data (and encodings only if already computed)
        return {"data": self.data, "encodings": self.__dict__.get("_materialized")}
