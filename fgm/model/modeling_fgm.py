"""FGM: a pre-norm transformer encoder for DNA with local (sliding-window) and global attention, optionally the
trunk of a single-base convolutional U-Net.

Flat models read k-mer tokens: RMSNorm, rotary position embeddings, SwiGLU MLP, fused QKV, no biases, tied
input/output embeddings. Hierarchical models (`config.unet_stages` > 0, as NTv3 and AlphaGenome) read single
bases: a stem convolution and down stages (convolution, average-pooling by 2) bring the sequence to one trunk token
per 2**unet_stages bases, the same transformer layers run there, and up stages (repeat by 2, convolution, the
skip added back) return to one vector per base; 1 Mb costs 8,192 trunk tokens at 7 stages.
How attention runs (each backend's plan of how every layer attends) is `attention_fgm.py`.

Ships inside every FGM checkpoint (remote code), so it imports only torch, transformers and its sibling files.
"""

import math
from typing import NamedTuple

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
from transformers.utils.generic import can_return_tuple

from .attention_fgm import AttentionPlan, activation_dtype, attention_backend, attention_plan
from .configuration_fgm import FGMConfig
from .kmers_fgm import kmer_base_table, nucleotide_marginals, reverse_complement_rows


class FGMRMSNorm(nn.RMSNorm):
    """RMSNorm in the input's dtype: under autocast a bf16 input would otherwise meet the fp32 weight and fall
    off torch's fused kernel ("Mismatch dtype between input and weight")."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.rms_norm(x, self.normalized_shape, self.weight.to(x.dtype), self.eps)


class FGMOutputProjection(nn.Linear):
    """A projection back into the residual stream (attention's and the MLP's `Wo`): initialised smaller than the
    other linears, std initializer_range / sqrt(2 * layers) as in GPT-2, so the residual sum keeps its scale with
    depth (see `FGMPreTrainedModel._init_weights`)."""


class FGMMLP(nn.Module):
    """SwiGLU: silu(x W_gate) * (x W_up), projected back."""

    def __init__(self, config: FGMConfig):
        super().__init__()
        self.Wi = nn.Linear(config.hidden_size, 2 * config.intermediate_size, bias=False)
        self.Wo = FGMOutputProjection(config.intermediate_size, config.hidden_size, bias=False)

    def forward(self, x):
        gate, up = self.Wi(x).chunk(2, dim=-1)
        return self.Wo(F.silu(gate) * up)


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
        self.num_heads = config.num_attention_heads
        self.head_dim = config.hidden_size // config.num_attention_heads
        self.scaling = self.head_dim**-0.5
        self.is_causal = False
        self.Wqkv = nn.Linear(config.hidden_size, 3 * config.hidden_size, bias=False)
        self.Wo = FGMOutputProjection(config.hidden_size, config.hidden_size, bias=False)
        self.sink = nn.Parameter(torch.zeros(self.num_heads)) if config.attention_sink else None

    def forward(self, hidden_states, rotary, plan: AttentionPlan, **kwargs):
        """The attention output (B, n, hidden) and, on eager, the attention weights (B, H, n, n)."""
        batch, seq_len, _ = hidden_states.shape
        qkv = self.Wqkv(hidden_states).view(batch, seq_len, 3, self.num_heads, self.head_dim)
        query, key, value = qkv.permute(2, 0, 3, 1, 4).unbind(0)  # each (B, H, n, D)
        cos, sin = rotary
        query, key = apply_rotary(query, cos, sin), apply_rotary(key, cos, sin)
        dropout = self.config.attention_dropout if self.training else 0.0
        output, weights = plan.layers[self.layer_idx](self, query, key, value, self.scaling, dropout, **kwargs)
        return self.Wo(output.reshape(batch, seq_len, -1)), weights


class FGMEncoderLayer(GradientCheckpointingLayer):
    def __init__(self, config: FGMConfig, layer_idx: int):
        super().__init__()
        self.attn_norm = FGMRMSNorm(config.hidden_size, eps=config.rms_norm_eps)
        self.attn = FGMAttention(config, layer_idx)
        self.mlp_norm = FGMRMSNorm(config.hidden_size, eps=config.rms_norm_eps)
        self.mlp = FGMMLP(config)
        self.dropout = nn.Dropout(config.hidden_dropout)

    def forward(self, hidden_states, rotary=None, plan=None, **kwargs):
        attended, weights = self.attn(self.attn_norm(hidden_states), rotary, plan, **kwargs)
        hidden_states = hidden_states + self.dropout(attended)
        return hidden_states + self.dropout(self.mlp(self.mlp_norm(hidden_states))), weights


# --------------------------------------------------------------------------------------------------
# The single-base U-Net around the trunk. Activations are channels-first, (B, channels, length); every stage
# zeroes the positions past each sequence's end, so a padded batch computes exactly what each sequence alone does.
# --------------------------------------------------------------------------------------------------


class FGMChannelRMSNorm(nn.RMSNorm):
    """RMSNorm over the channels of a (B, C, L) activation, without transposing it."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * torch.rsqrt(x.pow(2).mean(1, keepdim=True) + self.eps) * self.weight.to(x.dtype)[:, None]


class SequenceEnds:
    """Where each row's real positions end at one resolution: `valid` (B, 1, L) is 1 at real positions, and every
    row is real before `shortest` (the shortest row's length; 0 while compiling), so that zeroing past the ends only
    touches the positions from there on."""

    def __init__(self, valid: torch.Tensor, shortest: int):
        self.valid, self.shortest = valid, shortest

    def zero(self, x: torch.Tensor) -> torch.Tensor:
        """`x` with the positions past each row's end set to 0, in place."""
        if self.shortest < x.shape[-1]:
            x[..., self.shortest :] *= self.valid[..., self.shortest :]
        return x

    def pool(self, x: torch.Tensor) -> torch.Tensor:
        """Average-pooling by 2 over real positions only (a pooled position is real when either of its two is)."""
        batch, width, length = x.shape
        pooled, whole = x.view(batch, width, length // 2, 2).sum(-1), self.shortest // 2
        pooled[..., :whole] *= 0.5
        pooled[..., whole:] /= self.valid[..., 2 * whole :].view(batch, 1, -1, 2).sum(-1).clamp(min=1)
        return pooled

    def halve(self) -> "SequenceEnds":
        batch = self.valid.shape[0]
        return SequenceEnds(self.valid.view(batch, 1, -1, 2).amax(-1), (self.shortest + 1) // 2)


class FGMConvBlock(nn.Module):
    """Norm, convolution (same length), GELU: NTv3's convolution block."""

    def __init__(self, config: FGMConfig, width_in: int, width_out: int, kernel: int):
        super().__init__()
        self.norm = FGMChannelRMSNorm(width_in, eps=config.rms_norm_eps)
        self.conv = nn.Conv1d(width_in, width_out, kernel, padding=kernel // 2)

    def forward(self, x):
        return F.gelu(self.conv(self.norm(x)))


class FGMStem(GradientCheckpointingLayer):
    """Embedded bases -> `unet_stem_width` channels: one wide convolution (`unet_stem_kernel` bases), GELU."""

    def __init__(self, config: FGMConfig):
        super().__init__()
        self.conv = nn.Conv1d(config.unet_embedding_size, config.unet_stem_width, config.unet_stem_kernel,
                              padding=config.unet_stem_kernel // 2)

    def forward(self, x, ends: SequenceEnds):
        return ends.zero(F.gelu(self.conv(x * ends.valid)))


class FGMDownStage(GradientCheckpointingLayer):
    """Convolution to the next width, a pointwise residual block, then average-pooling by 2."""

    def __init__(self, config: FGMConfig, width_in: int, width_out: int):
        super().__init__()
        self.conv = FGMConvBlock(config, width_in, width_out, config.unet_kernel)
        self.pointwise = FGMConvBlock(config, width_out, width_out, 1)

    def forward(self, x, ends: SequenceEnds):
        x = ends.zero(self.conv(x))
        return ends.pool(ends.zero(x + self.pointwise(x)))


class FGMUpStage(GradientCheckpointingLayer):
    """Repeat by 2, convolution back to the finer width, a pointwise residual block, and the skip (the matching
    down stage's input) added."""

    def __init__(self, config: FGMConfig, width_in: int, width_out: int):
        super().__init__()
        self.conv = FGMConvBlock(config, width_in, width_out, config.unet_kernel)
        self.pointwise = FGMConvBlock(config, width_out, width_out, 1)

    def forward(self, x, skip, ends: SequenceEnds):
        x = ends.zero(self.conv(x.repeat_interleave(2, dim=-1)))
        return ends.zero(x + self.pointwise(x)) + skip


class FGMTokenConvolution(nn.Conv1d):
    """A flat model's `token_conv_kernel`-token convolution over the embeddings, added to them, so that each token's
    input also holds its neighbours. Positions past a row's end (padding) are read as zeros, so a padded row gives
    what the row alone gives."""

    def __init__(self, config: FGMConfig):
        kernel = config.token_conv_kernel
        super().__init__(config.hidden_size, config.hidden_size, kernel, padding=kernel // 2)

    def forward(self, x: torch.Tensor, attention_mask: torch.Tensor | None) -> torch.Tensor:
        if attention_mask is not None:
            x = x * attention_mask[..., None].to(x.dtype)
        return x + super().forward(x.transpose(1, 2)).transpose(1, 2)


class UNetSkips(NamedTuple):
    """What the down path hands the up path: each down stage's input (the skips) and where the rows end at its
    resolution, finest first, and the input length to cut the output back to."""

    skips: list[torch.Tensor]
    ends: list[SequenceEnds]
    length: int


class FGMUNet(nn.Module):
    """The convolutional towers: `down` from bases to trunk tokens, `up` from trunk tokens back to bases."""

    def __init__(self, config: FGMConfig):
        super().__init__()
        widths = config.unet_widths
        self.block = config.unet_block
        self.stem = FGMStem(config)
        self.down = nn.ModuleList(FGMDownStage(config, a, b) for a, b in zip(widths[:-1], widths[1:]))
        self.up = nn.ModuleList(FGMUpStage(config, b, a) for a, b in reversed(list(zip(widths[:-1], widths[1:]))))
        self.output_norm = FGMChannelRMSNorm(widths[0], eps=config.rms_norm_eps)

    def down_path(self, embedded: torch.Tensor, attention_mask: torch.Tensor | None):
        """(B, L, E) embedded bases -> trunk input (B, L / block, hidden), its real positions (B, L / block), and
        the `UNetSkips` for the up path. L is padded up to a multiple of the block."""
        batch, length, _ = embedded.shape
        pad = -length % self.block
        if attention_mask is None:
            valid, shortest = torch.ones(batch, length, device=embedded.device), length
        else:
            valid = attention_mask
            shortest = 0 if torch.compiler.is_compiling() else int(attention_mask.sum(-1).min())
        valid = F.pad(valid.to(activation_dtype(embedded)), (0, pad))[:, None]  # (B, 1, L'), in the layers' dtype
        ends = SequenceEnds(valid, shortest)
        x = self.stem(F.pad(embedded, (0, 0, 0, pad)).transpose(1, 2), ends)
        skips, all_ends = [], []
        for stage in self.down:
            skips.append(x)
            all_ends.append(ends)
            x = stage(x, ends)
            ends = ends.halve()
        return x.transpose(1, 2), ends.valid[:, 0], UNetSkips(skips, all_ends, length)

    def up_path(self, trunk: torch.Tensor, trunk_valid: torch.Tensor, skips: UNetSkips) -> torch.Tensor:
        """Trunk output (B, n, hidden) -> per-base states (B, L, stem width), cut back to the input length."""
        x = trunk.transpose(1, 2) * trunk_valid[:, None]
        for stage, skip, ends in zip(self.up, reversed(skips.skips), reversed(skips.ends)):
            x = stage(x, skip, ends)
        return self.output_norm(x).transpose(1, 2)[:, : skips.length]


def refuse_packed_rows(position_ids, model: str):
    """Refuse rows that pack several sequences (`position_ids` restarting at 0 inside a row), which a model's
    convolutions would mix. Skipped while compiling (the check reads the data)."""
    if position_ids is not None and not torch.compiler.is_compiling() and bool((position_ids[:, 1:] == 0).any()):
        raise ValueError(f"{model} cannot take packed sequences (position_ids restarting at 0 inside a row): its "
                         "convolutions would mix neighbouring sequences; pad them into separate rows instead")


def check_unet_inputs(config: FGMConfig, attention_mask, position_ids, batch: int, seq_len: int):
    """Refuse, by name, what a U-Net cannot compute exactly: packed rows (convolutions would mix them), left
    padding, rows shorter than one trunk token. Any tokens are read, a row of only N (a window over an assembly gap)
    like any other. Skipped while compiling (the checks read the data)."""
    if torch.compiler.is_compiling():
        return
    block, stages = config.unet_block, config.unet_stages
    refuse_packed_rows(position_ids, "a U-Net model")
    lengths = torch.full((batch,), seq_len) if attention_mask is None else attention_mask.long().sum(1).cpu()
    if attention_mask is not None and not torch.equal(
        attention_mask.bool().cpu(), torch.arange(seq_len) < lengths[:, None]
    ):
        raise ValueError("a U-Net model needs right padding (attention_mask all 1s, then 0s): pooling blocks start at "
                         "each sequence's first base")
    short = torch.nonzero(lengths < block).flatten()
    if len(short):
        row = int(short[0])
        raise ValueError(f"row {row} has {int(lengths[row])} tokens, fewer than one trunk token of this U-Net "
                         f"({block} bases = 2**{stages}, unet_stages={stages}): give at least {block} bases, or "
                         "use a model with fewer stages")


# --------------------------------------------------------------------------------------------------
# Models
# --------------------------------------------------------------------------------------------------


class FGMPreTrainedModel(PreTrainedModel):
    config_class = FGMConfig
    config: FGMConfig
    base_model_prefix = "model"
    supports_gradient_checkpointing = True
    _no_split_modules = ["FGMEncoderLayer", "FGMDownStage", "FGMUpStage"]
    _supports_sdpa = True
    _supports_flex_attn = True
    _supports_flash_attn = True
    _supports_attention_backend = True
    _input_embed_layer = "embeddings"  # where transformers' get / set_input_embeddings find them

    @torch.no_grad()
    def _init_weights(self, module):
        """Normal(0, initializer_range); residual output projections scaled down by sqrt(2 * layers);
        convolutions normal(0, 1 / sqrt(fan-in)), as NTv3 (their inputs are normalized, not small); sinks 0."""
        super()._init_weights(module)
        if isinstance(module, FGMOutputProjection):  # a module of its own: transformers skips modules without weights
            std = self.config.initializer_range / math.sqrt(2.0 * self.config.num_hidden_layers)
            nn.init.normal_(module.weight, mean=0.0, std=std)
        elif isinstance(module, FGMAttention) and module.sink is not None:  # logit 0: a sink as strong as one key
            nn.init.zeros_(module.sink)
        elif isinstance(module, nn.Conv1d):
            nn.init.normal_(module.weight, mean=0.0, std=(module.in_channels * module.kernel_size[0]) ** -0.5)

    @classmethod
    def _can_set_attn_implementation(cls) -> bool:
        """`set_attn_implementation` works: the layers read the backend at every forward pass (`attention_plan`).
        transformers guesses this from the source of the modeling file, where FGM's attention calls are not."""
        return True

    def get_correct_attn_implementation(self, requested_attention: str | None, is_init_check: bool = False) -> str:
        """With no `attn_implementation` requested, the newest flash build the machine runs, else sdpa
        (`attention_fgm.attention_backend`, which also picks sdpa at run time for inputs flash cannot take)."""
        return super().get_correct_attn_implementation(attention_backend(requested_attention), is_init_check)


class FGMModel(FGMPreTrainedModel):
    """The encoder. Flat: one vector per token. U-Net: one vector per base (`config.unet_stem_width` channels), and
    with `output_hidden_states` the trunk's states (one vector per 2**unet_stages bases)."""

    # the encoder of any FGM checkpoint: the heads of the task classes are left out without a warning
    _keys_to_ignore_on_load_unexpected = [r"^head\.", r"^decoder\.", r"^classifier\."]

    def __init__(self, config: FGMConfig):
        super().__init__(config)
        self.unet = FGMUNet(config) if config.unet_stages else None
        self.token_convolution = FGMTokenConvolution(config) if config.token_conv_kernel else None
        self.embeddings = nn.Embedding(config.vocab_size,
                                       config.unet_embedding_size if config.unet_stages else config.hidden_size)
        self.dropout = nn.Dropout(config.hidden_dropout)
        self.layers = nn.ModuleList(FGMEncoderLayer(config, i) for i in range(config.num_hidden_layers))
        self.final_norm = FGMRMSNorm(config.hidden_size, eps=config.rms_norm_eps)
        self.rotary = FGMRotaryEmbedding(config)
        self.gradient_checkpointing = False
        self.post_init()

    @can_return_tuple
    def forward(
        self,
        input_ids: torch.LongTensor | None = None,
        attention_mask: torch.Tensor | None = None,
        position_ids: torch.LongTensor | None = None,
        inputs_embeds: torch.Tensor | None = None,
        output_hidden_states: bool | None = None,
        output_attentions: bool | None = None,
        **kwargs,
    ) -> BaseModelOutput:
        """`position_ids` that restart at 0 inside a row mark packed sequences, which never see each other (a U-Net
        refuses them). Without them, a flat model counts positions over real tokens only, so left or right padding
        changes nothing; a U-Net needs right padding, and any length: it pads to whole trunk tokens inside."""
        if (input_ids is None) == (inputs_embeds is None):
            raise ValueError("pass exactly one of input_ids or inputs_embeds")
        hidden_states = self.embeddings(input_ids) if inputs_embeds is None else inputs_embeds
        batch, seq_len, _ = hidden_states.shape
        if attention_mask is not None and attention_mask.shape != (batch, seq_len):
            raise ValueError(f"attention_mask has shape {tuple(attention_mask.shape)}, expected {(batch, seq_len)}")
        hidden_states = self.dropout(hidden_states)
        if self.token_convolution is not None:
            refuse_packed_rows(position_ids, "a model with token_conv_kernel")
            hidden_states = self.token_convolution(hidden_states, attention_mask)
        if self.unet is not None:
            check_unet_inputs(self.config, attention_mask, position_ids, batch, seq_len)
            hidden_states, attention_mask, skips = self.unet.down_path(hidden_states, attention_mask)
            position_ids = None
        trunk = self.trunk(hidden_states, attention_mask, position_ids,
                           self.config.output_hidden_states if output_hidden_states is None else output_hidden_states,
                           self.config.output_attentions if output_attentions is None else output_attentions, **kwargs)
        if self.unet is not None:
            trunk.last_hidden_state = self.unet.up_path(trunk.last_hidden_state, attention_mask, skips)
        return trunk

    def trunk(self, hidden_states, attention_mask, position_ids, output_hidden_states, output_attentions, **kwargs):
        """The transformer layers and the final norm, with each layer's input (and the last output) and
        attention weights recorded on request."""
        batch, seq_len, _ = hidden_states.shape
        plan = attention_plan(self.config, attention_mask, position_ids, hidden_states, output_attentions)
        if position_ids is None:
            if attention_mask is None:
                position_ids = torch.arange(seq_len, device=hidden_states.device).expand(batch, -1)
            else:
                position_ids = (attention_mask.long().cumsum(-1) - 1).clamp(min=0)
        rotary = self.rotary(position_ids, activation_dtype(hidden_states))
        all_hidden_states = [] if output_hidden_states else None
        all_attentions = [] if output_attentions else None
        for layer in self.layers:
            if all_hidden_states is not None:
                all_hidden_states.append(hidden_states)
            hidden_states, weights = layer(hidden_states, rotary=rotary, plan=plan, **kwargs)
            if all_attentions is not None:
                all_attentions.append(weights)
        hidden_states = self.final_norm(hidden_states)
        if all_hidden_states is not None:
            all_hidden_states.append(hidden_states)
        return BaseModelOutput(last_hidden_state=hidden_states,
                               hidden_states=None if all_hidden_states is None else tuple(all_hidden_states),
                               attentions=None if all_attentions is None else tuple(all_attentions))


class FGMPredictionHead(nn.Module):
    """Dense + GELU + RMSNorm before the decoder (the BERT / ESM MLM head)."""

    def __init__(self, config: FGMConfig):
        super().__init__()
        self.dense = nn.Linear(config.output_hidden_size, config.output_hidden_size, bias=False)
        self.norm = FGMRMSNorm(config.output_hidden_size, eps=config.rms_norm_eps)

    def forward(self, x):
        return self.norm(F.gelu(self.dense(x)))


class FGMForMaskedLM(FGMPreTrainedModel):
    _tied_weights_keys = {"decoder.weight": "model.embeddings.weight"}

    def __init__(self, config: FGMConfig):
        super().__init__(config)
        self.model = FGMModel(config)
        self.head = FGMPredictionHead(config)
        self.decoder = nn.Linear(config.output_hidden_size, config.vocab_size, bias=False)
        if config.tie_word_embeddings:  # not written: Trainer's resume ties it again instead of warning it is missing
            self._keys_to_ignore_on_save = {"decoder.weight"}
        self.post_init()

    def get_output_embeddings(self):
        return self.decoder

    def set_output_embeddings(self, new_embeddings):
        self.decoder = new_embeddings

    @can_return_tuple
    def forward(self, input_ids=None, attention_mask=None, position_ids=None, inputs_embeds=None, labels=None,
                **kwargs) -> MaskedLMOutput:
        """Labels are -100 where no prediction is scored. With `config.sparse_prediction` and labels, logits
        are computed only at the labelled positions (shape: labelled tokens x vocab)."""
        outputs = self.model(input_ids=input_ids, attention_mask=attention_mask, position_ids=position_ids,
                             inputs_embeds=inputs_embeds, return_dict=True, **kwargs)
        hidden_states = outputs.last_hidden_state
        if labels is not None and self.config.sparse_prediction:
            predict = labels != -100
            hidden_states, labels = hidden_states[predict], labels[predict]
        logits = self.decoder(self.head(hidden_states))
        loss = None
        if labels is not None:
            loss = F.cross_entropy(logits.flatten(0, -2).float(), labels.flatten(), ignore_index=-100)
        return MaskedLMOutput(loss=loss, logits=logits, hidden_states=outputs.hidden_states,
                              attentions=outputs.attentions)

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


def classification_loss(config: FGMConfig, logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """transformers' convention: `config.problem_type` (regression, single or multi-label classification), set
    from the labels on the first call when unset (one label: regression; integer labels: single-label)."""
    if config.problem_type is None:
        if config.num_labels == 1:
            config.problem_type = "regression"
        elif labels.dtype in (torch.long, torch.int):
            config.problem_type = "single_label_classification"
        else:
            config.problem_type = "multi_label_classification"
    if config.problem_type == "regression":
        if config.num_labels == 1:
            return F.mse_loss(logits.squeeze(-1).float(), labels.float().view(-1))
        return F.mse_loss(logits.float(), labels.float())
    if config.problem_type == "single_label_classification":
        return F.cross_entropy(logits.float().view(-1, config.num_labels), labels.view(-1))
    return F.binary_cross_entropy_with_logits(logits.float(), labels.float())


class FGMClassifier(FGMPreTrainedModel):
    """The encoder, dropout and a linear classifier over its last hidden state: what both classification heads
    have."""

    def __init__(self, config: FGMConfig):
        super().__init__(config)
        self.num_labels = config.num_labels
        self.model = FGMModel(config)
        self.dropout = nn.Dropout(config.classifier_dropout)
        self.classifier = nn.Linear(config.output_hidden_size, config.num_labels, bias=True)
        self.post_init()


class FGMForSequenceClassification(FGMClassifier):
    """Mean or <cls> pooling, then a linear classifier; `config.rc_average` averages the logits of a
    sequence and its reverse complement at inference (not while training)."""

    def pooled_logits(self, input_ids, attention_mask, position_ids, inputs_embeds, **kwargs):
        """Logits of the pooled sequence, and the encoder's outputs."""
        outputs = self.model(input_ids=input_ids, attention_mask=attention_mask, position_ids=position_ids,
                             inputs_embeds=inputs_embeds, return_dict=True, **kwargs)
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
    def forward(self, input_ids=None, attention_mask=None, position_ids=None, inputs_embeds=None, labels=None,
                **kwargs) -> SequenceClassifierOutput:
        """With `config.rc_average` at inference, the logits are averaged with the reverse complement's;
        the hidden states and attentions are the given strand's."""
        logits, outputs = self.pooled_logits(input_ids, attention_mask, position_ids, inputs_embeds, **kwargs)
        if self.config.rc_average and not self.training:
            if input_ids is None:
                raise ValueError("rc_average needs input_ids (it re-tokenizes the reverse complement)")
            rc_ids, rc_mask = reverse_complement_rows(input_ids, attention_mask, self.config.kmer_size,
                                                      self.config.pad_token_id)
            strand = {key: value for key, value in kwargs.items() if not key.startswith("output_")}
            logits = (logits + self.pooled_logits(rc_ids, rc_mask, None, None, **strand)[0]) / 2
        loss = None if labels is None else classification_loss(self.config, logits, labels)
        return SequenceClassifierOutput(loss=loss, logits=logits, hidden_states=outputs.hidden_states,
                                        attentions=outputs.attentions)


class FGMForTokenClassification(FGMClassifier):
    @can_return_tuple
    def forward(self, input_ids=None, attention_mask=None, position_ids=None, inputs_embeds=None, labels=None,
                **kwargs) -> TokenClassifierOutput:
        outputs = self.model(input_ids=input_ids, attention_mask=attention_mask, position_ids=position_ids,
                             inputs_embeds=inputs_embeds, return_dict=True, **kwargs)
        logits = self.classifier(self.dropout(outputs.last_hidden_state))
        loss = None
        if labels is not None:
            loss = F.cross_entropy(logits.flatten(0, 1).float(), labels.flatten(), ignore_index=-100)
        return TokenClassifierOutput(loss=loss, logits=logits, hidden_states=outputs.hidden_states,
                                     attentions=outputs.attentions)


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
