"""Speaking while writing: the first sentence plays before the model has finished.

The trained tiny Phi-3 writes a whole reply in a few milliseconds, too fast to show overlap, so
these tests give the pipeline a model that writes at a human-visible pace (a stand-in that
implements the same ChatModel protocol). Voice, speaker and ear are real.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from tests.support.paced_model import PacedChatModel
from tests.support.pulse import record_speaker
from tests.support.speech import normalise
from voicechat.assistant import Assistant
from voicechat.audio.playback import Speaker, TimedSink
from voicechat.config import LlmConfig
from voicechat.llm.base import GenerationOptions
from voicechat.pipeline import Hold, Reply, ReplyListener, SpokenReply
from voicechat.session import Session, SessionStore
from voicechat.tts.piper import PiperSynthesizer
from voicechat.types import Message

pytestmark = pytest.mark.slow

REPLY = (
    "The weather today is sunny and warm, so go for a walk. Please remember to buy milk and "
    "bread. Turn off the lights in the kitchen."
)


@pytest.fixture(scope="module")
def piper() -> PiperSynthesizer:
    return PiperSynthesizer()


def test_first_sentence_plays_while_the_model_is_still_writing(
    piper: PiperSynthesizer, pulse: dict[str, str], tiny_en_ct2: Path, tmp_path: Path
) -> None:
    from tests.support.cli import run_cli

    model = PacedChatModel(REPLY, delay_s=0.15)  # about 3 s to write 20 words
    speaker = Speaker()
    pieces: list[str] = []
    with record_speaker(tmp_path / "speaker.wav", pulse) as recording:
        start = time.monotonic()
        reply = SpokenReply(model, piper, speaker, ReplyListener(on_text=pieces.append)).run(
            [Message("user", "weather?")], GenerationOptions()
        )
        speaker.close()
    assert model.finished_at is not None
    written_ms = (model.finished_at - start) * 1000
    assert reply.timings.first_audio_ms is not None
    assert reply.timings.first_audio_ms < written_ms, "speech began before the reply was written"
    first_sentence_written_ms = (model.written_at[10] - start) * 1000  # "walk."
    assert reply.timings.first_audio_ms < first_sentence_written_ms, "the first clause led"
    assert reply.text == REPLY
    assert "".join(pieces) == REPLY
    heard = run_cli("transcribe", str(recording), "-e", "faster-whisper", "-m", str(tiny_en_ct2))
    assert normalise(heard.stdout) == normalise(REPLY), "every sentence once, in order"


def test_interrupting_stops_writing_and_speaking_at_once(
    piper: PiperSynthesizer, pulse: dict[str, str]
) -> None:
    model = PacedChatModel(REPLY + " " + REPLY, delay_s=0.1)
    speaker = Speaker()
    pipeline = SpokenReply(model, piper, speaker, ReplyListener())
    threading.Timer(2.0, pipeline.interrupt).start()
    start = time.monotonic()
    reply = pipeline.run([Message("user", "weather?")], GenerationOptions())
    speaker.close()
    assert reply.interrupted
    assert time.monotonic() - start < 3.0
    assert REPLY.startswith(reply.text[:20])
    assert len(reply.text) < len(REPLY)


def test_without_a_voice_the_reply_is_only_written() -> None:
    model = PacedChatModel(REPLY, delay_s=0.0)
    reply = SpokenReply(model, None, None, ReplyListener()).run(
        [Message("user", "x")], GenerationOptions()
    )
    assert reply.text == REPLY
    assert reply.timings.first_audio_ms is None
    assert reply.tts_engine is None


def _held_turn(
    piper: PiperSynthesizer, tmp_path: Path, delay_s: float
) -> tuple[PacedChatModel, TimedSink, list[str], Hold, threading.Thread, list[Reply]]:
    """An assistant turn started under a hold in a worker thread, as `talk` does at a pause."""
    model = PacedChatModel(REPLY, delay_s=delay_s)
    sink = TimedSink()
    shown: list[str] = []
    store = SessionStore(tmp_path)
    assistant = Assistant(
        LlmConfig(), model, piper, sink, store, Session("held"), ReplyListener(on_text=shown.append)
    )
    hold = Hold()
    replies: list[Reply] = []
    worker = threading.Thread(
        target=lambda: replies.append(assistant.reply_to("weather?", hold=hold))
    )
    worker.start()
    return model, sink, shown, hold, worker, replies


def test_a_held_reply_is_written_and_voiced_unseen_then_plays_on_release(
    piper: PiperSynthesizer, tmp_path: Path
) -> None:
    model, sink, shown, hold, worker, replies = _held_turn(piper, tmp_path, 0.0)
    deadline = time.monotonic() + 30
    while model.finished_at is None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert model.finished_at is not None, "the reply was written while held"
    time.sleep(0.5)  # the first sentence's synthesis, which may also run while held
    assert shown == [] and sink.played == [], "nothing shown or played while held"
    assert not SessionStore(tmp_path).exists("held"), "nothing saved while held"
    hold.release()
    worker.join(timeout=60)
    (reply,) = replies
    assert not reply.abandoned and reply.text == REPLY and "".join(shown) == REPLY
    t = reply.timings
    assert t.released_ms is not None and t.first_clip_ms is not None
    assert t.first_clip_ms < t.released_ms, "the first sentence was voiced before the release"
    assert len(sink.played) == 4  # the first clause, the rest of its sentence, two sentences
    saved = SessionStore(tmp_path).load("held").messages
    assert [(m["role"], m["content"]) for m in saved] == [
        ("user", "weather?"),
        ("assistant", REPLY),
    ]


def test_an_abandoned_reply_stops_and_leaves_nothing_behind(
    piper: PiperSynthesizer, tmp_path: Path
) -> None:
    model, sink, shown, hold, worker, replies = _held_turn(piper, tmp_path, 0.1)
    time.sleep(0.5)
    hold.abandon()
    worker.join(timeout=30)
    (reply,) = replies
    assert reply.abandoned and reply.interrupted
    assert model.finished_at is None, "writing stopped"
    assert shown == [] and sink.played == []
    assert not SessionStore(tmp_path).exists("held")
