"""How options read in `--help`: a flag shows no value, an option the name of its value.

Typer 0.29 writes every option's type in angle brackets (`--json <bool>`, `--session <str>`),
which reads as if `--json` wanted a value. Options that name their value (`metavar=`) keep it,
and choices keep their list.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from typer.core import TyperArgument, TyperGroup, TyperOption


def name_values(params: Iterable[Any]) -> None:
    """Give each option without a metavar one: none for a flag, else its name in capitals
    (`--session SESSION`); choices are left to list themselves. Arguments are named in
    capitals too (`voicechat ask TEXT`)."""
    for param in params:
        if param is None or param.metavar is not None:
            continue
        if isinstance(param, TyperArgument) and param.name:
            param.metavar = param.name.upper()
        elif not isinstance(param, TyperOption):
            continue
        elif param.is_flag:
            param.metavar = ""
        elif not param.type_descriptor.is_choice and param.name:
            param.metavar = param.name.upper()


class HelpGroup(TyperGroup):
    """A command group whose `--help`, and its commands' (`--help` included), name values
    as `name_values` does."""

    def get_params(self, ctx: Any) -> list[Any]:
        params = super().get_params(ctx)
        name_values(params)
        return params

    def get_command(self, ctx: Any, cmd_name: str) -> Any:
        command = super().get_command(ctx, cmd_name)
        if command is not None:
            name_values(command.params)
            name_values([command.get_help_option(ctx)])
        return command
