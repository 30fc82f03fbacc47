"""Sequence parallelism over torch.distributed: each rank holds one contiguous shard of every video.

Usage (every rank, e.g. under ``torchrun --nproc-per-node 4``, or ``accelerate launch --multi_gpu --num_processes 4``
— also on CPU; without ``--multi_gpu`` accelerate starts one process, see :mod:`bytevid_hf.parallel.launch`)::

    torch.distributed.init_process_group("gloo", timeout=datetime.timedelta(minutes=5))   # "nccl" on GPUs
    model = BytesVideoForClassification.from_pretrained(...)
    model = enable_sequence_parallel(model)                # optional process_group=, timeout=
    out = model(input_ids, attention_mask=mask, labels=y)  # the FULL batch, identical on every rank
    out.loss.backward()
    average_sequence_parallel_gradients(model)             # or let DDP average them

It is a module swap: :func:`enable_sequence_parallel` replaces the classifier's backbone by a
:class:`SequenceParallelBytesVideoModel` that shares every parameter and submodule with it and owns the communication
(:class:`SequenceParallelContext`); nothing is set on the other modules. The swapped backbone runs the backbone's own
level loop on this rank's shard and replaces each Mamba block by its sequence-parallel form:

1. the conv halo: every rank's last ``conv_kernel - 1`` convolution inputs are gathered, so each rank knows the
   convolution state entering its shard (and the one after the last shard);
2. Eq. 1–2: each rank computes its shard's state transition from a zero SSM state, ``(log P, h⁰)``
   (:meth:`~bytevid_hf.modeling.mamba.BytesVideoMambaMixer.state_transition`), O(B·E·N) numbers;
3. Eq. 3: the transitions are gathered and every rank scans them (:func:`~bytevid_hf.modeling.state_correction.
   boundary_states`), giving the true state entering each shard and after the last one;
4. each rank runs its shard from its true state through the mixer's ordinary forward, whose scan backends all take an
   initial state (a fused kernel gets it through Eq. 4, :mod:`bytevid_hf.modeling.scan`). The layer's blockwise
   activation checkpointing applies to both passes, so per-rank activation memory shrinks with the shard.

Shards are cut at multiples of ``total_pool_factor`` bytes of the video (counting the bytes of earlier pieces in a
``cache``), so no pooling window straddles two ranks; only the last rank can hold an incomplete window at the end,
which it computes alone from the final state — the final state is therefore always taken after the last *complete*
position, never through padding. The final mean pool is all-reduced, so every rank returns identical logits, loss and
cache, and a ``cache`` (state carry between the pieces of a long video) works as in one process.

Gradients: autograd flows through the collectives (all-gather and all-reduce as autograd functions below). Each rank's
backward yields its shard's share of the gradient of the sum over ranks of their (identical) losses; averaging the
parameter gradients over the group (DDP does exactly that, or :func:`average_sequence_parallel_gradients`) gives the
gradient of the single-process loss on the whole sequence. The collectives of one forward are chained by a scalar
token, so their backward all-reduces run in the same order on every rank whatever each rank's local graph looks like.

Failures: every collective is wrapped, so when another rank dies (crash, ``os._exit``, SIGKILL, OOM kill) or raises,
the survivors' next collective fails and they raise :class:`SequenceParallelError` naming this rank, the collective and
the cause, instead of waiting. A rank that stops calling the model without exiting (a hang) is caught by the group's
timeout: ``init_process_group(timeout=...)``, ``TrainingArguments.ddp_timeout`` under Trainer, or ``timeout=`` here
(torch's default for gloo is 30 minutes). Tested with gloo on CPU in ``tests/test_distributed_failures.py``.
"""

from __future__ import annotations

import datetime
from collections import OrderedDict

import torch
import torch.distributed as dist
from torch import nn

from ..modeling.mamba import MambaLayerState
from ..modeling.mixers import require_capability
from ..modeling.modeling_bytevid import BytesVideoForClassification, BytesVideoModel
from ..modeling.modeling_qa import BytesVideoGemmaForQA
from ..modeling.state_correction import boundary_states


class SequenceParallelError(RuntimeError):
    """A collective of the sequence-parallel group failed: another rank died, raised or timed out."""


def _group_description(group) -> str:
    try:
        return f"rank {dist.get_rank(group)} of {dist.get_world_size(group)}"
    except Exception:  # the group may already be unusable
        return "this rank"


def _collective(what: str, group, function, /, *args, **kwargs):
    """Run ``function(*args, group=group, **kwargs)`` (a blocking torch.distributed collective); on failure raise
    :class:`SequenceParallelError` naming the collective and the likely cause."""
    try:
        return function(*args, group=group, **kwargs)
    except RuntimeError as exc:  # gloo: RuntimeError / DistBackendError ("Connection closed by peer", "Timed out");
        # a ValueError/TypeError about this rank's own arguments passes through unchanged
        raise SequenceParallelError(
            f"sequence parallelism: {what} failed on {_group_description(group)}: another rank of the group died, "
            "raised an exception, stopped calling the model, or the group's timeout passed (every rank must run the "
            "same forward and backward). Stopping this rank too; look for the first error in the other ranks' logs. "
            f"Cause: {type(exc).__name__}: {exc}"
        ) from exc


# torch >= 2.12 names it all_gather_single (all_gather_into_tensor is deprecated there)
_ALL_GATHER = getattr(dist, "all_gather_single", None) or dist.all_gather_into_tensor


class _AllGather(torch.autograd.Function):
    """(world, *shape) stack of every rank's tensor, and the next ordering token. Backward: each rank's loss may use
    any slot, so the gradient of slot r is summed over ranks (all-reduce) and rank r keeps its own slot."""

    @staticmethod
    def forward(ctx, tensor, token, group, rank, world):
        ctx.group, ctx.rank = group, rank
        tensor = tensor.contiguous()
        flat = tensor.new_empty(world * tensor.numel())
        _collective("all_gather (forward)", group, _ALL_GATHER, flat, tensor.view(-1))
        return flat.view(world, *tensor.shape), token.clone()

    @staticmethod
    def backward(ctx, grad, grad_token):
        grad = grad.contiguous().clone()
        _collective("all_reduce (backward of all_gather)", ctx.group, dist.all_reduce, grad, op=dist.ReduceOp.SUM)
        return grad[ctx.rank], grad_token, None, None, None


class _AllReduceSum(torch.autograd.Function):
    """Sum over ranks, and the next ordering token. Backward: every rank's loss depends on the sum, so the input
    gradient is the sum of the ranks' output gradients."""

    @staticmethod
    def forward(ctx, tensor, token, group):
        ctx.group = group
        out = tensor.contiguous().clone()
        _collective("all_reduce (forward)", group, dist.all_reduce, out, op=dist.ReduceOp.SUM)
        return out, token.clone()

    @staticmethod
    def backward(ctx, grad, grad_token):
        grad = grad.contiguous().clone()
        _collective("all_reduce (backward)", ctx.group, dist.all_reduce, grad, op=dist.ReduceOp.SUM)
        return grad, grad_token, None


class SequenceParallelContext:
    """The process group and the collectives of one sequence-parallel backbone.

    Every collective takes and returns an ordering token (a scalar in the autograd graph): chaining them makes the
    backward all-reduces run in forward order, in reverse, on every rank. :meth:`begin` starts the chain of a forward,
    :meth:`end` ties it into the forward's output.

    With ``record_stats``, ``correction_stats`` collects, per block and forward, (rms of the SSM state entering this
    rank's shard, rms of its zero-start final state h⁰) as detached floats;
    :class:`~bytevid_hf.training.callbacks.SequenceParallelCallback` logs and clears them.
    """

    def __init__(self, process_group=None, timeout: float | datetime.timedelta | None = None):
        if not (dist.is_available() and dist.is_initialized()):
            from .launch import single_process_launch_problem

            problem = single_process_launch_problem(True)
            raise RuntimeError(
                "sequence parallelism needs torch.distributed: call torch.distributed.init_process_group('gloo' or "
                "'nccl') first (torchrun sets up the environment)" + (f"; {problem}" if problem else "")
            )
        self.group = process_group
        self.rank = dist.get_rank(process_group)
        self.world_size = dist.get_world_size(process_group)
        self.correction_stats: list[tuple[float, float]] = []
        self.record_stats = False  # SequenceParallelCallback switches it on (and clears the list when logging)
        self._token: torch.Tensor | None = None
        if timeout is not None:  # bound every later collective of the group (a rank that hangs cannot stall the rest)
            set_group_timeout(timeout, process_group)

    # -- ordering ---------------------------------------------------------------------------------------------------
    def begin(self, reference: torch.Tensor, after: list[torch.Tensor] = ()) -> None:
        """Start the token chain of one forward. ``after``: tensors of an earlier forward this one continues (a cache
        that was not detached): the token depends on them, so that forward's collectives run their backward after
        all of this one's, on every rank."""
        token = torch.zeros((), dtype=torch.float32, device=reference.device, requires_grad=torch.is_grad_enabled())
        for tensor in after:
            if tensor.requires_grad:
                token = token + 0 * tensor.sum()
        self._token = token

    def end(self, output: torch.Tensor) -> torch.Tensor:
        """``output`` joined to the token chain (its value unchanged), so the chain's backward runs."""
        return self.end_all(output)[0]

    def end_all(self, *outputs: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """Every output joined to the token chain (values unchanged): a loss that reads any of them runs the chain."""
        token, self._token = self._token, None
        if token is None or not token.requires_grad:
            return outputs
        return tuple(output + (token * 0).to(output.dtype) for output in outputs)

    def _next_token(self, reference: torch.Tensor) -> torch.Tensor:
        if self._token is None:
            self.begin(reference)
        return self._token

    # -- collectives (differentiable) ----------------------------------------------------------------------------
    def all_gather(self, tensor: torch.Tensor) -> torch.Tensor:
        """(world, *shape): every rank's tensor, stacked. Gradients flow back to the owning rank."""
        if self.world_size == 1:
            return tensor.unsqueeze(0)
        out, self._token = _AllGather.apply(tensor, self._next_token(tensor), self.group, self.rank, self.world_size)
        return out

    def all_reduce_sum(self, tensor: torch.Tensor) -> torch.Tensor:
        if self.world_size == 1:
            return tensor
        out, self._token = _AllReduceSum.apply(tensor, self._next_token(tensor), self.group)
        return out

    def check_same_input(self, input_ids: torch.Tensor, seen_bytes: int) -> None:
        """Every rank must pass the same full batch: compare shape, position in the video and a checksum across
        ranks (two tiny all-reduces)."""
        if self.world_size == 1:
            return
        ids = input_ids.to(torch.int64)
        positions = torch.arange(1, ids.shape[1] + 1, device=ids.device, dtype=torch.int64)
        signature = torch.tensor([ids.shape[0], ids.shape[1], seen_bytes, int((ids * positions).sum() % 1_000_000_007)],
                                 dtype=torch.int64, device=ids.device)
        low, high = signature.clone(), signature.clone()
        _collective("input check (all_reduce)", self.group, dist.all_reduce, low, op=dist.ReduceOp.MIN)
        _collective("input check (all_reduce)", self.group, dist.all_reduce, high, op=dist.ReduceOp.MAX)
        if not torch.equal(low, high):
            raise ValueError(
                f"sequence parallelism: rank {self.rank} got input_ids of shape {tuple(input_ids.shape)} (after "
                f"{seen_bytes} cached bytes) that differ from another rank's; every rank must pass the same full batch "
                "and cache (see SubsequenceDataset(replicas=...))"
            )


def shard_bounds(length: int, world_size: int, unit: int, offset: int = 0) -> list[tuple[int, int]]:
    """[start, end) of each rank's shard of ``length`` new bytes that follow ``offset`` earlier bytes of the video.

    Inner boundaries fall where the video's byte count is a multiple of ``unit`` (``config.total_pool_factor``), so no
    pooling window straddles two ranks; they are chosen as close to equal shares as that allows. Raises ``ValueError``
    when the input is too short to give every rank a part."""
    if world_size < 1 or unit < 1:
        raise ValueError(f"shard_bounds: need world_size >= 1 and unit >= 1, got {world_size} and {unit}")
    first = unit - offset % unit  # first cut candidate (bytes into this input)
    candidates = list(range(first, length, unit))
    if len(candidates) < world_size - 1:
        raise ValueError(
            f"sequence parallelism over {world_size} ranks: an input of {length:,} bytes (after {offset:,} earlier "
            f"bytes) has only {len(candidates) + 1} part(s) that end on a multiple of total_pool_factor={unit} bytes; "
            f"give every rank at least {unit} bytes (about {world_size * unit:,} bytes per piece) or use fewer ranks"
        )
    cuts, low = [], 0
    for r in range(1, world_size):
        high = len(candidates) - (world_size - r)  # leave a candidate for every later cut
        target = r * length / world_size
        best = min(range(low, high + 1), key=lambda i: abs(candidates[i] - target))
        cuts.append(candidates[best])
        low = best + 1
    edges = [0, *cuts, length]
    return [(edges[r], edges[r + 1]) for r in range(world_size)]


class SequenceParallelBytesVideoModel(BytesVideoModel):
    """A [`BytesVideoModel`] whose forward runs on this rank's shard of every input (see the module docstring).

    Built by :func:`enable_sequence_parallel` from an existing backbone; it shares that backbone's parameters and
    submodules, so saving, DDP and optimizers see the same tensors. ``last_hidden_state``, ``attention_mask`` and
    ``hidden_states`` hold this rank's shard; ``pooler_output``, the logits, the loss and the cache are the whole
    sequence's, identical on every rank. With ``gather_last_level`` (for heads that read every last-level position,
    such as the QA model's video-token pooling) ``last_hidden_state`` and ``attention_mask`` are the whole sequence's
    too, gathered from the ranks (its gradient flows back to each rank's shard).
    """

    gather_last_level: bool = False

    @classmethod
    def from_backbone(cls, backbone: BytesVideoModel, context: SequenceParallelContext, gather_last_level: bool = False):
        if isinstance(backbone, SequenceParallelBytesVideoModel):
            raise ValueError("this backbone is already sequence-parallel")
        require_capability(backbone.config, "stateful", "sequence parallelism")
        return _swap_class(backbone, cls, sequence_parallel_context=context, gather_last_level=gather_last_level)

    def to_backbone(self) -> BytesVideoModel:
        """A plain single-process backbone sharing this one's parameters and submodules."""
        return _swap_class(self, BytesVideoModel)

    # -- hooks of BytesVideoModel's level loop ------------------------------------------------------------------------
    def _local_inputs(self, input_ids, mask, cache, complete):
        context = self.sequence_parallel_context
        seen = cache.seen_bytes if cache is not None else 0
        context.check_same_input(input_ids, seen)
        bounds = shard_bounds(input_ids.shape[1], context.world_size, self.config.total_pool_factor, offset=seen)
        start, end = bounds[context.rank]
        context.begin(self.embeddings.weight, after=_cache_tensors(cache))
        if complete is not None:
            complete = max(0, min(complete, end) - start)
        owns_start = context.rank == 0  # the cached open pooling windows continue on the first rank
        buffers = cache.pool_buffers if (cache is not None and owns_start) else [None] * len(self.poolers)
        return input_ids[:, start:end], mask[:, start:end], complete, buffers

    def _reduce_sum(self, tensor: torch.Tensor) -> torch.Tensor:
        return self.sequence_parallel_context.all_reduce_sum(tensor)

    def _final_buffers(self, buffers: list, reference: torch.Tensor) -> list:
        """The open windows of the new cache live on the last rank; every rank gets a copy."""
        context = self.sequence_parallel_context
        gathered = []
        for level, buffer in enumerate(buffers):
            size, width = self.poolers[level].pool_size, self.config.level_widths[level]
            # (B, size, D): up to size - 1 buffered positions, then their count in the last row
            packed = reference.new_zeros(reference.shape[0], size, width, dtype=torch.float32)
            if buffer is not None:
                packed[:, : buffer.shape[1]] = buffer.float()
                packed[:, -1, 0] = buffer.shape[1]
            last = context.all_gather(packed)[-1]  # the last rank's
            count = int(last[0, -1, 0])
            gathered.append(last[:, :count].to(reference.dtype) if count else None)
        return gathered

    def _run_level(self, level: int, hidden: torch.Tensor, states: list, complete: int | None):
        new_states = []
        for block, state in zip(self.levels[level], states):
            hidden, state = self._block(block, hidden, state, complete)
            new_states.append(state if complete is not None else None)
        return hidden, new_states

    def _block(self, block, hidden: torch.Tensor, state: MambaLayerState | None, complete: int | None):
        """One residual Mamba block across the ranks: (B, S_r, D) → (B, S_r, D) and the state after the last rank's
        final position (identical on every rank). ``complete``: how many of this rank's positions are final."""
        context, mixer = self.sequence_parallel_context, block.mixer
        rank, world = context.rank, context.world_size
        batch, length, _ = hidden.shape
        channels, halo = mixer.intermediate_size, mixer.conv_kernel_size - 1
        final = length if complete is None else complete
        normed = block.norm(hidden)
        final_part, pending = normed[:, :final], normed[:, final:]
        start = state if state is not None else mixer.empty_state(hidden)

        # 1. Conv halo: the last `halo` convolution inputs of every rank, with how many of them are real.
        tail = min(final, halo)
        packed = hidden.new_zeros(batch, channels, halo + 1, dtype=torch.float32)
        if tail:
            packed[..., halo - tail : halo] = mixer.conv_inputs(final_part[:, final - tail :]).float()
        packed[..., halo] = tail
        tails = context.all_gather(packed)  # (V, B, E, halo + 1)
        halos = [start.conv_state.float()]  # halos[r]: the conv state entering rank r (r = V: after the last)
        for r in range(world):
            count = int(tails[r, 0, 0, halo]) if batch else 0
            joined = torch.cat((halos[-1], tails[r, ..., halo - count : halo]), dim=-1)
            halos.append(joined[..., joined.shape[-1] - halo :])
        halos = [h.to(hidden.dtype) for h in halos]

        # 2.–3. Each shard's state transition from zero (Eq. 1–2), gathered and scanned over ranks (Eq. 3).
        if final:
            log_decay, local_state = mixer.state_transition(final_part, conv_state=halos[rank])
        else:
            local_state = start.ssm_state.new_zeros(start.ssm_state.shape)
            log_decay = torch.zeros_like(local_state)
        transitions = context.all_gather(torch.stack((log_decay, local_state)))  # (V, 2, B, E, N)
        bounds = boundary_states(list(transitions[:, 1]), list(transitions[:, 0]), start.ssm_state)
        if context.record_stats:
            context.correction_stats.append(
                (float(bounds[rank].detach().pow(2).mean().sqrt()), float(local_state.detach().pow(2).mean().sqrt()))
            )

        # 4. This shard from its true state; an incomplete window at the end (last rank only) from the final state.
        out, _ = mixer(final_part, state=MambaLayerState(halos[rank], bounds[rank]))
        if pending.shape[1]:
            tail_out, _ = mixer(pending, state=MambaLayerState(halos[rank + 1], bounds[rank + 1]))
            out = torch.cat((out, tail_out), dim=1)
        return hidden + out, MambaLayerState(halos[world], bounds[world])

    def _finish_outputs(self, normed: torch.Tensor, mask: torch.Tensor, pooled: torch.Tensor):
        """The mean pool (identical on every rank) and, with ``gather_last_level``, the whole last level (B, n, D_N)
        and its mask, every rank's shard concatenated in rank order (identical on every rank; otherwise this rank's
        shard). Both are tied to the end of the forward's token chain."""
        context = self.sequence_parallel_context
        if self.gather_last_level:
            width = normed.shape[1]
            # How many last-level positions each rank holds (shards differ by at most the open window at the end).
            counts = [int(n) for n in context.all_gather(normed.new_tensor([width], dtype=torch.float32))[:, 0]]
            padding = (0, max(counts) - width)
            shards = context.all_gather(nn.functional.pad(normed, (0, 0, *padding)))  # (V, B, max n, D_N)
            masks = context.all_gather(nn.functional.pad(mask.to(torch.float32), padding))  # (V, B, max n)
            normed = torch.cat([shards[r, :, :n] for r, n in enumerate(counts)], dim=1)  # (B, n, D_N)
            mask = torch.cat([masks[r, :, :n] for r, n in enumerate(counts)], dim=1).to(mask.dtype)
            pooled, normed = context.end_all(pooled, normed)
            return normed, mask, pooled
        return normed, mask, context.end(pooled)


def _cache_tensors(cache) -> list[torch.Tensor]:
    if cache is None:
        return []
    tensors = [t for level in cache.layer_states for state in level if state is not None for t in state]
    tensors += [t for t in cache.pool_buffers if t is not None]
    return tensors + ([cache.pooled_sum] if cache.pooled_sum is not None else [])


def _swap_class(module, cls, **attributes):
    """A new ``cls`` instance sharing ``module``'s parameters, buffers, submodules and settings (a module swap)."""
    new = cls.__new__(cls)
    state = {key: (type(value)(value) if isinstance(value, (dict, OrderedDict)) else value)
             for key, value in module.__dict__.items() if key not in ("sequence_parallel_context", "gather_last_level")}
    new.__dict__.update(state)
    new.__dict__.update(attributes)
    return new


def set_group_timeout(timeout: float | datetime.timedelta, process_group=None) -> None:
    """Bound how long a collective of ``process_group`` (default: the world) waits for the other ranks, in seconds or
    as a ``timedelta``; afterwards it raises (gloo's default is 30 minutes)."""
    if not isinstance(timeout, datetime.timedelta):
        if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or not timeout > 0:
            raise ValueError(f"sequence parallelism: timeout must be a positive number of seconds, got {timeout!r}")
        timeout = datetime.timedelta(seconds=float(timeout))
    set_timeout = getattr(dist, "set_timeout", None) or dist.distributed_c10d._set_pg_timeout
    set_timeout(timeout, process_group)


def _unwrap(model):
    """The bytevid model inside DDP / peft wrappers."""
    model = getattr(model, "module", model)  # DistributedDataParallel
    get_base = getattr(model, "get_base_model", None)  # peft
    return get_base() if callable(get_base) else model


def enable_sequence_parallel(model, process_group=None, timeout: float | datetime.timedelta | None = None):
    """Make a ``BytesVideoForClassification``, a ``BytesVideoGemmaForQA`` (its video encoder) or a bare
    ``BytesVideoModel`` sequence-parallel over ``process_group`` (default: the world) and return the model to use.

    A classifier or QA model (also inside DDP or a peft model) has its backbone swapped in place and is returned; a bare backbone
    cannot swap itself, so a new :class:`SequenceParallelBytesVideoModel` sharing its parameters is returned. Every rank
    must then call the model with the same full inputs. ``timeout`` (seconds or timedelta; default: the group's own)
    bounds every collective's wait for the other ranks. The context is ``backbone.sequence_parallel_context``."""
    inner = _unwrap(model)
    context = SequenceParallelContext(process_group, timeout=timeout)
    if isinstance(inner, BytesVideoModel):
        return SequenceParallelBytesVideoModel.from_backbone(inner, context)
    if not isinstance(inner, (BytesVideoForClassification, BytesVideoGemmaForQA)):
        raise TypeError(
            "sequence parallelism supports BytesVideoForClassification, BytesVideoGemmaForQA and BytesVideoModel, got "
            f"{type(inner).__name__} (its head reads every byte position, which only one process holds)"
        )
    # The QA model pools video tokens from every last-level position: its backbone gathers them (identical on every
    # rank, gradients back to each shard); a classifier reads only the all-reduced mean pool.
    inner.bytevid = SequenceParallelBytesVideoModel.from_backbone(
        inner.bytevid, context, gather_last_level=isinstance(inner, BytesVideoGemmaForQA))
    return model


def disable_sequence_parallel(model):
    """Back to the ordinary single-process backbone; returns the model to use (see :func:`enable_sequence_parallel`)."""
    inner = _unwrap(model)
    if isinstance(inner, SequenceParallelBytesVideoModel):
        return inner.to_backbone()
    backbone = getattr(inner, "bytevid", None)
    if isinstance(backbone, SequenceParallelBytesVideoModel):
        inner.bytevid = backbone.to_backbone()
    return model


def sequence_parallel_context(model) -> SequenceParallelContext | None:
    """The context of a sequence-parallel model (``None`` when it is not one)."""
    inner = _unwrap(model)
    backbone = inner if isinstance(inner, BytesVideoModel) else getattr(inner, "bytevid", None)
    return getattr(backbone, "sequence_parallel_context", None)


def average_sequence_parallel_gradients(model, process_group=None) -> None:
    """All-reduce (mean) every parameter gradient over the sequence-parallel group, as DDP would.

    Needed when the model is not wrapped in DistributedDataParallel: afterwards each rank holds the gradient of the
    single-process loss on the whole sequence.
    """
    if not (dist.is_available() and dist.is_initialized()):
        return
    world = dist.get_world_size(process_group)
    for name, param in model.named_parameters():
        if param.grad is not None:
            _collective(f"gradient all_reduce of {name}", process_group, dist.all_reduce, param.grad,
                        op=dist.ReduceOp.SUM)
            param.grad.div_(world)


__all__ = [
    "SequenceParallelBytesVideoModel",
    "SequenceParallelContext",
    "SequenceParallelError",
    "average_sequence_parallel_gradients",
    "disable_sequence_parallel",
    "enable_sequence_parallel",
    "sequence_parallel_context",
    "set_group_timeout",
    "shard_bounds",
]
