"""The single-base U-Net around FGM's trunk, on real yeast sequence: padded batches equal each sequence alone on
every backend, every head works per base, gradient checkpointing and torch.compile change nothing, the trunk
runs at 1 / 2**stages of the length, and what a U-Net cannot compute exactly is refused by name."""

import pytest
import torch
import yeast

from fgm import FGMConfig, FGMForMaskedLM, FGMForSequenceClassification, FGMForTokenClassification, FGMModel
from fgm.kmers_fgm import reverse_complement
from fgm.tokenization_fgm import FGMTokenizer

TOKENIZER = FGMTokenizer(k=1)
CHROMOSOME = yeast.chromosome("chrII")
# lengths that are not multiples of the 8-base block, and one shorter than the longest by more than a block
SEQUENCES = [CHROMOSOME[5_000 + 700 * i : 5_000 + 700 * i + length] for i, length in enumerate((300, 57, 129, 8))]


def unet(cls=FGMModel, backend="sdpa", seed=0, **overrides):
    torch.manual_seed(seed)
    model = cls(FGMConfig.preset("unet-tiny", **overrides)).eval()
    model.set_attn_implementation(backend)
    return model


def test_config_schedule_and_k():
    config = FGMConfig.preset("unet-base")
    assert config.unet_block == 128 and config.unet_widths[0] == 256 and config.unet_widths[-1] == 768
    assert config.unet_widths == sorted(config.unet_widths) and not config.tie_word_embeddings
    assert config.output_hidden_size == 256 and FGMConfig.preset("small").output_hidden_size == 512
    with pytest.raises(ValueError, match="reads single bases: kmer_size must be 1, got 6"):
        FGMConfig.preset("unet-demo", kmer_size=6)
    with pytest.raises(ValueError, match="unet_kernel must be an odd number of bases, got 4"):
        FGMConfig.preset("unet-demo", unet_kernel=4)


@pytest.mark.parametrize("backend", ["eager", "sdpa", "flex_attention"])
def test_a_padded_batch_gives_each_sequence_its_own_outputs(backend):
    """Convolutions and pooling cross the end of every shorter row, yet each row comes out as when alone."""
    model = unet(backend=backend)
    batch = TOKENIZER(SEQUENCES, padding=True, return_tensors="pt")
    with torch.no_grad():
        together = model(**batch).last_hidden_state
        assert together.shape == (4, 301, 32)  # one vector per token (<cls> + bases), the stem's width
        for row, sequence in enumerate(SEQUENCES):
            alone = model(**TOKENIZER([sequence], return_tensors="pt")).last_hidden_state[0]
            torch.testing.assert_close(together[row, : len(alone)], alone, atol=1e-5, rtol=1e-5)


def test_the_trunk_runs_at_one_token_per_block_and_reaches_as_far_as_its_windows():
    """unet-tiny: 2 sliding layers of +-8 trunk tokens (8 bases each), so position 5 sees about 2 x 8 x 8 bases
    far, through the trunk, and nothing beyond."""
    model = unet()
    ids = TOKENIZER([SEQUENCES[0]], return_tensors="pt")["input_ids"]

    def change_at_5(position):
        changed = ids.clone()
        changed[0, position] = TOKENIZER.convert_tokens_to_ids("A" if SEQUENCES[0][position - 1] != "A" else "C")
        return float((model(changed).last_hidden_state - out.last_hidden_state)[0, 5].abs().max())

    with torch.no_grad():
        out = model(ids, output_hidden_states=True)
        assert [h.shape for h in out.hidden_states] == [(1, 38, 64)] * 3  # ceil(301 / 8) trunk tokens, 2 layers
        assert change_at_5(100) > 1e-6 and change_at_5(290) == 0


def test_masked_lm_heads_per_base():
    model = unet(FGMForMaskedLM)
    batch = TOKENIZER(SEQUENCES[:2], padding=True, return_tensors="pt")
    labels = torch.full_like(batch["input_ids"], -100)
    labels[0, [3, 100]], labels[1, 20] = batch["input_ids"][0, [3, 100]], batch["input_ids"][1, 20]
    with torch.no_grad():
        sparse = model(**batch, labels=labels)
        model.config.sparse_prediction = False
        dense = model(**batch, labels=labels)
        probs, valid = model.nucleotide_probabilities(batch["input_ids"], batch["attention_mask"])
    assert sparse.logits.shape == (3, 11) and dense.logits.shape == (2, 301, 11)
    torch.testing.assert_close(sparse.logits, dense.logits[labels != -100])
    torch.testing.assert_close(sparse.loss, dense.loss)
    assert probs.shape == (2, 301, 1, 4) and valid[0, 1:].all() and not valid[0, 0]


def test_classification_heads_and_rc_average():
    batch = TOKENIZER(SEQUENCES[:3], padding=True, return_tensors="pt")
    reverse = TOKENIZER([reverse_complement(s) for s in SEQUENCES[:3]], padding=True, return_tensors="pt")
    model = unet(FGMForSequenceClassification, num_labels=2, rc_average=True)
    with torch.no_grad():
        torch.testing.assert_close(model(**batch).logits, model(**reverse).logits, atol=1e-5, rtol=1e-5)
    tokens = unet(FGMForTokenClassification, num_labels=3)
    out = tokens(**batch, labels=torch.randint(0, 3, batch["input_ids"].shape))
    assert out.logits.shape == (3, 301, 3) and out.loss.requires_grad


def test_gradient_checkpointing_covers_the_convolutions_and_changes_nothing():
    batch = TOKENIZER(SEQUENCES[:2], padding=True, return_tensors="pt")
    labels = batch["input_ids"].masked_fill(batch["attention_mask"] == 0, -100)
    gradients = []
    for checkpointing in (False, True):
        model = unet(FGMForMaskedLM).train()
        if checkpointing:
            model.gradient_checkpointing_enable()
            stages = [m for m in model.modules() if type(m).__name__ in ("FGMStem", "FGMDownStage", "FGMUpStage")]
            assert len(stages) == 7 and all(m.gradient_checkpointing for m in stages)
        model(**batch, labels=labels).loss.backward()
        gradients.append(torch.cat([p.grad.flatten() for p in model.parameters()]))
    torch.testing.assert_close(gradients[1], gradients[0], atol=1e-6, rtol=1e-5)


def test_compiles_without_graph_breaks_and_runs_under_bf16():
    model = unet()
    batch = TOKENIZER(SEQUENCES[:2], padding=True, return_tensors="pt")
    explanation = torch._dynamo.explain(model)(**batch)
    assert explanation.graph_break_count == 0, explanation.break_reasons
    with torch.no_grad():
        expected = model(**batch).last_hidden_state
        torch.testing.assert_close(torch.compile(model)(**batch).last_hidden_state, expected, atol=1e-5, rtol=1e-5)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            half = model(**batch).last_hidden_state
    real = batch["attention_mask"].bool()
    assert (half.float()[real] - expected[real]).abs().max() < 0.1


def test_what_a_unet_cannot_compute_exactly_is_refused_by_name():
    model = unet()
    with pytest.raises(ValueError, match=r"row 1 has 6 tokens, fewer than one trunk token of this U-Net \(8 bases = 2\*\*3"):
        model(**TOKENIZER(["ACGTACGTACGT", "ACGTA"], padding=True, return_tensors="pt"))
    with pytest.raises(ValueError, match="row 0 holds no A, C, G or T"):
        model(**TOKENIZER(["N" * 40], return_tensors="pt"))
    ids = TOKENIZER([SEQUENCES[0]], return_tensors="pt")["input_ids"]
    positions = torch.cat([torch.arange(150), torch.arange(151)])[None]
    with pytest.raises(ValueError, match="cannot take packed sequences"):
        model(ids, position_ids=positions)
    left = TOKENIZER(SEQUENCES[:2], padding=True, return_tensors="pt")
    left["attention_mask"] = left["attention_mask"].flip(-1)
    with pytest.raises(ValueError, match="needs right padding"):
        model(**left)
