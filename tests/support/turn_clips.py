"""Spoken takes for judging the end of a turn, and one take played through the real recorder.

Complete questions, and the same questions cut where the sentence cannot end (the first
half spoken on its own, ending in a comma so the voice keeps a continuing intonation), a
pause, then the rest: a good end of turn answers the first kind at once and waits out the
pause in the second. Spoken by piper and, where it is installed, espeak-ng.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from voicechat.audio.io import load_audio
from voicechat.audio.takes import TakeRecorder
from voicechat.audio.vad import StreamingVad
from voicechat.bench.replay import ReplayedMicrophone
from voicechat.early_start import EarlyReply, EarlyStart
from voicechat.end_of_turn import TurnJudge, Verdict
from voicechat.types import WHISPER_SAMPLE_RATE, AudioClip

CUT_QUESTIONS = (
    ("What is the capital of,", "France?"),
    ("How many legs does a,", "spider have?"),
    ("What colour is,", "the sky?"),
    ("Tell me a,", "long story."),
)
"""Questions the tiny test Phi-3 knows, cut where they cannot end."""
TRAILING_S = 1.5


@dataclass(frozen=True)
class TurnClip:
    """A take to replay. speech_end: samples where its last word ends; resume: where the
    second half starts (None for a question said in one go)."""

    name: str
    clip: AudioClip
    speech_end: int
    resume: int | None = None


def voices() -> list[str]:
    """The synthetic voices on this machine."""
    return ["piper", *(["espeak-ng"] if shutil.which("espeak-ng") else [])]


def _speak(text: str, voice: str, folder: Path) -> np.ndarray:
    """`text` in `voice`, 16 kHz, with the voice's own leading and trailing silence cut."""
    from tests.support.speech import speak

    path = folder / f"{abs(hash((text, voice)))}.wav"
    if voice == "piper":
        speak(text, path)
    else:
        subprocess.run(["espeak-ng", "-w", str(path), text], check=True)
    samples = load_audio(path).samples
    loud = np.flatnonzero(np.abs(samples) > 0.01)
    return samples[loud[0] : loud[-1] + 1] if len(loud) else samples


def turn_clips(pauses_s: tuple[float, ...] = (0.5, 0.7, 0.9)) -> list[TurnClip]:
    """Every question whole and cut at every pause, in every voice."""
    silence = np.zeros(int(TRAILING_S * WHISPER_SAMPLE_RATE), dtype=np.float32)
    clips = []
    with tempfile.TemporaryDirectory() as folder:
        for voice in voices():
            for first, second in CUT_QUESTIONS:
                whole = _speak(f"{first.rstrip(',')} {second}", voice, Path(folder))
                clips.append(
                    TurnClip(
                        f"{voice}: whole {first[:12]}…",
                        AudioClip(np.concatenate([whole, silence]), WHISPER_SAMPLE_RATE),
                        len(whole),
                    )
                )
                a, b = _speak(first, voice, Path(folder)), _speak(second, voice, Path(folder))
                for pause in pauses_s:
                    gap = np.zeros(int(pause * WHISPER_SAMPLE_RATE), dtype=np.float32)
                    samples = np.concatenate([a, gap, b, silence])
                    clips.append(
                        TurnClip(
                            f"{voice}: {first} {pause:.1f} s",
                            AudioClip(samples, WHISPER_SAMPLE_RATE),
                            len(a) + len(gap) + len(b),
                            resume=len(a) + len(gap),
                        )
                    )
    return clips


@dataclass(frozen=True)
class Trial:
    """How one take ended. eos_ms: from the end of its last word to the end of the take
    (negative: before it); cut: it ended before its second half began."""

    ended_by: str
    eos_ms: float
    cut: bool
    verdicts: tuple[Verdict, ...]


def replay(
    turn: TurnClip,
    hear: Callable[[AudioClip], str],
    start: Callable[[str, int], EarlyReply],
    judge: TurnJudge | None,
    silence_ms: int = 800,
) -> Trial:
    """Play `turn` through the real take recorder and early start (judging with `judge`;
    None is the silence rule alone)."""
    mic = ReplayedMicrophone(turn.clip)
    recorder = TakeRecorder(mic, StreamingVad(), silence_ms, 60.0)
    early = EarlyStart(hear, start, judge, recorder.judged)
    try:
        take = recorder.record(
            threading.Event(), threading.Event(), on_pause=early.paused, on_resume=early.resumed
        )
    finally:
        early.drop()
        time.sleep(0.05)
        early.shutdown()
    eos_ms = (take.ended_at - mic.time_at(turn.speech_end)) * 1000
    cut = turn.resume is not None and take.ended_at < mic.time_at(turn.resume)
    return Trial(take.ended_by, eos_ms, cut, tuple(early.verdicts))
