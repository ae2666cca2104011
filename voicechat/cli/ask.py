"""`voicechat ask`: one turn from text, spoken while it is written, kept in a session."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from voicechat.cli.app import app, console, load_models, reports_errors, settings
from voicechat.errors import EXIT_INTERRUPTED, UsageError

AUDIO_SUFFIXES = (".wav", ".mp3", ".flac", ".ogg")


@app.command()
@reports_errors
def ask(
    text: Annotated[str, typer.Argument(help='What to ask; "-" reads it from stdin.')],
    session: Annotated[
        str | None,
        typer.Option("--session", "-s", help="Continue this session (created if new)."),
    ] = None,
    no_speak: Annotated[bool, typer.Option("--no-speak", help="Text only: do not speak.")] = False,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print one JSON object: reply, session, timings.")
    ] = False,
    save_audio: Annotated[
        Path | None,
        typer.Option(
            "--save-audio", help="Also write the spoken reply here (.wav or .mp3).", metavar="PATH"
        ),
    ] = None,
) -> None:
    """Ask one question in text; the reply is printed as it is written and spoken at once.

    The turn is saved in a session file (`voicechat sessions`). Ctrl-C stops the reply and
    saves what was written, marked interrupted.
    """
    from voicechat.audio.playback import Speaker
    from voicechat.conversation import open_conversation, session_store
    from voicechat.turn import TurnListener, Typed, run_turn

    question = (sys.stdin.read() if text == "-" else text).strip()
    if not question:
        raise UsageError("nothing to ask: the text is empty")
    if save_audio is not None and save_audio.suffix.lower() not in AUDIO_SUFFIXES:
        raise UsageError(f"{save_audio}: --save-audio takes {', '.join(AUDIO_SUFFIXES)}")
    config = settings().config
    speak = not no_speak or save_audio is not None
    stages = ("language model", "voice") if speak else ("language model",)
    ui = console()
    listener = TurnListener(
        on_text=(lambda _: None) if as_json else ui.reply_piece, on_notice=ui.notice
    )
    with open_conversation(
        session_store(config),
        session,
        # One turn gains nothing from a warm-up, except that a compile is then paid up front.
        lambda: load_models(config, stages, warm_up=config.llm.compile),
        llm=config.llm,
        speaker=lambda models: (
            Speaker(config.audio.output_device) if models.synthesizer and not no_speak else None
        ),
    ) as conversation:
        result = run_turn(
            conversation, Typed(question), listener, keep_audio=save_audio is not None
        )

    reply = result.reply
    assert reply is not None
    name = conversation.session.name
    if save_audio is not None and reply.audio:
        _write_audio(save_audio, reply.audio)
    if as_json:
        ui.print_json(
            {
                "reply": reply.text,
                "session": name,
                "interrupted": reply.interrupted,
                "engines": conversation.engines(reply.tts_engine),
                "timings_ms": result.timings.as_dict(),
            }
        )
    else:
        ui.reply_end()
        ui.dim(result.timings.line())
    if reply.interrupted:
        ui.notice(f"interrupted; the partial reply is saved in session {name}")
        raise typer.Exit(EXIT_INTERRUPTED)


def _write_audio(path: Path, clips: list[Any]) -> None:
    """Write the spoken clips as one file, atomically, at the first clip's rate."""
    import os
    import tempfile

    import numpy as np
    import soundfile as sf
    import soxr

    rate = clips[0].sample_rate
    samples = np.concatenate(
        [
            c.samples if c.sample_rate == rate else soxr.resample(c.samples, c.sample_rate, rate)
            for c in clips
        ]
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        sf.write(tmp, samples, rate, format=path.suffix.lstrip(".").upper())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
