"""Long-video QA (issue 18, item 6): the QA model's encoder reads a video in chunks with the byte model's explicit state.

* inference: the chunked video tokens (last level), the QA logits and the loss equal one pass over the whole video;
* training: every parameter's gradient equals the one-pass gradient — each chunk is activation-checkpointed and the
  gradients flow through the carried state into every earlier chunk; with ``video_chunk_backprop="truncated"`` they
  equal a written-out truncated-BPTT reference instead (and differ from the one-pass ones inside the encoder);
* ``bytevid finetune-qa`` / ``evaluate-qa`` with ``--video_chunk_size`` stop truncating the videos (unless
  ``--max_video_bytes``) and save the setting in the model's config.

Chunk sizes are chosen not to divide the video lengths nor the last level's 64-byte windows. The tiny model of
tests/test_qa.py (bytes-micro encoder, 2-layer Gemma 3 of width 32), nothing downloaded.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from test_qa import QUESTION, VIDEO_BYTES, make_config, make_model, make_tokenizer, save_parts  # sibling test module

from bytevid_hf import BytesVideoConfig, BytesVideoProcessor
from bytevid_hf.modeling.configuration_qa import BytesVideoGemmaConfig
from bytevid_hf.modeling.modeling_qa import BytesVideoGemmaForQA
from bytevid_hf.processing.processing_qa import BytesVideoQAProcessor
from bytevid_hf.training.qa import configure_video_length, evaluate_main, finetune_main

pytestmark = pytest.mark.usefixtures("one_torch_thread")  # conftest.py

LENGTHS = (1000, 777)  # two videos of a padded batch; last levels of 16 and 13 positions
CHUNKS = (97, 300)  # divide neither length nor the 64-byte last-level window


def video_batch(lengths=LENGTHS, seed=1):
    generator = torch.Generator().manual_seed(seed)
    ids = torch.randint(0, 256, (len(lengths), max(lengths)), generator=generator).to(torch.uint8)
    mask = torch.zeros(ids.shape, dtype=torch.long)
    for row, length in enumerate(lengths):
        mask[row, :length] = 1
    return ids, mask


def prompt_batch(num_placeholders, batch=2, length=14, seed=2):
    """Prompts with ``num_placeholders`` (a count per row) video tokens (id 4), then text; labels on the tail."""
    generator = torch.Generator().manual_seed(seed)
    counts = [num_placeholders] * batch if isinstance(num_placeholders, int) else list(num_placeholders)
    width = max(counts) + length
    input_ids = torch.randint(5, 300, (batch, width), generator=generator)
    attention_mask = torch.ones_like(input_ids)
    for row, count in enumerate(counts):
        input_ids[row, 1 : 1 + count] = 4
    labels = input_ids.clone()
    labels[:, : width - 4] = -100
    return input_ids, attention_mask, labels


def run(model, chunk_size, video, prompts, backward=False):
    """Loss, logits and (with ``backward``) every parameter's gradient with ``config.video_chunk_size``."""
    model.config.video_chunk_size = chunk_size
    model.zero_grad(set_to_none=True)
    input_ids, attention_mask, labels = prompts
    with torch.set_grad_enabled(backward):
        out = model(input_ids=input_ids, attention_mask=attention_mask, video_input_ids=video[0],
                    video_attention_mask=video[1], labels=labels)
    grads = {}
    if backward:
        out.loss.backward()
        grads = {name: p.grad.clone() for name, p in model.named_parameters() if p.grad is not None}
    return out.loss.detach(), out.logits.detach(), grads


def assert_same_gradients(grads, reference, rel=2e-5):
    """Per parameter: |g - g_ref| <= rel · max|g_ref| (+1e-9 for gradients that are zero up to rounding)."""
    assert set(grads) == set(reference)
    for name, ref in reference.items():
        tolerance = rel * float(ref.abs().max()) + 1e-9
        err = float((grads[name] - ref).abs().max())
        assert err <= tolerance, f"{name}: max |Δgrad| {err:.3g} > {tolerance:.3g}"


@pytest.mark.parametrize("num_video_tokens", [4, 0])
def test_chunked_video_tokens_and_logits_equal_one_pass(num_video_tokens):
    model = make_model(num_video_tokens=num_video_tokens).eval()
    video = video_batch()
    with torch.no_grad():
        hidden, mask = model.encode_video(*video, video_chunk_size=0)  # one pass over the padded batch
    assert mask.sum(1).tolist() == [16, 13]
    placeholders = 4 if num_video_tokens else mask.sum(1).tolist()
    prompts = prompt_batch(placeholders)
    loss, logits, _ = run(model, None, video, prompts)
    for chunk in CHUNKS:
        with torch.no_grad():
            chunked, chunked_mask = model.encode_video(*video, video_chunk_size=chunk)
        assert torch.equal(chunked_mask, mask)
        torch.testing.assert_close(chunked[chunked_mask], hidden[mask], rtol=1e-5, atol=1e-5)
        chunk_loss, chunk_logits, _ = run(model, chunk, video, prompts)  # through config.video_chunk_size
        torch.testing.assert_close(chunk_logits, logits, rtol=1e-5, atol=1e-5)
        torch.testing.assert_close(chunk_loss, loss, rtol=1e-5, atol=1e-6)


def test_chunked_training_gradients_equal_one_pass_and_chunks_are_checkpointed():
    model = make_model(num_video_tokens=4).train()
    video, prompts = video_batch(), prompt_batch(4)
    loss, logits, grads = run(model, None, video, prompts, backward=True)
    assert len(grads) == len(list(model.parameters()))  # every parameter, the encoder's included, gets a gradient

    calls = []
    hook = model.bytevid.register_forward_pre_hook(lambda module, args: calls.append(args[0].shape[1]))
    try:
        chunk_loss, chunk_logits, chunk_grads = run(model, 300, video, prompts, backward=True)
    finally:
        hook.remove()
    torch.testing.assert_close(chunk_loss, loss, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(chunk_logits, logits, rtol=1e-5, atol=1e-5)
    assert_same_gradients(chunk_grads, grads)
    # 4 + 3 chunks, each run once forward and recomputed once in backward (activation checkpointing per chunk).
    assert sorted(calls) == sorted([300, 300, 300, 100, 300, 300, 177] * 2)


def test_the_carried_state_holds_no_view_of_a_chunks_activations():
    """Under checkpointing the state after every chunk lives until backward: each of its tensors must own a storage of
    its own size (a pooling buffer is a slice of a whole level's output; it is copied)."""
    model = make_model(num_video_tokens=4).train()
    video = torch.randint(0, 256, (1, 1001), dtype=torch.uint8)  # open windows at every level
    _, cache = model._encode_video_chunk(video, None, last=False)
    tensors = [b for b in cache.pool_buffers if b is not None]
    assert len(tensors) == 3
    tensors += [t for level in cache.layer_states for state in level for t in state] + [cache.pooled_sum]
    for tensor in tensors:
        assert tensor.untyped_storage().nbytes() == tensor.numel() * tensor.element_size()


def truncated_bptt_reference(model, video, prompts, chunk_size):
    """Loss and gradients of truncated backpropagation through time, written out with the backbone's public API: each
    video is read chunk by chunk, every chunk starting from the previous chunk's ``cache`` detached, no checkpointing;
    a chunk that is not the last contributes the last-level positions its end makes final, ``end // P`` of them for
    the total pool factor P (the last chunk contributes the rest). The rest of the forward is the model's."""
    factor = model.config.video_config.total_pool_factor
    ids, mask = video
    rows = []
    for b, length in enumerate(mask.sum(1).tolist()):
        cache, pieces, done = None, [], 0
        for start in range(0, length, chunk_size):
            end = min(start + chunk_size, length)
            out = model.bytevid(ids[b : b + 1, start:end], cache=None if cache is None else cache.detach(),
                                use_cache=end < length, return_dict=True)
            final = out.last_hidden_state.shape[1] if end == length else end // factor - done
            pieces.append(out.last_hidden_state[:, :final])
            done += final
            cache = out.cache
        rows.append(torch.cat(pieces, dim=1))  # (1, n_b, D)
    width = max(row.shape[1] for row in rows)
    hidden = torch.cat([torch.nn.functional.pad(row, (0, 0, 0, width - row.shape[1])) for row in rows])
    counts = torch.tensor([row.shape[1] for row in rows])
    last_mask = torch.arange(width).unsqueeze(0) < counts.unsqueeze(1)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(model, "encode_video", lambda *args, **kwargs: (hidden, last_mask))
        return run(model, None, video, prompts, backward=True)


@pytest.mark.parametrize("chunk_size", [97, 300])
def test_truncated_backprop_gradients_equal_the_truncated_bptt_reference(chunk_size):
    """``video_chunk_backprop="truncated"`` on videos 2.6-10x longer than a chunk: the forward is the one pass's, the
    gradients are those of the written-out truncated BPTT above, and they differ from the full (one-pass) gradients
    only inside the encoder — by far more than the tolerance, so the check can tell the two modes apart."""
    model = make_model(num_video_tokens=4).train()
    video, prompts = video_batch(), prompt_batch(4)
    loss, logits, full = run(model, None, video, prompts, backward=True)  # one pass = full BPTT
    ref_loss, _, reference = truncated_bptt_reference(model, video, prompts, chunk_size)
    model.config.video_chunk_backprop = "truncated"
    trunc_loss, trunc_logits, truncated = run(model, chunk_size, video, prompts, backward=True)
    torch.testing.assert_close(trunc_loss, loss, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(trunc_logits, logits, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(ref_loss, loss, rtol=1e-5, atol=1e-6)
    assert_same_gradients(truncated, reference)
    encoder = [name for name in full if name.startswith("bytevid.levels")]
    outside = [name for name in full if not name.startswith("bytevid.")]
    assert_same_gradients({k: truncated[k] for k in outside}, {k: full[k] for k in outside})
    with pytest.raises(AssertionError, match="bytevid"):
        assert_same_gradients({k: truncated[k] for k in encoder}, {k: full[k] for k in encoder})


def test_truncated_backprop_config_and_errors(tmp_path):
    assert make_config().video_chunk_backprop == "full"
    with pytest.raises(ValueError, match="video_chunk_backprop"):
        make_config(video_chunk_backprop="none")
    model = make_model(video_chunk_size=4096, video_chunk_backprop="truncated")
    model.save_pretrained(tmp_path)
    assert BytesVideoGemmaConfig.from_pretrained(tmp_path).video_chunk_backprop == "truncated"
    p = BytesVideoQAProcessor(BytesVideoProcessor(max_length=VIDEO_BYTES), make_tokenizer(), num_video_tokens=4)
    with pytest.raises(ValueError, match="video_chunk_backprop"):
        configure_video_length(model, p, video_chunk_backprop="partial")
    configure_video_length(model, p, video_chunk_backprop="full")
    assert model.config.video_chunk_backprop == "full" and model.config.video_chunk_size == 4096


def test_frozen_encoder_is_not_checkpointed_and_generate_matches():
    model = make_model(num_video_tokens=4)
    model.bytevid.requires_grad_(False)
    video, prompts = video_batch(), prompt_batch(4)
    _, _, grads = run(model, None, video, prompts, backward=True)
    calls = []
    model.bytevid.register_forward_pre_hook(lambda module, args: calls.append(1))
    _, _, chunk_grads = run(model, 300, video, prompts, backward=True)
    assert len(calls) == 7  # no recomputation: nothing of the encoder trains
    assert not any(name.startswith("bytevid.") for name in chunk_grads)
    assert_same_gradients(chunk_grads, grads)
    # generate() encodes the video in the prefill step, in chunks, and decodes the same tokens.
    model.eval()
    input_ids, attention_mask, _ = prompts
    kwargs = dict(video_input_ids=video[0], video_attention_mask=video[1], max_new_tokens=4, do_sample=False)
    model.config.video_chunk_size = None
    one_pass = model.generate(input_ids=input_ids, attention_mask=attention_mask, **kwargs)
    model.config.video_chunk_size = 97
    assert torch.equal(model.generate(input_ids=input_ids, attention_mask=attention_mask, **kwargs), one_pass)


def test_config_and_errors(tmp_path):
    assert make_config().video_chunk_size is None
    assert make_config(video_chunk_size=0).video_chunk_size is None
    for bad in (-1, 2.5, True):
        with pytest.raises(ValueError, match="video_chunk_size"):
            make_config(video_chunk_size=bad)
    model = make_model(video_chunk_size=4096)
    model.save_pretrained(tmp_path)
    assert BytesVideoGemmaConfig.from_pretrained(tmp_path).video_chunk_size == 4096
    # Chunked reading needs a stateful encoder; left padding is refused as in one pass.
    transformer = BytesVideoGemmaForQA(BytesVideoGemmaConfig(
        video_config=BytesVideoConfig.from_preset("bytes-micro", mixer_type="transformer"),
        text_config=make_config().text_config, num_video_tokens=4, video_token_id=4))
    ids, mask = video_batch()
    with pytest.raises(ValueError, match="stateful"):
        transformer.encode_video(ids, mask, video_chunk_size=300)
    with pytest.raises(ValueError, match="right-padded"):
        model.encode_video(ids, mask.flip(1), video_chunk_size=300)


def test_configure_video_length_keeps_todays_default_and_reads_whole_videos_in_long_video_mode():
    def processor():  # as loaded from an encoder checkpoint trained on one window
        return BytesVideoQAProcessor(BytesVideoProcessor(max_length=VIDEO_BYTES), tokenizer, num_video_tokens=4)

    tokenizer = make_tokenizer()
    model = make_model()
    p = processor()
    configure_video_length(model, p)  # no long-video mode, no --max_video_bytes: unchanged
    assert model.config.video_chunk_size is None and p.video_processor.max_length == VIDEO_BYTES
    p = processor()
    configure_video_length(model, p, video_chunk_size=4096)
    assert model.config.video_chunk_size == 4096 and p.video_processor.max_length is None
    p = processor()
    configure_video_length(model, p, max_video_bytes=15_000_000)  # the model's saved mode is kept
    assert model.config.video_chunk_size == 4096 and p.video_processor.max_length == 15_000_000
    assert p.video_processor.truncation is True
    p = processor()
    configure_video_length(model, p, video_chunk_size=0)  # back to one pass: the processor is left as it is
    assert model.config.video_chunk_size is None and p.video_processor.max_length == VIDEO_BYTES
    with pytest.raises(ValueError, match="video_chunk_size"):
        configure_video_length(model, p, video_chunk_size=-5)


def test_finetune_and_evaluate_read_whole_videos_with_video_chunk_size(tmp_path):
    """The encoder checkpoint's processor truncates to 1,024 bytes; --video_chunk_size 1000 reads the ~3.8 KB clips
    whole, in chunks (state carried, truncated BPTT), and saves the mode with the model, so evaluate-qa reads them the
    same way."""
    from bytevid_hf.data.synthetic import SyntheticVideoTask

    clips = SyntheticVideoTask(num_classes=2, min_frames=16, max_frames=18).generate(2, seed=0, progress=False)
    encoder_dir, lm_dir = save_parts(tmp_path)
    (tmp_path / "videos").mkdir()
    with open(tmp_path / "qa.jsonl", "w") as f:
        for i, clip in enumerate(clips):
            assert len(clip["video"]) > 3 * 1000
            (tmp_path / "videos" / f"{i}.mp4").write_bytes(clip["video"])
            f.write(json.dumps({"video": f"videos/{i}.mp4", "question": QUESTION, "answer": "one cut"}) + "\n")
    seen = []
    original = BytesVideoGemmaForQA.encode_video

    def spy(self, video_input_ids, video_attention_mask=None, video_chunk_size=None):
        seen.append((int(video_attention_mask.sum(1).max()), self.config.video_chunk_size,
                     self.config.video_chunk_backprop))
        return original(self, video_input_ids, video_attention_mask, video_chunk_size)

    out = tmp_path / "out"
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(BytesVideoGemmaForQA, "encode_video", spy)
        result = finetune_main(["--video_encoder", str(encoder_dir), "--language_model", str(lm_dir),
                                "--train_file", str(tmp_path / "qa.jsonl"), "--output_dir", str(out),
                                "--max_steps", "1", "--per_device_train_batch_size", "2", "--report_to", "none",
                                "--save_strategy", "no", "--use_cpu", "--disable_tqdm", "true",
                                "--num_video_tokens", "4", "--video_chunk_size", "1000",
                                "--video_chunk_backprop", "truncated"])
        assert result.global_step == 1 and torch.isfinite(torch.tensor(result.training_loss))
        assert seen == [(max(len(c["video"]) for c in clips), 1000, "truncated")]
        saved_config = BytesVideoGemmaConfig.from_pretrained(out)
        assert (saved_config.video_chunk_size, saved_config.video_chunk_backprop) == (1000, "truncated")
        saved = json.loads((out / "processor_config.json").read_text())
        assert saved["video_processor"].get("max_length") is None
        seen.clear()
        metrics = evaluate_main(["--model_name_or_path", str(out), "--eval_file", str(tmp_path / "qa.jsonl"),
                                 "--max_new_tokens", "2", "--device", "cpu", "--batch_size", "2"])
        assert metrics["num_open_ended"] == 2
        assert seen == [(max(len(c["video"]) for c in clips), 1000, "truncated")]


SP_CASES = [
    {"num_video_tokens": 4, "chunk": None, "backprop": "full"},  # one pass, pooled video tokens
    {"num_video_tokens": 0, "chunk": None, "backprop": "full"},  # one pass, every last-level position a token
    {"num_video_tokens": 4, "chunk": 300, "backprop": "full"},  # chunks with the carried state, checkpointed
    {"num_video_tokens": 0, "chunk": 777, "backprop": "truncated"},  # chunks, truncated BPTT
]


@pytest.mark.parametrize("world", [2, pytest.param(3, marks=pytest.mark.slow)])
def test_sequence_parallel_video_encoder_equals_one_process(world, tmp_path):
    """``enable_sequence_parallel`` on the QA model: its encoder runs on ``world`` gloo ranks and gathers the last
    level; loss, logits and every averaged gradient equal the single-process run, in one pass and in chunks
    (tests/qa_sequence_parallel_worker.py)."""
    worker = Path(__file__).with_name("qa_sequence_parallel_worker.py")
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc-per-node={world}", str(worker),
           json.dumps(SP_CASES)]
    proc = subprocess.run(cmd, cwd=tmp_path, env=dict(os.environ, OMP_NUM_THREADS="1"), capture_output=True,
                          text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-6000:]
    found = sorted(re.findall(r"rank (\d+): OK (\d+) cases", proc.stdout))
    assert found == [(str(rank), str(len(SP_CASES))) for rank in range(world)], proc.stdout


@pytest.mark.slow
def test_long_video_gradients_with_the_mixers_own_blocks_and_checkpointing():
    """A 20,000-byte video in chunks of 4,099 bytes, with the Mamba layers' own blocks (mixer_block_size 512) and
    their activation checkpointing inside each checkpointed chunk: the one-pass gradients."""
    torch.manual_seed(0)
    config = make_config(num_video_tokens=4)
    config.video_config.mixer_block_size = 512
    model = BytesVideoGemmaForQA(config).train()
    model.bytevid.activation_checkpointing_enable()
    video, prompts = video_batch((20_000, 13_001)), prompt_batch(4)
    loss, logits, grads = run(model, None, video, prompts, backward=True)
    chunk_loss, chunk_logits, chunk_grads = run(model, 4099, video, prompts, backward=True)
    torch.testing.assert_close(chunk_loss, loss, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(chunk_logits, logits, rtol=1e-5, atol=1e-5)
    assert_same_gradients(chunk_grads, grads, rel=1e-4)
