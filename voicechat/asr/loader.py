"""Building a transcriber and its decode options from the `[asr]` config."""

from __future__ import annotations

from voicechat.asr.base import DecodeOptions, Transcriber
from voicechat.config import AsrConfig
from voicechat.engines import ASR_ENGINES, load_engine
from voicechat.errors import UsageError


def create_transcriber(asr: AsrConfig) -> Transcriber:
    """Load the configured engine and model (downloading a named model once)."""
    factory = load_engine(ASR_ENGINES, "speech-to-text", asr.engine)
    transcriber: Transcriber = factory(asr.model, asr.device)
    return transcriber


def decode_options(asr: AsrConfig, transcriber: Transcriber) -> DecodeOptions:
    """Decode options for file transcription; an English-only model cannot translate."""
    if asr.task == "translate" and transcriber.english_only:
        raise UsageError(
            f"model {asr.model!r} is English-only and cannot translate; "
            "use a multilingual model such as 'small'"
        )
    return DecodeOptions(language=asr.language or None, task=asr.task)
