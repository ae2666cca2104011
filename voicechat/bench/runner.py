"""Measured turns: a recorded question through the same code `voicechat talk` runs.

Each turn plays the question into the real take recorder as a microphone would (in real
time, then silence), so the end-of-take rule (the smart end of turn too, when configured),
the early start at a pause and `run_turn` are the ones a person gets. Streaming is that
path; the sequential baseline is the same take and `run_turn` without the early start (so
the silence rule ends it) and with streaming switched off (whole reply, then whole
synthesis, then play), as the original demo worked. Both run on the same models, input and
machine, so their ratio is a fair measure of the streaming gain.

Playback goes to a `TimedSink`, which takes as long as a device would: the figures do not
depend on having speakers. Every turn starts a fresh session, so each one answers the same
prompt.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from voicechat.audio.endpoint import SpeechTracker, end_of_take_frame
from voicechat.audio.playback import TimedSink
from voicechat.audio.signal import VAD_FRAME_SAMPLES
from voicechat.audio.takes import TakeRecorder
from voicechat.audio.vad import StreamingVad
from voicechat.bench.figures import Span, TurnFigures
from voicechat.bench.replay import ReplayedMicrophone
from voicechat.bench.spoken import Restart, answer_spoken
from voicechat.config import Config
from voicechat.conversation import Conversation, Hear
from voicechat.early_start import EarlyStart
from voicechat.end_of_turn import TurnJudge, Verdict
from voicechat.errors import UsageError
from voicechat.llm.base import ChatModel
from voicechat.marks import Stage
from voicechat.session import Session, SessionStore
from voicechat.tts.base import Synthesizer
from voicechat.turn import TurnListener, TurnResult
from voicechat.types import AudioClip


class TimedHearing:
    """`hear` that notes when each call started and ended (time.monotonic())."""

    def __init__(self, hear: Hear) -> None:
        self._hear = hear
        self.started_at = 0.0
        self.ended_at = 0.0

    def __call__(self, clip: AudioClip) -> str:
        started = time.monotonic()
        text = self._hear(clip)
        self.started_at, self.ended_at = started, time.monotonic()
        return text


def speech_end_sample(question: AudioClip, silence_ms: int) -> int:
    """Where the question's last speech ends (samples); a recording the silence rule would
    never end is a usage error. With pauses inside, this is after the last of them, so a
    take that ends at one of them ends before the end of speech (negative: cut off)."""
    vad = StreamingVad()
    vad.reset()
    probabilities = vad.feed(question.samples)
    if end_of_take_frame(probabilities, silence_ms) is None:
        raise UsageError("the recording has no speech followed by enough silence to end a take")
    tracker = SpeechTracker()
    tracker.update(probabilities)
    assert tracker.last_speech_frame is not None
    return (tracker.last_speech_frame + 1) * VAD_FRAME_SAMPLES


class Bench:
    """Runs measured turns on loaded models.

    question: the recorded question (16 kHz), with enough silence after it to end a take.
    hear: the conversation's take transcriber.
    token_count: tokens in a reply's text, for tokens per second.
    """

    def __init__(
        self,
        config: Config,
        hear: Hear,
        chat: ChatModel,
        synthesizer: Synthesizer | None,
        question: AudioClip,
        token_count: Callable[[str], int],
        judge: TurnJudge | None = None,
    ) -> None:
        self.config = config
        self.hearing = TimedHearing(hear)
        self.chat = chat
        self.synthesizer = synthesizer
        self.question = question
        self.token_count = token_count
        self.judge = judge
        self.verdicts: list[Verdict] = []
        """The smart end of turn's judgements in the streaming turns."""
        self.vad = StreamingVad()
        self.speech_end = speech_end_sample(question, config.audio.silence_ms)
        self.restarts: list[Restart] = []
        """Replies begun at a pause of the streaming turns, then dropped as the question went
        on (`audio.resume_s`)."""
        self._sessions = tempfile.TemporaryDirectory(prefix="voicechat-bench-")
        self._store = SessionStore(Path(self._sessions.name))
        self._turns = 0

    def close(self) -> None:
        """Remove the turns' session files."""
        self._sessions.cleanup()

    def __enter__(self) -> Bench:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def turn(self, streaming: bool) -> TurnFigures:
        """One measured turn, the way `talk` runs it (streaming) or the original way."""
        self._turns += 1
        conversation = Conversation(
            llm=self.config.llm,
            model=self.chat,
            synthesizer=self.synthesizer,
            speaker=TimedSink(),
            store=self._store,
            session=Session(f"turn-{self._turns}"),
            hear=self.hearing,
        )
        listener = TurnListener()
        mic = ReplayedMicrophone(self.question)
        audio = self.config.audio
        recorder = TakeRecorder(mic, self.vad, audio.silence_ms, audio.max_record_s)
        early = EarlyStart.of(conversation, listener, self.judge, recorder.judged)
        try:
            spoken = answer_spoken(
                conversation, recorder, early, listener, audio.resume_s, streaming=streaming
            )
        finally:
            early.shutdown()
            if streaming:
                self.verdicts.extend(early.verdicts)
        take, result = spoken.take, spoken.result
        if streaming:
            self.restarts.extend(spoken.restarts)
        if result.reply is None:
            raise UsageError("the question was heard as no words; give a clearer recording")
        speech_end_at = mic.time_at(self.speech_end)
        return self._figures(result, (take.ended_at - speech_end_at) * 1000, speech_end_at)

    def _figures(self, result: TurnResult, eos_ms: float, speech_end_at: float) -> TurnFigures:
        """Measures from one turn; the turn's timings count from the end of the take, which
        is `eos_ms` after the end of speech."""
        assert result.reply is not None
        marks = result.timings.marks
        take_end = marks.start

        def at(stage: Stage, default: float = take_end) -> float:
            """time.monotonic() of `stage`, or `default` where it never happened."""
            found = marks.at(stage)
            return default if found is None else found

        def ms(when: float) -> float:
            """Milliseconds from the end of speech."""
            return (when - speech_end_at) * 1000

        reply_start = at(Stage.REPLY_START)
        first_token, last_token = (
            at(Stage.FIRST_TOKEN, reply_start),
            at(Stage.LAST_TOKEN, reply_start),
        )
        end = at(Stage.END)
        first_audio = at(Stage.FIRST_AUDIO, end)
        first_clip = at(Stage.FIRST_CLIP, first_audio)
        tokens = self.token_count(result.reply.text)
        heard_from = ms(self.hearing.started_at)
        heard_at = ms(self.hearing.ended_at)
        values = {
            "end_of_speech_ms": eos_ms,
            "asr_ms": heard_at - heard_from,
            "transcript_ready_ms": heard_at,
            "first_token_ms": (first_token - reply_start) * 1000,
            "tokens_per_s": (tokens - 1) / max(1e-3, last_token - first_token),
            "first_sentence_ms": (at(Stage.FIRST_SENTENCE, reply_start) - reply_start) * 1000,
            "tts_first_audio_ms": (at(Stage.FIRST_CLIP) - at(Stage.FIRST_SYNTH_START)) * 1000,
            "first_audio_ms": ms(first_audio),
            "turn_ms": ms(end),
            "overhead_ms": (at(Stage.FIRST_SYNTH_START) - at(Stage.FIRST_SENTENCE)) * 1000
            + (first_audio - max(first_clip, take_end)) * 1000,
        }
        timeline = [
            Span("end of speech", 0.0, eos_ms),
            Span("speech-to-text", heard_from, heard_at),
            Span("language model", ms(reply_start), ms(last_token)),
            Span("first synthesis", ms(at(Stage.FIRST_SYNTH_START)), ms(at(Stage.FIRST_CLIP))),
            Span("playback", ms(first_audio), ms(end)),
        ]
        return TurnFigures(values, timeline, result.reply.text, result.said)

    def run(
        self, turns: int, on_turn: Callable[[str, int], None] = lambda mode, i: None
    ) -> dict[str, list[TurnFigures]]:
        """A warm-up turn of each kind, then `turns` of each, alternating."""
        self.turn(streaming=True)
        self.turn(streaming=False)
        results: dict[str, list[TurnFigures]] = {"streaming": [], "sequential": []}
        for i in range(turns):
            on_turn("streaming", i)
            results["streaming"].append(self.turn(streaming=True))
            on_turn("sequential", i)
            results["sequential"].append(self.turn(streaming=False))
        return results
