"""faster-whisper (CTranslate2): int8 on CPU, fp16 on CUDA. Needs `voicechat[fast]`."""

from __future__ import annotations

import logging
from dataclasses import replace
from pathlib import Path
from typing import Any

from faster_whisper import WhisperModel, available_models

from voicechat.asr.base import ClipTranscript, DecodeOptions, looks_like_path, window_frames
from voicechat.asr.whisper import LOGPROB_THRESHOLD, NO_SPEECH_THRESHOLD
from voicechat.compute import resolve_device
from voicechat.config import AsrConfig
from voicechat.errors import ModelError
from voicechat.hub import hub_reachable
from voicechat.types import AudioClip
from voicechat.words import words

log = logging.getLogger(__name__)

TOKENS_PER_S = 8.0
"""Tokens per second of audio a decode in a shortened window may reach before it is taken
for a runaway (fast speech is about 4 words, 5-6 tokens, a second)."""
TOKENS_FLOOR = 12
"""Tokens any clip may have, however short, on top of TOKENS_PER_S."""


def repeats_itself(text: str) -> bool:
    """Whether `text` says the same two or more words twice in a row, as a runaway decode
    does ("Good morning. Good morning."); punctuation and case ignored."""
    said = words(text)
    for size in range(2, len(said) // 2 + 1):
        for i in range(len(said) - 2 * size + 1):
            if said[i : i + size] == said[i + size : i + 2 * size]:
                return True
    return False


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
        language = "en" if self.english_only else options.language
        frames = window_frames(options, len(clip.samples))
        if frames is not None and language is not None:
            heard = self._transcribe_in_window(clip, options, language, frames)
            if heard is not None:
                return heard
            log.debug("a decode in %d frames left to the full window", frames)
            options = replace(options, window_s=None)
        segments, info = self._model.transcribe(
            clip.samples,
            language=language,
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
        parts = ((s.start, s.end, s.text, s.avg_logprob) for s in segments)
        return ClipTranscript.of(parts, info.language)

    def _transcribe_in_window(
        self, clip: AudioClip, options: DecodeOptions, language: str, frames: int
    ) -> ClipTranscript | None:
        """Decode `clip` with the encoder seeing `frames` mel frames (10 ms each) instead of
        Whisper's 3000: the clip padded with silence to that length, as Whisper pads a short
        clip to 30 s. (Padding the features with zeros instead, as faster-whisper does for the
        full window, made tiny.en repeat itself to the token limit in windows of 10 s and
        less.) faster-whisper's own `transcribe` always encodes 3000 frames, so this calls the
        CTranslate2 model under it with what `transcribe` would pass (greedy or beam search at
        temperature 0, no timestamps).

        None, to be decoded in the full window, when the clip may be no speech (Whisper's
        no-speech probability above NO_SPEECH_THRESHOLD: the full window's decode says
        whether it is, as `transcribe` would), or when the decode may have run away: in a
        window much longer than the speech, Whisper now and then repeats what it heard ("Flip
        a coin. Flip a coin. Flip a coin"), so a decode that reaches TOKENS_PER_S tokens per
        second of audio, or says the same words twice in a row, is left to the full window (a
        person who did repeat themselves costs one more decode, nothing else)."""
        import numpy as np
        from faster_whisper.tokenizer import Tokenizer
        from faster_whisper.transcribe import get_suppressed_tokens

        model = self._model
        extractor = model.feature_extractor
        silence = frames * extractor.hop_length - len(clip.samples)
        features = extractor(clip.samples, padding=max(silence, 0))[:, :frames]
        tokenizer = Tokenizer(
            model.hf_tokenizer, model.model.is_multilingual, task=options.task, language=language
        )
        prompt = [*tokenizer.sot_sequence, tokenizer.no_timestamps]
        seconds = len(clip.samples) / clip.sample_rate
        most = int(TOKENS_FLOOR + TOKENS_PER_S * seconds)
        new_tokens = min(options.max_tokens or most, most)
        result = model.model.generate(
            model.encode(np.ascontiguousarray(features)),
            [prompt],
            beam_size=options.beam_size,
            max_length=min(model.max_length, len(prompt) + new_tokens),
            return_scores=True,
            return_no_speech_prob=True,
            suppress_blank=True,
            suppress_tokens=get_suppressed_tokens(tokenizer, [-1]),
        )[0]
        tokens = result.sequences_ids[0]
        text = tokenizer.decode(tokens)
        if len(tokens) >= new_tokens - 1 or repeats_itself(text):
            return None
        if result.no_speech_prob > NO_SPEECH_THRESHOLD:
            return None
        average_logprob = result.scores[0] * len(tokens) / (len(tokens) + 1)  # as `transcribe`
        return ClipTranscript.of([(0.0, seconds, text, average_logprob)], language)


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
