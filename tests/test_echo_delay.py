"""The speaker's delay to the microphone is found from what played and what was heard (real
speech: piper's reply, a real person's recording), and followed when it moves."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from voicechat.audio.io import load_audio
from voicechat.audio.signal import ECHO_FRAME_S, ECHO_FRAME_SAMPLES
from voicechat.echo.delay import HISTORY_S, LEAD_S, EchoDelay
from voicechat.echo.far_end import PlayedTimeline

RATE = 16_000
START = 100.0


@pytest.fixture(scope="module")
def reply(tmp_path_factory: pytest.TempPathFactory) -> np.ndarray:
    """Piper reading two sentences, 16-bit at 16 kHz."""
    from tests.support.speech import speak

    folder = tmp_path_factory.mktemp("delay")
    text = (
        "The weather today is sunny and warm, with a light breeze from the west. "
        "Tomorrow brings clouds in the morning and rain after noon."
    )
    samples = load_audio(speak(text, folder / "reply.wav")).samples
    return (samples * 32767 * 0.5).astype(np.int16)


def _room(played: np.ndarray, delays_s: list[tuple[float, float]]) -> np.ndarray:
    """What the microphone hears: `played` at 0.6 after each (from_s, delay_s)'s delay from
    from_s on, a reflection 40 ms later at 0.25, and faint noise."""
    heard = np.zeros(len(played) + RATE, np.float64)
    bounds = [round(f * RATE) for f, _ in delays_s] + [len(played)]
    for (_, delay_s), first, last in zip(delays_s, bounds, bounds[1:], strict=False):
        for extra_s, gain in ((0.0, 0.6), (0.04, 0.25)):
            k = round((delay_s + extra_s) * RATE)
            heard[first + k : last + k] += gain * played[first:last]
    heard += np.random.default_rng(0).normal(0, 30, len(heard))
    return np.clip(heard, -32768, 32767).astype(np.int16)


def _follow(played: np.ndarray, heard: np.ndarray) -> tuple[EchoDelay, list[int]]:
    """Feed the microphone frame by frame, as the filter does; the delay after each frame."""
    timeline = PlayedTimeline(HISTORY_S)
    delay = EchoDelay(timeline)
    found = []
    for i in range(len(heard) // ECHO_FRAME_SAMPLES):
        at = START + i * ECHO_FRAME_S
        if i * ECHO_FRAME_SAMPLES < len(played):
            timeline.add(at, played[i * ECHO_FRAME_SAMPLES : (i + 1) * ECHO_FRAME_SAMPLES])
        delay.heard(heard[i * ECHO_FRAME_SAMPLES : (i + 1) * ECHO_FRAME_SAMPLES], at)
        timeline.over(at - delay.shift_s, ECHO_FRAME_SAMPLES)  # as the canceller reads it
        found.append(delay.samples if delay.found else -1)
    return delay, found


def test_a_delay_past_the_cancellers_reach_is_found_and_handed_over_just_before(
    reply: np.ndarray,
) -> None:
    """Bluetooth speakers are 0.2-0.3 s late: found within a second of the reply, to the
    sample, the direct sound rather than its reflection."""
    delay, found = _follow(reply, _room(reply, [(0.0, 0.25)]))
    assert delay.samples == round(0.25 * RATE)
    assert delay.shift_s == pytest.approx(0.25 - LEAD_S, abs=1 / RATE)
    first = next(i for i, f in enumerate(found) if f >= 0)
    assert first * ECHO_FRAME_S <= 1.0, f"found only after {first * ECHO_FRAME_S:.2f} s"


def test_a_delay_that_moves_mid_reply_is_followed(reply: np.ndarray) -> None:
    """A gap of a few ms between two clips moves the echo later by as much."""
    moved_at = 3.0
    _, found = _follow(reply, _room(reply, [(0.0, 0.09), (moved_at, 0.0975)]))
    assert found[round((moved_at - 0.1) / ECHO_FRAME_S)] == round(0.09 * RATE)
    after = round((moved_at + 1.0) / ECHO_FRAME_S)
    assert found[after:].count(round(0.0975 * RATE)) >= 0.9 * len(found[after:])


def test_an_echo_moved_by_a_few_samples_leaves_the_delay_where_it_was(
    reply: np.ndarray,
) -> None:
    """What the estimate flickers by on an echo that holds still is no move: the canceller
    would be handed its sound a few samples off from what it learned."""
    moved_at = 3.0
    _, found = _follow(reply, _room(reply, [(0.0, 0.09), (moved_at, 0.09 + 3 / RATE)]))
    after = round((moved_at + 1.0) / ECHO_FRAME_S)
    assert set(found[after:]) == {round(0.09 * RATE)}


def test_a_person_who_is_not_the_speaker_gives_no_delay(reply: np.ndarray) -> None:
    real = Path(__file__).resolve().parents[2] / "shared" / "clips" / "real" / "stars.wav"
    if not real.is_file():
        pytest.skip("../shared/clips/real is not here")
    person = (load_audio(real).samples * 32767 * 0.5).astype(np.int16)
    delay, _ = _follow(reply[: len(person)], person)
    assert not delay.found and delay.shift_s == 0.0
