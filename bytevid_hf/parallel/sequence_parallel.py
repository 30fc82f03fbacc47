"""Sequence parallelism over torch.distributed: each rank holds one contiguous shard of every video.

Usage (every rank, e.g. under ``torchrun --nproc-per-node 4`` or ``accelerate launch``)::

    torch.distributed.init_process_group("gloo", timeout=datetime.timedelta(minutes=5))   # "nccl" on GPUs
    model = BytesVideoForClassification.from_pretrained(...)
    enable_sequence_parallel(model)                        # optional process_group=
    out = model(input_ids, attention_mask=mask, labels=y)  # the FULL batch, identical on every rank
    out.loss.backward()
    average_sequence_parallel_gradients(model)             # or let DDP average them

Every rank passes the same full batch (bytes are cheap: 15 MB for a 15M-byte video); the model keeps only this rank's
shard (:func:`shard_sequence`, aligned to ``pool_size ** num_levels`` so no pooling window straddles two ranks), runs
each Mamba layer on it from a zero state, exchanges per layer only O(B·E·N) summaries (final local state, shard decay)
plus the conv halo, and corrects its outputs (Eq. 3–4, :mod:`.state_correction`). The final masked mean pool is
all-reduced, so every rank returns identical logits and loss.

Gradients: autograd flows through the collectives (all-gather and all-reduce as autograd functions below). Each rank's backward yields
its shard's share of the gradient of the sum over ranks of their (identical) losses; averaging the parameter
gradients over the group (DDP does exactly that, or :func:`average_sequence_parallel_gradients`) gives the gradient of
the single-process loss on the whole sequence.

Failures: every collective is wrapped, so when another rank dies (crash, ``os._exit``, SIGKILL, OOM kill) or raises,
the survivors' next collective fails and they raise :class:`SequenceParallelError` naming this rank, the collective and
the cause, instead of waiting. A rank that stops calling the model without exiting (a hang) is caught by the group's
timeout: ``init_process_group(timeout=...)``, ``TrainingArguments.ddp_timeout`` under Trainer, or ``timeout=`` here
(torch's default for gloo is 30 minutes). Tested with gloo on CPU in ``tests/test_distributed_failures.py``.
"""

from __future__ import annotations

import datetime

import torch
import torch.distributed as dist
import torch.nn.functional as F

from ..modeling.mamba import MambaLayerState
from .state_correction import boundary_states, shard_log_decay, state_correction

DEFAULT_ALIGNMENT = 4**4  # pool_size ** num_levels of the default config


def _rank_and_world(rank, world_size, group=None):
    if rank is None or world_size is None:
        if dist.is_available() and dist.is_initialized():
            rank = dist.get_rank(group) if rank is None else rank
            world_size = dist.get_world_size(group) if world_size is None else world_size
        else:
            rank, world_size = (0 if rank is None else rank), (1 if world_size is None else world_size)
    if world_size < 1 or not 0 <= rank < world_size:
        raise ValueError(f"shard_sequence: need 0 <= rank < world_size, got rank={rank}, world_size={world_size}")
    return rank, world_size


def shard_length(length: int, world_size: int, align: int = DEFAULT_ALIGNMENT) -> int:
    """Positions per rank: ceil(length / world_size) rounded up to a multiple of ``align``."""
    per_rank = -(-length // world_size)
    return -(-per_rank // align) * align


def shard_sequence(
    input_ids: torch.Tensor,
    attention_mask: torch.Tensor | None = None,
    rank: int | None = None,
    world_size: int | None = None,
    align: int = DEFAULT_ALIGNMENT,
) -> tuple[torch.Tensor, torch.Tensor]:
    """This rank's contiguous shard of (B, L) ``input_ids`` and its mask.

    The sequence is right-padded (mask 0) to ``world_size`` equal shards whose length is a multiple of ``align``
    (use ``config.pool_size ** config.num_levels``), so every rank has the same shape and no pooling window straddles
    two ranks. ``rank``/``world_size`` default to torch.distributed's. Returns ``(ids, bool mask)``, each (B, S).
    """
    if input_ids.dim() != 2:
        raise ValueError(f"shard_sequence: input_ids must be (batch, length), got shape {tuple(input_ids.shape)}")
    if align < 1:
        raise ValueError(f"shard_sequence: align must be >= 1, got {align}")
    rank, world_size = _rank_and_world(rank, world_size)
    mask = torch.ones_like(input_ids, dtype=torch.bool) if attention_mask is None else attention_mask.bool()
    if mask.shape != input_ids.shape:
        raise ValueError(f"shard_sequence: attention_mask shape {tuple(mask.shape)} != input_ids {tuple(input_ids.shape)}")
    size = shard_length(input_ids.shape[1], world_size, align)
    pad = size * world_size - input_ids.shape[1]
    if pad:
        input_ids = F.pad(input_ids, (0, pad))
        mask = F.pad(mask, (0, pad))
    return input_ids[:, rank * size : (rank + 1) * size], mask[:, rank * size : (rank + 1) * size]


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


class _AllGather(torch.autograd.Function):
    """(world, *shape) stack of every rank's tensor. Backward: each rank's loss may use any slot, so the gradient of
    slot r is summed over ranks (all-reduce) and rank r keeps its own slot."""

    @staticmethod
    def forward(ctx, tensor, group, rank, world):
        ctx.group, ctx.rank = group, rank
        tensor = tensor.contiguous()
        flat = tensor.new_empty(world * tensor.numel())
        _collective("all_gather (forward)", group, dist.all_gather_into_tensor, flat, tensor.view(-1))
        return flat.view(world, *tensor.shape)

    @staticmethod
    def backward(ctx, grad):
        grad = grad.contiguous().clone()
        _collective("all_reduce (backward of all_gather)", ctx.group, dist.all_reduce, grad, op=dist.ReduceOp.SUM)
        return grad[ctx.rank], None, None, None


class _AllReduceSum(torch.autograd.Function):
    """Sum over ranks. Backward: every rank's loss depends on the sum, so the input gradient is the sum of the
    ranks' output gradients."""

    @staticmethod
    def forward(ctx, tensor, group):
        ctx.group = group
        out = tensor.contiguous().clone()
        _collective("all_reduce (forward)", group, dist.all_reduce, out, op=dist.ReduceOp.SUM)
        return out

    @staticmethod
    def backward(ctx, grad):
        grad = grad.contiguous().clone()
        _collective("all_reduce (backward)", ctx.group, dist.all_reduce, grad, op=dist.ReduceOp.SUM)
        return grad, None


class SequenceParallelContext:
    """The process group and the collectives of one sequence-parallel model (attached to its mixers and encoder).

    With ``record_stats``, ``correction_stats`` collects, per layer call, (rms of the state correction Δy, rms of the local scan output y⁰)
    as detached floats; :class:`~bytevid_hf.callbacks.SequenceParallelStateCallback` logs and clears them.
    """

    def __init__(self, process_group=None, timeout: float | datetime.timedelta | None = None):
        if not (dist.is_available() and dist.is_initialized()):
            raise RuntimeError(
                "sequence parallelism needs torch.distributed: call torch.distributed.init_process_group('gloo' or "
                "'nccl') first (torchrun / accelerate launch set up the environment)"
            )
        self.group = process_group
        self.rank = dist.get_rank(process_group)
        self.world_size = dist.get_world_size(process_group)
        self.correction_stats: list[tuple[float, float]] = []
        if timeout is not None:  # bound every later collective of the group (a rank that hangs cannot stall the rest)
            set_group_timeout(timeout, process_group)
        self.record_stats = False  # SequenceParallelStateCallback switches it on (and clears the list when logging)

    # -- collectives (differentiable) ----------------------------------------------------------------------------
    def all_gather(self, tensor: torch.Tensor) -> torch.Tensor:
        """(world, *shape): every rank's tensor, stacked. Gradients flow back to the owning rank."""
        if self.world_size == 1:
            return tensor.unsqueeze(0)
        return _AllGather.apply(tensor, self.group, self.rank, self.world_size)

    def all_reduce_sum(self, tensor: torch.Tensor) -> torch.Tensor:
        if self.world_size == 1:
            return tensor
        return _AllReduceSum.apply(tensor, self.group)

    def check_same_input(self, input_ids: torch.Tensor) -> None:
        """Every rank must pass the same full batch: compare shape and a checksum across ranks (one tiny all-reduce)."""
        if self.world_size == 1:
            return
        ids = input_ids.to(torch.int64)
        positions = torch.arange(1, ids.shape[1] + 1, device=ids.device, dtype=torch.int64)
        signature = torch.tensor([ids.shape[0], ids.shape[1], int((ids * positions).sum() % 1_000_000_007)],
                                 dtype=torch.int64, device=ids.device)
        low, high = signature.clone(), signature.clone()
        _collective("input check (all_reduce)", self.group, dist.all_reduce, low, op=dist.ReduceOp.MIN)
        _collective("input check (all_reduce)", self.group, dist.all_reduce, high, op=dist.ReduceOp.MAX)
        if not torch.equal(low, high):
            raise ValueError(
                f"sequence parallelism: rank {self.rank} got input_ids of shape {tuple(input_ids.shape)} that differ "
                "from another rank's; every rank must pass the same full batch (see SubsequenceDataset(replicas=...))"
            )

    # -- one Mamba layer ---------------------------------------------------------------------------------------
    def mixer_forward(self, mixer, hidden_states: torch.Tensor, state: MambaLayerState | None, return_state: bool):
        """Sequence-parallel forward of a ``BytesVideoMambaMixer`` on this rank's shard (B, S, D).

        ``state`` is the state before the first rank's shard (a previous sub-sequence's), identical on every rank.
        Returns the corrected (B, S, D) output and, with ``return_state``, the state after the LAST rank's shard.
        """
        batch, length, _ = hidden_states.shape
        channels, halo = mixer.intermediate_size, mixer.conv_kernel_size - 1
        rank = self.rank

        # Conv halo: the previous positions' conv inputs (x half of in_proj) come from the ranks before this one.
        tail = min(halo, length)
        tails = self.all_gather(hidden_states[:, length - tail :])  # (V, B, t, D)
        # through the module (not its weight), so that a LoRA adapter on in_proj is applied here too
        x_tails = mixer.in_proj(tails)[..., :channels].transpose(2, 3)  # (V, B, E, t)
        if state is None:
            prefix = hidden_states.new_zeros(batch, channels, halo)
        else:
            prefix = state.conv_state.to(hidden_states.dtype)
        parts = [prefix] + list(x_tails.unbind(0))
        # halos[r]: the last `halo` conv inputs before rank r's shard (r = V: after the last shard); stacked so that
        # every rank's graph reaches every gathered tensor (the collectives' backward must run on all ranks).
        halos = torch.stack([torch.cat(parts[: r + 1], dim=-1)[..., -halo:] if halo else prefix[..., :0]
                             for r in range(self.world_size + 1)])
        local_start = MambaLayerState(halos[rank], hidden_states.new_zeros(batch, channels, mixer.ssm_state_size).float())

        # Eq. 1–2: the shard from a zero SSM state.
        extras: dict = {}
        out, local_end = mixer._forward_block(hidden_states, local_start, True, extras)
        delta, A, C, gate = extras["delta"], extras["A"], extras["C"], extras["gate"]

        # Eq. 3: exchange (h^(i), log P^(i)), O(B·E·N) per rank, and scan over ranks.
        local_states = self.all_gather(local_end.ssm_state.float())  # (V, B, E, N)
        log_decays = self.all_gather(shard_log_decay(delta, A))  # (V, B, E, N)
        initial = None if state is None else state.ssm_state.float()
        bounds = torch.stack(boundary_states(list(local_states.unbind(0)), list(log_decays.unbind(0)), initial))
        h_prev = bounds[rank]  # (B, E, N)

        # Eq. 4: y_t += C_t · exp(A·cumΔ_t) · h_prev, pushed through the gate and out_proj (linear in y).
        correction = state_correction(delta, A, C, h_prev)  # (B, E, S) fp32
        gated = correction * mixer.act(gate.float())
        out = out + _without_bias(mixer.out_proj, gated.transpose(1, 2).to(out.dtype))
        if self.record_stats:
            with torch.no_grad():
                self.correction_stats.append((float(correction.square().mean().sqrt()), float(out.square().mean().sqrt())))
        new_state = MambaLayerState(halos[-1], bounds[-1]) if return_state else None
        return out, new_state


def _without_bias(linear: torch.nn.Module, x: torch.Tensor) -> torch.Tensor:
    """``x W^T`` of a linear layer, called as a module so that adapters wrapping it (peft LoRA) contribute."""
    out = linear(x)
    return out if linear.bias is None else out - linear.bias


def _encoder(model):
    from ..modeling.modeling_bytevid import BytesVideoModel

    if isinstance(model, BytesVideoModel):
        return model
    encoder = getattr(model, "bytevid", None)
    if isinstance(encoder, BytesVideoModel):
        return encoder
    raise TypeError(f"enable_sequence_parallel expects a bytevid model, got {type(model).__name__}")


def set_group_timeout(timeout: float | datetime.timedelta, process_group=None) -> None:
    """Bound how long a collective of ``process_group`` (default: the world) waits for the other ranks, in seconds or
    as a ``timedelta``; afterwards it raises (gloo's default is 30 minutes)."""
    if not isinstance(timeout, datetime.timedelta):
        if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or not timeout > 0:
            raise ValueError(f"sequence parallelism: timeout must be a positive number of seconds, got {timeout!r}")
        timeout = datetime.timedelta(seconds=float(timeout))
    set_timeout = getattr(dist, "set_timeout", None) or dist.distributed_c10d._set_pg_timeout
    set_timeout(timeout, process_group)


def enable_sequence_parallel(model, process_group=None, timeout: float | datetime.timedelta | None = None):
    """Make a ``BytesVideoModel`` / ``BytesVideoForClassification`` sequence-parallel over ``process_group`` (default:
    the world). Every rank must then call the model with the same full inputs. ``timeout`` (seconds or timedelta;
    default: the group's own) bounds every collective's wait for the other ranks. Returns the
    :class:`SequenceParallelContext`."""
    encoder = _encoder(model)
    context = SequenceParallelContext(process_group, timeout=timeout)
    encoder.sequence_parallel = context
    for module in encoder.modules():
        if hasattr(module, "sequence_parallel") and module is not encoder:
            module.sequence_parallel = context
    return context


def disable_sequence_parallel(model) -> None:
    """Back to ordinary single-process layers."""
    encoder = _encoder(model)
    for module in encoder.modules():
        if hasattr(module, "sequence_parallel"):
            module.sequence_parallel = None


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
    "DEFAULT_ALIGNMENT",
    "SequenceParallelContext",
    "SequenceParallelError",
    "average_sequence_parallel_gradients",
    "disable_sequence_parallel",
    "enable_sequence_parallel",
    "set_group_timeout",
    "shard_length",
    "shard_sequence",
]
