"""Loading every engine at once."""

from __future__ import annotations

from pathlib import Path

import pytest

from voicechat.config import AsrConfig, Config, LlmConfig, TtsConfig
from voicechat.models import load_models

pytestmark = pytest.mark.slow


def test_whisper_keeps_its_precision_beside_a_bf16_language_model(
    tiny_en_pt: Path, tiny_phi3: Path
) -> None:
    """transformers sets torch's process-wide default dtype while it builds a model; Whisper
    built in that moment would take bf16 weights. Loading in parallel must never allow it."""
    import torch

    config = Config(
        asr=AsrConfig(model=str(tiny_en_pt), device="cpu"),
        llm=LlmConfig(model=str(tiny_phi3), device="cpu", dtype="bfloat16"),
        tts=TtsConfig(engine="none"),
    )
    states: list[tuple[str, str]] = []
    for _ in range(3):
        models = load_models(config, lambda stage, state: states.append((stage, state)), print)
        whisper_model = models.transcriber._model  # type: ignore[union-attr]
        assert {p.dtype for p in whisper_model.parameters()} == {torch.float32}
        assert models.chat.dtype == "bfloat16"  # type: ignore[attr-defined]
    assert ("speech-to-text", "ready") in states and ("language model", "ready") in states
