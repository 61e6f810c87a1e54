"""Help that reads like a command line tool's, at 80 columns: plain text (no boxes), value
names instead of Python types (``--job-timeout DURATION``, not ``<str>``), arguments in the
usage line as ``SPEC`` / ``[SPEC]`` (not ``{spec}``), the whole first paragraph of each
command's help in the list of commands (wrapped, not cut short).

``finish(root)`` is applied to the finished click tree, so commands added by any module get
the same treatment: an option without a metavar is named after its parameter (``--out OUT``);
an argument is shown by its metavar, else its name in capitals.
"""

from __future__ import annotations

import inspect
from typing import Any

from reconciler.cli.globalopts import commands_below

__all__ = ["WIDTH", "finish"]

WIDTH = 80  # help is wrapped at this width at most (narrower terminals: theirs)


def finish(root: Any) -> None:
    for command in [root, *commands_below(root)]:
        command.rich_markup_mode = None  # plain help: click's layout, wrapped at WIDTH
        if command.short_help is None and command.help:
            command.short_help = _first_paragraph(command.help)  # wrapped, never cut short
        for param in command.params:
            if param.param_type_name == "argument":
                _plain_argument(param)
            elif not getattr(param, "is_flag", False) and param.metavar is None:
                param.metavar = param.name.upper()


def _first_paragraph(text: str) -> str:
    return " ".join(inspect.cleandoc(text).split("\n\n", 1)[0].split())


def _plain_argument(param: Any) -> None:
    name = param.metavar or param.name.upper()
    param.metavar = name
    repeated = "..." if param.nargs != 1 else ""
    usage = (name if param.required else f"[{name}]") + repeated

    def usage_pieces(ctx: Any) -> list[str]:
        return [usage]

    def help_record(ctx: Any) -> tuple[str, str] | None:
        if param.hidden:
            return None
        extra = []
        default = param.default
        if default not in (None, "", (), []) and not callable(default):
            extra.append(f"default: {default}")
        if param.required:
            extra.append("required")
        text = param.help or ""
        if extra:
            text = f"{text}  [{'; '.join(extra)}]" if text else f"[{'; '.join(extra)}]"
        return name + repeated, text

    param.get_usage_pieces = usage_pieces
    param.get_help_record = help_record

