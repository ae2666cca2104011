"""`voicechat bench` on real (tiny) models: every stage measured, both ways, in one report."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from tests.support.cli import run_cli
from voicechat.bench.figures import MEASURES
from voicechat.bench.random_weights import FIXED_REPLY, whisper_dims


@pytest.fixture
def bench_config(tmp_path: Path, tiny_en_pt: Path, tiny_phi3: Path) -> Path:
    path = tmp_path / "bench.toml"
    path.write_text(
        f'[asr]\nmodel = "{tiny_en_pt}"\n[llm]\nmodel = "{tiny_phi3}"\ntemperature = 0\n'
        '[tts]\nengine = "piper"\n[audio]\nend_of_turn = "silence"\n'
    )
    return path


@pytest.mark.slow
def test_report_measures_both_ways_through_the_turn_users_get(
    tmp_path: Path, tiny_en_ct2: Path, tiny_phi3: Path, smart_turn_onnx: Path
) -> None:
    """One run: the table and timelines on the terminal, the same report as JSON in --save.
    With the silence rule set long (2 s), only the smart end of turn can end a take sooner:
    the streaming turns do, the sequential ones (no early start) wait out the silence."""
    config = tmp_path / "smart.toml"
    config.write_text(
        f'[asr]\nengine = "faster-whisper"\nmodel = "{tiny_en_ct2}"\n'
        f'[llm]\nmodel = "{tiny_phi3}"\ntemperature = 0\n[tts]\nengine = "piper"\n'
        f'[audio]\nsilence_ms = 2000\nend_of_turn = "smart"\nturn_model = "{smart_turn_onnx}"\n'
    )
    saved = tmp_path / "report.json"
    result = run_cli("--config", str(config), "bench", "--turns", "1", "--save", str(saved))
    assert result.returncode == 0, result.stderr
    out = result.stdout
    for label in MEASURES.values():
        assert label in out
    assert "streaming takes" in out and "× the sequential time" in out
    assert out.count("playback |") == 2
    assert f"cores {os.cpu_count()}" in out

    report = json.loads(saved.read_text())
    for mode in ("streaming", "sequential"):
        figures = report[mode]
        assert set(figures) == set(MEASURES)
        p50 = {key: value["p50"] for key, value in figures.items()}
        # Nothing is heard before the take has ended, and the turn outlasts its first sound.
        assert p50["end_of_speech_ms"] <= p50["first_audio_ms"] < p50["turn_ms"], mode
        assert p50["asr_ms"] > 0 and p50["tokens_per_s"] > 0, mode
    assert report["engines"]["end of turn"] == "smart (words + sound)"
    assert report["end_of_turn"]["judged"] >= 1 and report["end_of_turn"]["finished"] >= 1
    assert report["end_of_turn"]["words_ms_p50"] > 0 and report["end_of_turn"]["sound_ms_p50"] > 0
    assert report["streaming"]["end_of_speech_ms"]["p50"] < 2000
    # The sequential way ends the take by the silence rule alone, and transcribes only then.
    sequential = report["sequential"]
    assert 2000 <= sequential["end_of_speech_ms"]["p50"] < 2400
    assert sequential["transcript_ready_ms"]["p50"] >= sequential["end_of_speech_ms"]["p50"]
    ratio = report["streaming"]["first_audio_ms"]["p50"] / sequential["first_audio_ms"]["p50"]
    assert report["first_audio_ratio"] == pytest.approx(ratio, abs=0.002)
    assert f"{report['first_audio_ratio']:.2f} × the sequential time" in out
    assert report["random_weights"] is False
    assert report["machine"]["cores"] == os.cpu_count()
    assert "piper" in report["engines"]["tts"]
    assert report["memory"]["peak_rss_mb"] > 0
    assert report["reply"].startswith("The capital of France is Paris.")


@pytest.mark.slow
def test_a_recording_without_speech_is_a_clear_error(bench_config: Path, tmp_path: Path) -> None:
    import numpy as np
    import soundfile as sf

    silent = tmp_path / "silence.wav"
    sf.write(str(silent), np.zeros(16000 * 3, dtype=np.float32), 16000)
    result = run_cli("--config", str(bench_config), "bench", "--audio", str(silent), "--turns", "1")
    assert result.returncode == 2
    assert "no speech" in result.stderr
    nowhere = tmp_path / "missing" / "report.json"
    result = run_cli("--config", str(bench_config), "bench", "--save", str(nowhere))
    assert result.returncode == 2
    assert result.stderr.strip().endswith(f"no folder {nowhere.parent}"), result.stderr
    result = run_cli("--config", str(bench_config), "bench", "--save", str(tmp_path))
    assert result.returncode == 2
    assert "is a folder" in result.stderr


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


@pytest.mark.slow
def test_random_weights_go_through_the_real_loader_and_follow_the_config(
    tmp_path: Path, smart_turn_onnx: Path
) -> None:
    """A Phi-3-mini-shaped checkpoint (one layer, for speed) is loaded as a user's model is,
    through the transformers engine with its dtype, kept cache and stop tokens, and the
    settings apply: with llm.compile the report names a compiled model. The smart end of
    turn listens to the voice alone: a random model's words are not scored or calibrated."""
    config = tmp_path / "random.toml"
    config.write_text(
        '[asr]\nmodel = "tiny.en"\ndevice = "cpu"\n'
        '[llm]\ndevice = "cpu"\ncompile = true\n'
        '[tts]\nengine = "piper"\n'
        f'[audio]\nend_of_turn = "smart"\nturn_model = "{smart_turn_onnx}"\n'
    )
    result = run_cli(
        "--config", str(config), "bench", "--random-weights", "--random-layers", "1",
        "--reply-tokens", "12", "--turns", "1", "--json",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["random_weights"] is True
    assert "phi3-mini-4k-1-layers (random weights)" in report["engines"]["llm"]
    assert "compiled" in report["engines"]["llm"], "llm.compile reached the bench's model"
    assert "whisper-tiny.en.pt" in report["engines"]["asr"]
    assert report["reply"] == FIXED_REPLY
    for mode in ("streaming", "sequential"):
        assert report[mode]["tokens_per_s"]["p50"] > 0
    assert report["engines"]["end of turn"] == "smart (sound)"
    assert "end-of-turn words" not in report["engines"]


@pytest.mark.slow
def test_a_question_that_goes_on_after_a_pause_is_answered_whole_in_every_turn(
    bench_config: Path, tmp_path: Path
) -> None:
    """A question with a 1.2 s pause inside: the silence rule (800 ms) ends the take at the
    pause and a reply begins; the rest of the question, within audio.resume_s, takes that
    reply back and continues the take, in every turn of both kinds, the warm-up too, as talk
    does. The end of speech is the question's last word, and the run leaves no files."""
    import numpy as np
    import soundfile as sf

    from tests.support.speech import speak
    from voicechat.audio.io import load_audio

    first = load_audio(speak("Please remember to buy", tmp_path / "a.wav")).samples
    second = load_audio(speak("milk and bread tomorrow.", tmp_path / "b.wav")).samples
    gap, tail = np.zeros(int(16000 * 1.2), np.float32), np.zeros(16000 * 2, np.float32)
    question = tmp_path / "paused.wav"
    sf.write(str(question), np.concatenate([first, gap, second, tail]), 16000)
    temp = tmp_path / "temp"
    temp.mkdir()
    result = run_cli(
        "--config", str(bench_config), "bench", "--audio", str(question), "--turns", "1", "--json",
        env={"TMPDIR": str(temp)},
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    for mode in ("streaming", "sequential"):
        assert report[mode]["end_of_speech_ms"]["p50"] > 0, f"{mode}: ended before the last word"
        heard = report["said"][mode][-1].lower()
        assert "remember" in heard and "bread" in heard, heard
    assert report["continued"]["restarts"] == report["continued"]["turns"] == 2
    assert 0 <= report["continued"]["sounded_ms_p50"] <= report["continued"]["sounded_ms_max"]
    assert not list(temp.glob("voicechat-bench-*")), "no session files are left behind"
