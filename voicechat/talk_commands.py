"""The `/` commands of `voicechat talk`."""

from __future__ import annotations

import contextlib
from dataclasses import replace

from voicechat.assistant import Assistant
from voicechat.config import TtsConfig
from voicechat.errors import VoicechatError
from voicechat.session import Session
from voicechat.talk_screen import TalkScreen

COMMANDS = {
    "/help": "this list",
    "/new": "start a new session",
    "/history": "the whole conversation so far",
    "/voice NAME": "speak with another voice (an Edge voice name, or a piper .onnx path)",
    "/mute": "text-only replies (again to speak)",
    "/quit": "leave (also Ctrl-D)",
}


class SlashCommands:
    """Runs a typed `/command` against the conversation.

    locks: holds the current session's lock; /new swaps it for the new session's.
    tts: the voice settings /voice starts from.
    """

    def __init__(
        self, assistant: Assistant, screen: TalkScreen, locks: contextlib.ExitStack, tts: TtsConfig
    ) -> None:
        self.assistant = assistant
        self.screen = screen
        self.locks = locks
        self.tts = tts

    def run(self, text: str) -> bool:
        """Run the command in `text`; True when it asks to quit."""
        name, _, argument = text.partition(" ")
        argument = argument.strip()
        if name == "/quit":
            return True
        if name == "/help":
            for command, what in COMMANDS.items():
                self.screen.print(f"[bold]{command}[/]  {what}")
        elif name == "/history":
            session = self.assistant.session
            self.screen.history(session.messages, f"session {session.name}")
        elif name == "/mute":
            self.assistant.muted = not self.assistant.muted
            self.screen.notice(
                "replies are text only" if self.assistant.muted else "replies are spoken"
            )
        elif name == "/new":
            self._new_session()
        elif name == "/voice":
            self._change_voice(argument)
        else:
            self.screen.notice(f"unknown command {name}; /help lists them")
        return False

    def _new_session(self) -> None:
        store = self.assistant.store
        name = store.new_name()
        self.locks.close()  # releases the previous session's lock
        self.locks.enter_context(store.lock(name))
        self.assistant.session = Session(name)
        self.screen.notice(f"new session {name}")

    def _change_voice(self, voice: str) -> None:
        from voicechat.tts.loader import create_synthesizer

        if not voice:
            current = self.assistant.synthesizer
            self.screen.notice(
                f"the voice is {current.voice if current else 'off'}; /voice NAME changes it"
            )
            return
        tts = self.tts
        tts = (
            replace(tts, piper_voice=voice) if tts.engine == "piper" else replace(tts, voice=voice)
        )
        try:
            self.assistant.synthesizer = create_synthesizer(tts, self.screen.notice)
        except VoicechatError as e:
            self.screen.error(str(e))
            return
        self.tts = tts
        self.screen.notice(f"speaking with {voice}")
