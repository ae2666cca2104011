"""One reply: language model -> sentences -> text-to-speech -> speaker, all at once.

    main thread      model.stream() ──pieces──> SentenceSplitter ──sentences──┐
    tts worker       voice.stream(sentence) <──────────────────────────────────┘ ──pieces──┐
    playback worker  speaker.play(piece), back to back <────────────────────────────────────┘

Streaming (the default): the first sentence (its first clause, when it has one of at least
FIRST_CLAUSE_WORDS words) is spoken while the model is still writing the rest, and the next
sentence is synthesised while the current one plays; a voice that streams (Edge) is heard
from its first piece, before the rest of its sentence has arrived. Not streaming (the way the
original demo worked, kept as bench's baseline): the whole reply is written, then
synthesised as one piece, then played. Cancelling (Ctrl-C, barge-in) stops generation and
playback at once; what was written so far is returned, marked interrupted.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from voicechat.audio.playback import AudioSink
from voicechat.errors import SpeakerUnavailable, SynthesisUnavailable
from voicechat.llm.base import ChatModel, GenerationOptions
from voicechat.llm.sentences import SentenceSplitter
from voicechat.tts.base import Synthesizer, synthesize
from voicechat.types import AudioClip, Message

log = logging.getLogger(__name__)

_DONE = None

FIRST_CLAUSE_WORDS = 4
"""A reply's first piece goes to the voice at a comma, semicolon, colon or dash after this
many words, rather than waiting for the end of its sentence."""


@dataclass
class ReplyTimings:
    """When each stage first happened, in ms from `started_at`; None where it never did.

    started_at: time.monotonic() when the reply started.
    first_audio_ms: when the first clip was handed to the speaker.
    """

    started_at: float = field(default_factory=time.monotonic)
    first_token_ms: float | None = None
    last_token_ms: float | None = None
    first_sentence_ms: float | None = None
    first_synth_start_ms: float | None = None
    first_clip_ms: float | None = None
    first_audio_ms: float | None = None
    total_ms: float = 0.0

    def now_ms(self) -> float:
        """Milliseconds since the reply started."""
        return (time.monotonic() - self.started_at) * 1000


@dataclass
class Reply:
    """What the model wrote and what happened while it was spoken.

    tts_engine: the engine that spoke the last sentence (after any fallback), or None.
    audio: the clips spoken, in order (kept only when asked for).
    """

    text: str
    interrupted: bool
    timings: ReplyTimings
    tts_engine: str | None = None
    audio: list[AudioClip] = field(default_factory=list)


@dataclass
class ReplyListener:
    """Callbacks from the reply to whoever shows it.

    on_text: each new piece of the reply (the thread that runs the reply).
    on_notice: a one-line notice, e.g. a voice fallback (any worker thread).
    on_speaking: the first sound of the reply is about to play (playback thread).
    """

    on_text: Callable[[str], None] = lambda _: None
    on_notice: Callable[[str], None] = lambda _: None
    on_speaking: Callable[[], None] = lambda: None


class SpokenReply:
    """Runs one reply through the model, and through the voice when one is given.

    synthesizer, speaker: None for a silent reply. keep_audio: collect the clips (--save-audio).
    streaming: speak sentence by sentence while writing; False speaks the whole reply at the end.
    first_clause_words: see FIRST_CLAUSE_WORDS; 0 speaks whole sentences only.
    cancel: the signal that stops it (the turn's own, so a stop that came before the reply
    began stops it too); a new one when None.
    """

    def __init__(
        self,
        model: ChatModel,
        synthesizer: Synthesizer | None,
        speaker: AudioSink | None,
        listener: ReplyListener,
        keep_audio: bool = False,
        streaming: bool = True,
        first_clause_words: int = FIRST_CLAUSE_WORDS,
        cancel: threading.Event | None = None,
    ) -> None:
        self.model = model
        self.synthesizer = synthesizer
        self.speaker = speaker
        self.listener = listener
        self.keep_audio = keep_audio
        self.streaming = streaming
        self.first_clause_words = first_clause_words if streaming else 0
        self.cancel = cancel if cancel is not None else threading.Event()
        self.pieces: list[str] = []
        """What the model has written so far (kept when the model fails part way)."""

    def run(self, messages: Sequence[Message], options: GenerationOptions) -> Reply:
        """Stream, speak and return the reply. Ctrl-C stops everything and returns the partial
        reply marked interrupted; model errors are raised after speech has stopped."""
        timings = ReplyTimings()
        reply = Reply(text="", interrupted=False, timings=timings)
        sentences: queue.Queue[str | None] = queue.Queue()
        clips: queue.Queue[AudioClip | None] = queue.Queue(maxsize=1)
        workers: list[threading.Thread] = []
        if self.synthesizer is not None or self.keep_audio:
            workers = [
                threading.Thread(
                    target=self._synthesize_all, args=(sentences, clips, reply), daemon=True
                ),
                threading.Thread(target=self._play_all, args=(clips, reply), daemon=True),
            ]
            for w in workers:
                w.start()
        speaking = bool(workers) and self.synthesizer is not None

        pieces = self.pieces
        try:
            try:
                self._stream_text(messages, options, pieces, sentences if speaking else None, reply)
            finally:
                sentences.put(_DONE)
            self._wait(workers)
        except KeyboardInterrupt:
            self.interrupt()
            self._wait(workers)
        reply.text = "".join(pieces).strip()
        reply.interrupted = self.cancel.is_set()
        timings.total_ms = timings.now_ms()
        return reply

    def _stream_text(
        self,
        messages: Sequence[Message],
        options: GenerationOptions,
        pieces: list[str],
        sentences: queue.Queue[str | None] | None,
        reply: Reply,
    ) -> None:
        """Collect the model's pieces, show them, and queue each sentence once complete (or,
        not streaming, the whole reply once written)."""
        timings = reply.timings
        splitter = SentenceSplitter(first_clause_words=self.first_clause_words)
        written: list[str] = []

        def hand_over(done: list[str]) -> None:
            if done and timings.first_sentence_ms is None:
                timings.first_sentence_ms = timings.now_ms()
            written.extend(done)
            if sentences is not None and self.streaming:
                for sentence in done:
                    sentences.put(sentence)

        for piece in self.model.stream(messages, options, self.cancel):
            if timings.first_token_ms is None:
                timings.first_token_ms = timings.now_ms()
            pieces.append(piece)
            self.listener.on_text(piece)
            hand_over(splitter.feed(piece))
            if self.cancel.is_set():
                return
        timings.last_token_ms = timings.now_ms()
        if self.cancel.is_set():
            return
        hand_over(splitter.flush())
        if sentences is not None and not self.streaming and written:
            sentences.put(" ".join(written))

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
    ) -> None:
        synthesizer = self.synthesizer
        timings = reply.timings
        try:
            while (sentence := sentences.get()) is not _DONE:
                if self.cancel.is_set() or synthesizer is None:
                    continue
                if timings.first_synth_start_ms is None:
                    timings.first_synth_start_ms = timings.now_ms()
                try:
                    # Not streaming, the sentence (the whole reply) is voiced before any of it
                    # plays, as the original demo did.
                    pieces = (
                        synthesizer.stream(sentence)
                        if self.streaming
                        else iter([synthesize(synthesizer, sentence)])
                    )
                    for piece in pieces:
                        if timings.first_clip_ms is None:
                            timings.first_clip_ms = timings.now_ms()
                        reply.tts_engine = synthesizer.engine
                        clips.put(piece)  # waits while the piece before it plays
                        if self.cancel.is_set():
                            break
                except SynthesisUnavailable as e:
                    self.listener.on_notice(f"{e}; the rest of the reply is not spoken")
                    synthesizer = None
        except Exception as e:  # a voice failing must not lose the reply
            log.debug("text-to-speech failed", exc_info=True)
            self.listener.on_notice(f"speech stopped: {e}")
        finally:
            clips.put(_DONE)

    def _play_all(self, clips: queue.Queue[AudioClip | None], reply: Reply) -> None:
        speaker = self.speaker
        timings = reply.timings
        while (clip := clips.get()) is not _DONE:
            if self.cancel.is_set():
                continue
            if self.keep_audio:
                reply.audio.append(clip)
            if speaker is None:
                continue
            started = timings.now_ms()
            if timings.first_audio_ms is None:
                self.listener.on_speaking()
            try:
                speaker.play(clip, self.cancel)
                if timings.first_audio_ms is None:
                    timings.first_audio_ms = started
            except SpeakerUnavailable as e:
                self.listener.on_notice(f"{e}; the reply is shown but not heard")
                speaker = None
        if speaker is not None and not self.cancel.is_set():
            speaker.wait(self.cancel)  # the last piece plays out
