"""FGM k-mer tokenizer: the Nucleotide Transformer v2 vocabulary, with strict nucleotide validation.

Ships inside every FGM checkpoint with ``kmers_fgm.py`` (the alphabet, the vocabulary layout and the k-mer
encoders); it imports only the standard library, torch, transformers, tokenizers and that sibling module.

Tokenization rule (NT's own algorithm)
    Split the sequence on ``N``; cut every N-free piece left to right into non-overlapping k-mers; a last chunk
    shorter than k becomes single-letter tokens; every ``N`` is its own token. Equivalently: the regex
    ``[ACGT]{k}|[ACGTN]`` applied left to right. Lowercase (soft-masked) bases are read as uppercase, IUPAC ambiguity
    codes ``R Y S W K M B D H V`` (any case) are read as ``N``. Any other character (whitespace, digits, ``U``,
    ``-``, non-ASCII, ...) raises ``ValueError`` naming the character, its 0-based position and, in a batch, the
    sequence index: never a silent ``<unk>``, and ``tokenizer.json`` loaded without this file raises too (see
    ``FGMTokenizer``). With ``add_special_tokens=True`` only ``<cls>`` is prepended (NT v2 adds no ``<eos>``).
    Special tokens (``<mask>``, ...) and the tokens a user adds (``add_special_tokens``, ``add_tokens``) may appear
    inside the text and are kept as tokens of their own; the k-mer phase restarts after each.

Encoders
    ``__call__`` on a string or a list of strings: ids from ``kmers_fgm.encode_run``, with the truncation and
    padding settings transformers puts on the Rust backend; everything else (pairs, pretokenized words, overflowing
    tokens, and the ``Encoding`` objects behind ``tokens()``, ``word_ids()``...) from the Rust ``tokenizers``
    pipeline. ``bulk_encode``: the vectorized torch encoder of ``kmers_fgm``. All give the same ids
    (``tests/test_tokenizer.py``); why ``__call__`` does not leave everything to the Rust pipeline:
    ``benchmarks/results_tokenizer.md``.
"""

from __future__ import annotations

import array
import contextlib
import functools
import os
import re
from typing import NamedTuple

import torch
from tokenizers import Regex, Tokenizer, decoders, normalizers, pre_tokenizers, processors
from tokenizers.models import WordPiece
from transformers.tokenization_utils_base import BatchEncoding, TruncationStrategy
from transformers.tokenization_utils_tokenizers import TokenizersBackend
from transformers.utils import PaddingStrategy

from .kmers_fgm import (
    DEFAULT_MAX_BASES,
    IUPAC_AMBIGUOUS,
    SPECIAL_TOKENS,
    encode_run,
    encode_sequences,
    kmer_vocabulary,
    normalize_sequence,
)

__all__ = ["FGMTokenizer"]

# WordPiece's unknown token: deliberately not in the vocabulary, so that the Rust model raises on a chunk it cannot
# spell instead of emitting <unk> (read by anyone who opens tokenizer.json: hence the wording).
_STRICT_UNK = "<not a nucleotide>"


def _build_backend(k: int) -> Tokenizer:
    """The Rust pipeline: split on N (each N isolated), cut the pieces into fixed chunks of k letters, and look the
    chunks up with a WordPiece model without continuation prefix, so a k-letter chunk is one k-mer token and a
    shorter last chunk falls back to single letters (the vocabulary has no 2..k-1-mers). A chunk holding any other
    character raises (``_STRICT_UNK``). FGMTokenizer validates and uppercases in Python before this runs."""
    vocab = {tok: i for i, tok in enumerate(kmer_vocabulary(k))}
    model = WordPiece(vocab, unk_token=_STRICT_UNK, continuing_subword_prefix="", max_input_chars_per_word=k)
    backend = Tokenizer(model)
    backend.pre_tokenizer = pre_tokenizers.Sequence(
        [pre_tokenizers.Split("N", behavior="isolated"), pre_tokenizers.FixedLength(length=k)]
    )
    backend.decoder = decoders.Fuse()
    return backend


def _standalone_normalizer():
    """Uppercase and IUPAC codes -> N in Rust, for ``tokenizer.json`` used without FGMTokenizer (in FGMTokenizer
    ``normalize_sequence`` does it before the backend runs)."""
    ambiguous = IUPAC_AMBIGUOUS + IUPAC_AMBIGUOUS.lower() + "n"
    return normalizers.Sequence(
        [normalizers.Replace(Regex(f"[{ambiguous}]"), "N")] + [normalizers.Replace(c, c.upper()) for c in "acgt"]
    )


class _TextTokens(NamedTuple):
    """The tokens that a text may hold besides DNA (special and added tokens), read as tokens of their own: a regex
    that cuts a text into DNA, token, DNA, ... (longest token first, as the Rust pipeline matches them), the same
    with ``N`` as a token too (``separators``: after each the k-mer phase restarts), their first characters (a text
    holding none of them needs no regex), and the ids of the tokens and of ``N``."""

    tokens: re.Pattern | None
    separators: re.Pattern
    first_characters: frozenset
    ids: dict

    def in_text(self, text: str) -> bool:
        return any(c in text for c in self.first_characters)


@functools.lru_cache(maxsize=64)
def _text_tokens(tokens: tuple[tuple[str, int], ...], n_id: int) -> _TextTokens:
    """The ``_TextTokens`` of ``(token, id)`` pairs."""
    alternatives = "|".join(re.escape(token) for token, _ in sorted(tokens, key=lambda pair: -len(pair[0])))
    return _TextTokens(
        re.compile(f"({alternatives})") if tokens else None,
        re.compile(f"({alternatives}|N)" if tokens else "(N)"),
        frozenset(token[0] for token, _ in tokens),
        {**dict(tokens), "N": n_id},
    )


def _normalize_input(text, is_split_into_words: bool, tokens: _TextTokens, label: str):
    """``text`` (a string, batch, pair batch or pretokenized words) with every string normalized, the ``tokens``
    in it kept as they are; errors name the string's place in the input."""
    if text is None:
        return None
    if isinstance(text, str):
        return _normalize_one(text, label, tokens)
    if not isinstance(text, (list, tuple)):
        return text  # let the base class raise its usual error
    if is_split_into_words and (not text or isinstance(text[0], str)):
        return [_normalize_one(w, f" of word {j}{label}", tokens) for j, w in enumerate(text)]
    out = []
    for i, item in enumerate(text):
        where = f" of sequence {i} in the batch{label}"
        if isinstance(item, str):
            out.append(_normalize_one(item, where, tokens))
        elif isinstance(item, (list, tuple)) and is_split_into_words:
            out.append([_normalize_one(w, f" of word {j}{where}", tokens) for j, w in enumerate(item)])
        elif isinstance(item, (list, tuple)):  # (text, text_pair) tuple inside a batch
            out.append(type(item)(_normalize_one(s, f" of part {j}{where}", tokens) for j, s in enumerate(item)))
        else:
            out.append(item)
    return out


def _normalize_one(seq: str, where: str, tokens: _TextTokens) -> str:
    """``normalize_sequence(seq)``, keeping the ``tokens`` in it (``<mask>``, added tokens) as they are."""
    if tokens.tokens is None or not tokens.in_text(seq):
        return normalize_sequence(seq, where)
    pieces = tokens.tokens.split(seq)  # DNA, token, DNA, ...
    start = 0
    for i, piece in enumerate(pieces):
        if i % 2 == 0:
            pieces[i] = normalize_sequence(piece, where, start)
        start += len(piece)
    return "".join(pieces)


def _encode_text(text: str, k: int, tokens: _TextTokens, with_offsets: bool):
    """``(ids, spans)`` of one validated, normalized text, without special tokens added: every ``N`` and every one
    of the ``tokens`` is a token of its own, the N-free runs between them go through ``encode_run``. ``spans``
    are the tokens' character spans (an empty list unless ``with_offsets``)."""
    pieces = tokens.separators.split(text) if "N" in text or tokens.in_text(text) else [text]
    ids, spans, start = [], [], 0
    for i, piece in enumerate(pieces):  # run, separator, run, ...
        end = start + len(piece)
        if i % 2:
            ids.append(tokens.ids[piece])
            spans.append((start, end))
        elif piece:
            ids += encode_run(piece.encode("ascii"), k)
            if with_offsets:
                full = start + len(piece) // k * k
                spans += zip(range(start, full, k), range(start + k, full + k, k))
                spans += zip(range(full, end), range(full + 1, end + 1))
        start = end
    return ids, spans


def _padded(data: dict[str, list[list]], padding: dict) -> dict[str, list[list]]:
    """Every field's rows padded as ``padding`` (the Rust backend's settings) says: to its ``length``, else the
    longest row, rounded up to ``pad_to_multiple_of``, on its ``direction``'s side, with each field's fill."""
    width = padding["length"] if padding["length"] is not None else max(map(len, data["input_ids"]))
    multiple = padding["pad_to_multiple_of"]
    if multiple and width % multiple:
        width += multiple - width % multiple
    fills = {"input_ids": padding["pad_id"], "token_type_ids": padding["pad_type_id"], "attention_mask": 0,
             "special_tokens_mask": 1, "offset_mapping": (0, 0)}
    left = padding["direction"] == "left"

    def pad(row: list, fill) -> list:
        missing = [fill] * (width - len(row))
        return missing + row if left else row + missing

    return {name: [pad(row, fills[name]) for row in rows] for name, rows in data.items()}


def _long_tensor(rows: list[list[int]]) -> torch.Tensor:
    """``torch.tensor(rows)`` for equal-length, non-empty int rows, built on one int64 buffer without a torch op."""
    flat = array.array("q")
    for row in rows:
        flat.fromlist(row)
    return torch.frombuffer(flat, dtype=torch.long).view(len(rows), -1)


class _LazyEncodings(BatchEncoding):
    """The fast path's ``BatchEncoding``: its ``tokenizers.Encoding`` objects (behind ``tokens()``, ``word_ids()``,
    ``token_to_chars()``, ``encodings``, ``batch[i]``, pickling) come from ``encode``, the Rust pipeline, run on
    first use."""

    def __init__(self, data: dict, encode, tensor_type):
        self._encode, self._computed = encode, None
        super().__init__(data, tensor_type=tensor_type, n_sequences=1)

    @property
    def _encodings(self):
        if self._encode is not None:
            self._computed, self._encode = self._encode(), None
        return self._computed

    @_encodings.setter
    def _encodings(self, value):  # BatchEncoding's __init__ sets None (keep the pending encode); unpickling the list
        if value is not None:
            self._encode, self._computed = None, value


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


class FGMTokenizer(TokenizersBackend):
    r"""Fast k-mer DNA tokenizer with the Nucleotide Transformer v2 vocabulary layout (k=6 by default).

    See the module docstring for the vocabulary, the tokenization rule and which encoder serves which call.

    - ``k`` (1..8) is saved in ``tokenizer_config.json`` and restored by ``from_pretrained``.
    - ``tokenizer(seqs)`` validates every sequence (``normalize_sequence``), raising ``ValueError`` on any
      non-nucleotide character with its position and index in the batch; special and added tokens inside the text
      are kept. It takes every option of a transformers fast tokenizer and returns the same fields, to the last
      offset and dtype, as the Rust pipeline would (``tests/test_tokenizer.py`` compares them over every option).
    - ``return_offsets_mapping=True`` gives character (nucleotide) spans in the input string; specials get (0, 0).
    - ``bulk_encode`` is a vectorized torch encoder for corpus building with identical ids.
    - ``model_max_length`` defaults to ``DEFAULT_MAX_BASES // k + k`` tokens (2**20 bases; 174,768 for k=6).

    ``tokenizer.json`` used without this class (``tokenizers.Tokenizer.from_file``, ``PreTrainedTokenizerFast``,
    ``TokenizersBackend.from_pretrained``) gives the same ids for valid input, reading lowercase and IUPAC codes as
    this class does (the saved file has a normalizer for that). It cannot name the bad character, but it never emits
    ``<unk>`` either: its WordPiece unknown token is not in the vocabulary, so any other character raises
    ``Exception: WordPiece error: Missing [UNK] token from the vocabulary``. ``AutoTokenizer`` in a process without
    the ``fgm`` package refuses to load the folder unless given ``trust_remote_code=True``, and then runs the
    folder's copy of this file, with its ``ValueError``.

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
        self._tokenizer = _build_backend(k)  # checks k
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
            "add_bos_token",
            "add_eos_token",
        ):
            kwargs.pop(key, None)
        expected = (unk_token, pad_token, mask_token, cls_token, eos_token, bos_token)
        if [str(token) for token in expected] != SPECIAL_TOKENS:
            raise ValueError(f"FGMTokenizer's special tokens are fixed to {SPECIAL_TOKENS}, got {expected}")
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

    @property
    def kmer_size(self) -> int:
        return self.k

    def update_post_processor(self):
        """NT v2 convention: ``<cls>`` prepended, no ``<eos>`` (pairs: ``<cls> A B``)."""
        cls_id = SPECIAL_TOKENS.index("<cls>")
        self._tokenizer.post_processor = processors.TemplateProcessing(
            single="<cls>:0 $A:0", pair="<cls>:0 $A:0 $B:1", special_tokens=[("<cls>", cls_id)]
        )

    # -- validation and encoding ---------------------------------------------------------------------------------------

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
        return_overflowing_tokens: bool = False,
        split_special_tokens: bool | None = None,
        **kwargs,
    ) -> BatchEncoding:
        """Validate and normalize the input (see ``normalize_sequence``), then encode it: a string or a batch of
        strings through ``_encode_fast``, anything else (pairs, pretokenized words, overflowing tokens, ...) as any
        fast tokenizer, through ``TokenizersBackend``."""
        if split_special_tokens is None:
            split_special_tokens = self.split_special_tokens
        tokens = self._tokens_in_text(keep_special=not split_special_tokens)
        text = _normalize_input(text, is_split_into_words, tokens, "")
        text_pair = _normalize_input(text_pair, is_split_into_words, tokens, " (text_pair)")
        settings = dict(
            padding_strategy=padding_strategy,
            truncation_strategy=truncation_strategy,
            max_length=max_length,
            stride=stride,
            pad_to_multiple_of=pad_to_multiple_of,
            padding_side=padding_side,
        )
        general = functools.partial(
            TokenizersBackend._encode_plus,
            self,
            text,
            text_pair,
            add_special_tokens=add_special_tokens,
            is_split_into_words=is_split_into_words,
            return_overflowing_tokens=return_overflowing_tokens,
            split_special_tokens=split_special_tokens,
            **settings,
            **kwargs,
        )
        if self._takes_fast_path(
            text, text_pair, add_special_tokens, is_split_into_words, truncation_strategy, max_length,
            return_overflowing_tokens or kwargs.get("sanitize_control_tokens"),
        ):
            self.set_truncation_and_padding(**settings)  # transformers' own settings, read back by _encode_fast
            data = self._encode_fast(text, tokens, add_special_tokens, return_tensors, max_length, **kwargs)
            return _LazyEncodings(data, lambda: general(return_tensors=None).encodings, tensor_type=return_tensors)
        return general(return_tensors=return_tensors)

    @staticmethod
    def _takes_fast_path(
        text, text_pair, add_special_tokens, is_split_into_words, truncation_strategy, max_length, overflow_or_chat
    ) -> bool:
        """Whether ``_encode_plus`` encodes (normalized) ``text`` through ``_encode_fast``: a string or a non-empty
        list of strings, alone, truncated (if at all) to a ``max_length`` that leaves room for the special tokens,
        without overflowing tokens or chat-template control tokens (``overflow_or_chat``). Anything else takes
        ``TokenizersBackend``'s path, which also raises its errors."""
        truncating = truncation_strategy != TruncationStrategy.DO_NOT_TRUNCATE
        return bool(
            (isinstance(text, str) or (isinstance(text, list) and text and all(isinstance(t, str) for t in text)))
            and text_pair is None
            and not is_split_into_words
            and not overflow_or_chat
            and truncation_strategy != TruncationStrategy.ONLY_SECOND
            and (not truncating or (max_length is not None and max_length >= add_special_tokens))
        )

    def _tokens_in_text(self, keep_special: bool) -> _TextTokens:
        """The tokens read as tokens of their own inside a text: every added token, the special ones (``<mask>``,
        ``<cls>``, user-added specials...) unless ``keep_special`` is False (``split_special_tokens``)."""
        added = self._tokenizer.get_added_tokens_decoder()
        pairs = tuple(sorted((token.content, i) for i, token in added.items() if keep_special or not token.special))
        return _text_tokens(pairs, self._tokenizer.token_to_id("N"))

    def _encode_fast(
        self,
        text: str | list[str],
        tokens: _TextTokens,
        add_special_tokens: bool,
        return_tensors,
        max_length: int | None,
        return_token_type_ids: bool | None = None,
        return_attention_mask: bool | None = None,
        return_special_tokens_mask: bool = False,
        return_offsets_mapping: bool = False,
        return_length: bool = False,
        verbose: bool = True,
        **kwargs,
    ) -> dict:
        """The data fields that ``TokenizersBackend`` returns for a string or a batch of strings, without its
        ``Encoding`` objects: ids from ``encode_run``, truncated and padded as set on the backend
        (``set_truncation_and_padding``), as Python lists or (equal-length rows, ``return_tensors='pt'``) int64
        tensors. ``tests/test_tokenizer.py`` checks every field against the Rust pipeline across the options."""
        if return_token_type_ids is None:
            return_token_type_ids = "token_type_ids" in self.model_input_names
        if return_attention_mask is None:
            return_attention_mask = "attention_mask" in self.model_input_names
        added = [self.cls_token_id] if add_special_tokens else []
        rows, spans = self._truncated_rows([text] if isinstance(text, str) else text, tokens, added,
                                           return_offsets_mapping)
        data = {"input_ids": rows}
        if return_token_type_ids:
            data["token_type_ids"] = [[0] * len(row) for row in rows]
        if return_attention_mask:
            data["attention_mask"] = [[1] * len(row) for row in rows]
        if return_special_tokens_mask:
            data["special_tokens_mask"] = [[1] * len(added) + [0] * (len(row) - len(added)) for row in rows]
        if return_offsets_mapping:
            data["offset_mapping"] = spans
        if self._tokenizer.padding:
            data = _padded(data, self._tokenizer.padding)
            rows = data["input_ids"]
        if return_length:
            data["length"] = [len(row) for row in rows]
        for row in rows:
            self._eventual_warn_about_too_long_sequence(row, max_length, verbose)
        widths = {len(row) for row in rows}
        if return_tensors == "pt" and len(widths) == 1 and 0 not in widths:  # the rest as the base class does it
            for name in ("input_ids", "token_type_ids", "attention_mask", "special_tokens_mask"):
                if name in data:
                    data[name] = _long_tensor(data[name])
        elif isinstance(text, str) and return_tensors is None:  # a single input loses its batch level
            data = {name: value[0] if value and isinstance(value[0], list) else value for name, value in data.items()}
        return data

    def _truncated_rows(self, texts: list[str], tokens: _TextTokens, added: list[int], with_offsets: bool):
        """The ids of each text after the ``added`` special tokens, and their character spans (``(0, 0)`` for the
        added ones; empty unless ``with_offsets``), truncated as set on the backend."""
        truncation = self._tokenizer.truncation
        rows, span_rows = [], []
        for text in texts:
            ids, spans = _encode_text(text, self.k, tokens, with_offsets)
            keep = truncation["max_length"] - len(added) if truncation else len(ids)
            if len(ids) > keep:
                cut = slice(0, keep) if truncation["direction"] == "right" else slice(len(ids) - keep, None)
                ids, spans = ids[cut], spans[cut]
            rows.append(added + ids)
            span_rows.append([(0, 0)] * len(added) + spans)
        return rows, span_rows

    # -- vectorized encoder -------------------------------------------------------------------------------------------

    def bulk_encode(
        self, sequences: list[str], add_special_tokens: bool = True, num_threads: int | None = None
    ) -> list[torch.Tensor]:
        """Vectorized torch tokenization of many sequences, for corpus building (see ``encode_sequences``).

        Validates and normalizes exactly like ``__call__`` (same ``ValueError``s) and returns one 1-D ``LongTensor``
        of ids per sequence (``<cls>`` first when ``add_special_tokens``), identical to
        ``self(sequences, add_special_tokens=...)["input_ids"]``. Special-token strings inside the sequences are not
        supported here (they raise ``ValueError``).

        ``num_threads``: torch intra-op threads used during the call (restored afterwards; ``None``, the default,
        keeps the current setting). Changing it rebuilds torch's thread pool, so it is meant for corpus building,
        not for code that tokenizes between training steps (docs/design_notes.md).
        """
        with _torch_threads(num_threads):
            return encode_sequences(sequences, self.k, add_special_tokens)

    # -- saving --------------------------------------------------------------------------------------------------------

    def _save_pretrained(self, save_directory, file_names, legacy_format=None, filename_prefix=None):
        """Save ``tokenizer.json`` with a normalizer added (uppercase, IUPAC codes -> N) and no padding or truncation
        left over from the last call, so that the file alone, used without this class, reads soft-masked and
        ambiguous bases the same way (and raises on anything else, see the class docstring)."""
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
