"""Next-byte prediction with the multilevel backbone (self-supervised pre-training, paper Table 10).

[`BytesVideoForCausalLM`] predicts byte t+1 from bytes ≤ t at full resolution. The backbone's levels are causal in
their own positions (Mamba and its conv are causal; a pooling window only sees its own L_s positions), so position j
of level i (pool factor s = L_s**i) summarises bytes ``< (j + 1)·s``. Byte t may therefore use level-i position
``j = floor((t + 1) / s) − 1`` and nothing later: the upsampled level i is shifted right by ``s − 1`` positions
(zero before its first complete window). The shifted, projected
levels (the last one taken after the backbone's final norm) are added to level 0's output, normed, and a Linear head
gives 256 logits per byte. No pooled level ever sees the future — tested by changing byte k and checking
that no logit before k moves.

The backbone lives under ``bytevid`` like in [`BytesVideoForClassification`], so a pre-trained checkpoint loads
into the classifier with ``from_pretrained`` (only the classification head is new).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn
from transformers.utils import ModelOutput

from .configuration_bytevid import BytesVideoConfig
from .mamba import BytesVideoRMSNorm
from .mixers import require_capability
from .modeling_bytevid import BytesVideoModel, BytesVideoPreTrainedModel


@dataclass
class BytesVideoCausalLMOutput(ModelOutput):
    """Output of [`BytesVideoForCausalLM`].

    Args:
        loss (`torch.FloatTensor` of shape `()`, *optional*): mean next-byte cross-entropy (nats) over real
            positions whose next byte is real; returned when `labels` are given.
        logits (`torch.FloatTensor` of shape `(batch_size, sequence_length, 256)`): logits of the byte that follows
            each position.
        hidden_states (`tuple(torch.FloatTensor)`, *optional*): the backbone's, as in `BytesVideoModelOutput`.
    """

    loss: torch.FloatTensor | None = None
    logits: torch.FloatTensor | None = None
    hidden_states: tuple[torch.FloatTensor, ...] | None = None


def shift_to_past(hidden: torch.Tensor, factor: int, length: int) -> torch.Tensor:
    """Upsample a pooled level (B, L/s, D) to ``length`` byte positions so that byte t gets the level position
    ``floor((t + 1) / s) − 1`` (zeros before the first complete window): ``out[:, t] = hidden[:, (t + 1) // s − 1]``."""
    if factor == 1:
        return hidden[:, :length]
    up = hidden.repeat_interleave(factor, dim=1)  # (B, L, D): up[:, p] = hidden[:, p // s]
    return nn.functional.pad(up, (0, 0, factor - 1, 0))[:, :length]  # out[:, t] = up[:, t + 1 − s]


class BytesVideoForCausalLM(BytesVideoPreTrainedModel):
    """Multilevel SSM with a next-byte head (self-supervised pre-training on encoded videos).

    ``labels`` follow transformers' causal-LM convention: pass the inputs themselves (B, L) (uint8 or int64; -100
    ignored) and the model shifts them; or pass ``shift_labels`` (B, L), already shifted (``shift_labels[:, t]`` is
    the byte to predict from position t). Positions where ``attention_mask`` is 0 are ignored as well.
    """

    accepts_loss_kwargs = False

    def __init__(self, config: BytesVideoConfig):
        require_capability(config, "next_byte", "BytesVideoForCausalLM (next-byte pre-training)")
        super().__init__(config)
        self.bytevid = BytesVideoModel(config)
        widths = config.level_widths
        # Level i > 0 -> level-0 width; level 0 is used as it is.
        self.level_projections = nn.ModuleList(nn.Linear(w, widths[0]) for w in widths[1:])
        self.norm = BytesVideoRMSNorm(widths[0], eps=config.layer_norm_epsilon)
        self.lm_head = nn.Linear(widths[0], config.vocab_size, bias=False)
        self.post_init()

    def get_output_embeddings(self) -> nn.Linear:
        return self.lm_head

    def forward(
        self,
        input_ids: torch.Tensor | None = None,
        attention_mask: torch.Tensor | None = None,
        labels: torch.Tensor | None = None,
        output_hidden_states: bool | None = None,
        return_dict: bool | None = None,
        shift_labels: torch.Tensor | None = None,
        **kwargs,
    ) -> BytesVideoCausalLMOutput | tuple:
        return_dict = return_dict if return_dict is not None else self.config.return_dict
        output_hidden_states = (
            output_hidden_states if output_hidden_states is not None else self.config.output_hidden_states
        )
        if input_ids is None:
            raise ValueError("BytesVideoForCausalLM needs input_ids: (batch, length) uint8 encoded video bytes")
        length = input_ids.shape[1]
        outputs = self.bytevid(input_ids, attention_mask=attention_mask, output_hidden_states=True, return_dict=True)
        # Each level's output at ceil(L / L_s**i) positions; the last level after the backbone's final norm.
        levels = (*outputs.hidden_states[1:-1], outputs.last_hidden_state)
        mixed = levels[0][:, :length]  # (B, L, D_0), causal already
        pool = self.config.pool_size
        for i, projection in enumerate(self.level_projections, start=1):
            mixed = mixed + shift_to_past(projection(levels[i]), pool**i, length)  # (B, L, D_0)
        logits = self.lm_head(self.norm(mixed))  # (B, L, 256)

        loss = None
        if labels is not None or shift_labels is not None:
            mask = torch.ones_like(input_ids, dtype=torch.bool) if attention_mask is None else attention_mask.bool()
            loss = self.next_byte_loss(logits, labels, mask, shift_labels=shift_labels)
        hidden_states = outputs.hidden_states if output_hidden_states else None
        output = BytesVideoCausalLMOutput(loss=loss, logits=logits, hidden_states=hidden_states)
        return output if return_dict else output.to_tuple()

    @staticmethod
    def next_byte_loss(
        logits: torch.Tensor,
        labels: torch.Tensor | None,
        mask: torch.Tensor,
        shift_labels: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Mean cross-entropy (nats) of logits[:, t] against the next byte, over pairs where both bytes are real.

        The next byte is ``labels[:, t + 1]``, or ``shift_labels[:, t]`` when given (then ``labels`` is not used)."""
        if shift_labels is not None:
            if shift_labels.shape != logits.shape[:2]:
                raise ValueError(
                    f"shift_labels must have the input's shape {tuple(logits.shape[:2])}, got {tuple(shift_labels.shape)}"
                )
            target = shift_labels.to(torch.long).clone()  # (B, L)
            target[:, :-1][~(mask[:, 1:] & mask[:, :-1])] = -100
            target[:, -1][~mask[:, -1]] = -100
            scored = logits
        else:
            if labels.shape != logits.shape[:2]:
                raise ValueError(f"labels must have the input's shape {tuple(logits.shape[:2])}, got {tuple(labels.shape)}")
            target = labels[:, 1:].to(torch.long).clone()  # (B, L-1)
            target[~(mask[:, 1:] & mask[:, :-1])] = -100
            scored = logits[:, :-1]
        if bool((target == -100).all()):
            raise ValueError("no position has a real next byte to predict (inputs of length 1 or all padding)")
        return nn.functional.cross_entropy(
            scored.reshape(-1, logits.shape[-1]).float(), target.reshape(-1).to(logits.device), ignore_index=-100
        )


__all__ = ["BytesVideoForCausalLM", "BytesVideoCausalLMOutput", "shift_to_past"]
