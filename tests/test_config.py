"""Configuration: defaults documented in config.toml, precedence, strict validation."""

from __future__ import annotations

import dataclasses
import json
import tomllib
from pathlib import Path

import pytest

from tests.support.cli import REPO, run_cli
from voicechat.config import SECTIONS, Config, describe_keys, load_settings
from voicechat.errors import ConfigError


def test_config_toml_documents_every_key_with_its_default() -> None:
    text = (REPO / "config.toml").read_text()
    documented = tomllib.loads(text)
    defaults = {name: dataclasses.asdict(section()) for name, section in SECTIONS.items()}
    assert documented == defaults
    lines = text.splitlines()
    for section, keys in describe_keys().items():
        for key in keys:
            index = next(i for i, line in enumerate(lines) if line.startswith(f"{key} ="))
            assert lines[index - 1].startswith("#"), f"{section}.{key} has no comment"


def test_config_show_explains_every_key() -> None:
    shown = run_cli("config", "show")
    assert shown.returncode == 0, shown.stderr
    for section, keys in describe_keys().items():
        assert f"[{section}]" in shown.stdout
        for key, help_text in keys.items():
            assert len(help_text) > 10, f"{section}.{key} has no real help"
            assert f"{key} = " in shown.stdout, f"{section}.{key} is not shown"


def test_precedence_defaults_user_file_config_flag(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    user = tmp_path / "user.toml"
    user.write_text('[asr]\nmodel = "base.en"\nlanguage = "en"\n[audio]\nsilence_ms = 500\n')
    extra = tmp_path / "extra.toml"
    extra.write_text('[asr]\nmodel = "tiny.en"\ndevice = "cpu"\n')
    monkeypatch.setenv("VOICECHAT_CONFIG", str(user))

    settings = load_settings(extra, {"asr": {"device": "cuda", "engine": None}})
    asr = settings.config.asr
    assert (asr.model, asr.language, asr.device, asr.engine) == ("tiny.en", "en", "cuda", "whisper")
    assert settings.config.audio.silence_ms == 500
    assert settings.sources["asr.model"] == str(extra)
    assert settings.sources["asr.language"] == str(user)
    assert settings.sources["asr.device"] == "command line"
    assert settings.sources["asr.engine"] == "default"


def test_user_file_in_platform_config_dir_is_read(tmp_path: Path) -> None:
    user_dir = tmp_path / "xdg-config" / "voicechat"
    user_dir.mkdir(parents=True)
    (user_dir / "config.toml").write_text('[tts]\nengine = "piper"\n')
    assert load_settings().config.tts.engine == "piper"


def test_defaults_without_any_file() -> None:
    assert load_settings().config == Config()


@pytest.mark.parametrize(
    ("toml", "expected"),
    [
        ("[asrr]\nmodel = 'x'\n", "unknown section [asrr]"),
        ("[asr]\nmodle = 'x'\n", "unknown key asr.modle"),
        ("[asr]\nmodel = 3\n", "asr.model: got 3, expected a string"),
        ("[asr]\nengine = 'vosk'\n", "asr.engine: got 'vosk', expected one of 'whisper'"),
        ("[llm]\nmax_new_tokens = 'many'\n", "llm.max_new_tokens: got 'many', expected an integer"),
        ("[llm]\ntemperature = 3.5\n", "llm.temperature: got 3.5, expected a number from 0.0"),
        ("[audio]\nsilence_ms = true\n", "audio.silence_ms: got True"),
        ("[tts]\nrate = 'fast'\n", "tts.rate: got 'fast', expected a string matching"),
        ("asr = 1\n", "[asr] must be a table"),
        ("[asr\n", "invalid TOML"),
    ],
)
def test_bad_config_names_file_key_and_expectation(
    tmp_path: Path, toml: str, expected: str
) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(toml)
    with pytest.raises(ConfigError) as raised:
        load_settings(path)
    assert str(path) in str(raised.value)
    assert expected in str(raised.value)


def test_number_keys_accept_integers_and_devices_accept_indexes(tmp_path: Path) -> None:
    path = tmp_path / "ok.toml"
    path.write_text("[llm]\ntemperature = 0\n[audio]\ninput_device = 3\nmax_record_s = 30\n")
    config = load_settings(path).config
    assert config.llm.temperature == 0.0
    assert config.audio.input_device == 3
    assert config.audio.max_record_s == 30.0


def test_missing_explicit_files_are_errors(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ConfigError, match="config file not found"):
        load_settings(tmp_path / "nope.toml")
    monkeypatch.setenv("VOICECHAT_CONFIG", str(tmp_path / "gone.toml"))
    with pytest.raises(ConfigError, match=r"gone\.toml: config file not found"):
        load_settings()


def test_config_show_reports_values_and_sources(tmp_path: Path) -> None:
    path = tmp_path / "c.toml"
    path.write_text('[asr]\nmodel = "tiny.en"\n')
    result = run_cli("--config", str(path), "config", "show", "--json")
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["asr"]["model"] == {"value": "tiny.en", "source": str(path)}
    assert data["llm"]["max_new_tokens"] == {"value": 256, "source": "default"}

    toml = run_cli("--config", str(path), "config", "show")
    assert f'model = "tiny.en"  # {path}' in toml.stdout


def test_config_show_with_a_bad_key_exits_2(tmp_path: Path) -> None:
    path = tmp_path / "c.toml"
    path.write_text("[asr]\nspeed = 2\n")
    result = run_cli("--config", str(path), "config", "show")
    assert result.returncode == 2
    assert result.stderr.startswith(f"error: {path}: unknown key asr.speed")


def test_config_path_honours_voicechat_config(tmp_path: Path) -> None:
    result = run_cli("config", "path", env={"VOICECHAT_CONFIG": str(tmp_path / "mine.toml")})
    assert result.stdout.strip() == str(tmp_path / "mine.toml")


@pytest.mark.parametrize(
    ("toml", "key", "owner"),
    [
        ('[llm]\nbase_url = "http://127.0.0.1:8000/v1"\n', "llm.base_url", "openai"),
        ('[llm]\nengine = "openai"\ncompile = true\n', "llm.compile", "transformers"),
        ('[tts]\nengine = "piper"\nrate = "+10%"\n', "tts.rate", "edge"),
    ],
)
def test_an_option_of_another_engine_is_refused(
    tmp_path: Path, toml: str, key: str, owner: str
) -> None:
    """A server URL under the in-process engine would be silently ignored (and the model
    downloaded): the key's engine is named instead."""
    path = tmp_path / "c.toml"
    path.write_text(toml)
    with pytest.raises(ConfigError, match=rf"{key} is an option of the {owner} engine"):
        load_settings(path)


def test_each_engine_reads_its_own_options_and_the_shared_ones() -> None:
    settings = load_settings(None, {"tts": {"engine": "piper", "piper_voice": "/v.onnx"}})
    assert settings.config.tts.piper_voice == "/v.onnx"
    switched = load_settings(None, {"llm": {"engine": "openai", "base_url": "http://h/v1"}})
    assert switched.config.llm.base_url == "http://h/v1" and switched.config.llm.device == "auto"
