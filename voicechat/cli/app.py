"""The Typer app, its global options, and the error handling every command shares.

Exit codes: 0 success, 1 failure, 2 usage or configuration error, 130 Ctrl-C.
"""

from __future__ import annotations

import contextvars
import functools
import inspect
import logging
import sys
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer

from voicechat import __version__
from voicechat.cli.console import Console
from voicechat.cli.help_format import HelpGroup
from voicechat.errors import EXIT_FAILURE, EXIT_INTERRUPTED, VoicechatError

if TYPE_CHECKING:
    from voicechat.config import Config, Settings
    from voicechat.models import Models

app = typer.Typer(
    cls=HelpGroup,
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
    """One run's global options and console, set by the callback before any command runs and
    kept in the command's context (a test may hand in its own with `obj=`)."""

    config_file: Path | None = None
    debug: bool = False
    console: Console = field(default_factory=Console)


_running: contextvars.ContextVar[AppState] = contextvars.ContextVar("voicechat_cli_state")


def current() -> AppState:
    """The running command's state (a fresh default one outside a command)."""
    found = _running.get(None)
    return found if found is not None else AppState()


def console() -> Console:
    """Where the running command writes."""
    return current().console


F = TypeVar("F", bound=Callable[..., Any])


def reports_errors(command: F) -> F:
    """Run a command with its run's state (`current()`, `console()`), and turn its errors into
    one red line and an exit code; tracebacks only with --debug.

    The wrapper takes the command's context as one more keyword parameter, which Typer fills
    and hides from the command line."""
    signature = inspect.signature(command, eval_str=True)
    context_parameter = inspect.Parameter(
        "cli_context", inspect.Parameter.KEYWORD_ONLY, annotation=typer.Context
    )

    @functools.wraps(command)
    def wrapper(*args: Any, cli_context: typer.Context, **kwargs: Any) -> Any:
        found = cli_context.find_object(AppState)
        state = found if found is not None else AppState()
        ui = state.console
        token = _running.set(state)
        try:
            return command(*args, **kwargs)
        except VoicechatError as e:
            _show_traceback(state.debug)
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
            _show_traceback(state.debug)
            hint = "" if state.debug else " (run with --debug for the traceback)"
            ui.error(f"unexpected {type(e).__name__}: {e}{hint}")
            raise typer.Exit(EXIT_FAILURE) from None
        finally:
            _running.reset(token)

    wrapper.__signature__ = signature.replace(  # type: ignore[attr-defined]
        parameters=[*signature.parameters.values(), context_parameter]
    )
    return wrapper  # type: ignore[return-value]


def _show_traceback(debug: bool) -> None:
    if debug:
        traceback.print_exc(file=sys.stderr)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"voicechat {__version__}")
        raise typer.Exit()


@app.callback()
def root(
    context: typer.Context,
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
    state = context.obj if isinstance(context.obj, AppState) else AppState()
    state.config_file, state.debug = config, debug
    context.obj = state
    # Libraries' own warnings (retries, deprecations) are not for users; errors reach them as
    # one line from the command, and --debug shows everything.
    logging.basicConfig(
        level=logging.DEBUG if debug else logging.ERROR,
        format="%(levelname)s %(name)s: %(message)s",
    )


def settings(overrides: dict[str, dict[str, Any]] | None = None) -> Settings:
    from voicechat.config import load_settings

    return load_settings(current().config_file, overrides)


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
    ui = console()
    with ui.loading({s: n for s, n in names.items() if s in stages}) as on_status:
        loaded = models.load_models(config, on_status, ui.notice, stages, warm_up)
    if loaded.chat.device == "cpu":
        ui.notice("no CUDA GPU: the language model runs on the CPU, so replies will be slow")
    return loaded
