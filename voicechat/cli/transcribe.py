"""`voicechat transcribe`: speech-to-text for audio files."""

from __future__ import annotations

import contextlib
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from voicechat.asr.formats import OutputFormat
from voicechat.cli.app import app, console, reports_errors, settings
from voicechat.engines import ASR_ENGINES
from voicechat.errors import EXIT_FAILURE, AudioFileError, UsageError

if TYPE_CHECKING:
    from voicechat.config import AsrConfig


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
            metavar="PATH",
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
    config = settings(overrides).config
    failures = _transcribe_all(files, config.asr, fmt, output)
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
    from voicechat.audio.io import AudioInfo
    from voicechat.audio.untrusted import probe_file
    from voicechat.audio.vad import VoiceActivityDetector
    from voicechat.cli.progress import file_progress
    from voicechat.fileio import atomic_text_writer
    from voicechat.models import create_transcriber, decode_options

    destinations = _destinations(files, output, fmt)
    jobs: list[tuple[AudioInfo, Path | None]] = []
    failures = 0
    for path, dest in zip(files, destinations, strict=True):
        try:
            jobs.append((probe_file(path), dest))
        except AudioFileError as e:
            console().error(str(e))
            failures += 1
    if not jobs:
        return failures

    with console().working(f"Loading {asr.engine} model {asr.model}…"):
        transcriber = create_transcriber(asr)
        options = decode_options(asr, transcriber)
        vad = VoiceActivityDetector()
    for info, dest in jobs:
        try:
            with (
                file_progress(console(), info.path.name, info.duration) as bar,
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
            console().error(str(e))
            failures += 1
            continue
        if not transcript.segments:
            console().notice(f"{info.path}: no speech found")
    return failures
