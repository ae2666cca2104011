"""Transcribing recordings of any length in bounded memory.

Audio arrives in blocks; every `window_s` seconds the buffered audio goes through voice activity
detection, the speech spans are grouped into clips of at most 30 s (Whisper's window), and each
clip is decoded on its own. A span still open at the end of a window is carried into the next,
so no word is cut in two. Silence is never decoded, which keeps Whisper from inventing text.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Generator, Iterable, Iterator
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from voicechat.asr.base import CLIP_WINDOW_S, DecodeOptions, Transcriber
from voicechat.audio.vad import SpeechSpan, VoiceActivityDetector
from voicechat.types import WHISPER_SAMPLE_RATE, AudioClip, Segment

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

OPEN_SPAN_MARGIN_S = 0.3
"""A span ending this close to the end of the buffer may continue in the next block."""


def group_spans(spans: list[SpeechSpan], max_samples: int) -> list[SpeechSpan]:
    """Merge consecutive spans into clips no longer than `max_samples` (pauses included)."""
    clips: list[SpeechSpan] = []
    for span in spans:
        if clips and span.end - clips[-1].start <= max_samples:
            clips[-1] = SpeechSpan(clips[-1].start, span.end)
            continue
        start = span.start
        while span.end - start > max_samples:  # only if the detector let a span run long
            clips.append(SpeechSpan(start, start + max_samples))
            start += max_samples
        clips.append(SpeechSpan(start, span.end))
    return clips


@dataclass(frozen=True)
class Heard:
    """What a take said. logprob: how sure speech-to-text was of its least sure words (the
    lowest average log probability per token of its segments), None where not known."""

    text: str
    logprob: float | None = None


def transcribe_take(
    transcriber: Transcriber, vad: VoiceActivityDetector, clip: AudioClip, options: DecodeOptions
) -> Heard:
    """The text of a short recording (a spoken take), its speech only, as one line."""
    run = LongFormTranscription(transcriber, vad, options)
    segments = list(run.segments([clip.samples]))
    sureness = [s.logprob for s in segments if s.logprob is not None]
    return Heard(" ".join(s.text for s in segments).strip(), min(sureness, default=None))


class TakeTranscriber:
    """`transcribe_take` for callers on several threads: one decode at a time, as Whisper keeps
    its decoding state on the model."""

    def __init__(
        self, transcriber: Transcriber, vad: VoiceActivityDetector, options: DecodeOptions
    ) -> None:
        self.transcriber = transcriber
        self.vad = vad
        self.options = options
        self._lock = threading.Lock()

    def __call__(self, clip: AudioClip) -> str:
        """The take's text."""
        return self.heard(clip).text

    def heard(self, clip: AudioClip) -> Heard:
        """The take's text, and how sure speech-to-text was of it."""
        with self._lock:
            return transcribe_take(self.transcriber, self.vad, clip, self.options)


class LongFormTranscription:
    """Segments of a whole recording, in order, with times from the start of the recording.

    window_s: seconds of audio buffered before voice activity detection (bounds memory:
    about 4 bytes x 16000 x window_s).
    language: the decoding language; detected from the first clip when options leave it open.
    """

    def __init__(
        self,
        transcriber: Transcriber,
        vad: VoiceActivityDetector,
        options: DecodeOptions,
        window_s: float = 120.0,
    ) -> None:
        self.transcriber = transcriber
        self.vad = vad
        self.options = options
        self.window = int(window_s * WHISPER_SAMPLE_RATE)
        self.language: str | None = "en" if transcriber.english_only else options.language
        self.duration = 0.0
        """Seconds of audio consumed so far."""

    def segments(
        self,
        blocks: Iterable[npt.NDArray[np.float32]],
        on_progress: Callable[[float], None] | None = None,
    ) -> Iterator[Segment]:
        """Decode 16 kHz mono `blocks`; `on_progress(seconds)` reports how far it has got."""
        import numpy as np

        report = on_progress or (lambda _: None)
        buffer = np.zeros(0, dtype=np.float32)
        offset = 0  # samples before buffer[0]
        for block in blocks:
            buffer = np.concatenate([buffer, block])
            if len(buffer) >= self.window:
                keep_from = yield from self._decode_buffer(buffer, offset, report, final=False)
                buffer, offset = buffer[keep_from:], offset + keep_from
                report(offset / WHISPER_SAMPLE_RATE)
        yield from self._decode_buffer(buffer, offset, report, final=True)
        self.duration = (offset + len(buffer)) / WHISPER_SAMPLE_RATE
        report(self.duration)

    def _decode_buffer(
        self,
        buffer: npt.NDArray[np.float32],
        offset: int,
        report: Callable[[float], None],
        final: bool,
    ) -> Generator[Segment, None, int]:
        """Decode the finished speech in `buffer`; return where the unfinished part starts."""
        spans = self.vad.speech_spans(buffer)
        keep_from = len(buffer)
        margin = int(OPEN_SPAN_MARGIN_S * WHISPER_SAMPLE_RATE)
        if not final and spans and spans[-1].end >= len(buffer) - margin and spans[-1].start > 0:
            keep_from = spans[-1].start
            spans = spans[:-1]
        for clip_span in group_spans(spans, int(CLIP_WINDOW_S * WHISPER_SAMPLE_RATE)):
            clip = AudioClip(buffer[clip_span.start : clip_span.end], WHISPER_SAMPLE_RATE)
            options = replace(self.options, language=self.language)
            result = self.transcriber.transcribe(clip, options)
            if self.language is None:
                self.language = result.language
            start_s = (offset + clip_span.start) / WHISPER_SAMPLE_RATE
            for seg in result.segments:
                yield Segment(
                    start=round(start_s + min(seg.start, clip.duration), 3),
                    end=round(start_s + min(seg.end, clip.duration), 3),
                    text=seg.text,
                    logprob=seg.logprob,
                )
            report((offset + clip_span.end) / WHISPER_SAMPLE_RATE)
        return keep_from
