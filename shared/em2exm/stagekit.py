"""The stage contract shared by every ``python -m stages.<name>`` entry point, derived from the stage's spec.

Common flags: ``--config`` (pipeline YAML; the stage reads its own section), ``--params`` (that section
as JSON, as the workflow backends render it), ``--set key=value`` (repeatable), ``--overwrite`` / ``--update``;
a flag per URL the stage reads or writes and per option its spec names; blockwise stages add ``--plan-blocks`` /
``--blocks`` / ``--finalise`` (and a flag per pass where the spec has ``passes``).  An empty value (Argo's default for an optional URL) means unset.
Exit codes: 0 success, 2 bad input or config (one line naming the problem and the fix), 1 internal error.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
import traceback
import types
import typing
from collections.abc import Callable, Sequence
from typing import Any, NoReturn, TypeVar

from pydantic import BaseModel

from em2exm import storage
from em2exm.config import section_from_sources, validate
from em2exm.errors import ReportedError, UserError
from em2exm.invocation import Invocation
from em2exm.outputs import Redo
from em2exm.specs import StageSpec, flag, spec

Options = TypeVar("Options", bound=BaseModel)
log = logging.getLogger("em2exm")


class _Parser(argparse.ArgumentParser):
    """argparse that reports usage errors as UserError (so they print one line and exit 2)."""

    def error(self, message: str) -> NoReturn:
        raise UserError(f"{self.prog}: {message}", f"see {self.prog} --help")


def tool_parser(name: str, description: str, model: type[BaseModel], section: str) -> argparse.ArgumentParser:
    """A parser carrying the common flags; its help lists every option of ``model`` (the config ``section``)."""
    parser = _Parser(prog=f"em2exm {name}", description=description, epilog=options_help(model, section),
                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", help="pipeline YAML (path or URL); the stage reads its own section")
    parser.add_argument("--params", help="the stage's options as a JSON object")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override an option")
    redo = parser.add_mutually_exclusive_group()
    redo.add_argument("--overwrite", action="store_true",
                      help="redo an output em2exm already wrote (only its own files are removed; never data it did not write)")
    redo.add_argument("--update", action="store_true",
                      help="redo the output only if it was made with other options or inputs (em2exm run passes it)")
    parser.add_argument("--log-level", default="INFO", help="logging level (default INFO)")
    return parser


def options_help(model: type[BaseModel], section: str) -> str:
    """Every option of ``model`` with its default and meaning, as the help's epilog (nested ones dotted)."""
    lines = [f"options (section '{section}' of --config, or --params JSON, or --set KEY=VALUE):"]
    lines += [f"  {key} (default {default}){': ' + meaning if meaning else ''}" for key, default, meaning in _fields(model)]
    return "\n".join(lines)


def _fields(model: type[BaseModel], prefix: str = "") -> list[tuple[str, str, str]]:
    rows = []
    for key, field in model.model_fields.items():
        nested = field.annotation if isinstance(field.annotation, type) else None
        if nested is not None and issubclass(nested, BaseModel):
            rows += _fields(nested, f"{prefix}{key}.")
            continue
        default = "required" if field.is_required() else _plain(field.get_default(call_default_factory=True))
        rows.append((prefix + key, default, " ".join((field.description or "").split())))
    return rows


def _plain(value: Any) -> str:
    """A default as a user would type it (JSON-ish: lists, null, true)."""
    if isinstance(value, BaseModel):
        value = value.model_dump(mode="json")
    if isinstance(value, (tuple, list)):
        return "[" + ", ".join(_plain(v) for v in value) + "]"
    if value is None or isinstance(value, bool):
        return {None: "null", True: "true", False: "false"}[value]
    return str(value)


def stage_parser(stage: StageSpec) -> argparse.ArgumentParser:
    """The stage's parser: the common flags, one per URL field and per flag its spec names, the blockwise phases."""
    parser = tool_parser(stage.name, stage.summary, stage.params, stage.section)
    for name in (*stage.urls, *stage.flags):
        field = stage.params.model_fields[name]
        meaning = " ".join((field.description or "").split())
        many = _is_sequence(field.annotation)
        parser.add_argument("--" + flag(name), dest=name, nargs="+" if many else None, help=meaning.replace("%", "%%"))
    if stage.blockwise:
        group = parser.add_mutually_exclusive_group()
        group.add_argument("--plan-blocks", type=int, metavar="PER_TASK",
                           help="prepare and print ranges of PER_TASK blocks (one per parallel task) as JSON")
        group.add_argument("--blocks", metavar="START:STOP",
                           help="process only the blocks at these positions of the stage's block order")
        for step in stage.passes:
            takes: dict[str, Any] = {"metavar": "START:STOP"} if step.fanned else {"action": "store_true"}
            group.add_argument("--" + step.name, dest="pass_" + step.name, help=step.help, **takes)
        if stage.passes:
            group.add_argument("--finalise", action="store_true", help="check every pass is done and commit the output")
        else:
            group.add_argument("--finalise", action="store_true", help="merge processed blocks and commit the output")
    return parser


def _is_sequence(annotation: Any) -> bool:
    """Whether a field takes several values (a tuple or list, possibly optional or annotated)."""
    origin = typing.get_origin(annotation)
    if origin in (tuple, list):
        return True
    if origin in (typing.Union, types.UnionType, typing.Annotated):
        return any(_is_sequence(a) for a in typing.get_args(annotation)[: 1 if origin is typing.Annotated else None])
    return False


def parse(stage: StageSpec, argv: Sequence[str]) -> tuple[BaseModel, Invocation]:
    """The stage's options from the command line, and how it was asked to run."""
    args = stage_parser(stage).parse_args(argv)
    params = options_from_args(args, stage.section, stage.params, {n: getattr(args, n) for n in (*stage.urls, *stage.flags)})
    step = next((p for p in stage.passes if getattr(args, "pass_" + p.name) not in (None, False)), None)
    how = Invocation(redo(args), getattr(args, "plan_blocks", None), getattr(args, "blocks", None),
                     getattr(args, "finalise", False), step.name if step else None,
                     getattr(args, "pass_" + step.name) if step and step.fanned else None)
    return params, how


def stage_main(name: str, argv: Sequence[str]) -> None:
    """Run stage ``name`` (its task, ``em2exm.tasks.<module>.run``) with the command line ``argv``."""
    stage = spec(name)
    params, how = parse(stage, argv)
    importlib.import_module(f"em2exm.tasks.{stage.module}").run(params, how)


def options_from_args(args: argparse.Namespace, section: str, model: type[Options], flags: dict[str, Any]) -> Options:
    """Merge config section, ``--params``, ``--set`` and explicit flags (highest wins; empty means unset) into ``model``."""
    data = section_from_sources(section, args.config, args.params, args.set)
    data.update({k: v for k, v in flags.items() if v is not None and v != ""})
    options = validate(model, data, f"the '{section}' options")
    for value in options.model_dump().values():
        if isinstance(value, str):
            storage.check_url(value)
    return options


def redo(args: argparse.Namespace) -> Redo:
    """When to redo an output em2exm already wrote, from ``--overwrite`` / ``--update``."""
    return "always" if args.overwrite else ("if-changed" if args.update else "never")


def run_stage(main: Callable[[Sequence[str]], None], argv: Sequence[str] | None = None) -> int:
    """Run a stage's ``main`` and turn its outcome into the contract's exit code."""
    argv = list(sys.argv[1:] if argv is None else argv)
    level = "INFO"
    if "--log-level" in argv and argv.index("--log-level") + 1 < len(argv):
        level = argv[argv.index("--log-level") + 1]
    logging.basicConfig(level=getattr(logging, level.upper(), logging.INFO), format="%(asctime)s %(name)s %(levelname)s %(message)s")
    try:
        main(argv)
    except UserError as exc:
        print(exc if isinstance(exc, ReportedError) else f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except Exception:  # noqa: BLE001 - the contract: anything unexpected is an internal error
        traceback.print_exc()
        return 1
    return 0
