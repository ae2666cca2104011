"""Hands-free with the echo cancelled: the speaker leaks into the microphone and is never
answered, and a person speaking over the reply stops it and is answered.

PulseAudio loops the virtual speaker's monitor back into the virtual microphone (~30 ms), as
a room carries a loudspeaker to a laptop's microphone; the person's voice is played into the
same microphone over it: piper, and a recording of a real person.

Both are in the default run. The real person's passed 30 runs of 31 on the 2-core machine
once a resampled microphone block's capture time was counted in its own samples, 12 of 12
once voice activity judged what the take keeps after the stopped reply's sound was gone, 14
of 14 with the capture clock kept steady and a stopped reply's tail cut to what the mixer
held, 35 of 36 with `echo.talk_over`, 41 of 44 with the take's start found by the linear
canceller too, and 55 of 55 once the linear canceller was a least-squares fit
(`echo.linear`).

piper talking over piper's own reply is the hardest case for AEC3, which voice activity
judges: it removes much of the same voice with the echo. It passed 2 runs of 10 without
`echo.talk_over`, 30 of 36 with it, and 39 of 42 once a take started on 3 of AEC3's frames
where the linear canceller finds someone and began where it found them. Every failure then
traced came in a process whose linear canceller, Speex's adaptive filter, had removed under
12 dB of the echo by the time of the question; with the least-squares fit none did (60
processes traced), and it passed 55 runs of 55.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.support.pulse import play_into_microphone, speaker_leaking_into_microphone
from tests.support.speech import normalise, speak, word_error_rate
from tests.support.talk import session_messages
from tests.support.tmux import TmuxTerminal

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed"),
    pytest.mark.skipif(
        __import__("importlib").util.find_spec("livekit") is None,
        reason="the duplex extra (livekit) is not installed",
    ),
]

STORY = "Tell me a long story."
FRANCE = "What is the capital of France?"
REAL = Path(__file__).resolve().parents[2] / "shared" / "clips" / "real" / "stars.wav"
REAL_SAID = "We must find a new home in the stars."
LEAK_S = 3.0
"""Seconds the reply is left leaking into the microphone before anyone talks over it."""


@pytest.fixture
def speaker_leaks(pulse: dict[str, str]) -> Iterator[None]:
    """What the virtual speaker plays reaches the virtual microphone ~30 ms later."""
    with speaker_leaking_into_microphone(pulse):
        yield


def _talk_over(t: TmuxTerminal, pulse: dict[str, str], voice: Path) -> None:
    """Ask for the long story, let its reply leak into the microphone, then speak `voice`
    over it, and wait until the story shows as interrupted."""
    turns = t.screen().count("you: ")
    t.wait_for("listening for speech")
    time.sleep(0.5)
    play_into_microphone(speak(STORY, voice.parent / "story.wav"), pulse).wait()
    t.wait_for("long story", timeout=60, after=turns // 2)
    t.wait_for("speaking", timeout=60)
    time.sleep(LEAK_S)
    screen = t.screen()
    assert screen.count("you: ") == turns + 1, f"the reply leaking in was heard:\n{screen}"
    play_into_microphone(voice, pulse).wait()
    t.wait_for("(interrupted)", timeout=30, after=turns // 2)


def _story_talked_over(
    open_talk: Callable[..., TmuxTerminal],
    pulse: dict[str, str],
    home: Path,
    session: str,
    voice: Path,
) -> list[dict]:  # type: ignore[type-arg]
    """In a new session, ask for the story and speak `voice` over its reply; once the
    answer to `voice` has played (and leaked into the microphone for LEAK_S), quit. The
    session's messages. (A new session each time: the tiny Phi-3 tells the story only with
    nothing before it.)"""
    t = open_talk(800, "--hands-free", "--session", session)  # audio.echo_cancel: on by default
    _talk_over(t, pulse, voice)
    screen, messages = _answered_then_quit(t, home, session, after=1)
    # Its echo never stopped it either (such a take would be dropped, with this notice).
    assert "own voice" not in screen, screen
    return messages


def _answered_then_quit(
    t: TmuxTerminal, home: Path, session: str, after: int = 0
) -> tuple[str, list[dict]]:  # type: ignore[type-arg]
    """Once a turn (the `after`-th on screen) is answered and its answer has leaked into the
    microphone for LEAK_S (never to be answered), quit: the screen then, and the session's
    messages."""
    t.wait_for("speech-to-text", timeout=90, after=after)
    time.sleep(LEAK_S)
    screen = t.screen()
    t.keys("C-d")
    assert t.wait_exit() == 0
    return screen, session_messages(home, session)


def _check_talked_over(messages: list[dict], expected: str) -> None:  # type: ignore[type-arg]
    said = [m["content"] for m in messages if m["role"] == "user"]
    replies = [m for m in messages if m["role"] == "assistant"]
    assert len(said) == 2 and len(replies) == 2, said
    assert "long story" in normalise(said[0]), said
    # Its first word or two still come through weakened now and then ("You must find the
    # home in the stars."): most of the words are asked for.
    assert word_error_rate(expected, said[1]) <= 1 / 3, said[1]
    assert replies[0]["interrupted"], "talked over: stopped"
    assert replies[1]["content"] and not replies[1]["interrupted"], "and it was answered"


@pytest.mark.skipif(not REAL.is_file(), reason="../shared/clips/real is not here")
def test_a_person_speaking_over_the_reply_stops_it_and_is_answered_and_its_echo_never_is(
    open_talk: Callable[..., TmuxTerminal],
    pulse: dict[str, str],
    speaker_leaks: None,
    isolated_home: Path,
) -> None:
    messages = _story_talked_over(open_talk, pulse, isolated_home, "real", REAL)
    _check_talked_over(messages, REAL_SAID)


def test_the_same_synthetic_voice_speaking_over_the_reply_stops_it_and_is_answered(
    open_talk: Callable[..., TmuxTerminal],
    pulse: dict[str, str],
    speaker_leaks: None,
    isolated_home: Path,
    tmp_path: Path,
) -> None:
    voice = speak(FRANCE, tmp_path / "france.wav")
    messages = _story_talked_over(open_talk, pulse, isolated_home, "piper", voice)
    _check_talked_over(messages, FRANCE)


ARCTIC = Path(__file__).resolve().parents[2] / "shared" / "clips" / "real" / "arctic.wav"
ARCTIC_SAID = "It was my reports from the north which chiefly induced people to buy."
ARCTIC_PAUSE_AT_S = 1.8
"""Where "It was my reports from the north" ends in arctic.wav (Whisper's word times)."""


@pytest.mark.skipif(not ARCTIC.is_file(), reason="../shared/clips/real is not here")
def test_a_person_who_pauses_mid_request_is_answered_once_with_all_their_words(
    open_talk: Callable[..., TmuxTerminal],
    pulse: dict[str, str],
    speaker_leaks: None,
    isolated_home: Path,
    tmp_path: Path,
) -> None:
    """A real person's request with a 1 s pause after its first half, longer than the
    silence that ends a take here (500 ms): the take ends there and a reply begins, its sound
    leaking into the microphone; the rest, within audio.resume_s, takes that reply back and
    continues the take. The request is answered once, as one turn with all its words."""
    import numpy as np
    import soundfile as sf

    from voicechat.audio.io import load_audio

    samples = load_audio(ARCTIC).samples
    cut = int(ARCTIC_PAUSE_AT_S * 16000)
    paused = np.concatenate([samples[:cut], np.zeros(16000, np.float32), samples[cut:]])
    recording = tmp_path / "paused.wav"
    sf.write(str(recording), paused, 16000)
    t = open_talk(500, "--hands-free", "--session", "paused")
    t.wait_for("listening for speech")
    time.sleep(0.5)
    play_into_microphone(recording, pulse).wait()
    screen, messages = _answered_then_quit(t, isolated_home, "paused")
    said = [m["content"] for m in messages if m["role"] == "user"]
    assert len(said) == 1 and len(messages) == 2, messages
    assert word_error_rate(ARCTIC_SAID, said[0]) <= 0.2, said[0]
    assert screen.count("you: ") == 1, screen
