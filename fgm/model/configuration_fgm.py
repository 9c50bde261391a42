"""FGM configuration: model shape, attention layout, the optional single-base U-Net around the trunk, and presets.

Ships inside every FGM checkpoint (remote code), so it imports only transformers.
"""

from transformers import PretrainedConfig

LAYER_TYPES = ("full_attention", "sliding_attention")
PROBLEM_TYPES = (None, "regression", "single_label_classification", "multi_label_classification")

# name -> the fields a preset sets (the others keep FGMConfig's defaults).
# SwiGLU widths (multiples of 64) chosen so the masked-LM models have ~35M / ~110M / ~350M parameters.
PRESETS = {
    "tiny": dict(num_hidden_layers=3, hidden_size=64, num_attention_heads=4, intermediate_size=128, sliding_window=16),
    # trains in minutes on a 2-core CPU: `fgm demo` and the CPU-scale `fgm context-study`
    "demo": dict(num_hidden_layers=4, hidden_size=128, num_attention_heads=4, intermediate_size=320, sliding_window=16),
    "small": dict(num_hidden_layers=12, hidden_size=512, num_attention_heads=8, intermediate_size=1088),
    "base": dict(num_hidden_layers=12, hidden_size=768, num_attention_heads=12, intermediate_size=2816),
    "large": dict(num_hidden_layers=24, hidden_size=1024, num_attention_heads=16, intermediate_size=3328),
    # Hierarchical: single bases through a convolutional U-Net, the transformer trunk at 1 / 2**unet_stages of
    # the length (1 Mb = 8,192 trunk tokens at 7 stages). `unet-demo` trains on a 2-core CPU in minutes.
    "unet-tiny": dict(num_hidden_layers=2, hidden_size=64, num_attention_heads=4, intermediate_size=128,
                      sliding_window=16, kmer_size=1, vocab_size=11, unet_stages=3, unet_stem_width=32),
    "unet-demo": dict(num_hidden_layers=4, hidden_size=128, num_attention_heads=4, intermediate_size=320,
                      sliding_window=16, kmer_size=1, vocab_size=11, unet_stages=5, unet_stem_width=64),
    "unet-small": dict(num_hidden_layers=12, hidden_size=512, num_attention_heads=8, intermediate_size=1088,
                       kmer_size=1, vocab_size=11, unet_stages=7, unet_stem_width=128),
    "unet-base": dict(num_hidden_layers=12, hidden_size=768, num_attention_heads=12, intermediate_size=2816,
                      kmer_size=1, vocab_size=11, unet_stages=7, unet_stem_width=256),
}


# Written into every saved config, so a folder loads through each Auto class with trust_remote_code=True.
AUTO_MAP = {
    "AutoConfig": "configuration_fgm.FGMConfig",
    "AutoModel": "modeling_fgm.FGMModel",
    "AutoModelForMaskedLM": "modeling_fgm.FGMForMaskedLM",
    "AutoModelForSequenceClassification": "modeling_fgm.FGMForSequenceClassification",
    "AutoModelForTokenClassification": "modeling_fgm.FGMForTokenClassification",
}


def rope_theta_for_context(tokens: int) -> float:
    """A RoPE base large enough for `tokens` of context: the lower bound 0.0424 * tokens**1.628 that Men et al.
    (2024, "Base of RoPE Bounds Context Length") fitted on LLMs, and never below the usual 10,000. About
    32,000 for 4k tokens, 950,000 for 32k, 1.4e7 for 167k (1 Mb of 6-mers), 2.5e8 for 1M (1 Mb of single
    nucleotides)."""
    return float(max(10_000.0, round(0.0424 * tokens**1.628, -3)))


def default_layer_types(num_hidden_layers: int, global_every: int = 3) -> list[str]:
    """`layer_types` for `num_hidden_layers` layers, the ModernBERT recipe: every `global_every`-th layer full
    attention, the others sliding (two sliding, then one full, repeated)."""
    return [
        "full_attention" if (i + 1) % global_every == 0 else "sliding_attention" for i in range(num_hidden_layers)
    ]


class FGMConfig(PretrainedConfig):
    r"""Configuration of a Flash Genomics Model encoder: a flat transformer over k-mer tokens, or (`unet_stages` > 0)
    the same transformer as the trunk of a single-base convolutional U-Net.

    Each field is declared below with one line on what it sets. `FGMConfig.preset(name, **overrides)` gives the named
    sizes of `PRESETS`. The checks of `validate_shape` run on construction and name the field at fault.

    Sliding layers: a token sees the tokens at most `sliding_window // 2` positions away on either side
    (ModernBERT's `local_attention`). U-Net (as NTv3 and AlphaGenome): single bases (`kmer_size` 1) are embedded in
    `unet_embedding_size` dims, a stem convolution of `unet_stem_kernel` bases widens them to `unet_stem_width`
    channels, each down stage (a convolution of `unet_kernel` bases, then average-pooling by 2) widens them on a
    linear schedule (`unet_widths`) to `hidden_size`; the trunk runs at 1 / 2**unet_stages of the length, where
    `sliding_window` counts trunk tokens, and the up stages (repeat by 2, convolution, the down stage's input added
    back) return to one vector per base, `unet_stem_width` wide, which the heads read.
    """

    model_type = "fgm"

    # tokens
    vocab_size: int = 4107  # ids the embeddings hold: the tokenizer's vocabulary (4107: NT v2's 6-mers; 11 for k=1)
    kmer_size: int = 6  # bases per token (1..8): the vocabulary layout read by per-base probabilities and rc_average
    pad_token_id: int = 1  # <pad>, as FGMTokenizer numbers it
    mask_token_id: int = 2  # <mask>: masked-LM inputs; counts as a whole k-mer in nucleotide_probabilities
    eos_token_id: int = 4  # <eos>
    bos_token_id: int = 5  # <bos>
    # the transformer (the trunk of a U-Net)
    hidden_size: int = 512  # width of the residual stream
    num_hidden_layers: int = 12  # encoder layers
    num_attention_heads: int = 8  # heads per layer; each head hidden_size / heads wide, an even number (RoPE)
    intermediate_size: int = 1088  # SwiGLU width of each MLP
    layer_types: list[str] | None = None  # "full_attention" / "sliding_attention" per layer; None: 2 sliding, 1 full
    sliding_window: int = 128  # tokens a sliding layer spans: each token sees sliding_window // 2 on either side
    rope_theta: float = 10_000.0  # rotary base; rope_theta_for_context gives one for a longer context
    rms_norm_eps: float = 1e-5  # epsilon of every RMSNorm
    initializer_range: float = 0.02  # std of fresh linears and embeddings (residual outputs: / sqrt(2 * layers))
    attention_dropout: float = 0.0  # dropout on attention weights while training (not with flex_attention)
    hidden_dropout: float = 0.0  # dropout on embeddings and on each residual branch while training
    # a learned logit per head for attending to nothing (gpt-oss's attention sinks): a head that finds no key worth
    # reading (a copy head on a base with no copy) can put its weight there and add nothing; eager and sdpa
    attention_sink: bool = False
    # heads
    classifier_pooling: str = "mean"  # sequence classification pools by "mean" over real tokens or the "cls" token
    classifier_dropout: float = 0.0  # dropout before the classifier
    rc_average: bool = False  # sequence classification averages its logits with the reverse complement's (inference)
    sparse_prediction: bool = True  # masked LM with labels: logits only at labelled positions, (labelled tokens, vocab)
    tie_word_embeddings: bool | None = None  # decoder shares the input embeddings; None: yes for flat, no for a U-Net
    # a flat model's token convolution: every token's input also holds its neighbours, the key by which attention
    # finds a copy (without it two layers must first learn to gather them; measured to stall, README "Does long
    # context help?"); 0: none; odd, tokens spanned
    token_conv_kernel: int = 0
    # the single-base U-Net around the trunk
    unet_stages: int = 0  # down / up stages, each halving / doubling the length; 0: a flat model
    unet_stem_width: int = 128  # channels at single-base resolution: the stem's output, the heads' input
    unet_embedding_size: int = 16  # dims of each base's embedding
    unet_stem_kernel: int = 15  # bases the stem convolution spans (odd)
    unet_kernel: int = 5  # positions each stage's convolution spans (odd)

    def __post_init__(self, **kwargs):
        """Fill the defaults that depend on other fields, then check the shape."""
        self.layer_types = (default_layer_types(self.num_hidden_layers) if self.layer_types is None
                            else list(self.layer_types))
        if self.tie_word_embeddings is None:  # a U-Net embeds bases in fewer dims than its heads read: nothing to tie
            self.tie_word_embeddings = not self.unet_stages
        kwargs.setdefault("auto_map", dict(AUTO_MAP))
        super().__post_init__(**kwargs)
        self.validate_shape()

    def validate_shape(self):
        """Fail early, naming the field, instead of deep inside a forward pass."""
        if self.problem_type not in PROBLEM_TYPES:
            raise ValueError(f"problem_type must be one of {PROBLEM_TYPES}, got {self.problem_type!r}")
        if self.hidden_size % self.num_attention_heads != 0:
            raise ValueError(
                f"hidden_size ({self.hidden_size}) must be divisible by num_attention_heads "
                f"({self.num_attention_heads})"
            )
        if (self.hidden_size // self.num_attention_heads) % 2 != 0:
            raise ValueError(
                f"head dimension hidden_size / num_attention_heads = "
                f"{self.hidden_size // self.num_attention_heads} must be even for rotary embeddings"
            )
        if len(self.layer_types) != self.num_hidden_layers:
            raise ValueError(
                f"layer_types has {len(self.layer_types)} entries but num_hidden_layers is {self.num_hidden_layers}"
            )
        for i, layer_type in enumerate(self.layer_types):
            if layer_type not in LAYER_TYPES:
                raise ValueError(f"layer_types[{i}] = {layer_type!r}; expected one of {LAYER_TYPES}")
        if not isinstance(self.sliding_window, int) or self.sliding_window < 2:
            raise ValueError(f"sliding_window must be an integer >= 2 tokens, got {self.sliding_window!r}")
        if self.classifier_pooling not in ("mean", "cls"):
            raise ValueError(f"classifier_pooling must be 'mean' or 'cls', got {self.classifier_pooling!r}")
        if not 1 <= self.kmer_size <= 8:
            raise ValueError(f"kmer_size must be between 1 and 8, got {self.kmer_size}")
        if self.token_conv_kernel < 0 or self.token_conv_kernel % 2 != 1 and self.token_conv_kernel:
            raise ValueError(f"token_conv_kernel must be 0 (none) or an odd number of tokens, got "
                             f"{self.token_conv_kernel}")
        if self.token_conv_kernel and self.unet_stages:
            raise ValueError("token_conv_kernel is for flat models: a U-Net's stem convolution (unet_stem_kernel) "
                             "already gives each base its neighbours")
        if not isinstance(self.unet_stages, int) or not 0 <= self.unet_stages <= 16:
            raise ValueError(f"unet_stages must be an integer from 0 (a flat model) to 16, got {self.unet_stages!r}")
        if self.unet_stages:
            if self.kmer_size != 1:
                raise ValueError(f"a U-Net (unet_stages={self.unet_stages}) reads single bases: kmer_size must be 1, "
                                 f"got {self.kmer_size}")
            for name in ("unet_stem_kernel", "unet_kernel"):
                if getattr(self, name) < 1 or getattr(self, name) % 2 == 0:
                    raise ValueError(f"{name} must be an odd number of bases, got {getattr(self, name)}")
            if self.unet_stem_width < 1 or self.unet_embedding_size < 1:
                raise ValueError(f"unet_stem_width and unet_embedding_size must be positive, got "
                                 f"{self.unet_stem_width} and {self.unet_embedding_size}")

    @property
    def unet_block(self) -> int:
        """Bases per trunk token: 2**unet_stages (1 for a flat model)."""
        return 2**self.unet_stages

    @property
    def unet_widths(self) -> list[int]:
        """Channels at each resolution, single bases first: linear from the stem width to the trunk's hidden
        size (NTv3's schedule), multiples of 8."""
        first, last, steps = self.unet_stem_width, self.hidden_size, self.unet_stages
        between = [round((first + (last - first) * i / steps) / 8) * 8 for i in range(1, steps)]
        return [first, *between, last]

    @property
    def output_hidden_size(self) -> int:
        """Channels of the model's last hidden state (per token; per base for a U-Net), which the heads read."""
        return self.unet_stem_width if self.unet_stages else self.hidden_size

    @classmethod
    def preset(cls, name: str, **overrides) -> "FGMConfig":
        """A named size (`demo`, `tiny`, `small`, `base`, `large`, and the U-Nets `unet-tiny`, `unet-demo`,
        `unet-small`, `unet-base`), with any field overridden."""
        if name not in PRESETS:
            raise ValueError(f"unknown preset {name!r}; choose one of {sorted(PRESETS)}")
        fields = {**PRESETS[name], **overrides}
        if "layer_types" not in overrides and "num_hidden_layers" in overrides:
            fields["layer_types"] = default_layer_types(fields["num_hidden_layers"])
        return cls(**fields)


FGMConfig.register_for_auto_class()
