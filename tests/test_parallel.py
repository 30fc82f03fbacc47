"""bytevid_hf.parallel: the state-correction math (Eq. 1–4), shard boundaries, the combination matrix (sequence
parallelism × state carry × piece lengths × pooling × scan backend, against the single-process full-sequence run), and
sub-sequence training with state carry (functional loop and SubsequenceTrainer)."""

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from torch.autograd.graph import saved_tensors_hooks
from transformers import TrainerCallback

import combination_matrix as matrix
from bytevid_hf import BytesVideoConfig, BytesVideoForClassification
from bytevid_hf.modeling.scan import selective_scan_reference
from bytevid_hf.modeling.state_correction import (
    boundary_states,
    initial_state_output,
    segment_log_decay,
    zero_start_final_state,
)
from bytevid_hf.parallel import shard_bounds
from bytevid_hf.training.subsequence import (
    SubsequenceDataset,
    SubsequenceTrainer,
    collate_subsequences,
    split_subsequences,
    subsequence_bounds,
)

MATRIX = Path(__file__).with_name("combination_matrix.py")


def _scan_inputs(batch=2, channels=6, state=4, length=90, seed=0):
    g = torch.Generator().manual_seed(seed)
    u = torch.randn(batch, channels, length, generator=g, dtype=torch.float64)
    delta = torch.nn.functional.softplus(torch.randn(batch, channels, length, generator=g, dtype=torch.float64) - 1.5)
    A = -torch.rand(channels, state, generator=g, dtype=torch.float64) * 2
    B = torch.randn(batch, state, length, generator=g, dtype=torch.float64)
    C = torch.randn(batch, state, length, generator=g, dtype=torch.float64)
    return u, delta, A, B, C


@pytest.mark.parametrize("shards", [1, 2, 3, 5])
def test_sharded_scan_with_state_correction_equals_one_scan(shards):
    """Eq. 1–4 end to end against the naive recurrence: each shard from a zero state (its transition in closed form),
    the boundary states (Eq. 3), and each shard's output corrected by its boundary state (Eq. 4)."""
    u, delta, A, B, C = _scan_inputs()
    h0 = torch.randn(2, 6, 4, dtype=torch.float64)
    y_full, h_full = selective_scan_reference(u, delta, A, B, C, initial_state=h0, return_final_state=True)
    edges = torch.linspace(0, u.shape[-1], shards + 1).round().long().tolist()
    pieces = [slice(edges[i], edges[i + 1]) for i in range(shards)]
    local = [selective_scan_reference(u[..., s], delta[..., s], A, B[..., s], C[..., s], return_final_state=True)
             for s in pieces]
    for (_, h_local), s in zip(local, pieces):  # the closed-form zero-start final state used for fused kernels
        torch.testing.assert_close(zero_start_final_state(u[..., s], delta[..., s], A, B[..., s]), h_local.float(),
                                   rtol=1e-5, atol=1e-6)
    bounds = boundary_states([h for _, h in local], [segment_log_decay(delta[..., s], A).double() for s in pieces], h0)
    y = torch.cat([y0 + initial_state_output(delta[..., s], A, C[..., s], bounds[i]).double()
                   for i, ((y0, _), s) in enumerate(zip(local, pieces))], dim=-1)
    torch.testing.assert_close(y, y_full, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(bounds[-1], h_full, rtol=1e-5, atol=1e-6)


def test_shard_bounds_cut_on_whole_pooling_windows():
    assert shard_bounds(1000, 1, 64) == [(0, 1000)]
    bounds = shard_bounds(1000, 3, 64)
    assert [b for b in bounds] == [(0, 320), (320, 640), (640, 1000)]
    # after 3 cached bytes the video's windows end at 61, 125, ... bytes into this input
    bounds = shard_bounds(771, 4, 64, offset=3)
    assert bounds[0][0] == 0 and bounds[-1][1] == 771
    assert all((3 + end) % 64 == 0 for _, end in bounds[:-1]) and all(a[1] == b[0] for a, b in zip(bounds, bounds[1:]))
    assert all(end > start for start, end in bounds)
    with pytest.raises(ValueError, match="give every rank at least 64 bytes"):
        shard_bounds(150, 4, 64)


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
    with pytest.raises(ValueError, match="state carry needs every byte of the batch to be real"):
        split_subsequences(ids, mask, 2, 64)


# ---------------------------------------------------------------------------------------------------------------------
# The combination matrix (tests/combination_matrix.py)
# ---------------------------------------------------------------------------------------------------------------------
def _torchrun(world, cases, tmp_path):
    env = dict(os.environ, OMP_NUM_THREADS="1")
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc-per-node={world}", str(MATRIX),
           json.dumps(cases)]
    proc = subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=1200)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-6000:]
    found = {int(r): int(n) for r, n in re.findall(r"rank (\d+): OK (\d+) cases", proc.stdout)}
    assert found == {rank: len(cases) for rank in range(world)}, proc.stdout


def _reduced(cases):
    """The default suite's share of the 4-rank product: state carry with every piece length and pooling, each
    backend once per length."""
    return [c for i, c in enumerate(cases) if c["carry"] and (i // 2 + (c["backend"] == "c")) % 2]


@pytest.mark.parametrize("case", matrix.all_cases(), ids=lambda c: "-".join(str(v) for v in c.values()))
def test_matrix_one_process(case):
    """Pieces with a carried cache equal one call on the whole sequence (hidden positions, final states, gradients)."""
    matrix.check(case)


def test_matrix_two_ranks(tmp_path):
    """Every case on 2 gloo ranks, plus LoRA adapters on the Mamba projections (their conv halo and state
    transition must include them)."""
    _torchrun(2, matrix.all_cases() + [{**matrix.all_cases()[-1], "lora": True}], tmp_path)


def test_matrix_four_ranks_reduced(tmp_path):
    _torchrun(4, _reduced(matrix.all_cases()), tmp_path)


@pytest.mark.slow
def test_matrix_four_ranks_full(tmp_path):
    _torchrun(4, matrix.all_cases(), tmp_path)


def test_the_matrix_sees_a_lost_state(monkeypatch):
    """The check is sensitive: detaching the carried cache (gradients stop at piece boundaries) or dropping the
    pooling buffers of an open window fails it."""
    from bytevid_hf.modeling.modeling_bytevid import BytesVideoModel

    case = {"carry": True, "lengths": "odd", "pooling": "average", "backend": "c"}
    forward, pool = BytesVideoModel.forward, BytesVideoModel._pool

    def detached(self, *args, cache=None, **kwargs):
        return forward(self, *args, cache=None if cache is None else cache.detach(), **kwargs)

    monkeypatch.setattr(BytesVideoModel, "forward", detached)
    with pytest.raises(AssertionError, match="grad"):
        matrix.check(case)
    monkeypatch.setattr(BytesVideoModel, "forward", forward)
    monkeypatch.setattr(BytesVideoModel, "_pool", lambda self, level, h, m, buffer, c: pool(self, level, h, m, None, c))
    with pytest.raises(AssertionError):
        matrix.check(case)


# ---------------------------------------------------------------------------------------------------------------------
# Sub-sequence training with Trainer
# ---------------------------------------------------------------------------------------------------------------------
LENGTH, PIECES, ALIGN = 1_000_000, 8, 256


def _model():
    torch.manual_seed(0)
    return BytesVideoForClassification(BytesVideoConfig.from_preset("bytes-micro", num_labels=3))


def _truncated_bptt_reference(model, ids, label):
    """Hand-written loop: each piece continues the detached cache of the previous one and is classified from the
    representation of everything so far; loss / K, gradients accumulated."""
    cache = None
    for start, end in subsequence_bounds(ids.shape[1], PIECES, ALIGN):
        out = model(ids[:, start:end], cache=cache, use_cache=True)
        loss = torch.nn.functional.cross_entropy(out.logits, label) / PIECES
        loss.backward()
        cache = out.cache.detach()
    return {n: p.grad.clone() for n, p in model.named_parameters()}


class _FirstStepGrads(TrainerCallback):
    def __init__(self):
        self.grads = None

    def on_pre_optimizer_step(self, args, state, control, model=None, **kwargs):
        if self.grads is None:
            self.grads = {n: p.grad.clone() for n, p in model.named_parameters()}


def test_trainer_trains_a_million_bytes_in_eight_subsequences(tmp_path):
    from transformers import TrainingArguments

    g = torch.Generator().manual_seed(3)
    video = torch.randint(0, 256, (LENGTH,), generator=g, dtype=torch.uint8)
    label = torch.tensor([2])
    expected = _truncated_bptt_reference(_model(), video[None], label)

    model = _model()
    dataset = SubsequenceDataset([{"input_ids": video, "labels": 2}], PIECES, align=ALIGN, shuffle=False)
    args = TrainingArguments(
        output_dir=str(tmp_path), per_device_train_batch_size=1, gradient_accumulation_steps=PIECES, max_steps=1,
        learning_rate=1e-3, max_grad_norm=0.0, report_to=[], save_strategy="no", logging_steps=1,
        remove_unused_columns=False, use_cpu=True, dataloader_num_workers=0, disable_tqdm=True,
    )
    grads = _FirstStepGrads()
    trainer = SubsequenceTrainer(model=model, args=args, train_dataset=dataset, data_collator=collate_subsequences,
                                 callbacks=[grads])
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
    assert trainer.carried_cache is not None and not hasattr(model.bytevid, "carried_states")  # the trainer's state

    # Activation memory follows the sub-sequence, not the video: every micro-batch saved about as much as one forward
    # on a 125,000-byte input, an eighth of what the whole million bytes would need.
    probe, current[0] = _model(), 0
    with saved_tensors_hooks(pack, lambda t: t):
        probe(video[None, : LENGTH // PIECES], labels=label).loss
    one_piece = current[0]
    assert saved_per_forward and max(saved_per_forward) <= 1.25 * one_piece, (saved_per_forward, one_piece)


def test_subsequence_trainer_starts_every_video_from_an_empty_state(tmp_path):
    """subsequence_index 0 starts a new video; any other index continues the trainer's carried (detached) cache."""
    from transformers import TrainingArguments

    model = _model().train()
    trainer = SubsequenceTrainer(model=model, args=TrainingArguments(output_dir=str(tmp_path), report_to=[],
                                                                     use_cpu=True))
    ids = torch.randint(0, 256, (1, 512), dtype=torch.uint8)

    def loss(index):
        return trainer.compute_loss(model, {"input_ids": ids, "labels": torch.tensor([0]),
                                            "subsequence_index": torch.tensor([index])}).detach()

    first, carried, restarted = loss(0), loss(1), loss(0)
    torch.testing.assert_close(restarted, first)
    assert not torch.allclose(carried, first)
    expected = model(torch.cat((ids, ids), 1), labels=torch.tensor([0])).loss
    loss(0)
    torch.testing.assert_close(loss(1), expected.detach(), rtol=1e-5, atol=1e-6)  # = one call on both pieces
    with pytest.raises(ValueError, match="mixes new videos"):
        trainer.compute_loss(model, {"input_ids": ids.repeat(2, 1), "labels": torch.tensor([0, 1]),
                                     "subsequence_index": torch.tensor([0, 1])})


def test_a_plain_forward_refuses_subsequence_rows():
    """SubsequenceDataset rows through a plain Trainer would silently train without state carry."""
    with pytest.raises(TypeError, match="SubsequenceTrainer"):
        _model()(torch.zeros(1, 64, dtype=torch.uint8), subsequence_index=torch.tensor([1]))


# ---------------------------------------------------------------------------------------------------------------------
# Launchers: `accelerate launch` without --multi_gpu starts ONE process; sequence parallelism fails with the command
# that works instead of training alone (bytevid_hf.parallel.launch)
# ---------------------------------------------------------------------------------------------------------------------
ACCELERATE_ENV = {"ACCELERATE_MIXED_PRECISION": "no", "ACCELERATE_DYNAMO_BACKEND": "NO", "ACCELERATE_USE_CPU": "True"}


def test_accelerate_num_processes_is_read_from_the_launch_command():
    from bytevid_hf.parallel.launch import accelerate_num_processes

    launch = ["/usr/bin/python3", "/usr/local/bin/accelerate", "launch"]
    assert accelerate_num_processes(launch + ["--cpu", "--num_processes", "2", "train.py", "--x", "1"]) == 2
    assert accelerate_num_processes(launch + ["--num-processes=4", "train.py"]) == 4
    assert accelerate_num_processes(["python", "-m", "accelerate.commands.launch", "--num_processes", "3", "t.py"]) == 3
    assert accelerate_num_processes(launch + ["train.py"]) is None  # from a config file: unknown
    assert accelerate_num_processes(["bash", "-c", "python train.py --num_processes 2"]) is None  # not accelerate


def test_single_process_launch_problem(monkeypatch):
    import bytevid_hf.parallel.launch as launch

    for name in ("WORLD_SIZE", *ACCELERATE_ENV):
        monkeypatch.delenv(name, raising=False)
    parent = ["python", "/bin/accelerate", "launch", "--cpu", "--num_processes", "2", "scripts/train_long.py"]
    monkeypatch.setattr(launch, "_parent_command_line", lambda: parent)
    assert launch.single_process_launch_problem(False) is None  # plain python, no parallelism asked
    message = launch.single_process_launch_problem(True)
    assert "only one" in message and "torchrun --nproc-per-node N" in message
    for name, value in ACCELERATE_ENV.items():
        monkeypatch.setenv(name, value)
    message = launch.single_process_launch_problem(False)  # accelerate ran once though 2 processes were asked
    assert "`accelerate launch --num_processes 2` started this as the only process" in message
    assert "torchrun --nproc-per-node 2" in message and "accelerate launch --multi_gpu --num_processes 2" in message
    monkeypatch.setenv("WORLD_SIZE", "2")  # what torchrun and accelerate launch --multi_gpu set
    assert launch.single_process_launch_problem(True) is None
    monkeypatch.setenv("WORLD_SIZE", "1")
    monkeypatch.setattr(launch, "_parent_command_line", lambda: ["python", "/bin/accelerate", "launch", "t.py"])
    assert launch.single_process_launch_problem(False) is None  # one process asked (or unknown): nothing wrong
    assert "torchrun --nproc-per-node N" in launch.single_process_launch_problem(True)


def _accelerate_train_long(tmp_path, flags, extra=()):
    script = Path(__file__).resolve().parent.parent / "scripts" / "train_long.py"
    args = ["--random_videos", "2", "--random_length", "6000", "--preset", "bytes-micro", "--num_subsequences", "2",
            "--output_dir", str(tmp_path / "out"), "--max_steps", "2", "--logging_steps", "1", "--report_to", "none",
            "--use_cpu", "--disable_tqdm", "true", "--save_strategy", "no", "--seed", "0", *extra]
    env = {k: v for k, v in os.environ.items() if k not in ("WORLD_SIZE", "RANK", "LOCAL_RANK")}
    env.update(OMP_NUM_THREADS="1", HF_HOME=str(tmp_path / "hf"))  # HF_HOME: no accelerate config file is read
    cmd = [sys.executable, "-m", "accelerate.commands.launch", *flags, "--num_machines", "1", "--mixed_precision",
           "no", "--dynamo_backend", "no", str(script), *args]
    return subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)


def test_accelerate_launch_without_multi_gpu_fails_naming_the_commands_that_work(tmp_path):
    """`accelerate launch --cpu --num_processes 2` runs train_long ONCE: it stops before training and says to use
    torchrun (or accelerate launch --multi_gpu)."""
    proc = _accelerate_train_long(tmp_path, ["--cpu", "--num_processes", "2"])
    assert proc.returncode != 0
    assert "`accelerate launch --num_processes 2` started this as the only process" in proc.stderr, proc.stderr[-3000:]
    assert "torchrun --nproc-per-node 2" in proc.stderr and "'loss'" not in proc.stdout


def test_accelerate_launch_multi_gpu_runs_sequence_parallel_on_cpu(tmp_path):
    """`accelerate launch --multi_gpu --num_processes 2` starts 2 processes through torchrun's launcher, on CPU too
    (gloo): the run logs the sequence-parallel statistics."""
    proc = _accelerate_train_long(tmp_path, ["--multi_gpu", "--num_processes", "2"])
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    history = json.loads((tmp_path / "out" / "trainer_state.json").read_text())["log_history"]
    assert [e["step"] for e in history if "sp_boundary_state_rms" in e] == [1, 2], history
