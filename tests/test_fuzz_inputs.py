"""Hostile and broken inputs (issue 8, part 1): fuzzing the processor, transcoder, JPEG mode and pipeline.

Allowed outcomes for every case: a correct result (checked against an independent reference — the
file's own bytes, a decodable output, the good inputs' standalone predictions) or a documented
:class:`VideoInputError` whose message names the input, within a wall-clock limit. The hypothesis
runs are derandomized and bounded (``max_examples``), so CI is reproducible; a longer profile is
marked ``slow``. ``scripts/fuzz_inputs.py`` runs the same targets for the README table.
"""

from __future__ import annotations

import os
import pickle
import struct
import threading
import time
import warnings

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import bytevid_hf
from bytevid_hf import BytesVideoConfig, BytesVideoForClassification, BytesVideoProcessor
from bytevid_hf.testing.fuzzing import (
    MUTATIONS,
    TARGETS,
    check_pipeline,
    file_cases,
    input_name,
    mutate,
    parse_boxes,
    run_case,
    tiny_mp4,
)
from bytevid_hf.pipelines import BytesVideoClassificationPipeline, SkippedVideoInputsWarning
from bytevid_hf.processing import transcode_video, video_to_jpeg_bytes
from bytevid_hf.processing.deadline import Deadline, DeadlineReader
from bytevid_hf.processing.errors import (
    InvalidVideoError,
    VideoDecodeTimeoutError,
    VideoInputError,
    VideoIsADirectoryError,
    VideoNotFoundError,
    VideoPermissionError,
    VideoReadError,
    VideoTooLargeError,
)
from bytevid_hf.processing.video_processor import DEFAULT_MAX_INPUT_BYTES

TIMEOUT = 10.0  # decode deadline per case; run_case flags anything slower than TIMEOUT + 10 s


pytestmark = pytest.mark.usefixtures("one_torch_thread")  # conftest.py


@pytest.fixture(scope="module")
def seed_mp4() -> bytes:
    return tiny_mp4()


@pytest.fixture(scope="module")
def bikes_bytes(bikes_mp4) -> bytes:
    return bikes_mp4.read_bytes()


@pytest.fixture(scope="module")
def classifier(tmp_path_factory):
    """pipeline("video-classification", pipeline_class=BytesVideoClassificationPipeline) on a saved random
    bytes-micro checkpoint with a transcoding processor."""
    from transformers import pipeline

    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("checkpoint")
    BytesVideoForClassification(BytesVideoConfig.from_preset("bytes-micro", num_labels=3)).save_pretrained(path)
    BytesVideoProcessor(transcode=True, size=32, bitrate=50_000, fps=6, decode_timeout=TIMEOUT).save_pretrained(path)
    return pipeline("video-classification", model=str(path), pipeline_class=BytesVideoClassificationPipeline)


def assert_no_finding(outcome, case: str) -> None:
    assert outcome.kind != "finding", f"{case}: {outcome.detail}\n{outcome.message}"


# ----------------------------------------------------------------------------------------------- error classes


def test_error_hierarchy_keeps_builtin_compatibility():
    assert issubclass(VideoInputError, ValueError)
    for cls, builtin in (
        (VideoReadError, OSError),
        (VideoNotFoundError, FileNotFoundError),
        (VideoIsADirectoryError, IsADirectoryError),
        (VideoPermissionError, PermissionError),
        (VideoDecodeTimeoutError, TimeoutError),
    ):
        assert issubclass(cls, VideoInputError) and issubclass(cls, builtin) and issubclass(cls, ValueError)
    for cls in (VideoTooLargeError, InvalidVideoError):
        assert issubclass(cls, VideoInputError)
    err = VideoNotFoundError("Video file not found: 'a.mp4'", input_name="a.mp4", reason="the path does not exist")
    indexed = err.with_batch_index(3)
    assert type(indexed) is VideoNotFoundError and str(indexed) == "videos[3]: Video file not found: 'a.mp4'"
    assert (indexed.index, indexed.input_name, indexed.reason) == (3, "a.mp4", "the path does not exist")
    copy = pickle.loads(pickle.dumps(indexed))  # DataLoader workers pickle exceptions
    assert type(copy) is VideoNotFoundError and str(copy) == str(indexed) and copy.index == 3
    assert copy.reason == "the path does not exist"


# ----------------------------------------------------------------------------------------------- the mutators


def test_mutators_find_and_damage_the_boxes(seed_mp4):
    boxes = parse_boxes(seed_mp4)
    top = [b.type for b in boxes if b.depth == 0]
    assert b"moov" in top and b"mdat" in top and top[0] == b"ftyp"
    assert sum(b.size for b in boxes if b.depth == 0) == len(seed_mp4)  # the top level tiles the file
    assert {b"stts", b"stsz", b"stco"} <= {b.type for b in boxes}
    moov = next(b for b in boxes if b.type == b"moov")
    mdat = next(b for b in boxes if b.type == b"mdat")
    for seed in range(20):
        cut = mutate(seed_mp4, "truncate_in_moov", seed)
        assert moov.offset < len(cut) < moov.offset + moov.size and seed_mp4.startswith(cut)
        zero = mutate(seed_mp4, "zero_length_mdat", seed)  # payload removed, or only the size set to 8
        assert struct.unpack(">I4s", zero[mdat.offset : mdat.offset + 8]) == (8, b"mdat")
        assert len(zero) in (len(seed_mp4), len(seed_mp4) - (mdat.size - 8))
    for name in MUTATIONS:  # deterministic, non-empty, and (almost always) different from the seed file
        outs = [mutate(seed_mp4, name, seed) for seed in range(10)]
        assert outs == [mutate(seed_mp4, name, seed) for seed in range(10)]
        assert all(outs) and sum(out != seed_mp4 for out in outs) >= 9, name


def test_fuzz_corpus_reaches_both_outcomes(seed_mp4):
    """The mutations are neither all harmless nor all fatal: both results and errors occur."""
    labels = {
        run_case(TARGETS["transcode"].check, data, input_name(data), TIMEOUT).label
        for name in MUTATIONS
        for data in (mutate(seed_mp4, name, seed) for seed in range(4))
    }
    assert "ok" in labels and "error:InvalidVideoError" in labels and not any(x.startswith("finding") for x in labels)


# ----------------------------------------------------------------------------------------------- hypothesis fuzzing

_FUZZ = dict(deadline=None, derandomize=True, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                     HealthCheck.too_slow])
cases = dict(mutation=st.sampled_from(sorted(MUTATIONS)), seed=st.integers(0, 2**32 - 1))


@pytest.mark.parametrize("target", sorted(TARGETS))
@settings(max_examples=400, **_FUZZ)
@given(**cases)
def test_fuzz_tiny_mp4(seed_mp4, target, mutation, seed):
    data = mutate(seed_mp4, mutation, seed)
    outcome = run_case(TARGETS[target].check, data, input_name(data), TIMEOUT)
    assert_no_finding(outcome, f"{target} {mutation} seed={seed}")
    if target == "processor":  # raw bytes: every non-empty input is valid by design
        assert outcome.kind == "ok"


@pytest.mark.parametrize("target", sorted(TARGETS))
@settings(max_examples=6, **_FUZZ)
@given(**cases)
def test_fuzz_bikes_mp4(bikes_bytes, target, mutation, seed):
    data = mutate(bikes_bytes, mutation, seed)
    assert_no_finding(run_case(TARGETS[target].check, data, input_name(data), TIMEOUT), f"{target} {mutation} seed={seed}")


@settings(max_examples=60, **_FUZZ)
@given(**cases)
def test_fuzz_pipeline_batch(classifier, seed_mp4, mutation, seed):
    reference = classifier(seed_mp4)
    bad = mutate(seed_mp4, mutation, seed)
    outcome = run_case(lambda video, name, timeout: check_pipeline(classifier, seed_mp4, video, reference),
                       bad, input_name(bad), TIMEOUT)
    assert_no_finding(outcome, f"pipeline {mutation} seed={seed}")


@pytest.mark.slow
@pytest.mark.parametrize("target", sorted(TARGETS))
@settings(max_examples=3000, **_FUZZ)
@given(**cases)
def test_fuzz_tiny_mp4_long(seed_mp4, target, mutation, seed):
    data = mutate(seed_mp4, mutation, seed)
    assert_no_finding(run_case(TARGETS[target].check, data, input_name(data), TIMEOUT), f"{target} {mutation} seed={seed}")


@pytest.mark.slow
@pytest.mark.parametrize("target", sorted(TARGETS))
@settings(max_examples=100, **_FUZZ)
@given(**cases)
def test_fuzz_bikes_mp4_long(bikes_bytes, target, mutation, seed):
    data = mutate(bikes_bytes, mutation, seed)
    assert_no_finding(run_case(TARGETS[target].check, data, input_name(data), TIMEOUT), f"{target} {mutation} seed={seed}")


# ----------------------------------------------------------------------------------------------- hostile files

# case -> allowed outcome labels (processor, transcode/jpeg)
_FILE_EXPECTATIONS = {
    "mp4 named .txt": ({"ok"}, {"ok"}),
    "text named .mp4": ({"ok"}, {"error:InvalidVideoError"}),
    "empty .mp4": ({"error:InvalidVideoError"}, {"error:InvalidVideoError"}),
    # FFmpeg probes a PNG as a one-frame image sequence; either outcome is documented.
    "PNG named .mp4": ({"ok"}, {"ok", "error:InvalidVideoError"}),
    "directory": ({"error:VideoIsADirectoryError"},) * 2,
    "unreadable (chmod 000)": ({"error:VideoPermissionError"},) * 2,
    "symlink loop": ({"error:VideoReadError"},) * 2,
    "dangling symlink": ({"error:VideoNotFoundError"},) * 2,
    "FIFO without writer": ({"error:VideoReadError"},) * 2,
    "character device /dev/zero": ({"error:VideoReadError"},) * 2,
    "missing file": ({"error:VideoNotFoundError"},) * 2,
    "path with a NUL byte": ({"error:InvalidVideoError"},) * 2,
}


@pytest.fixture(scope="module")
def hostile_files(tmp_path_factory, seed_mp4):
    directory = tmp_path_factory.mktemp("hostile")
    cases = file_cases(str(directory), seed_mp4)
    yield cases
    os.chmod(os.path.join(directory, "locked.mp4"), 0o600)


def _run_guarded(fn, seconds: float, fifo: str | None = None):
    """Run ``fn`` in a thread; fail (and unblock a FIFO reader) if it does not return within ``seconds``."""
    result = {}

    def target():
        try:
            result["value"] = fn()
        except BaseException as e:  # re-raised in the calling thread
            result["error"] = e

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    thread.join(seconds)
    if thread.is_alive():
        if fifo is not None:  # a blocked open() of the FIFO returns once a writer appears
            os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))
        pytest.fail(f"did not return within {seconds} s (blocked)")
    if "error" in result:
        raise result["error"]
    return result["value"]


def test_hostile_files_case_list_is_complete(hostile_files):
    assert {case for case, _, _ in hostile_files} == set(_FILE_EXPECTATIONS)


@pytest.mark.parametrize("case", sorted(_FILE_EXPECTATIONS))
def test_hostile_files(hostile_files, case):
    _, path, skip = next(c for c in hostile_files if c[0] == case)
    if skip:
        pytest.skip(skip)
    fifo = path if case.startswith("FIFO") else None
    for target in sorted(TARGETS):
        allowed = _FILE_EXPECTATIONS[case][0 if target == "processor" else 1]
        outcome = _run_guarded(lambda: run_case(TARGETS[target].check, path, input_name(path), TIMEOUT), 20, fifo)
        assert_no_finding(outcome, f"{case} / {target}")
        assert outcome.label in allowed, f"{case} / {target}: {outcome.label} ({outcome.message})"


def test_pipeline_batch_with_hostile_files(classifier, hostile_files, seed_mp4, tmp_path):
    good = tmp_path / "good.mp4"
    good.write_bytes(seed_mp4)
    reference = classifier(str(good))
    bad = [path for case, path, skip in hostile_files if not skip and _FILE_EXPECTATIONS[case][1] != {"ok"}
           and not case.startswith("PNG")]
    inputs = [str(good), *bad, str(good)]
    with pytest.warns(SkippedVideoInputsWarning) as record:
        results = _run_guarded(lambda: classifier(inputs, on_error="skip"), 60)
    assert len(results) == len(inputs) and results[0] == reference and results[-1] == reference
    assert results[1:-1] == [None] * len(bad)
    warning = next(w.message for w in record if isinstance(w.message, SkippedVideoInputsWarning))
    assert [i for i, _ in warning.errors] == list(range(1, len(bad) + 1))
    for index, path in enumerate(bad, start=1):
        assert f"inputs[{index}]" in str(warning) and (path in str(warning) or repr(path)[1:-1] in str(warning))
    with pytest.raises(VideoInputError) as excinfo:  # raise mode: the first bad input, by index and path
        classifier(inputs)
    assert excinfo.value.index == 1 and str(excinfo.value).startswith("inputs[1]: ")
    assert repr(bad[0])[1:-1] in str(excinfo.value)


# ----------------------------------------------------------------------------------------------- pipeline behaviour


def test_pipeline_names_bad_inputs_and_other_inputs_survive(classifier, seed_mp4, tmp_path):
    assert isinstance(classifier, BytesVideoClassificationPipeline)
    good = tmp_path / "good.mp4"
    good.write_bytes(seed_mp4)
    corrupt = tmp_path / "corrupt.mp4"
    corrupt.write_bytes(seed_mp4[: len(seed_mp4) // 3])  # moov is at the end: cut off
    alone = [classifier(str(good), top_k=2)]
    with pytest.raises(InvalidVideoError) as excinfo:
        classifier([str(good), str(corrupt), str(good)], top_k=2)
    assert excinfo.value.index == 1 and "inputs[1]" in str(excinfo.value) and str(corrupt) in str(excinfo.value)
    assert isinstance(excinfo.value.__cause__, InvalidVideoError)  # the processor's own error is chained
    with pytest.warns(SkippedVideoInputsWarning, match=r"inputs\[1\].*corrupt\.mp4"):
        results = classifier([str(good), str(corrupt), str(good)], top_k=2, on_error="skip")
    assert results == [alone[0], None, alone[0]]
    # a single bad input: raise (no index) or None with a warning
    with pytest.raises(InvalidVideoError, match="corrupt.mp4") as excinfo:
        classifier(str(corrupt))
    assert excinfo.value.index is None and not str(excinfo.value).startswith("inputs[")
    with pytest.warns(SkippedVideoInputsWarning):
        assert classifier(str(corrupt), on_error="skip") is None
    # generators are processed lazily, with the same rules
    with pytest.warns(SkippedVideoInputsWarning):
        lazy = classifier((v for v in [str(good), str(corrupt)]), on_error="skip", top_k=2)
        assert list(lazy) == [alone[0], None]
    with pytest.raises(ValueError, match="on_error"):
        classifier(str(good), on_error="ignore")


def test_pipeline_forwards_size_limit_and_deadline(classifier, seed_mp4, tmp_path):
    good = tmp_path / "good.mp4"
    good.write_bytes(seed_mp4)
    with pytest.raises(VideoTooLargeError) as excinfo:
        classifier([str(good), str(good)], max_input_bytes=len(seed_mp4) - 1)
    assert excinfo.value.index == 0 and str(good) in str(excinfo.value) and f"max_bytes={len(seed_mp4) - 1}" in str(excinfo.value)
    assert classifier(str(good), max_input_bytes=len(seed_mp4)) == classifier(str(good))
    with pytest.raises(VideoDecodeTimeoutError, match="good.mp4"):
        classifier(str(good), decode_timeout=1e-9)
    assert classifier.video_processor.max_input_bytes == DEFAULT_MAX_INPUT_BYTES  # per-call only


def test_pipeline_skip_can_be_the_default(classifier, seed_mp4):
    pipe = BytesVideoClassificationPipeline(model=classifier.model, video_processor=classifier.video_processor,
                                            on_error="skip")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        results = pipe([seed_mp4, b"not a video at all"])
    assert results[1] is None and results[0] == classifier(seed_mp4)
    assert any(isinstance(w.message, SkippedVideoInputsWarning) for w in caught)
    with pytest.raises(InvalidVideoError):
        pipe([seed_mp4, b"not a video at all"], on_error="raise")


# ----------------------------------------------------------------------------------------------- size limit


def test_default_max_input_bytes_is_saved_and_checked_before_reading(tmp_path):
    processor = BytesVideoProcessor()
    assert processor.max_input_bytes == DEFAULT_MAX_INPUT_BYTES == 2 * 1024**3
    processor.save_pretrained(tmp_path)
    assert BytesVideoProcessor.from_pretrained(tmp_path).max_input_bytes == DEFAULT_MAX_INPUT_BYTES
    huge = tmp_path / "huge.mp4"
    with open(huge, "wb") as f:  # sparse: 2 GiB + 1 byte on paper, nothing on disk
        f.truncate(DEFAULT_MAX_INPUT_BYTES + 1)
    start = time.process_time()
    with pytest.raises(VideoTooLargeError, match=f"huge.mp4.*{DEFAULT_MAX_INPUT_BYTES + 1} bytes"):
        processor([str(huge)])
    assert time.process_time() - start < 1.0  # rejected from fstat, not by reading 2 GiB
    unlimited = BytesVideoProcessor(max_input_bytes=None)
    assert unlimited.max_input_bytes is None and unlimited(b"abc")["input_ids"].shape == (1, 3)


# ----------------------------------------------------------------------------------------------- deadlines


def test_decode_deadline_names_the_input(seed_mp4, bikes_mp4):
    with pytest.raises(VideoDecodeTimeoutError, match="bikes.mp4.*deadline of 1e-09 s") as excinfo:
        transcode_video(bikes_mp4, size=32, timeout=1e-9)
    assert isinstance(excinfo.value, TimeoutError) and excinfo.value.input_name == str(bikes_mp4)
    with pytest.raises(VideoDecodeTimeoutError, match="clip-7"):
        video_to_jpeg_bytes(seed_mp4, name="clip-7", timeout=1e-9)
    processor = BytesVideoProcessor(transcode=True, size=32, decode_timeout=1e-9)
    with pytest.raises(VideoDecodeTimeoutError, match=r"videos\[0\]: .*<bytes of length"):
        processor([seed_mp4, seed_mp4])
    jpeg = BytesVideoProcessor(input_format="jpeg", decode_timeout=1e-9)
    with pytest.raises(VideoDecodeTimeoutError):
        jpeg(seed_mp4)
    # the deadline is a saved setting; a generous one changes nothing
    assert BytesVideoProcessor(transcode=True, size=32, decode_timeout=60)(seed_mp4)["input_ids"][0].numpy().tobytes() \
        == transcode_video(seed_mp4, size=32, timeout=None)
    for bad in (0, -1, float("inf"), "10"):
        with pytest.raises(ValueError, match="decode_timeout"):
            BytesVideoProcessor(decode_timeout=bad)


def test_demuxer_reads_honour_the_deadline(bikes_bytes):
    """The reader raises inside PyAV's read callback; PyAV re-raises our exception, not an FFmpeg error."""
    import av

    deadline = Deadline(1e-9, "<reader test>")
    time.sleep(0.001)
    with pytest.raises(VideoDecodeTimeoutError, match="<reader test>"):
        av.open(DeadlineReader(bikes_bytes, deadline))
    live = Deadline(None, "x")
    with av.open(DeadlineReader(bikes_bytes, live)) as container:  # no deadline: a normal, zero-copy stream
        assert sum(1 for _ in container.decode(video=0)) > 0


def _with_stts_delta(data: bytes, delta: int) -> bytes:
    stts = next(b for b in parse_boxes(data) if b.type == b"stts")
    pos = stts.offset + stts.header + 4 + 4 + 4  # version/flags, entry_count, first sample_count
    return data[:pos] + struct.pack(">I", delta) + data[pos + 4 :]


def test_corrupted_timestamps_fail_fast(seed_mp4):
    """An stts delta of 2**31 - 1 claims days between frames: reported as corruption, not encoded for hours."""
    broken = _with_stts_delta(seed_mp4, 0x7FFFFFFF)
    for fn, kwargs in ((transcode_video, {"size": 32}), (video_to_jpeg_bytes, {"fps": 6})):
        start = time.monotonic()
        with pytest.raises(InvalidVideoError, match="timestamps or the frame rate are corrupted"):
            fn(broken, timeout=30, **kwargs)
        assert time.monotonic() - start < 10


def test_corrupted_metadata_is_not_fatal(seed_mp4):
    """Invalid UTF-8 in a metadata string (the handler name) used to raise UnicodeDecodeError from PyAV."""
    import av
    import io

    at = seed_mp4.find(b"VideoHandler")
    assert at > 0
    broken = seed_mp4[:at] + b"\xfb\xfe\xff\xfb" + seed_mp4[at + 4 :]
    with pytest.raises(UnicodeDecodeError):  # the failure this guards against is real
        av.open(io.BytesIO(broken))
    assert transcode_video(broken, size=32) == transcode_video(seed_mp4, size=32)
    assert video_to_jpeg_bytes(broken, size=16) == video_to_jpeg_bytes(seed_mp4, size=16)


def test_fifo_and_devices_are_refused_without_blocking(tmp_path):
    fifo = tmp_path / "stream.mp4"
    os.mkfifo(fifo)
    processor = BytesVideoProcessor()
    with pytest.raises(VideoReadError, match="FIFO") as excinfo:
        _run_guarded(lambda: processor(str(fifo)), 10, str(fifo))
    assert str(fifo) in str(excinfo.value)
    # a stream is still readable as a file object (from a writer thread)
    payload = np.arange(1000, dtype=np.uint8).tobytes()
    writer = threading.Thread(target=lambda: fifo.write_bytes(payload), daemon=True)
    writer.start()
    with open(fifo, "rb") as stream:
        out = processor(stream)
    writer.join(10)
    assert out["input_ids"][0].numpy().tobytes() == payload
