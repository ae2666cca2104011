"""The linear echo canceller learns a room's echo of real speech (piper) within a fraction of
a second, holds it while a person talks over it, and follows what it is handed being moved."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from voicechat.audio.io import load_audio
from voicechat.echo.linear import LinearEchoCanceller, Recording, replay, solve_toeplitz

RATE = 16_000
FRAME = 160
LEAD = 160
"""Samples by which what played is handed over before its echo's direct path."""


def _db(x: np.ndarray) -> float:
    return 10 * float(np.log10(np.mean(np.square(x.astype(np.float64))) + 1e-12))


@pytest.fixture(scope="module")
def speech(tmp_path_factory: pytest.TempPathFactory) -> tuple[np.ndarray, np.ndarray]:
    """Piper reading a reply (4 s or more) and a question, as 16-bit samples at 16 kHz."""
    from tests.support.speech import speak

    folder = tmp_path_factory.mktemp("linear")
    reply = "The weather today is sunny and warm, with a light breeze from the west. " * 2
    clips = [
        load_audio(speak(text, folder / f"{i}.wav"))
        for i, text in enumerate([reply, "What is the capital of France?"])
    ]
    assert all(c.sample_rate == RATE for c in clips)
    reply_pcm, question = ((c.samples * 32767 * 0.5).astype(np.int16) for c in clips)
    return reply_pcm, question


def _room(played: np.ndarray) -> np.ndarray:
    """What the microphone hears of `played` handed over LEAD samples early: the direct sound
    at 0.6, a reflection 50 ms after it at 0.3, a diffuse tail decaying by 1/e every 20 ms
    until 120 ms after the direct sound, and noise at -66 dBFS."""
    rng = np.random.default_rng(0)
    path = np.zeros(LEAD + 1920)
    path[LEAD] = 0.6
    path[LEAD + 800] = 0.3
    tail = np.arange(LEAD + 1, len(path))
    path[tail] += rng.normal(0, 0.02, len(tail)) * np.exp(-(tail - LEAD) / 320)
    echo = np.convolve(played.astype(np.float64), path)[: len(played)]
    return echo + rng.normal(0, 16, len(echo))


def _cancel(canceller: LinearEchoCanceller, mic: np.ndarray, played: np.ndarray) -> np.ndarray:
    frames = len(mic) // FRAME
    return np.concatenate(
        [
            canceller.cancel(
                np.clip(mic[i * FRAME : (i + 1) * FRAME], -32768, 32767).astype(np.int16),
                played[i * FRAME : (i + 1) * FRAME],
            )
            for i in range(frames)
        ]
    )


def test_the_toeplitz_solver_matches_a_direct_solve(speech: tuple[np.ndarray, np.ndarray]) -> None:
    """On the autocorrelation of speech (badly conditioned: its spectrum spans 60 dB and
    more), from nothing and from the answer itself."""
    x = speech[0][:RATE].astype(np.float64)
    n = 256
    autocorrelation = np.array([x[: len(x) - k] @ x[k:] for k in range(n)])
    autocorrelation[0] *= 1 + 1e-4
    matrix = autocorrelation[np.abs(np.arange(n)[:, None] - np.arange(n)[None, :])]
    right = np.random.default_rng(1).normal(size=n) * autocorrelation[0]
    exact = np.linalg.solve(matrix, right)

    found = solve_toeplitz(autocorrelation, right, np.zeros(n), tolerance=1e-9, max_iterations=400)
    assert np.linalg.norm(found - exact) <= 1e-5 * np.linalg.norm(exact)
    again = solve_toeplitz(autocorrelation, right, exact)
    assert np.allclose(again, exact)


def test_a_rooms_echo_of_speech_is_learned_within_half_a_second(
    speech: tuple[np.ndarray, np.ndarray],
) -> None:
    """15 dB of it is gone from 0.5 s (piper's first 0.3 s are silent), 30 dB after 1 s
    (Speex's adaptive filter, used before: 13 and 21 dB)."""
    played = speech[0]
    mic = _room(played)
    out = _cancel(LinearEchoCanceller(FRAME), mic, played)
    by_half = slice(RATE // 2, RATE)
    after = slice(RATE, len(out))
    assert _db(mic[by_half]) - _db(out[by_half]) >= 15.0
    assert _db(mic[after]) - _db(out[after]) >= 30.0


def test_a_person_talking_over_the_echo_is_kept_whole_and_the_fit_holds(
    speech: tuple[np.ndarray, np.ndarray],
) -> None:
    """What is taken away while both talk is echo: the output less the person is the echo
    left, as small as without them; after they stop the echo is still removed."""
    played, question = speech
    echo = _room(played)
    onset = 2 * RATE
    person = np.zeros(len(echo))
    person[onset : onset + len(question)] = question * 1.5
    out = _cancel(LinearEchoCanceller(FRAME), echo + person, played)
    both = slice(onset, onset + len(question))
    after = slice(both.stop, len(out))
    assert _db(echo[both]) - _db(out[both] - person[both]) >= 25.0
    assert abs(_db(out[both]) - _db(person[both])) < 0.5
    assert _db(echo[after]) - _db(out[after]) >= 25.0


def test_what_played_handed_over_later_still_meets_the_echo_it_learned(
    speech: tuple[np.ndarray, np.ndarray],
) -> None:
    """Learned from what played at its own time, the echo 40 ms after; handed over 30 ms
    later from 2.4 s on (as once the devices' delay is found), it goes on removing the echo
    at once: over the next 0.1 s, before it fits anew."""
    played = speech[0]
    mic = _room(np.concatenate([np.zeros(640 - LEAD, np.int16), played]))[: len(played)]
    moved_at, shift = 2 * RATE + 4 * RATE // 10, 480
    handed = played.copy()
    handed[moved_at:] = played[moved_at - shift : len(played) - shift]
    canceller = LinearEchoCanceller(FRAME)
    before = _cancel(canceller, mic[:moved_at], played[:moved_at])
    canceller.handed_later(shift, echo_moved=False)
    soon = slice(moved_at, moved_at + RATE // 10)
    out = _cancel(canceller, mic[soon], handed[soon])
    assert _db(mic[RATE:moved_at]) - _db(before[RATE:]) >= 20.0
    assert _db(mic[soon]) - _db(out) >= 25.0


def test_frames_of_another_length_are_refused() -> None:
    canceller = LinearEchoCanceller(FRAME)
    with pytest.raises(ValueError):
        canceller.cancel(np.zeros(FRAME + 1, np.int16), np.zeros(FRAME + 1, np.int16))


def test_the_speaker_silent_leaves_the_microphone_as_it_was() -> None:
    """Nothing played, nothing is taken away: a person alone comes through sample for sample
    (to rounding)."""
    rng = np.random.default_rng(3)
    mic = rng.normal(0, 3000, 2 * RATE)
    out = _cancel(LinearEchoCanceller(FRAME), mic, np.zeros(len(mic), np.int16))
    assert np.max(np.abs(out - np.clip(np.round(mic), -32768, 32767))) <= 1


def test_a_recording_of_a_cancellers_calls_replays_to_the_same_output(
    speech: tuple[np.ndarray, np.ndarray], tmp_path: Path
) -> None:
    """Saved and loaded, the calls (frames, and the delay found and moved) give a fresh
    canceller's output sample for sample: what benchmarks/linear_echo.py measures."""
    played = speech[0][: 3 * RATE]
    mic = _room(played)
    canceller = LinearEchoCanceller(FRAME)
    canceller.recording = Recording()
    _cancel(canceller, mic[:RATE], played[:RATE])
    canceller.handed_later(320, echo_moved=False)
    _cancel(canceller, mic[RATE : 2 * RATE], played[RATE : 2 * RATE])
    canceller.handed_later(400, echo_moved=True)
    _cancel(canceller, mic[2 * RATE :], played[2 * RATE :])
    canceller.recording.save(tmp_path / "calls.npz")

    recording = Recording.load(tmp_path / "calls.npz")
    assert recording.shifts == [(100, 320, False), (200, 400, True)]
    again = replay(recording, LinearEchoCanceller(FRAME))
    assert np.array_equal(np.concatenate(again), np.concatenate(recording.cancelled))
    assert np.array_equal(
        np.concatenate(recording.microphone),
        np.clip(mic, -32768, 32767).astype(np.int16)[: len(np.concatenate(again))],
    )


def test_the_benchmark_gives_recorded_calls_again_to_the_canceller_as_it_is_now(
    speech: tuple[np.ndarray, np.ndarray], tmp_path: Path
) -> None:
    """benchmarks/linear_echo.py on a recording the same code made: the same figures."""
    import re
    import subprocess
    import sys

    played = speech[0][: 4 * RATE]
    canceller = LinearEchoCanceller(FRAME)
    canceller.recording = Recording()
    _cancel(canceller, _room(played), played)
    canceller.recording.save(tmp_path / "run-0-calls.npz")
    script = Path(__file__).resolve().parents[1] / "benchmarks" / "linear_echo.py"
    done = subprocess.run(
        [sys.executable, str(script), str(tmp_path)], capture_output=True, text=True, check=True
    )
    figures = {
        (found[1], found[2]): [float(x) for x in re.findall(r"-?\d+\.\d", found[3])]
        for found in re.finditer(r"^\s+(recorded|now)\s+(median|worst)\s+(.*)$", done.stdout, re.M)
    }
    assert len(figures) == 4, done.stdout
    assert figures["recorded", "median"] == figures["now", "median"], done.stdout
    assert figures["recorded", "worst"] == figures["now", "worst"], done.stdout
    assert figures["now", "median"][1] >= 30.0, done.stdout  # the best 0.2 s by 2 s
