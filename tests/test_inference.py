"""The zero-shot primitive (`fgm.inference`) on FGM and on a Nucleotide Transformer-shaped ESM: every score equals a
direct computation from the full softmax and the vocabulary strings; bad input is refused by name."""

import numpy as np
import pytest
import torch
import yeast
from nt_peer import save_nt_peer

from fgm import FGMConfig, FGMForMaskedLM, FGMTokenizer
from fgm.checkpoints import load_checkpoint, training_context
from fgm.inference import DNAVocabulary, MaskedBaseScorer
from fgm.model.kmers_fgm import kmer_base_table

SEQUENCE = yeast.chromosome("chrV")[20_000:20_400]


def brute_force(model, tokenizer, sequence, index):
    """ln P(true base) with the token holding `index` masked: the full softmax over the vocabulary strings."""
    ids = tokenizer(sequence)["input_ids"]
    tokens, start = tokenizer.convert_ids_to_tokens(ids), 0
    for position, token in enumerate(tokens):
        length = len(token) if set(token) <= set("ACGTN") else 0
        if start <= index < start + length:
            break
        start += length
    masked = torch.tensor([ids])
    masked[0, position] = tokenizer.mask_token_id
    with torch.no_grad():
        softmax = model(input_ids=masked).logits[0, position].float().softmax(-1)
    vocabulary = tokenizer.convert_ids_to_tokens(list(range(len(tokenizer))))
    offset = index - start
    reach = [v for v, t in enumerate(vocabulary) if set(t) <= set("ACGTN") and len(t) > offset and t[offset] != "N"]
    true = [v for v in reach if vocabulary[v][offset] == sequence[index]]
    return float(-torch.log(softmax[true].sum() / softmax[reach].sum())), (start, start + len(tokens[position]))


@pytest.fixture(scope="module")
def nt_peer(tmp_path_factory):
    return load_checkpoint(str(save_nt_peer(tmp_path_factory.mktemp("nt"))), device="cpu")


def test_fgm_vocabulary_read_from_strings_equals_the_kmer_tables():
    for k in (1, 3, 6):
        vocabulary = DNAVocabulary(FGMTokenizer(k=k))
        bases, lengths = kmer_base_table(k)
        assert torch.equal(vocabulary.bases, bases) and torch.equal(vocabulary.lengths, lengths)


@pytest.mark.parametrize("peer", ["fgm-1", "fgm-6", "nt"])
def test_scores_equal_the_full_softmax_at_every_offset(peer, nt_peer):
    if peer == "nt":
        model, tokenizer = nt_peer
    else:
        tokenizer = FGMTokenizer(k=int(peer[-1]))
        torch.manual_seed(0)
        model = FGMForMaskedLM(FGMConfig.preset("tiny", vocab_size=len(tokenizer), kmer_size=tokenizer.k)).eval()
    sequences = [SEQUENCE[:300], SEQUENCE[50:353], SEQUENCE[:300]]
    indices = [150, 151, 155]  # two offsets of one 6-mer in the first window, then the same one again
    scores = MaskedBaseScorer(model, tokenizer, batch_size=2).score(sequences, indices)
    losses = scores.base_loss([sequence[index] for sequence, index in zip(sequences, indices)])
    for row, (sequence, index) in enumerate(zip(sequences, indices)):
        loss, span = brute_force(model, tokenizer, sequence, index)
        assert losses[row] == pytest.approx(loss, abs=1e-5) and tuple(scores.token_spans[row]) == span
    assert np.isclose(np.exp(scores.log_probs).sum(1), 1).all()


def test_a_nucleotide_transformer_folder_loads_and_records_its_context(nt_peer):
    model, tokenizer = nt_peer
    assert type(model).__name__ == "EsmForMaskedLM" and training_context(tokenizer) == 999 * 6


def test_bad_input_is_refused_by_name(nt_peer):
    model, tokenizer = nt_peer
    scorer = MaskedBaseScorer(model, tokenizer)
    with pytest.raises(ValueError, match=r"sequence 1 \(8 bases\) is not spelled base for base by EsmTokenizer"):
        scorer.score(["ACGTACGT", "acgtacgt"], [0, 0])  # EsmTokenizer has no lowercase tokens: <unk>
    tokenizer = FGMTokenizer(k=6)
    tokenizer.mask_token = None
    with pytest.raises(ValueError, match="has no mask token"):
        MaskedBaseScorer(FGMForMaskedLM(FGMConfig.preset("tiny")), tokenizer)


def test_context_scan_command_runs_a_nucleotide_transformer_folder(tmp_path, capsys):
    from datasets import Dataset, DatasetDict

    from fgm.cli import main

    DatasetDict({"train": Dataset.from_list(yeast.windows("chrIII", 2000, 5)),
                 "test": Dataset.from_list(yeast.windows("chrVI", 3000, 4))}).save_to_disk(tmp_path / "corpus")
    folder = save_nt_peer(tmp_path / "nt")
    main(["context-scan", "--model", str(folder), "--corpus", str(tmp_path / "corpus"), "--contexts", "120,600",
          "--positions", "12", "--markov_orders", "1", "--bootstrap", "20", "--output_dir", str(tmp_path / "scan"),
          "--quiet", "True"])
    table = capsys.readouterr().out
    assert "| 600 | 101 |" in table and "Training context: 5,994 bases" in table and "Markov order 1" in table


def test_variant_scores_and_embeddings_of_a_nucleotide_transformer_folder(tmp_path):
    """The scoring commands take any masked LM with a DNA tokenizer: a peer's folder is scored and embedded end to
    end (the k-mer size recorded is its tokenizer's, not an FGM config field it lacks)."""
    import json
    from pathlib import Path

    from fgm.embeddings import EmbedArguments, embed
    from fgm.variants import ScoreVariantsArguments, score_variants

    peer = str(save_nt_peer(tmp_path / "nt"))
    data = Path(__file__).resolve().parents[1] / "data"
    genome = str(data / "genomes" / "sacCer_S288C.fa.gz")
    summary = score_variants(ScoreVariantsArguments(model_name_or_path=peer, genome=genome, window=600,
                                                    vcf=str(data / "examples" / "yeast_variants.vcf"),
                                                    output=str(tmp_path / "scores.tsv"), quiet=True))
    lines = (tmp_path / "scores.tsv").read_text().splitlines()
    assert json.loads(lines[1][3:])["kmer_size"] == 6 and summary.scored > 0
    scored = [line.split("\t") for line in lines[3:] if line.split("\t")[5]]
    assert len(scored) == summary.scored and all(abs(float(row[5])) < 5 for row in scored)
    embedded = embed(EmbedArguments(model_name_or_path=peer, bed=str(data / "examples" / "yeast_regions.bed"),
                                    genome=genome, output=str(tmp_path / "regions.npy"), quiet=True))
    assert np.load(tmp_path / "regions.npy").shape == (embedded.sequences, 32)  # the peer's hidden size
