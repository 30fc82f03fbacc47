"""Mamba layers: RMSNorm, the Mamba mixer and the pre-norm residual block.

Parameter names and shapes follow mamba_ssm's ``Mamba`` and transformers' ``MambaMixer`` (``in_proj``, ``conv1d``,
``x_proj``, ``dt_proj``, ``A_log``, ``D``, ``out_proj``), so weights are interchangeable with both.
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
from transformers.modeling_layers import GradientCheckpointingLayer

from .scan import cuda_backend_available, load_cuda_kernels, selective_scan


class MambaLayerState(NamedTuple):
    """Recurrent state of one mixer after some prefix of the sequence.

    conv_state: (B, E, conv_kernel - 1), the last inputs of the causal convolution (pre-activation).
    ssm_state:  (B, E, N), the SSM state h, in fp32.
    """

    conv_state: torch.Tensor
    ssm_state: torch.Tensor


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

    Args:
        config: a ``BytesVideoConfig``.
        hidden_size: the width of the level this mixer runs at.
    """

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
        # Sequence-parallel context (bytevid_hf.parallel); None = ordinary single-process layer.
        self.sequence_parallel = None

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

    def _use_cuda_kernels(self, hidden_states: torch.Tensor, state: MambaLayerState | None) -> bool:
        backend = self.config.ssm_backend
        if backend == "torch":
            return False
        available = hidden_states.is_cuda and cuda_backend_available()
        if backend == "cuda" and not available:
            raise RuntimeError(
                "ssm_backend='cuda' needs CUDA tensors and the mamba-ssm + causal-conv1d kernels "
                "(pip install 'bytevid-hf[cuda]'); use ssm_backend='auto' or 'torch' on CPU"
            )
        # mamba-ssm's fused kernel starts from a zero state: carried state goes through the torch scan.
        return available and state is None

    def forward(
        self,
        hidden_states: torch.Tensor,
        state: MambaLayerState | None = None,
        return_state: bool = False,
    ) -> tuple[torch.Tensor, MambaLayerState | None]:
        """hidden_states: (B, L, D). ``state`` continues a previous call (streaming). Returns (B, L, D) and the new
        state when ``return_state``.

        On the torch/C path, sequences longer than ``config.mixer_block_size`` run block by block, each block starting
        from the previous block's conv and SSM state (exactly the same result as one pass). Every temporary is then
        O(block) instead of O(L), which keeps them in cache (faster on CPU) and, under autograd, each block is
        checkpointed: only its input and its starting state are kept, and its intermediates are recomputed during
        backward, so training memory per layer is O(L·D) for the input plus O(block) — not ~20 (B, L, E) tensors.
        """
        if self.sequence_parallel is not None:  # set by bytevid_hf.parallel.enable_sequence_parallel
            return self.sequence_parallel.mixer_forward(self, hidden_states, state, return_state)
        if state is None and not return_state and self._use_cuda_kernels(hidden_states, state):
            return self._forward_cuda_kernels(hidden_states), None
        block = self.config.mixer_block_size
        length = hidden_states.shape[1]
        track_grad = torch.is_grad_enabled() and (
            hidden_states.requires_grad or any(p.requires_grad for p in self.parameters())
        )
        if not block or (length <= block and not track_grad):
            return self._forward_block(hidden_states, state, return_state)
        outputs = []  # (B, block, D) each
        for start in range(0, length, block):
            piece = hidden_states[:, start : start + block]
            need_state = return_state or start + block < length
            if track_grad:
                out, state = checkpoint(self._forward_block, piece, state, need_state, use_reentrant=False)
            else:
                out, state = self._forward_block(piece, state, need_state)
            outputs.append(out)
        return torch.cat(outputs, dim=1), (state if return_state else None)

    def _forward_block(
        self,
        hidden_states: torch.Tensor,
        state: MambaLayerState | None,
        return_state: bool,
        extras: dict | None = None,
    ) -> tuple[torch.Tensor, MambaLayerState | None]:
        """One pass of the torch/C path over (B, T, D), from ``state`` (or zeros). When ``extras`` is a dict it
        receives ``delta`` (B, E, T), ``A`` (E, N), ``C`` (B, N, T) and ``gate`` (B, E, T), which the sequence-parallel
        state correction needs."""
        batch, length, _ = hidden_states.shape
        projected = self.in_proj(hidden_states).transpose(1, 2)  # (B, 2E, L)
        x, gate = projected.chunk(2, dim=1)  # (B, E, L) each

        # Causal depthwise conv: the previous positions come from the carried state, else zeros.
        kernel = self.conv_kernel_size
        if state is None:
            x_padded = F.pad(x, (kernel - 1, 0))
        else:
            x_padded = torch.cat((state.conv_state.to(x.dtype), x), dim=-1)
        new_conv_state = x_padded[..., x_padded.shape[-1] - (kernel - 1) :] if return_state else None
        x = F.conv1d(x_padded, self.conv1d.weight, self.conv1d.bias, groups=self.intermediate_size)  # (B, E, L)
        x = self.act(x)

        ssm_params = self.x_proj(x.transpose(1, 2))  # (B, L, R + 2N)
        dt, B, C = torch.split(ssm_params, [self.time_step_rank, self.ssm_state_size, self.ssm_state_size], dim=-1)
        delta = F.softplus(self.dt_proj(dt).float()).transpose(1, 2)  # (B, E, L), fp32
        A = -torch.exp(self.A_log.float())  # (E, N)
        y, final_state = selective_scan(
            x,
            delta,
            A,
            B.transpose(1, 2),
            C.transpose(1, 2),
            initial_state=None if state is None else state.ssm_state,
            chunk_size=self.config.scan_chunk_size,
        )  # y: (B, E, L) fp32
        if extras is not None:
            extras.update(delta=delta, A=A, C=C.transpose(1, 2), gate=gate)
        y = y + x.float() * self.D.float()[:, None]
        y = (y * self.act(gate.float())).to(hidden_states.dtype)
        out = self.out_proj(y.transpose(1, 2))  # (B, L, D)
        new_state = MambaLayerState(new_conv_state, final_state) if return_state else None
        return out, new_state


    def _forward_cuda_kernels(self, hidden_states: torch.Tensor) -> torch.Tensor:
        """mamba-ssm path on CUDA tensors: (B, L, D) → (B, L, D), from a zero state. Same math as the torch path."""
        causal_conv1d_fn, selective_scan_fn = load_cuda_kernels()
        x, gate = self.in_proj(hidden_states).transpose(1, 2).chunk(2, dim=1)  # (B, E, L) each
        weight = self.conv1d.weight.view(self.intermediate_size, self.conv_kernel_size)
        x = causal_conv1d_fn(x.contiguous(), weight, self.conv1d.bias, activation=self.activation)
        ssm_params = self.x_proj(x.transpose(1, 2))  # (B, L, R + 2N)
        dt, B, C = torch.split(ssm_params, [self.time_step_rank, self.ssm_state_size, self.ssm_state_size], dim=-1)
        # dt_proj without its bias (the kernel adds it); through the module so that a LoRA adapter on it applies
        dt = (self.dt_proj(dt) - self.dt_proj.bias).transpose(1, 2)  # (B, E, L)
        y = selective_scan_fn(
            x,
            dt.contiguous(),
            -torch.exp(self.A_log.float()),
            B.transpose(1, 2).contiguous(),
            C.transpose(1, 2).contiguous(),
            self.D.float(),
            z=gate.contiguous(),
            delta_bias=self.dt_proj.bias.float(),
            delta_softplus=True,
        )  # (B, E, L)
        return self.out_proj(y.transpose(1, 2).to(x.dtype))


class BytesVideoMambaBlock(GradientCheckpointingLayer):
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


__all__ = ["BytesVideoRMSNorm", "BytesVideoMambaMixer", "BytesVideoMambaBlock", "MambaLayerState"]
