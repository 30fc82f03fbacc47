"""Blockwise Mamba layers (config.mixer_block_size): identical to one pass, outputs, states and gradients."""

import pytest
import torch

from bytevid_hf import BytesVideoConfig, BytesVideoForClassification
from bytevid_hf.modeling import BytesVideoMambaMixer
from bytevid_hf.modeling.mamba import MambaLayerState


def _mixer(block_size, **overrides):
    config = BytesVideoConfig.from_preset("bytes-micro", mixer_block_size=block_size, **overrides)
    torch.manual_seed(0)
    mixer = BytesVideoMambaMixer(config, 24)
    mixer.init_mamba_weights(1)
    return mixer


@pytest.mark.parametrize("block_size", [1, 3, 7, 64])
@pytest.mark.parametrize("with_state", [False, True])
def test_blocks_match_one_pass(block_size, with_state):
    one_pass, blocked = _mixer(0), _mixer(block_size)
    blocked.load_state_dict(one_pass.state_dict())
    torch.manual_seed(1)
    x = torch.randn(2, 101, 24, requires_grad=True)
    state = None
    if with_state:
        conv = torch.randn(2, 48, 3, requires_grad=True)
        ssm = torch.randn(2, 48, 8, requires_grad=True)
        state = MambaLayerState(conv, ssm)
    results = []
    for mixer in (one_pass, blocked):
        out, new_state = mixer(x, state=state, return_state=True)
        loss = (out * torch.linspace(-1, 1, out.shape[1])[None, :, None]).sum() + new_state.ssm_state.square().sum()
        loss = loss + new_state.conv_state.sin().sum()
        inputs = [x, *mixer.parameters()] + ([state.conv_state, state.ssm_state] if with_state else [])
        results.append((out.detach(), new_state, torch.autograd.grad(loss, inputs)))
    (out_a, state_a, grads_a), (out_b, state_b, grads_b) = results
    torch.testing.assert_close(out_b, out_a, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(state_b.ssm_state, state_a.ssm_state, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(state_b.conv_state, state_a.conv_state)
    for grad_a, grad_b in zip(grads_a, grads_b):
        torch.testing.assert_close(grad_b, grad_a, rtol=1e-4, atol=1e-5)


def test_blocked_model_matches_one_pass_model():
    config = BytesVideoConfig.from_preset("bytes-micro", num_labels=3, mixer_block_size=0)
    torch.manual_seed(0)
    reference = BytesVideoForClassification(config)
    blocked = BytesVideoForClassification(BytesVideoConfig.from_preset("bytes-micro", num_labels=3, mixer_block_size=5))
    blocked.load_state_dict(reference.state_dict())
    ids = torch.randint(0, 256, (2, 777), dtype=torch.uint8)
    mask = torch.ones(2, 777, dtype=torch.long)
    mask[1, 500:] = 0
    labels = torch.tensor([0, 2])
    outs = [m(ids, attention_mask=mask, labels=labels) for m in (reference, blocked)]
    torch.testing.assert_close(outs[1].logits, outs[0].logits, rtol=1e-5, atol=1e-5)
    grads = [torch.autograd.grad(o.loss, list(m.parameters())) for o, m in zip(outs, (reference, blocked))]
    for (name, _), g_ref, g_blk in zip(reference.named_parameters(), *grads):
        torch.testing.assert_close(g_blk, g_ref, rtol=1e-4, atol=1e-6, msg=lambda m, n=name: f"{n}: {m}")


def test_block_size_is_validated():
    with pytest.raises(ValueError, match="mixer_block_size"):
        BytesVideoConfig(mixer_block_size=-1)


def _consumers_of(tensor, leaf):
    """Names of the autograd nodes of ``tensor``'s graph that take ``leaf`` (a leaf tensor) directly."""
    seen, stack, names = set(), [tensor.grad_fn], []
    while stack:
        node = stack.pop()
        if node is None or node in seen:
            continue
        seen.add(node)
        for next_node, _ in node.next_functions:
            if next_node is not None and getattr(next_node, "variable", None) is leaf:
                names.append(type(node).__name__)
            stack.append(next_node)
    return names


@pytest.mark.parametrize("checkpointed", [False, True])
def test_backward_does_not_materialise_the_whole_input_per_block(checkpointed):
    """The blocks are cut from the layer input with one split: a slice per block would give each block's input
    gradient as a zero tensor of the whole input's size (O(L²/block) work and page faults in backward — an hour-long
    step on 16M bytes). The input feeds one node, not one slice per block."""
    mixer = _mixer(16).train()
    mixer.gradient_checkpointing = checkpointed
    x = torch.randn(1, 16 * 20, 24, requires_grad=True)
    out, _ = mixer(x)
    consumers = _consumers_of(out, x)
    assert len(consumers) == 1 and "Slice" not in consumers[0], consumers
    out.sum().backward()
    assert x.grad is not None and torch.isfinite(x.grad).all()
