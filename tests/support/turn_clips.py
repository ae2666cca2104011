"""Spoken takes for judging the end of a turn, and one take played through the real recorder.

Complete questions, and the same questions cut where the sentence cannot end (the first
half spoken on its own, ending in a comma so the voice keeps a continuing intonation), a
pause, then the rest: a good end of turn answers the first kind at once and waits out the
pause in the second. Spoken by piper at two speeds, piper under white noise at 15 dB SNR and,
where it is installed, espeak-ng; and recordings of real people (`recorded_clips`, from a
manifest that says which are complete and which have pauses inside).
"""

from __future__ import annotations

import dataclasses
import shutil
import subprocess
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from voicechat.audio.io import load_audio
from voicechat.audio.takes import TakeRecorder
from voicechat.audio.vad import StreamingVad
from voicechat.bench.replay import ReplayedMicrophone
from voicechat.bench.spoken import answer_spoken
from voicechat.conversation import Conversation
from voicechat.early_start import EarlyStart
from voicechat.end_of_turn import TurnJudge, Verdict
from voicechat.session import Session
from voicechat.turn import TurnListener
from voicechat.types import WHISPER_SAMPLE_RATE, AudioClip

CUT_QUESTIONS = (
    ("What is the capital of,", "France?"),
    ("How many legs does a,", "spider have?"),
    ("What colour is,", "the sky?"),
    ("Tell me a,", "long story."),
    ("Remind me to water the,", "plants tonight."),
    ("What is the weather like in,", "Paris today?"),
)
"""Questions cut where they cannot end: the first four the tiny test Phi-3 knows, the last
two it does not. None is in voicechat's calibration set (voicechat/data/requests.txt)."""
TRAILING_S = 1.5
NOISE_SNR_DB = 15.0
SLOW = 1.3
"""piper's length_scale for the slow voice."""


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
    extra = ["espeak-ng"] if shutil.which("espeak-ng") else []
    return ["piper", "piper slow", "piper in noise", *extra]


def spoken_in(text: str, voice: str, folder: Path) -> np.ndarray:
    """`text` in `voice`, 16 kHz, with the voice's own leading and trailing silence cut."""
    from tests.support.speech import speak

    path = folder / f"{abs(hash((text, voice)))}.wav"
    if voice.startswith("piper"):
        speak(text, path, SLOW if voice == "piper slow" else 1.0)
    else:
        subprocess.run(["espeak-ng", "-w", str(path), text], check=True)
    samples = load_audio(path).samples
    loud = np.flatnonzero(np.abs(samples) > 0.01)
    return samples[loud[0] : loud[-1] + 1] if len(loud) else samples


def noisy(samples: np.ndarray, speech_rms: float, seed: int) -> np.ndarray:
    """White noise at NOISE_SNR_DB below `speech_rms` over all of `samples`."""
    level = speech_rms / 10 ** (NOISE_SNR_DB / 20)
    noise = np.random.default_rng(seed).normal(0.0, level, len(samples)).astype(np.float32)
    return (samples + noise).astype(np.float32)


def turn_clips(pauses_s: tuple[float, ...] = (0.5, 0.7, 0.9)) -> list[TurnClip]:
    """Every question whole and cut at every pause, in every voice."""
    silence = np.zeros(int(TRAILING_S * WHISPER_SAMPLE_RATE), dtype=np.float32)
    clips = []
    with tempfile.TemporaryDirectory() as folder:
        for voice in voices():
            spoken = "piper" if voice == "piper in noise" else voice
            for n, (first, second) in enumerate(CUT_QUESTIONS):
                whole = spoken_in(f"{first.rstrip(',')} {second}", spoken, Path(folder))
                a, b = (
                    spoken_in(first, spoken, Path(folder)),
                    spoken_in(second, spoken, Path(folder)),
                )
                rms = float(np.sqrt(np.mean(np.square(whole))))
                takes: list[tuple[str, list[np.ndarray], int | None]] = [
                    (f"{voice}: whole {first[:12]}…", [whole], None)
                ]
                for pause in pauses_s:
                    gap = np.zeros(int(pause * WHISPER_SAMPLE_RATE), dtype=np.float32)
                    takes.append(
                        (f"{voice}: {first} {pause:.1f} s", [a, gap, b], len(a) + len(gap))
                    )
                for name, parts, resume in takes:
                    samples = np.concatenate([*parts, silence])
                    if voice == "piper in noise":
                        samples = noisy(samples, rms, seed=n)
                    clips.append(
                        TurnClip(
                            name,
                            AudioClip(samples, WHISPER_SAMPLE_RATE),
                            sum(len(p) for p in parts),
                            resume=resume,
                        )
                    )
    return clips


def recorded_clips(manifest: Path, folder: Path | None = None) -> list[TurnClip]:
    """Recordings listed in `manifest` (lines `file<TAB>complete|pauses`, the files in
    `folder`, by default the manifest's), with TRAILING_S of silence after each. Where speech
    ends, and for a take with pauses inside where its last stretch of speech starts, come
    from voice activity."""
    clips = []
    silence = np.zeros(int(TRAILING_S * WHISPER_SAMPLE_RATE), dtype=np.float32)
    for line in manifest.read_text().splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        name, kind = line.split("\t")[:2]
        samples = load_audio((folder or manifest.parent) / name).samples
        spans = _speech_stretches(samples)
        if not spans:
            continue
        clips.append(
            TurnClip(
                f"recorded: {name}",
                AudioClip(np.concatenate([samples, silence]), WHISPER_SAMPLE_RATE),
                spans[-1][1],
                resume=spans[-1][0] if kind.strip() == "pauses" and len(spans) > 1 else None,
            )
        )
    return clips


def _speech_stretches(samples: np.ndarray, gap_ms: float = 300.0) -> list[tuple[int, int]]:
    """(start, end) samples of speech, stretches closer than `gap_ms` joined (silero VAD at
    the frames the take recorder uses)."""
    from voicechat.audio.endpoint import SPEECH_THRESHOLD
    from voicechat.audio.signal import VAD_FRAME_MS

    frame = int(WHISPER_SAMPLE_RATE * VAD_FRAME_MS / 1000)
    probabilities = StreamingVad().feed(samples)
    stretches: list[list[int]] = []
    for i, p in enumerate(probabilities):
        if p < SPEECH_THRESHOLD:
            continue
        if stretches and (i - stretches[-1][1]) * VAD_FRAME_MS <= gap_ms:
            stretches[-1][1] = i
        else:
            stretches.append([i, i])
    return [(a * frame, (b + 1) * frame) for a, b in stretches]


@dataclass(frozen=True)
class Trial:
    """How one take ended. eos_ms: from the end of its last word to the end of the take
    answered (negative: before it); cut: the first take ended before the second half began;
    lost: the take answered ended before the last word did (what was said after a pause is
    missing from it); sounded_s: for each reply begun and dropped because the person went
    on (`voicechat.bench.spoken.Restart`), how long it had played."""

    ended_by: str
    eos_ms: float
    cut: bool
    verdicts: tuple[Verdict, ...]
    lost: bool = False
    sounded_s: tuple[float, ...] = ()

    @property
    def restarts(self) -> int:
        """Replies begun, then dropped because the person went on."""
        return len(self.sounded_s)


def replay(
    turn: TurnClip,
    conversation: Conversation,
    judge: TurnJudge | None,
    silence_ms: int = 800,
    resume_s: float = 0.0,
) -> Trial:
    """Play `turn` through the real take recorder and early start (judging with `judge`;
    None is the silence rule alone), replies begun at pauses on `conversation`.

    resume_s: 0 records one take and answers nothing; otherwise the take is answered as talk
    answers it (`voicechat.bench.spoken.answer_spoken`), continued when speech comes within
    resume_s of its end, on a fresh session of the conversation.
    """
    mic = ReplayedMicrophone(turn.clip)
    recorder = TakeRecorder(mic, StreamingVad(), silence_ms, 60.0)
    if resume_s > 0:
        conversation = dataclasses.replace(conversation, session=Session("replay"))
    early = EarlyStart.of(conversation, TurnListener(), judge, recorder.judged)
    sounded: tuple[float, ...] = ()
    try:
        if resume_s > 0:
            spoken = answer_spoken(conversation, recorder, early, TurnListener(), resume_s)
            take, first_ended_at = spoken.take, spoken.first_ended_at
            sounded = tuple(r.sounded_s for r in spoken.restarts)
        else:
            take = recorder.record(
                threading.Event(), threading.Event(), on_pause=early.paused, on_resume=early.resumed
            )
            first_ended_at = take.ended_at
    finally:
        early.drop()
        time.sleep(0.05)
        early.shutdown()
    eos_ms = (take.ended_at - mic.time_at(turn.speech_end)) * 1000
    cut = turn.resume is not None and first_ended_at < mic.time_at(turn.resume)
    lost = len(take.clip.samples) < turn.speech_end
    return Trial(take.ended_by, eos_ms, cut, tuple(early.verdicts), lost, sounded)
