"""`voicechat talk`: the push-to-talk voice loop, and `voicechat devices`."""

from __future__ import annotations

import contextlib
import sys
from typing import Annotated, Any

import typer

from voicechat import paths
from voicechat.cli.app import app, reports_errors, settings, ui
from voicechat.errors import UsageError


@app.command()
@reports_errors
def talk(
    session: Annotated[
        str | None,
        typer.Option("--session", "-s", help="Resume this session (created if new)."),
    ] = None,
    hands_free: Annotated[
        bool,
        typer.Option("--hands-free", help="No keys: voice activity starts and ends every take."),
    ] = False,
) -> None:
    """Talk with the assistant: press Space (or Enter) to talk, again to send.

    Where the terminal reports key releases (kitty, WezTerm, foot, Ghostty), hold Space and
    release to send. Esc discards a take; Space while it speaks interrupts it and listens.
    Type to write instead; /help lists the commands. Ctrl-D quits.
    """
    from rich.console import Console

    from voicechat.assistant import Assistant
    from voicechat.audio.playback import Speaker
    from voicechat.audio.takes import TakeRecorder
    from voicechat.pipeline import ReplyListener
    from voicechat.session import Session, SessionStore, validate_name
    from voicechat.talk import TalkLoop
    from voicechat.talk_screen import TalkScreen
    from voicechat.terminal import KeyboardInput

    if not (sys.stdin.isatty() and sys.stdout.isatty()):
        raise UsageError(
            "talk needs an interactive terminal; use `voicechat ask TEXT` for one text turn "
            "or `voicechat transcribe FILE` for recordings"
        )
    config = settings().config
    store = SessionStore(paths.sessions_dir(config.session.dir))
    name = validate_name(session) if session else store.new_name()

    with contextlib.ExitStack() as locks:
        locks.enter_context(store.lock(name))
        conversation = store.load(name) if store.exists(name) else Session(name)
        models = ui.load_models(config)
        if models.chat.engine == "transformers" and models.chat.device == "cpu":
            ui.notice("no CUDA GPU: the language model runs on the CPU, so replies will be slow")
        console = Console(highlight=False)
        speaker = Speaker(config.audio.output_device) if models.synthesizer else None
        with KeyboardInput() as keys:
            hint = "hands-free" if hands_free else "idle-hold" if keys.kitty else "idle"
            with TalkScreen(console, hint) as screen:
                if conversation.messages:
                    screen.history(conversation.messages, f"resuming session {name}")
                else:
                    screen.print(f"[dim]session {name}[/]")
                assistant = Assistant(
                    config.llm,
                    models.chat,
                    models.synthesizer,
                    speaker,
                    store,
                    conversation,
                    ReplyListener(
                        on_text=screen.reply_piece,
                        on_notice=screen.notice,
                        on_speaking=lambda: screen.set_state("speaking"),
                    ),
                )
                loop = TalkLoop(
                    config,
                    assistant,
                    models.transcriber,
                    models.file_vad,
                    TakeRecorder,
                    keys,
                    screen,
                    hands_free,
                    locks,
                )
                try:
                    loop.run()
                finally:
                    if speaker is not None:
                        speaker.close()
    ui.notice(f"session {assistant.session.name} saved")


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
        ui.print_json({"devices": data})
        return
    ui.device_table(found)
