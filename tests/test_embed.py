"""Embeddings: chunked == unchunked where the model's reach allows it, lengths, strands, inputs, formats,
and bounded activations for a chromosome-length input."""

import json

import numpy as np
import pandas as pd
import pytest
import torch
import yeast
from safetensors.numpy import load_file

from fgm import FGMConfig, FGMForMaskedLM, FGMTokenizer
import fgm.embeddings
from fgm.embeddings import EmbedArguments, Embedder, EmbeddingSummary, Sequence, embed_pieces
from fgm.model.kmers_fgm import reverse_complement

CHR_I = yeast.chromosome("chrI")


def local_model(k, layer_types=("sliding_attention",) * 3, window=8):
    """A tiny model whose tokens see at most len(layer_types) * window // 2 tokens either side (all sliding)."""
    tokenizer = FGMTokenizer(k=k)
    torch.manual_seed(0)
    config = FGMConfig.preset("tiny", vocab_size=len(tokenizer), kmer_size=k, layer_types=list(layer_types),
                              num_hidden_layers=len(layer_types), sliding_window=window)
    return FGMForMaskedLM(config).eval(), tokenizer


def embed(model, output, **options) -> EmbeddingSummary:
    """`fgm.embeddings.embed` with a loaded `(model, tokenizer)` pair, without a progress bar."""
    return fgm.embeddings.embed(EmbedArguments(model_name_or_path="tiny", output=str(output), quiet=True, **options),
                                model)


def per_nucleotide(model, sequence, **options):
    pieces = embed_pieces(Embedder(*model, **options), Sequence("s", None, 0, sequence), "per-nucleotide", False)
    return torch.cat([vectors for vectors, _ in pieces])


@pytest.mark.parametrize("k, chunk, overlap", [(1, 120, 40), (6, 600, 200)])
def test_chunked_equals_unchunked_when_the_overlap_exceeds_the_reach(k, chunk, overlap):
    model = local_model(k)  # reach: 3 layers x 4 tokens = 12 tokens = 12 k bases either side
    sequence = CHR_I[10_000 : 10_000 + 2_503]
    whole = per_nucleotide(model, sequence, chunk=4_000)
    chunked = per_nucleotide(model, sequence, chunk=chunk, overlap=overlap, batch_size=3)
    assert whole.shape == chunked.shape == (len(sequence), 64), "one vector per base"
    torch.testing.assert_close(chunked, whole, atol=2e-5, rtol=1e-4)
    glob = local_model(k, ("sliding_attention", "sliding_attention", "full_attention"))
    assert not torch.allclose(per_nucleotide(glob, sequence, chunk=chunk, overlap=overlap),
                              per_nucleotide(glob, sequence, chunk=4_000), atol=1e-3), "a global layer sees everything"


def test_rc_average_is_strand_symmetric():
    model = local_model(6, ("sliding_attention", "full_attention"), window=16)
    sequence = CHR_I[5_000:5_900]
    embedder = Embedder(*model, chunk=1_000)

    def run(seq, pooling):
        return torch.cat([v for v, _ in embed_pieces(embedder, Sequence("s", None, 0, seq), pooling, True)])

    torch.testing.assert_close(run(sequence, "per-nucleotide"), run(reverse_complement(sequence), "per-nucleotide").flip(0))
    torch.testing.assert_close(run(sequence, "mean"), run(reverse_complement(sequence), "mean"))
    assert not torch.allclose(run(sequence, "mean"), torch.cat([v for v, _ in embed_pieces(
        embedder, Sequence("s", None, 0, sequence), "mean", False)])), "averaging changes the vector"
    with pytest.raises(ValueError, match="not defined for per-token"):
        next(embed_pieces(embedder, Sequence("s", None, 0, sequence), "per-token", True))


def test_every_input_and_format_gives_the_same_vectors(tmp_path):
    model = local_model(6, ("sliding_attention", "full_attention"), window=16)
    records = {"a": CHR_I[1_000:1_700], "b": CHR_I[3_000:4_234]}
    fasta = tmp_path / "x.fa"
    fasta.write_text("".join(f">{n}\n{s}\n" for n, s in records.items()))
    genome = tmp_path / "chrI.fa"
    genome.write_text(">chrI\n" + "\n".join(CHR_I[i : i + 60] for i in range(0, 6_000, 60)) + "\n")
    bed = tmp_path / "x.bed"
    bed.write_text("chrI\t1000\t1700\ta\nchrI\t3000\t4234\tb\n")
    table = tmp_path / "x.tsv"
    table.write_text("id\tsequence\n" + "".join(f"{n}\t{s}\n" for n, s in records.items()))

    options = dict(chunk=600, overlap=150)
    embed(model, tmp_path / "f.safetensors", fasta=fasta, **options)
    embed(model, tmp_path / "b.npy", bed=bed, genome=genome, **options)
    embed(model, tmp_path / "t.parquet", sequences=table, **options)
    saved = load_file(tmp_path / "f.safetensors")
    npy = np.load(tmp_path / "b.npy")
    parquet = pd.read_parquet(tmp_path / "t.parquet")
    assert saved["embeddings"].shape == npy.shape == (2, 64)
    np.testing.assert_allclose(saved["embeddings"], npy, atol=1e-6)
    np.testing.assert_allclose(np.stack(parquet["embedding"]), npy, atol=1e-6)
    index = pd.read_csv(tmp_path / "b.index.tsv", sep="\t")
    assert index[["id", "chrom", "start", "end"]].values.tolist() == [["a", "chrI", 1000, 1700], ["b", "chrI", 3000, 4234]]

    embed(model, tmp_path / "n.parquet", bed=bed, genome=genome, pooling="per-nucleotide", **options)
    embed(model, tmp_path / "n.safetensors", fasta=fasta, pooling="per-nucleotide", **options)
    rows = pd.read_parquet(tmp_path / "n.parquet")
    saved = load_file(tmp_path / "n.safetensors")
    assert saved["offsets"].tolist() == [0, 700, 1934]
    assert rows["position"].tolist() == list(range(1000, 1700)) + list(range(3000, 4234))
    np.testing.assert_allclose(np.stack(rows["embedding"]), saved["embeddings"], atol=1e-6)

    embed(model, tmp_path / "k.npy", fasta=fasta, pooling="per-token", **options)
    spans = np.load(tmp_path / "k.token_spans.npy")
    assert np.load(tmp_path / "k.npy").shape == (len(spans), 64)
    assert spans[0].tolist() == [0, 6] and (spans[:, 1] - spans[:, 0] <= 6).all()
    from safetensors import safe_open

    with safe_open(tmp_path / "f.safetensors", "np") as handle:
        metadata = handle.metadata()
    assert json.loads(metadata["records"]) == [["a", "a", 0, 700, "+"], ["b", "b", 0, 1234, "+"]]
    assert json.loads(metadata["fgm_embed"])["chunk"] == 600


def test_a_minus_strand_bed_region_is_embedded_as_its_reverse_complement(tmp_path):
    model = local_model(3)
    genome = tmp_path / "chrI.fa"
    genome.write_text(">chrI\n" + "\n".join(CHR_I[i : i + 60] for i in range(0, 3_000, 60)) + "\n")
    minus = tmp_path / "minus.fa"  # what the minus strand of chrI:1000-1600 reads, 5' to 3'
    minus.write_text(">m\n" + reverse_complement(CHR_I[1_000:1_600]) + "\n")
    bed = tmp_path / "x.bed"
    bed.write_text("chrI\t1000\t1600\tplus\t0\t+\nchrI\t1000\t1600\tminus\t0\t-\nchrI\t1000\t1600\tnone\t0\t.\n")
    options = dict(chunk=300, overlap=60)
    for pooling in ("mean", "per-nucleotide", "per-token"):
        embed(model, tmp_path / f"b.{pooling}.parquet", bed=bed, genome=genome, pooling=pooling, **options)
        embed(model, tmp_path / f"m.{pooling}.parquet", fasta=minus, pooling=pooling, **options)
        rows = pd.read_parquet(tmp_path / f"b.{pooling}.parquet")
        alone = pd.read_parquet(tmp_path / f"m.{pooling}.parquet")
        by_id = {name: np.stack(group["embedding"]) for name, group in rows.groupby("id", sort=False)}
        np.testing.assert_allclose(by_id["minus"], np.stack(alone["embedding"]), atol=1e-6)
        np.testing.assert_allclose(by_id["plus"], by_id["none"], atol=0)
        assert not np.allclose(by_id["plus"], by_id["minus"], atol=1e-3)
    bases = pd.read_parquet(tmp_path / "b.per-nucleotide.parquet")
    assert bases[bases["id"] == "minus"]["position"].tolist() == list(range(1599, 999, -1))
    assert bases[bases["id"] == "plus"]["position"].tolist() == list(range(1000, 1600))
    assert set(bases.groupby("id")["strand"].first().items()) == {("plus", "+"), ("minus", "-"), ("none", ".")}
    spans = rows[rows["id"] == "minus"][["start", "end"]].to_numpy()  # per-token: a token's span on chrI
    assert spans[0].tolist() == [1597, 1600] and spans[-1].tolist() == [1000, 1003]
    bed.write_text("chrI\t10\t50\tx\t0\tminus\n")
    with pytest.raises(ValueError, match=r"x.bed, line 1: the strand column \(6th\) must be \+, - or \., got 'minus'"):
        embed(model, tmp_path / "o.npy", bed=bed, genome=genome)


def test_bad_inputs_are_located(tmp_path):
    model = local_model(1)
    table = tmp_path / "x.tsv"
    table.write_text("id\tsequence\nok\tACGT\nbroken\tACGXT\n")
    with pytest.raises(ValueError, match="'X'.*position 3.*broken"):
        embed(model, tmp_path / "o.npy", sequences=table)
    assert not (tmp_path / "o.npy").exists(), "nothing half-written"
    genome = tmp_path / "g.fa"
    genome.write_text(">chrI\n" + CHR_I[:600] + "\n")
    bed = tmp_path / "x.bed"
    bed.write_text("chrI\t10\t50\nchrI\t70\t20\n")
    with pytest.raises(ValueError, match=r"x.bed, line 2: expected .*0 <= start < end"):
        embed(model, tmp_path / "o.npy", bed=bed, genome=genome)
    bed.write_text("chrI\t500\t700\n")
    with pytest.raises(ValueError, match=r"x.bed, line 1: .*outside the contig"):
        embed(model, tmp_path / "o.npy", bed=bed, genome=genome)
    table.write_text("id\tsequence\nlong\tACGTACGT\n")
    with pytest.raises(ValueError, match="long: cls pooling needs the whole sequence in one chunk"):
        embed(model, tmp_path / "o.npy", sequences=table, pooling="cls", chunk=4, overlap=0)
    assert not list(tmp_path.glob("o.npy*")), "no output and no partial file after an error"


def test_a_chromosome_streams_with_bounded_activations(tmp_path, monkeypatch):
    model, tokenizer = local_model(6, ("sliding_attention", "full_attention"), window=16)
    seen = []
    forward = type(model.model).forward

    def spy(self, input_ids=None, **kwargs):
        seen.append(tuple(input_ids.shape))
        return forward(self, input_ids=input_ids, **kwargs)

    monkeypatch.setattr(type(model.model), "forward", spy)
    fasta = tmp_path / "chrI.fa"
    fasta.write_text(">chrI\n" + CHR_I + "\n")
    summary = embed((model, tokenizer), tmp_path / "chrI.npy", fasta=fasta, pooling="per-nucleotide", chunk=3_000,
                    overlap=600, batch_size=4)
    array = np.load(tmp_path / "chrI.npy", mmap_mode="r")
    assert array.shape == (len(CHR_I), 64) and summary.sequences == 1 and summary.hidden_size == 64
    assert (summary.chunk, summary.overlap, summary.pooling) == (3_000, 600, "per-nucleotide")
    assert "genome_bgzf_copy" not in summary.to_json() and EmbeddingSummary.from_json(summary.to_json()) == summary
    # at most a chunk of tokens per row (k-mers, up to k - 1 tail letters, <cls>), batch_size rows per call
    assert max(width for _, width in seen) <= 3_000 // 6 + 6 and max(rows for rows, _ in seen) <= 4
