"""The multilevel byte-level Mamba video model: backbone and classification head (paper Sec. 3, Fig. 1–2).

Every forward is the same computation, level by level: byte embeddings → N levels of M blocks with pooling between
levels → final norm → masked mean. What it starts from goes in as an argument and what it ends in comes out in the
output: ``cache`` (the state after an earlier piece of the same videos, see [`BytesVideoCache`]) in, and with
``use_cache=True`` the state after this input out. Feeding a video piece by piece therefore gives exactly the
representation of one call on the whole video, which is what streaming (``stream()``), sub-sequence training with
state carry and sequence parallelism (``bytevid_hf.parallel``) are built on.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn
from torch.nn import BCEWithLogitsLoss, CrossEntropyLoss, MSELoss
from transformers import PreTrainedModel
from transformers import initialization as init
from transformers.utils import ModelOutput, logging

from .byte_chunks import iter_byte_chunks, total_length
from .cache import BytesVideoCache
from .configuration_bytevid import ATTENTION_MIXERS, BytesVideoConfig
from .mamba import BytesVideoMambaMixer, BytesVideoRMSNorm, MambaLayerState
from .mixers import mixer_module, require_capability
from .pooling import BytesVideoPooling, BytesVideoPoolingLinear
from .safe_loading import SafeLoadingMixin

logger = logging.get_logger(__name__)


@dataclass
class BytesVideoModelOutput(ModelOutput):
    """Output of [`BytesVideoModel`]: the encoder output every head reads.

    Args:
        last_hidden_state (`torch.FloatTensor` of shape `(batch_size, last_level_length, output_size)`):
            The last level after the final norm: ``ceil(L / total_pool_factor)`` positions for an input of L bytes.
            With a ``cache``, the positions from the first one not final before this input (the pooling window that
            the cached bytes left open) to the end; the last position covers an incomplete window when the bytes seen
            so far do not fill one, exactly as a call on all of them would end.
        pooler_output (`torch.FloatTensor` of shape `(batch_size, output_size)`):
            Masked mean over every real last-level position of the video so far: the video representation.
        attention_mask (`torch.LongTensor` of shape `(batch_size, last_level_length)`):
            1 where ``last_hidden_state`` holds real (not padding) content, 0 elsewhere.
        hidden_states (`tuple(torch.FloatTensor)`, *optional*, returned when `output_hidden_states=True`):
            The byte embeddings followed by each level's output before pooling, ``ceil(L / pool_size**i)`` positions
            at level i.
        cache (`BytesVideoCache`, *optional*, returned when `use_cache=True`):
            The state after this input, to continue the same videos with their next bytes.
    """

    last_hidden_state: torch.FloatTensor | None = None
    pooler_output: torch.FloatTensor | None = None
    attention_mask: torch.LongTensor | None = None
    hidden_states: tuple[torch.FloatTensor, ...] | None = None
    cache: BytesVideoCache | None = None

    @property
    def cache_params(self) -> BytesVideoCache | None:
        """Alias of ``cache`` (transformers' Mamba name before v5.24)."""
        return self.cache


@dataclass
class BytesVideoClassifierOutput(ModelOutput):
    """Output of [`BytesVideoForClassification`].

    Args:
        loss (`torch.FloatTensor` of shape `()`, *optional*): returned when `labels` are given.
        logits (`torch.FloatTensor` of shape `(batch_size, num_labels)`).
        pooler_output (`torch.FloatTensor` of shape `(batch_size, output_size)`): the video representation.
        hidden_states (`tuple(torch.FloatTensor)`, *optional*): as in [`BytesVideoModelOutput`].
        cache (`BytesVideoCache`, *optional*): the state after this input, as in [`BytesVideoModelOutput`].
    """

    loss: torch.FloatTensor | None = None
    logits: torch.FloatTensor | None = None
    pooler_output: torch.FloatTensor | None = None
    hidden_states: tuple[torch.FloatTensor, ...] | None = None
    cache: BytesVideoCache | None = None

    @property
    def cache_params(self) -> BytesVideoCache | None:
        """Alias of ``cache``."""
        return self.cache


def _tracing() -> bool:
    """True under torch.compile / torch.export, where data-dependent input checks cannot run."""
    compiler = getattr(torch, "compiler", None)
    return bool(compiler and (compiler.is_compiling() or getattr(compiler, "is_exporting", lambda: False)()))


def prepare_byte_inputs(
    input_ids: torch.Tensor, attention_mask: torch.Tensor | None
) -> tuple[torch.Tensor, torch.Tensor]:
    """Validate ``input_ids`` (B, L) of encoded bytes and the (B, L) mask; return (ids, bool mask).

    uint8 is the native dtype; other integer dtypes are accepted when every value is in [0, 255]. The mask must be
    right-padded (real bytes first), which is what ``BytesVideoProcessor`` produces. Under torch.compile /
    torch.export the checks of values (range, padding side) are skipped.
    """
    if not isinstance(input_ids, torch.Tensor):
        raise TypeError(f"input_ids must be a torch.Tensor of encoded bytes, got {type(input_ids).__name__}")
    if input_ids.dim() != 2:
        raise ValueError(f"input_ids must have shape (batch, length), got {tuple(input_ids.shape)}")
    if input_ids.dtype != torch.uint8:
        if input_ids.dtype.is_floating_point or input_ids.dtype == torch.bool or input_ids.is_complex():
            raise TypeError(f"input_ids must be uint8 (or an integer dtype), got {input_ids.dtype}")
        if not _tracing() and input_ids.numel() and (int(input_ids.min()) < 0 or int(input_ids.max()) > 255):
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
    if _tracing():  # the value checks below depend on the data; compiled and exported graphs skip them
        return input_ids, mask
    if mask.shape[1] > 1 and bool((mask[:, 1:] & ~mask[:, :-1]).any()):
        raise ValueError(
            "attention_mask must be right-padded (all real bytes before any padding); "
            "the byte model reads the stream in order, so left padding or holes would change the result"
        )
    if not bool(mask[:, 0].all()):
        empty = [i for i in range(mask.shape[0]) if not bool(mask[i, 0])]
        raise ValueError(f"attention_mask marks no real byte for batch item(s) {empty}: a video needs at least one byte")
    return input_ids, mask



def _resolve_cache_alias(cache: BytesVideoCache | None, cache_params: BytesVideoCache | None) -> BytesVideoCache | None:
    if cache is not None and cache_params is not None:
        raise ValueError("pass the state as `cache` or as its alias `cache_params`, not both")
    return cache if cache is not None else cache_params


@dataclass
class EncoderPass:
    """What one pass of the level loop produced (internal to the backbone and its sequence-parallel subclass)."""

    last_hidden_state: torch.Tensor  # (B, n, D_last), normed
    mask: torch.Tensor  # (B, n) bool
    pooled: torch.Tensor  # (B, D_last)
    hidden_states: tuple[torch.Tensor, ...] | None
    cache: BytesVideoCache | None


class BytesVideoPreTrainedModel(SafeLoadingMixin, PreTrainedModel):
    config_class = BytesVideoConfig
    config: BytesVideoConfig
    base_model_prefix = "bytevid"
    main_input_name = "input_ids"
    supports_gradient_checkpointing = True
    _no_split_modules = ["BytesVideoMambaBlock", "BytesVideoAttentionBlock", "BytesVideoCausalConvBlock"]
    _is_stateful = True
    #: What :meth:`push_to_hub` runs instead of transformers' upload: ``bytevid_hf.hub.push_model`` (the package's
    #: model card and this code, for ``trust_remote_code``), set by ``import bytevid_hf``; ``None`` in remote code.
    hub_publisher = None

    @property
    def _supports_sdpa(self) -> bool:
        """transformers' flag, per model: the attention mixers (``transformer``, ``local_attention``, ``bf_ti``) run
        ``attn_implementation="sdpa"`` (their default) or ``"eager"``; attention-free ones (Mamba, causal conv,
        chunked SSM) accept only ``"eager"`` (their default) and reject ``"sdpa"``, as transformers' Mamba does.
        No mixer supports flash or flex attention."""
        return self.config.mixer_type in ATTENTION_MIXERS

    def get_correct_attn_implementation(self, requested_attention: str | None, is_init_check: bool = False) -> str:
        """transformers' resolution of ``attn_implementation`` (``None``: sdpa where supported, else eager), which
        also rejects what the attention blocks cannot run (``"paged|eager"``) instead of failing at the first
        forward."""
        implementation = super().get_correct_attn_implementation(requested_attention, is_init_check)
        if self._supports_sdpa and implementation not in ("eager", "sdpa"):
            raise ValueError(
                f"{type(self).__name__} with mixer_type={self.config.mixer_type!r} supports "
                f'attn_implementation="eager" or "sdpa", got {implementation!r}'
            )
        return implementation

    def push_to_hub(self, repo_id: str, **kwargs):
        """transformers' ``push_to_hub``; once ``bytevid_hf`` is imported, its publisher (card, code, same arguments)."""
        if self.hub_publisher is None:
            return PreTrainedModel.push_to_hub(self, repo_id, **kwargs)
        return self.hub_publisher(self, repo_id, **kwargs)

    @property
    def is_gradient_checkpointing(self) -> bool:
        """transformers' deprecated name of ``is_activation_checkpointing``, which peft still reads when it wraps a
        model; answered here without transformers' deprecation warning (it is addressed to peft, not to users)."""
        return self.is_activation_checkpointing

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
    Any L works: every pooling layer pads its input to a whole number of windows and padding never changes a real
    video's output.

    ``cache`` / ``use_cache`` keep transformers' meaning: ``cache`` is the state before ``input_ids`` (the end of an
    earlier piece of the same videos; ``None`` = their start), and ``use_cache=True`` also returns the state after
    them as ``outputs.cache`` — the outputs are the same with or without it.
    """

    def __init__(self, config: BytesVideoConfig):
        super().__init__(config)
        widths = config.level_widths
        builders = mixer_module(config)
        self.embeddings = nn.Embedding(config.vocab_size, config.hidden_size)
        # A stem after the embedding (mixer_type="bf_ti": strided conv downsampling); None otherwise.
        self.stem = builders.build_stem(config) if hasattr(builders, "build_stem") else None
        self.levels = nn.ModuleList(
            nn.ModuleList(builders.build_block(config, i, width) for _ in range(blocks))
            for i, (width, blocks) in enumerate(zip(widths, config.blocks_per_level))
        )
        build_pooler = getattr(builders, "build_pooler", None) or (lambda c, i, w_in, w_out: BytesVideoPooling(c, w_in, w_out))
        self.poolers = nn.ModuleList(build_pooler(config, i, widths[i], widths[i + 1]) for i in range(len(widths) - 1))
        self.norm_f = BytesVideoRMSNorm(widths[-1], eps=config.layer_norm_epsilon)
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
        """Encode (B, L) bytes, continuing ``cache`` when given (``cache_params`` is accepted as its alias).

        With a ``cache`` every byte of ``input_ids`` must be real (no padding): they follow the cached bytes. A padded
        batch whose rows differ in length has no common state to return; ``use_cache=True`` then logs a warning and
        returns ``cache=None`` (the other outputs are unchanged)."""
        cache = _resolve_cache_alias(cache, cache_params)
        if input_ids is None:
            raise ValueError(f"{type(self).__name__} needs input_ids: (batch, length) uint8 encoded video bytes")
        output_hidden_states = (
            output_hidden_states if output_hidden_states is not None else self.config.output_hidden_states
        )
        return_dict = return_dict if return_dict is not None else self.config.return_dict
        input_ids, mask = prepare_byte_inputs(input_ids, attention_mask)
        complete = self._stateful_length(mask, cache, bool(use_cache))
        result = self._encode(input_ids, mask, cache, complete, output_hidden_states)
        output = BytesVideoModelOutput(
            last_hidden_state=result.last_hidden_state,
            pooler_output=result.pooled,
            attention_mask=result.mask.long(),
            hidden_states=result.hidden_states,
            cache=result.cache,
        )
        return output if return_dict else output.to_tuple()

    def _stateful_length(self, mask: torch.Tensor, cache: BytesVideoCache | None, use_cache: bool) -> int | None:
        """How many bytes of every row the returned cache must cover (``None``: no cache is returned)."""
        if cache is None and not use_cache:
            return None
        feature = "continuing a cache" if cache is not None else "use_cache=True"
        require_capability(self.config, "stateful", feature)
        if cache is not None:
            cache.check_matches(self.config, mask.shape[0])
            if not bool(mask.all()):
                raise ValueError(
                    "with a cache every byte of the chunk must be real (attention_mask all ones): the chunk continues "
                    "the cached videos; stream one video at a time, or several of exactly equal length"
                )
            return mask.shape[1] if use_cache else None
        lengths = mask.sum(1)
        if bool((lengths != lengths[0]).any()):
            logger.warning_once(
                "use_cache=True on a padded batch whose rows differ in length: no common state to return, so "
                "outputs.cache is None; encode each video on its own to continue it"
            )
            return None
        return int(lengths[0])

    # ----------------------------------------------------------------------------------------------------------------
    # The level loop. `complete` is how many positions of the current level are final (their pooling windows are
    # complete); the returned cache holds the states after them and the outputs after them that wait for a window.
    # `None` = no cache is built (every position is processed alike and padding is masked).
    # The sequence-parallel subclass (bytevid_hf.parallel) runs the same loop on one shard per rank: it overrides the
    # hooks `_local_inputs`, `_run_level`, `_reduce_sum`, `_final_buffers` and `_finish_outputs`.
    # ----------------------------------------------------------------------------------------------------------------
    def _encode(
        self,
        input_ids: torch.Tensor,
        mask: torch.Tensor,
        cache: BytesVideoCache | None,
        complete: int | None,
        output_hidden_states: bool,
    ) -> EncoderPass:
        new_bytes = input_ids.shape[1]
        input_ids, mask, complete, buffers_in = self._local_inputs(input_ids, mask, cache, complete)
        # uint8 indices are converted for the lookup only; padded positions embed as zeros.
        hidden = self.embeddings(input_ids.to(torch.int32)) * mask.unsqueeze(-1).to(self.embeddings.weight.dtype)
        all_hidden = (hidden,) if output_hidden_states else None
        if self.stem is not None:
            hidden, mask = self._pad_and_apply(self.stem, self.stem.stride, hidden, mask)  # (B, L / stride, D)
        layer_states, buffers = [], []
        for level, blocks in enumerate(self.levels):
            states = cache.layer_states[level] if cache is not None else [None] * len(blocks)
            hidden, new_states = self._run_level(level, hidden, states, complete)  # (B, L_i, D_i)
            layer_states.append(new_states)
            if output_hidden_states:
                all_hidden = all_hidden + (hidden,)
            if level < len(self.poolers):
                hidden, mask, new_buffer, complete = self._pool(level, hidden, mask, buffers_in[level], complete)
                buffers.append(new_buffer)  # hidden: (B, L_i / L_s, D_{i+1})
        normed = self.norm_f(hidden)  # (B, n, D_N)
        pooled, new_cache = self._mean_pool(normed, mask, cache, complete, new_bytes)
        if new_cache is not None:
            new_cache.layer_states, new_cache.pool_buffers = layer_states, self._final_buffers(buffers, normed)
        normed, mask, pooled = self._finish_outputs(normed, mask, pooled)
        return EncoderPass(normed, mask, pooled, all_hidden, new_cache)

    def _local_inputs(self, input_ids, mask, cache, complete):
        """The bytes this process encodes, how many of them the cache covers, and the cached pooling buffers."""
        buffers = cache.pool_buffers if cache is not None else [None] * len(self.poolers)
        return input_ids, mask, complete, buffers

    def _reduce_sum(self, tensor: torch.Tensor) -> torch.Tensor:
        """Sum over the processes that share this forward (one here)."""
        return tensor

    def _final_buffers(self, buffers: list, reference: torch.Tensor) -> list:
        """The new cache's pooling buffers, as every process must hold them (``reference``: the (B, n, D) output)."""
        return buffers

    def _finish_outputs(self, normed: torch.Tensor, mask: torch.Tensor, pooled: torch.Tensor):
        """The last level (B, n, D_N), its mask (B, n) and the mean pool (B, D_N) as the forward returns them."""
        return normed, mask, pooled

    def _run_level(self, level: int, hidden: torch.Tensor, states: list, complete: int | None):
        """The blocks of ``level`` on (B, L_i, D_i) from ``states``; with ``complete``, the states after that many
        positions are returned (the rest runs on from them, and what they lead to is not kept)."""
        new_states = []
        for block, state in zip(self.levels[level], states):
            if complete is None:
                hidden, _ = block(hidden, state=state)
                new_states.append(None)
            elif complete >= hidden.shape[1]:
                hidden, state = block(hidden, state=state, return_state=True)
                new_states.append(state)
            else:
                final, state = block(hidden[:, :complete], state=state, return_state=True)
                pending, _ = block(hidden[:, complete:], state=state)
                hidden = torch.cat((final, pending), dim=1)
                new_states.append(state)
        return hidden, new_states

    @staticmethod
    def _pad_and_apply(module: nn.Module, size: int, hidden: torch.Tensor, mask: torch.Tensor):
        """``module(hidden, mask)`` after right-padding both to a multiple of ``size`` (padding masked out)."""
        pad = (-hidden.shape[1]) % size
        if pad:
            hidden = nn.functional.pad(hidden, (0, 0, 0, pad))
            mask = nn.functional.pad(mask, (0, pad))
        return module(hidden, mask)

    def _pool(self, level, hidden, mask, buffer, complete):
        """Pool level ``level``'s outputs (B, L_i, D_i), after the cached ``buffer`` of an open window. Returns the
        pooled (B, ceil(.../L_s), D_{i+1}), its mask, the new buffer and how many pooled positions are final."""
        pooler = self.poolers[level]
        if buffer is not None:
            hidden = torch.cat((buffer.to(hidden.dtype), hidden), dim=1)
            mask = torch.cat((mask.new_ones(buffer.shape[:2]), mask), dim=1)
            complete = None if complete is None else complete + buffer.shape[1]
        pooled, pooled_mask = self._pad_and_apply(pooler, pooler.pool_size, hidden, mask)
        if complete is None:
            return pooled, pooled_mask, None, None
        windows = complete // pooler.pool_size
        start = windows * pooler.pool_size
        # A copy, not a view: a view would keep the whole level's output alive for as long as the cache lives.
        new_buffer = hidden[:, start:complete].clone() if complete > start else None
        return pooled, pooled_mask, new_buffer, windows

    def _mean_pool(self, normed, mask, cache, complete, new_bytes):
        """The masked mean over every real last-level position so far (B, D_N), and the new cache (or ``None``)."""
        weights = mask.unsqueeze(-1).to(torch.float32)
        total = self._reduce_sum((normed.float() * weights).sum(1))  # (B, D_N)
        count = self._reduce_sum(weights.sum(1).detach())  # (B, 1)
        previous_sum = cache.pooled_sum if cache is not None else None
        previous_count = cache.pooled_count if cache is not None else 0
        if previous_sum is not None:
            total, count = total + previous_sum, count + previous_count
        pooled = (total / count.clamp(min=1.0)).to(normed.dtype)
        if complete is None:
            return pooled, None
        final_sum = self._reduce_sum(normed[:, :complete].float().sum(1))  # (B, D_N)
        final_count = int(self._reduce_sum(torch.tensor([complete], dtype=torch.float64, device=normed.device)))
        if previous_sum is not None:
            final_sum = final_sum + previous_sum
        seen = new_bytes + (cache.seen_bytes if cache is not None else 0)
        return pooled, BytesVideoCache(pooled_sum=final_sum, pooled_count=previous_count + final_count, seen_bytes=seen)

    # ----------------------------------------------------------------------------------------------------------------
    # Streaming: constant memory in the video length
    # ----------------------------------------------------------------------------------------------------------------
    @torch.no_grad()
    def stream(self, source, chunk_size: int | None = None, progress: bool = True, max_bytes: int | None = None):
        """Encode a video of any length in constant memory and return its representation.

        ``source`` is a path, ``bytes``, a binary file object, a uint8 array/tensor, or an iterable of uint8 chunks.
        The bytes are read ``chunk_size`` at a time (default ``config.streaming_chunk_size``) and never held in memory
        all at once (except when ``source`` itself is in memory); each chunk continues the cache of the previous one.
        Returns a [`BytesVideoModelOutput`] whose ``pooler_output`` (1, D_last) equals ``forward`` on the whole
        video, and whose ``cache`` can continue the stream.
        """
        from tqdm.auto import tqdm

        chunk_size = self.config.streaming_chunk_size if chunk_size is None else chunk_size
        require_capability(self.config, "stateful", "stream()")
        device = self.embeddings.weight.device
        cache, output = None, None
        with tqdm(total=total_length(source), unit="B", unit_scale=True, desc="bytevid stream", disable=not progress) as bar:
            for chunk in iter_byte_chunks(source, chunk_size, max_bytes=max_bytes):
                ids = torch.from_numpy(np.array(chunk, dtype=np.uint8)).to(device).unsqueeze(0)  # chunks may be read-only
                output = self(ids, cache=cache, use_cache=True, return_dict=True)
                cache = output.cache
                bar.update(len(chunk))
        if output is None:
            raise ValueError("the video stream is empty: no byte was read from the source")
        return output


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
        """Classify (B, L) byte sequences. With ``cache`` (alias ``cache_params``) the input continues earlier pieces
        of the same videos and the logits are those of everything seen so far; ``use_cache=True`` returns the state
        after this input (see [`BytesVideoModel.forward`])."""
        return_dict = return_dict if return_dict is not None else self.config.return_dict
        if "subsequence_index" in kwargs:
            raise TypeError(
                "got subsequence_index: rows of SubsequenceDataset are pieces of longer videos, which must continue "
                "each other's state; train with bytevid_hf.training.subsequence.SubsequenceTrainer (or pass cache=... yourself)"
            )
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
