"""Model behaviour: attention backends agree, padding and packing never leak, heads and options work."""

import importlib.util

import pytest
import torch

from fgm.configuration_fgm import FGMConfig
from fgm.modeling_fgm import (
    FGMForMaskedLM,
    FGMForSequenceClassification,
    FGMForTokenClassification,
    FGMModel,
    LocalBlocks,
    eager_attention_forward,
)

VOCAB = 4107


def tiny(**overrides) -> FGMConfig:
    return FGMConfig.preset("tiny", **overrides)


def build(cls, config, backend="sdpa", seed=0):
    torch.manual_seed(seed)
    model = cls(config).eval()
    model.set_attn_implementation(backend)
    return model


@pytest.fixture(scope="module")
def padded_batch():
    """Rows shorter and longer than the 16-token window, right-padded."""
    generator = torch.Generator().manual_seed(1)
    ids = torch.randint(6, VOCAB, (4, 75), generator=generator)
    lengths = [75, 52, 9, 30]
    mask = torch.zeros_like(ids)
    for row, length in enumerate(lengths):
        mask[row, :length] = 1
    ids = ids.masked_fill(mask == 0, 1)
    return ids, mask


def real(x, mask):
    return x[mask.bool()]


def test_local_blocks_equal_dense_window_mask():
    """Block-local attention == dense attention under the explicit |i-j| <= half, same-segment mask."""
    torch.manual_seed(0)
    batch, heads, n, dim, half = 2, 3, 53, 8, 5
    query, key, value = (torch.randn(batch, heads, n, dim) for _ in range(3))
    segments = torch.randint(0, 3, (batch, n)).sort(-1).values
    segments[1, 40:] = -1  # padding
    blocks = LocalBlocks(segments, batch, heads, n, half, "cpu")
    module = torch.nn.Module().eval()
    out, _ = eager_attention_forward(module, *blocks.split(query, key, value), blocks.mask, scaling=0.3)
    out = blocks.merge(out)
    i = torch.arange(n)
    dense = ((i[:, None] - i[None]).abs() <= half) & (segments[:, None, :, None] == segments[:, None, None, :])
    reference, _ = eager_attention_forward(module, query, key, value, dense, scaling=0.3)
    keep = segments >= 0
    torch.testing.assert_close(out[keep], reference[keep], atol=1e-5, rtol=1e-5)


def test_local_block_cost_is_linear_in_length():
    """The block mask (and the keys per query) do not grow with the sequence: O(n * window)."""
    short, long = LocalBlocks(None, 1, 2, 1000, 32, "cpu"), LocalBlocks(None, 1, 2, 4000, 32, "cpu")
    assert long.mask.numel() / short.mask.numel() == pytest.approx(4, rel=0.05)
    assert long.mask.shape[-1] == 3 * 32


@pytest.mark.parametrize("backend", ["sdpa", "flex_attention"])
def test_backends_match_eager(backend, padded_batch):
    ids, mask = padded_batch
    config = tiny()
    reference = build(FGMModel, config, "eager")(ids, attention_mask=mask).last_hidden_state
    with torch.no_grad():
        out = build(FGMModel, config, backend)(ids, attention_mask=mask).last_hidden_state
    assert (real(out, mask) - real(reference, mask)).abs().max().item() <= 1e-4


@pytest.mark.skipif(
    not (torch.cuda.is_available() and importlib.util.find_spec("flash_attn")), reason="flash-attn needs CUDA"
)
def test_flash_attention_2_matches_sdpa(padded_batch):
    ids, mask = (t.cuda() for t in padded_batch)
    config = tiny()
    with torch.no_grad(), torch.autocast("cuda", dtype=torch.bfloat16):
        reference = build(FGMModel, config, "sdpa").cuda()(ids, attention_mask=mask).last_hidden_state
        out = build(FGMModel, config, "flash_attention_2").cuda()(ids, attention_mask=mask).last_hidden_state
    assert (real(out, mask) - real(reference, mask)).abs().max().item() <= 2e-2


def test_window_covering_the_sequence_equals_full_attention(padded_batch):
    ids, mask = padded_batch
    sliding = build(FGMModel, tiny(layer_types=["sliding_attention"] * 3, sliding_window=160), "eager")
    full = build(FGMModel, tiny(layer_types=["full_attention"] * 3), "eager")
    with torch.no_grad():
        torch.testing.assert_close(
            real(sliding(ids, attention_mask=mask).last_hidden_state, mask),
            real(full(ids, attention_mask=mask).last_hidden_state, mask),
        )


def test_sliding_window_limits_what_a_token_sees():
    """Changing a token more than window/2 away leaves a sliding-only layer's output unchanged."""
    model = build(FGMModel, tiny(num_hidden_layers=1, layer_types=["sliding_attention"], sliding_window=16))
    ids = torch.randint(6, VOCAB, (1, 60))
    changed = ids.clone()
    changed[0, 40] = (ids[0, 40] + 1 - 6) % (VOCAB - 6) + 6
    with torch.no_grad():
        a, b = model(ids).last_hidden_state, model(changed).last_hidden_state
    moved = (a - b).abs().amax(-1)[0]
    assert moved[:32].max() == 0 and moved[49:].max() == 0  # |i - 40| > 8
    assert moved[32:49].min() > 0  # |i - 40| <= 8


@pytest.mark.parametrize("backend", ["eager", "sdpa"])
def test_padding_invariance(backend, padded_batch):
    ids, mask = padded_batch
    model = build(FGMModel, tiny(), backend)
    with torch.no_grad():
        batched = model(ids, attention_mask=mask).last_hidden_state
        for row in range(len(ids)):
            length = int(mask[row].sum())
            alone = model(ids[row : row + 1, :length]).last_hidden_state[0]
            assert (alone - batched[row, :length]).abs().max() <= 1e-5
        # left padding gives the same result too (positions count real tokens only)
        length = int(mask[2].sum())
        left = torch.cat([torch.ones(1, 75 - length, dtype=torch.long), ids[2:3, :length]], 1)
        left_mask = torch.cat([torch.zeros(1, 75 - length, dtype=torch.long), torch.ones(1, length, dtype=torch.long)], 1)
        out = model(left, attention_mask=left_mask).last_hidden_state[0, 75 - length :]
        assert (out - batched[2, :length]).abs().max() <= 1e-5


@pytest.mark.parametrize("backend", ["eager", "sdpa", "flex_attention"])
def test_packed_sequences_are_isolated(backend):
    torch.manual_seed(3)
    parts = [torch.randint(6, VOCAB, (1, n)) for n in (37, 45, 7)]
    packed = torch.cat(parts, 1)
    position_ids = torch.cat([torch.arange(p.shape[1]) for p in parts])[None]
    model = build(FGMModel, tiny(), backend)
    with torch.no_grad():
        out = model(packed, position_ids=position_ids).last_hidden_state[0]
        start = 0
        for part in parts:
            alone = build(FGMModel, tiny(), "eager")(part).last_hidden_state[0]
            assert (out[start : start + part.shape[1]] - alone).abs().max() <= 1e-4
            start += part.shape[1]


def test_sparse_masked_lm_matches_dense_loss():
    torch.manual_seed(0)
    model = build(FGMForMaskedLM, tiny())
    ids = torch.randint(6, VOCAB, (2, 40))
    labels = torch.full_like(ids, -100)
    labels[0, [3, 17]] = ids[0, [3, 17]]
    labels[1, 30] = ids[1, 30]
    with torch.no_grad():
        out = model(ids, labels=labels)
        dense = model(ids).logits
    assert out.logits.shape == (3, VOCAB)
    expected = torch.nn.functional.cross_entropy(dense.view(-1, VOCAB), labels.view(-1), ignore_index=-100)
    torch.testing.assert_close(out.loss, expected)
    assert model.decoder.weight.data_ptr() == model.model.embeddings.weight.data_ptr()


def test_gradient_checkpointing_gives_same_gradients():
    ids = torch.randint(6, VOCAB, (2, 50))
    grads = []
    for checkpointing in (False, True):
        model = build(FGMForMaskedLM, tiny()).train()
        if checkpointing:
            model.gradient_checkpointing_enable()
        model(ids, labels=ids).loss.backward()
        grads.append(torch.cat([p.grad.flatten() for p in model.parameters() if p.grad is not None]))
    torch.testing.assert_close(grads[0], grads[1])


def test_classification_heads_shapes_and_losses(padded_batch):
    ids, mask = padded_batch
    for pooling in ("mean", "cls"):
        model = build(FGMForSequenceClassification, tiny(num_labels=3, classifier_pooling=pooling))
        out = model(ids, attention_mask=mask, labels=torch.tensor([0, 1, 2, 1]))
        assert out.logits.shape == (4, 3) and out.loss.item() > 0
    model = build(FGMForTokenClassification, tiny(num_labels=2))
    labels = torch.randint(0, 2, ids.shape).masked_fill(mask == 0, -100)
    out = model(ids, attention_mask=mask, labels=labels)
    assert out.logits.shape == (4, 75, 2) and torch.isfinite(out.loss)


@pytest.mark.parametrize(
    "overrides, message",
    [
        (dict(hidden_size=66, num_attention_heads=4), "divisible"),
        (dict(layer_types=["full_attention"]), "layer_types has 1"),
        (dict(layer_types=["full_attention", "local", "full_attention"]), "layer_types\\[1\\]"),
        (dict(sliding_window=1), "sliding_window"),
        (dict(classifier_pooling="max"), "classifier_pooling"),
    ],
)
def test_config_validation(overrides, message):
    with pytest.raises(ValueError, match=message):
        tiny(**overrides)


def test_presets_have_the_advertised_sizes():
    expected = {"small": 35e6, "base": 110e6, "large": 350e6}
    for name, params in expected.items():
        config = FGMConfig.preset(name)
        with torch.device("meta"):
            count = sum(p.numel() for p in FGMForMaskedLM(config).parameters())
        assert abs(count - params) / params < 0.2, (name, count)
    with pytest.raises(ValueError, match="unknown preset"):
        FGMConfig.preset("huge")
