"""`voicechat bench`: every stage of a voice turn measured, streaming against sequential."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Annotated, Any

import typer

from voicechat.cli.app import app, reports_errors, settings, ui
from voicechat.errors import UsageError

QUESTION = "What is the capital of France?"
QUESTION_TOKENS = 10
"""Whisper tokens of QUESTION (with punctuation), the decode length under random weights."""
TRAILING_SILENCE_S = 1.5


@app.command()
@reports_errors
def bench(
    audio: Annotated[
        Path | None,
        typer.Option("--audio", help="A recorded question (default: one spoken by piper)."),
    ] = None,
    turns: Annotated[
        int, typer.Option("--turns", "-n", min=1, help="Measured turns of each kind.")
    ] = 5,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
    random_weights: Annotated[
        bool,
        typer.Option(
            "--random-weights",
            help="Phi-3-mini and Whisper shapes with random weights (no download needed).",
        ),
    ] = False,
    reply_tokens: Annotated[
        int, typer.Option(help="Tokens per reply with --random-weights.", min=4)
    ] = 32,
) -> None:
    """Measure a voice turn stage by stage: p50/p90 for streaming and for the sequential way.

    Runs N turns through the configured engines without a microphone (a warm-up turn first),
    reports end of speech -> first audio and every stage, draws one turn's timeline, and
    prints the machine and engines with the figures.
    """
    import numpy as np

    from voicechat import bench as b
    from voicechat.audio.io import load_audio
    from voicechat.llm.loader import generation_options
    from voicechat.types import WHISPER_SAMPLE_RATE, AudioClip, Message

    config = settings().config
    clip = load_audio(audio) if audio else _spoken_question()
    silence = np.zeros(int(TRAILING_SILENCE_S * WHISPER_SAMPLE_RATE), dtype=np.float32)
    question = AudioClip(np.concatenate([clip.samples, silence]), WHISPER_SAMPLE_RATE)
    eos_ms = b.end_of_speech_delay_ms(question, config.audio.silence_ms)  # checks for speech

    if random_weights:
        from voicechat.random_models import RandomPhi3, random_whisper
        from voicechat.tts.loader import create_synthesizer

        if config.asr.engine != "whisper":
            raise UsageError(
                "--random-weights builds openai-whisper models; set asr.engine = 'whisper'"
            )
        with ui.working("Building random-weight models…"):
            transcriber = random_whisper(Path(config.asr.model).stem, config.asr.device)
            chat: Any = RandomPhi3(config.llm.device, config.llm.dtype, reply_tokens)
            synthesizer = create_synthesizer(config.tts, ui.notice)

        def token_count(text: str) -> int:
            return reply_tokens

    else:
        models = ui.load_models(config)
        transcriber, chat, synthesizer = models.transcriber, models.chat, models.synthesizer

        def token_count(text: str) -> int:
            empty = chat.count_tokens([Message("assistant", "")])
            return max(1, int(chat.count_tokens([Message("assistant", text)])) - int(empty))

    def messages_for(text: str) -> list[Message]:
        system = [Message("system", config.llm.system_prompt)] if config.llm.system_prompt else []
        return [*system, Message("user", text)]

    options = generation_options(config.llm)
    if random_weights:
        options = replace(options, max_new_tokens=reply_tokens)
    runner = b.Bench(
        transcriber,
        chat,
        synthesizer,
        question,
        eos_ms,
        options,
        messages_for,
        token_count,
    )
    if random_weights:
        # Random Whisper weights decode noise until the token limit: stop at a question's length
        # and hand the model the question itself.
        runner.transcript_override = QUESTION
        runner.asr_options = replace(runner.asr_options, max_tokens=QUESTION_TOKENS)
    with ui.working(f"Measuring {turns} turns of each kind after a warm-up…"):
        results = runner.run(turns)
    report = {
        "streaming": b.summarise(results["streaming"]),
        "sequential": b.summarise(results["sequential"]),
        "first_audio_ratio": round(
            b.percentile([t.values["first_audio_ms"] for t in results["streaming"]], 50)
            / b.percentile([t.values["first_audio_ms"] for t in results["sequential"]], 50),
            3,
        ),
        "turns": turns,
        "random_weights": random_weights,
        "machine": b.machine(),
        "engines": {
            "asr": f"{config.asr.engine} {transcriber.model_name} on {transcriber.device}",
            "llm": f"{chat.engine} {chat.model_name} on {chat.device}",
            "tts": synthesizer.engine if synthesizer else "none",
            "playback": "timed sink (real-time, no device)",
        },
        "memory": b.peak_memory(),
        "reply": results["streaming"][-1].reply,
    }
    if as_json:
        ui.print_json(report)
        return
    ui.bench_report(report, results["streaming"][-1].timeline, results["sequential"][-1].timeline)


def _spoken_question() -> Any:
    """The default question, spoken by the offline voice and resampled to 16 kHz."""
    import soxr

    from voicechat.tts.piper import PiperSynthesizer
    from voicechat.types import WHISPER_SAMPLE_RATE, AudioClip

    spoken = PiperSynthesizer().synthesize(QUESTION)
    samples = soxr.resample(spoken.samples, spoken.sample_rate, WHISPER_SAMPLE_RATE)
    return AudioClip(samples.astype("float32"), WHISPER_SAMPLE_RATE)
