"""Per-nucleotide probabilities and reverse-complement averaging, with the real tokenizer."""

import torch

from fgm.configuration_fgm import FGMConfig
from fgm.kmers_fgm import reverse_complement
from fgm.modeling_fgm import FGMForMaskedLM, FGMForSequenceClassification
from fgm.kmers_fgm import kmer_vocabulary
from fgm.tokenization_fgm import FGMTokenizer

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
    model.train()
    model.config.classifier_dropout = 0.0
    assert model(**forward_batch, labels=torch.tensor([0, 1])).loss.requires_grad
