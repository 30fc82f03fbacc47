"""The ``bytevid`` command: installed on PATH, a fast ``--help`` per subcommand (no torch/transformers import), choices
checked with argparse's message, config files (JSON/YAML) with command-line overrides, and a tiny fine-tuning run."""

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from bytevid_hf.cli import COMMANDS, main
from bytevid_hf.cli.arguments import parse
from test_training import make_class_folder

HELP_SECONDS = 2.0


def bytevid_command() -> list[str]:
    """The installed console script (``pip install -e .`` puts it on PATH)."""
    path = shutil.which("bytevid")
    assert path, "the `bytevid` command is not on PATH: run `pip install -e .`"
    return [path]


def test_bytevid_is_on_path_and_lists_its_commands():
    for command in (bytevid_command(), [sys.executable, "-m", "bytevid_hf.cli"]):
        result = subprocess.run([*command, "--help"], capture_output=True, text=True, timeout=60)
        assert result.returncode == 0, result.stderr
        for c in COMMANDS:
            assert f"  {c.name} " in result.stdout, f"{c.name} missing from `{' '.join(command)} --help`"
    unknown = subprocess.run([*bytevid_command(), "fine-tune"], capture_output=True, text=True, timeout=60)
    assert unknown.returncode == 2 and "invalid choice: 'fine-tune'" in unknown.stderr


def test_every_command_help_is_fast_and_imports_neither_torch_nor_transformers():
    times = {}
    for c in COMMANDS:
        start = time.perf_counter()
        result = subprocess.run([*bytevid_command(), c.name, "--help"], capture_output=True, text=True, timeout=60)
        times[c.name] = time.perf_counter() - start
        assert result.returncode == 0, f"bytevid {c.name} --help: {result.stderr[-2000:]}"
        assert f"usage: bytevid {c.name}" in result.stdout
    slowest = max(times, key=times.get)
    assert times[slowest] < HELP_SECONDS, (
        f"`bytevid {slowest} --help` took {times[slowest]:.2f} s (limit {HELP_SECONDS} s); all: "
        + ", ".join(f"{name} {t:.2f} s" for name, t in times.items()))
    for c in COMMANDS:
        result = subprocess.run([sys.executable, "-X", "importtime", "-m", "bytevid_hf.cli", c.name, "--help"],
                                capture_output=True, text=True, timeout=60)
        imported = {line.rsplit("|", 1)[-1].strip() for line in result.stderr.splitlines() if "|" in line}
        heavy = sorted(imported & {"torch", "transformers", "datasets", "av", "numpy"})
        assert result.returncode == 0 and not heavy, f"`bytevid {c.name} --help` imported {heavy}"


def test_trainer_command_help_has_description_choices_and_examples(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["finetune", "--help"])
    out = capsys.readouterr().out
    assert exit_info.value.code == 0
    assert "Fine-tune a bytevid video classifier" in out and "examples:\n  bytevid finetune --data_dir" in out
    assert "--preset {bytes-micro,bytes-tiny,bytes-base,bytes-large}" in out
    assert "--pooling {concat,average,attention}" in out and "--ssm_backend {auto,c,torch,triton,mamba_ssm}" in out
    assert "Every transformers.TrainingArguments option is accepted" in out and "--learning_rate" in out
    assert "bytevid finetune --help-all" in out and "CONFIG.yaml" in out
    with pytest.raises(SystemExit):
        main(["finetune-qa", "--help"])
    assert "--learning_rate 1e-05" in capsys.readouterr().out  # a default that differs from TrainingArguments'


def test_help_all_lists_every_training_argument(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["pretrain", "--help-all"])
    out = capsys.readouterr().out
    assert exit_info.value.code == 0
    assert "--gradient_accumulation_steps" in out and "--objective {next-byte,rgb,jpeg-classification}" in out


def test_a_bad_preset_exits_2_naming_the_option():
    start = time.perf_counter()
    result = subprocess.run([*bytevid_command(), "finetune", "--preset", "bytes-huge", "--output_dir", "x"],
                            capture_output=True, text=True, timeout=60)
    seconds = time.perf_counter() - start
    assert result.returncode == 2
    assert "argument --preset: invalid choice: 'bytes-huge'" in result.stderr and "bytes-micro" in result.stderr
    assert seconds < HELP_SECONDS, f"the usage error took {seconds:.2f} s: it should come before torch is imported"


@pytest.mark.parametrize("argv, option", [
    (["finetune", "--pooling", "max"], "--pooling"),
    (["pretrain", "--objective", "jpeg"], "--objective"),
    (["train-long", "--ssm_backend", "cuda"], "--ssm_backend"),
    (["finetune", "--max_length", "lots"], "--max_length"),
    (["prepare-data", "--codec", "mpeg2"], "--codec"),
    (["evaluate-qa", "--model_name_or_path", "m", "--eval_file", "e", "--bogus"], "--bogus"),
])
def test_usage_errors_name_the_option(argv, option, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    assert exit_info.value.code == 2
    assert option in capsys.readouterr().err


def test_choice_lists_agree_with_the_model_code():
    from bytevid_hf.modeling import configuration_bytevid as config
    from bytevid_hf.training import arguments, pretraining

    assert arguments.PRESET_NAMES == tuple(config.PRESETS)
    assert arguments.POOLING_METHODS == config.POOLING_METHODS
    assert arguments.SSM_BACKENDS == config.SSM_BACKENDS
    assert pretraining.OBJECTIVES is arguments.OBJECTIVES


def test_config_file_values_are_typed_and_overridden_by_the_command_line(tmp_path):
    from bytevid_hf.cli import finetune, finetune_qa, train_long

    config = tmp_path / "run.yaml"  # YAML reads 1e-4 as a string: converted by the option's type, as argv would be
    config.write_text("preset: bytes-tiny\npooling: attention\ndata_dir: videos\noutput_dir: out\n"
                      "learning_rate: 1e-4\nmax_steps: 5\ntranscode: true\n")
    parsed = parse(finetune.COMMAND, [str(config), "--max_steps", "7"], "bytevid finetune")
    model_args, data_args, training_args = parsed.values
    assert (model_args.preset, model_args.pooling, data_args.data_dir, data_args.transcode) == \
        ("bytes-tiny", "attention", "videos", True)
    assert training_args.learning_rate == 1e-4 and training_args.max_steps == 7
    assert {"preset", "learning_rate", "max_steps"} <= parsed.given and "num_train_epochs" not in parsed.given

    as_json = tmp_path / "run.json"
    as_json.write_text(json.dumps({"num_subsequences": 2, "output_dir": "out"}))
    args, training_args = parse(train_long.COMMAND, [str(as_json)], "bytevid train-long").values
    assert args.num_subsequences == 2 and training_args.per_device_train_batch_size == 1  # the command's default
    qa = tmp_path / "qa.json"
    qa.write_text(json.dumps({"output_dir": "out"}))
    assert parse(finetune_qa.COMMAND, [str(qa)], "p").values[-1].learning_rate == 1e-5
    qa.write_text(json.dumps({"output_dir": "out", "learning_rate": 3e-4}))
    assert parse(finetune_qa.COMMAND, [str(qa)], "p").values[-1].learning_rate == 3e-4


@pytest.mark.parametrize("content, message", [
    ("preset: bytes-huge\noutput_dir: out\n", "preset (--preset) must be one of"),
    ("presett: bytes-tiny\n", "unknown option(s) ['presett']"),
    ("- a list\n", "must hold a mapping"),
    ("preset: [unclosed\n", "is not valid YAML"),
])
def test_config_file_errors_name_the_file_and_option(tmp_path, capsys, content, message):
    config = tmp_path / "bad.yaml"
    config.write_text(content)
    with pytest.raises(SystemExit) as exit_info:
        main(["finetune", str(config)])
    assert exit_info.value.code == 2
    assert message in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["finetune", str(tmp_path / "missing.json")])
    assert "missing.json' does not exist" in capsys.readouterr().err


# Runs the way the console script does (a program named `bytevid` calling bytevid_hf.cli.main): the package's imports
# wait for the arguments, then the command runs with the Auto classes registered.
CONSOLE_SCRIPT = """
import sys
import bytevid_hf
assert not bytevid_hf._imported and "torch" not in sys.modules, "the bytevid command imported torch before parsing"
from bytevid_hf.cli import main
status = main(sys.argv[1:])
from transformers import AutoConfig
print("REGISTERED", type(AutoConfig.for_model("bytevid")).__name__)
sys.exit(status)
"""


def test_finetune_from_a_config_file_end_to_end(tmp_path, bikes_mp4, carphone_mp4):
    root = make_class_folder(tmp_path / "videos", {"bikes": bikes_mp4, "carphone": carphone_mp4}, copies=2)
    out = tmp_path / "out"
    config = tmp_path / "finetune.json"
    config.write_text(json.dumps({
        "data_dir": str(root), "preset": "bytes-micro", "output_dir": str(out), "max_length": 2048,
        "validation_fraction": 0.5, "max_steps": 5, "per_device_train_batch_size": 2, "learning_rate": 1e-3,
        "eval_strategy": "no", "save_strategy": "no", "report_to": "none", "disable_tqdm": True, "use_cpu": True,
    }))
    script = tmp_path / "bytevid"
    script.write_text(CONSOLE_SCRIPT)
    env = dict(os.environ, OMP_NUM_THREADS="1")
    result = subprocess.run([sys.executable, str(script), "finetune", str(config), "--max_steps", "1"],
                            capture_output=True, text=True, timeout=300, env=env)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "REGISTERED BytesVideoConfig" in result.stdout
    assert (out / "model.safetensors").is_file() and (out / "video_preprocessor_config.json").is_file()
    assert json.loads((out / "eval_results.json").read_text())["epoch"] > 0
    assert json.loads((out / "config.json").read_text())["id2label"] == {"0": "bikes", "1": "carphone"}


@pytest.mark.parametrize("orig_argv, expected", [
    (["python", "-m", "bytevid_hf.cli", "finetune"], True),
    (["python", "-X", "importtime", "-m", "bytevid_hf.cli", "--help"], True),
    (["/venv/bin/python", "/venv/bin/bytevid", "finetune", "--help"], True),
    (["python", "-m", "pytest", "tests"], False),
    (["python", "-c", "import bytevid_hf"], False),
    (["python", "scripts/finetune.py", "--help"], False),
    (["python", "bytevid.py"], False),
    (["python"], False),
])
def test_only_the_bytevid_command_defers_the_package_imports(monkeypatch, orig_argv, expected):
    import bytevid_hf

    monkeypatch.setattr(sys, "orig_argv", orig_argv)
    assert bytevid_hf._started_as_command_line() is expected
