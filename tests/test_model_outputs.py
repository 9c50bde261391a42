"""The heads with the real tokenizer: per-nucleotide probabilities, reverse-complement averaging, transformers'
problem types and recorded attentions."""

import pytest
import torch
import torch.nn.functional as F
import yeast

from fgm.model.configuration_fgm import FGMConfig
from fgm.model.kmers_fgm import kmer_vocabulary, reverse_complement, reverse_complement_rows
from fgm.model.modeling_fgm import FGMForMaskedLM, FGMForSequenceClassification, FGMModel
from fgm.model.tokenization_fgm import FGMTokenizer

TOKENIZER = FGMTokenizer(k=6)


def test_nucleotide_probabilities_marginalize_the_kmer_softmax():
    torch.manual_seed(0)
    model = FGMForMaskedLM(FGMConfig.preset("tiny")).eval()
    batch = TOKENIZER(["ACGTACGTA", "GGCATTACNA"], padding=True, return_tensors="pt")
    probs, valid = model.nucleotide_probabilities(batch["input_ids"], batch["attention_mask"])
    assert probs.shape == (2, batch["input_ids"].shape[1], 6, 4)
    # [cls, ACGTAC, G, T, A]: the k-mer covers 6 offsets, single letters 1, <cls> none
    assert valid[0, :5].sum(-1).tolist() == [0, 6, 1, 1, 1]
    torch.testing.assert_close(probs[valid].sum(-1), torch.ones(int(valid.sum())))
    # independent check of one marginal from the full softmax and the vocabulary strings
    with torch.no_grad():
        softmax = model(**batch).logits[0, 1].softmax(-1)
    vocabulary = kmer_vocabulary(6)
    reach = [i for i, token in enumerate(vocabulary) if len(token) == 6 and set(token) <= set("ACGT")]
    with_g = [i for i in reach if vocabulary[i][2] == "G"]
    expected = softmax[with_g].sum() / softmax[reach].sum()
    torch.testing.assert_close(probs[0, 1, 2, "ACGT".index("G")], expected)


def test_rc_average_makes_a_sequence_and_its_reverse_complement_agree():
    torch.manual_seed(0)
    config = FGMConfig.preset("tiny", num_labels=2)
    model = FGMForSequenceClassification(config).eval()
    sequences = ["ACGTTGCATGCATTTGACCANNGTAGCTAGGCTAAC", "TTTTGGGCCCAAATAGAGCTTAG"]
    reverse = [reverse_complement(s) for s in sequences]
    forward_batch = TOKENIZER(sequences, padding=True, return_tensors="pt")
    reverse_batch = TOKENIZER(reverse, padding=True, return_tensors="pt")
    with torch.no_grad():
        plain = model(**forward_batch).logits, model(**reverse_batch).logits
        assert not torch.allclose(*plain, atol=1e-4), "without averaging the strands differ"
        model.config.rc_average = True
        averaged = model(**forward_batch).logits, model(**reverse_batch).logits
    torch.testing.assert_close(*averaged, atol=1e-5, rtol=1e-5)
    # while training the strands are not averaged (dropout is 0 by construction, so train mode is deterministic)
    assert config.classifier_dropout == config.hidden_dropout == 0.0
    model.train()
    trained = model(**forward_batch, labels=torch.tensor([0, 1]))
    torch.testing.assert_close(trained.logits, plain[0])
    assert trained.loss.requires_grad


def test_problem_types_follow_transformers_conventions():
    """As ModernBERT: one label is regression, integer labels single-label, float label vectors multi-label
    (the issue's crash: multi-label targets went through labels.view(-1))."""
    torch.manual_seed(0)
    batch = TOKENIZER(["ACGTTGCATGCATTTGACCA", "TTTTGGGCCCAAATAG"], padding=True, return_tensors="pt")
    for num_labels, labels, problem, loss_of in [
        (1, torch.tensor([0.5, -1.0]), "regression", lambda logits, y: F.mse_loss(logits.squeeze(-1), y)),
        (3, torch.tensor([2, 0]), "single_label_classification", F.cross_entropy),
        (3, torch.tensor([[1.0, 0.0, 1.0], [0.0, 1.0, 0.0]]), "multi_label_classification",
         F.binary_cross_entropy_with_logits),
    ]:
        model = FGMForSequenceClassification(FGMConfig.preset("tiny", num_labels=num_labels)).eval()
        out = model(**batch, labels=labels)
        assert model.config.problem_type == problem
        torch.testing.assert_close(out.loss, loss_of(out.logits, labels))
    with pytest.raises(ValueError, match="problem_type"):
        FGMConfig.preset("tiny", num_labels=2, problem_type="ranking")


def test_attentions_are_recorded_on_eager():
    torch.manual_seed(0)
    config = FGMConfig.preset("tiny", sliding_window=8)  # layers: sliding, sliding, full
    model = FGMModel(config).eval()
    model.set_attn_implementation("eager")
    batch = TOKENIZER(["ACGTTGCATGCATTTGACCAGGCTAGCTAGGATCCATGACGATTTACGATCAGCTACGAGCA" * 2, "TTTTGGGCCCAAATAG"],
                      padding=True, return_tensors="pt")
    with torch.no_grad():
        plain = model(**batch).last_hidden_state
        out = model(**batch, output_attentions=True)
    real = batch["attention_mask"].bool()
    torch.testing.assert_close(out.last_hidden_state[real], plain[real], atol=1e-5, rtol=1e-5)  # dense = blocked
    n = batch["input_ids"].shape[1]
    assert len(out.attentions) == 3 and all(a.shape == (2, 4, n, n) for a in out.attentions)
    for layer, weights in zip(config.layer_types, out.attentions):
        torch.testing.assert_close(weights[0].sum(-1), torch.ones(4, n))
        assert not weights[1][:, real[1]][..., ~real[1]].any(), "no real token attends to padding"
        if layer == "sliding_attention":
            distance = (torch.arange(n)[:, None] - torch.arange(n)[None]).abs()
            assert not weights[0][:, distance > 4].any() and weights[0][:, distance <= 4].all()
    assert FGMForSequenceClassification(config).eval()(**batch, output_attentions=True).attentions is not None
    model.set_attn_implementation("sdpa")  # forms no weights: the call runs on eager (tests/test_modeling.py)
    assert all(torch.equal(a, b) for a, b in zip(model(**batch, output_attentions=True).attentions, out.attentions))


def test_reverse_complement_rows_equal_the_tokenizer_on_reverse_complements():
    """The batched reverse complement (no per-row loop) gives what the tokenizer gives for each reverse-complement
    string, for every k, with N runs, lengths that are not multiples of k, and padding."""
    chromosome = yeast.chromosome("chrI")
    sequences = [chromosome[i * 997 : i * 997 + length] for i, length in enumerate([1, 5, 7, 60, 333, 61])]
    sequences[3] = sequences[3][:30] + "NN" + sequences[3][30:]
    for k in (1, 3, 6):
        tokenizer = FGMTokenizer(k=k)
        batch = tokenizer(sequences + ["NNN"], padding=True, return_tensors="pt")
        ids, mask = reverse_complement_rows(batch["input_ids"], batch["attention_mask"], k, tokenizer.pad_token_id)
        expected = tokenizer([reverse_complement(s) for s in sequences] + ["NNN"], padding=True, return_tensors="pt")
        assert torch.equal(ids, expected["input_ids"]) and torch.equal(mask, expected["attention_mask"]), k
