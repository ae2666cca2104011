"""Configuration: one frozen dataclass per section, defaults in code, strict validation.

Precedence, lowest first: defaults < user file (`$VOICECHAT_CONFIG`, else `config.toml` in the
user config dir) < `--config PATH` < command flags. An unknown section or key, a wrong type or a
bad value raises `ConfigError` naming the file, the key and what is expected.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from voicechat import paths
from voicechat.engines import ASR_ENGINES, LLM_ENGINES, TTS_ENGINES, EngineSpec, option_owner
from voicechat.errors import ConfigError

DEFAULT_SOURCE = "default"
FLAG_SOURCE = "command line"

DEVICES = ("auto", "cpu", "cuda")

DEFAULT_SYSTEM_PROMPT = (
    "You are a helpful voice assistant. Your replies are spoken aloud, so answer in one to "
    "three short sentences of plain text: no markdown, lists, code or emoji."
)


def _key(
    default: Any,
    help: str,
    *,
    choices: tuple[str, ...] = (),
    minimum: float | None = None,
    maximum: float | None = None,
    pattern: str | None = None,
    index_allowed: bool = False,
) -> Any:
    """Declare a config key: its default, a one-line help, and the values it accepts.

    index_allowed: the key takes a name (str) or a device index (int).
    """
    meta = {
        "help": help,
        "choices": choices,
        "minimum": minimum,
        "maximum": maximum,
        "pattern": pattern,
        "index_allowed": index_allowed,
    }
    return field(default=default, metadata=meta)


@dataclass(frozen=True)
class AsrConfig:
    """[asr] speech-to-text."""

    engine: str = _key("whisper", "speech-to-text engine", choices=tuple(ASR_ENGINES))
    model: str = _key("small.en", "Whisper model name, or a local .pt file / CTranslate2 folder")
    device: str = _key("auto", "auto = CUDA when present, else CPU", choices=DEVICES)
    language: str = _key("", 'spoken language as an ISO code ("en"); "" = detect')
    task: str = _key(
        "transcribe", "translate = any language to English", choices=("transcribe", "translate")
    )
    take_window_s: float = _key(
        10.0,
        "seconds of audio Whisper's encoder sees for a spoken take (faster-whisper); "
        "30 = Whisper's own window",
        minimum=1.0,
        maximum=30.0,
    )


@dataclass(frozen=True)
class LlmConfig:
    """[llm] the language model that writes replies."""

    engine: str = _key("transformers", "language model engine", choices=tuple(LLM_ENGINES))
    model: str = _key("microsoft/Phi-3-mini-4k-instruct", "Hugging Face Hub id or a local folder")
    device: str = _key("auto", "auto = CUDA when present, else CPU", choices=DEVICES)
    dtype: str = _key(
        "auto",
        "auto = bf16 where the device has it, else fp16 on CUDA, fp32 on CPU",
        choices=("auto", "float32", "float16", "bfloat16"),
    )
    quantization: str = _key(
        "none",
        "CUDA only: int4 through torchao (compiles), 4bit / 8bit through bitsandbytes",
        choices=("none", "int4", "4bit", "8bit"),
    )
    compile: bool = _key(
        False, "compile the decoding step (static KV cache), paid once at start-up"
    )
    max_new_tokens: int = _key(256, "longest reply, in tokens", minimum=1, maximum=4096)
    temperature: float = _key(0.7, "sampling temperature; 0 = greedy", minimum=0.0, maximum=2.0)
    system_prompt: str = _key(DEFAULT_SYSTEM_PROMPT, "instructions sent before every conversation")
    base_url: str = _key("", 'openai engine: server URL ("" = api.openai.com)')
    api_key_env: str = _key("OPENAI_API_KEY", "openai engine: environment variable with the key")


@dataclass(frozen=True)
class TtsConfig:
    """[tts] text-to-speech."""

    engine: str = _key("edge", "text-to-speech engine", choices=tuple(TTS_ENGINES))
    voice: str = _key("en-US-AriaNeural", "Edge voice name")
    rate: str = _key("+0%", 'Edge speaking rate, e.g. "+10%" or "-5%"', pattern=r"[+-]\d{1,3}%")
    proxy: str = _key("", 'Edge: an HTTP proxy URL to reach the service through; "" = none')
    fallback: str = _key("piper", "engine used when Edge fails", choices=("piper", "none"))
    piper_voice: str = _key(
        "", '"" = the voice of the offline extra, else a path to an .onnx voice'
    )


@dataclass(frozen=True)
class AudioConfig:
    """[audio] microphone and speakers."""

    input_device: str | int = _key(
        "", '"" = system default; a name fragment or an index', index_allowed=True
    )
    output_device: str | int = _key(
        "", '"" = system default; a name fragment or an index', index_allowed=True
    )
    silence_ms: int = _key(
        800, "silence after speech that ends a take, ms", minimum=100, maximum=10_000
    )
    max_record_s: float = _key(60.0, "longest take, seconds", minimum=1.0, maximum=3600.0)
    resume_s: float = _key(
        2.0,
        "speech this soon after a take ended at a pause (s) continues that take: the reply "
        "begun for it is dropped; 0 = never",
        minimum=0.0,
        maximum=10.0,
    )
    end_of_turn: str = _key(
        "smart",
        "what ends a take: smart = the words and the voice judged at a short pause, else "
        "silence_ms of silence; silence = silence_ms of silence only",
        choices=("silence", "smart"),
    )
    turn_model: str = _key(
        "",
        'smart: Smart Turn v3 ONNX file for the voice signal; "" = pipecat-ai\'s if installed, '
        "else the Hugging Face Hub's",
    )
    echo_cancel: bool = _key(
        True,
        "hands-free: keep listening while a reply plays, its own voice cancelled, so a person "
        "can talk over it (needs voicechat[duplex]; false listens only between replies)",
    )
    noise_suppression: bool = _key(
        True, "suppress steady noise and rumble on the microphone (needs voicechat[duplex])"
    )


@dataclass(frozen=True)
class SessionConfig:
    """[session] conversation history."""

    dir: str = _key("", '"" = sessions/ under the data dir ($VOICECHAT_HOME)')


@dataclass(frozen=True)
class Config:
    """All settings, one attribute per section."""

    asr: AsrConfig = field(default_factory=AsrConfig)
    llm: LlmConfig = field(default_factory=LlmConfig)
    tts: TtsConfig = field(default_factory=TtsConfig)
    audio: AudioConfig = field(default_factory=AudioConfig)
    session: SessionConfig = field(default_factory=SessionConfig)


SECTIONS: dict[str, type[Any]] = {
    "asr": AsrConfig,
    "llm": LlmConfig,
    "tts": TtsConfig,
    "audio": AudioConfig,
    "session": SessionConfig,
}


@dataclass(frozen=True)
class Settings:
    """The effective config and, for each "section.key", where its value came from."""

    config: Config
    sources: dict[str, str]


def _expected(f: dataclasses.Field[Any]) -> str:
    meta = f.metadata
    if meta["choices"]:
        return "one of " + ", ".join(repr(c) for c in meta["choices"])
    kind = {int: "an integer", float: "a number", str: "a string", bool: "true or false"}
    name = f.type if isinstance(f.type, str) else getattr(f.type, "__name__", str(f.type))
    base = {"int": kind[int], "float": kind[float], "str": kind[str], "bool": kind[bool]}.get(
        name, "a string or a device index"
    )
    if meta["minimum"] is not None:
        base += f" from {meta['minimum']} to {meta['maximum']}"
    if meta["pattern"]:
        base += f" matching {meta['pattern']}"
    return base


def _validate(f: dataclasses.Field[Any], value: Any, where: str) -> Any:
    """Check `value` for field `f`; return it in the field's type or raise ConfigError."""
    meta = f.metadata
    type_name = f.type if isinstance(f.type, str) else getattr(f.type, "__name__", "")
    ok: bool
    if type_name == "bool":
        ok = isinstance(value, bool)
    elif type_name == "int":
        ok = isinstance(value, int) and not isinstance(value, bool)
    elif type_name == "float":
        ok = isinstance(value, int | float) and not isinstance(value, bool)
        value = float(value) if ok else value
    elif meta["index_allowed"]:
        ok = isinstance(value, str | int) and not isinstance(value, bool)
    else:
        ok = isinstance(value, str)
    if ok and meta["choices"]:
        ok = value in meta["choices"]
    if ok and meta["minimum"] is not None:
        ok = meta["minimum"] <= value <= meta["maximum"]
    if ok and meta["pattern"]:
        ok = re.fullmatch(meta["pattern"], value) is not None
    if not ok:
        raise ConfigError(f"{where}: got {value!r}, expected {_expected(f)}")
    return value


def _apply(
    values: dict[str, dict[str, Any]],
    sources: dict[str, str],
    layer: Mapping[str, Any],
    source: str,
) -> None:
    """Merge one layer (a parsed file or the flags) into `values`, validating every key."""
    for section, keys in layer.items():
        section_type = SECTIONS.get(section)
        if section_type is None:
            raise ConfigError(
                f"{source}: unknown section [{section}]; sections are: {', '.join(SECTIONS)}"
            )
        if not isinstance(keys, Mapping):
            raise ConfigError(f"{source}: [{section}] must be a table of keys")
        fields = {f.name: f for f in dataclasses.fields(section_type)}
        for key, value in keys.items():
            f = fields.get(key)
            if f is None:
                raise ConfigError(
                    f"{source}: unknown key {section}.{key}; [{section}] keys are: "
                    + ", ".join(fields)
                )
            values[section][key] = _validate(f, value, f"{source}: {section}.{key}")
            sources[f"{section}.{key}"] = source


def read_config_file(path: Path) -> dict[str, Any]:
    """Parse a TOML config file; a missing file or bad TOML raises ConfigError."""
    import tomllib  # here, not at the top: `--help` never reads a file

    try:
        with path.open("rb") as fh:
            return tomllib.load(fh)
    except FileNotFoundError:
        raise ConfigError(f"{path}: config file not found") from None
    except IsADirectoryError:
        raise ConfigError(f"{path}: is a directory, expected a TOML file") from None
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"{path}: invalid TOML: {e}") from None
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: not a text file") from None


def load_settings(
    config_file: Path | None = None,
    overrides: Mapping[str, Mapping[str, Any]] | None = None,
) -> Settings:
    """Build the effective settings from every layer.

    config_file: the `--config PATH` file, if given.
    overrides: command flags as {section: {key: value}}; None values are ignored.
    """
    values: dict[str, dict[str, Any]] = {
        name: dataclasses.asdict(section()) for name, section in SECTIONS.items()
    }
    sources = {f"{s}.{k}": DEFAULT_SOURCE for s, keys in values.items() for k in keys}

    user_file = paths.user_config_file()
    if paths.user_config_is_explicit() or user_file.is_file():
        _apply(values, sources, read_config_file(user_file), str(user_file))
    if config_file is not None:
        _apply(values, sources, read_config_file(config_file), str(config_file))
    if overrides:
        flags = {
            s: {k: v for k, v in keys.items() if v is not None} for s, keys in overrides.items()
        }
        _apply(values, sources, flags, FLAG_SOURCE)

    for section, registry in (("asr", ASR_ENGINES), ("llm", LLM_ENGINES), ("tts", TTS_ENGINES)):
        _check_engine_options(section, values[section], sources, registry)
    config = Config(**{name: SECTIONS[name](**keys) for name, keys in values.items()})
    return Settings(config=config, sources=sources)


def _check_engine_options(
    section: str,
    values: Mapping[str, Any],
    sources: Mapping[str, str],
    registry: dict[str, EngineSpec],
) -> None:
    """Refuse an engine's own option set for a section whose engine is another: a server's
    `base_url` under the transformers engine would be silently ignored."""
    engine = values["engine"]
    for key in values:
        owner = option_owner(registry, key)
        source = sources[f"{section}.{key}"]
        if owner not in (None, engine) and source != DEFAULT_SOURCE:
            raise ConfigError(
                f"{source}: {section}.{key} is an option of the {owner} engine, but "
                f"{section}.engine is {engine!r}; set engine = {owner!r} or remove the key"
            )


def describe_keys() -> dict[str, dict[str, str]]:
    """Each section's keys with their one-line help, in declaration order."""
    return {
        name: {f.name: f.metadata["help"] for f in dataclasses.fields(section)}
        for name, section in SECTIONS.items()
    }
