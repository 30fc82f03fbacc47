"""Distributed failures (issue 8.5): in sequence-parallel training over 2 gloo processes on CPU, a rank that raises or
dies in the middle of a forward pass makes every rank exit non-zero within a bounded time, and the survivor's error
names the failure (SequenceParallelError: the collective, this rank, the cause) instead of hanging for gloo's default
30 minutes. A rank that hangs is bounded by the collective timeout (enable_sequence_parallel(timeout=...)).

The ranks are plain processes (tests/sp_failure_worker.py), not torchrun: torchrun's agent would kill the survivors
itself, which is not what is tested here."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

WORKER = Path(__file__).resolve().parent / "sp_failure_worker.py"
COLLECTIVE_TIMEOUT_S = 15.0
# After the injected failure: the survivor's next collective fails at once (dead peer) or after COLLECTIVE_TIMEOUT_S
# (hung peer); the margin covers Python's exit on a shared, loaded machine.
BOUND_S = 60.0


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _launch(mode: str, failing_rank: int = 1):
    env = dict(os.environ, MASTER_ADDR="127.0.0.1", MASTER_PORT=str(_free_port()), WORLD_SIZE="2",
               OMP_NUM_THREADS="1", PYTHONUNBUFFERED="1")
    procs = []
    for rank in (0, 1):
        procs.append(subprocess.Popen(
            [sys.executable, str(WORKER), mode, str(COLLECTIVE_TIMEOUT_S), str(failing_rank)],
            env=dict(env, RANK=str(rank)),
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True,
        ))
    return procs


def _wait(procs, limit_s: float):
    """Wait for every process (at most limit_s); return ({rank: returncode or None}, {rank: (stdout, stderr)},
    {rank: exit time})."""
    deadline = time.time() + limit_s
    ended = {}
    while time.time() < deadline and len(ended) < len(procs):
        for rank, proc in enumerate(procs):
            if rank not in ended and proc.poll() is not None:
                ended[rank] = time.time()
        time.sleep(0.2)
    codes, outputs = {}, {}
    for rank, proc in enumerate(procs):
        codes[rank] = proc.poll()
        if codes[rank] is None:  # still running: the test will fail; do not leave it behind
            os.killpg(proc.pid, signal.SIGKILL)
        outputs[rank] = proc.communicate(timeout=30)
    return codes, outputs, ended


def _failure_time(stdout: str) -> float:
    lines = [line for line in stdout.splitlines() if line.startswith("FAILING ")]
    assert lines, f"rank 1 never reached the injected failure:\n{stdout[-2000:]}"
    return float(lines[0].split()[1])


@pytest.mark.parametrize("mode, rank1_code", [
    ("raise", 1),
    ("kill", -signal.SIGKILL),
    pytest.param("exit", 3, marks=pytest.mark.slow),  # dies like "kill"; ~15 s each on a shared machine
])
def test_a_rank_that_raises_or_dies_stops_every_rank_with_a_clear_error(mode, rank1_code):
    procs = _launch(mode)
    codes, outputs, ended = _wait(procs, limit_s=300)  # startup (imports, rendezvous) + 2 steps + the bound
    (out0, err0), (out1, err1) = outputs[0], outputs[1]
    assert codes[1] == rank1_code, f"rank 1 exit code {codes[1]}\n{err1[-3000:]}"
    assert codes[0] not in (None, 0), f"the surviving rank did not stop with an error: {codes[0]}\n{err0[-3000:]}"
    assert "FINISHED" not in out0
    failed_at = _failure_time(out1)
    print(f"[{mode}] rank 0 exited {ended[0] - failed_at:.1f} s after rank 1 failed (code {codes[0]})")
    assert ended[0] - failed_at < BOUND_S, f"rank 0 needed {ended[0] - failed_at:.1f} s to stop"
    assert "SequenceParallelError" in err0 and "failed on rank 0 of 2" in err0, err0[-3000:]
    assert "another rank of the group died" in err0
    if mode == "raise":
        assert "injected failure on rank 1" in err1


@pytest.mark.slow
def test_the_store_host_rank_0_dying_stops_rank_1():
    """Rank 0 also hosts the rendezvous TCPStore: its SIGKILL must not leave rank 1 waiting on the store either."""
    procs = _launch("kill", failing_rank=0)
    codes, outputs, ended = _wait(procs, limit_s=300)
    (out0, _), (out1, err1) = outputs[0], outputs[1]
    assert "FINISHED" not in out1
    assert codes[0] == -signal.SIGKILL and codes[1] not in (None, 0), (codes, err1[-3000:])
    failed_at = _failure_time(out0)
    print(f"[kill rank 0] rank 1 exited {ended[1] - failed_at:.1f} s after rank 0 died (code {codes[1]})")
    assert ended[1] - failed_at < BOUND_S
    assert "SequenceParallelError" in err1 and "failed on rank 1 of 2" in err1, err1[-3000:]


@pytest.mark.slow
def test_a_rank_that_hangs_is_bounded_by_the_collective_timeout():
    procs = _launch("hang")
    try:
        codes, outputs, ended = _wait([procs[0]], limit_s=300)
        failed_at = _failure_time(_read_until_failing(procs[1]))
    finally:
        os.killpg(procs[1].pid, signal.SIGKILL)  # the hung rank sleeps for an hour: nothing can stop it from outside
        procs[1].communicate(timeout=30)
    out0, err0 = outputs[0]
    assert codes[0] not in (None, 0), err0[-3000:]
    waited = ended[0] - failed_at
    print(f"[hang] rank 0 exited {waited:.1f} s after rank 1 hung (collective timeout {COLLECTIVE_TIMEOUT_S} s)")
    # rank 0 may have entered the blocking collective a moment before rank 1 printed FAILING
    assert COLLECTIVE_TIMEOUT_S / 2 <= waited < COLLECTIVE_TIMEOUT_S + BOUND_S, f"rank 0 stopped after {waited:.1f} s"
    assert "SequenceParallelError" in err0 and "timeout" in err0.lower(), err0[-3000:]


def _read_until_failing(proc) -> str:
    lines = []
    for line in proc.stdout:
        lines.append(line)
        if line.startswith("FAILING "):
            break
    return "".join(lines)
