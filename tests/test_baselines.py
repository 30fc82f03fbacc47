"""bytevid_hf.testing.baselines: the input-blind tools the "it learned" tests and scripts/blind_encoder_check.py use."""

from __future__ import annotations

import torch

from bytevid_hf import BytesVideoConfig, BytesVideoForClassification, BytesVideoModel
from bytevid_hf.testing.baselines import blind_accuracy, blind_every_encoder


def test_blind_every_encoder_hides_the_input_from_every_model_and_is_undone():
    torch.manual_seed(0)
    model = BytesVideoForClassification(BytesVideoConfig.from_preset("bytes-micro", num_labels=3)).eval()
    a, b = torch.randint(0, 256, (2, 1, 300), dtype=torch.uint8)
    with torch.no_grad():
        seeing = model(a).logits, model(b).logits
        with blind_every_encoder():
            blind = model(a).logits, model(b).logits
            # a model built inside the block is blind too, and the embedding row still gets a gradient
            other = BytesVideoModel(model.config)
        after = model(a).logits
    assert not torch.allclose(*seeing)
    torch.testing.assert_close(blind[0], blind[1], rtol=0, atol=0)
    torch.testing.assert_close(after, seeing[0], rtol=0, atol=0)
    with blind_every_encoder():
        other(a).last_hidden_state.sum().backward()
    grad = other.get_input_embeddings().weight.grad
    assert grad[0].abs().sum() > 0 and grad[1:].abs().sum() == 0


def test_blind_accuracy_is_the_majority_frequency():
    assert blind_accuracy([0, 1, 1, 2]) == 0.5
    assert blind_accuracy(["a"]) == 1.0
