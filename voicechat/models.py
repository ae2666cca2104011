"""Loading every model a conversation needs, in parallel, and warming each one up.

Speech-to-text, the language model and the voice load in separate threads (their heavy work
releases the GIL), then each runs once on a dummy input, so the first turn is as fast as the
tenth: kernels are compiled, caches allocated, and a remote server or voice is reached once.
"""

from __future__ import annotations

import concurrent.futures
import threading
from collections.abc import Callable
from dataclasses import dataclass

from voicechat.asr.base import Transcriber, take_options
from voicechat.asr.longform import TakeTranscriber
from voicechat.audio.vad import VoiceActivityDetector
from voicechat.config import Config
from voicechat.llm.base import ChatModel, GenerationOptions
from voicechat.tts.base import Synthesizer, synthesize
from voicechat.types import WHISPER_SAMPLE_RATE, AudioClip, Message

STAGES = ("speech-to-text", "language model", "voice")


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
    from voicechat.engines import create_chat_model, create_synthesizer, create_transcriber

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
            options = take_options(config.asr.language or None, config.asr.task)
            hear = TakeTranscriber(transcriber, VoiceActivityDetector(), options)
        return Models(
            transcriber,
            llm_job.result(),
            tts_job.result() if tts_job is not None else None,
            hear,
        )
