"""The GPU figures in one run: decode speed per precision, and the whole voice turn.

    python benchmarks/gpu.py [--out DIR] [--device cuda|cpu] [--layers N] [--skip-bench]

Runs on a bare machine with an NVIDIA GPU, torch and voicechat installed (benchmarks/gpu.sh
installs what is missing from carried wheels). Every model is a random-weight checkpoint of
the real shape (Phi-3-mini-4k; Whisper small.en) loaded through voicechat's own loaders, so
each figure is the code path a user gets. It measures:

1. the language model alone, bf16 eager, bf16 compiled, torchao int4 compiled and (last,
   after the benches) bitsandbytes 4-bit, each where its package is installed: the warm-up
   (with the compile),
   then a five-turn conversation with the attention cache kept, giving decode tokens per
   second, the first token of each turn, the slowest turn against the median, and peak CUDA
   memory;
2. `voicechat bench --random-weights` with openai-whisper small.en, bf16 compiled and int4
   compiled, the take ended by the silence rule: end of speech to first audio, streaming
   against sequential, and the whole stack's peak CUDA memory;
3. the voice alone, in a process of its own: the bench's first sentence synthesised by
   piper on the CPU, before and after torch has run on the CPU and CUDA in that process, to
   set beside the bench's "TTS first audio".

It writes gpu.json and gpu.md into --out. `--device cpu --layers 2` runs the same steps on a
CPU in a few minutes, as a check that the script works.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

QUESTIONS = (
    "What is the capital of France?",
    "And how many people live there?",
    "What is it best known for?",
    "When is the best time to visit it?",
    "Which museum should I see first?",
)


def variants(device: str) -> dict[str, dict[str, Any]]:
    """The language-model settings to compare, those whose packages are installed."""
    out: dict[str, dict[str, Any]] = {
        "bf16 eager": {"dtype": "bfloat16"},
        "bf16 compiled": {"dtype": "bfloat16", "compile": True},
    }
    if device == "cuda" and importlib.util.find_spec("torchao"):
        out["int4 compiled (torchao)"] = {"quantization": "int4", "compile": True}
    return out


def late_variants(device: str) -> dict[str, dict[str, Any]]:
    """Settings measured after the benches, as a run cut short by its time limit should
    lose them first: bitsandbytes' 4-bit cannot be compiled, so it is not benched."""
    if device == "cuda" and importlib.util.find_spec("bitsandbytes"):
        return {"4-bit eager (bitsandbytes)": {"quantization": "4bit"}}
    return {}


def decode_figures(
    folder: Path, device: str, settings: dict[str, Any], tokens: int
) -> dict[str, Any]:
    """Load, warm up, and run a kept-cache conversation; the figures of one variant."""
    import torch

    from voicechat.config import LlmConfig
    from voicechat.llm.base import GenerationOptions
    from voicechat.models import create_chat_model
    from voicechat.types import Message

    if device == "cuda":
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats()
    start = time.perf_counter()
    model = create_chat_model(LlmConfig(model=str(folder), device=device, **settings))
    loaded_s = time.perf_counter() - start
    start = time.perf_counter()
    warm = GenerationOptions(max_new_tokens=2, temperature=0.0)
    list(model.stream([Message("user", "Hello")], warm, threading.Event()))
    warm_s = time.perf_counter() - start
    options = GenerationOptions(max_new_tokens=tokens, temperature=0.0)
    conversation = [Message("system", "You are a helpful voice assistant.")]
    turns = []
    for question in QUESTIONS:
        conversation.append(Message("user", question))
        start = time.perf_counter()
        stamps = []
        pieces = []
        for piece in model.stream(conversation, options, threading.Event()):
            stamps.append(time.perf_counter() - start)
            pieces.append(piece)
        decode_s = stamps[-1] - stamps[0]
        turns.append(
            {
                "first_token_ms": round(stamps[0] * 1000, 1),
                "tokens_per_s": round((tokens - 1) / max(decode_s, 1e-6), 1),
                "turn_ms": round((time.perf_counter() - start) * 1000, 1),
                "cached_prompt_tokens": getattr(model, "cached_prompt_tokens", 0),
            }
        )
        conversation.append(Message("assistant", "".join(pieces).strip()))
    median_turn = statistics.median(t["turn_ms"] for t in turns)
    figures = {
        "load_s": round(loaded_s, 1),
        "warm_up_s": round(warm_s, 1),
        "tokens_per_s_p50": statistics.median(t["tokens_per_s"] for t in turns),
        "first_token_ms_turn5": turns[-1]["first_token_ms"],
        "slowest_turn_over_median": round(max(t["turn_ms"] for t in turns) / median_turn, 2),
        "turns": turns,
    }
    if device == "cuda":
        figures["peak_cuda_mb"] = round(torch.cuda.max_memory_allocated() / 2**20)
    del model
    return figures


def failed_where(error: BaseException) -> list[str]:
    """The innermost frames of what failed (its cause's, where it wraps one): an error with
    no message, as an assertion in a library, says nothing more."""
    import traceback

    root = error
    while root.__cause__ is not None:
        root = root.__cause__
    frames = traceback.extract_tb(root.__traceback__)[-4:]
    return [f"{Path(f.filename).name}:{f.lineno} {f.line or ''}".strip() for f in frames]


def bench_figures(
    device: str, layers: int, settings: dict[str, Any], turns: int, piper_voice: str
) -> dict[str, Any]:
    """`voicechat bench --random-weights` in a fresh process, with these [llm] settings.

    The take ends by the silence rule: random weights give the words no meaning to judge,
    and Smart Turn's model is not on a bare machine (the CPU sections measure the smart end
    of turn). `piper_voice` is the voice speaking the question and the reply ("" for the
    offline extra's)."""

    def toml(table: dict[str, Any]) -> str:
        return "".join(f"{key} = {json.dumps(value)}\n" for key, value in table.items())

    tables = {
        "audio": {"end_of_turn": "silence"},
        "asr": {"model": "small.en", "device": device},
        "llm": {"device": device, **settings},
        "tts": {"engine": "piper", "piper_voice": piper_voice},
    }
    with tempfile.TemporaryDirectory() as folder:
        config = Path(folder) / "bench.toml"
        config.write_text("".join(f"[{name}]\n{toml(t)}" for name, t in tables.items()))
        command = [
            sys.executable, "-m", "voicechat", "--config", str(config), "bench",
            "--random-weights", "--random-layers", str(layers), "--turns", str(turns), "--json",
        ]  # fmt: skip
        done = subprocess.run(command, capture_output=True, text=True, check=False, cwd=REPO)
    if done.returncode != 0:
        return {"error": done.stderr.strip()[-1500:] or f"exit {done.returncode}"}
    report = json.loads(done.stdout)
    return {
        "first_audio_ms_p50": report["streaming"]["first_audio_ms"]["p50"],
        "sequential_first_audio_ms_p50": report["sequential"]["first_audio_ms"]["p50"],
        "end_of_speech_ms_p50": report["streaming"]["end_of_speech_ms"]["p50"],
        "tokens_per_s_p50": report["streaming"]["tokens_per_s"]["p50"],
        "first_audio_ratio": report["first_audio_ratio"],
        "memory": report["memory"],
        "engines": report["engines"],
        "streaming": report["streaming"],
        "sequential": report["sequential"],
    }


def voice_figures(piper_voice: str, repeats: int = 5) -> dict[str, Any]:
    """The bench's first sentence spoken by piper (`piper_voice`, "" for the offline extra's)
    in a fresh process: ms p50 of `repeats` after a warm-up, alone and then after torch has
    run a matrix product on the CPU and one on CUDA where there is one."""
    done = subprocess.run(
        [sys.executable, __file__, "--time-voice", piper_voice, "--repeats", str(repeats)],
        capture_output=True, text=True, check=False, cwd=REPO,
    )  # fmt: skip
    if done.returncode != 0:
        return {"error": done.stderr.strip()[-1500:] or f"exit {done.returncode}"}
    figures: dict[str, Any] = json.loads(done.stdout)
    return figures


def time_voice(piper_voice: str, repeats: int) -> dict[str, Any]:
    """`voice_figures`, in the process it starts."""
    import os

    import onnxruntime

    from voicechat.bench.random_weights import FIXED_REPLY
    from voicechat.config import TtsConfig
    from voicechat.tts.piper import PiperSynthesizer

    sentence = FIXED_REPLY.split(". ")[0] + "."
    voice = PiperSynthesizer(TtsConfig(engine="piper", piper_voice=piper_voice), steady=True)

    def p50_ms() -> float:
        list(voice.stream(sentence))  # warm-up
        times = []
        for _ in range(repeats):
            start = time.perf_counter()
            list(voice.stream(sentence))
            times.append((time.perf_counter() - start) * 1000)
        return round(statistics.median(times), 1)

    alone = p50_ms()
    import torch

    torch.ones(512, 512) @ torch.ones(512, 512)
    if torch.cuda.is_available():
        (torch.ones(512, 512, device="cuda") @ torch.ones(512, 512, device="cuda")).cpu()
    return {
        "sentence": sentence,
        "alone_ms_p50": alone,
        "after_torch_ms_p50": p50_ms(),
        "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "onnxruntime": onnxruntime.__version__,
    }


def _table(header: list[str], rows: dict[str, dict[str, Any]], cells: Any) -> list[str]:
    """A markdown table: one row per variant, `cells(figures)` giving its cells."""
    lines = ["| " + " | ".join(header) + " |", "|" + " --- |" * len(header)]
    for name, f in rows.items():
        row = [f["error"]] + [""] * (len(header) - 2) if "error" in f else cells(f)
        lines.append("| " + " | ".join([name, *map(str, row)]) + " |")
    return lines


def markdown(results: dict[str, Any]) -> str:
    """The figures as markdown tables."""
    where = results["machine"].get("gpu", results["machine"]["cpu"])
    lines = [
        f"Measured on {where}, Phi-3-mini-4k shape with {results['layers']} layers, random "
        f"weights, {results['tokens']} tokens per reply, p50 over five turns.",
        "",
        *_table(
            ["language model", "load s", "warm-up s", "tokens/s", "first token, turn 5",
             "slowest turn / median", "peak CUDA MB"],
            results["decode"],
            lambda f: [f["load_s"], f["warm_up_s"], f["tokens_per_s_p50"],
                       f"{f['first_token_ms_turn5']} ms", f["slowest_turn_over_median"],
                       f.get("peak_cuda_mb", "-")],
        ),
    ]  # fmt: skip
    if results["bench"]:
        lines += [
            "",
            *_table(
                ["voicechat bench", "end of speech → first audio", "sequential", "ratio",
                 "end-of-speech wait", "tokens/s", "peak CUDA MB"],
                results["bench"],
                lambda f: [f"{f['first_audio_ms_p50']} ms",
                           f"{f['sequential_first_audio_ms_p50']} ms", f["first_audio_ratio"],
                           f"{f['end_of_speech_ms_p50']} ms", f["tokens_per_s_p50"],
                           f["memory"].get("peak_cuda_mb", "-")],
            ),
        ]  # fmt: skip
    voice = results.get("voice") or {}
    if "alone_ms_p50" in voice:
        lines += [
            "",
            f"The voice alone ({voice['onnxruntime']} onnxruntime, {voice['cpu_count']} CPUs), "
            f'"{voice["sentence"]}": {voice["alone_ms_p50"]} ms p50, '
            f"{voice['after_torch_ms_p50']} ms after torch ran in the process.",
        ]
    elif voice:
        lines += ["", f"The voice alone failed: {voice.get('error', '')}"]
    return "\n".join(lines) + "\n"


def parse_args() -> argparse.Namespace:
    """The command line."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", type=Path, default=Path("gpu-figures"))
    parser.add_argument("--device", default="cuda", choices=("cuda", "cpu"))
    parser.add_argument("--layers", type=int, default=32, help="Phi-3 layers (32 = the real one)")
    parser.add_argument("--tokens", type=int, default=64, help="tokens per reply")
    parser.add_argument("--turns", type=int, default=3, help="bench turns of each kind")
    parser.add_argument("--skip-bench", action="store_true")
    parser.add_argument(
        "--only",
        default="",
        metavar="NAMES",
        help='comma-separated settings to measure, decode and bench (e.g. "bf16 compiled")',
    )
    parser.add_argument("--time-voice", metavar="VOICE", help=argparse.SUPPRESS)
    parser.add_argument("--repeats", type=int, default=5, help=argparse.SUPPRESS)
    parser.add_argument(
        "--piper-voice",
        default="",
        help="a piper .onnx voice for the bench (default: the offline extra's); where the "
        "extra's 63 MB voice does not travel, an int8 copy (say so with its figures)",
    )
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    if args.time_voice is not None:  # the voice_figures child
        print(json.dumps(time_voice(args.time_voice, args.repeats)))
        return

    from voicechat.bench.figures import machine
    from voicechat.bench.random_weights import random_phi3

    args.out.mkdir(parents=True, exist_ok=True)
    folder = random_phi3(args.layers)
    results: dict[str, Any] = {
        "machine": machine(),
        "layers": args.layers,
        "tokens": args.tokens,
        "decode": {},
        "bench": {},
        "voice": {},
    }

    def save() -> None:  # after every step, so a late failure loses nothing
        results["machine"] = machine()
        (args.out / "gpu.json").write_text(json.dumps(results, indent=2) + "\n")
        (args.out / "gpu.md").write_text(markdown(results))

    only = {name.strip() for name in args.only.split(",") if name.strip()}

    def chosen(settings_by_name: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
        return {k: v for k, v in settings_by_name.items() if not only or k in only}

    def decode(settings_by_name: dict[str, dict[str, Any]]) -> None:
        for name, settings in chosen(settings_by_name).items():
            print(f"== {name}", flush=True)
            try:
                results["decode"][name] = decode_figures(folder, args.device, settings, args.tokens)
            except Exception as e:  # one variant failing must not lose the others
                results["decode"][name] = {"error": f"{type(e).__name__}: {e}"[:300]}
                results["decode"][name]["where"] = failed_where(e)
            print(json.dumps(results["decode"][name])[:400], flush=True)
            save()

    decode(variants(args.device))
    if not args.skip_bench:
        bench_variants = {"bf16 compiled": {"dtype": "bfloat16", "compile": True}}
        if args.device == "cuda" and importlib.util.find_spec("torchao"):
            bench_variants["int4 compiled (torchao)"] = {"quantization": "int4", "compile": True}
        for name, settings in chosen(bench_variants).items():
            print(f"== bench, {name}", flush=True)
            results["bench"][name] = bench_figures(
                args.device, args.layers, settings, args.turns, args.piper_voice
            )
            print(json.dumps(results["bench"][name])[:400], flush=True)
            save()
    if not args.skip_bench:
        print("== the voice alone", flush=True)
        results["voice"] = voice_figures(args.piper_voice)
        print(json.dumps(results["voice"]), flush=True)
        save()
    decode(late_variants(args.device))
    save()
    print(markdown(results))


if __name__ == "__main__":
    main()
