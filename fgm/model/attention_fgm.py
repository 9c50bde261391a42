"""How FGM's attention runs: the backend, and a plan of how each layer attends on it.

Each forward pass builds one `AttentionPlan` (`attention_plan`): the backend that runs and, for every layer, a
`LayerAttention`: the attention function, the layout that reshapes queries, keys and values around it, and the
function's arguments. One builder per backend gives the `LayerAttention` of each layer type (`LayerTypes`):
- `dense_layers` (`eager`, `sdpa` and any other backend that takes a dense mask): sliding layers attend
  block-locally (`LocalBlocks`): each block of `window / 2` queries against its own and the two neighbouring key
  blocks, masked to the exact window;
- `flex_layers` (`flex_attention`): a block-sparse `BlockMask` built from the band of key blocks
  (`flex_block_mask`), on inputs padded to whole blocks (`BlockPadding`);
- `flash_layers` (`flash_attention_2` / `_3` / `_4`): flash-attn's own window; padded and packed batches go as their
  real tokens only, in variable-length sequences (`VarlenTokens`).
Sliding layers cost O(n * window) on every backend. Packed sequences (position_ids restarting at 0) and padding
never attend to each other.

The backend is chosen in one place, `attention_backend`: the one requested, else the newest flash build the
machine runs (else sdpa); flash runs only on CUDA tensors in fp16 / bf16, sdpa (the same attention) elsewhere.
Only `eager` forms attention weights: a call that asks for them (`output_attentions`) runs on eager. A model with
`attention_sink` runs on eager or sdpa (`with_sink`).

Ships inside every FGM checkpoint next to `modeling_fgm.py` (remote code): it imports only torch and transformers.
"""

import functools
import math
from collections.abc import Callable
from typing import NamedTuple

import torch
import torch.nn.functional as F
from transformers.modeling_utils import ALL_ATTENTION_FUNCTIONS
from transformers.utils import logging
from transformers.utils.generic import is_flash_attention_requested

logger = logging.get_logger(__name__)

PADDING_SEGMENT = -1
FLEX_BLOCK = 128

# Flash builds, newest first, with the oldest GPU generation (CUDA major version) each runs on.
FLASH_BUILDS = (
    ("flash_attention_4", "is_flash_attn_4_available", 9),
    ("flash_attention_3", "is_flash_attn_3_available", 8),
    ("flash_attention_2", "is_flash_attn_2_available", 8),
)


# --------------------------------------------------------------------------------------------------
# The backend
# --------------------------------------------------------------------------------------------------


def activation_dtype(hidden_states: torch.Tensor) -> torch.dtype:
    """The dtype the layers compute in: autocast's where it is on, else the hidden states'."""
    device = hidden_states.device.type
    return torch.get_autocast_dtype(device) if torch.is_autocast_enabled(device) else hidden_states.dtype


def flash_can_run(hidden_states: torch.Tensor) -> bool:
    """Flash kernels take CUDA tensors in fp16 / bf16 (half-precision weights, or autocast to them)."""
    return hidden_states.device.type == "cuda" and activation_dtype(hidden_states) in (torch.float16, torch.bfloat16)


def newest_flash_build() -> str | None:
    """The newest flash-attn build installed that this machine's CUDA GPU runs, if any."""
    if not torch.cuda.is_available():
        return None
    import transformers.utils

    major = torch.cuda.get_device_capability()[0]
    for name, available, min_major in FLASH_BUILDS:
        if major >= min_major and getattr(transformers.utils, available, lambda: False)():
            return name
    return None


def attention_backend(requested: str | None, hidden_states: torch.Tensor | None = None) -> str:
    """The backend that runs: `requested`, or with none requested the newest flash build (else sdpa). Given the
    inputs, a flash backend they cannot run on (not CUDA fp16 / bf16) gives way to sdpa, with a warning."""
    backend = requested or newest_flash_build() or "sdpa"
    flash = is_flash_attention_requested(requested_attention_implementation=backend)
    if hidden_states is not None and flash and not flash_can_run(hidden_states):
        logger.warning_once(
            f"{backend} needs CUDA tensors in fp16 / bf16 (half-precision weights or autocast); "
            "running sdpa, which computes the same attention, instead."
        )
        return "sdpa"
    return backend


def eager_attention_forward(module, query, key, value, attention_mask, scaling, dropout=0.0, **kwargs):
    """Reference attention: explicit softmax over a boolean `attention_mask` (True = attend; None: all pairs) of
    `query`, `key`, `value` (B, H, n, D), scaled by `scaling`, attention dropout `dropout` while `module` trains.
    Returns the output (B, n, H, D) and the weights (B, H, n, n)."""
    scores = torch.matmul(query, key.transpose(2, 3)) * scaling
    if attention_mask is not None:
        scores = scores.masked_fill(~attention_mask, torch.finfo(scores.dtype).min)
    weights = F.softmax(scores, dim=-1, dtype=torch.float32).to(query.dtype)
    weights = F.dropout(weights, p=dropout, training=module.training)
    return torch.matmul(weights, value).transpose(1, 2).contiguous(), weights


@functools.cache
def _compiled_flex_attention():
    from torch.nn.attention.flex_attention import flex_attention

    return torch.compile(flex_attention, dynamic=False)


def static_flex_attention(module, query, key, value, attention_mask, scaling, dropout=0.0, **kwargs):
    """flex_attention with static shapes, compiled once per number of 128-token blocks (inputs padded to whole
    blocks, see `BlockPadding`), on the CPU and CUDA alike, so that one process runs any mix of lengths (why not
    dynamic shapes: docs/design_notes.md). The recompile limit is raised for this call only, so that many lengths
    never fall back to the dense unfused path. Raises ValueError with attention dropout, which flex lacks."""
    from torch.nn.attention.flex_attention import flex_attention

    if dropout:
        raise ValueError("flex_attention has no attention dropout: use it in eval mode or set attention_dropout=0")
    if torch.compiler.is_compiling():  # already inside the caller's graph
        output = flex_attention(query, key, value, block_mask=attention_mask, scale=scaling)
    else:
        with torch._dynamo.config.patch(recompile_limit=256):
            output = _compiled_flex_attention()(query, key, value, block_mask=attention_mask, scale=scaling)
    return output.transpose(1, 2).contiguous(), None


# --------------------------------------------------------------------------------------------------
# Masks and layouts
# --------------------------------------------------------------------------------------------------


def segment_ids(attention_mask: torch.Tensor | None, position_ids: torch.Tensor | None):
    """Which sequence each token belongs to (B, n), padding = -1; None when both are None (one whole
    sequence per row). Packed rows (`position_ids` given) mark each sequence start by a position id of 0."""
    if attention_mask is None and position_ids is None:
        return None
    if position_ids is not None:
        segments = torch.cumsum(position_ids == 0, dim=-1)
    else:
        segments = torch.zeros_like(attention_mask, dtype=torch.long)
    if attention_mask is not None:
        segments = segments.masked_fill(~attention_mask.bool(), PADDING_SEGMENT)
    return segments


def neighbour_blocks(x: torch.Tensor, block: int, fill: float = 0) -> torch.Tensor:
    """(..., nb * block, d) -> (..., nb, 3 * block, d): each block with its left and right neighbours
    (one pad, then a strided view)."""
    padded = F.pad(x, (0, 0, block, block), value=fill)
    return padded.unfold(-2, 3 * block, block).transpose(-1, -2)


class LocalBlocks:
    """Block-local layout of a sliding-window layer for dense backends.

    Blocks of `half = window // 2` queries attend to 3 blocks of keys; the mask keeps |i - j| <= half
    and same-sequence pairs, so the result equals dense masked attention at O(n * window) cost.
    Blocks ride along the head dimension: queries (B, H * nb, b, D), keys (B, H * nb, 3b, D).
    """

    def __init__(self, segments, batch: int, heads: int, seq_len: int, half: int, device):
        self.half, self.seq_len = half, seq_len
        self.num_blocks = math.ceil(seq_len / half)
        self.pad = self.num_blocks * half - seq_len
        index = torch.arange(seq_len + self.pad, device=device, dtype=torch.float32)[:, None]
        query_index = index.view(self.num_blocks, half, 1)
        key_index = neighbour_blocks(index, half, fill=-1e9).transpose(-1, -2)  # (nb, 1, 3b)
        allowed = (query_index - key_index).abs() <= half  # (nb, b, 3b)
        if segments is None and self.pad:
            segments = torch.zeros(batch, seq_len, dtype=torch.long, device=device)
        if segments is not None:
            segments = F.pad(segments, (0, self.pad), value=PADDING_SEGMENT)[..., None]
            query_segments = segments.view(batch, self.num_blocks, half, 1)
            key_segments = neighbour_blocks(segments, half, fill=-2).transpose(-1, -2)  # (B, nb, 1, 3b)
            allowed = allowed & (query_segments == key_segments)
        shape = (batch, heads, self.num_blocks, half, 3 * half)
        self.mask = allowed.unsqueeze(-4).expand(shape).reshape(batch, heads * self.num_blocks, half, 3 * half)

    def split(self, query, key, value):
        """(B, H, n, D) -> queries (B, H * nb, b, D), keys and values (B, H * nb, 3b, D)."""
        batch, heads, _, dim = query.shape
        query = F.pad(query, (0, 0, 0, self.pad)).reshape(batch, heads * self.num_blocks, self.half, dim)

        def keys(x):
            x = neighbour_blocks(F.pad(x, (0, 0, 0, self.pad)), self.half)
            return x.reshape(batch, heads * self.num_blocks, 3 * self.half, dim)

        return query, keys(key), keys(value)

    def merge(self, output: torch.Tensor) -> torch.Tensor:
        """(B, b, H * nb, D), as attention functions return it -> (B, n, H, D)."""
        batch, _, _, dim = output.shape
        output = output.view(batch, self.half, -1, self.num_blocks, dim).permute(0, 3, 1, 2, 4)
        return output.reshape(batch, self.num_blocks * self.half, -1, dim)[:, : self.seq_len]


class VarlenTokens:
    """Flash layout for padded or packed batches: the real tokens of all rows one after another, as one
    row of variable-length sequences that flash attention keeps apart by `cu_seqlens`.

    Built once per forward pass (one host sync, for the lengths flash needs on the host); padding
    is dropped, never computed, and comes back as zeros.
    """

    def __init__(self, segments: torch.Tensor):
        self.batch, self.seq_len = segments.shape
        flat = segments.flatten()
        self.indices = torch.nonzero(flat >= 0).flatten()
        real, row = flat[self.indices], self.indices // self.seq_len
        starts = F.pad((real[1:] != real[:-1]) | (row[1:] != row[:-1]), (1, 0), value=True)
        cu_seqlens = F.pad(torch.nonzero(starts).flatten(), (0, 1), value=len(real)).to(torch.int32)
        max_length = int(cu_seqlens.diff().max())
        self.kwargs = {
            "cu_seq_lens_q": cu_seqlens,
            "cu_seq_lens_k": cu_seqlens,
            "max_length_q": max_length,
            "max_length_k": max_length,
        }

    def split(self, query, key, value):
        """(B, H, n, D) -> (1, H, real tokens, D)."""

        def gather(x):
            return x.transpose(1, 2).flatten(0, 1)[self.indices].transpose(0, 1)[None]

        return gather(query), gather(key), gather(value)

    def merge(self, output: torch.Tensor) -> torch.Tensor:
        """(1, real tokens, H, D), as flash returns it -> (B, n, H, D), zeros at padding."""
        full = output.new_zeros(self.batch * self.seq_len, *output.shape[2:])
        return full.index_copy(0, self.indices, output[0]).view(self.batch, self.seq_len, *output.shape[2:])


class BlockPadding:
    """Flex layout: queries, keys and values padded to whole 128-token blocks (the padding attends only to
    itself), so that a process compiles one kernel per block count and every tile is whole (a partial tile trips a
    torch CPU kernel bug: docs/design_notes.md)."""

    def __init__(self, seq_len: int):
        self.seq_len, self.pad = seq_len, -seq_len % FLEX_BLOCK

    def split(self, query, key, value):
        return tuple(F.pad(x, (0, 0, 0, self.pad)) for x in (query, key, value))

    def merge(self, output: torch.Tensor) -> torch.Tensor:
        return output[:, : self.seq_len]


def flex_block_mask(segments, batch: int, seq_len: int, half: int | None, device):
    """A flex-attention BlockMask for full (half=None) or sliding (|i - j| <= half) attention within `segments`
    (`segment_ids`, (batch, seq_len) on `device`; None: one whole sequence per row).

    Real tokens attend to real tokens of their own sequence; a padding token attends only to itself (so its
    output stays finite without any block of padding being computed). The block lists are derived from
    per-block summaries, never from an n x n mask: only the key blocks within reach of each query block are
    considered (2 * ceil(half / 128) + 1 of them in sliding layers), so the work is O(n x window).
    As torch's BlockMask requires, the index tables have one column per key block (unused ones are 0).
    Blocks whose every pair is allowed are listed as full (no mask_mod call); the others as partial.
    """
    from torch.nn.attention.flex_attention import BlockMask

    num_blocks = math.ceil(seq_len / FLEX_BLOCK)
    reach = num_blocks - 1 if half is None else min(math.ceil(half / FLEX_BLOCK), num_blocks - 1)
    offsets = torch.arange(-reach, reach + 1, device=device)
    query_blocks = torch.arange(num_blocks, device=device)
    key_blocks = query_blocks[:, None] + offsets  # (nb, C) candidate key blocks of each query block
    allowed = (key_blocks >= 0) & (key_blocks < num_blocks)
    key_blocks = key_blocks.clamp(0, num_blocks - 1)
    inside = query_blocks < seq_len // FLEX_BLOCK  # blocks that lie wholly inside the sequence
    full = allowed & inside[:, None] & inside[key_blocks]
    if half is not None:
        full = full & (offsets.abs() * FLEX_BLOCK + FLEX_BLOCK - 1 <= half)
    allowed, full = allowed[None], full[None]

    # Padded to whole blocks, so that mask_mod reads stay in bounds on every kernel.
    padded = F.pad(
        torch.zeros(batch, seq_len, dtype=torch.long, device=device) if segments is None else segments,
        (0, num_blocks * FLEX_BLOCK - seq_len),
        value=PADDING_SEGMENT,
    )
    limit = torch.tensor(seq_len if half is None else half, device=device)

    def mask_mod(b, h, q_idx, kv_idx):
        query_segment = padded[b, q_idx]
        same_sequence = (query_segment == padded[b, kv_idx]) & ((query_segment >= 0) | (q_idx == kv_idx))
        return same_sequence & ((q_idx - kv_idx).abs() <= limit)

    if segments is not None:
        # Segment ids never decrease along a row's real tokens, so two blocks share a sequence
        # exactly when their ranges of segment ids overlap.
        blocks = padded.view(batch, num_blocks, FLEX_BLOCK)
        real = blocks >= 0
        low = blocks.masked_fill(~real, torch.iinfo(blocks.dtype).max).amin(-1)
        high = blocks.amax(-1)
        overlap = (low[:, key_blocks] <= high[:, :, None]) & (low[:, :, None] <= high[:, key_blocks])
        allowed = allowed & (overlap | (offsets == 0))  # the diagonal block holds each padding token's self
        pure = real.all(-1) & (low == high)  # one sequence, no padding
        full = full & pure[:, :, None] & pure[:, key_blocks] & (low[:, :, None] == low[:, key_blocks])

    def ordered(selected):
        """(B', nb, C) selection -> counts (B', 1, nb) and indices (B', 1, nb, nb), ascending, zero-filled."""
        counts = selected.sum(-1)
        order = torch.argsort((~selected).to(torch.int8), dim=-1, stable=True)
        indices = torch.gather(key_blocks.expand_as(selected), -1, order)[..., :num_blocks]
        indices = F.pad(indices, (0, num_blocks - indices.shape[-1]))
        indices = indices.masked_fill(torch.arange(num_blocks, device=device) >= counts[..., None], 0)
        return counts.to(torch.int32)[:, None], indices.to(torch.int32)[:, None]

    return BlockMask.from_kv_blocks(
        *ordered(allowed & ~full),
        *ordered(full),
        BLOCK_SIZE=FLEX_BLOCK,
        mask_mod=mask_mod,
        seq_lengths=(seq_len, seq_len),
    )


# --------------------------------------------------------------------------------------------------
# The plan: one builder per backend
# --------------------------------------------------------------------------------------------------


class LayerAttention(NamedTuple):
    """How the layers of one type attend in one forward pass: the attention function, the layout that reshapes
    queries, keys and values around it (None: as they are), and the function's extra arguments (its mask, window,
    sequence lengths)."""

    function: Callable
    layout: LocalBlocks | VarlenTokens | BlockPadding | None
    arguments: dict

    def __call__(self, module, query, key, value, scaling: float, dropout: float = 0.0, **kwargs):
        """Queries, keys and values (B, H, n, D) -> the output (B, n, H, D) and the attention weights (B, H, n, n)
        where the function forms them (eager), else None."""
        if self.layout is not None:
            query, key, value = self.layout.split(query, key, value)
        arguments, sink = self.arguments, getattr(module, "sink", None)
        if sink is not None:
            query, key, value, arguments = with_sink(sink, query, key, value, scaling, arguments)
        output, weights = self.function(module, query, key, value, scaling=scaling, dropout=dropout,
                                        **arguments, **kwargs)
        if sink is not None:  # drop the extra dimension, and the sink from each row's weights (they sum to less than 1)
            output, weights = output[..., :-1], None if weights is None else weights[..., :-1]
        return (output if self.layout is None else self.layout.merge(output)), weights


def with_sink(sink: torch.Tensor, query, key, value, scaling: float, arguments: dict):
    """Queries, keys and values (B, H', n, D) and the function's arguments with one more key in every row: the
    sink, which each query reaches with its head's logit (`sink`, (H,)) and whose value is zero, so that weight a
    head puts there adds nothing (gpt-oss's attention sinks). The logit rides on one more query / key dimension (1
    in every query, logit / `scaling` in the sink's key, 0 in the other keys), so any dense attention function
    computes it; the values get that dimension too (0: sdpa's fused CPU kernel needs values as wide as keys), which
    the caller drops from the output. In a block-local layout H' = H * blocks, heads outermost."""
    batch, rows, _, dim = key.shape
    logits = (sink.to(key.dtype) / scaling).repeat_interleave(rows // sink.numel())
    sink_key = F.pad(logits[:, None, None], (dim, 0)).expand(batch, rows, 1, dim + 1)
    key = torch.cat([F.pad(key, (0, 1)), sink_key], dim=2)
    value = F.pad(value, (0, 1, 0, 1))
    mask = arguments["attention_mask"]
    return F.pad(query, (0, 1), value=1.0), key, value, {
        **arguments, "attention_mask": None if mask is None else F.pad(mask, (0, 1), value=True)}


class LayerTypes(NamedTuple):
    """What a backend's builder returns: the `LayerAttention` of each layer type (`config.layer_types` names)."""

    full_attention: LayerAttention
    sliding_attention: LayerAttention


class Inputs(NamedTuple):
    """What every builder reads from a forward pass's inputs: its shape and device, which sequence each token
    belongs to (`segment_ids`; None: each row one whole sequence), and whether rows hold packed sequences."""

    size: int
    seq_len: int
    device: torch.device
    segments: torch.Tensor | None
    packed: bool


def dense_layers(function: Callable, inputs: Inputs, heads: int, half: int, weights: bool) -> LayerTypes:
    """`eager`, `sdpa` and any other backend whose attention `function` takes a dense boolean mask (True =
    attend), for `heads` heads and a sliding reach of `half` tokens (sliding_window // 2). Sliding layers attend
    block-locally (`LocalBlocks`), or, with `weights` (the attention weights asked for), densely under a band mask,
    so that each layer's weights come out as (B, H, n, n)."""
    segments = inputs.segments
    if segments is None:
        dense = None
    elif inputs.packed:
        dense = segments[:, None, :, None] == segments[:, None, None, :]
    else:  # padding only: masking the padding keys is enough (what padding queries see does not matter)
        dense = segments[:, None, None, :] >= 0
    full = LayerAttention(function, None, {"attention_mask": dense})
    if inputs.seq_len - 1 <= half:  # the window covers the whole sequence
        return LayerTypes(full, full)
    if weights:
        index = torch.arange(inputs.seq_len, device=inputs.device)
        band = (index[:, None] - index[None, :]).abs() <= half
        band = band if dense is None else band & dense
        return LayerTypes(full, LayerAttention(function, None, {"attention_mask": band}))
    blocks = LocalBlocks(segments, inputs.size, heads, inputs.seq_len, half, inputs.device)
    return LayerTypes(full, LayerAttention(function, blocks, {"attention_mask": blocks.mask}))


def flex_layers(inputs: Inputs, half: int) -> LayerTypes:
    """`flex_attention`, for a sliding reach of `half` tokens: inputs padded to whole 128-token blocks
    (`BlockPadding`), a `BlockMask` per layer type (`flex_block_mask`), run by `static_flex_attention`."""
    layout = BlockPadding(inputs.seq_len)
    length, segments = inputs.seq_len + layout.pad, inputs.segments
    if layout.pad:
        whole = torch.zeros(inputs.size, inputs.seq_len, dtype=torch.long, device=inputs.device)
        segments = F.pad(whole if segments is None else segments, (0, layout.pad), value=PADDING_SEGMENT)

    def layer(window_half: int | None) -> LayerAttention:
        block_mask = flex_block_mask(segments, inputs.size, length, window_half, inputs.device)
        return LayerAttention(static_flex_attention, layout, {"attention_mask": block_mask})

    full = layer(None)
    return LayerTypes(full, full if inputs.seq_len - 1 <= half else layer(half))


def flash_layers(function: Callable, inputs: Inputs, half: int) -> LayerTypes:
    """`flash_attention_2` / `_3` / `_4` through transformers' flash interface (`function`), for a sliding reach
    of `half` tokens: sliding layers pass `sliding_window = half + 1`, which transformers turns into flash's
    window_size (half, half), i.e. |i - j| <= half; padded or packed batches go as their real tokens only
    (`VarlenTokens`)."""
    layout = None if inputs.segments is None else VarlenTokens(inputs.segments)
    varlen = {"attention_mask": None, **({} if layout is None else layout.kwargs)}
    full = LayerAttention(function, layout, {"sliding_window": None, **varlen})
    window = None if inputs.seq_len - 1 <= half else half + 1
    return LayerTypes(full, LayerAttention(function, layout, {"sliding_window": window, **varlen}))


class AttentionPlan(NamedTuple):
    """How every layer attends in one forward pass: the backend that runs, and one `LayerAttention` per layer
    (`layers[i]` for layer i), built once by `attention_plan`."""

    backend: str
    layers: tuple[LayerAttention, ...]


def attention_plan(config, attention_mask, position_ids, hidden_states: torch.Tensor,
                   output_attentions: bool = False) -> AttentionPlan:
    """The plan of one forward pass of a model with `config`, for its trunk's `hidden_states` (B, n, hidden),
    `attention_mask` (B, n; 1 = real token) and `position_ids` (B, n; restarting at 0 where a packed sequence
    starts), either may be None; from the backend's builder (`dense_layers`, `flex_layers`, `flash_layers`).

    Outside torch.compile, an all-ones `attention_mask` and `position_ids` that never restart count as absent
    (cheaper masks); while compiling, that data-dependent check would break the graph, so given inputs are always
    honoured there (same results). Only `eager` forms attention weights: with `output_attentions` on any other
    backend this call runs on eager, with a warning the first time.
    """
    batch_size, seq_len, _ = hidden_states.shape
    backend = attention_backend(config._attn_implementation, hidden_states)
    if output_attentions and backend != "eager":
        logger.warning_once(f"output_attentions: {backend} forms no attention weights, so the calls that ask for "
                            "them run on eager (the same attention, with its weights)")
        backend = "eager"
    if config.attention_sink and backend not in ("eager", "sdpa"):
        logger.warning_once(f"attention_sink: {backend} cannot add the sink's logit, so this model runs on sdpa (the "
                            "same attention)")
        backend = "sdpa"
    static = torch.compiler.is_compiling()
    padded = attention_mask is not None and (static or not bool(attention_mask.bool().all()))
    packed = position_ids is not None and (static or bool((position_ids[:, 1:] == 0).any()))
    segments = segment_ids(attention_mask if padded else None, position_ids if packed else None)
    inputs = Inputs(batch_size, seq_len, hidden_states.device, segments, packed)
    half = config.sliding_window // 2
    function = ALL_ATTENTION_FUNCTIONS.get_interface(backend, eager_attention_forward)
    if is_flash_attention_requested(requested_attention_implementation=backend):
        layer_types = flash_layers(function, inputs, half)
    elif backend == "flex_attention":
        layer_types = flex_layers(inputs, half)
    else:
        layer_types = dense_layers(function, inputs, config.num_attention_heads, half, weights=output_attentions)
    return AttentionPlan(backend, tuple(getattr(layer_types, layer_type) for layer_type in config.layer_types))
