"""A spoken take is heard with Whisper's encoder seeing a shortened window (faster-whisper)."""

from __future__ import annotations

import logging
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from tests.support.speech import speak, word_error_rate
from voicechat.asr.base import (
    TAKE_WINDOW_S,
    WINDOW_MARGIN_S,
    DecodeOptions,
    take_options,
    window_frames,
)
from voicechat.asr.faster_whisper import FasterWhisperTranscriber, repeats_itself
from voicechat.audio.io import load_audio
from voicechat.config import AsrConfig
from voicechat.types import WHISPER_SAMPLE_RATE, AudioClip

RUNAWAY_LOG = "voicechat.asr.faster_whisper"


@pytest.fixture(scope="module")
def transcriber(tiny_en_ct2: Path) -> FasterWhisperTranscriber:
    return FasterWhisperTranscriber(AsrConfig(engine="faster-whisper", model=str(tiny_en_ct2)))


def take(text: str, folder: Path) -> AudioClip:
    """`text` said by piper with a take's silence around it, 16 kHz."""
    path = folder / (text.lower().replace(" ", "_").strip("?.") + ".wav")
    if not path.exists():
        speak(text, path)
    gap = np.zeros(WHISPER_SAMPLE_RATE // 4, dtype=np.float32)
    return AudioClip(np.concatenate([gap, load_audio(path).samples, gap]), WHISPER_SAMPLE_RATE)


def test_the_window_fits_the_take() -> None:
    options = take_options()
    assert window_frames(options, 3 * WHISPER_SAMPLE_RATE) == int(TAKE_WINDOW_S * 100)
    twelve = window_frames(options, 12 * WHISPER_SAMPLE_RATE)
    assert twelve == int((12 + WINDOW_MARGIN_S) * 100), "a longer take: its length and a margin"
    assert window_frames(options, 29 * WHISPER_SAMPLE_RATE + 8000) is None, "needs all 30 s"
    assert window_frames(replace(options, window_s=None), WHISPER_SAMPLE_RATE) is None


def test_a_shortened_window_decodes_text_only_at_temperature_0() -> None:
    with pytest.raises(ValueError, match="text only"):
        DecodeOptions(window_s=10.0)  # timestamps and the fallback ladder by default
    with pytest.raises(ValueError, match="text only"):
        replace(take_options(), temperatures=(0.0, 0.2))


def test_repetition_is_told_from_speech() -> None:
    assert repeats_itself("Good morning. Good morning.")
    assert repeats_itself("Flip a coin. Flip a coin. Flip a")
    assert not repeats_itself("Bye bye.")  # one word twice is how people talk
    assert not repeats_itself("What is the capital of France?")
    assert not repeats_itself("")


@pytest.mark.parametrize(
    ("text", "in_the_short_window"),
    [
        ("What is the capital of France?", True),
        ("Set a timer for 10 minutes.", True),
        # tiny.en says it twice in the 10 s window for 6 of 8 of piper's renderings (seeds 0
        # to 7; no other of ten requests did), so it is heard through the full window
        ("Tell me a joke.", False),
    ],
)
def test_a_take_in_the_short_window_is_heard_as_in_the_full_one(
    transcriber: FasterWhisperTranscriber,
    speech_dir: Path,
    text: str,
    in_the_short_window: bool,
    caplog: pytest.LogCaptureFixture,
) -> None:
    clip = take(text, speech_dir)
    caplog.set_level(logging.DEBUG, logger=RUNAWAY_LOG)
    short = transcriber.transcribe(clip, take_options())
    if in_the_short_window:
        assert "left to the full window" not in caplog.text, "decoded in the short window itself"
    full = transcriber.transcribe(clip, replace(take_options(), window_s=None))
    said = " ".join(s.text for s in short.segments)
    # No worse than the full window: on some of piper's renderings the two hear one unclear
    # word differently ("Tell me they joke." against "Tell me that joke.")
    in_full = " ".join(s.text for s in full.segments)
    assert word_error_rate(text, said) <= word_error_rate(text, in_full), (said, in_full)


def test_a_person_who_repeats_themselves_is_heard_in_full(
    transcriber: FasterWhisperTranscriber, speech_dir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    clip = take("Good morning. Good morning.", speech_dir)
    caplog.set_level(logging.DEBUG, logger=RUNAWAY_LOG)
    said = " ".join(s.text for s in transcriber.transcribe(clip, take_options()).segments)
    assert "left to the full window" in caplog.text, "a repeat is decoded again in the full window"
    assert word_error_rate("Good morning. Good morning.", said) == 0.0, said


def test_silence_in_the_short_window_is_no_text(transcriber: FasterWhisperTranscriber) -> None:
    rng = np.random.default_rng(0)
    for samples in (
        np.zeros(2 * WHISPER_SAMPLE_RATE, dtype=np.float32),
        rng.normal(0.0, 0.01, 2 * WHISPER_SAMPLE_RATE).astype(np.float32),
    ):
        heard = transcriber.transcribe(AudioClip(samples, WHISPER_SAMPLE_RATE), take_options())
        assert heard.segments == ()


def test_a_clear_take_is_heard_surely(
    transcriber: FasterWhisperTranscriber, speech_dir: Path
) -> None:
    from voicechat.asr.longform import TakeTranscriber
    from voicechat.audio.vad import VoiceActivityDetector
    from voicechat.end_of_turn import UNSURE_LOGPROB

    hear = TakeTranscriber(transcriber, VoiceActivityDetector(), take_options())
    heard = hear.heard(take("What is the capital of France?", speech_dir))
    assert word_error_rate("What is the capital of France?", heard.text) == 0.0
    assert heard.logprob is not None and UNSURE_LOGPROB < heard.logprob < 0.0
    assert hear(take("What is the capital of France?", speech_dir)) == heard.text
