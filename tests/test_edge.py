"""The Edge voice against a loopback server that speaks its protocol: heard from the first
chunk, and falling back to piper without losing or repeating a sentence."""

from __future__ import annotations

import io
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from tests.support.edge_server import EdgeServer, edge_server
from tests.support.llm_server import free_port
from tests.support.paced_model import PacedChatModel
from tests.support.speech import normalise
from voicechat.audio.mp3_stream import Mp3Stream
from voicechat.audio.playback import TimedSink
from voicechat.config import TtsConfig
from voicechat.errors import SynthesisUnavailable
from voicechat.llm.base import GenerationOptions
from voicechat.models import create_synthesizer
from voicechat.reply import ReplyListener, SpokenReply
from voicechat.tts.base import synthesize
from voicechat.tts.edge import EdgeSynthesizer
from voicechat.types import AudioClip, Message

SENTENCE = "The capital of France is Paris, a lovely city on the river Seine."


@pytest.fixture(scope="module")
def spoken_mp3() -> bytes:
    """A sentence spoken by piper, as Edge sends speech: MP3, 24 kHz, mono."""
    import soundfile as sf
    import soxr

    from voicechat.tts.piper import PiperSynthesizer

    clip = synthesize(PiperSynthesizer(), SENTENCE)
    samples = soxr.resample(clip.samples, clip.sample_rate, 24000)
    out = io.BytesIO()
    sf.write(out, samples, 24000, format="MP3")
    return out.getvalue()


@pytest.fixture
def server(spoken_mp3: bytes, monkeypatch: pytest.MonkeyPatch) -> Iterator[EdgeServer]:
    import edge_tts.communicate

    with edge_server(EdgeServer(spoken_mp3, chunks=8, delay_s=0.25)) as running:
        monkeypatch.setattr(edge_tts.communicate, "WSS_URL", running.url)
        yield running


def _joined(pieces: list[AudioClip]) -> np.ndarray:
    return np.concatenate([p.samples for p in pieces])


def test_edge_audio_is_heard_from_the_first_chunk_and_joins_without_a_gap(
    server: EdgeServer, spoken_mp3: bytes
) -> None:
    voice = EdgeSynthesizer(TtsConfig())
    pieces, arrived = [], []
    for piece in voice.stream(SENTENCE):
        pieces.append(piece)
        arrived.append(time.monotonic())
    assert len(server.sent_at) == 8 and len(pieces) >= 4
    assert arrived[0] < server.sent_at[1], "the first audio came with the first chunk"
    assert arrived[0] < server.sent_at[-1] - 1.0
    whole = Mp3Stream()
    at_once = [p for p in (whole.feed(spoken_mp3), whole.flush()) if p is not None]
    assert np.array_equal(_joined(pieces), _joined(at_once)), "one continuous decoder"
    assert {p.sample_rate for p in pieces} == {24000}
    assert SENTENCE in server.requests[0]


def test_a_reply_in_the_edge_voice_starts_playing_before_its_sentence_has_arrived(
    server: EdgeServer,
) -> None:
    sink = TimedSink()
    voice = EdgeSynthesizer(TtsConfig())
    reply = SpokenReply(PacedChatModel(SENTENCE, 0.0), voice, sink, ReplyListener()).run(
        [Message("user", "France?")], GenerationOptions()
    )
    assert reply.tts_engine == "edge"
    first_played = sink.played[0][0]
    assert first_played < server.sent_at[-1], "playing while the service still sends"
    starts = [start for start, _ in sink.played]
    ends = [start + clip.duration for start, clip in sink.played]
    gaps = [b - a for a, b in zip(ends, starts[1:], strict=False)]
    assert all(gap < 0.3 for gap in gaps), gaps  # each piece follows the one before it


def test_edge_failing_before_any_audio_is_unavailable_and_after_some_ends_the_sentence(
    spoken_mp3: bytes, monkeypatch: pytest.MonkeyPatch
) -> None:
    import edge_tts.communicate

    voice = EdgeSynthesizer(TtsConfig())
    with edge_server(EdgeServer(spoken_mp3, chunks=8, delay_s=0.05, fail_after=0)) as broken:
        monkeypatch.setattr(edge_tts.communicate, "WSS_URL", broken.url)
        with pytest.raises(SynthesisUnavailable):
            list(voice.stream(SENTENCE))
    with edge_server(EdgeServer(spoken_mp3, chunks=8, delay_s=0.05, fail_after=4)) as cut:
        monkeypatch.setattr(edge_tts.communicate, "WSS_URL", cut.url)
        heard = list(voice.stream(SENTENCE))
    whole = Mp3Stream()
    full_s = sum(p.duration for p in (whole.feed(spoken_mp3), whole.flush()) if p is not None)
    assert 0 < sum(p.duration for p in heard) < 0.7 * full_s, "what came is heard, no more"


def test_edge_unreachable_falls_back_to_piper_for_that_whole_sentence_and_the_rest(
    tiny_en_ct2: Path, tmp_path: Path
) -> None:
    """A proxy on a loopback port nothing listens on: Edge fails the same way on any
    machine. Each sentence is heard exactly once, in order."""
    import soundfile as sf

    from tests.support.cli import run_cli

    notices: list[str] = []
    voice = create_synthesizer(
        TtsConfig(engine="edge", proxy=f"http://127.0.0.1:{free_port()}"), notices.append
    )
    assert voice is not None
    reply = "The sky is blue. Grass is green. Snow is white."
    sink = TimedSink()
    SpokenReply(PacedChatModel(reply, 0.0), voice, sink, ReplyListener()).run(
        [Message("user", "Colours?")], GenerationOptions()
    )
    assert voice.engine == "piper" and len(notices) == 1 and "unreachable" in notices[0]
    audio = np.concatenate([clip.samples for _, clip in sink.played])
    sf.write(str(tmp_path / "heard.wav"), audio, sink.played[0][1].sample_rate)
    heard = run_cli("transcribe", str(tmp_path / "heard.wav"), "-e", "faster-whisper", "-m",
                    str(tiny_en_ct2))  # fmt: skip
    assert normalise(heard.stdout) == normalise(reply)
