"""`voicechat config`: the effective settings and where they come from."""

from __future__ import annotations

import json
from dataclasses import asdict
from typing import Annotated, Any

import typer

from voicechat import paths
from voicechat.cli.app import app, console, reports_errors, settings
from voicechat.cli.help_format import HelpGroup

config_app = typer.Typer(
    cls=HelpGroup, help="Show the effective configuration and where it comes from."
)
app.add_typer(config_app, name="config")


@config_app.command("show")
@reports_errors
def config_show(
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of TOML.")] = False,
) -> None:
    """Print the effective settings as TOML, each with where its value came from."""
    from voicechat.config import describe_keys
    from voicechat.turn_calibration import cached

    current = settings()
    calibration = cached(current.config.llm.model)
    values: dict[str, dict[str, Any]] = {
        section: vars(getattr(current.config, section)) for section in describe_keys()
    }
    if as_json:
        data: dict[str, Any] = {
            section: {
                key: {"value": value, "source": current.sources[f"{section}.{key}"]}
                for key, value in keys.items()
            }
            for section, keys in values.items()
        }
        data["end_of_turn_calibration"] = asdict(calibration) if calibration else None
        typer.echo(json.dumps(data, indent=2))
        return
    lines: list[str] = []
    for section, keys in values.items():
        lines.append(f"[{section}]")
        for key, value in keys.items():
            source = current.sources[f"{section}.{key}"]
            lines.append(f"{key} = {json.dumps(value, ensure_ascii=False)}  # {source}")
        lines.append("")
    lines.append(
        f"# end of turn: {calibration.describe()}"
        if calibration is not None
        else f"# end of turn: the words are calibrated to {current.config.llm.model} the first "
        'time audio.end_of_turn = "smart" runs with it'
    )
    typer.echo("\n".join(lines).rstrip())


@config_app.command("path")
@reports_errors
def config_path() -> None:
    """Print the path of the user config file (it may not exist yet)."""
    path = paths.user_config_file()
    typer.echo(str(path))
    if not path.exists():
        console().notice(f"{path} does not exist yet; create it to change the defaults")
