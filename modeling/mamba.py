"""Mamba layers: RMSNorm, the Mamba mixer and the pre-norm residual block.

Parameter names and shapes follow mamba_ssm's ``Mamba`` and transformers' ``MambaMixer`` (``in_proj``, ``conv1d``,
``x_proj``, ``dt_proj``, ``A_log``, ``D``, ``out_proj``), so weights are interchangeable with both.

State is explicit: a mixer call starts from the :class:`MambaLayerState` it is given (zeros when ``None``) and, when
asked, returns the state after its last position. Nothing is kept on the module between calls.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import nn
from transformers import initialization as init
from transformers.activations import ACT2FN
from torch.utils.checkpoint import checkpoint

from .scan import resolve_scan_backend, selective_scan
from .scan_c import c_conv_forward
from .state_correction import segment_log_decay


class MambaLayerState(NamedTuple):
    """Recurrent state of one mixer after some prefix of the sequence.

    conv_state: (B, E, conv_kernel - 1), the last inputs of the causal convolution (pre-activation).
    ssm_state:  (B, E, N), the SSM state h, in fp32.
    """

    conv_state: torch.Tensor
    ssm_state: torch.Tensor

    def detach(self) -> "MambaLayerState":
        return MambaLayerState(self.conv_state.detach(), self.ssm_state.detach())


class BytesVideoRMSNorm(nn.Module):
    """RMSNorm over the last dimension, computed in fp32."""

    def __init__(self, hidden_size: int, eps: float = 1e-5):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(hidden_size))
        self.variance_epsilon = eps

    def forward(self, hidden_states: torch.Tensor) -> torch.Tensor:
        input_dtype = hidden_states.dtype
        hidden_states = hidden_states.to(torch.float32)
        variance = hidden_states.pow(2).mean(-1, keepdim=True)
        hidden_states = hidden_states * torch.rsqrt(variance + self.variance_epsilon)
        return self.weight * hidden_states.to(input_dtype)

    def extra_repr(self) -> str:
        return f"{tuple(self.weight.shape)}, eps={self.variance_epsilon}"


class BytesVideoMambaMixer(nn.Module):
    """One Mamba (S6) mixer at a given width: in_proj → causal depthwise conv → selective scan → gate → out_proj.

    Sequences longer than ``config.mixer_block_size`` run block by block, each block starting from the previous
    block's conv and SSM state (the same result as one pass), which keeps every temporary O(block). With activation
    checkpointing on (``model.activation_checkpointing_enable()``, which sets ``gradient_checkpointing`` here) each
    block is checkpointed during training: only its input and starting state are kept and its intermediates are
    recomputed in backward, so a layer's training memory is O(L·D) plus O(block) instead of ~20 (B, L, E) tensors.
    That is this model's one activation-checkpointing mechanism for Mamba layers.

    Args:
        config: a ``BytesVideoConfig``.
        hidden_size: the width of the level this mixer runs at.
    """

    gradient_checkpointing = False  # switched by PreTrainedModel.activation_checkpointing_enable()

    def __init__(self, config, hidden_size: int):
        super().__init__()
        self.config = config
        self.hidden_size = hidden_size
        self.intermediate_size = config.expand * hidden_size
        self.ssm_state_size = config.state_size
        self.conv_kernel_size = config.conv_kernel
        self.time_step_rank = config.time_step_rank_for(hidden_size)
        self.act = ACT2FN[config.hidden_act]
        self.activation = config.hidden_act

        self.in_proj = nn.Linear(hidden_size, self.intermediate_size * 2, bias=config.use_bias)
        self.conv1d = nn.Conv1d(
            self.intermediate_size,
            self.intermediate_size,
            kernel_size=config.conv_kernel,
            groups=self.intermediate_size,
            padding=config.conv_kernel - 1,
            bias=config.use_conv_bias,
        )
        self.x_proj = nn.Linear(self.intermediate_size, self.time_step_rank + self.ssm_state_size * 2, bias=False)
        self.dt_proj = nn.Linear(self.time_step_rank, self.intermediate_size, bias=True)
        self.A_log = nn.Parameter(torch.empty(self.intermediate_size, self.ssm_state_size))
        self.D = nn.Parameter(torch.empty(self.intermediate_size))
        self.out_proj = nn.Linear(self.intermediate_size, hidden_size, bias=config.use_bias)

    @torch.no_grad()
    def init_mamba_weights(self, num_residual_blocks: int) -> None:
        """Mamba's standard initialisation (S4D-real A, log-uniform Δ, unit D), honouring already-loaded weights."""
        cfg = self.config
        A = torch.arange(1, self.ssm_state_size + 1, dtype=torch.float32, device=self.A_log.device)
        init.copy_(self.A_log, torch.log(A)[None, :].expand(self.intermediate_size, -1))
        init.ones_(self.D)
        dt_init_std = self.time_step_rank**-0.5 * cfg.time_step_scale
        init.uniform_(self.dt_proj.weight, -dt_init_std, dt_init_std)
        dt = torch.exp(
            torch.rand(self.intermediate_size, device=self.dt_proj.bias.device, dtype=torch.float32)
            * (math.log(cfg.time_step_max) - math.log(cfg.time_step_min))
            + math.log(cfg.time_step_min)
        ).clamp(min=cfg.time_step_floor)
        init.copy_(self.dt_proj.bias, dt + torch.log(-torch.expm1(-dt)))  # inverse softplus
        init.kaiming_uniform_(self.conv1d.weight, a=math.sqrt(5))
        if self.conv1d.bias is not None:
            init.zeros_(self.conv1d.bias)
        # kaiming-uniform bound for out_proj, divided by sqrt(#blocks) when rescaling the prenorm residual (GPT-2 style)
        bound = 1.0 / math.sqrt(self.intermediate_size)
        if cfg.rescale_prenorm_residual:
            bound /= math.sqrt(num_residual_blocks)
        init.uniform_(self.out_proj.weight, -bound, bound)

    # ------------------------------------------------------------------------------------------------------------
    # Public API: forward from a state, and a segment's state transition (what sequence parallelism exchanges)
    # ------------------------------------------------------------------------------------------------------------
    def forward(
        self, hidden_states: torch.Tensor, state: MambaLayerState | None = None, return_state: bool = False
    ) -> tuple[torch.Tensor, MambaLayerState | None]:
        """(B, L, D) → (B, L, D), starting from ``state`` (zeros when ``None``); with ``return_state`` also the state
        after the last position (else ``None``)."""
        batch, length, _ = hidden_states.shape
        conv_state, ssm_state = (None, None) if state is None else state
        if length == 0:
            out = hidden_states.new_zeros(batch, 0, self.hidden_size)
            return out, (self._state_or_zeros(hidden_states, conv_state, ssm_state) if return_state else None)
        outputs = []  # (B, block, D) each
        for block, last in self._blocks(hidden_states):
            need_state = return_state or not last
            out, conv_state, ssm_state = self._maybe_checkpoint(
                self._run_block, block, conv_state, ssm_state, need_state
            )
            outputs.append(out)
        out = outputs[0] if len(outputs) == 1 else torch.cat(outputs, dim=1)
        return out, (MambaLayerState(conv_state, ssm_state) if return_state else None)

    def state_transition(
        self, hidden_states: torch.Tensor, conv_state: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """The affine map h ↦ P·h + h⁰ this segment applies to the SSM state (paper Eq. 1–3).

        Runs the segment (B, L, D) from ``conv_state`` (zeros when ``None``) and a zero SSM state and returns
        ``(log P, h⁰)``, both (B, E, N) fp32: log P = A·ΣΔ is the segment's total log decay and h⁰ its final state
        from zero. The layer's outputs are not computed."""
        batch = hidden_states.shape[0]
        log_decay = hidden_states.new_zeros(batch, self.intermediate_size, self.ssm_state_size, dtype=torch.float32)
        state = torch.zeros_like(log_decay)
        for block, last in self._blocks(hidden_states):
            block_log_decay, block_state, conv_state = self._maybe_checkpoint(
                self._transition_block, block, conv_state, not last
            )
            state = torch.exp(block_log_decay) * state + block_state  # Eq. 3 between blocks
            log_decay = log_decay + block_log_decay
        return log_decay, state

    def conv_inputs(self, hidden_states: torch.Tensor) -> torch.Tensor:
        """The causal convolution's inputs (B, E, L) for (B, L, D) hidden states: a :class:`MambaLayerState`'s
        ``conv_state`` holds the last ``conv_kernel - 1`` of them."""
        return self.in_proj(hidden_states)[..., : self.intermediate_size].transpose(1, 2)

    def empty_state(self, reference: torch.Tensor) -> MambaLayerState:
        """Zero state for a batch of ``reference``'s size, device and dtype."""
        return self._state_or_zeros(reference, None, None)

    # ------------------------------------------------------------------------------------------------------------
    def _state_or_zeros(self, reference, conv_state, ssm_state) -> MambaLayerState:
        batch = reference.shape[0]
        if conv_state is None:
            conv_state = reference.new_zeros(batch, self.intermediate_size, self.conv_kernel_size - 1)
        if ssm_state is None:
            ssm_state = reference.new_zeros(batch, self.intermediate_size, self.ssm_state_size, dtype=torch.float32)
        return MambaLayerState(conv_state, ssm_state)

    def _blocks(self, hidden_states: torch.Tensor) -> list[tuple[torch.Tensor, bool]]:
        """[(block (B, ≤ block size, D), is_last)] for the blocks of ``config.mixer_block_size`` positions (one block
        when 0). One ``split``, not a slice per block: in backward a slice's gradient is a zero tensor of the whole
        input's size (B, L, D) with the block filled in, so per-block slices would cost O(L²/block) time and memory
        traffic; ``split``'s backward concatenates the blocks' gradients once."""
        length = hidden_states.shape[1]
        if length == 0:
            return []
        blocks = torch.split(hidden_states, self.config.mixer_block_size or length, dim=1)
        return [(block, index == len(blocks) - 1) for index, block in enumerate(blocks)]

    def _maybe_checkpoint(self, function, *args):
        if self.gradient_checkpointing and self.training and torch.is_grad_enabled():
            return getattr(self, "_gradient_checkpointing_func", _checkpoint)(function, *args)
        return function(*args)

    def _prepare(self, hidden_states, conv_state, return_conv_state: bool):
        """in_proj → causal conv (from ``conv_state``) → activation → x_proj, dt_proj. Returns the scan inputs
        x, delta, gate (B, E, T), B, C (B, N, T) and the new conv state (or ``None``).

        On the C backend (fp32 CPU, silu) the conv + SiLU is one kernel and every tensor stays time-major: gate,
        delta, B and C are transposed views of the (B, T, ·) outputs of in_proj, x_proj and dt_proj, x is stored
        time-major by the conv kernel, and the C scan reads them all in place."""
        xz = self.in_proj(hidden_states)  # (B, T, 2E)
        x, gate = xz.transpose(1, 2).chunk(2, dim=1)  # (B, E, T) each
        if self._c_kernels(xz):
            x_state = None if conv_state is None else conv_state.to(x.dtype)
            x, new_conv_state = c_conv_forward(x, self.conv1d.weight[:, 0], self.conv1d.bias, x_state, return_conv_state)
            dt, B, C = torch.split(
                self.x_proj(x.transpose(1, 2)), [self.time_step_rank, self.ssm_state_size, self.ssm_state_size], dim=-1
            )
            delta = self.dt_proj(dt).transpose(1, 2)  # through the module (with its bias): LoRA on dt_proj applies
            # the new conv state is a copy (B, E, K - 1), not a view of the block
            return x, delta, gate, B.transpose(1, 2), C.transpose(1, 2), new_conv_state if return_conv_state else None
        kernel = self.conv_kernel_size
        if conv_state is None:
            x_padded = F.pad(x, (kernel - 1, 0))
        else:
            x_padded = torch.cat((conv_state.to(x.dtype), x), dim=-1)
        # a copy, not a view: a view would keep the whole (B, E, T) block alive wherever the state is kept (in the
        # cache, or saved for backward between checkpointed blocks)
        new_conv_state = x_padded[..., x_padded.shape[-1] - (kernel - 1) :].clone() if return_conv_state else None
        x = self.act(F.conv1d(x_padded, self.conv1d.weight, self.conv1d.bias, groups=self.intermediate_size))
        ssm_params = self.x_proj(x.transpose(1, 2))  # (B, T, R + 2N)
        dt, B, C = torch.split(ssm_params, [self.time_step_rank, self.ssm_state_size, self.ssm_state_size], dim=-1)
        # through the module (with its bias), so that a LoRA adapter on dt_proj applies; softplus in the scan
        delta = self.dt_proj(dt).transpose(1, 2)  # (B, E, T)
        return x, delta, gate, B.transpose(1, 2), C.transpose(1, 2), new_conv_state

    def _c_kernels(self, xz) -> bool:
        """Whether this block runs on the C kernels: the scan resolves to the C backend and the layer is fp32 CPU
        with the silu activation the conv kernel fuses."""
        return (xz.device.type == "cpu" and xz.dtype == torch.float32 and self.activation in ("silu", "swish")
                and resolve_scan_backend(self.config.ssm_backend, "cpu") == "c")

    def _run_block(self, hidden_states, conv_state, ssm_state, return_state: bool):
        """One pass over (B, T, D) from (conv_state, ssm_state). Returns (B, T, D) and the new states (or Nones)."""
        x, delta, gate, B, C, new_conv_state = self._prepare(hidden_states, conv_state, return_state)
        silu_gate = self.activation in ("silu", "swish")  # the scan's gate is silu; other activations gate here
        y, final_state = selective_scan(
            x, delta, -torch.exp(self.A_log.float()), B, C, D=self.D, z=gate if silu_gate else None,
            delta_softplus=True, initial_state=ssm_state, return_final_state=return_state,
            backend=self.config.ssm_backend,
        )  # (B, E, T) in x's dtype
        if not silu_gate:
            y = (y.float() * self.act(gate.float())).to(x.dtype)
        return self.out_proj(y.transpose(1, 2)), new_conv_state, final_state

    def _transition_block(self, hidden_states, conv_state, return_conv_state: bool):
        x, delta, _, B, C, new_conv_state = self._prepare(hidden_states, conv_state, return_conv_state)
        A = -torch.exp(self.A_log.float())
        _, local_state = selective_scan(
            x, delta, A, B, C, delta_softplus=True, return_final_state=True, backend=self.config.ssm_backend
        )
        return segment_log_decay(F.softplus(delta.float()), A), local_state, new_conv_state


def _checkpoint(function, *args):
    return checkpoint(function, *args, use_reentrant=False)


class BytesVideoMambaBlock(nn.Module):
    """Pre-norm residual block: ``x + mixer(norm(x))``."""

    def __init__(self, config, hidden_size: int):
        super().__init__()
        self.norm = BytesVideoRMSNorm(hidden_size, eps=config.layer_norm_epsilon)
        self.mixer = BytesVideoMambaMixer(config, hidden_size)

    def forward(
        self, hidden_states: torch.Tensor, state: MambaLayerState | None = None, return_state: bool = False
    ) -> tuple[torch.Tensor, MambaLayerState | None]:
        mixed, new_state = self.mixer(self.norm(hidden_states), state=state, return_state=return_state)
        return hidden_states + mixed, new_state


def build_block(config, level: int, width: int) -> nn.Module:
    """The Mamba block of ``level`` (the mixer registry's builder for ``mixer_type="mamba"`` / ``"mamba_flat"``)."""
    return BytesVideoMambaBlock(config, width)


__all__ = ["BytesVideoRMSNorm", "BytesVideoMambaMixer", "BytesVideoMambaBlock", "MambaLayerState", "build_block"]
