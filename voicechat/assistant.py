"""A conversation: the model, the voice and the session file, and one function per turn."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from voicechat.audio.playback import AudioSink
from voicechat.config import LlmConfig
from voicechat.errors import VoicechatError
from voicechat.llm.base import ChatModel
from voicechat.llm.context import fit_history
from voicechat.llm.loader import generation_options
from voicechat.pipeline import Hold, Reply, ReplyListener, SpokenReply
from voicechat.session import Session, SessionStore
from voicechat.tts.base import Synthesizer
from voicechat.types import Message


@dataclass
class Assistant:
    """Everything one conversation needs. The caller holds the session's lock."""

    llm: LlmConfig
    model: ChatModel
    synthesizer: Synthesizer | None
    speaker: AudioSink | None
    store: SessionStore
    session: Session
    listener: ReplyListener
    muted: bool = False
    """Text-only replies: the voice is not used while set."""
    _current: SpokenReply | None = field(default=None, init=False, repr=False)

    def interrupt(self) -> None:
        """Stop the reply in progress, if any (from any thread)."""
        current = self._current
        if current is not None:
            current.interrupt()

    def engines(self, tts_engine: str | None) -> dict[str, Any]:
        """What produced a reply, as saved with it."""
        return {
            "llm": self.model.engine,
            "llm_model": self.model.model_name,
            "llm_device": self.model.device,
            "tts": tts_engine,
        }

    def reply_to(self, text: str, keep_audio: bool = False, hold: Hold | None = None) -> Reply:
        """One turn: the question is saved before the model starts and the reply after it ends.

        An interrupted reply is saved as far as it got; a failed one is saved with its error.
        hold: the reply starts before it is known to be wanted; the question is saved when
        the hold is released, and an abandoned (or, before release, failed) reply leaves the
        session untouched.
        """
        messages = fit_history(
            self.llm.system_prompt,
            self.session.history(),
            Message("user", text),
            self.model.count_tokens,
            self.model.context_window - self.llm.max_new_tokens,
        )

        def save_question() -> None:
            self.session.add("user", text)
            self.store.save(self.session)

        if hold is None:
            save_question()
        else:
            hold.on_release(save_question)
        voice = None if self.muted else self.synthesizer
        pipeline = SpokenReply(
            self.model, voice, self.speaker if voice else None, self.listener, keep_audio=keep_audio
        )
        self._current = pipeline
        try:
            reply = pipeline.run(messages, generation_options(self.llm), hold)
        except VoicechatError as e:
            if hold is None or hold.released:
                self.session.add("assistant", "", error=str(e), engines=self.engines(None))
                self.store.save(self.session)
            raise
        finally:
            if self._current is pipeline:
                self._current = None
        if reply.abandoned:
            return reply
        self.session.add(
            "assistant",
            reply.text,
            engines=self.engines(reply.tts_engine),
            timings_ms=reply.timings.as_dict(),
            interrupted=reply.interrupted,
        )
        self.store.save(self.session)
        return reply
