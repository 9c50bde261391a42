"""DNA alphabet, the k-mer vocabulary layout, and the k-mer encoders shared by the tokenizer and the model.

Ships inside every FGM checkpoint next to ``tokenization_fgm.py`` and ``modeling_fgm.py``, so it imports only the
standard library and torch.

Vocabulary layout (``kmer_vocabulary(k)``)
    ``<unk> <pad> <mask> <cls> <eos> <bos>`` (ids 0..5), then the 4**k k-mers in ``itertools.product("ATCG",
    repeat=k)`` order, then the single letters ``A T C G N``. For k=6 this is exactly the Nucleotide Transformer v2
    vocabulary: 4107 ids, ``AAAAAA``=6, ``A``=4102, ``T``=4103, ``C``=4104, ``G``=4105, ``N``=4106. For k=1 the
    single letters are the 1-mers, so the vocabulary is the specials then ``A T C G N`` (11 ids). So a k-mer's id is
    the number of special tokens plus its base-4 number with digits in ``KMER_ALPHABET`` order (A=0 T=1 C=2 G=3):
    the one rule by which both encoders compute ids.

Alphabet
    ``A C G T N`` in either case; the IUPAC ambiguity codes ``R Y S W K M B D H V`` (either case) read as ``N``.
    ``normalize_sequence`` is the one place that decides what a nucleotide is: any other character raises
    ``ValueError`` naming it and its position.

Bases that FGM returns
    Everything per base that FGM computes or returns (``kmer_base_table``, the model's per-nucleotide
    probabilities) indexes bases in ``BASES`` order, **A=0, C=1, G=2, T=3**, with -1 where a token has no base at
    that offset (special tokens, ``N``, offsets past the end of a single-letter token).

Encoders (one per need)
    ``encode_run``: one N-free run of bases to a list of ids, standard library only, for ``FGMTokenizer.__call__``.
    ``encode_sequences``, ``encode_nucleotides``, ``reverse_complement_ids``, ``reverse_complement_rows``: the
    vectorized torch encoder (``_encode_framed``), for bulk encoding (``FGMTokenizer.bulk_encode``) and for reverse
    complements inside the model, on any device. ``ids_to_nucleotides`` decodes; ``kmer_base_table`` /
    ``token_nucleotides_table`` are per-id tables for the model. Names with a leading underscore are internal.
"""

from __future__ import annotations

import array
import functools
import itertools
import sys

import torch

SPECIAL_TOKENS = ["<unk>", "<pad>", "<mask>", "<cls>", "<eos>", "<bos>"]
NUM_SPECIAL_TOKENS = len(SPECIAL_TOKENS)
KMER_ALPHABET = "ATCG"  # the vocabulary's order (NT layout): k-mers enumerated in it, ids computed with its digits
BASES = "ACGT"  # the order of every base index FGM returns: A=0, C=1, G=2, T=3
MIN_K, MAX_K = 1, 8
# Default model_max_length is DEFAULT_MAX_BASES // k + k tokens: room for a 1 Mbp (2**20 bases) N-free sequence,
# its <cls> token and up to k - 1 trailing single-letter tokens. Sequences containing N need more tokens per base.
DEFAULT_MAX_BASES = 1 << 20

IUPAC_AMBIGUOUS = "RYSWKMBDHV"
N_CODE = ord("N")
_MAX_RUNS_TO_SLICE = 4096  # up to this many N-free runs, gather k-mer letters by slicing instead of indexing
INVALID = 0xFF  # translate() marker for characters that are not nucleotides (never an ASCII input byte)
COMPLEMENT = str.maketrans("ACGTNacgtn", "TGCANtgcan")  # the one complement table (str.translate; torch copy below)


def _check_k(k: int) -> int:
    if isinstance(k, bool) or not isinstance(k, int) or not MIN_K <= k <= MAX_K:
        raise ValueError(f"k must be an integer in [{MIN_K}, {MAX_K}], got {k!r}")
    return k


def kmer_vocabulary(k: int) -> list[str]:
    """Tokens in id order: specials, the 4**k k-mers in ``product("ATCG", repeat=k)`` order, then ``A T C G N``."""
    _check_k(k)
    kmers = ["".join(p) for p in itertools.product(KMER_ALPHABET, repeat=k)]
    singles = [] if k == 1 else list(KMER_ALPHABET)
    return SPECIAL_TOKENS + kmers + singles + ["N"]


# ----------------------------------------------------------------------------------------------------------------
# Validation / normalization (one bytes.translate and one find per sequence)
# ----------------------------------------------------------------------------------------------------------------


def _build_translate_table() -> bytes:
    table = bytearray([INVALID]) * 256
    for c in "ACGTN":
        table[ord(c)] = ord(c)
        table[ord(c.lower())] = ord(c)
    for c in IUPAC_AMBIGUOUS:
        table[ord(c)] = N_CODE
        table[ord(c.lower())] = N_CODE
    return bytes(table)


# bytes.translate table: nucleotides (either case) -> ACGT, IUPAC ambiguity codes -> N, anything else -> INVALID
NUCLEOTIDE_TABLE = _build_translate_table()
INVALID_BYTE = bytes([INVALID])


def _invalid_character_error(char: str, pos: int, where: str) -> ValueError:
    return ValueError(
        f"Invalid character {char!r} (U+{ord(char):04X}) at position {pos}{where}: a DNA sequence may contain only "
        f"A, C, G, T, N (any case) and the IUPAC ambiguity codes {' '.join(IUPAC_AMBIGUOUS)} (read as N)."
    )


def _translate(seq: str, where: str, start: int = 0) -> tuple[bytes, bytes]:
    """``(ascii_bytes, normalized_bytes)`` of ``seq``; raises ValueError at the first non-nucleotide character."""
    try:
        raw = seq.encode("ascii")
    except UnicodeEncodeError as err:
        raise _invalid_character_error(seq[err.start], start + err.start, where) from None
    except AttributeError:
        raise TypeError(f"Expected a DNA sequence as str{where}, got {type(seq).__name__}") from None
    out = raw.translate(NUCLEOTIDE_TABLE)
    if out != raw:
        pos = out.find(INVALID_BYTE)
        if pos >= 0:
            raise _invalid_character_error(seq[pos], start + pos, where)
    return raw, out


def normalize_sequence(seq: str, where: str = "", start: int = 0) -> str:
    """Return ``seq`` uppercased with IUPAC ambiguity codes replaced by ``N`` (same length, so offsets carry over).

    Raises ``ValueError`` naming the first invalid character and its 0-based position, counted from ``start`` (the
    position of ``seq`` in a longer text it was cut from); ``where`` is appended to the message, e.g.
    ``" of sequence 3 in the batch"``. An already-canonical string is returned as is.
    """
    raw, out = _translate(seq, where, start)
    return seq if out == raw else out.decode("ascii")


# ----------------------------------------------------------------------------------------------------------------
# The list encoder (standard library only): FGMTokenizer.__call__
# ----------------------------------------------------------------------------------------------------------------

# Base-4 digit of each base in KMER_ALPHABET order (A=0 T=1 C=2 G=3), as the ASCII digits int(x, 4) reads.
_KMER_DIGITS = bytes.maketrans(KMER_ALPHABET.encode("ascii"), b"0123")


@functools.lru_cache(maxsize=None)
def _run_layout(k: int) -> tuple[int, str, list[int]]:
    """``(lane, typecode, single_ids)`` of ``encode_run``: base-4 digits per k-mer lane (4, 8 or 16: the smallest
    that holds every k-mer id), the ``array`` typecode of that lane size, and the single-letter ids by byte."""
    lane = next(d for d in (4, 8, 16) if 4**k + NUM_SPECIAL_TOKENS <= 4**d)
    typecode = next(c for c in "BHILQ" if array.array(c).itemsize == lane // 4)
    vocab = kmer_vocabulary(k)
    single_ids = [0] * 256
    for c in KMER_ALPHABET:
        single_ids[ord(c)] = vocab.index(c)
    return lane, typecode, single_ids


def encode_run(bases: bytes, k: int = 6) -> list[int]:
    """Token ids of one N-free run of validated uppercase ``ACGT`` bytes: its k-mers left to right, then its last
    ``len(bases) % k`` letters one by one. Same ids as the torch encoders, as a list of Python ints (other bytes give
    an error or meaningless ids).

    Standard library only: ``FGMTokenizer.__call__`` runs no torch op (why: docs/design_notes.md). No Python loop
    per token: the run's base-4 digits are spread into one lane per k-mer (zeros in front), read as one integer by
    ``int(..., 4)``, offset by the special tokens in every lane with one addition, and cut into machine integers by
    ``array``.
    """
    lane, typecode, single_ids = _run_layout(_check_k(k))
    count = len(bases) // k
    ids = []
    if count:
        digits = bases[: count * k].translate(_KMER_DIGITS)
        lanes = bytearray(b"0") * (count * lane)
        for j in range(k):
            lanes[lane - k + j :: lane] = digits[j::k]
        width = lane // 4  # bytes per lane
        value = int(lanes, 4) + int.from_bytes(NUM_SPECIAL_TOKENS.to_bytes(width, "big") * count, "big")
        kmers = array.array(typecode, value.to_bytes(count * width, "big"))
        if sys.byteorder == "little":
            kmers.byteswap()
        ids = kmers.tolist()
    ids += [single_ids[b] for b in bases[count * k :]]
    return ids


# ----------------------------------------------------------------------------------------------------------------
# The torch encoder: tables, bulk encoding, reverse complements (any device)
# ----------------------------------------------------------------------------------------------------------------


@functools.lru_cache(maxsize=None)
def _cpu_tables(k: int) -> dict[str, torch.Tensor]:
    """Lookup tables for the vectorized encoder/decoder (CPU; see ``_tables`` for other devices)."""
    vocab = kmer_vocabulary(k)
    index = {tok: i for i, tok in enumerate(vocab)}
    digits = torch.zeros(256, dtype=torch.uint8)  # base-4 digit of each base's ASCII byte, in KMER_ALPHABET order
    for digit, base in enumerate(KMER_ALPHABET):
        digits[ord(base)] = digit
    single_lut = torch.full((256,), index["<unk>"], dtype=torch.long)
    for c in "ACGTN":
        single_lut[ord(c)] = index[c]
    # For each id: its bases as ASCII (0 padded) and its length in bases.
    token_codes = torch.zeros(len(vocab), k, dtype=torch.uint8)
    token_len = torch.zeros(len(vocab), dtype=torch.long)
    for i, tok in enumerate(vocab):
        if i < NUM_SPECIAL_TOKENS:
            continue
        token_codes[i, : len(tok)] = torch.tensor(list(tok.encode("ascii")), dtype=torch.uint8)
        token_len[i] = len(tok)
    bases = torch.full((len(vocab), k), -1, dtype=torch.long)
    for i, tok in enumerate(vocab[NUM_SPECIAL_TOKENS:], start=NUM_SPECIAL_TOKENS):
        for j, c in enumerate(tok):
            if c != "N":
                bases[i, j] = BASES.index(c)
    complement = torch.arange(256, dtype=torch.uint8)
    for a, b in COMPLEMENT.items():
        complement[a] = b
    return {
        "digits": digits,
        "single_lut": single_lut,
        "token_codes": token_codes,
        "token_len": token_len,
        "complement": complement,
        "bases": bases,
        "n_id": torch.tensor(index["N"]),
    }


_DEVICE_TABLES: dict[tuple[int, str], dict[str, torch.Tensor]] = {}


def _tables(k: int, device: torch.device | str | None = None) -> dict[str, torch.Tensor]:
    cpu = _cpu_tables(_check_k(k))
    if device is None or torch.device(device).type == "cpu":
        return cpu
    key = (k, str(torch.device(device)))
    if key not in _DEVICE_TABLES:
        _DEVICE_TABLES[key] = {name: t.to(device) for name, t in cpu.items()}
    return _DEVICE_TABLES[key]


def kmer_base_table(k: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-id base composition, for marginalizing a k-mer softmax into per-nucleotide probabilities.

    Returns ``(bases, lengths)`` (fresh CPU tensors; the table is built once per k and cached):
      - ``bases``: ``LongTensor[vocab_size, k]``; ``bases[i, j]`` is the base at offset ``j`` of token ``i`` in
        **"ACGT" index order (A=0, C=1, G=2, T=3)**, or -1 where there is none: special tokens (all -1), ``N``
        (all -1), and offsets ``j >= 1`` of single-letter tokens.
      - ``lengths``: ``LongTensor[vocab_size]``, the number of bases a token covers: 0 for special tokens,
        1 for single letters (``N`` included), k for k-mers.
    """
    t = _cpu_tables(_check_k(k))
    return t["bases"].clone(), t["token_len"].clone()


def token_nucleotides_table(k: int) -> tuple[torch.Tensor, torch.Tensor]:
    """``(codes, lengths)``: ``codes`` is ``uint8[vocab_size, k]``, the ASCII letters of each token (0 padded, all 0
    for special tokens); ``lengths`` as in :func:`kmer_base_table`."""
    t = _cpu_tables(_check_k(k))
    return t["token_codes"].clone(), t["token_len"].clone()


def _kmer_ids(kmer_bases: torch.Tensor, k: int, digits: torch.Tensor) -> torch.Tensor:
    """Token ids of the k-mers in the rows of ``kmer_bases`` ((K, k) uint8 ASCII letters from ACGT, possibly a
    view), by the vocabulary's rule: the special tokens' count plus the k-mer's base-4 number in ``KMER_ALPHABET``
    order (``digits``: the table of ``_cpu_tables``), first base most significant, as ``encode_run`` computes it."""
    value = digits.index_select(0, kmer_bases[:, 0].int()).to(torch.int32)
    for j in range(1, k):
        value.mul_(4).add_(digits.index_select(0, kmer_bases[:, j].int()))
    return value.long().add_(NUM_SPECIAL_TOKENS)


def _arithmetic_runs(first: torch.Tensor, counts: torch.Tensor, total: int, step: int) -> torch.Tensor:
    """Concatenation over runs ``j`` of ``first[j] + step * arange(counts[j])`` (``total == counts.sum()``).

    Same as ``repeat_interleave(first - step * exclusive_cumsum(counts), counts) + step * arange(total)``, but built
    from a fill, a scatter and a cumsum (why not ``repeat_interleave``: docs/design_notes.md).
    """
    keep = counts > 0
    first, counts = first[keep], counts[keep]
    starts = torch.cumsum(counts, 0) - counts
    previous_last = torch.zeros_like(first)
    previous_last[1:] = first[:-1] + step * (counts[:-1] - 1)
    deltas = torch.full((total,), step, dtype=torch.long, device=first.device)
    deltas[starts] = first - previous_last
    return torch.cumsum(deltas, 0)


def _encode_framed(codes: torch.Tensor, k: int, tables: dict[str, torch.Tensor], n_pos: torch.Tensor | None = None):
    """Token ids of an ``N``-framed buffer (``codes[0] == codes[-1] == ord("N")``) of validated uppercase ASCII.

    Returns ``(ids, n_positions, n_token_index)``: all token ids (every N included), the buffer positions of the
    N's, and the index in ``ids`` of each N's token. The work is a few vectorized passes over the buffer and the
    tokens; the only Python-level loop is one slice per N-free run when there are at most ``_MAX_RUNS_TO_SLICE``
    runs (cheaper than index arithmetic), otherwise the k-mer letters are gathered by index. ``n_pos`` (sorted
    positions of all N's) may be passed when the caller already knows them.
    """
    device = codes.device
    if n_pos is None:
        n_pos = torch.nonzero(codes == N_CODE).squeeze(1)
    n_id = tables["n_id"].view(1)
    if len(n_pos) == 2:  # one N-free run: k-mers at a fixed stride, then the tail letters
        n_kmer = (len(codes) - 2) // k
        kmer_ids = _kmer_ids(codes[1 : 1 + n_kmer * k].view(n_kmer, k), k, tables["digits"])
        tail = tables["single_lut"].index_select(0, codes[1 + n_kmer * k : -1].long())
        ids = torch.cat([n_id, kmer_ids, tail, n_id])
        return ids, n_pos, torch.tensor([0, len(ids) - 1], device=device)

    run_start = n_pos[:-1] + 1
    run_len = n_pos[1:] - run_start  # N-free runs between consecutive N's
    n_kmer = torch.div(run_len, k, rounding_mode="floor")
    n_single = run_len - n_kmer * k
    # Token layout: for every N, its token, then the following run's k-mers, then the run's trailing single letters.
    n_tok = torch.zeros(len(n_pos), dtype=torch.long, device=device)
    torch.cumsum(1 + n_kmer + n_single, 0, out=n_tok[1:])
    total_kmers, total_singles, last = (int(v) for v in torch.stack([n_kmer.sum(), n_single.sum(), n_tok[-1]]))
    ids = torch.empty(last + 1, dtype=torch.long, device=device)
    ids.index_fill_(0, n_tok, int(n_id))
    is_kmer = torch.ones(last + 1, dtype=torch.bool, device=device)
    is_kmer[n_tok] = False
    if total_singles:
        pos = _arithmetic_runs(run_start + k * n_kmer, n_single, total_singles, 1)
        out = _arithmetic_runs(n_tok[:-1] + 1 + n_kmer, n_single, total_singles, 1)
        ids[out] = tables["single_lut"].index_select(0, codes.index_select(0, pos).long())
        is_kmer[out] = False
    if total_kmers:
        # The k-mer letters of all runs, compacted into one aligned (total_kmers, k) block.
        if len(run_start) <= _MAX_RUNS_TO_SLICE:
            pieces = [codes[a : a + m * k] for a, m in zip(run_start.tolist(), n_kmer.tolist()) if m]
            kmer_bases = torch.cat(pieces).view(total_kmers, k)
        else:
            kmer_bases = codes.unfold(0, k, 1).index_select(0, _arithmetic_runs(run_start, n_kmer, total_kmers, k))
        # k-mer tokens fill, in order, every output slot that is neither an N nor a tail letter.
        ids.masked_scatter_(is_kmer, _kmer_ids(kmer_bases, k, tables["digits"]))
    return ids, n_pos, n_tok


def encode_nucleotides(codes: torch.Tensor, k: int = 6) -> torch.Tensor:
    """Vectorized NT k-mer tokenization of one sequence, without special tokens.

    ``codes`` is a 1-D ``uint8`` tensor of **already validated, uppercase** ASCII letters from ``ACGTN`` (e.g.
    ``torch.frombuffer(bytearray(normalize_sequence(s), "ascii"), dtype=torch.uint8)``); other bytes give
    meaningless ids. Works on any device; returns a ``LongTensor`` of ids on the same device, identical to the fast
    tokenizer's ids.
    """
    if codes.dtype != torch.uint8 or codes.dim() != 1:
        raise ValueError(f"codes must be a 1-D uint8 tensor, got {codes.dtype} of shape {tuple(codes.shape)}")
    tables = _tables(k, codes.device)
    frame = torch.full((1,), N_CODE, dtype=torch.uint8, device=codes.device)
    ids, _, _ = _encode_framed(torch.cat([frame, codes, frame]), k, tables)
    return ids[1:-1]


def _encode_rows(buffer: torch.Tensor, lengths: torch.Tensor, k: int, tables, separators_only: bool = False):
    """Token ids of rows of ``lengths`` bases joined in one N-framed buffer (an N before every row and after the
    last), and the index in those ids of each frame's N token (``len(lengths) + 1`` of them). With
    ``separators_only`` (no N inside the rows) the frames are the only N's, whose positions are known."""
    frames = torch.cat([lengths.new_zeros(1), torch.cumsum(lengths + 1, 0)])
    ids, n_pos, n_tok = _encode_framed(buffer, k, tables, frames if separators_only else None)
    return ids, n_tok if separators_only else n_tok[torch.searchsorted(n_pos, frames)]


def encode_sequences(sequences: list[str], k: int = 6, add_special_tokens: bool = True) -> list[torch.Tensor]:
    """Validated, vectorized tokenization of many DNA strings (``FGMTokenizer.bulk_encode``), on the CPU.

    Every string is normalized as by :func:`normalize_sequence` (same ``ValueError``s, which also name the
    sequence's index), then all are encoded in one pass, joined by ``N`` separators: an ``N`` is its own token and
    restarts the k-mer phase, so a separator cannot change a neighbour's tokens. Returns one 1-D ``LongTensor`` per
    sequence, ``<cls>`` first when ``add_special_tokens``; the tensors are views into one shared buffer.
    """
    if isinstance(sequences, str) or not isinstance(sequences, (list, tuple)):
        raise TypeError("expected a list of str (one per sequence)")
    if not sequences:
        return []
    buffer = bytearray(b"N")
    has_n = False
    for i, seq in enumerate(sequences):
        part = _translate(seq, f" of sequence {i} in the batch")[1]
        has_n = has_n or b"N" in part
        buffer += part
        buffer += b"N"
    lengths = torch.tensor([len(s) for s in sequences], dtype=torch.long)
    codes = torch.frombuffer(buffer, dtype=torch.uint8)
    ids, frame_tok = _encode_rows(codes, lengths, k, _tables(k), separators_only=not has_n)
    sizes = (frame_tok[1:] - frame_tok[:-1]).tolist()
    if add_special_tokens:  # the separator before each sequence becomes its <cls>
        ids[frame_tok[:-1]] = SPECIAL_TOKENS.index("<cls>")
        return list(torch.split(ids[: int(frame_tok[-1])], sizes))
    keep = torch.ones(len(ids), dtype=torch.bool)
    keep[frame_tok] = False
    return list(torch.split(ids[keep], [size - 1 for size in sizes]))


def ids_to_nucleotides(ids: torch.Tensor, k: int = 6) -> torch.Tensor:
    """Inverse of :func:`encode_nucleotides`: 1-D ids (no special tokens) -> 1-D ``uint8`` ASCII bases."""
    tables = _tables(k, ids.device)
    ids = ids.reshape(-1).long()
    lengths = tables["token_len"][ids]
    if bool((lengths == 0).any()):
        bad = int(ids[lengths == 0][0])
        raise ValueError(f"ids must not contain special tokens (found id {bad})")
    rows = tables["token_codes"][ids]  # (T, k)
    keep = torch.arange(k, device=ids.device) < lengths[:, None]
    return rows[keep]


def reverse_complement_ids(ids: torch.Tensor, k: int = 6) -> torch.Tensor:
    """Token ids of the reverse complement of the sequence spelled by ``ids``.

    ``ids`` is a 1-D ``LongTensor`` without special tokens. The ids are decoded to bases, reverse-complemented
    (A<->T, C<->G, N->N) and re-encoded with the tokenizer's rules, so the result is exactly what the tokenizer
    gives for the reverse-complement string (the token count may differ from the input's). Pure torch, any device.
    """
    tables = _tables(k, ids.device)
    bases = ids_to_nucleotides(ids, k)
    rc = tables["complement"][bases.flip(0).long()]
    return encode_nucleotides(rc, k)


def reverse_complement_rows(ids: torch.Tensor, attention_mask: torch.Tensor | None, k: int, pad_id: int):
    """A batch of token rows ``ids`` (B, T) of k-mer size ``k``, with their ``attention_mask`` (None: all real) ->
    the token rows of each row's reverse complement, re-tokenized with the tokenizer's rules and padded with
    ``pad_id``, and their attention mask. Special tokens in front (``<cls>``) stay in front, padding goes at the
    end, other special tokens (``<mask>``) carry no base and are dropped. All rows in one vectorized pass: their
    bases are reversed and complemented into one N-framed buffer, encoded together, and cut back into rows."""
    tables = _tables(k, ids.device)
    real = torch.ones_like(ids, dtype=torch.bool) if attention_mask is None else attention_mask.bool()
    lengths = tables["token_len"][ids] * real  # bases per token; 0 for special tokens and padding
    has_bases = (lengths > 0).any(1)
    prefix = torch.where(has_bases, (lengths > 0).int().argmax(1), real.sum(1))  # leading special tokens
    totals = lengths.sum(1)
    frames = torch.cumsum(totals + 1, 0) - (totals + 1)  # each row's N separator in the buffer
    offsets = torch.arange(k, device=ids.device)
    starts = (lengths.cumsum(1) - lengths)[..., None] + offsets  # (B, T, k): index of each base in its row
    carried = offsets < lengths[..., None]
    row = torch.arange(len(ids), device=ids.device)[:, None, None].expand_as(carried)[carried]
    buffer = torch.full((int(totals.sum()) + len(ids) + 1,), N_CODE, dtype=torch.uint8, device=ids.device)
    reversed_index = frames[row] + totals[row] - starts[carried]  # the row's last base lands first
    buffer[reversed_index] = tables["complement"][tables["token_codes"][ids][carried].long()]
    encoded, frame_tok = _encode_rows(buffer, totals, k, tables)
    counts = frame_tok[1:] - frame_tok[:-1] - 1  # tokens of each reverse complement
    width = int((prefix + counts).max())
    out = torch.full((len(ids), width), pad_id, dtype=ids.dtype, device=ids.device)
    columns = torch.arange(width, device=ids.device)
    out[columns < prefix[:, None]] = ids[torch.arange(ids.shape[1], device=ids.device) < prefix[:, None]]
    body = (columns >= prefix[:, None]) & (columns < (prefix + counts)[:, None])
    tokens = torch.ones(len(encoded), dtype=torch.bool, device=ids.device)
    tokens[frame_tok] = False
    out[body] = encoded[tokens]
    return out, (columns < (prefix + counts)[:, None]).long()


def nucleotide_marginals(logits: torch.Tensor, bases: torch.Tensor) -> torch.Tensor:
    """Per-nucleotide probabilities from token logits: (..., vocab) -> (..., width, 4) over "ACGT".

    ``bases`` is a (vocab, width) table of the base at each offset of each token, -1 where there is none
    (``kmer_base_table(k)[0]`` for the k-mer vocabulary). ``probs[..., p, b]`` is the softmax mass of the tokens
    whose base at offset ``p`` is ``b``, renormalized over the tokens that reach offset ``p`` (k-mers reach every
    offset, single letters only offset 0).
    """
    bases = bases.to(logits.device)
    one_hot = torch.nn.functional.one_hot(bases.clamp(min=0), 4).float() * (bases >= 0)[..., None]  # (V, width, 4)
    probs = (logits.float().softmax(-1) @ one_hot.flatten(1)).unflatten(-1, (bases.shape[1], 4))
    return probs / probs.sum(-1, keepdim=True).clamp(min=1e-12)


def reverse_complement(sequence: str) -> str:
    """The reverse complement of a normalized sequence (``ACGTN``; lowercase stays lowercase)."""
    return sequence.translate(COMPLEMENT)[::-1]
