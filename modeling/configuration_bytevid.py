"""Configuration of the multilevel byte-level Mamba video model (``model_type = "bytevid"``)."""

from __future__ import annotations

import math
from typing import Any

from transformers import PretrainedConfig

from .mixers import MIXERS

POOLING_METHODS = ("concat", "average", "attention")
# Mixer of each level (paper Tables 9 and 15); see `BytesVideoConfig.mixer_type`.
MIXER_TYPES = tuple(MIXERS)
ATTENTION_MIXERS = ("transformer", "local_attention", "bf_ti")
SSM_BACKENDS = ("auto", "c", "torch", "triton", "mamba_ssm")
# Names of earlier releases, still read from saved configs.
_LEGACY_SSM_BACKENDS = {"cuda": "mamba_ssm"}

# Paper, Table 16: Layers, D, L_s, N, M. "bytes-micro" is this package's own CPU-sized preset.
PRESETS: dict[str, dict[str, Any]] = {
    "bytes-micro": dict(hidden_size=24, num_levels=4, layers_per_level=1, pool_size=4, state_size=8),
    "bytes-tiny": dict(hidden_size=256, num_levels=4, layers_per_level=3, pool_size=4),
    "bytes-base": dict(hidden_size=256, num_levels=4, layers_per_level=8, pool_size=4),
    "bytes-large": dict(hidden_size=256, num_levels=4, layers_per_level=11, pool_size=4),
}

# Learning rates from the paper's appendix A.2 (Adam), used as script defaults.
PRESET_LEARNING_RATES = {
    "bytes-micro": {"pretrain": 1e-3, "finetune": 1e-3},
    "bytes-tiny": {"pretrain": 9e-5, "finetune": 5e-5},
    "bytes-base": {"pretrain": 7e-5, "finetune": 3e-5},
    "bytes-large": {"pretrain": 5e-5, "finetune": 1e-5},
}


class BytesVideoConfig(PretrainedConfig):
    r"""
    Configuration of [`BytesVideoModel`] and [`BytesVideoForClassification`]: a multilevel Mamba state-space model
    that reads a video as its encoded bytes (an mp4 file as a uint8 sequence).

    The input of length L is embedded to width D and processed by ``num_levels`` (N) levels of ``layers_per_level`` (M)
    Mamba blocks. Between two levels a pooling layer shortens the sequence by ``pool_size`` (L_s) and projects the
    width to ``level_width_multiplier`` × the previous width, so level ``i`` runs at length ``L / L_s**i`` and width
    ``D * level_width_multiplier**i``. A final norm and a masked mean over the last level give the video representation.

    Args:
        vocab_size (`int`, *optional*, defaults to 256):
            Size of the byte vocabulary. Encoded video bytes are uint8, so 256.
        hidden_size (`int`, *optional*, defaults to 256):
            D, the byte embedding width and the width of the first level.
        num_levels (`int`, *optional*, defaults to 4):
            N, number of levels. There are ``num_levels - 1`` pooling layers, one between each pair of levels.
        layers_per_level (`int`, *optional*, defaults to 3):
            M, Mamba blocks per level.
        pool_size (`int`, *optional*, defaults to 4):
            L_s, the window each pooling layer merges into one position.
        pooling (`str`, *optional*, defaults to `"concat"`):
            Pooling between levels: ``"concat"`` (reshape L×D to L/L_s × L_s·D, then Linear to D_out), ``"average"``
            (mean over the window, then Linear) or ``"attention"`` (one learned query attends over each window, then
            Linear).
        pooling_attention_heads (`int`, *optional*, defaults to 1):
            Number of heads of the attention pooling (only used when ``pooling="attention"``).
        level_width_multiplier (`int`, *optional*, defaults to 2):
            D_out / D of each pooling layer (the paper uses D_out = 2·D).
        state_size (`int`, *optional*, defaults to 16):
            Mamba SSM state size per channel (``d_state`` in mamba_ssm).
        conv_kernel (`int`, *optional*, defaults to 4):
            Width of Mamba's causal depthwise convolution (``d_conv``).
        expand (`int`, *optional*, defaults to 2):
            Inner width of a Mamba block as a multiple of its level width.
        time_step_rank (`int` or `"auto"`, *optional*, defaults to `"auto"`):
            Rank of the Δ (time step) projection; ``"auto"`` means ``ceil(width / 16)`` at each level, as in Mamba.
        time_step_min (`float`, *optional*, defaults to 0.001), time_step_max (`float`, *optional*, defaults to 0.1),
        time_step_floor (`float`, *optional*, defaults to 1e-4), time_step_scale (`float`, *optional*, defaults to 1.0):
            Mamba's Δ initialisation: Δ is drawn log-uniformly in [min, max], floored, and the projection weights are
            uniform in ±scale·rank^-0.5.
        use_bias (`bool`, *optional*, defaults to `False`):
            Bias in the in/out projections of the Mamba mixers.
        use_conv_bias (`bool`, *optional*, defaults to `True`):
            Bias in the depthwise convolution.
        hidden_act (`str`, *optional*, defaults to `"silu"`):
            Activation of the Mamba mixer (conv output and gate).
        layer_norm_epsilon (`float`, *optional*, defaults to 1e-5):
            Epsilon of the RMSNorms.
        initializer_range (`float`, *optional*, defaults to 0.02):
            Std of the normal init of embeddings and linear layers.
        rescale_prenorm_residual (`bool`, *optional*, defaults to `True`):
            Divide each mixer's ``out_proj`` init by sqrt(number of blocks), as GPT-2/Mamba do.
        classifier_dropout (`float`, *optional*, defaults to 0.0):
            Dropout before the classification head.
        num_frames (`int`, *optional*, defaults to 16):
            Read by transformers' video-classification pipeline, which passes it to the processor. The byte model reads
            every frame of the encoded stream regardless; the value only keeps the pipeline's API intact.
        ssm_backend (`str`, *optional*, defaults to `"auto"`):
            The one switch that chooses the selective-scan implementation (see ``bytevid_hf.modeling.scan``):
            ``"c"`` (this package's C kernel, CPU), ``"torch"`` (its chunked torch scan, any device), ``"triton"``
            (its Triton kernel, CUDA), ``"mamba_ssm"`` (mamba-ssm's fused CUDA kernel, the ``[cuda]`` extra) or
            ``"auto"`` (C on CPU; on CUDA mamba-ssm when installed, else Triton, else the torch scan). Every backend supports initial and final states, so streaming, state
            carry and sequence parallelism run on whichever is chosen. ``"cuda"`` (the old name) is read as
            ``"mamba_ssm"``.
        mixer_block_size (`int`, *optional*, defaults to 4096):
            Positions each Mamba layer processes at once (the state is carried between blocks, so outputs are
            identical). Smaller blocks keep temporaries in cache; with activation checkpointing on
            (``model.activation_checkpointing_enable()``) each block is checkpointed during training, so a layer's
            training memory is O(L·D) plus O(block). ``0`` processes the whole sequence in one pass.
        streaming_chunk_size (`int`, *optional*, defaults to 8192):
            Bytes per chunk of ``stream()`` (and of the pipeline on long videos) by default. Small chunks keep every
            level's temporaries in cache, which is faster on CPU than large ones.
        reconstruction_tokens (`tuple[int, int, int]`, *optional*, defaults to `(5, 8, 8)`):
            (F', H', W') of [`BytesVideoForRGBReconstruction`] (RGB-reconstruction pre-training, paper Table 10): the
            last level is attention-pooled by F'·H'·W' learned queries into a grid of that many tokens, which the
            decoder upsamples to the frames. Each entry must not exceed the matching output size. Stored as a list in
            ``config.json`` and read back as a tuple.
        reconstruction_frames (`int`, *optional*, defaults to 10):
            Number of RGB frames [`BytesVideoForRGBReconstruction`] reconstructs (evenly spaced over the clip, see
            ``bytevid_hf.processing.frames.sample_frames``).
        reconstruction_size (`int`, *optional*, defaults to 128):
            Height and width of each reconstructed frame (square).
        reconstruction_hidden_size (`int`, *optional*, defaults to 64):
            Width (channels) of the reconstruction decoder at the token grid; each upsampling stage halves it, down to
            no less than ``min(16, reconstruction_hidden_size)``.
        mixer_type (`str`, *optional*, defaults to `"mamba"`):
            The sequence mixer of the backbone (the paper's baselines and ablations, Tables 9 and 15). Every value
            uses the same embedding, final norm, masked mean pool, classification head, processor and Trainer path:

            - ``"mamba"``: the multilevel SSM — Mamba blocks at every level (Table 9, "Bytes-Tiny (with Multilevel
              SSM)").
            - ``"transformer"``: pre-norm Transformer blocks (causal global attention + MLP) in place of the Mamba
              blocks. With ``num_levels > 1`` and pooling between levels this is Table 9's "Multilevel
              Transformer"; with ``num_levels=1`` it is Table 9's "Transformer" (global attention).
            - ``"local_attention"``: the same blocks with causal sliding-window attention over the last
              ``attention_window`` positions (memory O(L·window)); ``num_levels=1`` and window 512 is Table 9's
              "Transformer with local attention with 512 tokens".
            - ``"causal_conv"``: gated causal depthwise-convolution blocks (kernel ``conv_mixer_kernel``) in place of
              the Mamba blocks: Table 9's "Causal Conv".
            - ``"bf_ti"``: a ByteFormer-style backbone (Horton et al. 2023; Table 9's "BF-Ti"): a strided Conv1d
              stem (stride ``bf_ti_conv_stride``, kernel twice that) followed by ``num_levels`` × ``layers_per_level``
              sliding-window attention blocks at constant width ``hidden_size``, with 2× max-pool downsampling
              between levels (``pooling`` and ``level_width_multiplier`` are not used).
            - ``"mamba_flat"``: one level of ``num_levels`` × ``layers_per_level`` Mamba blocks at width
              ``hidden_size``, no pooling: Table 9's "Mamba (Baseline SSM)".
            - ``"chunked_ssm"``: the multilevel SSM with the Mamba layers of every level but the last restarted
              (zero SSM state, zero convolution context) at every ``ssm_chunk_size`` bytes, so chunks are encoded
              independently and only the last level sees the whole sequence, as in the hierarchical SSM of
              Bhirangi et al. (2024): Table 15's "Chunked".

            What each supports is declared in one registry (``bytevid_hf.modeling.mixers``): streaming
            (``cache``/``use_cache``/``stream``), sequence parallelism and sub-sequence state carry need a stateful
            mixer (``"mamba"``, ``"mamba_flat"``), [`BytesVideoForCausalLM`] needs ``"mamba"``; anything else raises a
            ``ValueError`` naming ``mixer_type``.
        num_attention_heads (`int`, *optional*, defaults to 4):
            Heads of the attention mixers (``"transformer"``, ``"local_attention"``, ``"bf_ti"``); must divide every
            level width.
        attention_window (`int`, *optional*, defaults to 512):
            Positions each query of ``"local_attention"`` and ``"bf_ti"`` attends to (itself and the previous
            ``attention_window - 1``).
        attention_mlp_ratio (`int`, *optional*, defaults to 4):
            Hidden width of the attention blocks' MLP as a multiple of the level width.
        conv_mixer_kernel (`int`, *optional*, defaults to 16):
            Kernel size of the ``"causal_conv"`` mixer's causal depthwise convolution.
        ssm_chunk_size (`int`, *optional*, defaults to 4096):
            Chunk length in bytes of ``"chunked_ssm"`` (level ``i`` restarts every ``ssm_chunk_size / pool_size**i``
            positions); must be a multiple of ``pool_size ** (num_levels - 2)``.
        bf_ti_conv_stride (`int`, *optional*, defaults to 16):
            Stride of ``"bf_ti"``'s Conv1d stem (ByteFormer uses kernel 32, stride 16).
        kwargs:
            Standard [`PretrainedConfig`] arguments, e.g. ``num_labels``, ``id2label``, ``label2id``, ``problem_type``
            (``"single_label_classification"``, ``"multi_label_classification"`` or ``"regression"``).
    """

    model_type = "bytevid"
    # Output keys `Trainer.predict` / `evaluate` leave out of the predictions: the classifier's are its logits, the
    # next-byte model's its logits, the RGB head's its reconstruction (the backbone's: last_hidden_state and its mask).
    keys_to_ignore_at_inference = ["pooler_output", "cache"]

    def __init__(
        self,
        vocab_size: int = 256,
        hidden_size: int = 256,
        num_levels: int = 4,
        layers_per_level: int = 3,
        pool_size: int = 4,
        pooling: str = "concat",
        pooling_attention_heads: int = 1,
        level_width_multiplier: int = 2,
        state_size: int = 16,
        conv_kernel: int = 4,
        expand: int = 2,
        time_step_rank: int | str = "auto",
        time_step_min: float = 0.001,
        time_step_max: float = 0.1,
        time_step_floor: float = 1e-4,
        time_step_scale: float = 1.0,
        use_bias: bool = False,
        use_conv_bias: bool = True,
        hidden_act: str = "silu",
        layer_norm_epsilon: float = 1e-5,
        initializer_range: float = 0.02,
        rescale_prenorm_residual: bool = True,
        classifier_dropout: float = 0.0,
        num_frames: int = 16,
        ssm_backend: str = "auto",
        mixer_block_size: int = 4096,
        streaming_chunk_size: int = 8192,
        reconstruction_tokens: tuple[int, int, int] | list[int] = (5, 8, 8),
        reconstruction_frames: int = 10,
        reconstruction_size: int = 128,
        reconstruction_hidden_size: int = 64,
        mixer_type: str = "mamba",
        num_attention_heads: int = 4,
        attention_window: int = 512,
        attention_mlp_ratio: int = 4,
        conv_mixer_kernel: int = 16,
        ssm_chunk_size: int = 4096,
        bf_ti_conv_stride: int = 16,
        **kwargs,
    ):
        self.vocab_size = vocab_size
        self.hidden_size = hidden_size
        self.num_levels = num_levels
        self.layers_per_level = layers_per_level
        self.pool_size = pool_size
        self.pooling = pooling
        self.pooling_attention_heads = pooling_attention_heads
        self.level_width_multiplier = level_width_multiplier
        self.state_size = state_size
        self.conv_kernel = conv_kernel
        self.expand = expand
        self.time_step_rank = time_step_rank
        self.time_step_min = time_step_min
        self.time_step_max = time_step_max
        self.time_step_floor = time_step_floor
        self.time_step_scale = time_step_scale
        self.use_bias = use_bias
        self.use_conv_bias = use_conv_bias
        self.hidden_act = hidden_act
        self.layer_norm_epsilon = layer_norm_epsilon
        self.initializer_range = initializer_range
        self.rescale_prenorm_residual = rescale_prenorm_residual
        self.classifier_dropout = classifier_dropout
        self.num_frames = num_frames
        self.ssm_backend = _LEGACY_SSM_BACKENDS.get(ssm_backend, ssm_backend)
        self.mixer_block_size = mixer_block_size
        self.streaming_chunk_size = streaming_chunk_size
        # JSON has no tuples: config.json stores a list, which is read back as a tuple here (same value either way).
        self.reconstruction_tokens = (
            tuple(reconstruction_tokens) if isinstance(reconstruction_tokens, (list, tuple)) else reconstruction_tokens
        )
        self.reconstruction_frames = reconstruction_frames
        self.reconstruction_size = reconstruction_size
        self.reconstruction_hidden_size = reconstruction_hidden_size
        self.mixer_type = mixer_type
        self.num_attention_heads = num_attention_heads
        self.attention_window = attention_window
        self.attention_mlp_ratio = attention_mlp_ratio
        self.conv_mixer_kernel = conv_mixer_kernel
        self.ssm_chunk_size = ssm_chunk_size
        self.bf_ti_conv_stride = bf_ti_conv_stride
        super().__init__(**kwargs)
        self.validate_architecture()

    def validate_architecture(self) -> None:
        """Raise ``ValueError`` naming the field and the reason for any inconsistent architecture setting."""

        def positive_int(name: str, minimum: int = 1) -> None:
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
                raise ValueError(f"BytesVideoConfig.{name} must be an integer >= {minimum}, got {value!r}")

        for name in ("hidden_size", "num_levels", "layers_per_level", "state_size", "conv_kernel", "expand"):
            positive_int(name)
        positive_int("streaming_chunk_size")
        positive_int("mixer_block_size", minimum=0)  # 0 = one pass over the whole sequence
        positive_int("level_width_multiplier")
        positive_int("pooling_attention_heads")
        positive_int("pool_size", minimum=2)
        if self.vocab_size != 256:
            raise ValueError(f"BytesVideoConfig.vocab_size must be 256 (the model reads uint8 bytes), got {self.vocab_size!r}")
        if self.pooling not in POOLING_METHODS:
            raise ValueError(f"BytesVideoConfig.pooling must be one of {POOLING_METHODS}, got {self.pooling!r}")
        if self.ssm_backend not in SSM_BACKENDS:
            raise ValueError(f"BytesVideoConfig.ssm_backend must be one of {SSM_BACKENDS}, got {self.ssm_backend!r}")
        if self.time_step_rank != "auto":
            positive_int("time_step_rank")
        self._validate_numbers()
        self._validate_reconstruction()
        self._validate_mixer()
        if self.pooling == "attention" and self.mixer_type not in ("bf_ti", "mamba_flat"):
            for width in self.level_widths[:-1]:
                if width % self.pooling_attention_heads:
                    raise ValueError(
                        f"BytesVideoConfig.pooling_attention_heads={self.pooling_attention_heads} must divide every "
                        f"pooled level width {self.level_widths[:-1]}"
                    )

    def _validate_numbers(self) -> None:
        """Activation, Δ initialisation range, norm epsilon and dropout."""
        from transformers.activations import ACT2FN

        if self.hidden_act not in ACT2FN:
            raise ValueError(f"BytesVideoConfig.hidden_act must be a transformers activation name, got {self.hidden_act!r}")

        def number(name: str) -> float:
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
                raise ValueError(f"BytesVideoConfig.{name} must be a finite number, got {value!r}")
            return float(value)

        low, high, floor = number("time_step_min"), number("time_step_max"), number("time_step_floor")
        if not 0 < low <= high:
            raise ValueError(
                f"BytesVideoConfig.time_step_min={low!r} and time_step_max={high!r} must satisfy 0 < min <= max "
                "(Δ is initialised log-uniformly between them)"
            )
        if floor < 0:
            raise ValueError(f"BytesVideoConfig.time_step_floor must be >= 0, got {floor!r}")
        if number("time_step_scale") <= 0 or number("initializer_range") < 0:
            raise ValueError(
                f"BytesVideoConfig.time_step_scale must be > 0 and initializer_range >= 0, got "
                f"{self.time_step_scale!r} and {self.initializer_range!r}"
            )
        if number("layer_norm_epsilon") <= 0:
            raise ValueError(f"BytesVideoConfig.layer_norm_epsilon must be > 0, got {self.layer_norm_epsilon!r}")
        if not 0 <= number("classifier_dropout") < 1:
            raise ValueError(f"BytesVideoConfig.classifier_dropout must be in [0, 1), got {self.classifier_dropout!r}")

    def _validate_mixer(self) -> None:
        """The mixer settings (``mixer_type`` and the fields it reads)."""
        if self.mixer_type not in MIXER_TYPES:
            raise ValueError(f"BytesVideoConfig.mixer_type must be one of {MIXER_TYPES}, got {self.mixer_type!r}")
        for name in ("num_attention_heads", "attention_window", "attention_mlp_ratio", "conv_mixer_kernel",
                     "ssm_chunk_size", "bf_ti_conv_stride"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"BytesVideoConfig.{name} must be an integer >= 1, got {value!r}")
        if self.mixer_type in ATTENTION_MIXERS:
            bad = [w for w in self.level_widths if w % self.num_attention_heads]
            if bad:
                raise ValueError(
                    f"BytesVideoConfig.num_attention_heads={self.num_attention_heads} must divide every level width "
                    f"{self.level_widths} (mixer_type={self.mixer_type!r})"
                )
        if self.mixer_type == "chunked_ssm":
            if self.num_levels < 2:
                raise ValueError(
                    "BytesVideoConfig.mixer_type='chunked_ssm' needs num_levels >= 2 (every level but the last is "
                    f"chunked), got num_levels={self.num_levels}"
                )
            step = self.pool_size ** (self.num_levels - 2)
            if self.ssm_chunk_size % step:
                raise ValueError(
                    f"BytesVideoConfig.ssm_chunk_size={self.ssm_chunk_size} must be a multiple of "
                    f"pool_size ** (num_levels - 2) = {step} so that chunks end on whole positions at every chunked "
                    "level (mixer_type='chunked_ssm')"
                )

    def _validate_reconstruction(self) -> None:
        """The RGB-reconstruction head's settings (``reconstruction_*``)."""
        for name in ("reconstruction_frames", "reconstruction_size", "reconstruction_hidden_size"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"BytesVideoConfig.{name} must be an integer >= 1, got {value!r}")
        tokens = self.reconstruction_tokens
        if (
            not isinstance(tokens, (tuple, list))
            or len(tokens) != 3
            or any(isinstance(t, bool) or not isinstance(t, int) or t < 1 for t in tokens)
        ):
            raise ValueError(
                "BytesVideoConfig.reconstruction_tokens must be three integers >= 1 (frames F', height H', width W' "
                f"of the token grid), got {tokens!r}"
            )
        limits = (self.reconstruction_frames, self.reconstruction_size, self.reconstruction_size)
        if any(t > limit for t, limit in zip(tokens, limits)):
            raise ValueError(
                f"BytesVideoConfig.reconstruction_tokens={tokens} must not exceed the reconstructed video's "
                f"(reconstruction_frames, reconstruction_size, reconstruction_size) = {limits}: the decoder only "
                "upsamples"
            )

    # ----------------------------------------------------------------------------------------------------------------
    # Derived quantities
    # ----------------------------------------------------------------------------------------------------------------
    @property
    def level_widths(self) -> list[int]:
        """Width of each level: ``hidden_size * level_width_multiplier**i`` (one level of width ``hidden_size`` for
        ``mixer_type="mamba_flat"``, ``num_levels`` levels of width ``hidden_size`` for ``"bf_ti"``)."""
        mixer_type = getattr(self, "mixer_type", "mamba")
        if mixer_type == "mamba_flat":
            return [self.hidden_size]
        if mixer_type == "bf_ti":
            return [self.hidden_size] * self.num_levels
        return [self.hidden_size * self.level_width_multiplier**i for i in range(self.num_levels)]

    @property
    def blocks_per_level(self) -> list[int]:
        """Number of blocks at each level: ``layers_per_level`` each (all ``num_levels * layers_per_level`` in the
        single level of ``mixer_type="mamba_flat"``)."""
        if getattr(self, "mixer_type", "mamba") == "mamba_flat":
            return [self.num_levels * self.layers_per_level]
        return [self.layers_per_level] * self.num_levels

    @property
    def total_pool_factor(self) -> int:
        """How much the last level is shorter than the input: ``pool_size ** (num_levels - 1)`` (1 for
        ``mixer_type="mamba_flat"``, ``bf_ti_conv_stride * 2 ** (num_levels - 1)`` for ``"bf_ti"``)."""
        mixer_type = getattr(self, "mixer_type", "mamba")
        if mixer_type == "mamba_flat":
            return 1
        if mixer_type == "bf_ti":
            return self.bf_ti_conv_stride * 2 ** (self.num_levels - 1)
        return self.pool_size ** (self.num_levels - 1)

    @property
    def num_hidden_layers(self) -> int:
        """Total number of blocks (N·M)."""
        return self.num_levels * self.layers_per_level

    @property
    def output_size(self) -> int:
        """Width of the final video representation (the last level's width)."""
        return self.level_widths[-1]

    def time_step_rank_for(self, width: int) -> int:
        """Δ projection rank at a level of the given width (``ceil(width/16)`` when ``"auto"``)."""
        return math.ceil(width / 16) if self.time_step_rank == "auto" else int(self.time_step_rank)

    # ----------------------------------------------------------------------------------------------------------------
    # Presets
    # ----------------------------------------------------------------------------------------------------------------
    @classmethod
    def from_preset(cls, name: str, **overrides) -> "BytesVideoConfig":
        """Build a config from a named preset (``bytes-micro``, ``bytes-tiny``, ``bytes-base``, ``bytes-large``).

        ``bytes-tiny``/``-base``/``-large`` follow the paper's Table 16 (D=256, L_s=4, N=4, M=3/8/11);
        ``bytes-micro`` is a CPU-sized model for tests and the demo. Any field can be overridden by keyword.
        """
        if name not in PRESETS:
            raise ValueError(f"Unknown BytesVideoConfig preset {name!r}; choose one of {sorted(PRESETS)}")
        settings = dict(PRESETS[name])
        settings.update(overrides)
        return cls(**settings)


__all__ = ["BytesVideoConfig", "PRESETS", "PRESET_LEARNING_RATES", "POOLING_METHODS", "SSM_BACKENDS", "MIXER_TYPES"]
