"""The multilevel byte-level Mamba video model: backbone and classification head (paper Sec. 3, Fig. 1–2)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn
from torch.nn import BCEWithLogitsLoss, CrossEntropyLoss, MSELoss
from transformers import PreTrainedModel
from transformers import initialization as init
from transformers.utils import ModelOutput

from ..configuration_bytevid import BytesVideoConfig
from .cache import BytesVideoCache
from .mamba import BytesVideoMambaBlock, BytesVideoMambaMixer, BytesVideoRMSNorm, MambaLayerState
from .pooling import BytesVideoPooling, BytesVideoPoolingLinear
from .attention import BytesVideoAttentionBlock
from .bf_ti import BytesVideoConvStem, BytesVideoMaxPool
from .chunked_mamba import BytesVideoChunkedMambaBlock
from .conv_mixer import BytesVideoCausalConvBlock
from .safe_loading import SafeLoadingMixin


@dataclass
class BytesVideoModelOutput(ModelOutput):
    """Output of [`BytesVideoModel`].

    Args:
        last_hidden_state (`torch.FloatTensor` of shape `(batch_size, last_level_length, output_size)`):
            The last level after the final norm. ``last_level_length = ceil(L / total_pool_factor)``. ``None`` when
            an inference input longer than ``config.streaming_threshold`` was processed by the streaming path.
        pooler_output (`torch.FloatTensor` of shape `(batch_size, output_size)`):
            Masked mean of ``last_hidden_state`` over real positions: the video representation.
        attention_mask (`torch.BoolTensor` of shape `(batch_size, last_level_length)`):
            Which last-level positions hold real (not padding) content.
        hidden_states (`tuple(torch.FloatTensor)`, *optional*, returned when `output_hidden_states=True`):
            The byte embeddings followed by each level's output (before pooling), at the internally padded lengths
            ``L_pad / pool_size**i`` with ``L_pad`` the input length rounded up to ``total_pool_factor``.
        cache (`BytesVideoCache`, *optional*, returned when `use_cache=True`):
            The streaming state after this input; pass it back with the next chunk of the same video. With a cache,
            ``last_hidden_state`` holds only the last-level positions completed by this chunk and ``pooler_output``
            is the representation of everything seen so far, as if the video ended here.
    """

    last_hidden_state: torch.FloatTensor | None = None
    pooler_output: torch.FloatTensor | None = None
    attention_mask: torch.BoolTensor | None = None
    hidden_states: tuple[torch.FloatTensor, ...] | None = None
    cache: BytesVideoCache | None = None


@dataclass
class BytesVideoClassifierOutput(ModelOutput):
    """Output of [`BytesVideoForClassification`].

    Args:
        loss (`torch.FloatTensor` of shape `()`, *optional*): returned when `labels` are given.
        logits (`torch.FloatTensor` of shape `(batch_size, num_labels)`).
        pooler_output (`torch.FloatTensor` of shape `(batch_size, output_size)`): the video representation.
        hidden_states (`tuple(torch.FloatTensor)`, *optional*): as in [`BytesVideoModelOutput`].
        cache (`BytesVideoCache`, *optional*): the streaming state, as in [`BytesVideoModelOutput`].
    """

    loss: torch.FloatTensor | None = None
    logits: torch.FloatTensor | None = None
    pooler_output: torch.FloatTensor | None = None
    hidden_states: tuple[torch.FloatTensor, ...] | None = None
    cache: BytesVideoCache | None = None


def prepare_byte_inputs(
    input_ids: torch.Tensor, attention_mask: torch.Tensor | None
) -> tuple[torch.Tensor, torch.Tensor]:
    """Validate ``input_ids`` (B, L) of encoded bytes and the (B, L) mask; return (ids, bool mask).

    uint8 is the native dtype; other integer dtypes are accepted when every value is in [0, 255]. The mask must be
    right-padded (real bytes first), which is what ``BytesVideoProcessor`` produces.
    """
    if not isinstance(input_ids, torch.Tensor):
        raise TypeError(f"input_ids must be a torch.Tensor of encoded bytes, got {type(input_ids).__name__}")
    if input_ids.dim() != 2:
        raise ValueError(f"input_ids must have shape (batch, length), got {tuple(input_ids.shape)}")
    if input_ids.dtype != torch.uint8:
        if input_ids.dtype.is_floating_point or input_ids.dtype == torch.bool or input_ids.is_complex():
            raise TypeError(f"input_ids must be uint8 (or an integer dtype), got {input_ids.dtype}")
        if input_ids.numel() and (int(input_ids.min()) < 0 or int(input_ids.max()) > 255):
            raise ValueError(
                f"input_ids must hold byte values in [0, 255], got values in [{int(input_ids.min())}, "
                f"{int(input_ids.max())}]"
            )
    if input_ids.shape[1] == 0:
        raise ValueError("input_ids is empty (length 0): a video needs at least one byte")
    if attention_mask is None:
        return input_ids, torch.ones(input_ids.shape, dtype=torch.bool, device=input_ids.device)
    if attention_mask.shape != input_ids.shape:
        raise ValueError(
            f"attention_mask shape {tuple(attention_mask.shape)} must equal input_ids shape {tuple(input_ids.shape)}"
        )
    mask = attention_mask.bool()
    if mask.shape[1] > 1 and bool((mask[:, 1:] & ~mask[:, :-1]).any()):
        raise ValueError(
            "attention_mask must be right-padded (all real bytes before any padding); "
            "the byte model reads the stream in order, so left padding or holes would change the result"
        )
    if not bool(mask[:, 0].all()):
        empty = [i for i in range(mask.shape[0]) if not bool(mask[i, 0])]
        raise ValueError(f"attention_mask marks no real byte for batch item(s) {empty}: a video needs at least one byte")
    return input_ids, mask


def build_block(config: BytesVideoConfig, level: int, width: int) -> nn.Module:
    """One block of ``level`` at ``width`` for ``config.mixer_type`` (all share the Mamba block's call signature)."""
    mixer_type = config.mixer_type
    if mixer_type in ("mamba", "mamba_flat"):
        return BytesVideoMambaBlock(config, width)
    if mixer_type == "chunked_ssm":
        if level == config.num_levels - 1:  # the top level sees the whole sequence (Bhirangi et al.'s upper SSM)
            return BytesVideoMambaBlock(config, width)
        return BytesVideoChunkedMambaBlock(config, width, chunk_length=config.ssm_chunk_size // config.pool_size**level)
    if mixer_type == "transformer":
        return BytesVideoAttentionBlock(config, width, window=None)
    if mixer_type in ("local_attention", "bf_ti"):
        return BytesVideoAttentionBlock(config, width, window=config.attention_window)
    if mixer_type == "causal_conv":
        return BytesVideoCausalConvBlock(config, width)
    raise ValueError(f"unknown mixer_type {mixer_type!r}")


def require_mamba(config: BytesVideoConfig, feature: str) -> None:
    """Raise a ``ValueError`` naming ``mixer_type`` when ``feature`` (streaming, sequence parallelism, ...) is used
    with a backbone that is not the plain multilevel Mamba."""
    if config.mixer_type != "mamba":
        raise ValueError(
            f"{feature} is implemented for mixer_type='mamba' only, but this model has "
            f"mixer_type={config.mixer_type!r}"
        )


def _resolve_cache_alias(cache: BytesVideoCache | None, cache_params: BytesVideoCache | None) -> BytesVideoCache | None:
    if cache is not None and cache_params is not None:
        raise ValueError("pass the streaming state as `cache` or as its alias `cache_params`, not both")
    return cache if cache is not None else cache_params


class BytesVideoPreTrainedModel(SafeLoadingMixin, PreTrainedModel):
    config_class = BytesVideoConfig
    config: BytesVideoConfig
    base_model_prefix = "bytevid"
    main_input_name = "input_ids"
    supports_gradient_checkpointing = True
    _no_split_modules = ["BytesVideoMambaBlock", "BytesVideoAttentionBlock", "BytesVideoCausalConvBlock"]
    _is_stateful = True

    @torch.no_grad()
    def _init_weights(self, module):
        super()._init_weights(module)  # normal(initializer_range) for Linear/Embedding, ones for RMSNorm
        if isinstance(module, BytesVideoMambaMixer):
            module.init_mamba_weights(num_residual_blocks=self.config.num_hidden_layers)
        elif isinstance(module, BytesVideoPoolingLinear):
            module.init_variance_preserving()
        elif isinstance(module, BytesVideoPooling) and module.method == "attention":
            init.normal_(module.query, mean=0.0, std=self.config.initializer_range)
        elif isinstance(module, BytesVideoRMSNorm):
            init.ones_(module.weight)


class BytesVideoModel(BytesVideoPreTrainedModel):
    """The multilevel SSM backbone: byte embedding → N levels of M Mamba blocks with pooling between levels → norm.

    Input ``input_ids`` (B, L) uint8 encoded bytes (int64 accepted) and ``attention_mask`` (B, L), right-padded.
    Any L works: the sequence is padded internally to a multiple of ``config.total_pool_factor`` and padding never
    changes a real video's output.
    """

    def __init__(self, config: BytesVideoConfig):
        super().__init__(config)
        widths = config.level_widths
        self.embeddings = nn.Embedding(config.vocab_size, config.hidden_size)
        # mixer_type="bf_ti": strided conv downsampling of the embeddings (ByteFormer); None otherwise.
        self.stem = BytesVideoConvStem(config) if config.mixer_type == "bf_ti" else None
        self.levels = nn.ModuleList(
            nn.ModuleList(build_block(config, i, width) for _ in range(blocks))
            for i, (width, blocks) in enumerate(zip(widths, config.blocks_per_level))
        )
        self.poolers = nn.ModuleList(
            BytesVideoMaxPool() if config.mixer_type == "bf_ti" else BytesVideoPooling(config, widths[i], widths[i + 1])
            for i in range(len(widths) - 1)
        )
        self.norm_f = BytesVideoRMSNorm(widths[-1], eps=config.layer_norm_epsilon)
        self.gradient_checkpointing = False
        # Sequence parallelism (bytevid_hf.parallel.enable_sequence_parallel); None = single process.
        self.sequence_parallel = None
        # Sub-sequence training with state carry (SequenceParallelStateCallback / enable_state_carry): while
        # `carry_states` is set, each training forward starts from `carried_states` and stores its final states.
        self.carry_states = False
        self.carried_states = None
        self.post_init()

    def get_input_embeddings(self) -> nn.Embedding:
        return self.embeddings

    def set_input_embeddings(self, value: nn.Embedding) -> None:
        self.embeddings = value

    def forward(
        self,
        input_ids: torch.Tensor | None = None,
        attention_mask: torch.Tensor | None = None,
        cache: BytesVideoCache | None = None,
        use_cache: bool | None = None,
        output_hidden_states: bool | None = None,
        return_dict: bool | None = None,
        cache_params: BytesVideoCache | None = None,
        **kwargs,
    ) -> BytesVideoModelOutput | tuple:
        """With ``use_cache=True`` (or a ``cache``) the input is treated as the next chunk of a stream: the cache is
        updated in place and returned as ``outputs.cache``, and feeding a video chunk by chunk gives the same
        ``pooler_output`` as one call on the whole video. ``cache_params`` is accepted as an alias of ``cache`` (the
        name transformers v4 used)."""
        cache = _resolve_cache_alias(cache, cache_params)
        if input_ids is None:
            raise ValueError("BytesVideoModel needs input_ids: (batch, length) uint8 encoded video bytes")
        output_hidden_states = (
            output_hidden_states if output_hidden_states is not None else self.config.output_hidden_states
        )
        return_dict = return_dict if return_dict is not None else self.config.return_dict
        input_ids, mask = prepare_byte_inputs(input_ids, attention_mask)
        if use_cache or cache is not None:
            require_mamba(self.config, "streaming (cache/use_cache)")
            if self.sequence_parallel is not None:
                raise ValueError("streaming (cache/use_cache) is not supported in sequence-parallel mode: "
                                 "call bytevid_hf.parallel.disable_sequence_parallel(model) first")
            if not bool(mask.all()):
                raise ValueError(
                    "with cache/use_cache every byte of the chunk must be real (attention_mask all ones): "
                    "stream one video at a time, or several of exactly equal length"
                )
            cache = cache if cache is not None else BytesVideoCache.empty(self.config)
            new_positions = self.stream_step(input_ids, cache)
            output = BytesVideoModelOutput(
                last_hidden_state=new_positions, pooler_output=self.stream_pooled_output(cache), cache=cache
            )
            return output if return_dict else output.to_tuple()

        threshold = self.config.streaming_threshold
        if (
            threshold is not None
            and input_ids.shape[1] > threshold
            and not torch.is_grad_enabled()
            and not output_hidden_states
            and self.sequence_parallel is None
            and self.config.mixer_type == "mamba"
        ):
            output = self._forward_streamed(input_ids, mask)
            return output if return_dict else output.to_tuple()

        carry = self.carry_states and self.training
        hidden, pooled, mask, all_hidden, new_states = self._encode(
            input_ids,
            mask,
            layer_states=self.carried_states if carry else None,
            return_layer_states=carry,
            output_hidden_states=output_hidden_states,
        )
        if carry:  # truncated backpropagation through time: the next sub-sequence starts from these, detached
            self.carried_states = [
                [MambaLayerState(s.conv_state.detach(), s.ssm_state.detach()) for s in level] for level in new_states
            ]

        if not return_dict:
            return tuple(v for v in (hidden, pooled, mask, all_hidden) if v is not None)
        return BytesVideoModelOutput(
            last_hidden_state=hidden, pooler_output=pooled, attention_mask=mask, hidden_states=all_hidden
        )


    def _encode(
        self,
        input_ids: torch.Tensor,
        mask: torch.Tensor,
        layer_states: list[list[MambaLayerState | None]] | None = None,
        return_layer_states: bool = False,
        output_hidden_states: bool = False,
    ):
        """The full (non-streaming) forward on validated, right-padded (B, L) ids and bool mask.

        ``layer_states[level][block]`` are the states before the first byte (a previous sub-sequence's); with
        ``return_layer_states`` the states after the last position are returned too. Under sequence parallelism the
        inputs are the full batch: this rank keeps its shard and the final mean pool is all-reduced.
        Returns ``(last_hidden, pooled, last_mask, all_hidden, new_states)``.
        """
        context = self.sequence_parallel
        if context is not None or layer_states is not None or return_layer_states:
            require_mamba(self.config, "sequence parallelism / sub-sequence state carry")
        if context is not None:
            from ..parallel.sequence_parallel import shard_sequence

            context.check_same_input(input_ids)
            align = self.config.pool_size**self.config.num_levels
            input_ids, mask = shard_sequence(input_ids, mask, context.rank, context.world_size, align=align)
        else:
            # Pad to a multiple of the total pooling factor so every pooling window is complete.
            pad = (-input_ids.shape[1]) % self.config.total_pool_factor
            if pad:
                input_ids = nn.functional.pad(input_ids, (0, pad))
                mask = nn.functional.pad(mask, (0, pad))

        # uint8 indices are converted for the lookup only; padded positions embed as zeros.
        hidden = self.embeddings(input_ids.to(torch.int32)) * mask.unsqueeze(-1).to(self.embeddings.weight.dtype)
        all_hidden = (hidden,) if output_hidden_states else None
        if self.stem is not None:
            hidden, mask = self.stem(hidden, mask)  # (B, L / bf_ti_conv_stride, D)
        new_states = []
        for level, blocks in enumerate(self.levels):
            level_states = []
            for index, block in enumerate(blocks):
                state = None if layer_states is None else layer_states[level][index]
                hidden, new_state = block(hidden, state=state, return_state=return_layer_states)  # (B, L_i, D_i)
                level_states.append(new_state)
            new_states.append(level_states)
            if output_hidden_states:
                all_hidden = all_hidden + (hidden,)
            if level < len(self.poolers):
                hidden, mask = self.poolers[level](hidden, mask)  # (B, L_i / L_s, D_{i+1})
        hidden = self.norm_f(hidden)
        weights = mask.unsqueeze(-1).to(hidden.dtype)
        total, count = (hidden * weights).sum(1), weights.sum(1)  # (B, D_N), (B, 1)
        if context is not None:
            total, count = context.all_reduce_sum(total), context.all_reduce_sum(count.detach())
        pooled = total / count.clamp(min=1.0)  # (B, D_N)
        return hidden, pooled, mask, all_hidden, (new_states if return_layer_states else None)

    # ----------------------------------------------------------------------------------------------------------------
    # Streaming: constant memory in the video length
    # ----------------------------------------------------------------------------------------------------------------
    def stream_step(self, input_ids: torch.Tensor, cache: BytesVideoCache) -> torch.Tensor:
        """Consume the next chunk (B, T) of byte streams, updating ``cache`` in place.

        Each level runs its blocks from the carried states; each pooling layer pools the complete windows and keeps
        the rest for the next chunk. Returns the normed last-level positions completed by this chunk (B, n, D_last).
        """
        hidden = self.embeddings(input_ids.to(torch.int32))  # (B, T, D)
        batch = hidden.shape[0]
        cache.seen_bytes += input_ids.shape[1]
        for level, blocks in enumerate(self.levels):
            if hidden.shape[1] == 0:
                break
            for index, block in enumerate(blocks):
                hidden, cache.layer_states[level][index] = block(
                    hidden, state=cache.layer_states[level][index], return_state=True
                )
            if level < len(self.poolers):
                hidden = self._pool_complete_windows(level, hidden, cache)
        else:
            normed = self.norm_f(hidden)  # (B, n, D_last)
            if normed.shape[1]:
                chunk_sum = normed.float().sum(1)
                cache.pooled_sum = chunk_sum if cache.pooled_sum is None else cache.pooled_sum + chunk_sum
                cache.pooled_count += normed.shape[1]
            return normed
        return hidden.new_zeros(batch, 0, self.config.output_size)

    def _pool_complete_windows(self, level: int, hidden: torch.Tensor, cache: BytesVideoCache) -> torch.Tensor:
        buffered = cache.pool_buffers[level]
        if buffered is not None:
            hidden = torch.cat((buffered, hidden), dim=1)
        size = self.config.pool_size
        complete = hidden.shape[1] // size * size
        cache.pool_buffers[level] = hidden[:, complete:] if complete < hidden.shape[1] else None
        if complete == 0:
            return hidden[:, :0]
        mask = torch.ones(hidden.shape[0], complete, dtype=torch.bool, device=hidden.device)
        pooled, _ = self.poolers[level](hidden[:, :complete], mask)
        return pooled

    def stream_pooled_output(self, cache: BytesVideoCache) -> torch.Tensor:
        """The video representation (B, D_last) of everything consumed so far, as if the video ended here.

        Incomplete pooling windows are flushed exactly like the padded full forward pools them (missing positions
        masked out), through states that are used but not modified, so the stream can continue afterwards.
        """
        if cache.seen_bytes == 0:
            raise ValueError("the stream is empty: no byte has been consumed yet")
        carry = None  # the one flushed position arriving at the current level
        states = cache.layer_states
        for level in range(len(self.poolers)):
            if carry is not None:
                for index, block in enumerate(self.levels[level]):
                    carry, _ = block(carry, state=states[level][index], return_state=True)
            buffered = cache.pool_buffers[level]
            window = carry if buffered is None else (buffered if carry is None else torch.cat((buffered, carry), 1))
            if window is None:
                carry = None
                continue
            real = window.shape[1]
            size = self.config.pool_size
            window = nn.functional.pad(window, (0, 0, 0, size - real))
            mask = torch.zeros(window.shape[0], size, dtype=torch.bool, device=window.device)
            mask[:, :real] = True
            carry, _ = self.poolers[level](window, mask)  # (B, 1, D_{level+1})
        total, count = cache.pooled_sum, cache.pooled_count
        if carry is not None:
            for index, block in enumerate(self.levels[-1]):
                carry, _ = block(carry, state=states[-1][index], return_state=True)
            last = self.norm_f(carry).float().sum(1)
            total = last if total is None else total + last
            count += 1
        return (total / count).to(self.norm_f.weight.dtype)

    def _forward_streamed(self, input_ids: torch.Tensor, mask: torch.Tensor) -> BytesVideoModelOutput:
        """Inference on long inputs: each video's real bytes go through the streaming path (same result as the full
        forward, activation memory bounded by ``config.streaming_chunk_size``). ``last_hidden_state`` is not kept."""
        from tqdm.auto import tqdm

        chunk_size = self.config.streaming_chunk_size
        lengths = mask.sum(1).tolist()
        pooled = []
        with tqdm(total=sum(lengths), unit="B", unit_scale=True, desc="bytevid (streaming)") as bar:
            for row, length in enumerate(lengths):
                cache = BytesVideoCache.empty(self.config)
                for start in range(0, length, chunk_size):
                    end = min(start + chunk_size, length)
                    self.stream_step(input_ids[row : row + 1, start:end], cache)
                    bar.update(end - start)
                pooled.append(self.stream_pooled_output(cache))
        return BytesVideoModelOutput(pooler_output=torch.cat(pooled, 0), attention_mask=None)

    @torch.no_grad()
    def stream(self, source, chunk_size: int | None = None, progress: bool = True, max_bytes: int | None = None):
        """Encode a video of any length in constant memory and return its representation.

        ``source`` is a path, ``bytes``, a binary file object, a uint8 array/tensor, or an iterable of uint8 chunks.
        The bytes are read ``chunk_size`` at a time (default ``config.streaming_chunk_size``) and never held in memory
        all at once (except when ``source`` itself is in memory). Returns a [`BytesVideoModelOutput`] whose ``pooler_output`` (1, D_last) equals
        ``forward`` on the whole sequence, and whose ``cache`` can continue the stream.
        """
        from tqdm.auto import tqdm

        from ..processing.chunks import iter_byte_chunks, total_length

        require_mamba(self.config, "stream()")
        chunk_size = self.config.streaming_chunk_size if chunk_size is None else chunk_size
        cache = BytesVideoCache.empty(self.config)
        device = self.embeddings.weight.device
        with tqdm(total=total_length(source), unit="B", unit_scale=True, desc="bytevid stream", disable=not progress) as bar:
            for chunk in iter_byte_chunks(source, chunk_size, max_bytes=max_bytes):
                ids = torch.from_numpy(np.array(chunk, dtype=np.uint8))  # small copy: chunks may be read-only views
                self.stream_step(ids.to(device).unsqueeze(0), cache)
                bar.update(len(chunk))
        if cache.seen_bytes == 0:
            raise ValueError("the video stream is empty: no byte was read from the source")
        return BytesVideoModelOutput(pooler_output=self.stream_pooled_output(cache), cache=cache)


class BytesVideoForClassification(BytesVideoPreTrainedModel):
    """[`BytesVideoModel`] with a masked mean pool and a Linear head: single-label (cross-entropy), multi-label (BCE)
    or regression (MSE), chosen by ``config.problem_type`` the way transformers does."""

    # forward ignores `num_items_in_batch`: Trainer must scale the loss by the gradient-accumulation steps itself.
    accepts_loss_kwargs = False

    def __init__(self, config: BytesVideoConfig):
        super().__init__(config)
        self.num_labels = config.num_labels
        self.bytevid = BytesVideoModel(config)
        self.dropout = nn.Dropout(config.classifier_dropout)
        self.classifier = nn.Linear(config.output_size, config.num_labels)
        self.post_init()

    def forward(
        self,
        input_ids: torch.Tensor | None = None,
        attention_mask: torch.Tensor | None = None,
        labels: torch.Tensor | None = None,
        cache: BytesVideoCache | None = None,
        use_cache: bool | None = None,
        output_hidden_states: bool | None = None,
        return_dict: bool | None = None,
        cache_params: BytesVideoCache | None = None,
        **kwargs,
    ) -> BytesVideoClassifierOutput | tuple:
        """Classify (B, L) byte sequences; with ``use_cache``/``cache`` (alias ``cache_params``) stream chunks as
        [`BytesVideoModel.forward`] does, the logits then being those of everything seen so far.

        ``subsequence_index`` (from ``bytevid_hf.parallel.SubsequenceDataset``): in state-carry mode, 0 starts a new
        video from zero states."""
        return_dict = return_dict if return_dict is not None else self.config.return_dict
        subsequence_index = kwargs.pop("subsequence_index", None)
        if subsequence_index is not None and self.bytevid.carry_states:
            starts = torch.as_tensor(subsequence_index).flatten() == 0
            if bool(starts.any()) and not bool(starts.all()):
                raise ValueError(f"subsequence_index {subsequence_index.tolist()} mixes new videos with continuing "
                                 "ones in one batch; every row of a batch must be at the same sub-sequence")
            if bool(starts.all()):
                self.bytevid.carried_states = None
        outputs = self.bytevid(
            input_ids,
            attention_mask=attention_mask,
            cache=_resolve_cache_alias(cache, cache_params),
            use_cache=use_cache,
            output_hidden_states=output_hidden_states,
            return_dict=True,
        )
        logits = self.classifier(self.dropout(outputs.pooler_output))  # (B, num_labels)
        loss = self.compute_loss(logits, labels) if labels is not None else None
        output = BytesVideoClassifierOutput(
            loss=loss,
            logits=logits,
            pooler_output=outputs.pooler_output,
            hidden_states=outputs.hidden_states,
            cache=outputs.cache,
        )
        return output if return_dict else output.to_tuple()

    @torch.no_grad()
    def stream(self, source, chunk_size: int | None = None, progress: bool = True, max_bytes: int | None = None):
        """Classify a video of any length in constant memory (see [`BytesVideoModel.stream`]).

        Returns a [`BytesVideoClassifierOutput`] whose ``logits`` (1, num_labels) equal ``forward`` on the whole video.
        """
        outputs = self.bytevid.stream(source, chunk_size=chunk_size, progress=progress, max_bytes=max_bytes)
        logits = self.classifier(outputs.pooler_output)
        return BytesVideoClassifierOutput(logits=logits, pooler_output=outputs.pooler_output, cache=outputs.cache)

    def compute_loss(self, logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """Loss by ``config.problem_type``, inferred on first use as in transformers' sequence classifiers."""
        labels = labels.to(logits.device)
        if self.config.problem_type is None:
            if self.num_labels == 1:
                self.config.problem_type = "regression"
            elif labels.dtype in (torch.long, torch.int, torch.int16, torch.int8, torch.uint8):
                self.config.problem_type = "single_label_classification"
            else:
                self.config.problem_type = "multi_label_classification"
        if self.config.problem_type == "regression":
            if self.num_labels == 1:
                return MSELoss()(logits.squeeze(-1), labels.squeeze(-1).to(logits.dtype))
            return MSELoss()(logits, labels.to(logits.dtype))
        if self.config.problem_type == "single_label_classification":
            return CrossEntropyLoss()(logits.view(-1, self.num_labels), labels.view(-1).long())
        if self.config.problem_type == "multi_label_classification":
            return BCEWithLogitsLoss()(logits, labels.to(logits.dtype))
        raise ValueError(
            f"config.problem_type must be 'regression', 'single_label_classification' or "
            f"'multi_label_classification', got {self.config.problem_type!r}"
        )


__all__ = [
    "BytesVideoPreTrainedModel",
    "BytesVideoModel",
    "BytesVideoForClassification",
    "BytesVideoModelOutput",
    "BytesVideoClassifierOutput",
    "prepare_byte_inputs",
]
