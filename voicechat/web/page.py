"""One browser page's conversation: its messages in, `run_turn` on a worker, replies out.

The page and the server speak over one WebSocket. The page sends JSON messages:
`hello`, `session` (pick or start one), `text` (a typed turn), `audio` (a recording or an
upload, its bytes in the binary message that follows) and `stop`. The server answers with
`sessions`, `history`, `status`, `said`, `piece` (the reply as it is written), `speaking`,
`done` (the reply, whether interrupted, the timings), `notice` and `error` as JSON, and the
reply's audio as binary WAV messages, one per piece, as soon as each is voiced.

Each turn takes the session's lock and loads the session from its file, so the page, `talk`
and `ask` share sessions; a session in use elsewhere gets a clear "busy".
"""

from __future__ import annotations

import asyncio
import io
import logging
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from voicechat import paths
from voicechat.audio.io import load_any_audio
from voicechat.audio.playback import TimedSink
from voicechat.config import Config
from voicechat.conversation import Conversation, lock_session
from voicechat.errors import AudioFileError, VoicechatError
from voicechat.models import Models
from voicechat.session import SessionStore, validate_name
from voicechat.turn import Spoken, TurnListener, Typed, run_turn
from voicechat.types import AudioClip

log = logging.getLogger(__name__)

UPLOAD_MAX_BYTES = 20 * 2**20
"""The largest recording or upload accepted (20 MiB)."""
BARGE_IN_WAIT_S = 10.0
"""Seconds a new turn waits for the reply it interrupts to stop and be saved."""


@dataclass(frozen=True)
class Outbox:
    """Sends to the page from any thread, in order, through the server's event loop."""

    loop: asyncio.AbstractEventLoop
    queue: asyncio.Queue[dict[str, Any] | bytes]

    def send(self, message: dict[str, Any] | bytes) -> None:
        self.loop.call_soon_threadsafe(self.queue.put_nowait, message)


class PageSink(TimedSink):
    """A speaker that is the browser: each clip goes to the page as WAV, and the page plays
    them back to back. It takes as long as the page does to play them, so a turn lasts as
    long as its reply is heard and Stop can interrupt it, as in `talk`."""

    lead_s = 0.5
    """Each clip is sent this long before the one before it ends, so it is in the page in
    time to follow it without a gap, over a slower network too."""

    def __init__(self, outbox: Outbox) -> None:
        super().__init__()
        self._outbox = outbox

    def play(self, clip: AudioClip, cancel: threading.Event | None = None) -> bool:
        """Send `clip`, then wait as the page plays it."""
        import soundfile as sf

        if cancel is not None and cancel.is_set():
            return False
        data = io.BytesIO()
        sf.write(data, clip.samples, clip.sample_rate, format="WAV", subtype="PCM_16")
        self._outbox.send(data.getvalue())
        return super().play(clip, cancel)


class PageConversation:
    """What one open page is doing: its session, and the turn under way (one at a time)."""

    def __init__(self, config: Config, models: Models, session: str, outbox: Outbox) -> None:
        self.config = config
        self.models = models
        self.outbox = outbox
        self.store = SessionStore(paths.sessions_dir(config.session.dir))
        self.session = session
        self._turn: threading.Thread | None = None
        self._conversation: Conversation | None = None
        self._pending_audio: str | None = None

    # Messages from the page ---------------------------------------------------------------

    def on_message(self, message: dict[str, Any]) -> None:
        """A JSON message from the page."""
        kind = message.get("type")
        if kind == "hello":
            self._send_sessions()
        elif kind == "session":
            self._pick_session(str(message.get("name", "")))
        elif kind == "text":
            text = str(message.get("text", "")).strip()
            if text:
                self._start(Typed(text))
        elif kind == "audio":
            self._pending_audio = str(message.get("name") or "recording")
        elif kind == "stop":
            if self._conversation is not None:
                self._conversation.interrupt()
        else:
            self._error(f"unknown message {kind!r}")

    def on_bytes(self, data: bytes) -> None:
        """The audio announced by the last `audio` message."""
        name, self._pending_audio = self._pending_audio, None
        if name is None:
            self._error("audio arrived without being announced")
            return
        if len(data) > UPLOAD_MAX_BYTES:
            self._error(f"{name}: larger than {UPLOAD_MAX_BYTES // 2**20} MiB; send a shorter one")
            return
        try:
            clip = _decode(data)
        except AudioFileError as e:
            self._error(f"{name}: {e.reason}")
            return
        limit = self.config.audio.max_record_s
        if clip.duration > limit:
            self._error(f"{name}: {clip.duration:.0f} s is longer than {limit:.0f} s")
            return
        self._start(Spoken(clip, time.monotonic()))

    def close(self) -> None:
        """The page went away: stop its turn (saved as far as it got)."""
        if self._conversation is not None:
            self._conversation.interrupt()
        if self._turn is not None:
            self._turn.join(timeout=30)

    # Turns --------------------------------------------------------------------------------

    def _start(self, said: Typed | Spoken) -> None:
        """Answer `said`; a reply still under way is stopped first (barge-in)."""
        if self._turn is not None and self._turn.is_alive():
            if self._conversation is not None:
                self._conversation.interrupt()
            self._turn.join(timeout=BARGE_IN_WAIT_S)
            if self._turn.is_alive():
                self._error("busy: the reply under way did not stop; try again")
                return
        self._turn = threading.Thread(target=self._run, args=(said,), daemon=True)
        self._turn.start()

    def _run(self, said: Typed | Spoken) -> None:
        """Worker: one turn in the page's session."""
        send = self.outbox.send
        listener = TurnListener(
            on_text=lambda piece: send({"type": "piece", "text": piece}),
            on_notice=lambda text: send({"type": "notice", "text": text}),
            on_speaking=lambda: send({"type": "speaking"}),
            on_transcribing=lambda: send({"type": "status", "state": "transcribing"}),
            on_said=lambda text: send({"type": "said", "text": text}),
        )
        models = self.models
        try:
            session, lock = lock_session(self.store, self.session)
            with lock:
                conversation = Conversation(
                    self.config.llm,
                    models.chat,
                    models.synthesizer,
                    PageSink(self.outbox),
                    self.store,
                    session,
                    lock,
                    hear=models.hear,
                )
                self._conversation = conversation
                result = run_turn(conversation, said, listener)
        except VoicechatError as e:
            self._error(str(e))
            return
        except Exception as e:  # the page must hear of every failure, in one line
            log.debug("turn failed", exc_info=True)
            self._error(f"unexpected {type(e).__name__}: {e}")
            return
        finally:
            self._conversation = None
        if result.reply is None:
            send({"type": "notice", "text": "no speech heard; nothing was sent"})
            send({"type": "done", "reply": None})
            return
        send(
            {
                "type": "done",
                "reply": result.reply.text,
                "interrupted": result.reply.interrupted,
                "timings": result.timings.as_dict(),
            }
        )

    # Sessions -----------------------------------------------------------------------------

    def _pick_session(self, name: str) -> None:
        if self._turn is not None and self._turn.is_alive():
            self._error("busy: wait for the reply to end before changing session")
            return
        try:
            self.session = validate_name(name) if name else self.store.new_name()
        except VoicechatError as e:
            self._error(str(e))
            return
        self._send_sessions()

    def _send_sessions(self) -> None:
        names = [s.name for s in self.store.list() if s.error is None]
        if self.session not in names:
            names.insert(0, self.session)
        self.outbox.send({"type": "sessions", "names": names, "current": self.session})
        messages: list[dict[str, Any]] = []
        if self.store.exists(self.session):
            try:
                messages = self.store.load(self.session).messages
            except VoicechatError as e:
                self._error(str(e))
        self.outbox.send(
            {
                "type": "history",
                "messages": [
                    {
                        "role": m["role"],
                        "content": m["content"],
                        "interrupted": m.get("interrupted"),
                    }
                    for m in messages
                ],
            }
        )

    def _error(self, text: str) -> None:
        self.outbox.send({"type": "error", "text": text})


def _decode(data: bytes) -> AudioClip:
    """Audio bytes of any format voicechat reads, as 16 kHz mono."""
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "audio"
        path.write_bytes(data)
        return load_any_audio(path)
