"""BytesVideoForRGBReconstruction (RGB-reconstruction pre-training) and its targets: sample_frames and
RGBReconstructionCollator. The test videos are encoded here with PyAV (losslessly), so the expected colours are known
independently of the code under test."""

import io
import json
import logging

import av
import numpy as np
import pytest
import torch
from transformers import Trainer, TrainingArguments
from transformers.utils import logging as hf_logging

from bytevid_hf import BytesVideoConfig, BytesVideoForClassification
from bytevid_hf.modeling.modeling_rgb import BytesVideoForRGBReconstruction, decoder_stage_sizes
from bytevid_hf.processing.ffmpeg_logs import quiet_ffmpeg_logs
from bytevid_hf.processing.frames import RGBReconstructionCollator, sample_frames
from bytevid_hf.testing.baselines import (
    assert_encoder_transferred,
    blind_embeddings,
    channel_mean_mse,
    constant_prediction_mse,
)

TINY = dict(reconstruction_tokens=(2, 2, 2), reconstruction_frames=4, reconstruction_size=16,
            reconstruction_hidden_size=8)


def _config(**overrides):
    settings = dict(TINY)
    settings.update(overrides)
    return BytesVideoConfig.from_preset("bytes-micro", **settings)


def _model(**overrides):
    torch.manual_seed(0)
    return BytesVideoForRGBReconstruction(_config(**overrides)).eval()


def _encode(colours, height=32, width=48, fps=10, border=False):
    """Lossless H.264 mp4: frame i is solid ``colours[i]``; with ``border`` columns 0-7 and the last 8 are white."""
    buf = io.BytesIO()
    with quiet_ffmpeg_logs(), av.open(buf, "w", format="mp4") as out:
        stream = out.add_stream("libx264", rate=fps, options={"qp": "0", "preset": "ultrafast"})
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        stream.codec_context.thread_count = 1
        for i, colour in enumerate(colours):
            image = np.empty((height, width, 3), np.uint8)
            image[:] = colour
            if border:
                image[:, :8] = 255
                image[:, -8:] = 255
            frame = av.VideoFrame.from_ndarray(image, format="rgb24")
            frame.pts = i
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)
    return buf.getvalue()


pytestmark = pytest.mark.usefixtures("one_torch_thread")  # conftest.py


# 20 distinct colours: red rises and green falls by 12 levels per frame, blue varies.
COLOURS = [(10 + 12 * i, 240 - 12 * i, 20 + (37 * i) % 200) for i in range(20)]


@pytest.fixture(scope="module")
def colour_video():
    return _encode(COLOURS, border=True)


def test_forward_backward_shapes_and_the_loss_is_the_mse():
    model = _model()
    ids = torch.randint(0, 256, (2, 300), generator=torch.Generator().manual_seed(1), dtype=torch.uint8)
    mask = torch.ones(2, 300, dtype=torch.long)
    mask[1, 170:] = 0
    pixels = torch.rand(2, 4, 3, 16, 16, generator=torch.Generator().manual_seed(2))
    out = model(ids, attention_mask=mask, pixel_values=pixels, output_hidden_states=True)
    assert out.reconstruction.shape == (2, 4, 3, 16, 16)
    assert float(out.reconstruction.detach().min()) >= 0.0 and float(out.reconstruction.detach().max()) <= 1.0
    manual = ((out.reconstruction - pixels) ** 2).sum() / pixels.numel()
    torch.testing.assert_close(out.loss, manual)
    assert len(out.hidden_states) == 1 + model.config.num_levels
    out.loss.backward()
    for param in (model.bytevid.embeddings.weight, model.token_pooling.queries, model.token_proj.weight,
                  model.decoder.out_conv.weight):
        assert param.grad is not None and bool(param.grad.abs().sum() > 0)

    loss, reconstruction = model(ids, attention_mask=mask, pixel_values=pixels, return_dict=False)
    torch.testing.assert_close(reconstruction, out.reconstruction)
    assert model(ids, attention_mask=mask).loss is None


def test_bad_inputs_raise_clear_errors():
    model = _model()
    ids = torch.randint(0, 256, (2, 64), dtype=torch.uint8)
    with pytest.raises(ValueError, match=r"\(2, 4, 3, 16, 16\), got \(2, 4, 16, 16, 3\)"):
        model(ids, pixel_values=torch.rand(2, 4, 16, 16, 3))
    with pytest.raises(ValueError, match=r"reconstruction_frames"):
        model(ids, pixel_values=torch.rand(1, 4, 3, 16, 16))  # wrong batch size
    with pytest.raises(TypeError, match="floating point"):
        model(ids, pixel_values=torch.zeros(2, 4, 3, 16, 16, dtype=torch.uint8))
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        model(ids, pixel_values=torch.full((2, 4, 3, 16, 16), 255.0))
    with pytest.raises(ValueError, match="input_ids"):
        model(pixel_values=torch.rand(2, 4, 3, 16, 16))


@pytest.mark.parametrize("pooling", ["concat", "attention"])
def test_padding_never_changes_a_real_videos_reconstruction(pooling):
    model = _model(pooling=pooling)
    g = torch.Generator().manual_seed(3)
    short = torch.randint(0, 256, (1, 301), generator=g, dtype=torch.uint8)  # not a multiple of the pool factor 64
    long = torch.arange(1000, dtype=torch.uint8)[None] % 7  # statistically unlike the random short one
    ids = torch.cat([torch.nn.functional.pad(short, (0, 699), value=7), long])
    mask = torch.zeros(2, 1000, dtype=torch.long)
    mask[0, :301], mask[1] = 1, 1
    with torch.no_grad():
        alone = model(short).reconstruction
        batched = model(ids, attention_mask=mask).reconstruction
        ids[0, 301:] = 200  # other padding content
        batched_other = model(ids, attention_mask=mask).reconstruction
    torch.testing.assert_close(batched[:1], alone, rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(batched_other[:1], alone, rtol=1e-4, atol=1e-5)
    if pooling == "concat":  # (a fresh attention-pooling backbone's last level is nearly input-independent)
        assert float((batched[1:] - alone).abs().max()) > 1e-3  # a different input reconstructs differently


def test_config_fields_round_trip_and_are_validated(tmp_path):
    config = _config(reconstruction_tokens=[3, 2, 4])  # a list (as read from JSON) is stored as a tuple
    assert config.reconstruction_tokens == (3, 2, 4)
    config.save_pretrained(tmp_path)
    stored = json.loads((tmp_path / "config.json").read_text())
    assert stored["reconstruction_tokens"] == [3, 2, 4] and stored["reconstruction_frames"] == 4
    loaded = BytesVideoConfig.from_pretrained(tmp_path)
    assert loaded.reconstruction_tokens == (3, 2, 4)
    assert (loaded.reconstruction_frames, loaded.reconstruction_size, loaded.reconstruction_hidden_size) == (4, 16, 8)
    assert loaded.to_dict() == config.to_dict()
    default = BytesVideoConfig()
    assert (default.reconstruction_tokens, default.reconstruction_frames, default.reconstruction_size,
            default.reconstruction_hidden_size) == ((5, 8, 8), 10, 128, 64)
    for bad, field in [(dict(reconstruction_tokens=(2, 2)), "reconstruction_tokens"),
                       (dict(reconstruction_tokens=(2, 0, 2)), "reconstruction_tokens"),
                       (dict(reconstruction_tokens=(5, 2, 2)), "must not exceed"),
                       (dict(reconstruction_size=0), "reconstruction_size"),
                       (dict(reconstruction_frames=2.5), "reconstruction_frames"),
                       (dict(reconstruction_hidden_size=True), "reconstruction_hidden_size")]:
        with pytest.raises(ValueError, match=field):
            _config(**bad)
    assert decoder_stage_sizes((5, 8, 8), (10, 128, 128)) == [(10, 16, 16), (10, 32, 32), (10, 64, 64),
                                                               (10, 128, 128)]
    assert decoder_stage_sizes((5, 3, 8), (16, 17, 8)) == [(10, 6, 8), (16, 12, 8), (16, 17, 8)]


def _nearest_frame(frame: torch.Tensor) -> int:
    """Which encoded frame a (3, S, S) sample shows, checking it is solid at that colour (within ±4 levels)."""
    rgb = (frame * 255).round()
    mean = rgb.mean((1, 2))
    index = int(np.argmin([np.abs(np.subtract(c, mean.tolist())).sum() for c in COLOURS]))
    expected = torch.tensor(COLOURS[index], dtype=torch.float32)[:, None, None]
    assert (rgb - expected).abs().max() <= 4, f"frame is not solid {COLOURS[index]}: {rgb.amin((1, 2))}"
    return index


def test_sample_frames_returns_the_encoded_colours_at_the_expected_times(colour_video):
    frames = sample_frames(colour_video, num_frames=4, size=16)
    assert frames.shape == (4, 3, 16, 16) and frames.dtype == torch.float32
    # linspace over the 20 frames, first and last included; the centre crop drops the white 8-px borders
    assert [_nearest_frame(f) for f in frames] == [0, 6, 13, 19]
    # fewer frames than asked for: all of them, then the last one repeated
    frames = sample_frames(colour_video, num_frames=24, size=16)
    assert [_nearest_frame(f) for f in frames] == list(range(20)) + [19] * 4
    # the first second at 10 fps = frames 0..9
    frames = sample_frames(io.BytesIO(colour_video), num_frames=4, size=16, max_seconds=1.0)
    assert [_nearest_frame(f) for f in frames] == [0, 3, 6, 9]
    # no crop at all when the size is the source's shorter side: the borders are there
    full = sample_frames(colour_video, num_frames=1, size=32)
    assert full.shape == (1, 3, 32, 32)
    assert bool((full[0, :, :, 0] * 255 - torch.tensor(COLOURS[0])[:, None]).abs().max() <= 4)
    assert float(full.min()) >= 0.0 and float(full.max()) <= 1.0


def test_sample_frames_errors_name_the_input(tmp_path):
    with pytest.raises(ValueError, match=r"<bytes of length 11>.*not a video"):
        sample_frames(b"not a video", num_frames=2, size=8)
    # every unnamed in-memory input is named by its length, as in transcode_video (it was "<numpy array of shape ...>")
    with pytest.raises(ValueError, match=r"^Could not sample frames from video <bytes of length 11>: .*not a video"):
        sample_frames(np.frombuffer(b"not a video", np.uint8), num_frames=2, size=8)
    path = tmp_path / "broken.mp4"
    path.write_bytes(b"\x00" * 100)
    with pytest.raises(ValueError, match="broken.mp4"):
        sample_frames(path)
    with pytest.raises(ValueError, match="num_frames"):
        sample_frames(b"x", num_frames=0)
    with pytest.raises(ValueError, match="max_seconds"):
        sample_frames(b"x", max_seconds=-1)
    with pytest.raises(FileNotFoundError):
        sample_frames(tmp_path / "missing.mp4")


BLACK, WHITE = (0, 0, 0), (255, 255, 255)


@pytest.fixture(scope="module")
def black_and_white_videos():
    """8 lossless clips, black or white throughout (alternately), of 12-19 frames: their frames are exactly 0 or 1,
    so no reconstruction that ignores the bytes does better than 0.5 everywhere (MSE 0.25)."""
    return [{"video": _encode([WHITE if i % 2 else BLACK] * (12 + i))} for i in range(8)]


def _train_reconstruction(model, rows, collator, tmp_path, steps=60):
    """Trainer (batch 4, Adam 1e-3) on ``rows``; returns the logged losses and the Trainer."""
    args = TrainingArguments(output_dir=str(tmp_path / "run"), per_device_train_batch_size=4, max_steps=steps,
                             lr_scheduler_type="constant", learning_rate=1e-3, report_to=[], save_strategy="no",
                             logging_steps=10, use_cpu=True, disable_tqdm=True, remove_unused_columns=False,
                             prediction_loss_only=True, per_device_eval_batch_size=4)
    trainer = Trainer(model=model.train(), args=args, train_dataset=rows, eval_dataset=rows, data_collator=collator)
    trainer.train()
    return [e["loss"] for e in trainer.state.log_history if "loss" in e], trainer


def _blind_baseline(pixels):
    """The MSE of the best reconstruction that ignores the input (the mean target at every pixel), which the per-
    channel mean colour cannot beat either; computed from the targets alone."""
    return min(constant_prediction_mse(pixels), channel_mean_mse(pixels, channel_dim=2))


def test_trainer_trains_from_encoded_videos_save_load_and_transfer_to_the_classifier(tmp_path, caplog,
                                                                                   black_and_white_videos):
    rows = black_and_white_videos
    collator = RGBReconstructionCollator.from_config(_config(), max_length=1024)  # bytes truncated, not the frames
    batch = collator(rows[:3])
    assert batch["input_ids"].dtype == torch.uint8 and batch["input_ids"].shape == (3, 1024)
    assert batch["attention_mask"].shape == batch["input_ids"].shape
    assert batch["pixel_values"].shape == (3, 4, 3, 16, 16)
    torch.testing.assert_close(batch["pixel_values"][1], sample_frames(rows[1]["video"], num_frames=4, size=16))
    with pytest.raises(KeyError, match="remove_unused_columns"):
        collator([{"label": 0}])
    pixels = collator(rows)["pixel_values"]
    for i, frames in enumerate(pixels):  # the known colours, so the baseline is known too
        assert float((frames - (i % 2)).abs().max()) <= 2 / 255
    baseline = _blind_baseline(pixels)
    assert baseline == pytest.approx(0.25, abs=0.01)

    model = _model()
    losses, trainer = _train_reconstruction(model, rows, collator, tmp_path)
    assert losses[-1] < losses[0], losses
    eval_loss = trainer.evaluate()["eval_loss"]  # forward(return_loss=True) gives Trainer a loss without labels
    assert eval_loss < 0.2 * baseline, (eval_loss, baseline)  # it reads the colour from the bytes
    batch = collator(rows[:4])

    out = tmp_path / "pretrained"
    model.save_pretrained(out)
    reloaded, info = BytesVideoForRGBReconstruction.from_pretrained(out, output_loading_info=True)
    assert not info["missing_keys"] and not info["unexpected_keys"]
    assert reloaded.config.reconstruction_tokens == (2, 2, 2)
    with torch.no_grad():
        torch.testing.assert_close(reloaded.eval()(**batch).reconstruction, model.eval()(**batch).reconstruction,
                                   rtol=0, atol=0)

    hf_logging.enable_propagation()
    try:
        with caplog.at_level(logging.WARNING):
            classifier = BytesVideoForClassification.from_pretrained(out, num_labels=3)
    finally:
        hf_logging.disable_propagation()
    assert_encoder_transferred(model, classifier, batch["input_ids"], batch["attention_mask"])
    text = caplog.text
    assert "newly initialized" in text and "classifier.weight" in text and "classifier.bias" in text
    newly = text.split("newly initialized", 1)[1].split("\n")[0]
    assert "bytevid." not in newly  # only the head is new


def test_an_input_blind_model_does_not_beat_the_constant_reconstruction(tmp_path, black_and_white_videos):
    """The baseline above is a real floor: the same training with embeddings that ignore the bytes
    (bytevid_hf.testing.baselines.blind_embeddings) ends at the mean-colour MSE, not below."""
    collator = RGBReconstructionCollator.from_config(_config(), max_length=1024)
    baseline = _blind_baseline(collator(black_and_white_videos)["pixel_values"])
    model = _model()
    with blind_embeddings(model):
        _, trainer = _train_reconstruction(model, black_and_white_videos, collator, tmp_path)
        eval_loss = trainer.evaluate()["eval_loss"]
    assert eval_loss >= 0.99 * baseline, (eval_loss, baseline)
    assert not eval_loss < 0.2 * baseline
