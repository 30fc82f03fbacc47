"""Argument parsing of the Trainer commands (``finetune``, ``pretrain``, ``train-long``, ``finetune-qa``, ``evaluate-qa``).

Two parsers read the same dataclasses (:mod:`bytevid_hf.training.arguments`):

* the help parser, built here with argparse from the dataclass fields without importing torch or transformers,
  prints ``--help`` and rejects bad choices and types of the package's own options (``--preset``, ``--pooling``,
  ...) with argparse's message naming the option;
* transformers' ``HfArgumentParser`` over those dataclasses and ``TrainingArguments`` then builds the objects the run
  uses (``--help-all`` prints its full help).

A first argument ending in ``.json``, ``.yaml`` or ``.yml`` is a config file, as in transformers' example scripts: its
keys are option names (``learning_rate: 1e-4``) and options after it override them
(``bytevid finetune run.yaml --learning_rate 1e-4``).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import textwrap
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

CONFIG_SUFFIXES = (".json", ".yaml", ".yml")
#: TrainingArguments options named in the help of every Trainer command.
TRAINING_EXAMPLES = ("--output_dir", "--learning_rate", "--num_train_epochs", "--max_steps",
                     "--per_device_train_batch_size", "--eval_strategy", "--save_strategy", "--report_to",
                     "--push_to_hub", "--hub_model_id", "--resume_from_checkpoint", "--use_cpu")


@dataclass(frozen=True)
class TrainerCommand:
    """How a Trainer command parses: its help text, the dataclasses it fills, defaults that differ from theirs."""

    description: str
    examples: str
    arguments: tuple[type, ...]
    training_arguments: bool = True  # also transformers.TrainingArguments (every Trainer flag)
    defaults: dict[str, Any] = field(default_factory=dict)


def boolean(text: str) -> bool:
    """argparse type of bool options: true/false, yes/no, 1/0 (as transformers' ``string_to_bool``)."""
    value = text.strip().lower()
    if value in ("true", "yes", "y", "t", "1"):
        return True
    if value in ("false", "no", "n", "f", "0"):
        return False
    raise argparse.ArgumentTypeError(f"expected true or false, got {text!r}")


def _unwrap_optional(kind) -> tuple[Any, bool]:
    """``X | None`` -> (X, True); anything else -> (kind, False)."""
    if typing.get_origin(kind) in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(kind) if a is not type(None)]
        if len(args) == 1:
            return args[0], True
    return kind, False


def add_dataclass_arguments(parser: argparse.ArgumentParser, cls: type) -> None:
    """Add one option per field of ``cls`` as ``HfArgumentParser`` would (types, ``choices``, ``--no_X`` for bools
    that default to True, hyphenated aliases), in a group titled by the class; no field is required here."""
    hints = typing.get_type_hints(cls)
    doc = (cls.__doc__ or "").strip().splitlines()[0] if cls.__doc__ else None
    group = parser.add_argument_group(cls.__name__, doc)
    for f in dataclasses.fields(cls):
        if not f.init:
            continue
        kind, optional = _unwrap_optional(hints[f.name])
        if f.default is not dataclasses.MISSING:
            default = f.default
        elif f.default_factory is not dataclasses.MISSING:
            default = f.default_factory()
        else:
            default = dataclasses.MISSING
        choices = f.metadata.get("choices")
        kwargs: dict[str, Any] = {"dest": f.name}
        if typing.get_origin(kind) is Literal:
            choices = typing.get_args(kind)
            kind = type(choices[0])
        if kind is bool:
            kwargs.update(type=boolean, metavar="BOOL")
            if not optional or default is not None:
                kwargs.update(nargs="?", const=True)
        elif typing.get_origin(kind) is list:
            kwargs.update(type=typing.get_args(kind)[0], nargs="+")
        else:
            kwargs["type"] = kind
        if choices:
            kwargs["choices"] = tuple(choices)
        text = f.metadata.get("help", "")
        if default is dataclasses.MISSING:
            text += " (required)"
        elif default not in (None, False, "") and not (kind is bool and default is True):
            text += f" (default: {default})"
        elif kind is bool and default is True:
            text += f" (default: true; --no_{f.name} turns it off)"
        group.add_argument(f"--{f.name}", help=text.strip(), **kwargs)
        if "_" in f.name:
            group.add_argument(f"--{f.name.replace('_', '-')}", help=argparse.SUPPRESS, **kwargs)
        if kind is bool and default is True:
            group.add_argument(f"--no_{f.name}", f"--no-{f.name.replace('_', '-')}", action="store_false",
                               dest=f.name, help=argparse.SUPPRESS)


class _HelpAll(argparse.Action):
    """``--help-all``: transformers' full help (every TrainingArguments option), then exit."""

    def __init__(self, option_strings, dest, command: TrainerCommand, **kwargs):
        super().__init__(option_strings, dest=argparse.SUPPRESS, default=argparse.SUPPRESS, nargs=0, **kwargs)
        self.command = command

    def __call__(self, parser, namespace, values, option_string=None):
        hf_parser(self.command, parser.prog).print_help()
        parser.exit()


def help_parser(command: TrainerCommand, prog: str) -> argparse.ArgumentParser:
    """The light parser of ``command``: its ``--help`` and the checks of the package's own options."""
    usage = f"{prog} [options]" + (" [TrainingArguments options]" if command.training_arguments else "")
    usage += f"\n       {prog} CONFIG.json|CONFIG.yaml [options]"
    epilog = []
    if command.training_arguments:
        differing = ", ".join(f"--{k} {v}" for k, v in command.defaults.items())
        text = (f"Every transformers.TrainingArguments option is accepted as well, e.g. {', '.join(TRAINING_EXAMPLES)}."
                + (f" Defaults that differ from TrainingArguments' own here: {differing}." if differing else "")
                + f" `{prog} --help-all` lists every option (imports transformers).")
        epilog.append("transformers.TrainingArguments:\n" + textwrap.fill(text, 100, initial_indent="  ",
                                                                           subsequent_indent="  "))
    epilog.append(
        "config file:\n"
        f"  `{prog} CONFIG.yaml` (or .json) reads the options from the file, keys without '--'\n"
        "  (e.g. `learning_rate: 1e-4`); options given after the file override it."
    )
    epilog.append("examples:\n" + command.examples.strip("\n"))
    parser = argparse.ArgumentParser(
        prog=prog, usage=usage, description=command.description, epilog="\n\n".join(epilog),
        formatter_class=argparse.RawDescriptionHelpFormatter, allow_abbrev=False,
    )
    parser.add_argument("--help-all", action=_HelpAll, command=command,
                        help="show every option, transformers.TrainingArguments' included, and exit")
    for cls in command.arguments:
        add_dataclass_arguments(parser, cls)
    return parser


def hf_parser(command: TrainerCommand, prog: str):
    """transformers' ``HfArgumentParser`` over the command's dataclasses (+ ``TrainingArguments``), its defaults set."""
    from transformers import HfArgumentParser

    dataclass_types = list(command.arguments)
    if command.training_arguments:
        from transformers import TrainingArguments

        dataclass_types.append(TrainingArguments)
    parser = HfArgumentParser(dataclass_types, prog=prog, description=command.description.split("\n\n")[0])
    parser.set_defaults(**command.defaults)
    return parser


def read_config_file(path: str | Path) -> dict[str, Any]:
    """The options held by a ``.json`` / ``.yaml`` / ``.yml`` config file: a mapping of option name to value."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"config file {str(path)!r} does not exist")
    text = path.read_text(encoding="utf-8")
    try:
        if path.suffix.lower() == ".json":
            data = json.loads(text)
        else:
            import yaml

            data = yaml.safe_load(text)
    except Exception as error:  # json.JSONDecodeError, yaml.YAMLError
        raise ValueError(f"config file {str(path)!r} is not valid {path.suffix[1:].upper()}: {error}") from None
    if data is None:
        return {}
    if not isinstance(data, dict) or not all(isinstance(k, str) for k in data):
        raise ValueError(f"config file {str(path)!r} must hold a mapping of option names to values, got "
                         f"{type(data).__name__}")
    return data


@dataclass
class Parsed:
    """The dataclasses of a command line (in the command's order, ``TrainingArguments`` last) and the option names
    it set explicitly (on the command line or in the config file)."""

    values: tuple
    given: set[str]


def check(command: TrainerCommand, argv: list[str], prog: str) -> tuple[argparse.ArgumentParser, str | None, list[str]]:
    """The light part of :func:`parse` (no torch, no transformers): ``--help`` / ``--help-all`` print and exit 0; a
    bad choice or type of the package's own options exits 2 naming the option. Returns the light parser, the config
    file (a first argument ending in .json/.yaml/.yml, else None) and the other arguments."""
    argv = list(argv)
    light = help_parser(command, prog)
    config_path = None
    if argv and not argv[0].startswith("-") and argv[0].lower().endswith(CONFIG_SUFFIXES):
        config_path, argv = argv[0], argv[1:]
    if command.training_arguments:
        light.parse_known_args(argv)  # the rest is TrainingArguments', checked by HfArgumentParser
    else:
        light.parse_args(argv)
    return light, config_path, argv


def parse(command: TrainerCommand, argv: list[str] | None, prog: str) -> Parsed:
    """Parse ``argv`` for ``command``: ``--help`` / ``--help-all`` exit 0; a bad choice, type, option or config file
    exits 2 with argparse's message naming it; otherwise the filled dataclasses."""
    light, config_path, argv = check(command, sys.argv[1:] if argv is None else argv, prog)
    config: dict[str, Any] = {}
    if config_path:
        try:
            config = read_config_file(config_path)
        except (OSError, ValueError) as error:
            light.error(str(error))
    parser = hf_parser(command, prog)
    if config:
        known = {action.dest for action in parser._actions}
        unknown = sorted(set(config) - known)
        if unknown:
            light.error(f"config file {config_path!r}: unknown option(s) {unknown}; `{prog} --help-all` lists them")
        parser.set_defaults(**config)  # string values are converted by the option's type, as on the command line
        for action in parser._actions:
            if action.dest in config:
                action.required = False
    given = set(config)
    for arg in argv:
        action = parser._option_string_actions.get(arg.split("=", 1)[0]) if arg.startswith("--") else None
        if action is not None:
            given.add(action.dest)
    try:
        values = parser.parse_args_into_dataclasses(args=argv)
    except ValueError as error:  # unknown options, a dataclass's own checks (choices in a config file, ...)
        light.error(str(error))
    return Parsed(tuple(values), given)


__all__ = ["CONFIG_SUFFIXES", "Parsed", "TrainerCommand", "add_dataclass_arguments", "boolean", "check", "help_parser",
           "hf_parser", "parse", "read_config_file"]
