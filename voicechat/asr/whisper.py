"""openai-whisper (PyTorch): fp16 on CUDA, fp32 on CPU."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from voicechat.asr.base import ClipTranscript, DecodeOptions, looks_like_path
from voicechat.compute import resolve_device
from voicechat.config import AsrConfig
from voicechat.errors import ModelError
from voicechat.types import AudioClip

log = logging.getLogger(__name__)

NO_SPEECH_THRESHOLD = 0.6
"""A segment whose no-speech probability is above this, and whose decode is unsure, is dropped."""
LOGPROB_THRESHOLD = -1.0


class WhisperTranscriber:
    """openai-whisper by model name (downloaded into ~/.cache/whisper once) or `.pt` checkpoint."""

    engine = "whisper"

    def __init__(self, asr: AsrConfig, loaded: Any = None) -> None:
        """asr: model (a name or a .pt file) and device. loaded: an already built
        `whisper.model.Whisper` (random weights, for benchmarks); asr.model then names it."""
        import torch

        self.device = resolve_device(asr.device, torch.cuda.is_available())
        self.model_name = asr.model
        self._model = loaded if loaded is not None else _load(asr.model, self.device)
        self.english_only = not self._model.is_multilingual

    def transcribe(self, clip: AudioClip, options: DecodeOptions) -> ClipTranscript:
        """Decode one clip of at most 30 s, never conditioned on earlier text."""
        language = "en" if self.english_only else options.language
        result = self._model.transcribe(
            clip.samples,
            language=language,
            task=options.task,
            fp16=self.device == "cuda",
            temperature=options.temperatures,
            beam_size=options.beam_size,
            best_of=options.beam_size,
            condition_on_previous_text=False,
            without_timestamps=not options.timestamps,
            no_speech_threshold=NO_SPEECH_THRESHOLD,
            logprob_threshold=LOGPROB_THRESHOLD,
            verbose=None,
            **({"sample_len": options.max_tokens} if options.max_tokens else {}),
        )
        parts = (
            (s["start"], s["end"], s["text"], s.get("avg_logprob")) for s in result["segments"]
        )
        return ClipTranscript.of(parts, result.get("language") or "en")


def _load(model: str, device: str) -> Any:
    import whisper

    path = Path(model).expanduser()
    if path.is_dir():
        raise ModelError(
            f"{model}: is a folder; openai-whisper needs a .pt checkpoint "
            "(for a CTranslate2 folder use --engine faster-whisper)"
        )
    if path.is_file():
        try:
            return whisper.load_model(str(path), device=device)
        except Exception as e:
            raise ModelError(f"{model}: not a usable Whisper checkpoint ({e})") from e
    if looks_like_path(model):
        raise ModelError(f"{model}: no such model file")
    names = whisper.available_models()
    if model not in names:
        raise ModelError(
            f"unknown Whisper model {model!r}; use one of {', '.join(names)} or a .pt file path"
        )
    try:
        return whisper.load_model(model, device=device)
    except (OSError, RuntimeError) as e:
        raise ModelError(
            f"cannot download Whisper model {model!r} ({e}); connect to the internet once to "
            "cache it in ~/.cache/whisper, or set asr.model to a local .pt file"
        ) from e
