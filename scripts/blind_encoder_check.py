#!/usr/bin/env python
"""Show that the tests claiming "a model learned something" fail when the byte encoder cannot see its input (issue 18.5).

    python scripts/blind_encoder_check.py                 # the default list below, ~5-10 CPU minutes
    python scripts/blind_encoder_check.py --out blind.json  tests/test_demo.py::test_demo_runs_end_to_end_in_short_mode

Runs pytest on the listed tests with every ``BytesVideoModel`` of every Python process made input-blind
(``bytevid_hf.testing.baselines.blind_every_encoder``: the input embeddings return the embedding of byte 0 at every
position, so the model still trains but sees nothing of the video). A ``sitecustomize`` module on ``PYTHONPATH``
installs it at start-up, so the scripts those tests start as subprocesses (demo, ablate) are blind too. Prints one
line per test and exits 1 unless every test failed; ``--control`` runs the same tests unmodified first (they must
pass, or the check proves nothing).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET
from pathlib import Path

# The tests whose assertion is "the model learned / reads its input": each compares with a baseline that cannot see
# the input (bytevid_hf.testing.baselines) or checks that the outputs change when the bytes are shuffled.
WEAK_TESTS = [
    "tests/test_demo.py::test_demo_runs_end_to_end_in_short_mode",
    "tests/test_mixers_ablation.py::test_trainer_learns_through_run_finetuning",
    "tests/test_mixers_ablation.py::test_ablate_script_smoke",
    "tests/test_causal_lm.py::test_trainer_learns_a_repeating_pattern_and_checkpoint_transfers_to_the_classifier",
    "tests/test_rgb_reconstruction.py::test_trainer_trains_from_encoded_videos_save_load_and_transfer_to_the_classifier",
    "tests/test_jpeg_pretraining.py::test_jpeg_classification_learns_from_the_jpeg_bytes",
]

SITECUSTOMIZE = '''\
# Written by scripts/blind_encoder_check.py: every byte encoder in this process is input-blind.
from bytevid_hf.testing.baselines import blind_every_encoder

_BLIND = blind_every_encoder()  # kept referenced: a collected context manager would undo itself
_BLIND.__enter__()
'''


def run_pytest(tests: list[str], blind: bool, root: Path) -> tuple[dict[str, str], float]:
    """{test id: "passed" | "failed" | "skipped"} and the wall seconds of one pytest run."""
    with tempfile.TemporaryDirectory() as tmp:
        env = dict(os.environ)
        if blind:
            (Path(tmp) / "sitecustomize.py").write_text(SITECUSTOMIZE)
            env["PYTHONPATH"] = os.pathsep.join(p for p in (tmp, env.get("PYTHONPATH")) if p)
        report = Path(tmp) / "report.xml"
        start = time.perf_counter()
        subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", f"--junitxml={report}",
                        *tests], cwd=root, env=env, check=False)
        seconds = time.perf_counter() - start
        outcomes = {}
        for case in ET.parse(report).getroot().iter("testcase"):
            name = f"{case.get('classname', '').replace('.', '/')}.py::{case.get('name')}"
            if case.find("failure") is not None or case.find("error") is not None:
                outcomes[name] = "failed"
            elif case.find("skipped") is not None:
                outcomes[name] = "skipped"
            else:
                outcomes[name] = "passed"
    if not outcomes:
        raise RuntimeError(f"pytest collected none of {tests}")
    return outcomes, seconds


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("tests", nargs="*", default=WEAK_TESTS, help="pytest node ids (default: the weak tests)")
    parser.add_argument("--control", action="store_true", help="first run the tests unmodified; they must pass")
    parser.add_argument("--out", help="write the outcomes as JSON here")
    args = parser.parse_args(argv)
    root = Path(__file__).resolve().parent.parent
    result: dict = {"tests": args.tests}
    if args.control:
        result["control"], result["control_seconds"] = run_pytest(args.tests, blind=False, root=root)
    result["blind"], result["blind_seconds"] = run_pytest(args.tests, blind=True, root=root)
    print(f"\n{'test':<110} {'control':<8} blind encoder")
    for name, outcome in result["blind"].items():
        print(f"{name:<110} {result.get('control', {}).get(name, '-'):<8} {outcome}")
    failed = sum(outcome == "failed" for outcome in result["blind"].values())
    controls_ok = all(outcome == "passed" for outcome in result.get("control", {}).values())
    print(f"\nblind encoder: {failed} of {len(result['blind'])} tests failed"
          + (f"; unmodified: {sum(o == 'passed' for o in result['control'].values())} passed" if args.control else ""))
    if args.out:
        Path(args.out).write_text(json.dumps(result, indent=1))
    return 0 if failed == len(result["blind"]) and controls_ok else 1


if __name__ == "__main__":
    sys.exit(main())
