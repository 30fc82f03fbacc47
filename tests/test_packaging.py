"""Layout and install contract: one import namespace, build-system-only pyproject, CI runs the README's commands."""

import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def test_modeling_and_processing_live_under_bytevid_hf_only(tmp_path):
    code = (
        "import importlib.util, bytevid_hf.modeling, bytevid_hf.processing, bytevid_hf.model_cards\n"
        "print(bytevid_hf.modeling.__file__); print(bytevid_hf.processing.__file__)\n"
        "print(importlib.util.find_spec('modeling'), importlib.util.find_spec('processing'))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, check=True).stdout
    modeling_file, processing_file, specs = out.strip().splitlines()
    assert Path(modeling_file).parent.name == "modeling"
    assert Path(processing_file).parent.name == "processing"
    assert specs == "None None"  # no generic top-level `modeling`/`processing` module is installed


def test_setup_cfg_lists_every_subpackage():
    """A non-editable install ships only the packages setup.cfg names: every folder of bytevid_hf/ with an
    __init__.py must be one of them (an unlisted one works from a checkout and is missing from a wheel)."""
    import configparser

    config = configparser.ConfigParser()
    config.read(REPO / "setup.cfg")
    listed = {line.strip() for line in config["options"]["packages"].splitlines() if line.strip()}
    found = {".".join(init.parent.relative_to(REPO).parts) for init in (REPO / "bytevid_hf").rglob("__init__.py")}
    assert found - listed == set(), f"setup.cfg [options] packages lacks {sorted(found - listed)}"


def test_pyproject_holds_only_the_build_system():
    data = tomllib.loads((REPO / "pyproject.toml").read_text())
    assert set(data) == {"build-system"}


def test_ci_runs_the_readme_commands():
    readme = (REPO / "README.md").read_text()
    ci = (REPO / ".ci" / "run").read_text()
    blocks = re.findall(r"```bash\n(.*?)```", readme, flags=re.S)
    install = next(line.split("#")[0].strip() for b in blocks for line in b.splitlines() if "pip install" in line)
    test = next(line.split("#")[0].strip() for b in blocks for line in b.splitlines() if "pytest" in line)
    commands = [line.strip() for line in ci.splitlines() if line.strip() and not line.strip().startswith("#")]
    assert install in commands and test in commands
    assert commands.index(install) < commands.index(test)


@pytest.mark.parametrize("folder", ["modeling", "processing"])
def test_library_folders_import_only_themselves(folder):
    """modeling/ and processing/ are self-contained: their modules import each other relatively (one level, the same
    folder) and nothing else of the package — so transformers' remote-code copy (which follows ``from .x import``)
    ships a working model, and the parallel/training code can import the model but never the reverse."""
    import ast

    root = Path(__file__).resolve().parents[1] / folder
    for path in sorted(root.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.level:
                assert node.level == 1 and node.module, f"{folder}/{path.name}:{node.lineno} imports outside {folder}/"
                assert (root / f"{node.module.split('.')[0]}.py").is_file(), f"{folder}/{path.name}:{node.lineno}"
            elif isinstance(node, (ast.Import, ast.ImportFrom)):
                names = [a.name for a in node.names] if isinstance(node, ast.Import) else [node.module or ""]
                assert not any(n.split(".")[0] in ("bytevid_hf", "modeling", "processing") for n in names), \
                    f"{folder}/{path.name}:{node.lineno} imports {names}"


# ---------------------------------------------------------------------------------------------------------------------
# Optional dependencies: matplotlib ([plots]) and rapidfuzz ([experiments]) are extras, imported lazily
# ---------------------------------------------------------------------------------------------------------------------
OPTIONAL = ("matplotlib", "rapidfuzz")


def _setup_cfg():
    import configparser

    parser = configparser.ConfigParser()
    parser.read(REPO / "setup.cfg")
    return parser


def test_plotting_and_experiment_dependencies_are_extras():
    cfg = _setup_cfg()
    requirement = lambda line: re.split(r"[<>=!~\[; ]", line.strip())[0].lower()
    required = {requirement(line) for line in cfg["options"]["install_requires"].splitlines() if line.strip()}
    extras = {name: {requirement(line) for line in value.splitlines() if line.strip()}
              for name, value in cfg["options.extras_require"].items()}
    assert not required & set(OPTIONAL)
    assert extras["plots"] == {"matplotlib"} and extras["experiments"] >= {"rapidfuzz", "matplotlib"}
    assert extras["dev"] >= set(OPTIONAL)  # the tests run with them


_BLOCKED_IMPORTS = r'''
import configparser, importlib, json, pkgutil, sys

class Blocker:  # as if matplotlib and rapidfuzz were not installed
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in ("matplotlib", "rapidfuzz"):
            raise ModuleNotFoundError(f"No module named {name!r} (blocked)", name=name)

sys.meta_path.insert(0, Blocker())
import bytevid_hf
bytevid_hf._import_models()
imported = ["bytevid_hf"]
for package in ("bytevid_hf.training", "bytevid_hf.parallel", "bytevid_hf.cli"):
    try:
        module = importlib.import_module(package)
    except ModuleNotFoundError as error:
        if error.name != package:
            raise
        continue
    imported.append(package)
    for info in pkgutil.walk_packages(module.__path__, package + "."):
        if info.name.split(".")[-1] != "__main__":
            importlib.import_module(info.name)
            imported.append(info.name)
    for command in getattr(module, "COMMANDS", ()):  # the `bytevid` subcommands
        importlib.import_module(command.module)
        imported.append(command.module)
cfg = configparser.ConfigParser()
cfg.read(sys.argv[1])
scripts = cfg["options.entry_points"]["console_scripts"] if cfg.has_section("options.entry_points") else ""
for line in filter(None, map(str.strip, scripts.splitlines())):
    module, attr = line.split("=", 1)[1].strip().split(":")
    getattr(importlib.import_module(module), attr)
    imported.append(line)
errors = {}
from bytevid_hf.extras import pyplot
from bytevid_hf.processing import byte_difference
for name, call in (("pyplot", pyplot), ("byte_difference", lambda: byte_difference(b"a", b"b"))):
    try:
        call()
    except ImportError as error:
        errors[name] = str(error)
print("RESULT:" + json.dumps({"imported": imported, "errors": errors,
                              "loaded": sorted(m for m in sys.modules if m.split(".")[0] in ("matplotlib", "rapidfuzz"))}))
'''


def test_the_package_and_its_entry_points_import_without_the_optional_dependencies(tmp_path):
    """``import bytevid_hf``, every training module, the ``bytevid`` command and its subcommands import with
    matplotlib and rapidfuzz missing; what needs them says which extra installs them."""
    import json

    proc = subprocess.run([sys.executable, "-c", _BLOCKED_IMPORTS, str(REPO / "setup.cfg")], cwd=tmp_path,
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-4000:]
    result = json.loads(next(l for l in proc.stdout.splitlines() if l.startswith("RESULT:"))[len("RESULT:"):])
    assert "bytevid_hf.training.finetune" in result["imported"] and "bytevid_hf.training.pretraining" in result["imported"]
    assert result["loaded"] == []
    assert 'pip install "bytevid-hf[plots]"' in result["errors"]["pyplot"]
    assert 'pip install "bytevid-hf[experiments]"' in result["errors"]["byte_difference"]


def test_plotting_functions_name_the_plots_extra(monkeypatch, tmp_path):
    """With matplotlib unimportable, the scripts' plotting raises ImportError naming ``bytevid-hf[plots]`` (and
    byte_difference, without rapidfuzz, ``bytevid-hf[experiments]``)."""
    import importlib.util

    from bytevid_hf.processing import byte_difference

    for name in [m for m in sys.modules if m.split(".")[0] in OPTIONAL] + list(OPTIONAL):
        monkeypatch.setitem(sys.modules, name, None)
    spec = importlib.util.spec_from_file_location("ablate_script", REPO / "scripts" / "ablate.py")
    ablate = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, "ablate_script", ablate)  # dataclasses look their module up there
    spec.loader.exec_module(ablate)
    with pytest.raises(ImportError, match=re.escape('pip install "bytevid-hf[plots]"')):
        ablate.plot([], {"chance_accuracy": 0.25, "size_only_accuracy": 0.3}, tmp_path / "a.png", 1.0)
    with pytest.raises(ImportError, match=re.escape('pip install "bytevid-hf[plots]"')):
        ablate.main(["--output_dir", str(tmp_path / "out")])  # before any training
    assert not (tmp_path / "out").exists()
    from bytevid_hf.experiments.benchmark import make_plots
    from bytevid_hf.experiments.evidence.report import plot_accuracy, plot_curve

    for plotting in (lambda: make_plots({}, tmp_path), lambda: plot_accuracy({}, tmp_path / "a.png"),
                     lambda: plot_curve({}, "task", tmp_path / "c.png")):
        with pytest.raises(ImportError, match=re.escape('pip install "bytevid-hf[plots]"')):
            plotting()
    with pytest.raises(ImportError, match=re.escape('pip install "bytevid-hf[experiments]"')):
        byte_difference(b"abc", b"abd")
