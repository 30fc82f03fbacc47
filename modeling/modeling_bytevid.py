"""The multilevel byte-level Mamba video model: backbone and classification head (paper Sec. 3, Fig. 1–2)."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn
from torch.nn import BCEWithLogitsLoss, CrossEntropyLoss, MSELoss
from transformers import PreTrainedModel
from transformers import initialization as init
from transformers.utils import ModelOutput

from ..configuration_bytevid import BytesVideoConfig
from .mamba import BytesVideoMambaBlock, BytesVideoMambaMixer, BytesVideoRMSNorm
from .pooling import BytesVideoPooling


@dataclass
class BytesVideoModelOutput(ModelOutput):
    """Output of [`BytesVideoModel`].

    Args:
        last_hidden_state (`torch.FloatTensor` of shape `(batch_size, last_level_length, output_size)`):
            The last level after the final norm. ``last_level_length = ceil(L / total_pool_factor)``.
        pooler_output (`torch.FloatTensor` of shape `(batch_size, output_size)`):
            Masked mean of ``last_hidden_state`` over real positions: the video representation.
        attention_mask (`torch.BoolTensor` of shape `(batch_size, last_level_length)`):
            Which last-level positions hold real (not padding) content.
        hidden_states (`tuple(torch.FloatTensor)`, *optional*, returned when `output_hidden_states=True`):
            The byte embeddings followed by each level's output (before pooling), at the internally padded lengths
            ``L_pad / pool_size**i`` with ``L_pad`` the input length rounded up to ``total_pool_factor``.
    """

    last_hidden_state: torch.FloatTensor | None = None
    pooler_output: torch.FloatTensor | None = None
    attention_mask: torch.BoolTensor | None = None
    hidden_states: tuple[torch.FloatTensor, ...] | None = None


@dataclass
class BytesVideoClassifierOutput(ModelOutput):
    """Output of [`BytesVideoForClassification`].

    Args:
        loss (`torch.FloatTensor` of shape `()`, *optional*): returned when `labels` are given.
        logits (`torch.FloatTensor` of shape `(batch_size, num_labels)`).
        pooler_output (`torch.FloatTensor` of shape `(batch_size, output_size)`): the video representation.
        hidden_states (`tuple(torch.FloatTensor)`, *optional*): as in [`BytesVideoModelOutput`].
    """

    loss: torch.FloatTensor | None = None
    logits: torch.FloatTensor | None = None
    pooler_output: torch.FloatTensor | None = None
    hidden_states: tuple[torch.FloatTensor, ...] | None = None


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


class BytesVideoPreTrainedModel(PreTrainedModel):
    config_class = BytesVideoConfig
    config: BytesVideoConfig
    base_model_prefix = "bytevid"
    main_input_name = "input_ids"
    supports_gradient_checkpointing = True
    _no_split_modules = ["BytesVideoMambaBlock"]
    _is_stateful = True

    @torch.no_grad()
    def _init_weights(self, module):
        super()._init_weights(module)  # normal(initializer_range) for Linear/Embedding, ones for RMSNorm
        if isinstance(module, BytesVideoMambaMixer):
            module.init_mamba_weights(num_residual_blocks=self.config.num_hidden_layers)
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
        self.levels = nn.ModuleList(
            nn.ModuleList(BytesVideoMambaBlock(config, widths[i]) for _ in range(config.layers_per_level))
            for i in range(config.num_levels)
        )
        self.poolers = nn.ModuleList(
            BytesVideoPooling(config, widths[i], widths[i + 1]) for i in range(config.num_levels - 1)
        )
        self.norm_f = BytesVideoRMSNorm(widths[-1], eps=config.layer_norm_epsilon)
        self.gradient_checkpointing = False
        self.post_init()

    def get_input_embeddings(self) -> nn.Embedding:
        return self.embeddings

    def set_input_embeddings(self, value: nn.Embedding) -> None:
        self.embeddings = value

    def forward(
        self,
        input_ids: torch.Tensor | None = None,
        attention_mask: torch.Tensor | None = None,
        output_hidden_states: bool | None = None,
        return_dict: bool | None = None,
        **kwargs,
    ) -> BytesVideoModelOutput | tuple:
        if input_ids is None:
            raise ValueError("BytesVideoModel needs input_ids: (batch, length) uint8 encoded video bytes")
        output_hidden_states = (
            output_hidden_states if output_hidden_states is not None else self.config.output_hidden_states
        )
        return_dict = return_dict if return_dict is not None else self.config.return_dict
        input_ids, mask = prepare_byte_inputs(input_ids, attention_mask)

        # Pad to a multiple of the total pooling factor so every pooling window is complete.
        factor = self.config.total_pool_factor
        pad = (-input_ids.shape[1]) % factor
        if pad:
            input_ids = nn.functional.pad(input_ids, (0, pad))
            mask = nn.functional.pad(mask, (0, pad))

        # uint8 indices are converted for the lookup only; padded positions embed as zeros.
        hidden = self.embeddings(input_ids.to(torch.int32)) * mask.unsqueeze(-1).to(self.embeddings.weight.dtype)
        all_hidden = (hidden,) if output_hidden_states else None
        for level, blocks in enumerate(self.levels):
            for block in blocks:
                hidden, _ = block(hidden)  # (B, L_i, D_i)
            if output_hidden_states:
                all_hidden = all_hidden + (hidden,)
            if level < len(self.poolers):
                hidden, mask = self.poolers[level](hidden, mask)  # (B, L_i / L_s, D_{i+1})
        hidden = self.norm_f(hidden)
        weights = mask.unsqueeze(-1).to(hidden.dtype)
        pooled = (hidden * weights).sum(1) / weights.sum(1).clamp(min=1.0)  # (B, D_N)

        if not return_dict:
            return tuple(v for v in (hidden, pooled, mask, all_hidden) if v is not None)
        return BytesVideoModelOutput(
            last_hidden_state=hidden, pooler_output=pooled, attention_mask=mask, hidden_states=all_hidden
        )


class BytesVideoForClassification(BytesVideoPreTrainedModel):
    """[`BytesVideoModel`] with a masked mean pool and a Linear head: single-label (cross-entropy), multi-label (BCE)
    or regression (MSE), chosen by ``config.problem_type`` the way transformers does."""

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
        output_hidden_states: bool | None = None,
        return_dict: bool | None = None,
        **kwargs,
    ) -> BytesVideoClassifierOutput | tuple:
        return_dict = return_dict if return_dict is not None else self.config.return_dict
        outputs = self.bytevid(
            input_ids, attention_mask=attention_mask, output_hidden_states=output_hidden_states, return_dict=True
        )
        logits = self.classifier(self.dropout(outputs.pooler_output))  # (B, num_labels)
        loss = self.compute_loss(logits, labels) if labels is not None else None
        if not return_dict:
            out = (logits, outputs.pooler_output) + ((outputs.hidden_states,) if outputs.hidden_states else ())
            return ((loss,) + out) if loss is not None else out
        return BytesVideoClassifierOutput(
            loss=loss, logits=logits, pooler_output=outputs.pooler_output, hidden_states=outputs.hidden_states
        )

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
