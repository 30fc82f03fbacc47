"""Video question answering: the byte-level video encoder with a Gemma language model (paper Table 6, appendix B).

[`BytesVideoGemmaForQA`] reads a video as its encoded bytes and answers questions about it in free text:

1. [`BytesVideoModel`] (under ``bytevid``, as in every bytevid head) encodes ``video_input_ids`` (B, L) uint8 into its
   last level (B, L_last, D_last), after the final norm — in one pass, or, with ``config.video_chunk_size`` (long-video
   mode), chunk by chunk with the byte model's explicit state carried between chunks (the same positions; in training
   each chunk is activation-checkpointed and gradients flow through the carried state, or stop at it with
   ``config.video_chunk_backprop="truncated"``: see ``encode_video``);
2. ``num_video_tokens`` learned queries cross-attend over the real last-level positions
   ([`BytesVideoTokenPooling`], padding masked out) → (B, N, D_last); with ``num_video_tokens=0`` every real
   last-level position is kept instead (ceil(bytes / total_pool_factor) tokens per video);
3. an MLP projector (``Linear → act → Linear``) maps them to the language model's width H;
4. they replace the embeddings of the ``<video>`` placeholder tokens of the embedded prompt (the SSM's final
   representations enter the LM's embedded text sequence, appendix B), and the Gemma causal LM
   (``AutoModelForCausalLM.from_config(text_config)``, under ``language_model``) is trained with next-token
   cross-entropy on the answer tokens (``labels`` = -100 elsewhere) and generates answers with ``generate()``.

The video is encoded once per ``generate()`` call: only the prefill step receives ``video_input_ids``; the decoding
steps read the video tokens from the language model's KV cache.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

import torch
import torch.utils.checkpoint
from torch import nn
from transformers import AutoConfig, AutoModelForCausalLM, GenerationMixin, PreTrainedModel
from transformers import initialization as init
from transformers.activations import ACT2FN
from transformers.cache_utils import Cache
from transformers.utils import ModelOutput, logging

from .configuration_bytevid import ATTENTION_MIXERS
from .configuration_qa import BytesVideoGemmaConfig
from .cache import BytesVideoCache
from .mixers import require_capability
from .modeling_bytevid import BytesVideoModel, BytesVideoPreTrainedModel, prepare_byte_inputs
from .token_pooling import BytesVideoTokenPooling
from .safe_loading import SafeLoadingMixin

logger = logging.get_logger(__name__)


@dataclass
class BytesVideoGemmaCausalLMOutput(ModelOutput):
    """Output of [`BytesVideoGemmaForQA`].

    Args:
        loss (`torch.FloatTensor` of shape `()`, *optional*): next-token cross-entropy over the positions whose
            ``labels`` are not -100, returned when `labels` are given.
        logits (`torch.FloatTensor` of shape `(batch_size, sequence_length, vocab_size)`): the language model's logits
            (only the last ``logits_to_keep`` positions when that is set).
        cache (`Cache`, *optional*): the language model's KV cache (``past_key_values`` is an alias).
        hidden_states, attentions (`tuple(torch.FloatTensor)`, *optional*): the language model's.
        video_hidden_states (`torch.FloatTensor` of shape `(num_video_tokens_in_batch, hidden_size)`, *optional*):
            the projected video tokens that replaced the placeholders, in placeholder order (row-major over the
            batch); returned when video inputs were given.
    """

    loss: torch.FloatTensor | None = None
    logits: torch.FloatTensor | None = None
    cache: Cache | None = None
    hidden_states: tuple[torch.FloatTensor, ...] | None = None
    attentions: tuple[torch.FloatTensor, ...] | None = None
    video_hidden_states: torch.FloatTensor | None = None

    @property
    def past_key_values(self) -> Cache | None:
        """Alias of ``cache`` (the name transformers used before v5.24)."""
        return self.cache


class BytesVideoGemmaProjector(nn.Module):
    """Video tokens (..., D_last) → language-model embeddings (..., H): ``Linear → act → Linear``."""

    def __init__(self, config: BytesVideoGemmaConfig):
        super().__init__()
        width, hidden = config.video_config.output_size, config.text_config.hidden_size
        self.linear_1 = nn.Linear(width, hidden, bias=config.projector_bias)
        self.act = ACT2FN[config.projector_hidden_act]
        self.linear_2 = nn.Linear(hidden, hidden, bias=config.projector_bias)

    def forward(self, video_tokens: torch.Tensor) -> torch.Tensor:
        return self.linear_2(self.act(self.linear_1(video_tokens)))


class BytesVideoGemmaPreTrainedModel(SafeLoadingMixin, PreTrainedModel):
    config_class = BytesVideoGemmaConfig
    config: BytesVideoGemmaConfig
    base_model_prefix = ""
    main_input_name = "input_ids"
    input_modalities = ("video", "text")
    supports_gradient_checkpointing = True
    # The language model is a transformers Gemma model: attention backends are its own (set on all sub-configs).
    _supports_sdpa = True
    _supports_flash_attn = True
    _supports_flex_attn = True
    _supports_attention_backend = True
    is_gradient_checkpointing = BytesVideoPreTrainedModel.is_gradient_checkpointing  # no deprecation warning for peft
    hub_publisher = None  # see BytesVideoPreTrainedModel
    push_to_hub = BytesVideoPreTrainedModel.push_to_hub

    @torch.no_grad()
    def _init_weights(self, module):
        # Linear: normal(initializer_range), zero bias. The encoder and the language model are PreTrainedModels and
        # are initialised by their own `_init_weights` (transformers dispatches per sub-model).
        super()._init_weights(module)
        if isinstance(module, BytesVideoTokenPooling):
            init.normal_(module.queries, mean=0.0, std=self.config.initializer_range)


class BytesVideoGemmaForQA(BytesVideoGemmaPreTrainedModel, GenerationMixin):
    """Byte-level video encoder + Gemma causal LM for open-ended and multiple-choice video QA.

    Inputs (what [`BytesVideoQAProcessor`] returns):

    * ``input_ids`` (B, T) — the chat-formatted prompt, holding ``num_video_tokens`` copies of
      ``config.video_token_id`` per video (one video per row), followed during training by the answer tokens;
    * ``attention_mask`` (B, T);
    * ``video_input_ids`` (B, L) uint8 encoded video bytes and ``video_attention_mask`` (B, L), right-padded;
    * ``labels`` (B, T), -100 everywhere except the answer tokens (and the end-of-answer token). Labels are not
      shifted by the caller: position t's logits are scored against ``labels[:, t + 1]``.

    Parameter names: ``bytevid.*`` (the encoder, loadable from any bytevid checkpoint), ``video_pooling.*``,
    ``projector.*`` and ``language_model.*`` (the Gemma ``*ForCausalLM``, whose ``lm_head`` is tied to its input
    embeddings when ``text_config.tie_word_embeddings``; the tie is registered by the language model itself).
    """

    # No tie of its own: the tied `language_model.lm_head.weight` ↔ `language_model.model.embed_tokens.weight` pair is
    # collected from the language model's `_tied_weights_keys` by `post_init` (v5 composite models).
    _tied_weights_keys = None

    def __init__(self, config: BytesVideoGemmaConfig):
        super().__init__(config)
        if config.video_token_id is None:
            raise ValueError(
                "BytesVideoGemmaConfig.video_token_id is not set: pass the id of the video placeholder token "
                f"({config.video_token!r}) in the tokenizer, e.g. BytesVideoQAProcessor(...).video_token_id"
            )
        if config.video_config.mixer_type not in ATTENTION_MIXERS:
            # An attention-free encoder (Mamba) has no attention to dispatch: the implementation asked for the whole
            # model ("sdpa", "flash_attention_2", ...) is the language model's, and the encoder runs "eager".
            config.video_config._attn_implementation = "eager"
        self.bytevid = BytesVideoModel(config.video_config)
        self.video_pooling = (
            None
            if config.uses_all_video_positions
            else BytesVideoTokenPooling(config.video_config.output_size, config.num_video_tokens)
        )
        self.projector = BytesVideoGemmaProjector(config)
        self.language_model = AutoModelForCausalLM.from_config(config.text_config)
        self.loss_type = "ForCausalLM"  # the class name does not tell transformers which loss this is
        self.post_init()

    def set_attn_implementation(self, attn_implementation: str | dict, allow_all_kernels: bool = False):
        """transformers' method; a string applies to the language model (and to the video encoder when it has
        attention layers: ``mixer_type`` transformer, local_attention or bf_ti); an attention-free encoder stays
        ``"eager"``."""
        if isinstance(attn_implementation, str) and self.config.video_config.mixer_type not in ATTENTION_MIXERS:
            attn_implementation = {"": attn_implementation, "text_config": attn_implementation, "video_config": "eager"}
        super().set_attn_implementation(attn_implementation, allow_all_kernels=allow_all_kernels)

    # ------------------------------------------------------------------------------------------------------------
    # Embeddings (delegated to the language model, so resize_token_embeddings works on the composite model)
    # ------------------------------------------------------------------------------------------------------------
    def get_input_embeddings(self) -> nn.Module:
        return self.language_model.get_input_embeddings()

    def set_input_embeddings(self, value: nn.Module) -> None:
        self.language_model.set_input_embeddings(value)

    def get_output_embeddings(self) -> nn.Module | None:
        return self.language_model.get_output_embeddings()

    def set_output_embeddings(self, value: nn.Module) -> None:
        self.language_model.set_output_embeddings(value)

    # ------------------------------------------------------------------------------------------------------------
    # Video tokens
    # ------------------------------------------------------------------------------------------------------------
    def get_video_features(
        self,
        video_input_ids: torch.Tensor,
        video_attention_mask: torch.Tensor | None = None,
        video_chunk_size: int | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Encode (B, L) video bytes into language-model embeddings.

        Returns ``(features, counts)``: ``features`` (sum(counts), H) are the projected video tokens of all videos,
        video after video, and ``counts`` (B,) how many tokens each video contributes (``num_video_tokens``, or its
        number of real last-level positions when ``num_video_tokens == 0``). ``video_chunk_size`` overrides
        ``config.video_chunk_size`` (see [`encode_video`]).
        """
        hidden, last_mask = self.encode_video(video_input_ids, video_attention_mask, video_chunk_size)
        if self.video_pooling is not None:
            tokens = self.video_pooling(hidden, last_mask)  # (B, N, D_last)
            features = self.projector(tokens)  # (B, N, H)
            counts = torch.full((tokens.shape[0],), tokens.shape[1], dtype=torch.long, device=tokens.device)
            return features.reshape(-1, features.shape[-1]), counts  # (B·N, H), (B,)
        features = self.projector(hidden[last_mask])  # (Σ real positions, H)
        return features, last_mask.sum(1)

    def encode_video(
        self,
        video_input_ids: torch.Tensor,
        video_attention_mask: torch.Tensor | None = None,
        video_chunk_size: int | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """The encoder's last level (B, n, D_last), after the final norm, and its real positions (B, n) bool.

        ``video_chunk_size`` (default ``config.video_chunk_size``; ``0`` forces one pass): when set and shorter than
        the batch, each video is read ``video_chunk_size`` bytes at a time, every chunk continuing the byte model's
        state after the previous one (``cache`` / ``use_cache``), and the last-level positions that each chunk makes
        final are kept — the same positions as one pass over the whole video (to fp32 rounding), with the encoder's
        activations bounded by one chunk. Under autograd each chunk is activation-checkpointed: only its bytes, the
        state entering it and its outputs are kept, its activations are recomputed once in backward, and gradients
        flow through the carried states into every earlier chunk, so they equal the one-pass gradients — or, with
        ``config.video_chunk_backprop="truncated"``, stop at them (each chunk starts from the detached state: truncated
        backpropagation through time). Videos are encoded one at a time (a state continues one video), right-padded to
        the batch's longest last level.
        """
        chunk_size = self.config.video_chunk_size if video_chunk_size is None else video_chunk_size
        if not chunk_size or video_input_ids.shape[1] <= chunk_size:
            outputs = self.bytevid(video_input_ids, attention_mask=video_attention_mask, return_dict=True)
            return outputs.last_hidden_state, outputs.attention_mask.bool()
        if isinstance(chunk_size, bool) or not isinstance(chunk_size, int) or chunk_size < 1:
            raise ValueError(f"video_chunk_size must be a number of bytes >= 1 (0 = one pass), got {chunk_size!r}")
        require_capability(self.config.video_config, "stateful", "reading a video in chunks (video_chunk_size)")
        video_input_ids, mask = prepare_byte_inputs(video_input_ids, video_attention_mask)  # right-padded, checked
        lengths = [int(n) for n in mask.sum(1)]
        # Gradients reach the encoder only when it has trainable parameters (it reads integer bytes).
        checkpoint = torch.is_grad_enabled() and any(p.requires_grad for p in self.bytevid.parameters())
        truncated = self.config.video_chunk_backprop == "truncated"
        rows = [
            self._encode_video_in_chunks(video_input_ids[b : b + 1, :n], chunk_size, checkpoint, truncated)
            for b, n in enumerate(lengths)
        ]  # (1, n_b, D_last) each
        width = max(row.shape[1] for row in rows)
        hidden = torch.cat([nn.functional.pad(row, (0, 0, 0, width - row.shape[1])) for row in rows], dim=0)
        counts = torch.tensor([row.shape[1] for row in rows], device=hidden.device)
        mask = torch.arange(width, device=hidden.device).unsqueeze(0) < counts.unsqueeze(1)  # (B, n)
        return hidden, mask

    def _encode_video_in_chunks(
        self, video: torch.Tensor, chunk_size: int, checkpoint: bool, truncated: bool
    ) -> torch.Tensor:
        """One video (1, n) of real bytes, read ``chunk_size`` bytes at a time → its last level (1, n_last, D); with
        ``truncated`` each chunk starts from the previous chunk's state cut from the autograd graph."""
        cache, pieces = None, []
        for start in range(0, video.shape[1], chunk_size):
            chunk = video[:, start : start + chunk_size]
            last = start + chunk_size >= video.shape[1]
            if truncated and cache is not None:
                cache = cache.detach()
            if checkpoint:
                hidden, cache = torch.utils.checkpoint.checkpoint(
                    self._encode_video_chunk, chunk, cache, last, use_reentrant=False
                )
            else:
                hidden, cache = self._encode_video_chunk(chunk, cache, last)
            pieces.append(hidden)
        return torch.cat(pieces, dim=1)

    def _encode_video_chunk(self, chunk: torch.Tensor, cache: BytesVideoCache | None, last: bool):
        """The last-level positions that ``chunk`` makes final (all remaining ones for the ``last`` chunk) and the
        state after it (``None`` after the last chunk)."""
        final_before = cache.pooled_count if cache is not None else 0
        outputs = self.bytevid(chunk, cache=cache, use_cache=not last, return_dict=True)
        # last_hidden_state starts at the first last-level position not final before this chunk.
        if last:
            return outputs.last_hidden_state, None
        cache = outputs.cache  # owns its memory (the backbone copies its pooling buffers), so the carried state,
        # kept until backward under checkpointing, does not keep the chunk's level outputs alive
        return outputs.last_hidden_state[:, : cache.pooled_count - final_before], cache

    def place_video_features(
        self,
        input_ids: torch.Tensor,
        inputs_embeds: torch.Tensor,
        video_features: torch.Tensor,
        video_token_counts: torch.Tensor,
    ) -> torch.Tensor:
        """Put the video tokens at the ``<video>`` placeholder positions of the embedded prompt.

        ``input_ids`` (B, T), ``inputs_embeds`` (B, T, H), ``video_features`` (Σ counts, H), ``video_token_counts``
        (B,): row b must hold exactly ``video_token_counts[b]`` placeholders. Returns new (B, T, H) embeddings.
        """
        if input_ids.shape[0] != video_token_counts.shape[0]:
            raise ValueError(
                f"got {video_token_counts.shape[0]} video(s) for {input_ids.shape[0]} prompt(s); every row of "
                "input_ids needs exactly one video (video_input_ids has one row per prompt)"
            )
        placeholders = input_ids == self.config.video_token_id  # (B, T)
        found = placeholders.sum(1)
        expected = video_token_counts.to(found.device)
        if not torch.equal(found, expected):
            bad = [i for i in range(found.shape[0]) if int(found[i]) != int(expected[i])]
            detail = ", ".join(
                f"row {i} has {int(found[i])} placeholders for {int(expected[i])} video tokens" for i in bad[:4]
            )
            mode = (
                "one per real last-level position, ceil(bytes / video_config.total_pool_factor)"
                if self.config.uses_all_video_positions
                else f"config.num_video_tokens={self.config.num_video_tokens}"
            )
            raise ValueError(
                f"the number of {self.config.video_token!r} placeholder tokens (id {self.config.video_token_id}) in "
                f"input_ids must equal the number of video tokens per video ({mode}); {detail}. Build the prompt "
                "with BytesVideoQAProcessor using the same num_video_tokens as the model"
            )
        mask = placeholders.unsqueeze(-1).expand_as(inputs_embeds)  # (B, T, H)
        return inputs_embeds.masked_scatter(mask, video_features.to(inputs_embeds.device, inputs_embeds.dtype))

    # ------------------------------------------------------------------------------------------------------------
    # Forward and generation
    # ------------------------------------------------------------------------------------------------------------
    def forward(
        self,
        input_ids: torch.LongTensor | None = None,
        attention_mask: torch.Tensor | None = None,
        video_input_ids: torch.Tensor | None = None,
        video_attention_mask: torch.Tensor | None = None,
        position_ids: torch.LongTensor | None = None,
        cache: Cache | None = None,
        inputs_embeds: torch.FloatTensor | None = None,
        labels: torch.LongTensor | None = None,
        use_cache: bool | None = None,
        logits_to_keep: int | torch.Tensor = 0,
        output_attentions: bool | None = None,
        output_hidden_states: bool | None = None,
        return_dict: bool | None = None,
        past_key_values: Cache | None = None,
        **kwargs,
    ) -> BytesVideoGemmaCausalLMOutput | tuple:
        """Run the prompt (with the video tokens in place) through the language model; see the class docstring.

        ``past_key_values`` is accepted as an alias of ``cache``. ``num_items_in_batch`` (from ``Trainer``) makes
        the loss a sum over the batch's answer tokens divided by that number, as for transformers' causal LMs.
        """
        if cache is not None and past_key_values is not None:
            raise ValueError("pass the KV cache as `cache` or as its alias `past_key_values`, not both")
        cache = cache if cache is not None else past_key_values
        return_dict = return_dict if return_dict is not None else self.config.return_dict
        if (input_ids is None) == (inputs_embeds is None):
            raise ValueError("BytesVideoGemmaForQA needs exactly one of input_ids or inputs_embeds")

        if inputs_embeds is None:
            inputs_embeds = self.get_input_embeddings()(input_ids)  # (B, T, H), Gemma's scaled embeddings
        video_hidden_states = None
        if video_input_ids is not None:
            if input_ids is None:
                raise ValueError("video inputs need input_ids, to find the video placeholder tokens")
            video_hidden_states, counts = self.get_video_features(video_input_ids, video_attention_mask)
            inputs_embeds = self.place_video_features(input_ids, inputs_embeds, video_hidden_states, counts)
        elif (
            input_ids is not None
            and (cache is None or cache.get_seq_length() == 0)  # decoding steps may generate the token itself
            and bool((input_ids == self.config.video_token_id).any())
        ):
            raise ValueError(
                f"input_ids hold {self.config.video_token!r} placeholder tokens but no video_input_ids were given"
            )

        if labels is not None and use_cache is None:
            use_cache = False  # training: no KV cache to build
        outputs = self.language_model(
            attention_mask=attention_mask,
            position_ids=position_ids,
            cache=cache,
            inputs_embeds=inputs_embeds,
            use_cache=use_cache,
            logits_to_keep=logits_to_keep,
            output_attentions=output_attentions,
            output_hidden_states=output_hidden_states,
            return_dict=True,
        )
        logits = outputs.logits  # (B, T', V), soft-capped by Gemma 2/3 where configured

        loss = None
        if labels is not None:
            if labels.shape != logits.shape[:2]:
                raise ValueError(
                    f"labels shape {tuple(labels.shape)} must equal the (batch, length) of the scored logits "
                    f"{tuple(logits.shape[:2])} (logits_to_keep must be 0 when training)"
                )
            loss_kwargs = {k: kwargs[k] for k in ("num_items_in_batch",) if kwargs.get(k) is not None}
            loss = self.loss_function(logits, labels, self.config.text_config.vocab_size, **loss_kwargs)

        output = BytesVideoGemmaCausalLMOutput(
            loss=loss,
            logits=logits,
            cache=outputs.cache,
            hidden_states=outputs.hidden_states,
            attentions=outputs.attentions,
            video_hidden_states=video_hidden_states,
        )
        return output if return_dict else output.to_tuple()

    def prepare_inputs_for_generation(
        self,
        *args,
        video_input_ids: torch.Tensor | None = None,
        video_attention_mask: torch.Tensor | None = None,
        **kwargs,
    ):
        """transformers' preparation, plus the video inputs — in the prefill step only (``is_first_iteration``, or
        every step when generating without a KV cache): afterwards the video tokens live in the language model's
        cache and the encoder is not run again."""
        model_inputs = super().prepare_inputs_for_generation(*args, **kwargs)
        if kwargs.get("is_first_iteration") or not kwargs.get("use_cache", True):
            model_inputs["video_input_ids"] = video_input_ids
            model_inputs["video_attention_mask"] = video_attention_mask
        return model_inputs

    # ------------------------------------------------------------------------------------------------------------
    # Construction from separately pre-trained parts
    # ------------------------------------------------------------------------------------------------------------
    @classmethod
    def from_pretrained_parts(
        cls,
        video_encoder_path: str,
        language_model_path: str,
        dtype: torch.dtype | None = None,
        **config_kwargs,
    ) -> BytesVideoGemmaForQA:
        """Build the QA model from a bytevid checkpoint and a Gemma causal-LM checkpoint.

        Args:
            video_encoder_path: a saved bytevid model directory — any head (classifier, next-byte LM, RGB
                reconstruction) or the bare [`BytesVideoModel`]; its ``bytevid.`` backbone becomes the encoder.
            language_model_path: a saved Gemma-family ``*ForCausalLM`` directory (``gemma``, ``gemma2``,
                ``gemma3_text``).
            dtype: dtype of the returned model (default: float32).
            **config_kwargs: other [`BytesVideoGemmaConfig`] fields (``num_video_tokens``, ``projector_hidden_act``,
                ``video_token``, ``video_token_id``, ...). Without ``video_token_id`` the id of ``video_token`` is
                looked up in the tokenizer saved with the language model. An id beyond the language model's
                vocabulary grows its embeddings (new rows initialised at the mean of the old ones).

        The pooling queries and the projector are new (randomly initialised); everything else is copied.
        """
        from .configuration_qa import GEMMA_TEXT_MODEL_TYPES

        load_dtype = dtype or torch.float32
        encoder_type = BytesVideoModel.config_class.get_config_dict(video_encoder_path)[0].get("model_type")
        if encoder_type != BytesVideoModel.config_class.model_type:
            raise ValueError(f"{video_encoder_path!r} holds a {encoder_type!r} model, not a bytevid checkpoint "
                             "(model_type 'bytevid') for the video encoder")
        model_type = AutoConfig.from_pretrained(language_model_path).model_type
        if model_type not in GEMMA_TEXT_MODEL_TYPES:
            raise ValueError(f"{language_model_path!r} holds a {model_type!r} model; the language model must be a "
                             f"Gemma-family causal LM ({list(GEMMA_TEXT_MODEL_TYPES)})")
        encoder, info = BytesVideoModel.from_pretrained(video_encoder_path, dtype=load_dtype, output_loading_info=True)
        if info.get("missing_keys"):
            raise ValueError(
                f"{video_encoder_path!r} is not a complete bytevid checkpoint: the encoder weights "
                f"{sorted(info['missing_keys'])[:5]} are missing"
            )
        language_model = AutoModelForCausalLM.from_pretrained(language_model_path, dtype=load_dtype)

        video_token = config_kwargs.get("video_token", BytesVideoGemmaConfig.video_token)
        video_token_id = config_kwargs.pop("video_token_id", None)
        if video_token_id is None:
            video_token_id = _video_token_id_from_tokenizer(language_model_path, video_token)
        if video_token_id >= language_model.config.vocab_size:
            logger.info(f"growing the language model's vocabulary to {video_token_id + 1} for {video_token!r}")
            language_model.resize_token_embeddings(video_token_id + 1)

        video_config, text_config = copy.deepcopy(encoder.config), copy.deepcopy(language_model.config)
        for sub_config in (video_config, text_config):
            sub_config.architectures = None  # they describe the parts' old heads, not this model
        config = BytesVideoGemmaConfig(
            video_config=video_config,
            text_config=text_config,
            video_token_id=video_token_id,
            **config_kwargs,
        )
        model = cls(config)
        model.bytevid.load_state_dict(encoder.state_dict())
        model.language_model.load_state_dict(language_model.state_dict())
        model.tie_weights()
        model.generation_config = _merged_generation_config(model.generation_config, language_model.generation_config)
        if dtype is not None:
            model.to(dtype)
            for sub_config in (config, config.video_config, config.text_config):
                sub_config.dtype = dtype
        return model


def _video_token_id_from_tokenizer(language_model_path: str, video_token: str) -> int:
    """The id of ``video_token`` in the tokenizer saved next to the language model (clear errors otherwise)."""
    from transformers import AutoTokenizer

    try:
        tokenizer = AutoTokenizer.from_pretrained(language_model_path)
    except (OSError, ValueError) as e:
        raise ValueError(
            f"no video_token_id given and no tokenizer could be loaded from {language_model_path!r} to look up "
            f"{video_token!r} ({e}); pass video_token_id=..."
        ) from e
    ids = tokenizer.encode(video_token, add_special_tokens=False)
    if len(ids) != 1 or ids[0] == tokenizer.unk_token_id:
        raise ValueError(
            f"the tokenizer in {language_model_path!r} has no single token {video_token!r} (it encodes to {ids}); "
            "add it with bytevid_hf.processing.processing_qa.add_video_token(tokenizer) and pass video_token_id=..."
        )
    return ids[0]


def _merged_generation_config(model_config, language_model_config):
    """The language model's generation settings (eos/pad/bos ids, sampling defaults) for the composite model."""
    merged = language_model_config.__class__.from_dict(language_model_config.to_dict())
    for key in ("eos_token_id", "pad_token_id", "bos_token_id"):
        if getattr(merged, key, None) is None:
            setattr(merged, key, getattr(model_config, key, None))
    return merged


__all__ = [
    "BytesVideoGemmaCausalLMOutput",
    "BytesVideoGemmaForQA",
    "BytesVideoGemmaPreTrainedModel",
    "BytesVideoGemmaProjector",
]
