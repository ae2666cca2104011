"""The speech-to-text interface every engine implements, and what it needs to decide."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from voicechat.types import WHISPER_SAMPLE_RATE, AudioClip, Segment

CLIP_WINDOW_S = 30.0
"""Seconds of audio Whisper was trained to see at once."""
FALLBACK_TEMPERATURES = (0.0, 0.2, 0.4, 0.6, 0.8, 1.0)
"""Whisper re-decodes at the next temperature when a decode looks repetitive or unsure."""


@dataclass(frozen=True)
class DecodeOptions:
    """How to decode.

    language: ISO 639-1 code, or None to detect it.
    task: "transcribe", or "translate" (speech in any language to English text).
    beam_size: beams at temperature 0.
    temperatures: the fallback ladder; (0.0,) never re-decodes (fastest for short takes).
    max_tokens: tokens decoded per 30 s window at most; None = the model's limit (224).
    timestamps: decode segment times; without them each clip is one segment and there are
        fewer tokens to decode.
    window_s: seconds of audio the encoder sees (the clip padded to it, or to the clip's
        length plus WINDOW_MARGIN_S when longer), where the engine can shorten Whisper's 30 s
        window (faster-whisper; openai-whisper always encodes 30 s). None: the full window.
        Text only, at temperature 0.
    """

    language: str | None = None
    task: str = "transcribe"
    beam_size: int = 5
    temperatures: tuple[float, ...] = FALLBACK_TEMPERATURES
    max_tokens: int | None = None
    timestamps: bool = True
    window_s: float | None = None

    def __post_init__(self) -> None:
        if self.window_s is not None and (self.timestamps or self.temperatures != (0.0,)):
            raise ValueError("a shortened window decodes text only, at temperature 0")


TAKE_WINDOW_S = 10.0
"""Seconds of audio Whisper's encoder sees for a spoken take by default (`asr.take_window_s`;
longer takes: their length plus WINDOW_MARGIN_S). The encoder's cost grows faster than the
window: on 2 CPU cores faster-whisper tiny.en hears a 3 s take in about 366 ms with the full
30 s, 100 ms with 10 s, for the same words (`python benchmarks/asr_window.py`)."""
WINDOW_MARGIN_S = 1.0
"""Seconds of silence the encoder sees after a clip longer than the window asked for."""


def take_options(
    language: str | None = None, task: str = "transcribe", window_s: float = TAKE_WINDOW_S
) -> DecodeOptions:
    """How a spoken take is decoded, where the wait is felt: greedy, never re-decoded at a
    higher temperature, text only (a take needs no times), the encoder seeing `window_s`
    seconds (CLIP_WINDOW_S or more: Whisper's own window)."""
    return DecodeOptions(
        language=language,
        task=task,
        beam_size=1,
        temperatures=(0.0,),
        timestamps=False,
        window_s=window_s if window_s < CLIP_WINDOW_S else None,
    )


def window_frames(options: DecodeOptions, samples: int, frames_per_s: int = 100) -> int | None:
    """Mel frames the encoder sees for a clip of `samples` at 16 kHz under `options`, or None
    for Whisper's full 30 s window (none asked for, or the clip needs it all)."""
    if options.window_s is None:
        return None
    seconds = max(options.window_s, samples / WHISPER_SAMPLE_RATE + WINDOW_MARGIN_S)
    return None if seconds >= CLIP_WINDOW_S else int(seconds * frames_per_s)


@dataclass(frozen=True)
class ClipTranscript:
    """One clip's result; segment times are seconds from the clip's start."""

    segments: tuple[Segment, ...]
    language: str

    @staticmethod
    def of(
        parts: Iterable[tuple[float, float, str, float | None]], language: str
    ) -> ClipTranscript:
        """From an engine's (start s, end s, text, average log probability per token)
        segments; segments with no words are dropped and text is stripped."""
        segments = tuple(
            Segment(float(start), float(end), text.strip(), logprob)
            for start, end, text, logprob in parts
            if text.strip()
        )
        return ClipTranscript(segments=segments, language=language)


class Transcriber(Protocol):
    """Turns a clip of at most 30 s of 16 kHz mono audio into timed text.

    Capabilities are attributes: `english_only` models cannot translate or detect a language.
    """

    engine: str
    model_name: str
    device: str
    english_only: bool

    def transcribe(self, clip: AudioClip, options: DecodeOptions) -> ClipTranscript:
        """Decode `clip` (16 kHz mono) with `options`."""
        ...


def looks_like_path(model: str) -> bool:
    """Whether a model string names a file or folder rather than a model name."""
    return (
        model.startswith((".", "/", "~")) or model.endswith((".pt", ".bin")) or Path(model).exists()
    )
