"""RGB reconstruction with the multilevel backbone (self-supervised pre-training, paper Table 10).

[`BytesVideoForRGBReconstruction`] reads a video's encoded bytes and reconstructs ``reconstruction_frames`` RGB
frames of ``reconstruction_size``² pixels from them, trained with the MSE against the decoded frames:

1. the backbone's last level (B, L_last, D_last), after its final norm, is attention-pooled into F'·H'·W' tokens
   (``config.reconstruction_tokens``): one learned query per token cross-attends over the real last-level
   positions (``scaled_dot_product_attention``, padding masked out), and the query is added back (residual);
2. the tokens are projected to the decoder width and laid out as a (D, F', H', W') grid;
3. a small UNet-style 3-D convolutional decoder upsamples the grid stage by stage (×2 per axis per stage, the last
   stage interpolating to the exact size) to ``reconstruction_frames`` × ``reconstruction_size``²: every stage is an
   upsampling with a projected shortcut followed by a residual block (per-voxel channel LayerNorm, SiLU, 3×3×3
   convolutions), and a skip connection carries the token grid (projected, upsampled) to every stage;
4. a 3-channel convolution and a sigmoid give frames in [0, 1], returned as (B, T, 3, H, W).

Padding never changes a real video's reconstruction: the last level is causal in its positions and padded positions
are excluded from the attention. Targets come from ``bytevid_hf.processing.frames.sample_frames`` /
``RGBReconstructionCollator``.

The backbone lives under ``bytevid`` like in [`BytesVideoForClassification`], so a pre-trained checkpoint loads
into the classifier with ``from_pretrained`` (only the classification head is new).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn
from transformers import initialization as init
from transformers.utils import ModelOutput

from .configuration_bytevid import BytesVideoConfig
from .modeling_bytevid import BytesVideoModel, BytesVideoPreTrainedModel
from .token_pooling import BytesVideoTokenPooling

#: Narrowest decoder stage (channels), unless ``reconstruction_hidden_size`` itself is smaller.
MIN_DECODER_WIDTH = 16


@dataclass
class BytesVideoRGBReconstructionOutput(ModelOutput):
    """Output of [`BytesVideoForRGBReconstruction`].

    Args:
        loss (`torch.FloatTensor` of shape `()`, *optional*): mean squared error between ``reconstruction`` and
            ``pixel_values`` over all pixels, channels and frames; returned when `pixel_values` are given.
        reconstruction (`torch.FloatTensor` of shape `(batch_size, reconstruction_frames, 3, reconstruction_size,
            reconstruction_size)`): the reconstructed RGB frames in [0, 1].
        hidden_states (`tuple(torch.FloatTensor)`, *optional*): the backbone's, as in `BytesVideoModelOutput`.
    """

    loss: torch.FloatTensor | None = None
    reconstruction: torch.FloatTensor | None = None
    hidden_states: tuple[torch.FloatTensor, ...] | None = None


def decoder_stage_sizes(start: tuple[int, ...], end: tuple[int, ...]) -> list[tuple[int, ...]]:
    """Sizes after each upsampling stage from ``start`` to ``end`` (both (T, H, W)): every stage doubles each axis
    that has not reached its end size, the last stage lands exactly on ``end``. ``[]`` when ``start == end``."""
    stages = max(math.ceil(math.log2(e / s)) for s, e in zip(start, end))
    sizes = [tuple(min(e, s * 2**i) for s, e in zip(start, end)) for i in range(1, stages + 1)]
    if sizes:
        sizes[-1] = tuple(end)
    return sizes


class BytesVideoChannelLayerNorm3d(nn.Module):
    """LayerNorm over the channels of each voxel of a (B, C, T, H, W) tensor.

    Unlike GroupNorm/InstanceNorm it never normalises over positions, so a video-wide component of the token grid
    (what every token attends to alike, e.g. at initialisation) is not subtracted away, and each voxel's output
    depends on that voxel alone."""

    def __init__(self, width: int, eps: float = 1e-5):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(width))
        self.bias = nn.Parameter(torch.zeros(width))
        self.eps = eps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        normed = nn.functional.layer_norm(x.movedim(1, -1), self.weight.shape, self.weight, self.bias, self.eps)
        return normed.movedim(-1, 1)


class BytesVideoResidualBlock3d(nn.Module):
    """``x + conv(act(norm(conv(act(norm(x))))))`` with 3×3×3 convolutions."""

    def __init__(self, width: int):
        super().__init__()
        self.norm1 = BytesVideoChannelLayerNorm3d(width)
        self.conv1 = nn.Conv3d(width, width, 3, padding=1)
        self.norm2 = BytesVideoChannelLayerNorm3d(width)
        self.conv2 = nn.Conv3d(width, width, 3, padding=1)
        self.act = nn.SiLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.conv2(self.act(self.norm2(self.conv1(self.act(self.norm1(x))))))


class BytesVideoUpsampleStage(nn.Module):
    """Upsample (trilinear) to ``size``, change the width with a projected shortcut, add the token-grid skip, then a
    residual block: (B, C_in, ...) → (B, C_out, *size)."""

    def __init__(self, in_width: int, out_width: int, size: tuple[int, int, int]):
        super().__init__()
        self.size = tuple(size)
        self.norm = BytesVideoChannelLayerNorm3d(in_width)
        self.conv = nn.Conv3d(in_width, out_width, 3, padding=1)
        self.shortcut = nn.Conv3d(in_width, out_width, 1)
        self.block = BytesVideoResidualBlock3d(out_width)
        self.act = nn.SiLU()

    def forward(self, x: torch.Tensor, skip: torch.Tensor) -> torch.Tensor:
        x = nn.functional.interpolate(x, size=self.size, mode="trilinear", align_corners=False)
        x = self.shortcut(x) + self.conv(self.act(self.norm(x)))
        return self.block(x + skip)


class BytesVideoRGBDecoder(nn.Module):
    """UNet-style 3-D decoder: token grid (B, C0, F', H', W') → frames (B, 3, T, S, S) in [0, 1]."""

    def __init__(self, config: BytesVideoConfig):
        super().__init__()
        start = tuple(config.reconstruction_tokens)
        end = (config.reconstruction_frames, config.reconstruction_size, config.reconstruction_size)
        width = config.reconstruction_hidden_size
        floor = min(MIN_DECODER_WIDTH, width)
        sizes = decoder_stage_sizes(start, end)
        widths = [max(width // 2**i, floor) for i in range(len(sizes) + 1)]
        self.stage_sizes = sizes
        self.stage_widths = widths
        self.input_block = BytesVideoResidualBlock3d(widths[0])
        self.stages = nn.ModuleList(
            BytesVideoUpsampleStage(widths[i], widths[i + 1], size) for i, size in enumerate(sizes)
        )
        # Skip connections: the token grid, projected at its own resolution and upsampled, enters every stage.
        self.skips = nn.ModuleList(nn.Conv3d(widths[0], widths[i + 1], 1) for i in range(len(sizes)))
        self.out_norm = BytesVideoChannelLayerNorm3d(widths[-1])
        self.out_conv = nn.Conv3d(widths[-1], 3, 3, padding=1)
        self.act = nn.SiLU()

    def forward(self, grid: torch.Tensor) -> torch.Tensor:
        x = self.input_block(grid)
        for stage, skip in zip(self.stages, self.skips):
            skip_x = nn.functional.interpolate(skip(grid), size=stage.size, mode="trilinear", align_corners=False)
            x = stage(x, skip_x)
        return torch.sigmoid(self.out_conv(self.act(self.out_norm(x))))  # (B, 3, T, S, S)


class BytesVideoForRGBReconstruction(BytesVideoPreTrainedModel):
    """Multilevel SSM with an RGB-reconstruction head (self-supervised pre-training on encoded videos).

    Inputs: ``input_ids`` (B, L) encoded bytes and ``attention_mask`` (right-padded), as for the classifier, and
    optionally ``pixel_values`` (B, ``reconstruction_frames``, 3, ``reconstruction_size``, ``reconstruction_size``),
    float in [0, 1] (what ``RGBReconstructionCollator`` produces), for the MSE loss.

    The whole input always runs through one forward (the decoder attends over every last-level position).
    With ``Trainer``, ``forward(return_loss=True)`` lets evaluation report ``eval_loss`` although the model has no
    ``labels`` argument; use ``prediction_loss_only=True`` unless you want every reconstruction gathered.
    """

    # forward ignores `num_items_in_batch`: Trainer must scale the loss by the gradient-accumulation steps itself.
    accepts_loss_kwargs = False

    def __init__(self, config: BytesVideoConfig):
        super().__init__(config)
        self.bytevid = BytesVideoModel(config)
        grid = tuple(config.reconstruction_tokens)
        self.token_grid = grid
        self.token_pooling = BytesVideoTokenPooling(config.output_size, math.prod(grid))
        self.token_proj = nn.Linear(config.output_size, config.reconstruction_hidden_size)
        self.decoder = BytesVideoRGBDecoder(config)
        self.post_init()

    @torch.no_grad()
    def _init_weights(self, module):
        super()._init_weights(module)  # Linear: normal(initializer_range); LayerNorm: ones/zeros; conv: see below
        if isinstance(module, BytesVideoTokenPooling):
            init.normal_(module.queries, mean=0.0, std=self.config.initializer_range)
        elif isinstance(module, nn.Conv3d):
            # Variance-preserving (LayerNorm + SiLU decoder); normal(0.02) would shrink the signal at every stage.
            init.kaiming_normal_(module.weight, mode="fan_in", nonlinearity="linear")
            if module.bias is not None:
                init.zeros_(module.bias)

    @property
    def expected_pixel_shape(self) -> tuple[int, int, int, int]:
        """(T, 3, H, W) of one video's target frames."""
        c = self.config
        return (c.reconstruction_frames, 3, c.reconstruction_size, c.reconstruction_size)

    def forward(
        self,
        input_ids: torch.Tensor | None = None,
        attention_mask: torch.Tensor | None = None,
        pixel_values: torch.Tensor | None = None,
        output_hidden_states: bool | None = None,
        return_dict: bool | None = None,
        return_loss: bool = True,
        **kwargs,
    ) -> BytesVideoRGBReconstructionOutput | tuple:
        """Reconstruct the frames of (B, L) byte sequences; the loss is computed when ``pixel_values`` are given
        (and ``return_loss`` is true)."""
        return_dict = return_dict if return_dict is not None else self.config.return_dict
        output_hidden_states = (
            output_hidden_states if output_hidden_states is not None else self.config.output_hidden_states
        )
        if input_ids is None:
            raise ValueError("BytesVideoForRGBReconstruction needs input_ids: (batch, length) uint8 encoded video bytes")
        if pixel_values is not None:
            self._check_pixel_values(pixel_values, input_ids.shape[0])

        # Last level after the final norm (B, L_last, D_last) and which of its positions are real (B, L_last).
        outputs = self.bytevid(
            input_ids, attention_mask=attention_mask, output_hidden_states=output_hidden_states, return_dict=True
        )
        hidden, last_mask, all_hidden = outputs.last_hidden_state, outputs.attention_mask.bool(), outputs.hidden_states
        tokens = self.token_proj(self.token_pooling(hidden, last_mask))  # (B, N, C0)
        batch = tokens.shape[0]
        grid = tokens.transpose(1, 2).reshape(batch, tokens.shape[-1], *self.token_grid)  # (B, C0, F', H', W')
        reconstruction = self.decoder(grid).transpose(1, 2)  # (B, T, 3, S, S)

        loss = None
        if pixel_values is not None and return_loss:
            loss = nn.functional.mse_loss(reconstruction.float(), pixel_values.to(reconstruction.device).float())
        if not return_dict:
            return tuple(v for v in (loss, reconstruction, all_hidden) if v is not None)
        return BytesVideoRGBReconstructionOutput(loss=loss, reconstruction=reconstruction, hidden_states=all_hidden)

    def _check_pixel_values(self, pixel_values: torch.Tensor, batch: int) -> None:
        expected = (batch, *self.expected_pixel_shape)
        names = "(batch_size, reconstruction_frames, 3, reconstruction_size, reconstruction_size)"
        if not isinstance(pixel_values, torch.Tensor):
            raise TypeError(f"pixel_values must be a torch.Tensor of shape {names} = {expected}, "
                            f"got {type(pixel_values).__name__}")
        if tuple(pixel_values.shape) != expected:
            raise ValueError(f"pixel_values must have shape {names} = {expected}, got {tuple(pixel_values.shape)}")
        if not pixel_values.dtype.is_floating_point:
            raise TypeError(f"pixel_values must be floating point in [0, 1] (e.g. uint8 frames / 255), "
                            f"got {pixel_values.dtype}")
        if pixel_values.numel() and (float(pixel_values.min()) < 0.0 or float(pixel_values.max()) > 1.0):
            raise ValueError(f"pixel_values must be in [0, 1], got values in [{float(pixel_values.min()):.4g}, "
                             f"{float(pixel_values.max()):.4g}] (uint8 frames must be divided by 255)")


__all__ = [
    "BytesVideoForRGBReconstruction",
    "BytesVideoRGBReconstructionOutput",
    "BytesVideoChannelLayerNorm3d",
    "BytesVideoRGBDecoder",
    "decoder_stage_sizes",
]
