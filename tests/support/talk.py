"""Starting `voicechat talk` in a real terminal with the tiny models, and reading what it saved."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tests.support.tmux import TmuxTerminal


def talk_config(
    tmp_path: Path, tiny_en_pt: Path, tiny_phi3: Path, silence_ms: int, audio: str = ""
) -> Path:
    """A config for talk: openai-whisper tiny.en, the tiny Phi-3 (greedy), piper, takes
    ended by `silence_ms` of silence unless `audio` (more [audio] lines) sets end_of_turn:
    these tests are about what talk does with a take, the smart rule has its own."""
    if "end_of_turn" not in audio:
        audio = f'end_of_turn = "silence"\n{audio}'
    path = tmp_path / "talk.toml"
    path.write_text(
        f'[asr]\nmodel = "{tiny_en_pt}"\n'
        f'[llm]\nmodel = "{tiny_phi3}"\ntemperature = 0\n'
        '[tts]\nengine = "piper"\n'
        f"[audio]\nsilence_ms = {silence_ms}\n{audio}"
    )
    return path


def start_talk(
    opened: list[TmuxTerminal], args: list[str], env: dict[str, str], tmp_path: Path
) -> TmuxTerminal:
    """`voicechat ARGS` in tmux, once its key hints show (every model loaded)."""
    t = TmuxTerminal(args, env, tmp_path)
    opened.append(t)
    t.wait_for("quit", timeout=120)  # the key hints show once every model is loaded
    return t


def session_messages(home: Path, name: str) -> list[dict[str, Any]]:
    """The messages saved in session `name` under voicechat home `home`."""
    return json.loads((home / "sessions" / f"{name}.json").read_text())["messages"]  # type: ignore[no-any-return]
