"""A conversation: the engines a turn runs on and the session it is kept in, under its lock.

`lock_session` is how every command names, locks and loads its session; `Conversation` holds
what a turn needs and what the talk commands change (the voice, mute, a new session). The
turn itself is `voicechat.turn.run_turn`.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from voicechat.audio.playback import AudioSink
from voicechat.config import LlmConfig
from voicechat.llm.base import ChatModel, GenerationOptions
from voicechat.llm.context import fit_history
from voicechat.reply import Reply, ReplyListener, SpokenReply
from voicechat.session import Session, SessionStore, validate_name
from voicechat.tts.base import Synthesizer
from voicechat.types import AudioClip, Message

Hear = Callable[[AudioClip], str]
"""A take's text (speech only, one line; "" when nothing was said)."""


@dataclass
class Conversation:
    """Everything one conversation's turns need.

    hear: turns a take into text; None where only text comes in (`ask`).
    speaker: where replies play; None for text-only replies.
    muted: replies are not spoken while set (`/mute`).
    """

    llm: LlmConfig
    model: ChatModel
    synthesizer: Synthesizer | None
    speaker: AudioSink | None
    store: SessionStore
    session: Session
    lock: contextlib.ExitStack = field(default_factory=contextlib.ExitStack, repr=False)
    """Holds the session's lock (see `lock_session`)."""
    hear: Hear | None = None
    muted: bool = False
    _current: SpokenReply | None = field(default=None, init=False, repr=False)

    @property
    def options(self) -> GenerationOptions:
        """The `[llm]` sampling settings."""
        return GenerationOptions(
            max_new_tokens=self.llm.max_new_tokens, temperature=self.llm.temperature
        )

    def prompt(self, text: str) -> list[Message]:
        """The messages for a reply to `text`: the system prompt, as much history as fits the
        model's window (after room for the reply), and `text`."""
        return fit_history(
            self.llm.system_prompt,
            self.session.history(),
            Message("user", text),
            self.model.count_tokens,
            self.model.context_window - self.llm.max_new_tokens,
        )

    def reply(
        self,
        listener: ReplyListener,
        speaker: AudioSink | None = None,
        keep_audio: bool = False,
        streaming: bool = True,
        cancel: threading.Event | None = None,
    ) -> SpokenReply:
        """A reply on this conversation's model and voice (silent when muted or voiceless).

        speaker: where it plays instead of the conversation's own speaker.
        cancel: the turn's stop signal, which the reply obeys (see `SpokenReply`).
        """
        voice = None if self.muted else self.synthesizer
        sink = (speaker or self.speaker) if voice is not None else None
        reply = SpokenReply(
            self.model,
            voice,
            sink,
            listener,
            keep_audio=keep_audio,
            streaming=streaming,
            cancel=cancel,
        )
        self._current = reply
        return reply

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

    def save_question(self, text: str) -> None:
        """Keep what was said, before the reply to it starts."""
        self.session.add("user", text)
        self.store.save(self.session)

    def save_reply(self, reply: Reply, timings_ms: dict[str, float | None]) -> None:
        """Keep the reply as far as it got."""
        self.session.add(
            "assistant",
            reply.text,
            engines=self.engines(reply.tts_engine),
            timings_ms=timings_ms,
            interrupted=reply.interrupted,
        )
        self.store.save(self.session)

    def save_stopped(self) -> None:
        """Keep a reply stopped before it began: empty, marked interrupted."""
        self.session.add(
            "assistant", "", engines=self.engines(None), timings_ms={}, interrupted=True
        )
        self.store.save(self.session)

    def save_failure(self, error: str, written: str = "") -> None:
        """Keep a reply that failed, with its error and what it had written (then marked
        interrupted)."""
        self.session.add(
            "assistant",
            written,
            error=error,
            engines=self.engines(None),
            interrupted=bool(written),
        )
        self.store.save(self.session)

    def new_session(self) -> str:
        """Leave this session (releasing its lock) for a new, empty one; its name."""
        name = self.store.new_name()
        with contextlib.ExitStack() as new_lock:
            new_lock.enter_context(self.store.lock(name))
            self.lock.close()
            self.lock.enter_context(new_lock.pop_all())
        self.session = Session(name)
        return name


def lock_session(
    store: SessionStore, name: str | None, wait_s: float = 0.0
) -> tuple[Session, contextlib.ExitStack]:
    """Lock session `name` (a new name when None) and load it, or start it when new.

    wait_s: how long to wait for another holder to let go before it is busy.

    Returns the session and its lock, held until the stack is closed: hand both to the
    `Conversation`, which keeps the lock with the session it is on.
    """
    name = validate_name(name) if name else store.new_name()
    lock = contextlib.ExitStack()
    lock.enter_context(store.lock(name, wait_s))
    try:
        session = store.load(name) if store.exists(name) else Session(name)
    except BaseException:
        lock.close()
        raise
    return session, lock
