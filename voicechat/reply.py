"""One reply: language model -> sentences -> text-to-speech -> speaker, all at once.

    main thread    model.stream() ──pieces──> SentenceSplitter ──sentences──┐
    voice stage    voice.stream(sentence) <──────────────────────────────────┘ ──clips──┐
    speaker stage  speaker.play(clip), back to back <───────────────────────────────────┘

Each stage is a `stages.start_stage` worker between two pipes; every stage marks when it
first did its work (`Marks`, by `Stage`).

Streaming (the default): the first sentence (its first clause, when it has one of at least
FIRST_CLAUSE_WORDS words) is spoken while the model is still writing the rest, and the next
sentence is synthesised while the current one plays; a voice that streams (Edge) is heard
from its first piece, before the rest of its sentence has arrived. Not streaming (the way the
original demo worked, kept as bench's baseline): the whole reply is written, then
synthesised as one piece, then played. Cancelling (Ctrl-C, barge-in) stops generation and
playback at once; what was written so far is returned, marked interrupted.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field

from voicechat.audio.playback import AudioSink
from voicechat.errors import SpeakerUnavailable, SynthesisUnavailable
from voicechat.llm.base import ChatModel, GenerationOptions
from voicechat.llm.sentences import SentenceSplitter
from voicechat.marks import Marks, Stage
from voicechat.stages import Pipe, start_stage
from voicechat.tts.base import Synthesizer, synthesize
from voicechat.types import AudioClip, Message

FIRST_CLAUSE_WORDS = 4
"""A reply's first piece goes to the voice at a comma, semicolon, colon or dash after this
many words, rather than waiting for the end of its sentence."""


@dataclass
class Reply:
    """What the model wrote and what happened while it was spoken.

    marks: when each stage first happened, counted from the reply's start.
    tts_engine: the engine that spoke the last sentence (after any fallback), or None.
    audio: the clips spoken, in order (kept only when asked for).
    """

    text: str
    interrupted: bool
    marks: Marks
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
        self._voice_gone = False  # the voice failed for good: the rest is not spoken
        self._speaker_gone = False  # the speaker failed: the rest is shown, not heard

    def run(self, messages: Sequence[Message], options: GenerationOptions) -> Reply:
        """Stream, speak and return the reply. Ctrl-C stops everything and returns the partial
        reply marked interrupted; model errors are raised after speech has stopped."""
        reply = Reply(text="", interrupted=False, marks=Marks())
        sentences: Pipe[str] = Pipe()
        clips: Pipe[AudioClip] = Pipe(maxsize=1)  # the next sentence is voiced while one plays
        workers: list[threading.Thread] = []
        if self.synthesizer is not None or self.keep_audio:
            workers = [
                start_stage(
                    "voicechat-voice",
                    lambda sentence: self._voice(sentence, reply),
                    sentences,
                    clips,
                    on_error=lambda e: self.listener.on_notice(f"speech stopped: {e}"),
                ),
                start_stage(
                    "voicechat-speaker",
                    lambda clip: self._play(clip, reply),
                    clips,
                    on_end=self._play_out,
                ),
            ]
        speaking = bool(workers) and self.synthesizer is not None
        try:
            try:
                self._stream_text(messages, options, sentences if speaking else None, reply)
            finally:
                sentences.close()
            self._wait(workers)
        except KeyboardInterrupt:
            self.interrupt()
            self._wait(workers)
        reply.text = "".join(self.pieces).strip()
        reply.interrupted = self.cancel.is_set()
        reply.marks.mark(Stage.END)
        return reply

    def _stream_text(
        self,
        messages: Sequence[Message],
        options: GenerationOptions,
        sentences: Pipe[str] | None,
        reply: Reply,
    ) -> None:
        """Collect the model's pieces, show them, and hand on each sentence once complete (or,
        not streaming, the whole reply once written)."""
        marks = reply.marks
        splitter = SentenceSplitter(first_clause_words=self.first_clause_words)
        written: list[str] = []

        def hand_over(done: list[str]) -> None:
            if done:
                marks.mark(Stage.FIRST_SENTENCE)
            written.extend(done)
            if sentences is not None and self.streaming:
                for sentence in done:
                    sentences.put(sentence)

        for piece in self.model.stream(messages, options, self.cancel):
            marks.mark(Stage.FIRST_TOKEN)
            self.pieces.append(piece)
            self.listener.on_text(piece)
            hand_over(splitter.feed(piece))
            if self.cancel.is_set():
                return
        marks.mark(Stage.LAST_TOKEN)
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

    def _voice(self, sentence: str, reply: Reply) -> Iterator[AudioClip]:
        """Voice stage: the sentence's audio, piece by piece (nothing once stopped, or once the
        voice has failed for good)."""
        synthesizer = None if self._voice_gone else self.synthesizer
        if self.cancel.is_set() or synthesizer is None:
            return
        reply.marks.mark(Stage.FIRST_SYNTH_START)
        try:
            # Not streaming, the sentence (the whole reply) is voiced before any of it plays,
            # as the original demo did.
            pieces = (
                synthesizer.stream(sentence)
                if self.streaming
                else iter([synthesize(synthesizer, sentence)])
            )
            for piece in pieces:
                reply.marks.mark(Stage.FIRST_CLIP)
                reply.tts_engine = synthesizer.engine
                yield piece  # waits while the piece before it plays
                if self.cancel.is_set():
                    return
        except SynthesisUnavailable as e:
            self.listener.on_notice(f"{e}; the rest of the reply is not spoken")
            self._voice_gone = True

    def _play(self, clip: AudioClip, reply: Reply) -> Iterator[None]:
        """Speaker stage: play `clip` (keep it when asked), after the one before it."""
        if self.cancel.is_set():
            return
        if self.keep_audio:
            reply.audio.append(clip)
        speaker = None if self._speaker_gone else self.speaker
        if speaker is None:
            return
        started = time.monotonic()
        if not reply.marks.has(Stage.FIRST_AUDIO):
            self.listener.on_speaking()
        try:
            speaker.play(clip, self.cancel)
            reply.marks.mark(Stage.FIRST_AUDIO, at=started)
        except SpeakerUnavailable as e:
            self.listener.on_notice(f"{e}; the reply is shown but not heard")
            self._speaker_gone = True
        yield from ()

    def _play_out(self) -> None:
        """The last piece plays out."""
        if self.speaker is not None and not self._speaker_gone and not self.cancel.is_set():
            self.speaker.wait(self.cancel)
