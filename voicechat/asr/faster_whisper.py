"""faster-whisper (CTranslate2): int8 on CPU, fp16 on CUDA. Needs `voicechat[fast]`."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from faster_whisper import WhisperModel, available_models

from voicechat.asr.base import ClipTranscript, DecodeOptions, looks_like_path
from voicechat.asr.whisper import LOGPROB_THRESHOLD, NO_SPEECH_THRESHOLD
from voicechat.compute import resolve_device
from voicechat.config import AsrConfig
from voicechat.errors import ModelError
from voicechat.hub import hub_reachable
from voicechat.types import AudioClip


class FasterWhisperTranscriber:
    """A CTranslate2 Whisper by name (downloaded from the Hugging Face Hub once) or folder."""

    engine = "faster-whisper"

    def __init__(self, asr: AsrConfig) -> None:
        """asr: model (a name or a CTranslate2 folder) and device."""
        import ctranslate2

        model = asr.model
        self.device = resolve_device(asr.device, ctranslate2.get_cuda_device_count() > 0)
        self.model_name = model
        compute_type = "float16" if self.device == "cuda" else "int8"
        self._model = _load(model, self.device, compute_type)
        self.english_only = not self._model.model.is_multilingual

    def transcribe(self, clip: AudioClip, options: DecodeOptions) -> ClipTranscript:
        """Decode one clip of at most 30 s, never conditioned on earlier text."""
        segments, info = self._model.transcribe(
            clip.samples,
            language="en" if self.english_only else options.language,
            task=options.task,
            beam_size=options.beam_size,
            best_of=options.beam_size,
            temperature=list(options.temperatures),
            condition_on_previous_text=False,
            without_timestamps=not options.timestamps,
            no_speech_threshold=NO_SPEECH_THRESHOLD,
            log_prob_threshold=LOGPROB_THRESHOLD,
            vad_filter=False,
            **({"max_new_tokens": options.max_tokens} if options.max_tokens else {}),
        )
        parts = ((s.start, s.end, s.text) for s in segments)
        return ClipTranscript.of(parts, info.language)


def _load(model: str, device: str, compute_type: str) -> Any:
    path = Path(model).expanduser()
    if path.is_dir():
        if not (path / "model.bin").is_file():
            raise ModelError(f"{model}: not a CTranslate2 Whisper folder (no model.bin)")
        try:
            return WhisperModel(str(path), device=device, compute_type=compute_type)
        except (RuntimeError, ValueError, OSError) as e:
            raise ModelError(f"{model}: cannot load ({e})") from e
    if path.is_file():
        raise ModelError(
            f"{model}: is a file; faster-whisper needs a CTranslate2 folder "
            "(for a .pt checkpoint use --engine whisper)"
        )
    is_hub_id = model.count("/") == 1 and not looks_like_path(model)
    if model not in available_models() and not is_hub_id:
        if looks_like_path(model):
            raise ModelError(f"{model}: no such model folder")
        raise ModelError(
            f"unknown faster-whisper model {model!r}; use one of "
            f"{', '.join(available_models())}, a Hub id or a local folder"
        )
    try:
        try:  # a cached model needs no network
            return WhisperModel(
                model, device=device, compute_type=compute_type, local_files_only=True
            )
        except Exception:
            if not hub_reachable():
                raise
            return WhisperModel(model, device=device, compute_type=compute_type)
    except Exception as e:  # huggingface_hub raises many types when offline
        raise ModelError(
            f"cannot download faster-whisper model {model!r} ({type(e).__name__}); connect to "
            "the internet once to cache it, or set asr.model to a local CTranslate2 folder"
        ) from e
