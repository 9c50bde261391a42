"""FGMTokenizer: NT v2 vocabulary layout, k-mer rules, validation, offsets, bulk encoder, reverse complement."""

import gzip
import itertools
import json
import os
import random
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from fgm.model.kmers_fgm import (
    SPECIAL_TOKENS,
    encode_nucleotides,
    encode_run,
    encode_sequences,
    ids_to_nucleotides,
    kmer_base_table,
    kmer_vocabulary,
    normalize_sequence,
    reverse_complement_ids,
    token_nucleotides_table,
)
import yeast as yeast_genome
from fgm.model.tokenization_fgm import FGMTokenizer

GENOME = Path(__file__).resolve().parents[1] / "data" / "genomes" / "sacCer_S288C.fa.gz"
COMPLEMENT = str.maketrans("ACGTN", "TGCAN")


# ---------------------------------------------------------------------------------------------------------------
# Independent reference: NT's algorithm written the plain way (split on N, chunks of k, short tail -> letters).
# ---------------------------------------------------------------------------------------------------------------


def nt_reference_tokens(sequence: str, k: int) -> list[str]:
    tokens = []
    for i, piece in enumerate(sequence.upper().split("N")):
        if i:
            tokens.append("N")
        full = len(piece) // k * k
        tokens.extend(piece[j : j + k] for j in range(0, full, k))
        tokens.extend(piece[full:])
    return tokens


def nt_reference_ids(sequence: str, k: int, vocab: dict) -> list[int]:
    return [vocab[t] for t in nt_reference_tokens(sequence, k)]


def random_sequences(rng: random.Random, count: int, max_len: int = 200, alphabet="ACGT") -> list[str]:
    out = []
    for _ in range(count):
        n = rng.randint(0, max_len)
        n_rate = rng.choice([0.0, 0.0, 0.01, 0.05, 0.3])
        out.append("".join("N" if rng.random() < n_rate else rng.choice(alphabet) for _ in range(n)))
    return out


@pytest.fixture(scope="module")
def tok():
    return FGMTokenizer()


@pytest.fixture(scope="module")
def yeast():
    """The first 300 kb of the yeast genome (chrI and the start of chrII), read straight from the FASTA."""
    parts, total = [], 0
    with gzip.open(GENOME, "rt") as handle:
        for line in handle:
            if line.startswith(">"):
                continue
            parts.append(line.strip())
            total += len(parts[-1])
            if total >= 300_000:
                break
    return "".join(parts)


# ---------------------------------------------------------------------------------------------------------------
# Vocabulary
# ---------------------------------------------------------------------------------------------------------------


def test_nt_v2_layout(tok):
    vocab = kmer_vocabulary(6)
    assert len(vocab) == 4107 and len(tok) == 4107 and tok.vocab_size == 4107
    assert vocab[:6] == ["<unk>", "<pad>", "<mask>", "<cls>", "<eos>", "<bos>"] == SPECIAL_TOKENS
    expected = {"<unk>": 0, "<pad>": 1, "<mask>": 2, "<cls>": 3, "<eos>": 4, "<bos>": 5, "AAAAAA": 6,
                "AAAAAT": 7, "AAAAAC": 8, "AAAAAG": 9, "AAAATA": 10, "GGGGGG": 4101,
                "A": 4102, "T": 4103, "C": 4104, "G": 4105, "N": 4106}
    for token, index in expected.items():
        assert tok.convert_tokens_to_ids(token) == index
        assert vocab[index] == token
    assert vocab[6:4102] == ["".join(p) for p in itertools.product("ATCG", repeat=6)]
    assert (tok.unk_token_id, tok.pad_token_id, tok.mask_token_id, tok.cls_token_id) == (0, 1, 2, 3)
    assert sorted(tok.all_special_ids) == [0, 1, 2, 3, 4, 5]
    assert tok.model_input_names == ["input_ids", "attention_mask"]
    assert tok.padding_side == "right"
    assert tok.model_max_length == 2**20 // 6 + 6


@pytest.mark.parametrize("k", range(1, 9))
def test_vocab_sizes(k):
    vocab = kmer_vocabulary(k)
    assert len(vocab) == (11 if k == 1 else 6 + 4**k + 5)
    assert len(set(vocab)) == len(vocab)
    assert vocab[-1] == "N" and vocab[:6] == SPECIAL_TOKENS


def test_k_out_of_range():
    for k in (0, 9, 2.0, True):
        with pytest.raises(ValueError):
            kmer_vocabulary(k)
    with pytest.raises(ValueError):
        FGMTokenizer(k=0)


# ---------------------------------------------------------------------------------------------------------------
# Tokenization rules
# ---------------------------------------------------------------------------------------------------------------


def test_fallback_rules(tok):
    v = tok.get_vocab()
    assert tok("ACGTACGTA")["input_ids"] == [3, 728, 4105, 4103, 4102]
    assert v["ACGTAC"] == 728
    assert tok.tokenize("ACGTACGTA") == ["ACGTAC", "G", "T", "A"]
    # N in the middle: the k-mer phase restarts after it.
    assert tok.tokenize("ACGNACGTACGTAC") == ["A", "C", "G", "N", "ACGTAC", "G", "T", "A", "C"]
    assert tok.tokenize("ACGTACNNACGTAC") == ["ACGTAC", "N", "N", "ACGTAC"]
    assert tok.tokenize("NNNN") == ["N"] * 4
    assert tok.tokenize("ACGTACGTACGT") == ["ACGTAC", "GTACGT"]
    assert tok.tokenize("ACGTA") == list("ACGTA")
    assert tok("")["input_ids"] == [3]
    assert tok("ACGT", add_special_tokens=False)["input_ids"] == [4102, 4104, 4105, 4103]
    # NT v2: <cls> only, no <eos>.
    assert tok("ACGTAC")["input_ids"] == [3, 728]
    assert tok.num_special_tokens_to_add() == 1
    assert tok("ACGT", "GGGGGGA")["input_ids"] == [3, 4102, 4104, 4105, 4103, 4101, 4102]  # pair: <cls> A B
    words = tok(["ACGTACG", "TTN"], is_split_into_words=True, return_offsets_mapping=True)
    assert words["input_ids"] == [3, 728, 4105, 4103, 4103, 4106]
    assert words["offset_mapping"] == [(0, 0), (0, 6), (6, 7), (0, 1), (1, 2), (2, 3)]


def test_matches_reference_on_random_sequences(tok):
    rng = random.Random(0)
    seqs = random_sequences(rng, 3000) + random_sequences(rng, 5, max_len=20_000)
    vocab = tok.get_vocab()
    expected = [[3] + nt_reference_ids(s, 6, vocab) for s in seqs]
    assert tok(seqs)["input_ids"] == expected
    assert [ids.tolist() for ids in tok.bulk_encode(seqs)] == expected
    threads = torch.get_num_threads()
    assert [ids.tolist() for ids in tok.bulk_encode(seqs, add_special_tokens=False)] == [e[1:] for e in expected]
    assert [ids.tolist() for ids in tok.bulk_encode(seqs, num_threads=None)] == expected
    assert torch.get_num_threads() == threads
    assert tok(seqs, add_special_tokens=False)["input_ids"] == [e[1:] for e in expected]


@pytest.mark.parametrize("k", range(1, 9))
def test_encode_run_matches_reference(k):
    rng = random.Random(20 + k)
    vocab = {t: i for i, t in enumerate(kmer_vocabulary(k))}
    for n in list(range(3 * k)) + [rng.randrange(3000) for _ in range(20)]:
        run = "".join(rng.choice("ACGT") for _ in range(n))
        assert encode_run(run.encode("ascii"), k) == nt_reference_ids(run, k, vocab), (k, n)


@pytest.mark.parametrize("max_runs_to_slice", [0, 4096])
def test_bulk_encoder_both_gather_paths(tok, monkeypatch, max_runs_to_slice):
    """Many N-free runs (k-mer letters gathered by index) and few runs (gathered by slicing) give the same ids."""
    import fgm.model.kmers_fgm as module

    monkeypatch.setattr(module, "_MAX_RUNS_TO_SLICE", max_runs_to_slice)
    rng = random.Random(3)
    vocab = tok.get_vocab()
    seqs = random_sequences(rng, 300, max_len=100)
    heavy = "".join("N" if rng.random() < 0.3 else rng.choice("ACGT") for _ in range(30_000))  # ~9000 N's
    for s in seqs + [heavy]:
        codes = torch.frombuffer(bytearray(s, "ascii"), dtype=torch.uint8) if s else torch.zeros(0, dtype=torch.uint8)
        assert encode_nucleotides(codes).tolist() == nt_reference_ids(s, 6, vocab)
    expected = [[3] + nt_reference_ids(s, 6, vocab) for s in seqs + [heavy]]
    assert [ids.tolist() for ids in tok.bulk_encode(seqs + [heavy])] == expected


@pytest.mark.parametrize("k", range(1, 7))
def test_other_k_match_reference_and_round_trip(k):
    tok = FGMTokenizer(k=k)
    assert len(tok) == len(kmer_vocabulary(k))
    rng = random.Random(k)
    seqs = random_sequences(rng, 400, max_len=60)
    vocab = tok.get_vocab()
    encoded = tok(seqs)["input_ids"]
    assert encoded == [[3] + nt_reference_ids(s, k, vocab) for s in seqs]
    assert [ids.tolist() for ids in tok.bulk_encode(seqs)] == encoded
    assert [ids.tolist() for ids in encode_sequences(seqs, k, add_special_tokens=False)] == [e[1:] for e in encoded]
    assert [tok.decode(ids, skip_special_tokens=True) for ids in encoded] == seqs
    for s in seqs[:50]:
        codes = torch.frombuffer(bytearray(s, "ascii"), dtype=torch.uint8) if s else torch.zeros(0, dtype=torch.uint8)
        assert encode_nucleotides(codes, k).tolist() == nt_reference_ids(s, k, vocab)


def test_real_yeast_sequence(tok, yeast):
    """Real genome windows, with soft-masked (lowercase) stretches and N / IUPAC runs put in."""
    rng = random.Random(1)
    vocab = tok.get_vocab()
    windows, clean = [], []
    for _ in range(200):
        start, length = rng.randrange(len(yeast) - 2000), rng.randint(0, 1999)
        w = list(yeast[start : start + length])
        for _ in range(rng.randint(0, 3)):  # N runs and ambiguity codes
            at = rng.randrange(len(w) + 1)
            w[at:at] = rng.choice(["N", "NNNNNNN", "R", "y", "n"])
        text = "".join(w)
        lo = rng.randrange(len(text) + 1)
        text = text[:lo] + text[lo : lo + 300].lower() + text[lo + 300 :]
        windows.append(text)
        clean.append(normalize_sequence(text))
    expected = [[3] + nt_reference_ids(c, 6, vocab) for c in clean]
    assert tok(windows)["input_ids"] == expected
    assert [ids.tolist() for ids in tok.bulk_encode(windows)] == expected
    # One long piece: a whole 300 kb stretch.
    assert tok.bulk_encode([yeast])[0].tolist() == [3] + nt_reference_ids(yeast, 6, vocab)


def test_lowercase_and_iupac(tok):
    assert tok("acgtacgta")["input_ids"] == tok("ACGTACGTA")["input_ids"]
    assert tok("AcGtAcGtA")["input_ids"] == tok("ACGTACGTA")["input_ids"]
    for code in "RYSWKMBDHVryswkmbdhvn":
        assert tok(f"ACG{code}ACGTAC")["input_ids"] == tok("ACGNACGTAC")["input_ids"], code
    assert normalize_sequence("acgtRYswn") == "ACGTNNNNN"
    assert normalize_sequence("ACGT") == "ACGT"
    assert tok.bulk_encode(["acgRacgtac"])[0].tolist() == tok("ACGNACGTAC")["input_ids"]


@pytest.mark.parametrize("bad", [" ", "\n", "1", "U", "u", "X", "-", ".", "é", "*"])
def test_invalid_characters_raise(tok, bad):
    seq = "ACGTACG" + bad + "TT"
    with pytest.raises(ValueError) as err:
        tok(seq)
    assert repr(bad) in str(err.value) and "position 7" in str(err.value)
    with pytest.raises(ValueError, match=r"position 7 of sequence 2 in the batch"):
        tok(["ACGT", "GGGG", seq])
    with pytest.raises(ValueError, match=r"position 7 of sequence 1 in the batch"):
        tok.bulk_encode(["ACGT", seq])
    with pytest.raises(ValueError, match="position 7"):
        tok.encode(seq)
    with pytest.raises(ValueError, match="position 7"):
        tok.tokenize(seq)
    with pytest.raises(ValueError, match=r"position 7 of sequence 0 in the batch \(text_pair\)"):
        tok(["ACGT"], [seq])


def test_special_tokens_inside_text(tok):
    assert tok("ACGTAC<mask>ACGTAC")["input_ids"] == [3, 728, 2, 728]
    assert tok("AC<mask>GT")["input_ids"] == [3, 4102, 4104, 2, 4105, 4103]
    with pytest.raises(ValueError, match=r"'X' .* position 10"):
        tok("AC<mask>GTX")


def test_offsets_are_nucleotide_coordinates(tok):
    enc = tok("ACGNacgtacGTAC", return_offsets_mapping=True)
    assert enc["offset_mapping"] == [(0, 0), (0, 1), (1, 2), (2, 3), (3, 4), (4, 10), (10, 11), (11, 12), (12, 13),
                                     (13, 14)]
    rng = random.Random(2)
    seqs = [s for s in random_sequences(rng, 300) if s]
    batch = tok(seqs, return_offsets_mapping=True)
    lengths = {i: (0 if i < 6 else len(t)) for t, i in tok.get_vocab().items()}
    for s, ids, offsets in zip(seqs, batch["input_ids"], batch["offset_mapping"]):
        assert offsets[0] == (0, 0)
        spans = offsets[1:]
        assert spans[0][0] == 0 and spans[-1][1] == len(s)
        assert all(a[1] == b[0] for a, b in zip(spans, spans[1:]))
        assert all(end - start == lengths[i] for (start, end), i in zip(spans, ids[1:]))


def test_batch_encoding_helpers(tok):
    """The `BatchEncoding` helpers (tokens, chars, encodings) and pickling work on the tokenizer's output."""
    seqs = ["ACGTACGTA", "ACGNAC"]
    enc = tok(seqs, padding=True)
    assert enc.tokens(0) == ["<cls>", "ACGTAC", "G", "T", "A", "<pad>", "<pad>"]
    assert enc.token_to_chars(1, 5).start == 4
    assert enc.is_fast and len(enc.encodings) == 2
    full = tok(seqs, padding=True, return_offsets_mapping=True)
    assert [e.offsets for e in enc.encodings] == full["offset_mapping"]
    assert "token_type_ids" not in enc
    import pickle

    assert pickle.loads(pickle.dumps(tok(seqs)))["input_ids"] == tok(seqs)["input_ids"]


def test_batch_padding_multiple_of_8(tok):
    seqs = ["ACGTACGTA", "ACGNAC", "A" * 61]
    batch = tok(seqs, padding=True, pad_to_multiple_of=8, return_tensors="pt")
    ids, mask = batch["input_ids"], batch["attention_mask"]
    assert ids.shape == (3, 16) and ids.dtype == torch.long
    lengths = mask.sum(1).tolist()
    assert lengths == [5, 7, 12]
    for row, n in zip(ids, lengths):
        assert row[0] == 3 and (row[n:] == 1).all() and (row[:n] != 1).all()
    assert set(batch.keys()) == {"input_ids", "attention_mask"}
    full = tok(seqs, padding=True, pad_to_multiple_of=8, return_tensors="pt", return_offsets_mapping=True)
    assert torch.equal(full["input_ids"], ids) and torch.equal(full["attention_mask"], mask)
    single = tok("ACGTACG", return_tensors="pt")["input_ids"]
    assert single.tolist() == [[3, 728, 4105]]
    truncated = tok(seqs, truncation=True, max_length=4)["input_ids"]
    assert [len(t) for t in truncated] == [4, 4, 4]


# ---------------------------------------------------------------------------------------------------------------
# The fast path of __call__ against the Rust pipeline (TokenizersBackend)
# ---------------------------------------------------------------------------------------------------------------


def both_paths(tok, text, **options):
    """``tok(text, **options)`` twice: as shipped, then with the fast path switched off (the same validation, then
    transformers' TokenizersBackend). Returns both results (a BatchEncoding or the exception raised) and whether the
    first call took the fast path."""
    original = FGMTokenizer._takes_fast_path
    results, verdicts = [], []
    for fast in (True, False):

        def spy(*args):
            verdicts.append(original(*args))
            return verdicts[-1] and fast

        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(FGMTokenizer, "_takes_fast_path", staticmethod(spy))
            try:
                results.append(tok(text, **options))
            except Exception as err:  # noqa: BLE001 - compared by the caller
                results.append(err)
    return results[0], results[1], verdicts[:1] == [True]


def as_lists(array):
    """Nested lists of a tensor or a numpy array (ragged object arrays, whose rows are arrays, included)."""
    return [row.tolist() if hasattr(row, "tolist") else row for row in array.tolist()]


def assert_same_encoding(fast, rust, context):
    if isinstance(rust, Exception):
        assert type(fast) is type(rust) and str(fast) == str(rust), context
        return
    assert not isinstance(fast, Exception), (context, fast)
    assert list(fast.keys()) == list(rust.keys()), context
    for key, value in rust.items():
        other = fast[key]
        assert type(other) is type(value), (context, key)
        if hasattr(value, "dtype"):  # a torch or numpy array
            assert other.dtype == value.dtype and other.shape == value.shape, (context, key)
            assert as_lists(other) == as_lists(value), (context, key)
        else:
            assert other == value, (context, key)
    assert fast.n_sequences == rust.n_sequences and fast.is_fast and len(fast.encodings) == len(rust.encodings)
    for a, b in zip(fast.encodings, rust.encodings):
        assert (a.ids, a.tokens, a.offsets, a.word_ids, a.attention_mask) == (
            b.ids, b.tokens, b.offsets, b.word_ids, b.attention_mask
        ), context


def yeast_texts(rng: random.Random, count: int, max_len: int) -> list[str]:
    """Real chrI windows with what FGM must read like the Rust pipeline: soft-masked (lowercase) stretches, IUPAC
    codes, N runs, special-token strings, empty and shorter-than-k sequences."""
    chromosome = yeast_genome.chromosome("chrI")
    texts = ["", "ACG", "N", "<mask>"]
    while len(texts) < count:
        start = rng.randrange(len(chromosome) - max_len)
        window = list(chromosome[start : start + rng.randint(0, max_len)])
        for _ in range(rng.randint(0, 3)):
            at = rng.randrange(len(window) + 1)
            insert = rng.choice(["N", "NNNNNNN", "R", "y", "n", "<mask>", "<pad>", "<unk>", "<cls>NN<eos><bos>"])
            window.insert(at, insert)
        text = "".join(window)
        lo = rng.randrange(len(text) + 1)
        texts.append(text[:lo] + text[lo : lo + 200].lower() + text[lo + 200 :])
    return texts


def test_fast_path_matches_rust_on_yeast(tok):
    """Every option of __call__ on real sequences: the fast path gives the Rust pipeline's outputs (every field,
    its type, dtype and shape, the Encodings behind tokens()/offsets), or raises the same error."""
    rng = random.Random(5)
    texts = yeast_texts(rng, 40, 400)
    left = FGMTokenizer(truncation_side="left", padding_side="left")
    grid = {
        "padding": [False, True, "max_length"],
        "truncation": [False, True, "only_first", "longest_first"],
        "max_length": [None, 1, 2, 7, 40, 150],
        "pad_to_multiple_of": [None, 8],
        "padding_side": [None, "right", "left"],
        "return_offsets_mapping": [False, True],
        "return_special_tokens_mask": [False, True],
        "return_token_type_ids": [None, True],
        "return_attention_mask": [None, False],
        "return_length": [False, True],
        "return_tensors": [None, "pt", "np"],
        "add_special_tokens": [True, False],
    }
    fast_calls = 0
    for case in range(400):
        options = {key: rng.choice(values) for key, values in grid.items()}
        if case % 3 == 0:  # equal-length rows, so that tensors come out without padding too
            options.update(truncation=True, max_length=rng.choice([3, 30]))
        if options["max_length"] is None and options["padding"] == "max_length":
            options["max_length"] = 64  # not model_max_length: 174,768 tokens a row
        batch = rng.sample(texts, rng.randint(1, 8))
        text = batch[0] if case % 4 == 0 else batch
        for tokenizer in (tok, left):
            fast, rust, took_fast = both_paths(tokenizer, text, **options)
            assert_same_encoding(fast, rust, (case, options))
            fast_calls += took_fast
    assert fast_calls > 600  # the fast path did answer most calls (the rest: max_length 1 without room for <cls>...)


def test_fast_path_long_windows_and_errors(tok):
    """6 kb windows (the benchmark's batch), other k, and the errors: invalid characters (position and sequence),
    ragged rows as tensors, a stride too long, all raised exactly as on the Rust path."""
    chromosome = yeast_genome.chromosome("chrII")
    windows = [chromosome[i * 6000 : (i + 1) * 6000] for i in range(20)]
    windows[3] = windows[3][:2000].lower() + "NNNNN" + windows[3][2000:]
    for options in [{}, {"padding": True, "pad_to_multiple_of": 8, "return_tensors": "pt"},
                    {"return_offsets_mapping": True}, {"truncation": True, "max_length": 512, "return_tensors": "pt"}]:
        fast, rust, took_fast = both_paths(tok, windows, **options)
        assert took_fast
        assert_same_encoding(fast, rust, options)
    for k in (1, 2, 5, 7, 8):
        other = FGMTokenizer(k=k)
        texts = yeast_texts(random.Random(k), 12, 300)
        for options in [{"return_offsets_mapping": True}, {"padding": True, "return_tensors": "pt"}]:
            fast, rust, took_fast = both_paths(other, texts, **options)
            assert took_fast
            assert_same_encoding(fast, rust, (k, options))
    bad = ["ACGT", "GGGG", "ACGTACGxTT", "AC<mask>GTX"]
    for text, options in [(bad, {}), (bad[2], {}), (bad[3], {"return_tensors": "pt"}),
                          (["ACGT", "A" * 40], {"return_tensors": "pt"}),
                          ("ACGTACGTAC", {"truncation": True, "max_length": 3, "stride": 5})]:
        fast, rust, took_fast = both_paths(tok, text, **options)
        assert isinstance(rust, ValueError), rust
        assert_same_encoding(fast, rust, (text, options))
    assert "'x' (U+0078) at position 7 of sequence 2 in the batch" in str(both_paths(tok, bad)[0])


def test_added_tokens_encode_and_nothing_else_that_is_not_dna(tmp_path):
    """Issue 23: a special token a user adds grew the vocabulary, but `tok("ACGTAC<sep>ACGTAC")` raised "Invalid
    character '<'". Added tokens (special or not) now encode as tokens of their own, after which the k-mer phase
    restarts, on the fast path as on the Rust pipeline, in pairs, and after save / load; anything else that is not
    DNA still raises, naming the character and its position."""
    tok = FGMTokenizer()
    tok.add_special_tokens({"additional_special_tokens": ["<sep>"]})
    tok.add_tokens(["<gap>"])
    sep, gap = tok.convert_tokens_to_ids(["<sep>", "<gap>"])
    assert (sep, gap, len(tok)) == (4107, 4108, 4109)
    assert tok("ACGTAC<sep>ACGTAC")["input_ids"] == [3, 728, sep, 728]
    chromosome = yeast_genome.chromosome("chrI")
    parts = [chromosome[1000:1403], chromosome[5000:5100].lower(), chromosome[9000:9007] + "NN" + chromosome[9007:9050]]
    text = f"{parts[0]}<sep>{parts[1]}<gap><mask>{parts[2]}"
    vocab = tok.get_vocab()
    expected = [3, *nt_reference_ids(parts[0], 6, vocab), sep, *nt_reference_ids(parts[1], 6, vocab), gap, 2,
                *nt_reference_ids(parts[2], 6, vocab)]
    assert tok(text)["input_ids"] == expected
    for options in ({}, {"return_offsets_mapping": True, "padding": True, "pad_to_multiple_of": 8}):
        fast, rust, took_fast = both_paths(tok, [text, "AC<gap>GT"], **options)
        assert took_fast
        assert_same_encoding(fast, rust, options)
    assert tok("ACGTAC<sep>A", "<gap>GGGGGG")["input_ids"] == [3, 728, sep, 4102, gap, 4101]  # a pair: Rust
    tok.save_pretrained(tmp_path)
    assert FGMTokenizer.from_pretrained(tmp_path)(text)["input_ids"] == expected
    for bad, message in [("ACGTAC<sap>ACGTAC", r"'<' \(U\+003C\) at position 6"),
                         ("ACGT<sep>ACXGT", r"'X' \(U\+0058\) at position 11"),
                         ("ACGT<gap>AC GT", r"' ' \(U\+0020\) at position 11")]:
        with pytest.raises(ValueError, match=message):
            tok(bad)
    with pytest.raises(ValueError, match=r"'<' \(U\+003C\) at position 4"):  # special tokens split: text again
        tok("ACGT<sep>ACGT", split_special_tokens=True)
    assert tok("ACGT<gap>ACGT", split_special_tokens=True)["input_ids"] == tok("ACGT<gap>ACGT")["input_ids"]


def test_fast_path_batch_encoding_helpers(tok):
    """The fast path's BatchEncoding computes its Encodings on first use only, and pickles with them."""
    import pickle

    enc = tok(["ACGTACGTA", "ACGNAC"], padding=True)
    assert enc._encode is not None  # nothing computed yet
    assert enc.tokens(1) == ["<cls>", "A", "C", "G", "N", "A", "C"] and enc._encode is None
    copy = pickle.loads(pickle.dumps(tok(["ACGTACGTA", "ACGNAC"], padding=True)))
    assert copy["input_ids"] == enc["input_ids"] and copy.tokens(0) == enc.tokens(0) and copy.is_fast


# ---------------------------------------------------------------------------------------------------------------
# Saving and loading
# ---------------------------------------------------------------------------------------------------------------


def test_save_and_load_round_trip(tmp_path):
    tok = FGMTokenizer(k=4)
    tok.save_pretrained(tmp_path)
    config = json.loads((tmp_path / "tokenizer_config.json").read_text())
    assert config["k"] == 4 and config["tokenizer_class"] == "FGMTokenizer"
    loaded = FGMTokenizer.from_pretrained(tmp_path)
    assert loaded.k == 4 and len(loaded) == len(kmer_vocabulary(4))
    seqs = ["ACGTACGTANNacgt", "GGGGA"]
    assert loaded(seqs)["input_ids"] == tok(seqs)["input_ids"]
    # tokenizer.json on its own (plain `tokenizers`) reads lowercase and IUPAC codes the same way.
    from tokenizers import Tokenizer

    standalone = Tokenizer.from_file(str(tmp_path / "tokenizer.json"))
    assert standalone.encode("acgtRYacgtacg").ids == tok("ACGTNNACGTACG")["input_ids"]


INVALID_SAMPLES = ["ACGTXACGT", "ACG TAC", "ACGU", "AC-GT", "ACGT\u00e9", "ACGT1", "ACG<AC"]


def test_tokenizer_json_alone_never_emits_unk(tmp_path):
    """Loaded without FGMTokenizer, the saved tokenizer.json gives the same ids for valid input (lowercase and IUPAC
    codes included) and raises on any other character instead of emitting <unk>."""
    from tokenizers import Tokenizer
    from transformers import PreTrainedTokenizerFast
    from transformers.tokenization_utils_tokenizers import TokenizersBackend

    tok = FGMTokenizer()
    tok.save_pretrained(tmp_path)
    saved = json.loads((tmp_path / "tokenizer.json").read_text())
    assert saved["model"]["unk_token"] not in saved["model"]["vocab"]
    file = str(tmp_path / "tokenizer.json")
    loaded = {
        "Tokenizer.from_file": Tokenizer.from_file(file),
        "TokenizersBackend.from_pretrained": TokenizersBackend.from_pretrained(tmp_path),
        "PreTrainedTokenizerFast": PreTrainedTokenizerFast(tokenizer_file=file),
    }
    valid = ["acgtRYacgtacg", "ACGTACGTAnNNACGTACGTAC", "AC<mask>GT"]
    for name, other in loaded.items():
        if isinstance(other, Tokenizer):
            ids = [e.ids for e in other.encode_batch(valid)]
        else:
            ids = other(valid)["input_ids"]
        assert ids == tok(valid)["input_ids"], name
        for bad in INVALID_SAMPLES:
            encode = other.encode if isinstance(other, Tokenizer) else other
            with pytest.raises(Exception, match=r"Missing \[UNK\] token"):
                encode(bad)
    # FGMTokenizer's own backend (which gets validated, uppercased input) is just as strict.
    assert tok.backend_tokenizer.encode("ACGTACGTA").ids == tok("ACGTACGTA")["input_ids"]
    with pytest.raises(Exception, match=r"Missing \[UNK\] token"):
        tok.backend_tokenizer.encode("ACGTXACGT")


def test_loaders_without_fgm_fail_loudly(tmp_path):
    """In a process where `fgm` cannot be imported, every way of loading a saved tokenizer raises on an invalid
    character: the checkpoint's own FGMTokenizer (remote code) with its ValueError, the rest from tokenizer.json."""
    FGMTokenizer().save_pretrained(tmp_path)
    script = f"""
import json, sys
sys.modules["fgm"] = None
from tokenizers import Tokenizer
from transformers import AutoTokenizer, PreTrainedTokenizerFast
from transformers.tokenization_utils_tokenizers import TokenizersBackend
folder = {str(tmp_path)!r}
loaders = {{
    "Tokenizer.from_file": lambda: Tokenizer.from_file(folder + "/tokenizer.json"),
    "TokenizersBackend.from_pretrained": lambda: TokenizersBackend.from_pretrained(folder),
    "PreTrainedTokenizerFast": lambda: PreTrainedTokenizerFast(tokenizer_file=folder + "/tokenizer.json"),
    "AutoTokenizer": lambda: AutoTokenizer.from_pretrained(folder),
    "AutoTokenizer trust_remote_code": lambda: AutoTokenizer.from_pretrained(folder, trust_remote_code=True),
}}
report = {{}}
for name, load in loaders.items():
    try:
        tok = load()
    except Exception as err:
        report[name] = {{"load_error": str(err)}}
        continue
    encode = (lambda s: tok.encode(s).ids) if isinstance(tok, Tokenizer) else (lambda s: tok(s)["input_ids"])
    errors = []
    for bad in {INVALID_SAMPLES!r}:
        try:
            errors.append("no error: " + str(encode(bad)))
        except Exception as err:
            errors.append(str(err))
    report[name] = {{"class": type(tok).__name__, "valid": encode("acgtRYacgtacg"), "errors": errors}}
open("report.json", "w").write(json.dumps(report))
"""
    env = {key: value for key, value in os.environ.items() if key != "PYTHONPATH"}
    env.update(HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1")
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, env=env, cwd=tmp_path, stdin=subprocess.DEVNULL
    )
    assert done.returncode == 0, done.stderr
    report = json.loads((tmp_path / "report.json").read_text())
    expected_ids = FGMTokenizer()("ACGTNNACGTACG")["input_ids"]
    for name in ("Tokenizer.from_file", "TokenizersBackend.from_pretrained", "PreTrainedTokenizerFast"):
        assert report[name]["valid"] == expected_ids, name
        assert all("Missing [UNK] token" in err for err in report[name]["errors"]), (name, report[name])
    assert "trust_remote_code" in report["AutoTokenizer"]["load_error"]  # refuses to load, asks for trust
    remote = report["AutoTokenizer trust_remote_code"]
    assert remote["class"] == "FGMTokenizer" and remote["valid"] == expected_ids
    for bad, err in zip(INVALID_SAMPLES, remote["errors"]):
        position = next(i for i, c in enumerate(bad) if c not in "ACGT")
        assert err.startswith(f"Invalid character {bad[position]!r}") and f"at position {position}:" in err, err


def test_auto_tokenizer_remote_code(tmp_path):
    from transformers import AutoTokenizer

    tok = FGMTokenizer(k=3)
    tok.save_pretrained(tmp_path)  # plain save_pretrained writes the auto_map and the remote code
    config = json.loads((tmp_path / "tokenizer_config.json").read_text())
    assert config["auto_map"]["AutoTokenizer"][0] == "tokenization_fgm.FGMTokenizer"
    assert (tmp_path / "tokenization_fgm.py").exists()
    loaded = AutoTokenizer.from_pretrained(tmp_path, trust_remote_code=True)
    assert type(loaded).__name__ == "FGMTokenizer" and loaded.k == 3
    assert loaded("ACGTACGTAN")["input_ids"] == tok("ACGTACGTAN")["input_ids"]
    with pytest.raises(ValueError, match="position 2"):
        loaded("ACXT")


# ---------------------------------------------------------------------------------------------------------------
# Pure-torch helpers used by the model
# ---------------------------------------------------------------------------------------------------------------


def test_reverse_complement_known_examples(tok):
    def ids(s):
        return torch.tensor(tok(s, add_special_tokens=False)["input_ids"])

    cases = {
        "ACGTAC": "GTACGT",
        "AAAAAAC": "GTTTTTT",
        "ACGNAAAAAAT": "ATTTTTTNCGT",
        "ACGTA": "TACGT",
        "N": "N",
    }
    for seq, rc in cases.items():
        assert reverse_complement_ids(ids(seq)).tolist() == ids(rc).tolist()
    assert tok.convert_ids_to_tokens(reverse_complement_ids(ids("AAAAAAC")).tolist()) == ["GTTTTT", "T"]
    assert reverse_complement_ids(torch.zeros(0, dtype=torch.long)).tolist() == []
    with pytest.raises(ValueError, match="special"):
        reverse_complement_ids(torch.tensor([3, 728]))


@pytest.mark.parametrize("k", [1, 2, 3, 5, 6])
def test_reverse_complement_random(k):
    tok = FGMTokenizer(k=k)
    rng = random.Random(10 + k)
    seqs = random_sequences(rng, 60, max_len=80)
    forward = tok(seqs, add_special_tokens=False)["input_ids"]
    backward = tok([s[::-1].translate(COMPLEMENT) for s in seqs], add_special_tokens=False)["input_ids"]
    for s, fwd, bwd in zip(seqs, forward, backward):
        ids = torch.tensor(fwd, dtype=torch.long)
        rc = reverse_complement_ids(ids, k)
        assert rc.tolist() == bwd
        assert reverse_complement_ids(rc, k).tolist() == fwd
        assert bytes(ids_to_nucleotides(ids, k).tolist()).decode() == s


def test_kmer_base_table():
    bases, lengths = kmer_base_table(6)
    assert bases.shape == (4107, 6) and lengths.shape == (4107,)
    assert bases.dtype == lengths.dtype == torch.long
    assert bases[728].tolist() == [0, 1, 2, 3, 0, 1]  # ACGTAC in ACGT index order
    assert bases[6].tolist() == [0] * 6 and bases[7].tolist() == [0] * 5 + [3]  # AAAAAA, AAAAAT
    assert bases[4102].tolist() == [0] + [-1] * 5 and bases[4103].tolist() == [3] + [-1] * 5  # A, T
    assert bases[4106].tolist() == [-1] * 6 and (bases[:6] == -1).all()  # N, specials
    assert lengths[:6].tolist() == [0] * 6 and lengths[6:4102].eq(6).all() and lengths[4102:].eq(1).all()
    bases[0, 0] = 99  # callers get their own copy
    assert kmer_base_table(6)[0][0, 0] == -1
    codes, code_lengths = token_nucleotides_table(6)
    assert bytes(codes[728].tolist()).decode() == "ACGTAC" and torch.equal(code_lengths, lengths)
    small, small_len = kmer_base_table(1)
    assert small.shape == (11, 1) and small[6:10, 0].tolist() == [0, 3, 1, 2] and small_len[10] == 1
