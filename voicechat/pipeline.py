"""One reply: language model -> sentences -> text-to-speech -> speaker, all at once.

    main thread      model.stream() ──pieces──> SentenceSplitter ──sentences──┐
    tts worker       synthesize(sentence) <────────────────────────────────────┘ ──clips──┐
    playback worker  speaker.play(clip), in order <────────────────────────────────────────┘

The first sentence (its first clause, when it has one of at least FIRST_CLAUSE_WORDS words)
is spoken while the model is still writing the rest, and the next sentence is synthesised
while the current one plays. Cancelling (Ctrl-C, barge-in) stops generation and
playback at once; what was written so far is returned, marked interrupted.

A reply may start before it is known to be wanted (while the speaker's pause is still being
timed): under a `Hold` it is written and its first sentence synthesised, but nothing is shown
or played until the hold is released, and abandoning the hold cancels it.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from voicechat.audio.playback import AudioSink, SpeakerUnavailable
from voicechat.llm.base import ChatModel, GenerationOptions
from voicechat.llm.sentences import SentenceSplitter
from voicechat.tts.base import SynthesisUnavailable, Synthesizer
from voicechat.types import AudioClip, Message

log = logging.getLogger(__name__)

_DONE = None

FIRST_CLAUSE_WORDS = 4
"""A reply's first piece goes to the voice at a comma, semicolon, colon or dash after this
many words, rather than waiting for the end of its sentence."""


@dataclass
class ReplyTimings:
    """Milliseconds from the start of the reply; None where the stage never happened."""

    first_token_ms: float | None = None
    first_sentence_ms: float | None = None
    first_synth_start_ms: float | None = None
    first_clip_ms: float | None = None
    first_audio_ms: float | None = None
    last_token_ms: float | None = None
    released_ms: float | None = None
    """When a held reply was released; None for a reply that was never held."""
    total_ms: float = 0.0

    def as_dict(self) -> dict[str, float | None]:
        """Rounded to the millisecond, for JSON and session files."""
        return {k: (None if v is None else round(v)) for k, v in vars(self).items()}


@dataclass
class Reply:
    """What the model wrote and what happened while it was spoken.

    tts_engine: the engine that spoke the last sentence (after any fallback), or None.
    audio: the clips spoken, in order (kept only when asked for).
    abandoned: held and never released: nothing of it was shown or played.
    """

    text: str
    interrupted: bool
    timings: ReplyTimings
    tts_engine: str | None = None
    audio: list[AudioClip] = field(default_factory=list)
    abandoned: bool = False


class Hold:
    """Keeps a reply started early unseen and unheard until `release()`; `abandon()` drops it.

    Callbacks given to `on_release` and `on_abandon` run once, in the thread that decides
    (or at once, in the caller's thread, when it is already decided).
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._state: bool | None = None  # True: released, False: abandoned
        self._decided = threading.Event()
        self._callbacks: dict[bool, list[Callable[[], None]]] = {True: [], False: []}

    @property
    def released(self) -> bool:
        """Released (a reply that may be shown, played and kept)."""
        return self._state is True

    def on_release(self, callback: Callable[[], None]) -> None:
        """Run `callback` when the hold is released."""
        self._register(True, callback)

    def on_abandon(self, callback: Callable[[], None]) -> None:
        """Run `callback` when the hold is abandoned."""
        self._register(False, callback)

    def release(self) -> None:
        """The reply is wanted: let it be shown and played (no-op once decided)."""
        self._decide(True)

    def abandon(self) -> None:
        """The reply is not wanted (no-op once decided)."""
        self._decide(False)

    def wait(self) -> bool:
        """Block until decided; True when released."""
        self._decided.wait()
        return self._state is True

    def _register(self, state: bool, callback: Callable[[], None]) -> None:
        with self._lock:
            if self._state is None:
                self._callbacks[state].append(callback)
                return
            run = self._state is state
        if run:
            callback()

    def _decide(self, state: bool) -> None:
        with self._lock:
            if self._state is not None:
                return
            self._state = state
            callbacks = self._callbacks[state]
            self._callbacks = {True: [], False: []}
        for callback in callbacks:
            callback()
        self._decided.set()


@dataclass
class ReplyListener:
    """Callbacks from the pipeline to whoever shows it; each is called from one thread only.

    on_text: each new piece of the reply (the thread that runs the reply; for a held reply,
        the pieces written before its release come from the thread that releases it, and
        never at the same time as later ones).
    on_notice: a one-line notice, e.g. a voice fallback (any worker thread).
    on_speaking: the first sound of the reply is about to play (playback thread).
    """

    on_text: Callable[[str], None] = lambda _: None
    on_notice: Callable[[str], None] = lambda _: None
    on_speaking: Callable[[], None] = lambda: None


class SpokenReply:
    """Runs one reply through the model, and through the voice when one is given.

    synthesizer, speaker: None for a silent reply. keep_audio: collect the clips (--save-audio).
    first_clause_words: see FIRST_CLAUSE_WORDS; 0 speaks whole sentences only.
    """

    def __init__(
        self,
        model: ChatModel,
        synthesizer: Synthesizer | None,
        speaker: AudioSink | None,
        listener: ReplyListener,
        keep_audio: bool = False,
        first_clause_words: int = FIRST_CLAUSE_WORDS,
    ) -> None:
        self.first_clause_words = first_clause_words
        self.model = model
        self.synthesizer = synthesizer
        self.speaker = speaker
        self.listener = listener
        self.keep_audio = keep_audio
        self.cancel = threading.Event()
        self._hold: Hold | None = None
        self._text_lock = threading.Lock()
        self._held_text: list[str] | None = None  # pieces not yet shown, while held

    def run(
        self, messages: Sequence[Message], options: GenerationOptions, hold: Hold | None = None
    ) -> Reply:
        """Stream, speak and return the reply. Ctrl-C stops everything and returns the partial
        reply marked interrupted; model errors are raised after speech has stopped.

        hold: nothing is shown or played until it is released; this returns only once it is
        decided (an abandoned reply is cancelled and returned marked abandoned).
        """
        start = time.monotonic()
        timings = ReplyTimings()
        reply = Reply(text="", interrupted=False, timings=timings)
        if hold is not None:
            self._hold, self._held_text = hold, []

            def released() -> None:
                timings.released_ms = (time.monotonic() - start) * 1000
                self._show_held_text()

            hold.on_release(released)
            hold.on_abandon(self.interrupt)
        sentences: queue.Queue[str | None] = queue.Queue()
        clips: queue.Queue[AudioClip | None] = queue.Queue(maxsize=1)
        workers: list[threading.Thread] = []
        if self.synthesizer is not None or self.keep_audio:
            workers = [
                threading.Thread(
                    target=self._synthesize_all, args=(sentences, clips, reply, start), daemon=True
                ),
                threading.Thread(target=self._play_all, args=(clips, reply, start), daemon=True),
            ]
            for w in workers:
                w.start()
        speaking = bool(workers) and self.synthesizer is not None

        pieces: list[str] = []
        try:
            try:
                self._stream_text(
                    messages, options, pieces, sentences if speaking else None, timings, start
                )
            except BaseException:
                if hold is not None and not hold.released:
                    hold.abandon()  # an early reply that failed is never shown
                raise
            finally:
                sentences.put(_DONE)
            if hold is not None:
                hold.wait()
            self._wait(workers)
        except KeyboardInterrupt:
            self.interrupt()
            self._wait(workers)
        reply.text = "".join(pieces).strip()
        reply.interrupted = self.cancel.is_set()
        reply.abandoned = hold is not None and not hold.released
        timings.total_ms = (time.monotonic() - start) * 1000
        return reply

    def _stream_text(
        self,
        messages: Sequence[Message],
        options: GenerationOptions,
        pieces: list[str],
        sentences: queue.Queue[str | None] | None,
        timings: ReplyTimings,
        start: float,
    ) -> None:
        """Collect the model's pieces, show them, and queue each sentence once complete."""
        splitter = SentenceSplitter(first_clause_words=self.first_clause_words)

        def hand_over(done: list[str]) -> None:
            if done and timings.first_sentence_ms is None:
                timings.first_sentence_ms = (time.monotonic() - start) * 1000
            if sentences is not None:
                for sentence in done:
                    sentences.put(sentence)

        for piece in self.model.stream(messages, options, self.cancel):
            if timings.first_token_ms is None:
                timings.first_token_ms = (time.monotonic() - start) * 1000
            pieces.append(piece)
            self._show(piece)
            hand_over(splitter.feed(piece))
            if self.cancel.is_set():
                return
        timings.last_token_ms = (time.monotonic() - start) * 1000
        if not self.cancel.is_set():
            hand_over(splitter.flush())

    def _show(self, piece: str) -> None:
        with self._text_lock:
            if self._held_text is None:
                self.listener.on_text(piece)
            else:
                self._held_text.append(piece)

    def _show_held_text(self) -> None:
        with self._text_lock:
            for piece in self._held_text or []:
                self.listener.on_text(piece)
            self._held_text = None

    def interrupt(self) -> None:
        """Stop generation and playback now (safe from any thread)."""
        self.cancel.set()
        if self.speaker is not None:
            self.speaker.stop()

    def _wait(self, workers: list[threading.Thread]) -> None:
        """Join the workers; a second Ctrl-C while waiting cuts playback short."""
        while any(w.is_alive() for w in workers):
            try:
                for w in workers:
                    w.join()
            except KeyboardInterrupt:
                self.interrupt()

    def _synthesize_all(
        self,
        sentences: queue.Queue[str | None],
        clips: queue.Queue[AudioClip | None],
        reply: Reply,
        start: float,
    ) -> None:
        synthesizer = self.synthesizer
        timings = reply.timings
        try:
            while (sentence := sentences.get()) is not _DONE:
                if self.cancel.is_set() or synthesizer is None:
                    continue
                if timings.first_synth_start_ms is None:
                    timings.first_synth_start_ms = (time.monotonic() - start) * 1000
                try:
                    clip = synthesizer.synthesize(sentence)
                    if timings.first_clip_ms is None:
                        timings.first_clip_ms = (time.monotonic() - start) * 1000
                except SynthesisUnavailable as e:
                    self.listener.on_notice(f"{e}; the rest of the reply is not spoken")
                    synthesizer = None
                    continue
                reply.tts_engine = synthesizer.engine
                clips.put(clip)  # waits while the previous clip plays
        except Exception as e:  # a voice failing must not lose the reply
            log.debug("text-to-speech failed", exc_info=True)
            self.listener.on_notice(f"speech stopped: {e}")
        finally:
            clips.put(_DONE)

    def _play_all(self, clips: queue.Queue[AudioClip | None], reply: Reply, start: float) -> None:
        speaker = self.speaker
        while (clip := clips.get()) is not _DONE:
            if self._hold is not None and not self._hold.wait():
                continue  # abandoned
            if self.cancel.is_set():
                continue
            if self.keep_audio:
                reply.audio.append(clip)
            if speaker is None:
                continue
            started = (time.monotonic() - start) * 1000
            if reply.timings.first_audio_ms is None:
                self.listener.on_speaking()
            try:
                speaker.play(clip, self.cancel)
                if reply.timings.first_audio_ms is None:
                    reply.timings.first_audio_ms = started
            except SpeakerUnavailable as e:
                self.listener.on_notice(f"{e}; the reply is shown but not heard")
                speaker = None
