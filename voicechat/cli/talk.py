"""`voicechat talk`: the push-to-talk voice loop, and `voicechat devices`."""

from __future__ import annotations

import contextlib
import sys
from typing import TYPE_CHECKING, Annotated, Any

import typer

from voicechat.cli.app import app, console, load_models, reports_errors, settings
from voicechat.errors import UsageError

if TYPE_CHECKING:
    from voicechat.audio.devices import AudioDevice
    from voicechat.audio.playback import Speaker
    from voicechat.config import AudioConfig
    from voicechat.echo.far_end import FarEnd


@app.command()
@reports_errors
def talk(
    session: Annotated[
        str | None,
        typer.Option("--session", "-s", help="Resume this session (created if new)."),
    ] = None,
    hands_free: Annotated[
        bool,
        typer.Option(
            "--hands-free",
            help="No keys: voice activity starts and ends every take, and talking over a "
            "reply stops it (audio.echo_cancel, with the duplex extra).",
        ),
    ] = False,
) -> None:
    """Talk with the assistant: press Space (or Enter) to talk, again to send.

    Where the terminal reports key releases (kitty, WezTerm, foot, Ghostty), hold Space and
    release to send. Esc discards a take; Space while it speaks interrupts it and listens.
    Type to write instead; /help lists the commands. Ctrl-D quits.
    """
    from rich.console import Console

    from voicechat.conversation import open_conversation, session_store
    from voicechat.end_of_turn import check_turn_model, make_judge
    from voicechat.talk.commands import SlashCommands
    from voicechat.talk.screen import TalkScreen
    from voicechat.talk.setup import open_talk_loop
    from voicechat.talk.takes import microphone_recorder
    from voicechat.talk.terminal import KeyboardInput

    if not (sys.stdin.isatty() and sys.stdout.isatty()):
        raise UsageError(
            "talk needs an interactive terminal; use `voicechat ask TEXT` for one text turn "
            "or `voicechat transcribe FILE` for recordings"
        )
    config = settings().config
    check_turn_model(config.audio)
    far_end = _far_end(config.audio, hands_free)
    with (
        open_conversation(
            session_store(config),
            session,
            lambda: load_models(config),
            llm=config.llm,
            speaker=lambda models: (
                _speaker(config.audio.output_device, far_end) if models.synthesizer else None
            ),
        ) as conversation,
        KeyboardInput() as keys,
    ):
        hint = "hands-free" if hands_free else "idle-hold" if keys.kitty else "idle"
        with TalkScreen(Console(highlight=False), hint) as screen:
            resumed = conversation.session
            if resumed.messages:
                screen.history(resumed.messages, f"resuming session {resumed.name}")
            else:
                screen.print(f"[dim]session {resumed.name}[/]")
            commands = SlashCommands(conversation, screen, config.tts)
            judge = make_judge(config.audio, conversation.model, screen.notice, background=True)
            open_talk_loop(
                config.audio,
                conversation,
                lambda audio: microphone_recorder(audio, far_end),
                keys,
                screen,
                commands,
                hands_free,
                judge,
                talk_over=far_end is not None,
            ).run()
    console().notice(f"session {conversation.session.name} saved")


@app.command()
@reports_errors
def devices(
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """List audio input and output devices: index, name, channels, native rate, defaults."""
    from voicechat.audio.devices import list_devices

    found = list_devices()
    if as_json:
        data: list[dict[str, Any]] = [d.as_dict() for d in found]
        console().print_json({"devices": data})
        return
    _device_table(found)


def _device_table(devices: list[AudioDevice]) -> None:
    """Audio devices as a table on stdout."""
    from rich.markup import escape
    from rich.table import Table

    table = Table("index", "name", "in", "out", "rate (Hz)", "default", box=None)
    for d in devices:
        default = ", ".join(
            w for w, flag in (("input", d.default_input), ("output", d.default_output)) if flag
        )
        table.add_row(
            str(d.index), escape(d.name), str(d.inputs), str(d.outputs), str(d.rate), default
        )
    console().out.print(table)


def _speaker(device: str | int, far_end: FarEnd | None) -> Speaker:
    """The speaker, opened now where the echo canceller hears it (its first sound is primed
    then, not when the first reply is ready); a missing device is told when a reply plays."""
    from voicechat.audio.playback import Speaker
    from voicechat.errors import SpeakerUnavailable

    speaker = Speaker(device, far_end)
    if far_end is not None:
        with contextlib.suppress(SpeakerUnavailable):
            speaker.open()
    return speaker


def _far_end(audio: AudioConfig, hands_free: bool) -> FarEnd | None:
    """Where the speaker tells the microphone's echo canceller what it plays: hands-free with
    audio.echo_cancel, where the duplex extra is installed (else one notice)."""
    from voicechat import echo
    from voicechat.echo.far_end import FarEnd

    if not (hands_free and audio.echo_cancel):
        return None
    if not echo.available():
        console().notice(
            "replies cannot be talked over without the echo canceller: "
            'pip install "voicechat[duplex]" (or set audio.echo_cancel = false)'
        )
        return None
    return FarEnd()
