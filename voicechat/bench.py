"""Measuring a voice turn stage by stage, streaming against the sequential way, in one run.

A turn starts when the speaker stops talking. Streaming (what voicechat does): the take is
transcribed, and the reply started, while the end of speech is still being confirmed; the
reply streams into sentences and the first sentence is spoken (once the end of speech is
confirmed) while the rest is written. Sequential (what the
original demo did): the end of speech is confirmed, then the take transcribed, the whole reply
generated, synthesised as one piece, and played. Both run on the same
models, input and machine, so their ratio is a fair measure of the streaming gain.

Playback goes to a `TimedSink`, which takes as long as a device would: the figures do not
depend on having speakers.
"""

from __future__ import annotations

import platform
import resource
import statistics
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from voicechat.asr.base import Transcriber, take_options
from voicechat.asr.longform import transcribe_take
from voicechat.audio.playback import TimedSink
from voicechat.audio.takes import PAUSE_MS
from voicechat.audio.vad import StreamingVad, VoiceActivityDetector
from voicechat.errors import UsageError
from voicechat.llm.base import ChatModel, GenerationOptions
from voicechat.llm.sentences import speakable
from voicechat.pipeline import ReplyListener, SpokenReply
from voicechat.tts.base import Synthesizer
from voicechat.types import WHISPER_SAMPLE_RATE, AudioClip, Message

SPEECH_THRESHOLD = 0.5
FRAME_MS = 1000 * StreamingVad.frame / WHISPER_SAMPLE_RATE


@dataclass(frozen=True)
class Span:
    """A stage on the turn's time axis, ms from the end of speech."""

    stage: str
    start_ms: float
    end_ms: float


@dataclass
class TurnFigures:
    """One turn's measurements in ms (tokens_per_s in tokens per second)."""

    values: dict[str, float]
    timeline: list[Span] = field(default_factory=list)
    reply: str = ""


def percentile(values: Sequence[float], q: float) -> float:
    """The q-th percentile (0-100) by linear interpolation."""
    if len(values) == 1:
        return float(values[0])
    return float(statistics.quantiles(values, n=100, method="inclusive")[int(q) - 1])


def summarise(turns: Sequence[TurnFigures]) -> dict[str, dict[str, float]]:
    """p50 and p90 of every measure across turns: {"asr_ms": {"p50": …, "p90": …}, …}."""
    keys = turns[0].values.keys()
    return {
        k: {
            "p50": round(percentile([t.values[k] for t in turns], 50), 1),
            "p90": round(percentile([t.values[k] for t in turns], 90), 1),
        }
        for k in keys
    }


def end_of_speech_delay_ms(clip: AudioClip, silence_ms: int) -> float:
    """How long after the last speech frame the live detector declares the take over.

    The detector needs `silence_ms` of silence after speech; its compute per frame is added
    (measured here), as it runs once per 32 ms frame as audio arrives.
    """
    vad = StreamingVad()
    vad.reset()
    start = time.perf_counter()
    probabilities = vad.feed(clip.samples)
    per_frame_ms = (time.perf_counter() - start) * 1000 / max(1, len(probabilities))
    needed = int(silence_ms // FRAME_MS) + 1  # silent frames that end a take
    last_speech, silent = None, 0
    for i, p in enumerate(probabilities):
        if p >= SPEECH_THRESHOLD:
            last_speech, silent = i, 0
        elif last_speech is not None:
            silent += 1
            if silent >= needed:
                return (i - last_speech) * FRAME_MS + per_frame_ms
    raise UsageError("the recording has no speech followed by enough silence to end a take")


class Bench:
    """Runs measured turns on loaded models.

    question: the recorded question (16 kHz), with some silence after it.
    eos_ms: the end-of-speech detection delay (`end_of_speech_delay_ms`).
    messages_for: builds the prompt from the transcript.
    token_count: tokens in a text, for tokens per second.
    """

    def __init__(
        self,
        transcriber: Transcriber,
        chat: ChatModel,
        synthesizer: Synthesizer | None,
        question: AudioClip,
        eos_ms: float,
        options: GenerationOptions,
        messages_for: Callable[[str], list[Message]],
        token_count: Callable[[str], int],
    ) -> None:
        self.transcriber = transcriber
        self.chat = chat
        self.synthesizer = synthesizer
        self.question = question
        self.options = options
        self.messages_for = messages_for
        self.token_count = token_count
        self.file_vad = VoiceActivityDetector()
        self.eos_ms = eos_ms
        self.transcript_override: str | None = None
        self.asr_options = take_options()
        """How `talk` transcribes a take."""

    def _transcribe(self) -> tuple[str, float]:
        start = time.perf_counter()
        text = transcribe_take(self.transcriber, self.file_vad, self.question, self.asr_options)
        return self.transcript_override or text, (time.perf_counter() - start) * 1000

    def streaming_turn(self) -> TurnFigures:
        """One turn the way voicechat runs it."""
        text, asr_ms = self._transcribe()
        sink = TimedSink()
        reply = SpokenReply(self.chat, self.synthesizer, sink, ReplyListener()).run(
            self.messages_for(text), self.options
        )
        t = reply.timings
        # As in `talk`: once the speaker has paused for PAUSE_MS the take is transcribed and
        # the reply started, held, while the detector waits out the rest of audio.silence_ms;
        # nothing plays before that wait is over.
        offset = PAUSE_MS + asr_ms
        first_token = t.first_token_ms or 0.0
        last_token = t.last_token_ms or first_token
        tokens = self.token_count(reply.text)
        first_audio = t.first_audio_ms if t.first_audio_ms is not None else t.total_ms
        held = max(0.0, self.eos_ms - (offset + first_audio))  # playback waits this long
        values = {
            "end_of_speech_ms": self.eos_ms,
            "asr_ms": asr_ms,
            "transcript_ready_ms": offset,
            "first_token_ms": first_token,
            "tokens_per_s": (tokens - 1) / max(1e-3, (last_token - first_token) / 1000),
            "first_sentence_ms": t.first_sentence_ms or 0.0,
            "tts_first_audio_ms": (t.first_clip_ms or 0.0) - (t.first_synth_start_ms or 0.0),
            "first_audio_ms": offset + first_audio + held,
            "turn_ms": offset + t.total_ms + held,
            "overhead_ms": ((t.first_synth_start_ms or 0.0) - (t.first_sentence_ms or 0.0))
            + (first_audio - (t.first_clip_ms or first_audio)),
        }
        timeline = [
            Span("end of speech", 0.0, self.eos_ms),
            Span("speech-to-text", PAUSE_MS, PAUSE_MS + asr_ms),
            Span("language model", offset, offset + last_token),
            Span(
                "first synthesis",
                offset + (t.first_synth_start_ms or 0),
                offset + (t.first_clip_ms or 0),
            ),
            Span("playback", offset + first_audio + held, offset + t.total_ms + held),
        ]
        return TurnFigures(values, timeline, reply.text)

    def sequential_turn(self) -> TurnFigures:
        """One turn the original way: whole reply, then whole synthesis, then play."""
        text, asr_ms = self._transcribe()
        offset = self.eos_ms + asr_ms
        start = time.perf_counter()
        first_token: float | None = None
        pieces = []
        for piece in self.chat.stream(self.messages_for(text), self.options, threading.Event()):
            if first_token is None:
                first_token = (time.perf_counter() - start) * 1000
            pieces.append(piece)
        generated = (time.perf_counter() - start) * 1000
        reply = "".join(pieces).strip()
        synth_start = time.perf_counter()
        clip = self.synthesizer.synthesize(speakable(reply)) if self.synthesizer else None
        tts_ms = (time.perf_counter() - synth_start) * 1000
        first_audio = offset + generated + tts_ms
        play_ms = clip.duration * 1000 if clip is not None else 0.0
        if clip is not None:
            TimedSink().play(clip)
        tokens = self.token_count(reply)
        values = {
            "end_of_speech_ms": self.eos_ms,
            "asr_ms": asr_ms,
            "transcript_ready_ms": offset,
            "first_token_ms": first_token or 0.0,
            "tokens_per_s": (tokens - 1) / max(1e-3, (generated - (first_token or 0)) / 1000),
            "first_sentence_ms": generated,
            "tts_first_audio_ms": tts_ms,
            "first_audio_ms": first_audio,
            "turn_ms": first_audio + play_ms,
            "overhead_ms": 0.0,
        }
        timeline = [
            Span("end of speech", 0.0, self.eos_ms),
            Span("speech-to-text", self.eos_ms, offset),
            Span("language model", offset, offset + generated),
            Span("first synthesis", offset + generated, first_audio),
            Span("playback", first_audio, first_audio + play_ms),
        ]
        return TurnFigures(values, timeline, reply)

    def run(
        self, turns: int, on_turn: Callable[[str, int], None] = lambda mode, i: None
    ) -> dict[str, list[TurnFigures]]:
        """A warm-up turn of each kind, then `turns` of each, alternating."""
        self.streaming_turn()
        self.sequential_turn()
        results: dict[str, list[TurnFigures]] = {"streaming": [], "sequential": []}
        for i in range(turns):
            on_turn("streaming", i)
            results["streaming"].append(self.streaming_turn())
            on_turn("sequential", i)
            results["sequential"].append(self.sequential_turn())
        return results


def peak_memory() -> dict[str, float]:
    """Peak resident memory of this process (MB) and peak CUDA memory (MB) when on a GPU."""
    out = {"peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)}
    import sys

    torch = sys.modules.get("torch")
    if torch is not None and torch.cuda.is_available():
        out["peak_cuda_mb"] = round(torch.cuda.max_memory_allocated() / 2**20, 1)
    return out


def machine() -> dict[str, Any]:
    """What the figures were measured on."""
    import os

    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as fh:
            cpu = next(
                line.split(":", 1)[1].strip() for line in fh if line.startswith("model name")
            )
    except (OSError, StopIteration):
        pass
    info: dict[str, Any] = {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "python": platform.python_version(),
    }
    import sys

    torch = sys.modules.get("torch")
    if torch is not None:
        info["torch"] = torch.__version__
        if torch.cuda.is_available():
            info["gpu"] = torch.cuda.get_device_name(0)
    return info


def words_stream(text: str) -> Iterator[str]:
    """`text` as the pieces a tokenizer would stream: each word with its leading space."""
    for i, word in enumerate(text.split(" ")):
        yield word if i == 0 else " " + word
