"""Talking over the reply through PulseAudio, without the terminal or the language model: how
often a request spoken over the reply is taken, how soon, what the take is heard as, and how
often the reply's own echo is taken for a person (and how many of those takes, and of the
person's, talk drops as the reply's own words: `voicechat.own_voice`).

    python benchmarks/talk_over_pulse.py [--runs 4] [--voice piper|real|none] [--leak-s 3]

A private PulseAudio daemon loops the virtual speaker's monitor into the virtual microphone
(30 ms, as tests/test_talk_over.py does). Each run opens voicechat's own speaker (told to the
echo canceller) and microphone (through `echo.canceller.MicFilter`), listens for 2 s, plays the
tiny Phi-3's long story in piper's voice, and `--leak-s` later plays the request into the
microphone: piper asking "What is the capital of France?", a real person's recording
(stars.wav from ../shared/clips/real), or nothing (`none`: the reply alone, which must never
start a take). The take recorder waits for speech over the reply as talk does
(OVER_REPLY_START_FRAMES) and stops the reply when it starts; the take is heard by
faster-whisper tiny.en int8 through the take transcriber. Needs pulseaudio, pactl and paplay
(tests/run.sh installs them) and the duplex extra.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import re
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import numpy as np

    from voicechat.echo.linear import Recording
    from voicechat.types import AudioClip

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
REAL = REPO.parent / "shared" / "clips" / "real" / "stars.wav"
LISTEN_S = 2.0
"""Seconds the microphone runs before the reply (talk listens long before it answers)."""


def _echo_benchmark() -> ModuleType:
    """benchmarks/echo.py, for its speech level and take hearing."""
    spec = importlib.util.spec_from_file_location("echo_bench", REPO / "benchmarks" / "echo.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=4)
    parser.add_argument("--voice", choices=("piper", "real", "none"), default="piper")
    parser.add_argument("--leak-s", type=float, default=3.0, help="reply alone before the request")
    parser.add_argument(
        "--keep",
        type=Path,
        help="write each run's take here (run-N.wav, 16 kHz), and every call the linear echo "
        "canceller was given (run-N-calls.npz, for benchmarks/linear_echo.py)",
    )
    args = parser.parse_args()

    from tests.support.pulse import pulse_daemon, speaker_leaking_into_microphone
    from tests.support.speech import speak, word_error_rate
    from tests.support.tiny_phi3 import ANSWERS
    from voicechat.audio.io import load_audio
    from voicechat.echo.linear import Recording
    from voicechat.own_voice import is_own_words

    bench = _echo_benchmark()
    folder = Path(tempfile.mkdtemp())
    sentences = re.split(r"(?<=\.) ", ANSWERS["Tell me a long story."])[:6]
    reply = [load_audio(speak(s, folder / f"reply{i}.wav")) for i, s in enumerate(sentences)]
    said, request = "", None
    if args.voice == "piper":
        said = "What is the capital of France?"
        request = speak(said, folder / "request.wav")
    elif args.voice == "real":
        said, request = "We must find a new home in the stars.", REAL
    first_word_s = bench.speech_level(load_audio(request).samples)[1] / 16_000 if request else 0
    hear = bench.take_hearing()
    outcomes: list[str] = []
    own: list[str] = []  # outcomes of the takes talk drops as the reply's own words
    after_ms: list[float] = []
    errors: list[float] = []
    with pulse_daemon() as env, speaker_leaking_into_microphone(env):
        os.environ.update(env)
        for run in range(args.runs):
            calls = Recording()
            outcome, heard, after, take = _run(
                reply, request, args.leak_s, first_word_s, hear, calls
            )
            if args.keep is not None:
                _keep(args.keep, run, calls, take)
            outcomes.append(outcome)
            if after is not None:
                after_ms.append(after)
                errors.append(word_error_rate(said, heard))
            if heard and is_own_words(heard, " ".join(sentences)):
                own.append(outcome)
                heard += " (the reply's own words: not answered)"
            when = f" {after:.0f} ms after the first word" if after is not None else ""
            print(f"run {run}: {outcome}{when}" + (f"; heard {heard!r}" if heard else ""))
    counts = {o: outcomes.count(o) for o in ("taken", "never taken", "echo taken")}
    print(f"{args.voice}, {args.runs} runs: " + ", ".join(f"{k} {v}" for k, v in counts.items()))
    print("dropped as the reply's own words: " + ", ".join(
        f"{own.count(o)} of {counts[o]} {o}" for o in ("taken", "echo taken")
    ))  # fmt: skip
    if after_ms:
        print(f"taken after the first word: p50 {statistics.median(after_ms):.0f} ms, "
              f"max {max(after_ms):.0f} ms; word error rate mean "
              f"{statistics.mean(errors):.2f}")  # fmt: skip


def _keep(folder: Path, run: int, calls: Recording, take: AudioClip | None) -> None:
    """Write run `run`'s canceller calls and take (if any) into `folder`."""
    import soundfile

    folder.mkdir(parents=True, exist_ok=True)
    calls.save(folder / f"run-{run}-calls.npz")
    if take is not None:
        soundfile.write(folder / f"run-{run}.wav", take.samples, take.sample_rate)


def _run(
    reply: list[AudioClip],
    request: Path | None,
    leak_s: float,
    first_word_s: float,
    hear: Callable[[np.ndarray], str],
    calls: Recording,
) -> tuple[str, str, float | None, AudioClip | None]:
    """One run: ("taken" | "never taken" | "echo taken", what the take was heard as, ms from
    the request's first word to the take starting when the request started it, the take's
    audio when one started); every call the linear canceller is given goes to `calls`."""
    from voicechat.audio.capture import Microphone
    from voicechat.audio.playback import Speaker
    from voicechat.audio.takes import Start, TakeRecorder
    from voicechat.audio.vad import StreamingVad
    from voicechat.echo.canceller import MicFilter
    from voicechat.echo.far_end import FarEnd

    far_end = FarEnd()
    speaker = Speaker(far_end=far_end)
    speaker.open()
    clean = MicFilter(True, True, far_end)
    if clean.linear_canceller is not None:
        clean.linear_canceller.recording = calls
    mic = Microphone(clean=clean)
    mic.start()
    until = time.monotonic() + LISTEN_S
    while time.monotonic() < until:
        mic.read(0.1)
    stop, over = threading.Event(), threading.Event()
    asked_at: list[float] = []
    started_at: list[float] = []

    def play() -> None:
        for clip in reply:
            if not speaker.play(clip, stop):
                return
        speaker.wait(stop)
        if not stop.is_set():
            time.sleep(1.0)  # the echo's tail, then the room is quiet
            over.set()

    def ask() -> None:
        time.sleep(leak_s)
        if request is not None and not stop.is_set():
            asked_at.append(time.monotonic())
            subprocess.run(["paplay", "--device=vmic_sink", str(request)], check=False)

    def stop_reply() -> None:
        started_at.append(time.monotonic())
        stop.set()

    threads = [threading.Thread(target=play), threading.Thread(target=ask)]
    for thread in threads:
        thread.start()
    recorder = TakeRecorder(mic, StreamingVad(), silence_ms=800, max_record_s=30.0)
    deadline = threading.Timer(60.0, over.set)
    deadline.start()
    take = recorder.record(
        over, threading.Event(), wait_for_speech=True, on_speech_start=stop_reply,
        start=Start.OVER_REPLY,
    )  # fmt: skip
    deadline.cancel()  # else the process waits out the timer when it ends
    stop.set()
    over.set()
    for thread in threads:
        thread.join()
    mic.close()
    speaker.close()
    if not started_at or not take.had_speech:
        return "never taken", "", None, None
    heard = hear(take.clip.samples)
    if not asked_at or started_at[0] < asked_at[0]:
        return "echo taken", heard, None, take.clip
    return "taken", heard, (started_at[0] - asked_at[0] - first_word_s) * 1000, take.clip


if __name__ == "__main__":
    main()
