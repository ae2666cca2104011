"""The `/` commands of `voicechat talk`."""

from __future__ import annotations

from dataclasses import replace

from voicechat.config import TtsConfig
from voicechat.conversation import Conversation
from voicechat.errors import VoicechatError
from voicechat.talk.screen import TalkScreen

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

    tts: the voice settings /voice starts from.
    """

    def __init__(self, conversation: Conversation, screen: TalkScreen, tts: TtsConfig) -> None:
        self.conversation = conversation
        self.screen = screen
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
            session = self.conversation.session
            self.screen.history(session.messages, f"session {session.name}")
        elif name == "/mute":
            self.conversation.muted = not self.conversation.muted
            self.screen.notice(
                "replies are text only" if self.conversation.muted else "replies are spoken"
            )
        elif name == "/new":
            try:
                self.screen.notice(f"new session {self.conversation.new_session()}")
            except VoicechatError as e:
                self.screen.error(str(e))
        elif name == "/voice":
            self._change_voice(argument)
        else:
            self.screen.notice(f"unknown command {name}; /help lists them")
        return False

    def _change_voice(self, voice: str) -> None:
        from voicechat.models import create_synthesizer

        if not voice:
            current = self.conversation.synthesizer
            self.screen.notice(
                f"the voice is {current.voice if current else 'off'}; /voice NAME changes it"
            )
            return
        from voicechat.engines import TTS_ENGINES

        key = TTS_ENGINES[self.tts.engine].voice_key
        if not key:
            self.screen.notice(f"replies are not spoken (tts.engine = {self.tts.engine!r})")
            return
        tts = replace(self.tts, **{key: voice})
        try:
            self.conversation.synthesizer = create_synthesizer(tts, self.screen.notice)
        except VoicechatError as e:
            self.screen.error(str(e))
            return
        self.tts = tts
        self.screen.notice(f"speaking with {voice}")
