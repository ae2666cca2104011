"""`voicechat bench`: every stage of a voice turn measured, streaming against sequential."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from voicechat.cli.app import app, console, load_models, reports_errors, settings
from voicechat.errors import UsageError

if TYPE_CHECKING:
    from voicechat.config import Config
    from voicechat.models import Models
    from voicechat.types import AudioClip

QUESTION = "What is the capital of France?"
QUESTION_TOKENS = 10
"""Whisper tokens of QUESTION (with punctuation), the decode length under random weights."""
EXTRA_SILENCE_S = 1.0
"""Seconds of silence after the question beyond the longest wait that can end a take (only
what the take needs is played)."""


@app.command()
@reports_errors
def bench(
    audio: Annotated[
        Path | None,
        typer.Option(
            "--audio", metavar="FILE", help="A recorded question (default: one spoken by piper)."
        ),
    ] = None,
    turns: Annotated[
        int, typer.Option("--turns", "-n", min=1, metavar="N", help="Measured turns of each kind.")
    ] = 5,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
    save: Annotated[
        Path | None,
        typer.Option(
            "--save", metavar="FILE", help="Also write the report as JSON to FILE (kept whole)."
        ),
    ] = None,
    random_weights: Annotated[
        bool,
        typer.Option(
            "--random-weights",
            help="Phi-3-mini and Whisper shapes with random weights (no download needed).",
        ),
    ] = False,
    reply_tokens: Annotated[
        int, typer.Option(help="Tokens per reply with --random-weights.", min=4, metavar="N")
    ] = 32,
    random_layers: Annotated[
        int,
        typer.Option(
            help="Phi-3 layers with --random-weights (32 is Phi-3-mini; fewer for a quick check).",
            min=1,
            max=32,
            metavar="N",
        ),
    ] = 32,
) -> None:
    """Measure a voice turn stage by stage: p50/p90 for streaming and for the sequential way.

    Runs N turns through the configured engines without a microphone (a warm-up turn first),
    reports end of speech -> first audio and every stage, draws one turn's timeline, and
    prints the machine and engines with the figures.
    """
    from voicechat.bench.runner import Bench
    from voicechat.end_of_turn import check_turn_model, make_judge
    from voicechat.types import Message

    config = settings().config
    question = _question_clip(config, audio, save)  # clear errors before any model loads
    check_turn_model(config.audio)
    if random_weights:
        config = _random_weights_config(config, reply_tokens, random_layers)
    models = load_models(config)
    chat, hear = _random_ears(models) if random_weights else (models.chat, models.hear)
    assert hear is not None

    def token_count(text: str) -> int:
        if random_weights:
            return reply_tokens
        empty = chat.count_tokens([Message("assistant", "")])
        return max(1, int(chat.count_tokens([Message("assistant", text)])) - int(empty))

    # A random model's words mean nothing, so with random weights the judge is given the
    # fixed reply, which scores none: it listens to the voice alone (and is not calibrated).
    judge = make_judge(config.audio, chat if random_weights else models.chat, console().notice)
    with (
        Bench(config, hear, chat, models.synthesizer, question, token_count, judge) as runner,
        console().working(f"Measuring {turns} turns of each kind after a warm-up…"),
    ):
        results = runner.run(turns)
    streaming, sequential = results["streaming"], results["sequential"]
    report = _report(config, models, chat, judge, runner, results, turns, random_weights)
    if as_json:
        console().print_json(report)
    else:
        from voicechat.cli.bench_report import render_bench_report

        render_bench_report(console(), report, streaming[-1].timeline, sequential[-1].timeline)
    if save is not None:  # after the figures are shown, so a failed write loses none of them
        _save_report(report, save)


def _question_clip(config: Config, audio: Path | None, save: Path | None) -> AudioClip:
    """The question each turn hears: the recording (or piper's), then silence past the
    longest wait for the end of the turn. save: checked to be writable first."""
    import numpy as np

    from voicechat.audio.io import load_audio
    from voicechat.audio.takes import UNFINISHED_WAIT
    from voicechat.bench.runner import speech_end_sample
    from voicechat.types import WHISPER_SAMPLE_RATE, AudioClip

    if save is not None:
        _check_save(save)
    clip = load_audio(audio) if audio else _spoken_question(config.tts)
    longest_wait_s = config.audio.silence_ms / 1000 * UNFINISHED_WAIT + EXTRA_SILENCE_S
    silence = np.zeros(int(longest_wait_s * WHISPER_SAMPLE_RATE), dtype=np.float32)
    question = AudioClip(np.concatenate([clip.samples, silence]), WHISPER_SAMPLE_RATE)
    speech_end_sample(question, config.audio.silence_ms)
    return question


def _random_ears(models: Models) -> tuple[Any, Callable[[AudioClip], str]]:
    """With random weights: a chat model that gives a fixed reply, and a transcriber that
    decodes a question's length of noise and hands on the question itself."""
    from voicechat.asr.longform import TakeTranscriber
    from voicechat.bench.random_weights import FixedReply

    assert models.transcriber is not None and models.hear is not None
    decode = TakeTranscriber(
        models.transcriber,
        models.hear.vad,
        replace(models.hear.options, max_tokens=QUESTION_TOKENS),
    )

    def hear_question(take: AudioClip) -> str:
        decode(take)
        return QUESTION

    return FixedReply(models.chat), hear_question


def _report(
    config: Config,
    models: Models,
    chat: Any,
    judge: Any,
    runner: Any,
    results: dict[str, Any],
    turns: int,
    random_weights: bool,
) -> dict[str, Any]:
    """The figures of a bench run, as shown and saved."""
    from voicechat.bench import figures

    streaming, sequential = results["streaming"], results["sequential"]
    transcriber, synthesizer = models.transcriber, models.synthesizer
    assert transcriber is not None
    report: dict[str, Any] = {
        "streaming": figures.summarise(streaming),
        "sequential": figures.summarise(sequential),
        "first_audio_ratio": round(
            figures.percentile([t.values["first_audio_ms"] for t in streaming], 50)
            / figures.percentile([t.values["first_audio_ms"] for t in sequential], 50),
            3,
        ),
        "turns": turns,
        "random_weights": random_weights,
        "machine": figures.machine(),
        "engines": {
            "asr": f"{config.asr.engine} {transcriber.model_name} on {transcriber.device}",
            "llm": f"{chat.engine} {chat.model_name} on {chat.device}"
            + _llm_details(config, models.chat),
            "tts": synthesizer.engine if synthesizer else "none",
            "playback": "timed sink (real-time, no device)",
            "end of turn": f"smart ({judge.signals})"
            if judge is not None
            else f"silence {config.audio.silence_ms} ms",
        },
        "end_of_turn": figures.verdict_costs(runner.verdicts),
        "continued": figures.restart_figures(runner.restarts, turns + 1),
        "memory": figures.peak_memory(),
        "reply": streaming[-1].reply,
        "said": {
            "streaming": [t.said for t in streaming],
            "sequential": [t.said for t in sequential],
        },
    }
    if judge is not None and "words" in judge.signals:
        report["engines"]["end-of-turn words"] = (
            f"unfinished below {judge.words_threshold:.3f}, finished from "
            f"{judge.words_finished:.3f}, calibrated to {chat.model_name}"
        )
    return report


def _check_save(path: Path) -> None:
    """A clear error now, before minutes of measuring, where `path` cannot be a new file."""
    if path.is_dir():
        raise UsageError(f"--save {path}: is a folder; name a file")
    if not path.parent.is_dir():
        raise UsageError(f"--save {path}: no folder {path.parent}")


def _save_report(report: dict[str, Any], path: Path) -> None:
    """Write `report` to `path` as JSON, replacing it only once written whole."""
    import json

    from voicechat.fileio import atomic_text_writer

    try:
        with atomic_text_writer(path) as out:
            out.write(json.dumps(report, ensure_ascii=False, indent=2) + "\n")
    except OSError as e:
        raise UsageError(f"--save {path}: cannot write ({e.strerror or e})") from None


def _llm_details(config: Any, model: Any) -> str:
    """ " (bfloat16, int4, compiled)": what sets the language model's speed."""
    details = [str(getattr(model, "dtype", ""))]
    if config.llm.quantization != "none":
        details.append(config.llm.quantization)
    if getattr(model, "compiled", False):
        details.append("compiled")
    kept = [d for d in details if d]
    return f" ({', '.join(kept)})" if kept else ""


def _random_weights_config(config: Any, reply_tokens: int, layers: int) -> Any:
    """`config` with random-weight checkpoints of the configured shapes as its models."""
    from voicechat.bench.random_weights import random_phi3, random_whisper

    if config.asr.engine != "whisper":
        raise UsageError(
            "--random-weights builds openai-whisper models; set asr.engine = 'whisper'"
        )
    with console().working("Building (once) random-weight checkpoints of the configured shapes…"):
        whisper = random_whisper(Path(config.asr.model).name.removesuffix(".pt"))
        phi3 = random_phi3(layers)
    return replace(
        config,
        asr=replace(config.asr, model=str(whisper)),
        llm=replace(config.llm, model=str(phi3), max_new_tokens=reply_tokens),
    )


def _spoken_question(tts: Any) -> Any:
    """The default question, spoken by piper (`tts.piper_voice`, or the offline extra's
    voice) without its random variation, so every run hears the same audio, resampled to
    16 kHz."""
    import soxr

    from voicechat.tts.base import synthesize
    from voicechat.tts.piper import PiperSynthesizer
    from voicechat.types import WHISPER_SAMPLE_RATE, AudioClip

    spoken = synthesize(PiperSynthesizer(tts, steady=True), QUESTION)
    samples = soxr.resample(spoken.samples, spoken.sample_rate, WHISPER_SAMPLE_RATE)
    return AudioClip(samples.astype("float32"), WHISPER_SAMPLE_RATE)
