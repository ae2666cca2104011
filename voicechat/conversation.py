"""A conversation: the engines a turn runs on and the session it is kept in, under its lock.

`open_conversation` is how every front-end names, locks and loads its session and gets the
conversation on it; `Conversation` holds what a turn needs and what the talk commands
change (the voice, mute, a new session). The turn itself is `voicechat.turn.run_turn`.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from voicechat import paths
from voicechat.audio.playback import AudioSink
from voicechat.config import Config, LlmConfig
from voicechat.llm.base import ChatModel, GenerationOptions
from voicechat.llm.context import fit_history
from voicechat.reply import Reply, ReplyListener, SpokenReply
from voicechat.session import Session, SessionStore, validate_name
from voicechat.tts.base import Synthesizer
from voicechat.types import AudioClip, Message

if TYPE_CHECKING:
    from voicechat.models import Models

Hear = Callable[[AudioClip], str]
"""A take's text (speech only, one line; "" when nothing was said)."""


@dataclass(kw_only=True)
class Conversation:
    """Everything one conversation's turns need.

    hear: turns a take into text; None where only text comes in (`ask`).
    speaker: where replies play; None for text-only replies.
    muted: replies are not spoken while set (`/mute`).
    """

    llm: LlmConfig
    model: ChatModel
    store: SessionStore
    session: Session
    synthesizer: Synthesizer | None = None
    speaker: AudioSink | None = None
    lock: contextlib.ExitStack = field(default_factory=contextlib.ExitStack, repr=False)
    """Holds the session's lock (see `open_conversation`)."""
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
        current: bool = True,
    ) -> SpokenReply:
        """A reply on this conversation's model and voice (silent when muted or voiceless).

        speaker: where it plays instead of the conversation's own speaker.
        cancel: the turn's stop signal, which the reply obeys (see `SpokenReply`).
        current: it is the reply `interrupt` stops from now on; a reply held unseen (the early
        start) becomes so only when released (`make_current`).
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
        if current:
            self._current = reply
        return reply

    def make_current(self, reply: SpokenReply) -> None:
        """`reply` is the one `interrupt` stops from now on."""
        self._current = reply

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

    def last_reply(self) -> str:
        """The latest reply's text as kept (as far as it got): "" before the first."""
        return next(
            (m["content"] for m in reversed(self.session.messages) if m["role"] == "assistant"),
            "",
        )

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

    def forget_since(self, count: int) -> None:
        """Drop every message after the first `count` (a turn taken back: the person went on
        speaking) and save."""
        if len(self.session.messages) > count:
            del self.session.messages[count:]
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


def session_store(config: Config) -> SessionStore:
    """The session folder `config` names (`session.dir`, else the data folder's)."""
    return SessionStore(paths.sessions_dir(config.session.dir))


@contextlib.contextmanager
def open_conversation(
    store: SessionStore,
    session: str | None,
    models: Callable[[], Models],
    *,
    llm: LlmConfig,
    speaker: Callable[[Models], AudioSink | None] = lambda models: None,
    wait_s: float = 0.0,
) -> Iterator[Conversation]:
    """The conversation in session `session` (a new one when None), under its lock.

    The session is locked and loaded first, so a busy or unreadable session is refused
    before `models` loads anything; then `speaker(models)` opens where replies play (None:
    nowhere). On leaving, the speaker is closed and the lock let go.
    wait_s: how long to wait for another holder of the session to let go before it is busy.
    """
    name = validate_name(session) if session else store.new_name()
    with contextlib.ExitStack() as lock:
        lock.enter_context(store.lock(name, wait_s))
        loaded = store.load(name) if store.exists(name) else Session(name)
        built = models()
        sink = speaker(built)
        try:
            yield Conversation(
                llm=llm,
                model=built.chat,
                synthesizer=built.synthesizer,
                speaker=sink,
                store=store,
                session=loaded,
                lock=lock,
                hear=built.hear,
            )
        finally:
            if sink is not None:
                sink.close()
