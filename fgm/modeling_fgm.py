"""FGM: a pre-norm transformer encoder for DNA with local (sliding-window) and global attention.

RMSNorm, rotary position embeddings, SwiGLU MLP, fused QKV, no biases, tied input/output embeddings.
Sliding-window layers cost O(n * window) on every attention backend:
- `eager`, `sdpa` (and any other dense backend): block-local attention, each block of `window / 2`
  queries attends to its own and the two neighbouring key blocks, masked to the exact window;
- `flex_attention`: a block-sparse `BlockMask` built directly from the band of key blocks;
- `flash_attention_2` / `_3` / `_4`: flash-attn's own `window_size`; padded and packed batches go as the
  real tokens only, in variable-length sequences (cu_seqlens).
Packed sequences (position_ids restarting at 0) and padding never attend to each other.
With no `attn_implementation` requested, a model takes the newest flash build installed for its CUDA GPU,
else sdpa (`best_attn_implementation`); flash runs only on CUDA tensors in fp16 / bf16, sdpa elsewhere.

Ships inside every FGM checkpoint (remote code), so it imports only torch, transformers and its sibling files.
"""

import math
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn
from transformers import PreTrainedModel
from transformers.modeling_layers import GradientCheckpointingLayer
from transformers.modeling_outputs import (
    BaseModelOutput,
    MaskedLMOutput,
    SequenceClassifierOutput,
    TokenClassifierOutput,
)
from transformers.modeling_utils import ALL_ATTENTION_FUNCTIONS
from transformers.utils import logging
from transformers.utils.generic import can_return_tuple, is_flash_attention_requested

from .configuration_fgm import FGMConfig
from .kmers_fgm import kmer_base_table, nucleotide_marginals, reverse_complement_ids

logger = logging.get_logger(__name__)

PADDING_SEGMENT = -1


# --------------------------------------------------------------------------------------------------
# Attention masks: built once per forward pass, in the form the configured backend needs.
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


def activation_dtype(hidden_states: torch.Tensor) -> torch.dtype:
    """The dtype the layers compute in: autocast's where it is on, else the hidden states'."""
    device = hidden_states.device.type
    return torch.get_autocast_dtype(device) if torch.is_autocast_enabled(device) else hidden_states.dtype


def flash_can_run(hidden_states: torch.Tensor) -> bool:
    """Flash kernels take CUDA tensors in fp16 / bf16 (half-precision weights, or autocast to them)."""
    return hidden_states.device.type == "cuda" and activation_dtype(hidden_states) in (torch.float16, torch.bfloat16)


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


FLEX_BLOCK = 128


def flex_block_mask(segments, batch: int, seq_len: int, half: int | None, device):
    """A flex-attention BlockMask for full (half=None) or sliding (|i - j| <= half) attention within segments.

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


class AttentionMasks:
    """What the attention layers of one forward pass need, per layer type, built once: a layout that
    reshapes queries, keys and values around the attention call (or None), and the call's arguments.

    Outside torch.compile, an all-ones `attention_mask` and `position_ids` that never restart count as
    absent (cheaper masks); while compiling, that data-dependent check would break the graph, so given
    inputs are always honoured there (same results).
    """

    def __init__(self, config: FGMConfig, attention_mask, position_ids, hidden_states: torch.Tensor):
        batch, seq_len, _ = hidden_states.shape
        device = hidden_states.device
        self.backend = config._attn_implementation or "eager"
        if is_flash_attention_requested(requested_attention_implementation=self.backend) and not flash_can_run(
            hidden_states
        ):
            logger.warning_once(
                f"{self.backend} needs CUDA tensors in fp16 / bf16 (half-precision weights or autocast); "
                "running sdpa, which computes the same attention, instead."
            )
            self.backend = "sdpa"
        half = config.sliding_window // 2
        static = torch.compiler.is_compiling()
        padded = attention_mask is not None and (static or not bool(attention_mask.bool().all()))
        packed = position_ids is not None and (static or bool((position_ids[:, 1:] == 0).any()))
        segments = segment_ids(attention_mask if padded else None, position_ids if packed else None)
        # A window that covers the whole sequence is full attention: take the cheaper path.
        sliding_is_full = seq_len - 1 <= half
        if is_flash_attention_requested(requested_attention_implementation=self.backend):
            # transformers' flash API: window_size = (sliding_window - 1, sliding_window - 1), i.e. |i - j| <= half.
            layout = None if segments is None else VarlenTokens(segments)
            varlen = {"attention_mask": None, **({} if layout is None else layout.kwargs)}
            full = (layout, {"sliding_window": None, **varlen})
            sliding = (layout, {"sliding_window": None if sliding_is_full else half + 1, **varlen})
        elif self.backend == "flex_attention":
            full = (None, {"attention_mask": flex_block_mask(segments, batch, seq_len, None, device)})
            sliding = full if sliding_is_full else (
                None, {"attention_mask": flex_block_mask(segments, batch, seq_len, half, device)}
            )
        else:
            if segments is None:
                dense = None
            elif packed:
                dense = segments[:, None, :, None] == segments[:, None, None, :]
            else:  # padding only: masking the padding keys is enough (what padding queries see does not matter)
                dense = segments[:, None, None, :] >= 0
            full = (None, {"attention_mask": dense})
            if sliding_is_full:
                sliding = full
            else:
                blocks = LocalBlocks(segments, batch, config.num_attention_heads, seq_len, half, device)
                sliding = (blocks, {"attention_mask": blocks.mask})
        self.for_type = {"full_attention": full, "sliding_attention": sliding}


def eager_attention_forward(module, query, key, value, attention_mask, scaling, dropout=0.0, **kwargs):
    """Reference attention: explicit softmax over a boolean mask (True = attend)."""
    scores = torch.matmul(query, key.transpose(2, 3)) * scaling
    if attention_mask is not None:
        scores = scores.masked_fill(~attention_mask, torch.finfo(scores.dtype).min)
    weights = F.softmax(scores, dim=-1, dtype=torch.float32).to(query.dtype)
    weights = F.dropout(weights, p=dropout, training=module.training)
    return torch.matmul(weights, value).transpose(1, 2).contiguous(), weights


# --------------------------------------------------------------------------------------------------
# Model
# --------------------------------------------------------------------------------------------------


class FGMRMSNorm(nn.RMSNorm):
    """RMSNorm in the input's dtype: under autocast a bf16 input would otherwise meet the fp32 weight and fall
    off torch's fused kernel ("Mismatch dtype between input and weight")."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.rms_norm(x, self.normalized_shape, self.weight.to(x.dtype), self.eps)


class FGMRotaryEmbedding(nn.Module):
    """RoPE angles from position ids; computed on the fly so no buffer depends on the maximum length."""

    def __init__(self, config: FGMConfig):
        super().__init__()
        self.head_dim = config.hidden_size // config.num_attention_heads
        self.theta = config.rope_theta

    @torch.no_grad()
    def forward(self, position_ids: torch.Tensor, dtype: torch.dtype):
        exponent = torch.arange(0, self.head_dim, 2, device=position_ids.device, dtype=torch.float32) / self.head_dim
        inv_freq = 1.0 / (self.theta**exponent)
        angles = position_ids[..., None].float() * inv_freq
        angles = torch.cat([angles, angles], dim=-1)
        return angles.cos().to(dtype), angles.sin().to(dtype)


def rotate_half(x: torch.Tensor) -> torch.Tensor:
    x1, x2 = x.chunk(2, dim=-1)
    return torch.cat([-x2, x1], dim=-1)


def apply_rotary(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """x: (B, H, n, D); cos, sin: (B, n, D)."""
    return x * cos[:, None] + rotate_half(x) * sin[:, None]


class FGMAttention(nn.Module):
    def __init__(self, config: FGMConfig, layer_idx: int):
        super().__init__()
        self.config = config
        self.layer_idx = layer_idx
        self.attention_type = config.layer_types[layer_idx]
        self.num_heads = config.num_attention_heads
        self.head_dim = config.hidden_size // config.num_attention_heads
        self.scaling = self.head_dim**-0.5
        self.is_causal = False
        self.Wqkv = nn.Linear(config.hidden_size, 3 * config.hidden_size, bias=False)
        self.Wo = nn.Linear(config.hidden_size, config.hidden_size, bias=False)

    def forward(self, hidden_states, rotary, masks: AttentionMasks, **kwargs):
        batch, seq_len, _ = hidden_states.shape
        qkv = self.Wqkv(hidden_states).view(batch, seq_len, 3, self.num_heads, self.head_dim)
        query, key, value = qkv.permute(2, 0, 3, 1, 4).unbind(0)  # each (B, H, n, D)
        cos, sin = rotary
        query, key = apply_rotary(query, cos, sin), apply_rotary(key, cos, sin)

        attention: Callable = ALL_ATTENTION_FUNCTIONS.get_interface(masks.backend, eager_attention_forward)
        layout, arguments = masks.for_type[self.attention_type]
        if layout is not None:
            query, key, value = layout.split(query, key, value)
        dropout = self.config.attention_dropout if self.training else 0.0
        output, _ = attention(self, query, key, value, scaling=self.scaling, dropout=dropout, **arguments, **kwargs)
        if layout is not None:
            output = layout.merge(output)
        return self.Wo(output.reshape(batch, seq_len, -1))


class FGMMLP(nn.Module):
    """SwiGLU: silu(x W_gate) * (x W_up), projected back."""

    def __init__(self, config: FGMConfig):
        super().__init__()
        self.Wi = nn.Linear(config.hidden_size, 2 * config.intermediate_size, bias=False)
        self.Wo = nn.Linear(config.intermediate_size, config.hidden_size, bias=False)

    def forward(self, x):
        gate, up = self.Wi(x).chunk(2, dim=-1)
        return self.Wo(F.silu(gate) * up)


class FGMEncoderLayer(GradientCheckpointingLayer):
    def __init__(self, config: FGMConfig, layer_idx: int):
        super().__init__()
        self.attn_norm = FGMRMSNorm(config.hidden_size, eps=config.rms_norm_eps)
        self.attn = FGMAttention(config, layer_idx)
        self.mlp_norm = FGMRMSNorm(config.hidden_size, eps=config.rms_norm_eps)
        self.mlp = FGMMLP(config)
        self.dropout = nn.Dropout(config.hidden_dropout)

    def forward(self, hidden_states, rotary=None, masks=None, **kwargs):
        hidden_states = hidden_states + self.dropout(self.attn(self.attn_norm(hidden_states), rotary, masks, **kwargs))
        return hidden_states + self.dropout(self.mlp(self.mlp_norm(hidden_states)))


# Flash builds, newest first, with the oldest GPU generation (CUDA major version) each runs on.
FLASH_BUILDS = (
    ("flash_attention_4", "is_flash_attn_4_available", 9),
    ("flash_attention_3", "is_flash_attn_3_available", 8),
    ("flash_attention_2", "is_flash_attn_2_available", 8),
)


def best_attn_implementation() -> str:
    """The fastest attention backend installed here: on a CUDA GPU the newest flash-attn build it runs
    (flash_attention_4, then 3, then 2); otherwise sdpa."""
    if not torch.cuda.is_available():
        return "sdpa"
    import transformers.utils

    major = torch.cuda.get_device_capability()[0]
    for name, available, min_major in FLASH_BUILDS:
        if major >= min_major and getattr(transformers.utils, available, lambda: False)():
            return name
    return "sdpa"


class FGMPreTrainedModel(PreTrainedModel):
    config_class = FGMConfig
    config: FGMConfig
    base_model_prefix = "model"
    supports_gradient_checkpointing = True
    _no_split_modules = ["FGMEncoderLayer"]
    _supports_sdpa = True
    _supports_flex_attn = True
    _supports_flash_attn = True
    _supports_attention_backend = True

    @torch.no_grad()
    def _init_weights(self, module):
        """Normal(0, initializer_range); residual output projections scaled down by sqrt(2 * layers)."""
        super()._init_weights(module)
        if isinstance(module, (FGMAttention, FGMMLP)):
            std = self.config.initializer_range / math.sqrt(2.0 * self.config.num_hidden_layers)
            nn.init.normal_(module.Wo.weight, mean=0.0, std=std)

    def get_correct_attn_implementation(self, requested_attention: str | None, is_init_check: bool = False) -> str:
        """With no `attn_implementation` requested, take `best_attn_implementation()` instead of transformers' sdpa.
        Flash kernels need CUDA tensors in fp16 / bf16: elsewhere the model runs sdpa (see `flash_can_run`)."""
        return super().get_correct_attn_implementation(requested_attention or best_attn_implementation(), is_init_check)


class FGMModel(FGMPreTrainedModel):
    # the encoder of any FGM checkpoint: the heads of the task classes are left out without a warning
    _keys_to_ignore_on_load_unexpected = [r"^head\.", r"^decoder\.", r"^classifier\."]

    def __init__(self, config: FGMConfig):
        super().__init__(config)
        self.embeddings = nn.Embedding(config.vocab_size, config.hidden_size)
        self.dropout = nn.Dropout(config.hidden_dropout)
        self.layers = nn.ModuleList(FGMEncoderLayer(config, i) for i in range(config.num_hidden_layers))
        self.final_norm = FGMRMSNorm(config.hidden_size, eps=config.rms_norm_eps)
        self.rotary = FGMRotaryEmbedding(config)
        self.gradient_checkpointing = False
        self.post_init()

    def get_input_embeddings(self):
        return self.embeddings

    def set_input_embeddings(self, value):
        self.embeddings = value

    @can_return_tuple
    def forward(
        self,
        input_ids: torch.LongTensor | None = None,
        attention_mask: torch.Tensor | None = None,
        position_ids: torch.LongTensor | None = None,
        inputs_embeds: torch.Tensor | None = None,
        output_hidden_states: bool | None = None,
        **kwargs,
    ) -> BaseModelOutput:
        """`position_ids` that restart at 0 inside a row mark packed sequences, which never see each other.

        Without them, positions count real tokens only, so left or right padding changes nothing.
        """
        if (input_ids is None) == (inputs_embeds is None):
            raise ValueError("pass exactly one of input_ids or inputs_embeds")
        hidden_states = self.embeddings(input_ids) if inputs_embeds is None else inputs_embeds
        batch, seq_len, _ = hidden_states.shape
        if attention_mask is not None and attention_mask.shape != (batch, seq_len):
            raise ValueError(f"attention_mask has shape {tuple(attention_mask.shape)}, expected {(batch, seq_len)}")
        masks = AttentionMasks(self.config, attention_mask, position_ids, hidden_states)
        if position_ids is None:
            if attention_mask is None:
                position_ids = torch.arange(seq_len, device=hidden_states.device).expand(batch, -1)
            else:
                position_ids = (attention_mask.long().cumsum(-1) - 1).clamp(min=0)
        rotary = self.rotary(position_ids, activation_dtype(hidden_states))

        hidden_states = self.dropout(hidden_states)
        if output_hidden_states is None:
            output_hidden_states = self.config.output_hidden_states
        all_hidden_states = [] if output_hidden_states else None
        for layer in self.layers:
            if all_hidden_states is not None:
                all_hidden_states.append(hidden_states)
            hidden_states = layer(hidden_states, rotary=rotary, masks=masks, **kwargs)
        hidden_states = self.final_norm(hidden_states)
        if all_hidden_states is not None:
            all_hidden_states.append(hidden_states)
            all_hidden_states = tuple(all_hidden_states)
        return BaseModelOutput(last_hidden_state=hidden_states, hidden_states=all_hidden_states)


class FGMPredictionHead(nn.Module):
    """Dense + GELU + RMSNorm before the tied decoder (the BERT / ESM MLM head)."""

    def __init__(self, config: FGMConfig):
        super().__init__()
        self.dense = nn.Linear(config.hidden_size, config.hidden_size, bias=False)
        self.norm = FGMRMSNorm(config.hidden_size, eps=config.rms_norm_eps)

    def forward(self, x):
        return self.norm(F.gelu(self.dense(x)))


class FGMForMaskedLM(FGMPreTrainedModel):
    _tied_weights_keys = {"decoder.weight": "model.embeddings.weight"}

    def __init__(self, config: FGMConfig):
        super().__init__(config)
        self.model = FGMModel(config)
        self.head = FGMPredictionHead(config)
        self.decoder = nn.Linear(config.hidden_size, config.vocab_size, bias=False)
        if config.tie_word_embeddings:  # never written, so Trainer's resume ties it again instead of warning it is missing
            self._keys_to_ignore_on_save = {"decoder.weight"}
        self.post_init()

    def get_output_embeddings(self):
        return self.decoder

    def set_output_embeddings(self, new_embeddings):
        self.decoder = new_embeddings

    @can_return_tuple
    def forward(
        self,
        input_ids=None,
        attention_mask=None,
        position_ids=None,
        inputs_embeds=None,
        labels=None,
        output_hidden_states=None,
        **kwargs,
    ) -> MaskedLMOutput:
        """Labels are -100 where no prediction is scored. With `config.sparse_prediction` and labels, logits
        are computed only at the labelled positions (shape: labelled tokens x vocab)."""
        outputs = self.model(
            input_ids,
            attention_mask,
            position_ids,
            inputs_embeds,
            output_hidden_states=output_hidden_states,
            return_dict=True,
            **kwargs,
        )
        hidden_states = outputs.last_hidden_state
        if labels is not None and self.config.sparse_prediction:
            predict = labels != -100
            hidden_states, labels = hidden_states[predict], labels[predict]
        logits = self.decoder(self.head(hidden_states))
        loss = None
        if labels is not None:
            loss = F.cross_entropy(logits.flatten(0, -2).float(), labels.flatten(), ignore_index=-100)
        return MaskedLMOutput(loss=loss, logits=logits, hidden_states=outputs.hidden_states)

    @torch.no_grad()
    def nucleotide_probabilities(self, input_ids, attention_mask=None, position_ids=None):
        """Per-nucleotide probabilities from the k-mer softmax, marginalized per offset in the token.

        Returns `probs` (B, T, k, 4) over "ACGT" and `valid` (B, T, k): offset p of token t is a real
        nucleotide of the input (a <mask> counts as a full k-mer). probs[..., p, :] is the total
        probability of tokens carrying each base at offset p, renormalized over tokens that reach p.
        """
        hidden = self.model(input_ids, attention_mask, position_ids, return_dict=True).last_hidden_state
        bases, lengths = kmer_base_table(self.config.kmer_size)
        probs = nucleotide_marginals(self.decoder(self.head(hidden)), bases)
        lengths = lengths.to(input_ids.device)
        token_lengths = lengths[input_ids].masked_fill(input_ids == self.config.mask_token_id, self.config.kmer_size)
        valid = torch.arange(self.config.kmer_size, device=input_ids.device) < token_lengths[..., None]
        if attention_mask is not None:
            valid = valid & attention_mask.bool()[..., None]
        return probs, valid


def reverse_complement_batch(input_ids, attention_mask, config: FGMConfig):
    """Token ids of each row's reverse complement, re-tokenized with the same k-mer rules.

    Special tokens in front (<cls>) stay in front; padding stays at the end.
    """
    _, lengths = kmer_base_table(config.kmer_size)
    lengths = lengths.to(input_ids.device)
    rows = []
    for row, mask in zip(input_ids, attention_mask.bool() if attention_mask is not None else [None] * len(input_ids)):
        row = row if mask is None else row[mask]
        nucleotide = lengths[row] > 0
        prefix = row[: int(nucleotide.long().argmax())] if bool(nucleotide.any()) else row
        rows.append(torch.cat([prefix, reverse_complement_ids(row[nucleotide], config.kmer_size)]))
    width = max(len(r) for r in rows)
    ids = torch.full((len(rows), width), config.pad_token_id, dtype=input_ids.dtype, device=input_ids.device)
    mask = torch.zeros_like(ids)
    for i, r in enumerate(rows):
        ids[i, : len(r)], mask[i, : len(r)] = r, 1
    return ids, mask


class FGMForSequenceClassification(FGMPreTrainedModel):
    """Mean or <cls> pooling, then a linear classifier; `config.rc_average` averages the logits of a
    sequence and its reverse complement at inference (not while training)."""

    def __init__(self, config: FGMConfig):
        super().__init__(config)
        self.num_labels = config.num_labels
        self.model = FGMModel(config)
        self.dropout = nn.Dropout(config.classifier_dropout)
        self.classifier = nn.Linear(config.hidden_size, config.num_labels, bias=True)
        self.post_init()

    def pooled_logits(self, input_ids, attention_mask, position_ids, inputs_embeds, **kwargs):
        """Logits of the pooled sequence, and the encoder's outputs."""
        outputs = self.model(input_ids, attention_mask, position_ids, inputs_embeds, return_dict=True, **kwargs)
        hidden = outputs.last_hidden_state
        if self.config.classifier_pooling == "cls":
            pooled = hidden[:, 0]
        else:
            weights = (
                torch.ones(hidden.shape[:2], device=hidden.device, dtype=hidden.dtype)
                if attention_mask is None
                else attention_mask.to(hidden.dtype)
            )
            pooled = (hidden * weights[..., None]).sum(1) / weights.sum(1, keepdim=True).clamp(min=1)
        return self.classifier(self.dropout(pooled)), outputs

    @can_return_tuple
    def forward(
        self,
        input_ids=None,
        attention_mask=None,
        position_ids=None,
        inputs_embeds=None,
        labels=None,
        output_hidden_states=None,
        **kwargs,
    ) -> SequenceClassifierOutput:
        """With `config.rc_average` at inference, the logits are averaged with the reverse complement's;
        the hidden states are the given strand's."""
        logits, outputs = self.pooled_logits(
            input_ids, attention_mask, position_ids, inputs_embeds, output_hidden_states=output_hidden_states, **kwargs
        )
        if self.config.rc_average and not self.training:
            if input_ids is None:
                raise ValueError("rc_average needs input_ids (it re-tokenizes the reverse complement)")
            rc_ids, rc_mask = reverse_complement_batch(input_ids, attention_mask, self.config)
            logits = (logits + self.pooled_logits(rc_ids, rc_mask, None, None, **kwargs)[0]) / 2
        loss = None
        if labels is not None:
            if self.num_labels == 1:
                loss = F.mse_loss(logits.squeeze(-1).float(), labels.float())
            else:
                loss = F.cross_entropy(logits.float(), labels.view(-1))
        return SequenceClassifierOutput(loss=loss, logits=logits, hidden_states=outputs.hidden_states)


class FGMForTokenClassification(FGMPreTrainedModel):
    def __init__(self, config: FGMConfig):
        super().__init__(config)
        self.num_labels = config.num_labels
        self.model = FGMModel(config)
        self.dropout = nn.Dropout(config.classifier_dropout)
        self.classifier = nn.Linear(config.hidden_size, config.num_labels, bias=True)
        self.post_init()

    @can_return_tuple
    def forward(
        self,
        input_ids=None,
        attention_mask=None,
        position_ids=None,
        inputs_embeds=None,
        labels=None,
        output_hidden_states=None,
        **kwargs,
    ) -> TokenClassifierOutput:
        outputs = self.model(
            input_ids,
            attention_mask,
            position_ids,
            inputs_embeds,
            output_hidden_states=output_hidden_states,
            return_dict=True,
            **kwargs,
        )
        logits = self.classifier(self.dropout(outputs.last_hidden_state))
        loss = None
        if labels is not None:
            loss = F.cross_entropy(logits.flatten(0, 1).float(), labels.flatten(), ignore_index=-100)
        return TokenClassifierOutput(loss=loss, logits=logits, hidden_states=outputs.hidden_states)


FGMModel.register_for_auto_class("AutoModel")
FGMForMaskedLM.register_for_auto_class("AutoModelForMaskedLM")
FGMForSequenceClassification.register_for_auto_class("AutoModelForSequenceClassification")
FGMForTokenClassification.register_for_auto_class("AutoModelForTokenClassification")

__all__ = [
    "FGMPreTrainedModel",
    "FGMModel",
    "FGMForMaskedLM",
    "FGMForSequenceClassification",
    "FGMForTokenClassification",
]
