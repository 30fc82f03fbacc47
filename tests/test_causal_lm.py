"""BytesVideoForCausalLM: next-byte prediction that never sees the future, trains with Trainer, transfers to the
classifier."""

import logging
import math

import pytest
import torch
from transformers import AutoModelForCausalLM, Trainer, TrainingArguments
from transformers.utils import logging as hf_logging

from bytevid_hf import BytesVideoConfig, BytesVideoForCausalLM, BytesVideoForClassification
from bytevid_hf.modeling.modeling_causal import shift_to_past
from bytevid_hf.testing.baselines import assert_encoder_transferred, blind_embeddings, unigram_cross_entropy

pytestmark = pytest.mark.usefixtures("one_torch_thread")  # conftest.py; 2 threads make Trainer steps ~20x slower



def video_windows(path, batch=2, length=700):
    """(ids, mask): ``batch`` windows of ``length`` bytes of a real mp4 (5,000 bytes apart), the last half padded."""
    data = torch.frombuffer(bytearray(path.read_bytes()), dtype=torch.uint8)
    ids = torch.stack([data[i * 5000 : i * 5000 + length] for i in range(batch)])
    mask = torch.ones(batch, length, dtype=torch.long)
    mask[-1, length // 2 :] = 0
    return ids, mask


def _model(pooling="concat", **overrides):
    torch.manual_seed(0)
    config = BytesVideoConfig.from_preset("bytes-micro", num_levels=3, pooling=pooling, mixer_block_size=48,
                                          **overrides)
    return BytesVideoForCausalLM(config).eval()


@pytest.mark.parametrize("pooling", ["concat", "average", "attention"])
def test_changing_byte_k_never_changes_an_earlier_logit(pooling):
    model = _model(pooling)
    g = torch.Generator().manual_seed(1)
    length = 301  # not a multiple of the pool factor (16) or the mixer block (48)
    ids = torch.randint(0, 256, (1, length), generator=g, dtype=torch.uint8)
    with torch.no_grad():
        base = model(ids).logits
        for k in (0, 3, 4, 15, 16, 17, 63, 64, 150, length - 1):
            changed = ids.clone()
            changed[0, k] = (int(changed[0, k]) + 128) % 256
            diff = (model(changed).logits - base).abs().amax(-1)[0]  # (L,)
            assert diff[:k].max().item() == 0.0 if k else True, f"logit before byte {k} changed: {diff[:k].max()}"
            assert diff[k].item() > 0  # the byte itself is seen at its own position


def test_logits_equal_the_model_run_on_each_prefix():
    """Independent reference: the logit at t is what the model says after reading only bytes 0..t."""
    model = _model("attention")
    ids = torch.randint(0, 256, (1, 200), generator=torch.Generator().manual_seed(2), dtype=torch.uint8)
    with torch.no_grad():
        full = model(ids).logits
        for t in (0, 14, 15, 16, 47, 48, 63, 64, 130, 199):
            prefix = model(ids[:, : t + 1]).logits[:, -1]
            torch.testing.assert_close(full[:, t], prefix, rtol=1e-4, atol=1e-5)


def test_shift_to_past():
    hidden = torch.arange(1, 4, dtype=torch.float32).view(1, 3, 1)  # level positions 1, 2, 3 (pool factor 4)
    out = shift_to_past(hidden, 4, 11)[0, :, 0].tolist()
    # byte t sees position (t + 1) // 4 - 1: nothing for t < 3, then the window that ended at or before t
    assert out == [0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2]


def test_loss_ignores_padding_and_matches_a_manual_cross_entropy():
    model = _model()
    ids = torch.randint(0, 256, (2, 40), generator=torch.Generator().manual_seed(3), dtype=torch.uint8)
    mask = torch.ones(2, 40, dtype=torch.long)
    mask[1, 25:] = 0
    out = model(ids, attention_mask=mask, labels=ids)
    logits = out.logits
    terms = [torch.nn.functional.cross_entropy(logits[0, :39], ids[0, 1:].long(), reduction="sum"),
             torch.nn.functional.cross_entropy(logits[1, :24], ids[1, 1:25].long(), reduction="sum")]
    torch.testing.assert_close(out.loss, (terms[0] + terms[1]) / (39 + 24))
    # padding content never matters for the real positions
    noisy = ids.clone()
    noisy[1, 25:] = 7
    torch.testing.assert_close(model(noisy, attention_mask=mask, labels=noisy).loss, out.loss)
    with pytest.raises(ValueError, match="labels"):
        model(ids, labels=ids[:, :10])


# 13 bytes, 12 distinct values: 26 occurs twice and is followed by 5 or 43, so one byte of context is not enough.
PATTERN = torch.tensor([3, 141, 59, 26, 5, 35, 89, 79, 32, 38, 46, 26, 43], dtype=torch.uint8)


def _train_on_pattern(model, tmp_path, steps=80):
    """Trainer on 8 windows of the repeating pattern; returns the logged training losses."""
    rows = [{"input_ids": PATTERN.repeat(30)[i : i + 256]} for i in range(8)]

    def collate(batch):
        ids = torch.stack([r["input_ids"] for r in batch])
        return {"input_ids": ids, "labels": ids}

    args = TrainingArguments(output_dir=str(tmp_path / "run"), per_device_train_batch_size=4, max_steps=steps,
                             lr_scheduler_type="constant", learning_rate=5e-3, report_to=[], save_strategy="no",
                             logging_steps=10, use_cpu=True, disable_tqdm=True, remove_unused_columns=False)
    trainer = Trainer(model=model.train(), args=args, train_dataset=rows, data_collator=collate)
    trainer.train()
    return [e["loss"] for e in trainer.state.log_history if "loss" in e]


def _held_out_loss_and_unigram(model):
    """Next-byte loss on windows at all 13 phases of the pattern (not the training windows' starts), and the
    unigram baseline of the same targets: the byte histogram's entropy, computed here without the model. With every
    phase present each position's targets are the whole pattern, so no predictor blind to the bytes read so far
    (even one that knows the position) gets below the unigram entropy."""
    ids = torch.stack([PATTERN.repeat(40)[100 + phase : 356 + phase] for phase in range(13)])
    with torch.no_grad():
        loss = float(model.eval()(ids, labels=ids).loss)
    return loss, unigram_cross_entropy(ids[:, 1:])  # byte 0 of a window is never a target


def test_trainer_learns_a_repeating_pattern_and_checkpoint_transfers_to_the_classifier(tmp_path, caplog, bikes_mp4):
    model = _model()
    losses = _train_on_pattern(model, tmp_path)
    assert losses[-1] < losses[0], losses
    loss, unigram = _held_out_loss_and_unigram(model)
    assert unigram == pytest.approx(math.log(13) - 2 / 13 * math.log(2))  # 11 bytes once, one twice
    assert loss < 0.2 * unigram, (loss, unigram)  # the model reads the context; a blind one cannot (test below)

    out = tmp_path / "pretrained"
    model.save_pretrained(out)
    assert (out / "model.safetensors").exists()
    reloaded = AutoModelForCausalLM.from_pretrained(out)
    assert isinstance(reloaded, BytesVideoForCausalLM)
    ids = PATTERN.repeat(5)[None]
    torch.testing.assert_close(reloaded.eval()(ids).logits, model.eval()(ids).logits)

    hf_logging.enable_propagation()
    try:
        with caplog.at_level(logging.WARNING):
            classifier = BytesVideoForClassification.from_pretrained(out, num_labels=3)
    finally:
        hf_logging.disable_propagation()
    # every encoder parameter, a fresh head, and the same hidden states at every level on real video bytes
    assert_encoder_transferred(model, classifier, *video_windows(bikes_mp4))
    text = caplog.text
    assert "newly initialized" in text and "classifier.weight" in text and "classifier.bias" in text
    newly = text.split("newly initialized", 1)[1].split("\n")[0]
    assert "bytevid." not in newly  # only the head is new


def test_an_input_blind_model_does_not_beat_the_unigram_baseline(tmp_path):
    """The baseline above is a real floor: the same model and training with embeddings that ignore the bytes
    (bytevid_hf.testing.baselines.blind_embeddings) stay at the unigram entropy, far from the trained model's loss."""
    model = _model()
    with blind_embeddings(model):
        losses = _train_on_pattern(model, tmp_path)
        loss, unigram = _held_out_loss_and_unigram(model)
    assert losses[-1] < losses[0]  # it trains (towards the byte histogram) ...
    assert loss >= 0.99 * unigram, (loss, unigram)  # ... but cannot get below it
    assert not loss < 0.2 * unigram
