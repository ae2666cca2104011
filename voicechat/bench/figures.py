"""What bench measures, their percentiles, and the machine they were measured on."""

from __future__ import annotations

import os
import platform
import resource
import statistics
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

MEASURES = {
    "end_of_speech_ms": "end-of-speech detection",
    "asr_ms": "speech-to-text",
    "transcript_ready_ms": "transcript ready",
    "first_token_ms": "LLM first token",
    "tokens_per_s": "LLM tokens per second",
    "first_sentence_ms": "first sentence",
    "tts_first_audio_ms": "TTS first audio",
    "first_audio_ms": "end of speech → first audio",
    "turn_ms": "whole turn",
    "overhead_ms": "pipeline overhead",
}
"""Every measure of a turn and its label, in report order. Times are ms: from the end of
speech for transcript_ready, first_audio and turn; the stage's own length for the rest."""


@dataclass(frozen=True)
class Span:
    """A stage on the turn's time axis, ms from the end of speech."""

    stage: str
    start_ms: float
    end_ms: float


@dataclass
class TurnFigures:
    """One turn's measures (keys of MEASURES), its timeline, what was heard and the reply.
    values["end_of_speech_ms"] is negative when the take ended before the speech did."""

    values: dict[str, float]
    timeline: list[Span] = field(default_factory=list)
    reply: str = ""
    said: str = ""


def percentile(values: Sequence[float], q: float) -> float:
    """The q-th percentile (0-100) by linear interpolation."""
    if len(values) == 1:
        return float(values[0])
    return float(statistics.quantiles(values, n=100, method="inclusive")[int(q) - 1])


def summarise(turns: Sequence[TurnFigures]) -> dict[str, dict[str, float]]:
    """p50 and p90 of every measure across turns: {"asr_ms": {"p50": …, "p90": …}, …}."""
    return {
        k: {
            "p50": round(percentile([t.values[k] for t in turns], 50), 1),
            "p90": round(percentile([t.values[k] for t in turns], 90), 1),
        }
        for k in MEASURES
    }


def peak_memory() -> dict[str, float]:
    """Peak resident memory of this process (MB) and peak CUDA memory (MB) when on a GPU."""
    out = {"peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)}
    torch = sys.modules.get("torch")
    if torch is not None and torch.cuda.is_available():
        out["peak_cuda_mb"] = round(torch.cuda.max_memory_allocated() / 2**20, 1)
    return out


def machine() -> dict[str, Any]:
    """What the figures were measured on."""
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as fh:
            cpu = next(
                line.split(":", 1)[1].strip() for line in fh if line.startswith("model name")
            )
    except (OSError, StopIteration):
        pass
    info: dict[str, Any] = {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "python": platform.python_version(),
    }
    torch = sys.modules.get("torch")
    if torch is not None:
        info["torch"] = torch.__version__
        if torch.cuda.is_available():
            info["gpu"] = torch.cuda.get_device_name(0)
    return info


def verdict_costs(verdicts: Sequence[Any]) -> dict[str, float | int]:
    """How often the smart end of turn judged, how often it said finished, and each
    signal's cost p50 in ms (absent when there were no judgements)."""
    out: dict[str, float | int] = {
        "judged": len(verdicts),
        "finished": sum(1 for v in verdicts if v.complete),
    }
    for signal in ("words", "sound"):
        costs = [getattr(v, f"{signal}_ms") for v in verdicts if getattr(v, signal) is not None]
        if costs:
            out[f"{signal}_ms_p50"] = round(percentile(costs, 50), 1)
    return out


def restart_figures(restarts: Sequence[Any], turns: int) -> dict[str, float | int]:
    """How many replies were begun at a pause and dropped as the person went on, over
    `turns` spoken turns, and how long they had sounded (ms p50 and max; absent with none)."""
    out: dict[str, float | int] = {"restarts": len(restarts), "turns": turns}
    sounded = [r.sounded_s * 1000 for r in restarts]
    if sounded:
        out["sounded_ms_p50"] = round(percentile(sounded, 50), 1)
        out["sounded_ms_max"] = round(max(sounded), 1)
    return out
