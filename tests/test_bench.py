"""`voicechat bench` on real (tiny) models: every stage measured, both ways, in one report."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.support.cli import run_cli
from voicechat.random_models import stand_in_tokens, whisper_dims
from voicechat.types import Message

pytestmark = pytest.mark.slow

MEASURES = {
    "end_of_speech_ms", "asr_ms", "transcript_ready_ms", "first_token_ms", "tokens_per_s",
    "first_sentence_ms", "tts_first_audio_ms", "first_audio_ms", "turn_ms", "overhead_ms",
}  # fmt: skip


@pytest.fixture
def bench_config(tmp_path: Path, tiny_en_pt: Path, tiny_phi3: Path) -> Path:
    path = tmp_path / "bench.toml"
    path.write_text(
        f'[asr]\nmodel = "{tiny_en_pt}"\n[llm]\nmodel = "{tiny_phi3}"\ntemperature = 0\n'
        '[tts]\nengine = "piper"\n'
    )
    return path


def test_json_report_has_every_stage_for_both_ways(bench_config: Path) -> None:
    result = run_cli("--config", str(bench_config), "bench", "--turns", "1", "--json")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    for mode in ("streaming", "sequential"):
        assert set(report[mode]) == MEASURES
        for key, value in report[mode].items():
            assert value["p90"] >= value["p50"] >= 0, key
    assert report["first_audio_ratio"] > 0
    assert report["random_weights"] is False
    assert report["machine"]["cores"] >= 1
    assert "piper" in report["engines"]["tts"]
    assert report["memory"]["peak_rss_mb"] > 0
    assert report["reply"].startswith("The capital of France is Paris.")
    # The end of speech is detected after audio.silence_ms (800) of silence, within a frame.
    assert 800 <= report["streaming"]["end_of_speech_ms"]["p50"] < 900


def test_table_and_timeline_are_drawn(bench_config: Path) -> None:
    result = run_cli("--config", str(bench_config), "bench", "--turns", "1")
    assert result.returncode == 0, result.stderr
    out = result.stdout
    for label in ("speech-to-text", "LLM first token", "end of speech → first audio", "whole turn"):
        assert label in out
    assert "streaming takes" in out and "× the sequential time" in out
    assert out.count("playback |") == 2
    assert "cores 2" in out or "cores" in out


def test_a_recording_without_speech_is_a_clear_error(bench_config: Path, tmp_path: Path) -> None:
    import numpy as np
    import soundfile as sf

    silent = tmp_path / "silence.wav"
    sf.write(str(silent), np.zeros(16000 * 3, dtype=np.float32), 16000)
    result = run_cli("--config", str(bench_config), "bench", "--audio", str(silent), "--turns", "1")
    assert result.returncode == 2
    assert "no speech" in result.stderr


@pytest.mark.parametrize(
    ("name", "width", "layers", "vocab"),
    [("tiny.en", 384, 4, 51864), ("small.en", 768, 12, 51864), ("small", 768, 12, 51865),
     ("large-v3", 1280, 32, 51866)],
)  # fmt: skip
def test_random_whisper_shapes_follow_the_model_name(
    name: str, width: int, layers: int, vocab: int
) -> None:
    dims = whisper_dims(name)
    assert (dims["n_audio_state"], dims["n_audio_layer"], dims["n_vocab"]) == (width, layers, vocab)


def test_stand_in_tokens_grow_with_the_conversation_and_mark_its_history() -> None:
    system, question = Message("system", "Be brief."), Message("user", "Is it sunny, today?")
    first, history = stand_in_tokens([system, question])
    assert history == len(stand_in_tokens([system])[0]) - 1  # less the generation prompt
    assert len(first) == history + 3 + 6 + 1  # framing, 4 words and 2 marks, generation prompt
    answer = Message("assistant", "Yes.")
    later, later_history = stand_in_tokens([system, question, answer, question])
    assert later[:history] == first[:history] and later_history > len(first) - 1
