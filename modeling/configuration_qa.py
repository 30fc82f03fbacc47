"""Configuration of the video-bytes encoder + Gemma language model for video question answering
(``model_type = "bytevid_gemma"``, paper Table 6 and appendix B)."""

from __future__ import annotations

from typing import Any

from transformers import AutoConfig, PreTrainedConfig
from transformers.activations import ACT2FN
from transformers.configuration_utils import SubConfigSpec

from .configuration_bytevid import BytesVideoConfig

#: ``model_type`` of the transformers causal-LM configs the QA model accepts as ``text_config``.
GEMMA_TEXT_MODEL_TYPES: tuple[str, ...] = ("gemma", "gemma2", "gemma3_text")
# How gradients cross the chunks of long-video mode (config.video_chunk_backprop).
VIDEO_CHUNK_BACKPROP: tuple[str, ...] = ("full", "truncated")


class BytesVideoGemmaConfig(PreTrainedConfig):
    r"""
    Configuration of [`BytesVideoGemmaForQA`]: a [`BytesVideoModel`] reads a video's encoded bytes, its last level is
    attention-pooled to ``num_video_tokens`` tokens, an MLP projects them to the language model's width and they take
    the place of the ``<video>`` placeholder tokens of the embedded prompt of a Gemma-family causal LM, which is
    trained to generate the answer.

    Args:
        video_config (`BytesVideoConfig` or `dict`, *optional*):
            The byte-level video encoder. Default: ``BytesVideoConfig()``.
        text_config (`PreTrainedConfig` or `dict`, *optional*):
            The language model: a transformers Gemma causal-LM config, ``model_type`` one of
            ``"gemma"``, ``"gemma2"`` or ``"gemma3_text"`` (a dict without ``model_type`` is read as
            ``"gemma3_text"``). Default: ``Gemma3TextConfig()``.
        num_video_tokens (`int`, *optional*, defaults to 32):
            How many tokens represent one video in the prompt: learned queries cross-attend over the encoder's last
            level. ``0`` (or ``None``, stored as ``0``) uses every real last-level position instead, i.e.
            ``ceil(num_bytes / video_config.total_pool_factor)`` tokens per video (no pooling layer).
        projector_hidden_act (`str`, *optional*, defaults to `"gelu"`):
            Activation between the two linear layers of the projector (``Linear → act → Linear``).
        projector_bias (`bool`, *optional*, defaults to `True`):
            Bias in the projector's linear layers.
        video_token (`str`, *optional*, defaults to `"<video>"`):
            The placeholder string in prompts; the processor repeats it once per video token.
        video_token_id (`int`, *optional*):
            Its id in the language model's vocabulary (must be set before a model is built; it must not be the pad,
            bos or eos id).
        initializer_range (`float`, *optional*, defaults to 0.02):
            Std of the normal init of the pooling queries and the projector.
        video_chunk_size (`int`, *optional*):
            Long-video mode: the encoder reads each video ``video_chunk_size`` bytes at a time, every chunk continuing
            the byte model's state (``cache``) after the previous one, so the video tokens are those of one pass over
            the whole video while the encoder's activations are those of one chunk; in training each chunk is
            activation-checkpointed and gradients flow through the carried state into every chunk (the gradients of
            one pass). ``None`` (default) or ``0``: one pass over the whole (padded) batch. Needs a stateful encoder
            (``video_config.mixer_type`` ``"mamba"`` or ``"mamba_flat"``); a multiple of
            ``video_config.total_pool_factor`` avoids recomputing the open pooling window at each chunk boundary.
        video_chunk_backprop (`str`, *optional*, defaults to `"full"`):
            How gradients cross chunk boundaries in long-video mode. ``"full"``: through the carried state into every
            earlier chunk (the one-pass gradients). ``"truncated"``: the state entering each chunk is detached
            (truncated backpropagation through time, as the paper's sub-sequence training and `bytevid train-long`
            do): each chunk's encoder gradient comes only from its own video tokens' use, so no chunk's backward
            reaches back into the chunks before it. The forward (video tokens, logits, loss) is the same either way.
    """

    model_type = "bytevid_gemma"
    # Output keys `Trainer.predict` / `evaluate` leave out of the predictions, which are the language model's logits.
    keys_to_ignore_at_inference = ["cache", "video_hidden_states"]
    sub_configs_defaults = {
        "video_config": SubConfigSpec(config_class=BytesVideoConfig),
        "text_config": SubConfigSpec(config_class=AutoConfig, model_type="gemma3_text"),
    }

    video_config: dict | PreTrainedConfig | None = None
    text_config: dict | PreTrainedConfig | None = None
    num_video_tokens: int | None = 32
    projector_hidden_act: str = "gelu"
    projector_bias: bool = True
    video_token: str = "<video>"
    video_token_id: int | None = None
    initializer_range: float = 0.02
    video_chunk_size: int | None = None
    video_chunk_backprop: str = "full"

    def __post_init__(self, **kwargs: Any):
        # Sub-configs are built by the base class from dicts / None (`sub_configs_defaults`).
        super().__post_init__(**kwargs)
        if self.num_video_tokens is None:
            self.num_video_tokens = 0
        if self.video_chunk_size == 0:
            self.video_chunk_size = None
        self.validate_architecture()

    def validate_architecture(self) -> None:
        """Raise ``ValueError``/``TypeError`` naming the field and the reason for any inconsistent setting."""
        name = type(self).__name__
        if not isinstance(self.video_config, BytesVideoConfig):
            raise TypeError(f"{name}.video_config must be a BytesVideoConfig (or its dict), got "
                            f"{type(self.video_config).__name__}")
        model_type = getattr(self.text_config, "model_type", None)
        if model_type not in GEMMA_TEXT_MODEL_TYPES:
            raise ValueError(
                f"{name}.text_config must be the config of a Gemma-family causal LM, model_type one of "
                f"{list(GEMMA_TEXT_MODEL_TYPES)}, got {model_type!r}"
            )
        tokens = self.num_video_tokens
        if isinstance(tokens, bool) or not isinstance(tokens, int) or tokens < 0:
            raise ValueError(f"{name}.num_video_tokens must be an integer >= 0 (0 or None = all last-level "
                             f"positions), got {tokens!r}")
        if self.projector_hidden_act not in ACT2FN:
            raise ValueError(f"{name}.projector_hidden_act must be one of transformers' activations "
                             f"({sorted(ACT2FN)}), got {self.projector_hidden_act!r}")
        if not isinstance(self.video_token, str) or not self.video_token:
            raise ValueError(f"{name}.video_token must be a non-empty string, got {self.video_token!r}")
        chunk = self.video_chunk_size
        if chunk is not None and (isinstance(chunk, bool) or not isinstance(chunk, int) or chunk < 1):
            raise ValueError(f"{name}.video_chunk_size must be a number of bytes >= 1 (None or 0 = one pass), got "
                             f"{chunk!r}")
        if self.video_chunk_backprop not in VIDEO_CHUNK_BACKPROP:
            raise ValueError(f"{name}.video_chunk_backprop must be one of {list(VIDEO_CHUNK_BACKPROP)}, got "
                             f"{self.video_chunk_backprop!r}")
        self._validate_video_token_id()

    def _validate_video_token_id(self) -> None:
        token_id = self.video_token_id
        if token_id is None:
            return
        name = type(self).__name__
        vocab_size = self.text_config.vocab_size
        if isinstance(token_id, bool) or not isinstance(token_id, int) or not 0 <= token_id < vocab_size:
            raise ValueError(
                f"{name}.video_token_id must be an id in the language model's vocabulary [0, {vocab_size}), got "
                f"{token_id!r}; add the {self.video_token!r} token to the tokenizer and resize the embeddings "
                "(BytesVideoGemmaForQA.from_pretrained_parts does both given video_token_id)"
            )
        for special in ("pad_token_id", "bos_token_id", "eos_token_id"):
            value = getattr(self.text_config, special, None)
            values = value if isinstance(value, (list, tuple)) else [value]
            if token_id in values:
                raise ValueError(
                    f"{name}.video_token_id={token_id} equals text_config.{special}; the video placeholder needs a "
                    "token of its own"
                )

    @property
    def uses_all_video_positions(self) -> bool:
        """True when every real last-level position becomes a video token (``num_video_tokens == 0``)."""
        return self.num_video_tokens == 0

    def video_tokens_for_length(self, num_bytes: int) -> int:
        """Number of ``<video>`` placeholders one video of ``num_bytes`` bytes needs in the prompt."""
        if not self.uses_all_video_positions:
            return self.num_video_tokens
        factor = self.video_config.total_pool_factor
        return -(-int(num_bytes) // factor)


__all__ = ["BytesVideoGemmaConfig", "GEMMA_TEXT_MODEL_TYPES", "VIDEO_CHUNK_BACKPROP"]
