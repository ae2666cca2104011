"""Building engines from config (the one place the two meet), and loading every model a
conversation needs in parallel, each warmed up.

Speech-to-text, the language model and the voice load in separate threads (their heavy work
releases the GIL), then each runs once on a dummy input, so the first turn is as fast as the
tenth: kernels are compiled, caches allocated, and a remote server or voice is reached once.
"""

from __future__ import annotations

import concurrent.futures
import threading
from collections.abc import Callable
from dataclasses import dataclass, replace

from voicechat.asr.base import DecodeOptions, Transcriber, take_options
from voicechat.asr.longform import TakeTranscriber
from voicechat.audio.vad import VoiceActivityDetector
from voicechat.config import AsrConfig, Config, LlmConfig, TtsConfig
from voicechat.engines import ASR_ENGINES, LLM_ENGINES, TTS_ENGINES, load_engine
from voicechat.errors import UsageError
from voicechat.llm.base import ChatModel, GenerationOptions
from voicechat.tts.base import Synthesizer, synthesize
from voicechat.types import WHISPER_SAMPLE_RATE, AudioClip, Message

STAGES = ("speech-to-text", "language model", "voice")


def create_transcriber(asr: AsrConfig) -> Transcriber:
    """The `[asr]` engine and model (a named model is downloaded once)."""
    transcriber: Transcriber = load_engine(ASR_ENGINES, "speech-to-text", asr.engine)(asr)
    return transcriber


def create_chat_model(llm: LlmConfig) -> ChatModel:
    """The `[llm]` engine and model (a Hub model is downloaded once)."""
    model: ChatModel = load_engine(LLM_ENGINES, "language model", llm.engine)(llm)
    return model


def create_synthesizer(tts: TtsConfig, on_notice: Callable[[str], None]) -> Synthesizer | None:
    """The `[tts]` voice (None for "none"); an online one falls back to `tts.fallback` when
    it fails, and `on_notice` is told so once."""
    from voicechat.tts.fallback import FallbackSynthesizer

    if tts.engine == "none":
        return None
    primary: Synthesizer = load_engine(TTS_ENGINES, "text-to-speech", tts.engine)(tts)
    if not TTS_ENGINES[tts.engine].online or tts.fallback == "none":
        return primary
    fallback = replace(tts, engine=tts.fallback)

    def make_fallback() -> Synthesizer:
        made: Synthesizer = load_engine(TTS_ENGINES, "text-to-speech", fallback.engine)(fallback)
        return made

    return FallbackSynthesizer(primary, make_fallback, on_notice)


def decode_options(asr: AsrConfig, transcriber: Transcriber) -> DecodeOptions:
    """Decode options for file transcription; an English-only model cannot translate."""
    if asr.task == "translate" and transcriber.english_only:
        raise UsageError(
            f"model {asr.model!r} is English-only and cannot translate; "
            "use a multilingual model such as 'small'"
        )
    return DecodeOptions(language=asr.language or None, task=asr.task)


@dataclass(frozen=True)
class Models:
    """What a conversation runs on.

    transcriber, hear: None when only text comes in. synthesizer: None for `tts.engine = "none"`
    (or when no voice was asked for).
    hear: a take's text, decoded the way every spoken turn is (one decode at a time).
    """

    transcriber: Transcriber | None
    chat: ChatModel
    synthesizer: Synthesizer | None
    hear: TakeTranscriber | None


def _warm_transcriber(transcriber: Transcriber) -> None:
    import numpy as np

    noise = np.random.default_rng(0).normal(0, 0.01, WHISPER_SAMPLE_RATE).astype(np.float32)
    transcriber.transcribe(AudioClip(noise, WHISPER_SAMPLE_RATE), take_options())


def _warm_chat(chat: ChatModel) -> None:
    options = GenerationOptions(max_new_tokens=2, temperature=0.0)
    for _ in chat.stream([Message("user", "Hello")], options, threading.Event()):
        pass


def load_models(
    config: Config,
    on_status: Callable[[str, str], None],
    on_notice: Callable[[str], None],
    stages: tuple[str, ...] = STAGES,
    warm_up: bool = True,
) -> Models:
    """Load and warm up the configured engines of `stages` in parallel.

    on_status(stage, state): stage is one of STAGES, state "loading", "warming up" (for a
    compiled language model, "compiling (once)…": the compile is paid here, not in a turn)
    or "ready".
    on_notice: for notices from the voice (an Edge fallback found while warming up).
    warm_up: run each once first (for a conversation; a single turn gains nothing from it).
    """
    llm_built = threading.Event()

    def asr() -> Transcriber:
        on_status("speech-to-text", "loading")
        if config.asr.engine == "whisper":
            # transformers sets torch's default dtype, for the whole process, while it builds
            # a model: openai-whisper built (or run) then takes bf16 or fp16 parameters and
            # tensors and loses the precision of its weights. So it waits for that moment to
            # pass; the warm-ups, and the voice's loading, still overlap.
            llm_built.wait()
        transcriber = create_transcriber(config.asr)
        if warm_up:
            on_status("speech-to-text", "warming up")
            _warm_transcriber(transcriber)
        on_status("speech-to-text", "ready")
        return transcriber

    def llm() -> ChatModel:
        on_status("language model", "loading")
        try:
            chat = create_chat_model(config.llm)
        finally:
            llm_built.set()
        if warm_up:
            compiling = config.llm.engine == "transformers" and config.llm.compile
            on_status("language model", "compiling (once)…" if compiling else "warming up")
            _warm_chat(chat)
        on_status("language model", "ready")
        return chat

    def tts() -> Synthesizer | None:
        on_status("voice", "loading")
        synthesizer = create_synthesizer(config.tts, on_notice)
        if synthesizer is not None and warm_up:
            on_status("voice", "warming up")
            synthesize(synthesizer, "Ready.")
        on_status("voice", "ready")
        return synthesizer

    if "speech-to-text" not in stages:
        llm_built.set()
    with concurrent.futures.ThreadPoolExecutor(max_workers=3) as pool:
        llm_job = pool.submit(llm)
        asr_job = pool.submit(asr) if "speech-to-text" in stages else None
        tts_job = pool.submit(tts) if "voice" in stages else None
        transcriber = asr_job.result() if asr_job is not None else None
        hear = None
        if transcriber is not None:
            options = take_options(
                config.asr.language or None, config.asr.task, config.asr.take_window_s
            )
            hear = TakeTranscriber(transcriber, VoiceActivityDetector(), options)
        return Models(
            transcriber,
            llm_job.result(),
            tts_job.result() if tts_job is not None else None,
            hear,
        )
