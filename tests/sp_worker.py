"""Run by tests/test_parallel.py under torchrun (gloo, CPU): sequence-parallel logits and gradients vs the
single-process run on the full sequence. Exits non-zero with a message on any mismatch."""

import os
import sys

import torch
import torch.distributed as dist

from bytevid_hf import BytesVideoConfig, BytesVideoForClassification
from bytevid_hf.testing_utils import make_long_memory_
from bytevid_hf.parallel import (
    average_sequence_parallel_gradients,
    disable_sequence_parallel,
    enable_sequence_parallel,
    train_with_state_carry,
)

RTOL, ATOL = 1e-4, 1e-5


def build(pooling):
    """bytes-micro with long-memory SSMs (slow decay) and an O(1) head, so that states crossing a shard boundary
    change the logits and gradients far beyond the tolerance (without the state correction this test fails)."""
    torch.manual_seed(0)
    config = BytesVideoConfig.from_preset("bytes-micro", num_labels=3, pooling=pooling, mixer_block_size=0)
    model = BytesVideoForClassification(config)
    make_long_memory_(model)  # A in [-0.05, -0.007], Δ ≈ 0.05, B and C of order 1
    with torch.no_grad():
        model.classifier.weight.normal_(0.0, 1.0)
    return model


def with_lora(model):
    """LoRA on every Mamba projection, with random (non-zero) A and B so the adapters change every layer's output."""
    from peft import get_peft_model

    from bytevid_hf.lora import ssm_lora_config

    torch.manual_seed(2)
    return get_peft_model(model, ssm_lora_config(r=4, init_lora_weights=False))


def grads_of(model):
    return {n: p.grad.detach().clone() for n, p in model.named_parameters() if p.grad is not None}


def compare(what, got, expected):
    try:
        # atol scales with the tensor's magnitude: float32 sums in a different order differ by ~1e-6 of it
        torch.testing.assert_close(got, expected, rtol=RTOL, atol=ATOL * max(1.0, expected.abs().max().item()))
    except AssertionError as exc:
        raise AssertionError(f"rank {dist.get_rank()}: {what} (max abs {expected.abs().max().item():.3g}): {exc}") from None


def main():
    pooling, length, subsequences = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    lora = len(sys.argv) > 4 and sys.argv[4] == "lora"
    torch.set_num_threads(1)
    dist.init_process_group("gloo")
    g = torch.Generator().manual_seed(1)
    ids = torch.randint(0, 256, (2, length), generator=g, dtype=torch.uint8)
    mask = torch.ones(2, length, dtype=torch.long)
    mask[1, int(length * 0.7):] = 0  # batch > 1 with right padding
    labels = torch.tensor([1, 2])

    model = with_lora(build(pooling)) if lora else build(pooling)
    with torch.no_grad():
        ref_hidden = model.bytevid(ids, attention_mask=mask).last_hidden_state  # (2, L_last, D)
    if subsequences == 1:
        reference = model(ids, attention_mask=mask, labels=labels)
        reference.loss.backward()
        ref_logits = reference.logits.detach()
    else:
        train_with_state_carry(model, ids[:1], mask[:1], labels[:1], subsequences)
        ref_logits = None
    ref_grads = grads_of(model)
    model.zero_grad()

    enable_sequence_parallel(model)
    with torch.no_grad():  # this rank's shard of the last level equals the same positions of the full run
        shard = model.bytevid(ids, attention_mask=mask).last_hidden_state
        start = dist.get_rank() * shard.shape[1]
        overlap = max(0, min(shard.shape[1], ref_hidden.shape[1] - start))
        compare("last hidden state", shard[:, :overlap], ref_hidden[:, start : start + overlap])
    if subsequences == 1:
        out = model(ids, attention_mask=mask, labels=labels)
        compare("logits", out.logits.detach(), ref_logits)
        out.loss.backward()
    else:
        train_with_state_carry(model, ids[:1], mask[:1], labels[:1], subsequences)
    average_sequence_parallel_gradients(model)
    grads = grads_of(model)
    assert grads.keys() == ref_grads.keys() and (not lora or all("lora_" in n for n in grads)), sorted(grads)
    for name, grad in grads.items():
        compare(f"grad {name}", grad, ref_grads[name])
    disable_sequence_parallel(model)
    dist.barrier()
    dist.destroy_process_group()
    print(f"rank {os.environ.get('RANK')}: OK", flush=True)


if __name__ == "__main__":
    main()
