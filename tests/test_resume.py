"""Resumable training (issue 8.4): a Trainer run interrupted after a checkpoint and resumed with
``trainer.train(resume_from_checkpoint=...)`` reproduces the uninterrupted run (the same per-step losses and final
weights), for plain fine-tuning and for long-video training with sub-sequences (SubsequenceTrainer's state carry)
and SequenceParallelCallback (its ExportableState comes back from the checkpoint).

prepare_data's kill-and-resume is tested in tests/test_prepare_data.py (a real SIGKILL mid-run, no duplicate or lost
sample)."""

from __future__ import annotations

import json

import pytest
import torch
from transformers import Trainer, TrainerCallback, TrainingArguments

from bytevid_hf import BytesVideoConfig, BytesVideoForClassification
from bytevid_hf.training.callbacks import SequenceParallelCallback
from bytevid_hf.training.subsequence import SubsequenceDataset, SubsequenceTrainer, collate_subsequences
from bytevid_hf.testing.numerics import make_long_memory_


pytestmark = pytest.mark.usefixtures("one_torch_thread")  # conftest.py


class Interrupt(Exception):
    pass


class StepRecorder(TrainerCallback):
    """The optimizer steps this Trainer actually ran."""

    def __init__(self):
        self.steps = []

    def on_step_end(self, args, state, control, **kwargs):
        self.steps.append(state.global_step)


class InterruptAt(TrainerCallback):
    """Raise at the start of optimizer step ``step`` (a crash after the checkpoint of step ``step - 1``)."""

    def __init__(self, step):
        self.step = step

    def on_step_begin(self, args, state, control, **kwargs):
        if state.global_step + 1 == self.step:
            raise Interrupt(f"interrupted before step {self.step}")


def long_memory_model(seed=0):
    """bytes-micro whose SSM states persist over thousands of bytes, so a state carried (or lost) between
    sub-sequences changes the loss."""
    torch.manual_seed(seed)
    model = BytesVideoForClassification(BytesVideoConfig.from_preset("bytes-micro", num_labels=2))
    return make_long_memory_(model, bc_std=None)


def random_rows(count, length, seed=0):
    g = torch.Generator().manual_seed(seed)
    return [{"input_ids": torch.randint(0, 256, (length,), generator=g, dtype=torch.uint8), "labels": i % 2}
            for i in range(count)]


def collate_plain(rows):
    return {"input_ids": torch.stack([r["input_ids"] for r in rows]), "labels": torch.tensor([r["labels"] for r in rows])}


def losses(trainer_or_history):
    history = trainer_or_history.state.log_history if hasattr(trainer_or_history, "state") else trainer_or_history
    return {entry["step"]: entry["loss"] for entry in history if "loss" in entry}


def assert_same_weights(a, b):
    sa, sb = a.state_dict(), b.state_dict()
    for name in sa:
        torch.testing.assert_close(sb[name], sa[name], rtol=1e-5, atol=1e-7, msg=lambda m, n=name: f"{n}: {m}")


def run(out, dataset, collator, callbacks, max_steps, accumulation=1, resume=None, interrupt=None, restore=False,
        trainer_class=Trainer):
    args = TrainingArguments(
        str(out), max_steps=max_steps, per_device_train_batch_size=2 if accumulation == 1 else 1,
        gradient_accumulation_steps=accumulation, learning_rate=3e-3, logging_steps=1, save_steps=3,
        save_strategy="steps", report_to="none", use_cpu=True, disable_tqdm=True, seed=0, data_seed=0,
        remove_unused_columns=False, dataloader_num_workers=0, restore_callback_states_from_checkpoint=restore,
        lr_scheduler_type="linear", warmup_steps=1,
    )
    recorder = StepRecorder()
    extra = [recorder] + ([InterruptAt(interrupt)] if interrupt else [])
    trainer = trainer_class(model=long_memory_model(), args=args, train_dataset=dataset, data_collator=collator,
                            callbacks=callbacks() + extra)
    trainer.steps_run = recorder.steps
    if interrupt:
        with pytest.raises(Interrupt):
            trainer.train()
    else:
        trainer.train(resume_from_checkpoint=resume)
    return trainer


def test_plain_finetuning_resume_reproduces_uninterrupted_run(tmp_path):
    """6 Adam steps with a linear schedule and shuffled data (RNG state, optimizer, scheduler and data position all
    have to come back): crash before step 5, resume from checkpoint-3."""
    rows = random_rows(10, 1024)
    full = run(tmp_path / "full", rows, collate_plain, list, max_steps=6)
    run(tmp_path / "crashed", rows, collate_plain, list, max_steps=6, interrupt=5)
    checkpoint = tmp_path / "crashed" / "checkpoint-3"
    assert checkpoint.is_dir() and not (tmp_path / "crashed" / "checkpoint-6").exists()
    resumed = run(tmp_path / "crashed", rows, collate_plain, list, max_steps=6, resume=str(checkpoint))
    expected, got = losses(full), losses(resumed)
    assert resumed.steps_run == [4, 5, 6] and sorted(got) == [1, 2, 3, 4, 5, 6] and len(set(expected.values())) > 1
    for step in (4, 5, 6):
        assert got[step] == pytest.approx(expected[step], rel=1e-5), (step, got, expected)
    assert_same_weights(full.model, resumed.model)


def test_long_video_resume_with_state_carry_reproduces_uninterrupted_run(tmp_path):
    """SubsequenceDataset (K=2 pieces of one video per step, the cache carried from piece 1 to piece 2 by
    SubsequenceTrainer): resuming must skip exactly the consumed pieces, so that each step again sees piece 1 then
    piece 2 of the same video. A misaligned resume (piece 2 first, or a state carried across videos) changes the
    losses."""
    rows = random_rows(4, 4096)
    dataset = SubsequenceDataset(rows, num_subsequences=2, align=256, seed=0)

    def callbacks():
        return [SequenceParallelCallback(sequence_parallel=False)]

    def long_run(out, **kwargs):
        return run(out, dataset, collate_subsequences, callbacks, max_steps=6, accumulation=2,
                   trainer_class=SubsequenceTrainer, **kwargs)

    full = long_run(tmp_path / "full")
    long_run(tmp_path / "crashed", interrupt=5)
    checkpoint = tmp_path / "crashed" / "checkpoint-3"
    state = json.loads((checkpoint / "trainer_state.json").read_text())
    saved = state["stateful_callbacks"]["SequenceParallelCallback"]
    assert saved["args"] == {"sequence_parallel": False, "timeout": None, "process_group": None}
    resumed = long_run(tmp_path / "crashed", resume=str(checkpoint), restore=True)
    expected, got = losses(full), losses(resumed)
    assert resumed.steps_run == [4, 5, 6] and sorted(got) == [1, 2, 3, 4, 5, 6]
    for step in (4, 5, 6):
        assert got[step] == pytest.approx(expected[step], rel=1e-5), (step, got, expected)
    assert_same_weights(full.model, resumed.model)

    # The comparison can see a lost state: the same run without state carry (every piece from an empty state) has
    # other losses
    class NoCarry(SubsequenceTrainer):
        def compute_loss(self, model, inputs, *args, **kwargs):
            return super().compute_loss(model, {**inputs, "subsequence_index": torch.zeros(1, dtype=torch.long)},
                                        *args, **kwargs)

    no_carry = losses(run(tmp_path / "no_carry", dataset, collate_subsequences, callbacks, max_steps=6, accumulation=2,
                          trainer_class=NoCarry))
    assert max(abs(no_carry[s] - expected[s]) / abs(expected[s]) for s in (4, 5, 6)) > 1e-3, (no_carry, expected)


def test_sequence_parallel_callback_state_round_trips():
    """ExportableState: the statistics not yet logged at a checkpoint are restored (via Trainer's own
    ``from_state`` path), a JSON round trip loses nothing, and a custom process group is refused rather than silently
    replaced by the world group."""
    callback = SequenceParallelCallback(sequence_parallel=True, timeout=45.0)
    callback.pending_correction_stats = [[0.5, 2.0], [0.25, 1.0]]
    stored = json.loads(json.dumps(callback.state()))
    restored = SequenceParallelCallback.from_state(stored)
    assert (restored.sequence_parallel, restored.timeout) == (True, 45.0)
    assert restored.pending_correction_stats == [[0.5, 2.0], [0.25, 1.0]]
    custom = SequenceParallelCallback(process_group=object()).state()
    with pytest.raises(ValueError, match="custom process_group"):
        SequenceParallelCallback.from_state(custom)
    with pytest.raises(ValueError, match="timeout"):
        SequenceParallelCallback(timeout=0)


def _train_long(out, extra=()):
    """scripts/train_long.py under torchrun, 2 gloo ranks: K=2 pieces per video, each piece sharded across the ranks
    (sequence parallelism with state correction), plain SGD."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    script = Path(__file__).resolve().parent.parent / "scripts" / "train_long.py"
    args = ["--random_videos", "3", "--random_length", "6000", "--preset", "bytes-micro", "--num_subsequences", "2",
            "--output_dir", str(out), "--max_steps", "4", "--learning_rate", "0.5", "--logging_steps", "1",
            "--save_strategy", "steps", "--save_steps", "2", "--report_to", "none", "--use_cpu", "--disable_tqdm",
            "true", "--seed", "0", "--max_grad_norm", "0", "--optim", "sgd", *extra]
    launcher = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node=2", str(script),
                "--ddp_backend", "gloo", "--ddp_timeout", "120"]
    env = dict(os.environ, OMP_NUM_THREADS="1")
    proc = subprocess.run(launcher + args, env=env, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-6000:]
    return json.loads((out / "trainer_state.json").read_text())["log_history"]


@pytest.mark.slow
def test_sequence_parallel_resume_under_torchrun_reproduces_uninterrupted_run(tmp_path):
    """2 ranks, 4 steps, checkpoint every 2: resuming from checkpoint-2 with the callback state restored gives the
    uninterrupted run's losses, sequence-parallel statistics and final weights."""
    from safetensors.torch import load_file

    full = _train_long(tmp_path / "full")
    resumed = _train_long(tmp_path / "resumed", ["--resume_from_checkpoint", str(tmp_path / "full" / "checkpoint-2"),
                                                 "--restore_callback_states_from_checkpoint", "true"])
    for key in ("loss", "sp_boundary_state_rms", "sp_local_state_rms"):
        expected = {e["step"]: e[key] for e in full if key in e}
        got = {e["step"]: e[key] for e in resumed if key in e}
        assert sorted(expected) == [1, 2, 3, 4] and sorted(got) == [1, 2, 3, 4], (key, expected, got)
        for step in (3, 4):
            assert got[step] == pytest.approx(expected[step], rel=1e-4), (key, step, got, expected)
    one, two = load_file(tmp_path / "full" / "model.safetensors"), load_file(tmp_path / "resumed" / "model.safetensors")
    for name in one:
        torch.testing.assert_close(two[name], one[name], rtol=1e-5, atol=1e-7)


@pytest.mark.slow
def test_sequence_parallel_callback_statistics_survive_resume(tmp_path):
    """Log every 3 steps, checkpoint every 2: at checkpoint-2 the sequence-parallel statistics of steps 1–2 are not
    yet logged. Restored from the checkpoint (ExportableState), the step-3 log averages steps 1–3 as in the
    uninterrupted run; without restoring, it would average step 3 alone."""
    full = _train_long(tmp_path / "full", ["--logging_steps", "3"])
    checkpoint = tmp_path / "full" / "checkpoint-2"
    saved = json.loads((checkpoint / "trainer_state.json").read_text())["stateful_callbacks"]
    assert len(saved["SequenceParallelCallback"]["attributes"]["pending_correction_stats"]) > 0
    resume = ["--logging_steps", "3", "--resume_from_checkpoint", str(checkpoint)]
    restored = _train_long(tmp_path / "restored", resume + ["--restore_callback_states_from_checkpoint", "true"])
    not_restored = _train_long(tmp_path / "not_restored", resume)

    def at_step_3(history):
        return next(e["sp_boundary_state_rms"] for e in history if e.get("step") == 3 and "sp_boundary_state_rms" in e)

    assert at_step_3(restored) == pytest.approx(at_step_3(full), rel=1e-4)
    assert at_step_3(not_restored) != pytest.approx(at_step_3(full), rel=1e-4)
