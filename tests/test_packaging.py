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
