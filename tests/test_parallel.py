"""bytevid_hf.parallel: state correction (Eq. 1–4), sequence parallelism across gloo processes, and sub-sequence
training with state carry (functional loop and Trainer + SequenceParallelStateCallback)."""

import copy
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from torch.autograd.graph import saved_tensors_hooks
from transformers import TrainerCallback

from bytevid_hf import BytesVideoConfig, BytesVideoForClassification, SequenceParallelStateCallback
from bytevid_hf.modeling.cache import BytesVideoCache
from bytevid_hf.modeling.scan import selective_scan_reference
from bytevid_hf.parallel import (
    SubsequenceDataset,
    boundary_states,
    collate_subsequences,
    shard_log_decay,
    shard_sequence,
    split_subsequences,
    state_correction,
    state_correction_reference,
    subsequence_bounds,
)

WORKER = Path(__file__).with_name("sp_worker.py")


def _scan_inputs(batch=2, channels=6, state=4, length=90, seed=0):
    g = torch.Generator().manual_seed(seed)
    u = torch.randn(batch, channels, length, generator=g)
    delta = torch.nn.functional.softplus(torch.randn(batch, channels, length, generator=g) - 1.5)
    A = -torch.rand(channels, state, generator=g) * 2
    B = torch.randn(batch, state, length, generator=g)
    C = torch.randn(batch, state, length, generator=g)
    return u, delta, A, B, C


def test_state_correction_equals_closed_form():
    _, delta, A, _, C = _scan_inputs()
    h_prev = torch.randn(2, 6, 4)
    torch.testing.assert_close(state_correction(delta, A, C, h_prev), state_correction_reference(delta, A, C, h_prev),
                               rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("shards", [1, 2, 3, 5])
def test_sharded_scan_with_correction_equals_one_scan(shards):
    """Eq. 1–4 end to end on the naive recurrence: shards from zero states + boundary states + correction."""
    u, delta, A, B, C = _scan_inputs()
    h0 = torch.randn(2, 6, 4)
    y_full, h_full = selective_scan_reference(u, delta, A, B, C, initial_state=h0)
    edges = torch.linspace(0, u.shape[-1], shards + 1).round().long().tolist()
    pieces = [slice(edges[i], edges[i + 1]) for i in range(shards)]
    local = [selective_scan_reference(u[..., s], delta[..., s], A, B[..., s], C[..., s]) for s in pieces]
    bounds = boundary_states([h for _, h in local], [shard_log_decay(delta[..., s], A) for s in pieces], h0)
    y = torch.cat([y0 + state_correction(delta[..., s], A, C[..., s], bounds[i])
                   for i, ((y0, _), s) in enumerate(zip(local, pieces))], dim=-1)
    torch.testing.assert_close(y, y_full, rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(bounds[-1], h_full, rtol=1e-4, atol=1e-5)


def test_shard_sequence_pads_and_aligns():
    ids = torch.arange(1000).remainder(256).to(torch.uint8)[None].repeat(2, 1)
    mask = torch.ones(2, 1000, dtype=torch.long)
    mask[1, 700:] = 0
    shards = [shard_sequence(ids, mask, rank=r, world_size=3, align=64) for r in range(3)]
    assert all(s[0].shape == (2, 384) for s in shards)  # ceil(1000 / 3) = 334 -> 384
    joined_ids = torch.cat([s[0] for s in shards], 1)
    joined_mask = torch.cat([s[1] for s in shards], 1)
    assert torch.equal(joined_ids[:, :1000], ids) and not joined_mask[:, 1000:].any()
    assert torch.equal(joined_mask[:, :1000], mask.bool())
    with pytest.raises(ValueError, match="rank"):
        shard_sequence(ids, rank=3, world_size=3)


def test_subsequence_bounds():
    assert subsequence_bounds(1000, 2, 64) == [(0, 512), (512, 1000)]
    bounds = subsequence_bounds(1_000_000, 8, 256)
    assert len(bounds) == 8 and bounds[0][0] == 0 and bounds[-1][1] == 1_000_000
    assert all(a[1] == b[0] and a[1] % 256 == 0 for a, b in zip(bounds, bounds[1:]))
    with pytest.raises(ValueError, match="at most"):
        subsequence_bounds(300, 3, 256)
    ids = torch.zeros(2, 1000, dtype=torch.uint8)
    mask = torch.ones(2, 1000, dtype=torch.long)
    mask[1, 400:] = 0
    with pytest.raises(ValueError, match="no real byte"):
        split_subsequences(ids, mask, 2, 64)


@pytest.mark.parametrize(
    "pooling, length, subsequences, world, adapter",
    [("concat", 1000, 1, 2, ""), ("attention", 1777, 1, 4, ""), ("average", 3000, 3, 2, ""),
     ("concat", 1000, 1, 2, "lora")],
)
def test_sequence_parallel_matches_single_process(pooling, length, subsequences, world, adapter, tmp_path):
    """torchrun + gloo: every rank's logits, last-level shard and averaged gradients equal the single-process run
    (also with LoRA adapters on the Mamba projections, whose conv halo and state correction must include them)."""
    env = dict(os.environ, OMP_NUM_THREADS="1", BYTEVID_SCAN_THREADS="1")
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc-per-node={world}",
           str(WORKER), pooling, str(length), str(subsequences), adapter]
    proc = subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-6000:]
    assert sorted(int(r) for r in re.findall(r"rank (\d+): OK", proc.stdout)) == list(range(world)), proc.stdout


# ---------------------------------------------------------------------------------------------------------------------
# Sub-sequence training with Trainer
# ---------------------------------------------------------------------------------------------------------------------
LENGTH, PIECES = 1_000_000, 8


def _model():
    torch.manual_seed(0)
    return BytesVideoForClassification(BytesVideoConfig.from_preset("bytes-micro", num_labels=3))


def _truncated_bptt_reference(model, ids, label):
    """Hand-written loop on the streaming path: each piece continues the detached states of the previous one and is
    classified from the mean of its own last-level positions; loss / K, gradients accumulated."""
    cache = BytesVideoCache.empty(model.config)
    align = model.config.pool_size**model.config.num_levels
    for start, end in subsequence_bounds(ids.shape[1], PIECES, align):
        positions = model.bytevid.stream_step(ids[:, start:end], cache)  # (1, n, D_last), normed
        logits = model.classifier(positions.mean(1))
        loss = torch.nn.functional.cross_entropy(logits, label) / PIECES
        loss.backward()
        cache = cache.detach()
        cache.pooled_sum, cache.pooled_count = None, 0
    return {n: p.grad.clone() for n, p in model.named_parameters()}


class _FirstStepGrads(TrainerCallback):
    def __init__(self):
        self.grads = None

    def on_pre_optimizer_step(self, args, state, control, model=None, **kwargs):
        if self.grads is None:
            self.grads = {n: p.grad.clone() for n, p in model.named_parameters()}


def test_trainer_trains_a_million_bytes_in_eight_subsequences(tmp_path):
    from transformers import Trainer, TrainingArguments

    g = torch.Generator().manual_seed(3)
    video = torch.randint(0, 256, (LENGTH,), generator=g, dtype=torch.uint8)
    label = torch.tensor([2])
    expected = _truncated_bptt_reference(_model(), video[None], label)

    model = _model()
    dataset = SubsequenceDataset([{"input_ids": video, "labels": 2}], PIECES, align=256, shuffle=False)
    args = TrainingArguments(
        output_dir=str(tmp_path), per_device_train_batch_size=1, gradient_accumulation_steps=PIECES, max_steps=1,
        learning_rate=1e-3, max_grad_norm=0.0, report_to=[], save_strategy="no", logging_steps=1,
        remove_unused_columns=False, use_cpu=True, dataloader_num_workers=0, disable_tqdm=True,
    )
    grads = _FirstStepGrads()
    trainer = Trainer(model=model, args=args, train_dataset=dataset, data_collator=collate_subsequences,
                      callbacks=[SequenceParallelStateCallback(), grads])
    saved_per_forward, current = [], [0]

    def pack(t):
        current[0] += t.numel() * t.element_size()
        return t

    class _Meter(TrainerCallback):
        def on_substep_end(self, *a, **k):
            saved_per_forward.append(current[0])
            current[0] = 0

    trainer.add_callback(_Meter())
    with saved_tensors_hooks(pack, lambda t: t):
        trainer.train()
    assert grads.grads is not None
    for name, grad in grads.grads.items():
        torch.testing.assert_close(grad, expected[name], rtol=1e-4, atol=1e-6, msg=lambda m, n=name: f"{n}: {m}")
    assert not model.bytevid.carry_states  # switched off again at the end of training

    # Activation memory follows the sub-sequence, not the video: every micro-batch saved about as much as one forward
    # on a 125,000-byte input, an eighth of what the whole million bytes would need.
    probe, current[0] = _model(), 0
    with saved_tensors_hooks(pack, lambda t: t):
        probe(video[None, : LENGTH // PIECES], labels=label).loss
    one_piece = current[0]
    assert saved_per_forward and max(saved_per_forward) <= 1.25 * one_piece, (saved_per_forward, one_piece)


def test_state_carry_resets_on_new_video():
    model = _model().train()
    from bytevid_hf.parallel import enable_state_carry

    enable_state_carry(model)
    ids = torch.randint(0, 256, (1, 512), dtype=torch.uint8)
    first = model(ids, labels=torch.tensor([0]), subsequence_index=torch.tensor([0])).logits
    carried = model(ids, labels=torch.tensor([0]), subsequence_index=torch.tensor([1])).logits
    restarted = model(ids, labels=torch.tensor([0]), subsequence_index=torch.tensor([0])).logits
    torch.testing.assert_close(restarted, first)
    assert not torch.allclose(carried, first)
    fresh = copy.deepcopy(model)
    enable_state_carry(fresh, False)
    torch.testing.assert_close(fresh(ids).logits, first)
