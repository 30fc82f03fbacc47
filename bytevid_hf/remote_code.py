"""Ship the package's model code inside a checkpoint, for ``trust_remote_code=True`` loading without bytevid_hf.

transformers loads remote code by copying the ``.py`` file named in ``auto_map`` and, recursively, the files it imports
with ``from .name import ...`` — all from the top level of the checkpoint. This module therefore writes a *flat* copy
of every module the requested classes need: it starts from the classes' modules, follows their relative imports through
``bytevid_hf``, ``bytevid_hf.modeling`` and ``bytevid_hf.processing``, writes each module under its own file name and
rewrites the relative imports to ``from .<file> import``. Two modules with the same file name, an absolute
``import bytevid_hf`` or a ``from . import module`` (which transformers would not follow) are errors, so a broken
export fails here instead of on a user's machine.

The C selective-scan source (``modeling/csrc/selective_scan.c``) is not a ``.py`` file; it is written as the string
``C_SOURCE`` of a generated ``selective_scan_c.py`` that ``scan_kernel.read_source`` falls back to.
"""

from __future__ import annotations

import ast
import importlib
import importlib.util
import inspect
import os
import re
from pathlib import Path

PACKAGE = "bytevid_hf"
HEADER = (
    "# This file was written by bytevid_hf.remote_code.write_remote_code from the bytevid_hf package ({module}).\n"
    "# It is loaded by transformers when trust_remote_code=True; edit the package, not this copy.\n"
)


def _generated_c_source() -> str:
    from .modeling import scan_kernel

    text = scan_kernel.SOURCE.read_text(encoding="utf-8")
    return f'"""The selective scan\'s C source, shipped as text (remote code may only be .py files)."""\n\nC_SOURCE = {text!r}\n'


# Modules that do not exist as .py files in the package but are generated into the checkpoint.
GENERATED_MODULES = {f"{PACKAGE}.modeling.selective_scan_c": _generated_c_source}


class RemoteCodeError(RuntimeError):
    """The package's modules cannot be flattened into a remote-code checkpoint (names the module and the reason)."""


def _relative_imports(module_name: str, source: str) -> list[tuple[ast.ImportFrom, str]]:
    """Every ``from .x import y`` in ``source`` with the absolute module name it refers to."""
    package = module_name.rpartition(".")[0]
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] == PACKAGE:
                    raise RemoteCodeError(
                        f"{module_name} line {node.lineno}: absolute `import {alias.name}` cannot be shipped as remote "
                        "code; import package modules relatively (`from .x import y`)"
                    )
        elif isinstance(node, ast.ImportFrom):
            if node.level == 0:
                if (node.module or "").split(".")[0] == PACKAGE:
                    raise RemoteCodeError(
                        f"{module_name} line {node.lineno}: absolute `from {node.module} import ...` cannot be shipped "
                        "as remote code; import package modules relatively (`from .x import y`)"
                    )
                continue
            if not node.module:
                raise RemoteCodeError(
                    f"{module_name} line {node.lineno}: `from {'.' * node.level} import ...` is not followed by "
                    "transformers' remote-code loader; write `from .module import name` instead"
                )
            target = importlib.util.resolve_name("." * node.level + node.module, package)
            found.append((node, target))
    return found


def _module_source(module_name: str) -> str:
    if module_name in GENERATED_MODULES:
        return GENERATED_MODULES[module_name]()
    spec = importlib.util.find_spec(module_name)
    if spec is None or spec.origin is None or not spec.origin.endswith(".py"):
        raise RemoteCodeError(f"module {module_name} has no Python source file to ship")
    return Path(spec.origin).read_text(encoding="utf-8")


def collect_modules(entry_modules: list[str]) -> dict[str, str]:
    """Map every module needed by ``entry_modules`` (absolute names) to its source text."""
    sources: dict[str, str] = {}
    pending = list(entry_modules)
    while pending:
        name = pending.pop()
        if name in sources:
            continue
        sources[name] = _module_source(name)
        for node, target in _relative_imports(name, sources[name]):
            if not target.startswith(PACKAGE + "."):
                raise RemoteCodeError(f"{name} imports {target}, outside the {PACKAGE} package")
            if target not in GENERATED_MODULES and importlib.util.find_spec(target) is not None and \
                    Path(importlib.util.find_spec(target).origin or "").name == "__init__.py":
                raise RemoteCodeError(
                    f"{name} line {node.lineno} imports the package {target}; import the module that defines the name "
                    "(e.g. `from .modeling_bytevid import X`) in code that is shipped as remote code"
                )
            pending.append(target)
    return sources


def flat_name(module_name: str) -> str:
    return module_name.rpartition(".")[2]


def flatten_source(module_name: str, source: str) -> str:
    """``source`` with each relative import rewritten to the flat layout (``from .<file> import``)."""
    lines = source.splitlines(keepends=True)
    for node, target in _relative_imports(module_name, source):
        i = node.lineno - 1
        new, n = re.subn(r"^(\s*)from\s+\.+[\w.]*\s+import\b", rf"\1from .{flat_name(target)} import", lines[i], count=1)
        if n != 1:
            raise RemoteCodeError(f"{module_name} line {node.lineno}: cannot rewrite the import {lines[i].strip()!r}")
        lines[i] = new
    return "".join(lines)


def write_remote_code(classes: list[type], out_dir: str | os.PathLike) -> dict[str, str]:
    """Write the flat code files ``classes`` need into ``out_dir``; return ``{class name: "file.ClassName"}``.

    The returned references are what ``auto_map`` entries hold (``"modeling_bytevid.BytesVideoForClassification"``).
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    refs = {}
    entries = []
    for cls in classes:
        module = inspect.getmodule(cls)
        if module is None or not module.__name__.startswith(PACKAGE + "."):
            raise RemoteCodeError(f"{cls.__qualname__} is not defined in the {PACKAGE} package")
        entries.append(module.__name__)
        refs[cls.__name__] = f"{flat_name(module.__name__)}.{cls.__name__}"
    sources = collect_modules(entries)
    by_file: dict[str, str] = {}
    for name in sorted(sources):
        file_name = flat_name(name) + ".py"
        if file_name in by_file:
            raise RemoteCodeError(
                f"{by_file[file_name]} and {name} would both be written as {file_name}; rename one of them"
            )
        by_file[file_name] = name
    for file_name, name in by_file.items():
        text = HEADER.format(module=name) + flatten_source(name, sources[name])
        (out_dir / file_name).write_text(text, encoding="utf-8")
    return refs


__all__ = ["RemoteCodeError", "collect_modules", "flatten_source", "write_remote_code"]
