"""Engines by name: one table per stage, imported lazily so `--help` never loads torch.

This module imports nothing of voicechat's but its errors: config validation and CLI choices
read the names from here, and `models` (where config meets engines) builds each engine the
same way, `factory(section_config)`. A missing optional package raises `EngineUnavailable`
naming the extra to install; an unknown name lists the valid ones.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Any

from voicechat.errors import EngineUnavailable, UsageError


@dataclass(frozen=True)
class EngineSpec:
    """Where an engine lives and what installs it.

    target: "module:attribute" of its factory (usually a class).
    extra: the `voicechat[extra]` that brings its packages, or None for core engines.
    packages: top-level modules it imports; a missing one means the extra is not installed.
    online: it needs a network service, so a voice falls back to `tts.fallback` when it fails.
    options: the keys of its config section that only this engine reads (its own options;
    the section's other keys every engine of the stage reads).
    voice_key: for a voice, the option that names the voice (what `/voice NAME` sets).
    """

    name: str
    target: str
    summary: str
    extra: str | None = None
    packages: tuple[str, ...] = ()
    online: bool = False
    options: tuple[str, ...] = ()
    voice_key: str = ""


ASR_ENGINES: dict[str, EngineSpec] = {
    "whisper": EngineSpec(
        "whisper",
        "voicechat.asr.whisper:WhisperTranscriber",
        "openai-whisper (PyTorch)",
        packages=("whisper", "torch"),
    ),
    "faster-whisper": EngineSpec(
        "faster-whisper",
        "voicechat.asr.faster_whisper:FasterWhisperTranscriber",
        "faster-whisper (CTranslate2, int8 on CPU)",
        extra="fast",
        packages=("faster_whisper", "ctranslate2"),
    ),
}


LLM_ENGINES: dict[str, EngineSpec] = {
    "transformers": EngineSpec(
        "transformers",
        "voicechat.llm.transformers:TransformersChatModel",
        "Hugging Face transformers, in this process (CUDA when present)",
        packages=("transformers", "torch"),
        options=("dtype", "quantization", "compile"),
    ),
    "openai": EngineSpec(
        "openai",
        "voicechat.llm.openai:OpenAIChatModel",
        "any OpenAI-compatible server: vLLM, Ollama, llama.cpp, transformers serve",
        packages=("openai",),
        options=("base_url", "api_key_env"),
    ),
}

TTS_ENGINES: dict[str, EngineSpec] = {
    "edge": EngineSpec(
        "edge",
        "voicechat.tts.edge:EdgeSynthesizer",
        "Microsoft Edge online voices",
        packages=("edge_tts", "aiohttp"),
        online=True,
        options=("voice", "rate", "proxy"),
        voice_key="voice",
    ),
    "piper": EngineSpec(
        "piper",
        "voicechat.tts.piper:PiperSynthesizer",
        "piper, offline",
        extra="offline",
        packages=("piper", "onnxruntime"),
        options=("piper_voice",),
        voice_key="piper_voice",
    ),
    "none": EngineSpec("none", "", "no speech"),
}


def option_owner(registry: dict[str, EngineSpec], key: str) -> str | None:
    """The engine whose own option `key` is, or None for a key every engine reads."""
    return next((spec.name for spec in registry.values() if key in spec.options), None)


def load_engine(registry: dict[str, EngineSpec], kind: str, name: str) -> Any:
    """Import and return the factory registered as `name` in `registry`.

    kind: the stage's name for messages ("speech-to-text").
    """
    spec = registry.get(name)
    if spec is None:
        valid = ", ".join(registry)
        raise UsageError(f"unknown {kind} engine {name!r}; choose one of: {valid}")
    module_name, _, attribute = spec.target.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as e:
        missing = (e.name or "").split(".")[0]
        if missing in spec.packages:
            hint = (
                f'pip install "voicechat[{spec.extra}]"' if spec.extra else "pip install voicechat"
            )
            raise EngineUnavailable(
                f"the {name} engine needs the {missing!r} package: {hint}"
            ) from e
        raise
    return getattr(module, attribute)
