"""`voicechat transcribe` end to end: real tiny.en weights, real piper speech, the real CLI."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from tests.conftest import QUESTION, SENTENCES
from tests.support.audio import tone, write_variant
from tests.support.cli import run_cli
from tests.support.speech import PIPER_RATE, normalise, speech_samples

pytestmark = pytest.mark.slow

VARIANTS = {
    "q-8k.wav": (8000, 1, None),
    "q-16k.wav": (16000, 1, None),
    "q-44k.wav": (44100, 1, None),
    "q-48k-stereo.wav": (48000, 2, None),
    "q-24bit.wav": (48000, 1, "PCM_24"),
    "q.flac": (44100, 2, None),
    "q-vorbis.ogg": (44100, 1, "VORBIS"),
    "q-opus.ogg": (48000, 1, "OPUS"),
    "q.mp3": (44100, 2, None),
}


@pytest.fixture(scope="module")
def question_files(tmp_path_factory: pytest.TempPathFactory, speech_dir: Path) -> dict[str, Path]:
    """The spoken question in every rate, channel count, depth and format."""
    folder = tmp_path_factory.mktemp("question")
    speech = speech_samples(QUESTION, speech_dir)
    return {
        name: write_variant(speech, PIPER_RATE, folder / name, rate, channels, subtype)
        for name, (rate, channels, subtype) in VARIANTS.items()
    }


@pytest.fixture(scope="module")
def model_args(tiny_en_pt: Path, tiny_en_ct2: Path) -> dict[str, list[str]]:
    return {
        "whisper": ["--engine", "whisper", "--model", str(tiny_en_pt)],
        "faster-whisper": ["--engine", "faster-whisper", "--model", str(tiny_en_ct2)],
    }


@pytest.mark.parametrize("engine", ["whisper", "faster-whisper"])
def test_every_format_and_rate_transcribes_word_for_word(
    engine: str, question_files: dict[str, Path], model_args: dict[str, list[str]], tmp_path: Path
) -> None:
    out = tmp_path / "out"
    files = [str(p) for p in question_files.values()]
    result = run_cli(
        "transcribe", *files, *model_args[engine], "--format", "json", "--output", str(out)
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout == ""
    written = {"q.flac": "q.flac.json", "q.mp3": "q.mp3.json"}  # their stems collide
    for name in question_files:
        data = json.loads((out / written.get(name, Path(name).stem + ".json")).read_text())
        assert normalise(data["text"]) == normalise(QUESTION), name
        assert data["language"] == "en"
        assert data["engine"] == engine
        assert data["duration"] == pytest.approx(3.9, abs=0.2)
        assert all(0 <= s["start"] < s["end"] <= data["duration"] + 0.01 for s in data["segments"])


def test_txt_goes_to_stdout_alone(
    question_files: dict[str, Path], model_args: dict[str, list[str]]
) -> None:
    result = run_cli("transcribe", str(question_files["q-16k.wav"]), *model_args["whisper"])
    assert result.returncode == 0, result.stderr
    assert normalise(result.stdout) == normalise(QUESTION)
    assert "error" not in result.stderr


TIME = r"(\d\d):(\d\d):(\d\d)[,.](\d\d\d)"


def _seconds(match: tuple[str, ...]) -> float:
    h, m, s, ms = (int(x) for x in match)
    return h * 3600 + m * 60 + s + ms / 1000


def test_srt_and_vtt_have_valid_cues(
    question_files: dict[str, Path], model_args: dict[str, list[str]], tmp_path: Path
) -> None:
    path = str(question_files["q-44k.wav"])
    srt = run_cli("transcribe", path, *model_args["faster-whisper"], "-f", "srt").stdout
    blocks = [b for b in srt.strip().split("\n\n") if b]
    assert blocks
    for number, block in enumerate(blocks, start=1):
        index, times, *text = block.splitlines()
        assert index == str(number)
        found = re.fullmatch(f"{TIME} --> {TIME}".replace("[,.]", ","), times)
        assert found, times
        start, end = _seconds(found.groups()[:4]), _seconds(found.groups()[4:])
        assert 0 <= start < end <= 4.0
        assert text
    assert normalise(" ".join(b.splitlines()[2] for b in blocks)) == normalise(QUESTION)

    vtt_file = tmp_path / "q.vtt"
    result = run_cli(
        "transcribe", path, *model_args["faster-whisper"], "-f", "vtt", "-o", str(vtt_file)
    )
    assert result.returncode == 0, result.stderr
    vtt = vtt_file.read_text()
    assert vtt.startswith("WEBVTT\n\n")
    assert re.search(f"{TIME} --> {TIME}".replace("[,.]", r"\."), vtt)


def _noise_files(folder: Path) -> list[Path]:
    rng = np.random.default_rng(0)
    rate = 16000
    hum = sum(tone(f, rate, 8.0, 0.15) for f in (50.0, 100.0, 150.0))
    return [
        write_variant(np.zeros(rate * 8, dtype=np.float32), rate, folder / "silence.wav", rate),
        write_variant(
            rng.normal(0, 0.1, rate * 8).astype(np.float32), rate, folder / "noise.wav", rate
        ),
        write_variant(np.asarray(hum, dtype=np.float32), rate, folder / "hum.wav", rate),
    ]


@pytest.mark.parametrize("engine", ["whisper", "faster-whisper"])
def test_silence_noise_and_hum_give_no_text_and_a_notice(
    engine: str, model_args: dict[str, list[str]], tmp_path: Path
) -> None:
    files = _noise_files(tmp_path)
    result = run_cli("transcribe", *map(str, files), *model_args[engine])
    assert result.returncode == 0, result.stderr
    assert result.stdout == ""
    for path in files:
        assert f"notice: {path}: no speech found" in result.stderr


def test_ten_minute_recording_keeps_every_sentence_at_its_time(
    model_args: dict[str, list[str]], speech_dir: Path, tmp_path: Path
) -> None:
    rate = 16000
    rng = np.random.default_rng(1)
    audio = rng.normal(0, 0.001, rate * 600).astype(np.float32)  # a quiet room, 10 minutes
    # The second sentence straddles the 120 s boundary where the first window is cut.
    placed = {30.0: QUESTION, 118.8: SENTENCES[0], 541.0: SENTENCES[1]}
    for at, text in placed.items():
        import soxr

        speech = soxr.resample(speech_samples(text, speech_dir), PIPER_RATE, rate)
        audio[int(at * rate) : int(at * rate) + len(speech)] += speech
    path = tmp_path / "meeting.flac"
    sf.write(str(path), audio, rate)

    result = run_cli("transcribe", str(path), *model_args["whisper"], "-f", "json")
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["duration"] == pytest.approx(600.0, abs=0.1)
    heard = [(s["start"], normalise(s["text"])) for s in data["segments"]]
    for at, text in placed.items():
        near = " ".join(t for start, t in heard if at - 1.0 <= start <= at + 6.0)
        assert near == normalise(text), (at, heard)
    assert " ".join(t for _, t in heard) == " ".join(normalise(t) for t in placed.values())


def test_bad_inputs_are_reported_and_good_ones_still_transcribed(
    question_files: dict[str, Path], model_args: dict[str, list[str]], tmp_path: Path
) -> None:
    good = question_files["q-16k.wav"]
    (tmp_path / "empty.wav").write_bytes(b"")
    (tmp_path / "junk.mp3").write_bytes(bytes(range(256)) * 40)
    (tmp_path / "notes.xyz").write_text("plain text, not sound\n" * 40)
    (tmp_path / "folder").mkdir()
    cut = tmp_path / "cut.wav"
    cut.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    bad = {
        tmp_path / "missing.wav": "no such file",
        tmp_path / "folder": "is a directory",
        tmp_path / "empty.wav": "the file is empty",
        tmp_path / "junk.mp3": "not a readable audio file",
        tmp_path / "notes.xyz": "not a readable audio file",
        cut: "truncated",
    }
    result = run_cli("transcribe", *map(str, bad), str(good), *model_args["whisper"])
    assert result.returncode == 1
    assert normalise(result.stdout) == normalise(QUESTION)
    errors = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == len(bad)
    for path, reason in bad.items():
        assert any(line.startswith(f"error: {path}: ") and reason in line for line in errors)
    assert "Traceback" not in result.stderr


def test_only_bad_inputs_fail_fast_without_loading_a_model(tmp_path: Path) -> None:
    result = run_cli("transcribe", str(tmp_path / "a.wav"), "--model", "small.en")
    assert result.returncode == 1
    assert result.stderr.strip() == f"error: {tmp_path / 'a.wav'}: no such file"


def test_a_failed_file_never_replaces_an_existing_output(
    model_args: dict[str, list[str]], tmp_path: Path
) -> None:
    flac = write_variant(tone(440.0, 16000, 4.0), 16000, tmp_path / "ok.flac", 16000)
    cut = tmp_path / "cut.flac"
    cut.write_bytes(flac.read_bytes()[: flac.stat().st_size // 2])
    output = tmp_path / "notes.txt"
    output.write_text("yesterday's transcript\n")
    result = run_cli("transcribe", str(cut), *model_args["whisper"], "-o", str(output))
    assert result.returncode == 1
    assert "truncated" in result.stderr
    assert output.read_text() == "yesterday's transcript\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cut.flac", "notes.txt", "ok.flac"]


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (["--model", "/no/such/model.pt"], 1, "/no/such/model.pt: no such model file"),
        (["--model", "huge-v9"], 1, "unknown Whisper model 'huge-v9'"),
        (["--engine", "vosk"], 2, "asr.engine: got 'vosk'"),
        (["--device", "tpu"], 2, "asr.device: got 'tpu'"),
    ],
)
def test_model_and_engine_mistakes_get_one_line(
    question_files: dict[str, Path], args: list[str], code: int, message: str
) -> None:
    result = run_cli("transcribe", str(question_files["q-16k.wav"]), *args)
    assert result.returncode == code
    assert message in result.stderr
    assert result.stderr.count("\n") == 1


def test_translate_needs_a_multilingual_model(
    question_files: dict[str, Path], model_args: dict[str, list[str]]
) -> None:
    result = run_cli(
        "transcribe", str(question_files["q-16k.wav"]), *model_args["whisper"], "--translate"
    )
    assert result.returncode == 2
    assert "English-only and cannot translate" in result.stderr


def test_named_model_without_network_says_what_to_do(question_files: dict[str, Path]) -> None:
    result = run_cli(
        "transcribe",
        str(question_files["q-16k.wav"]),
        "--engine",
        "faster-whisper",
        "--model",
        "tiny.en",
        env={"HF_HUB_OFFLINE": "1", "HF_HOME": "/nonexistent-hf-home"},
    )
    assert result.returncode == 1
    assert "cannot download faster-whisper model 'tiny.en'" in result.stderr
    assert "local CTranslate2 folder" in result.stderr


def test_a_lying_header_is_one_line_before_any_model_loads(tmp_path: Path) -> None:
    from tests.support.hostile import tiny_rate_wav

    path = tiny_rate_wav(tmp_path / "1hz.wav")
    result = run_cli("transcribe", str(path), "--model", "small.en")
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        f"error: {path}: a sample rate of 1 Hz is outside 8–192 kHz; not a speech recording"
    ]
