"""One browser page's conversation: its messages in, `run_turn` on a worker, replies out.

The page and the server speak over one WebSocket. The page sends JSON messages (after its
`login`, see `server`): `hello`, `session` (pick or start one), `text` (a typed turn),
`audio` (a recording or an upload, its bytes in the binary message that follows) and `stop`.
The server answers with `sessions`, `history` (then `history_more` for a long one),
`status`, `said`, `piece` (the reply as it is written), `speaking`, `done` (the reply,
whether interrupted, the timings), `notice` and `error` as JSON, and the
reply's audio as binary WAV messages, one per piece, as soon as each is voiced.

Stop, or the page going away, stops the turn wherever it is (transcribing, before the reply
begins, or in the reply); what was said is saved with the reply marked interrupted, and the
session's lock is freed at once. Uploads are decoded within `audio.max_record_s`.

Each turn takes the session's lock and loads the session from its file, so the page, `talk`
and `ask` share sessions; a session in use elsewhere gets a clear "busy".
"""

from __future__ import annotations

import io
import logging
import tempfile
import threading
import time
from pathlib import Path
from typing import Any, Protocol

from voicechat.audio.playback import TimedSink
from voicechat.audio.untrusted import UPLOAD_LIMITS, load_file
from voicechat.config import Config
from voicechat.conversation import Conversation, open_conversation, session_store
from voicechat.errors import AudioFileError, VoicechatError
from voicechat.models import Models
from voicechat.session import validate_name
from voicechat.turn import Spoken, TurnListener, Typed, run_turn
from voicechat.types import AudioClip

log = logging.getLogger(__name__)

UPLOAD_MAX_BYTES = 20 * 2**20
"""The largest recording or upload accepted (20 MiB)."""
BARGE_IN_WAIT_S = 10.0
"""Seconds a new turn waits for the reply it interrupts to stop and be saved."""
HISTORY_PIECE_CHARS = 256 * 1024
"""Characters of a session's history sent in one message; a longer history follows in more,
each sent once the page has read most of what came before."""
LOCK_WAIT_S = 3.0
"""Seconds a turn waits for its session to be let go (by a page that just left, whose turn
is still stopping) before the session is busy."""


class Outbox(Protocol):
    """Sends to the page from any thread, in order (the server's bounded queue)."""

    def send(self, message: dict[str, Any] | bytes) -> None:
        """Queue a JSON object or binary audio for the page."""
        ...

    def wait_room(self, size: int, timeout_s: float = 30.0) -> bool:
        """Block until `size` more bytes may be queued; False if the page is not reading."""
        ...


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
        self.store = session_store(config)
        self.session = session
        self._turn: threading.Thread | None = None
        self._cancel = threading.Event()
        self._conversation: Conversation | None = None
        self._pending_audio: str | None = None

    # Messages from the page ---------------------------------------------------------------

    def on_message(self, message: dict[str, Any]) -> None:
        """A JSON object from the page."""
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
            self._stop()
        else:
            self.error(f"unknown message {str(kind)[:40]!r}")

    def on_bytes(self, data: bytes) -> None:
        """The audio announced by the last `audio` message."""
        name, self._pending_audio = self._pending_audio, None
        if name is None:
            self.error("audio arrived without being announced")
            return
        name = name[:80]
        if len(data) > UPLOAD_MAX_BYTES:
            self.error(f"{name}: larger than {UPLOAD_MAX_BYTES // 2**20} MiB; send a shorter one")
            return
        try:
            clip = _decode(data, self.config.audio.max_record_s)
        except AudioFileError as e:
            self.error(f"{name}: {e.reason}")
            return
        self._start(Spoken(clip, time.monotonic()))

    def drop_audio(self) -> None:
        """Forget an announced upload (its bytes were refused)."""
        self._pending_audio = None

    def close(self) -> None:
        """The page went away: stop its turn (saved as far as it got)."""
        self._stop()
        if self._turn is not None:
            self._turn.join(timeout=30)

    def _stop(self) -> None:
        """Stop the turn under way, wherever it is."""
        self._cancel.set()
        conversation = self._conversation
        if conversation is not None:
            conversation.interrupt()

    # Turns --------------------------------------------------------------------------------

    def _start(self, said: Typed | Spoken) -> None:
        """Answer `said`; a reply still under way is stopped first (barge-in)."""
        if self._turn is not None and self._turn.is_alive():
            self._stop()
            self._turn.join(timeout=BARGE_IN_WAIT_S)
            if self._turn.is_alive():
                self.error("busy: the reply under way did not stop; try again")
                return
        self._cancel = threading.Event()
        self._turn = threading.Thread(target=self._run, args=(said, self._cancel), daemon=True)
        self._turn.start()

    def _run(self, said: Typed | Spoken, cancel: threading.Event) -> None:
        """Worker: one turn in the page's session."""
        send = self.outbox.send
        listener = TurnListener(
            on_text=lambda piece: send({"type": "piece", "text": piece}),
            on_notice=lambda text: send({"type": "notice", "text": text}),
            on_speaking=lambda: send({"type": "speaking"}),
            on_transcribing=lambda: send({"type": "status", "state": "transcribing"}),
            on_said=lambda text: send({"type": "said", "text": text}),
        )
        try:
            with open_conversation(
                self.store,
                self.session,
                lambda: self.models,
                llm=self.config.llm,
                speaker=lambda _: PageSink(self.outbox),
                wait_s=LOCK_WAIT_S,
            ) as conversation:
                self._conversation = conversation
                result = run_turn(conversation, said, listener, cancel=cancel)
        except VoicechatError as e:
            self.error(str(e))
            return
        except Exception as e:  # the page must hear of every failure, in one line
            log.debug("turn failed", exc_info=True)
            self.error(f"unexpected {type(e).__name__}: {e}")
            return
        finally:
            self._conversation = None
        if result.stopped:
            send({"type": "done", "reply": "" if result.said else None, "interrupted": True})
            return
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
            self.error("busy: wait for the reply to end before changing session")
            return
        try:
            self.session = validate_name(name) if name else self.store.new_name()
        except VoicechatError as e:
            self.error(str(e))
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
                self.error(str(e))
        shown = [
            {"role": m["role"], "content": m["content"], "interrupted": m.get("interrupted")}
            for m in messages
        ]
        for i, piece in enumerate(history_pieces(shown)):
            message = {"type": "history" if i == 0 else "history_more", "messages": piece}
            if not self.outbox.wait_room(sum(len(m["content"]) for m in piece) + 1024):
                return  # the page is not reading; it is being dropped
            self.outbox.send(message)

    def error(self, text: str) -> None:
        """Show the page one line of what went wrong."""
        self.outbox.send({"type": "error", "text": text})


def history_pieces(
    messages: list[dict[str, Any]], max_chars: int = HISTORY_PIECE_CHARS
) -> list[list[dict[str, Any]]]:
    """`messages` in consecutive pieces of about `max_chars` characters of content each
    (one piece at least, empty for no messages)."""
    pieces: list[list[dict[str, Any]]] = [[]]
    size = 0
    for message in messages:
        if pieces[-1] and size + len(message["content"]) > max_chars:
            pieces.append([])
            size = 0
        pieces[-1].append(message)
        size += len(message["content"])
    return pieces


def _decode(data: bytes, max_s: float) -> AudioClip:
    """Audio bytes of any format voicechat reads, as 16 kHz mono, at most `max_s` seconds,
    decoded in a child process within `UPLOAD_LIMITS`."""
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "audio"
        path.write_bytes(data)
        return load_file(path, max_s=max_s, limits=UPLOAD_LIMITS)
