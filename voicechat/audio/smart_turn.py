"""Smart Turn v3: whether a take sounds finished, from the voice alone (intonation, pace).

An 8 M-parameter Whisper-tiny encoder with a classifier (BSD-2-Clause), run as int8 ONNX on
the CPU in about 12 ms: the last 8 s of the take as Whisper log-mel features (transformers'
own `WhisperFeatureExtractor`) in, the probability that the speaker has finished out.

Its weights are on the Hugging Face Hub (pipecat-ai/smart-turn-v3) and ship inside the
`pipecat-ai` wheel. That package is a whole voice-agent framework that pins soundfile, soxr
and protobuf below the versions voicechat uses, so voicechat does not depend on it:
`audio.turn_model` names the ONNX file, and "" finds the one in an installed pipecat-ai, else
the Hub's (downloaded once, 8.7 MB, then kept in the Hub's cache).
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

from voicechat.errors import ModelError
from voicechat.types import WHISPER_SAMPLE_RATE, AudioClip

WINDOW_S = 8
"""Seconds of audio the model hears: the end of the take, zero-padded at the start."""
PIPECAT_MODEL = Path("audio/turn/smart_turn/data/smart-turn-v3.2-cpu.onnx")
"""Where the model lies inside the `pipecat` package."""
HUB_REPO = "pipecat-ai/smart-turn-v3"
HUB_FILE = "smart-turn-v3.2-cpu.onnx"
HUB_REVISION = "f766f81d3cfdf7737ac64aad813d91bbfd56bf93"
"""The Hub commit that added Smart Turn v3.2, pinned: the file pipecat-ai 1.14 ships."""


def find_model(configured: str) -> Path | None:
    """The ONNX file: `configured` when set (it must exist), else pipecat-ai's, else the
    Hub's (from its cache, or downloaded when the Hub can be reached), else None."""
    if configured:
        path = Path(configured).expanduser()
        if not path.is_file():
            raise ModelError(f"{configured}: no such Smart Turn model (audio.turn_model)")
        return path
    return _in_pipecat() or _from_hub()


def _in_pipecat() -> Path | None:
    spec = importlib.util.find_spec("pipecat")  # located, not imported: it is a framework
    if spec is None or not spec.submodule_search_locations:
        return None
    for folder in spec.submodule_search_locations:
        candidate = Path(folder) / PIPECAT_MODEL
        if candidate.is_file():
            return candidate
    return None


def _from_hub() -> Path | None:
    from huggingface_hub import hf_hub_download

    from voicechat.hub import hub_reachable

    try:  # a cached file needs no network
        return Path(
            hf_hub_download(HUB_REPO, HUB_FILE, revision=HUB_REVISION, local_files_only=True)
        )
    except Exception:  # huggingface_hub raises many types for a file it does not have
        if not hub_reachable():
            return None
    try:
        return Path(hf_hub_download(HUB_REPO, HUB_FILE, revision=HUB_REVISION))
    except Exception:  # a failed download leaves the words to judge alone, with a notice
        return None


class SmartTurn:
    """The probability (0-1) that a take, as heard so far, is a finished turn."""

    def __init__(self, path: Path) -> None:
        import onnxruntime as ort
        from transformers import WhisperFeatureExtractor

        options = ort.SessionOptions()
        options.intra_op_num_threads = 1
        options.inter_op_num_threads = 1
        try:
            self._session: Any = ort.InferenceSession(
                str(path), sess_options=options, providers=["CPUExecutionProvider"]
            )
        except Exception as e:
            raise ModelError(f"{path}: not a usable Smart Turn model ({e})") from e
        self._features = WhisperFeatureExtractor(chunk_length=WINDOW_S)
        self.path = path

    def __call__(self, clip: AudioClip) -> float:
        """Score the end of `clip` (16 kHz)."""
        import numpy as np

        window = WINDOW_S * WHISPER_SAMPLE_RATE
        samples = clip.samples[-window:]
        samples = np.pad(samples, (window - len(samples), 0))
        features = self._features(
            samples,
            sampling_rate=WHISPER_SAMPLE_RATE,
            return_tensors="np",
            padding="max_length",
            max_length=window,
            truncation=True,
            do_normalize=True,
        ).input_features.astype(np.float32)
        (probability,) = self._session.run(None, {"input_features": features})[0].reshape(-1)[:1]
        return float(probability)
