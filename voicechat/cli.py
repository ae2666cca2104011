"""The `voicechat` command line. With ui.py, the only code that prints or exits.

Exit codes: 0 success, 1 failure, 2 usage or configuration error, 130 Ctrl-C.
Heavy libraries (torch, whisper, transformers) are imported inside commands, so `--help`
and `--version` answer at once.
"""

from __future__ import annotations

import contextlib
import functools
import json
import logging
import sys
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer

from voicechat import __version__, paths
from voicechat.asr.formats import OutputFormat
from voicechat.config import AsrConfig, Settings, describe_keys, load_settings
from voicechat.engines import ASR_ENGINES
from voicechat.errors import (
    EXIT_FAILURE,
    EXIT_INTERRUPTED,
    AudioFileError,
    UsageError,
    VoicechatError,
)
from voicechat.ui import Ui

app = typer.Typer(
    name="voicechat",
    help="A voice assistant for the terminal: Whisper hears, Phi-3 answers, Edge TTS speaks.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)
config_app = typer.Typer(help="Show the effective configuration and where it comes from.")
app.add_typer(config_app, name="config")


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
    logging.basicConfig(
        level=logging.DEBUG if debug else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
    )


def _settings(overrides: dict[str, dict[str, Any]] | None = None) -> Settings:
    return load_settings(state.config_file, overrides)


@app.command()
@reports_errors
def transcribe(
    files: Annotated[
        list[Path],
        typer.Argument(help="Audio files: WAV, FLAC, OGG/Opus or MP3, any rate and channels."),
    ],
    model: Annotated[
        str | None,
        typer.Option("--model", "-m", help="Whisper model name (small.en) or local path."),
    ] = None,
    engine: Annotated[
        str | None,
        typer.Option("--engine", "-e", help=f"One of: {', '.join(ASR_ENGINES)}."),
    ] = None,
    language: Annotated[
        str | None,
        typer.Option("--language", "-l", help='Spoken language ("en"); default: detect.'),
    ] = None,
    translate: Annotated[
        bool, typer.Option("--translate", help="Translate the speech into English text.")
    ] = False,
    fmt: Annotated[
        OutputFormat, typer.Option("--format", "-f", help="Output format.")
    ] = OutputFormat.txt,
    output: Annotated[
        Path | None,
        typer.Option(
            "--output",
            "-o",
            help="Write to this file; with several inputs, a folder (one file per input).",
        ),
    ] = None,
    device: Annotated[str | None, typer.Option("--device", help="auto, cpu or cuda.")] = None,
) -> None:
    """Transcribe audio files to text, SRT, WebVTT or JSON.

    Results go to stdout (or --output); progress and errors go to stderr. Only speech is
    decoded: silence and noise give empty output and a notice.
    """
    overrides = {
        "asr": {
            "model": model,
            "engine": engine,
            "language": language,
            "device": device,
            "task": "translate" if translate else None,
        }
    }
    settings = _settings(overrides)
    failures = _transcribe_all(files, settings.config.asr, fmt, output)
    if failures:
        raise typer.Exit(EXIT_FAILURE)


def _destinations(files: list[Path], output: Path | None, fmt: OutputFormat) -> list[Path | None]:
    """Where each input's result goes: None for stdout, else a file path."""
    if output is None:
        return [None] * len(files)
    if len(files) > 1 or output.is_dir():
        if output.exists() and not output.is_dir():
            raise UsageError(f"{output}: with several inputs, --output must be a folder")
        stems = [f.with_suffix(f".{fmt.value}").name for f in files]
        # a.flac and a.mp3 would both become a.txt: such inputs keep their extension (a.flac.txt).
        names = [
            stem if stems.count(stem) == 1 else f"{f.name}.{fmt.value}"
            for f, stem in zip(files, stems, strict=True)
        ]
        if len(set(names)) < len(names):
            raise UsageError("two inputs share a file name; transcribe them into separate folders")
        return [output / name for name in names]
    return [output]


def _transcribe_all(
    files: list[Path], asr: AsrConfig, fmt: OutputFormat, output: Path | None
) -> int:
    """Transcribe each file to its destination; report bad ones and go on. Returns the failures."""
    from voicechat.asr.files import transcribe_file
    from voicechat.asr.loader import create_transcriber, decode_options
    from voicechat.audio.io import AudioInfo, probe
    from voicechat.audio.vad import VoiceActivityDetector
    from voicechat.fileio import atomic_text_writer

    destinations = _destinations(files, output, fmt)
    jobs: list[tuple[AudioInfo, Path | None]] = []
    failures = 0
    for path, dest in zip(files, destinations, strict=True):
        try:
            jobs.append((probe(path), dest))
        except AudioFileError as e:
            ui.error(str(e))
            failures += 1
    if not jobs:
        return failures

    with ui.working(f"Loading {asr.engine} model {asr.model}…"):
        transcriber = create_transcriber(asr)
        options = decode_options(asr, transcriber)
        vad = VoiceActivityDetector()
    for info, dest in jobs:
        try:
            with (
                ui.file_progress(info.path.name, info.duration) as bar,
                atomic_text_writer(dest) if dest else contextlib.nullcontext(sys.stdout) as out,
            ):
                transcript = transcribe_file(
                    info,
                    transcriber,
                    vad,
                    options,
                    fmt,
                    out,
                    bar.advance_to,
                    lambda segment: bar.show_text(segment.text),
                )
        except AudioFileError as e:
            ui.error(str(e))
            failures += 1
            continue
        if not transcript.segments:
            ui.notice(f"{info.path}: no speech found")
    return failures


@config_app.command("show")
@reports_errors
def config_show(
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of TOML.")] = False,
) -> None:
    """Print the effective settings as TOML, each with where its value came from."""
    settings = _settings()
    values: dict[str, dict[str, Any]] = {
        section: vars(getattr(settings.config, section)) for section in describe_keys()
    }
    if as_json:
        data = {
            section: {
                key: {"value": value, "source": settings.sources[f"{section}.{key}"]}
                for key, value in keys.items()
            }
            for section, keys in values.items()
        }
        typer.echo(json.dumps(data, indent=2))
        return
    lines: list[str] = []
    for section, keys in values.items():
        lines.append(f"[{section}]")
        for key, value in keys.items():
            source = settings.sources[f"{section}.{key}"]
            lines.append(f"{key} = {json.dumps(value, ensure_ascii=False)}  # {source}")
        lines.append("")
    typer.echo("\n".join(lines).rstrip())


@config_app.command("path")
@reports_errors
def config_path() -> None:
    """Print the path of the user config file (it may not exist yet)."""
    path = paths.user_config_file()
    typer.echo(str(path))
    if not path.exists():
        ui.notice(f"{path} does not exist yet; create it to change the defaults")


def main() -> None:
    """Entry point of the `voicechat` console script."""
    app(prog_name="voicechat")
