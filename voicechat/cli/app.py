"""The Typer app, its global options, and the error handling every command shares.

Exit codes: 0 success, 1 failure, 2 usage or configuration error, 130 Ctrl-C.
"""

from __future__ import annotations

import functools
import logging
import sys
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer

from voicechat import __version__
from voicechat.config import Config, Settings, load_settings
from voicechat.errors import EXIT_FAILURE, EXIT_INTERRUPTED, VoicechatError
from voicechat.ui import Ui

if TYPE_CHECKING:
    from voicechat.models import Models

app = typer.Typer(
    name="voicechat",
    help="A voice assistant for the terminal: Whisper hears, Phi-3 answers, Edge TTS speaks.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode="markdown",  # reflows docstring paragraphs to the terminal width
    context_settings={"help_option_names": ["-h", "--help"]},
)


@dataclass
class AppState:
    """Global options, set before any command runs."""

    config_file: Path | None = None
    debug: bool = False


state = AppState()
ui = Ui()

F = TypeVar("F", bound=Callable[..., Any])


def reports_errors(command: F) -> F:
    """Turn a command's errors into one red line and an exit code; tracebacks only with --debug."""

    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return command(*args, **kwargs)
        except VoicechatError as e:
            _show_traceback()
            ui.error(str(e))
            raise typer.Exit(e.exit_code) from None
        except KeyboardInterrupt:
            ui.error("interrupted")
            raise typer.Exit(EXIT_INTERRUPTED) from None
        except typer.Exit:
            raise
        except typer.Abort:
            ui.error("aborted")
            raise typer.Exit(EXIT_FAILURE) from None
        except Exception as e:
            _show_traceback()
            hint = "" if state.debug else " (run with --debug for the traceback)"
            ui.error(f"unexpected {type(e).__name__}: {e}{hint}")
            raise typer.Exit(EXIT_FAILURE) from None

    return wrapper  # type: ignore[return-value]


def _show_traceback() -> None:
    if state.debug:
        traceback.print_exc(file=sys.stderr)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"voicechat {__version__}")
        raise typer.Exit()


@app.callback()
def root(
    config: Annotated[
        Path | None,
        typer.Option(
            "--config",
            help="Read settings from this TOML file, over the user config file.",
            metavar="PATH",
        ),
    ] = None,
    debug: Annotated[
        bool, typer.Option("--debug", help="Show tracebacks and debug logs on errors.")
    ] = False,
    version: Annotated[
        bool,
        typer.Option("--version", callback=_version, is_eager=True, help="Print the version."),
    ] = False,
) -> None:
    """A voice assistant for the terminal: Whisper hears, Phi-3 answers, Edge TTS speaks.

    Settings come from defaults < the user config file < --config PATH < command flags;
    see `voicechat config show`.
    """
    state.config_file = config
    state.debug = debug
    # Libraries' own warnings (retries, deprecations) are not for users; errors reach them as
    # one line from the command, and --debug shows everything.
    logging.basicConfig(
        level=logging.DEBUG if debug else logging.ERROR,
        format="%(levelname)s %(name)s: %(message)s",
    )


def settings(overrides: dict[str, dict[str, Any]] | None = None) -> Settings:
    return load_settings(state.config_file, overrides)


def load_models(
    config: Config, stages: tuple[str, ...] | None = None, warm_up: bool = True
) -> Models:
    """Load (and warm up) the engines a command needs, a spinner line per stage; a notice
    when the language model runs on the CPU."""
    from voicechat import models

    stages = stages or models.STAGES
    names = {
        "speech-to-text": f"{config.asr.engine} {config.asr.model}",
        "language model": f"{config.llm.engine} {config.llm.model}",
        "voice": config.tts.engine,
    }
    with ui.loading({s: n for s, n in names.items() if s in stages}) as on_status:
        loaded = models.load_models(config, on_status, ui.notice, stages, warm_up)
    if loaded.chat.engine == "transformers" and loaded.chat.device == "cpu":
        ui.notice("no CUDA GPU: the language model runs on the CPU, so replies will be slow")
    return loaded
