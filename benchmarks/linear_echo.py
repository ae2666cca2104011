"""The linear echo canceller on recorded calls: how soon and how much of the echo it removes,
as it was when they were recorded and as it is now, and what it costs.

    python benchmarks/talk_over_pulse.py --runs 10 --voice none --keep DIR
    python benchmarks/linear_echo.py DIR [DIR ...]

`talk_over_pulse.py --keep` records every call talk's microphone filter gives the canceller
through PulseAudio (`echo.linear.Recording`: each 10 ms frame heard, what played over
it, the output, and each time the devices' delay was found or moved), one
`run-N-calls.npz` a run. Each is given again, call for call, to a fresh
`LinearEchoCanceller` as the code is now (`echo.linear.replay`), so a change to the
canceller is judged on the very sound it met. For each: dB removed in the best 0.2 s window
of the first 1, 2 and 3 s after the speaker starts (a person talking over the echo lowers a
window; the best one is echo alone), and the median 0.2 s window while the speaker is loud.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

WINDOW = 20
"""Frames (10 ms) per window judged."""
BY_S = (1.0, 2.0, 3.0)
"""Seconds after the speaker starts by which the best window is taken."""
LOUD = 1e4
"""Mean square (16-bit) of a window, heard and played, below which it is not judged."""


def removal(
    heard: np.ndarray, played: np.ndarray, cancelled: np.ndarray
) -> tuple[list[float], float]:
    """The best window's dB removed by each of BY_S after the first loud sound played, and
    the median window's while both are loud (frames in rows)."""

    def db(x: np.ndarray) -> float:
        return 10 * float(np.log10(np.mean(np.square(x.astype(np.float64))) + 1.0))

    loud = np.flatnonzero(np.mean(np.square(played.astype(np.float64)), axis=1) > LOUD)
    start = int(loud[0]) if len(loud) else 0
    best = [float("nan")] * len(BY_S)
    every = []
    for first in range(start, len(heard) - WINDOW + 1, WINDOW):
        span = slice(first, first + WINDOW)
        if db(heard[span]) < 10 * np.log10(LOUD) or db(played[span]) < 10 * np.log10(LOUD):
            continue
        removed = db(heard[span]) - db(cancelled[span])
        every.append(removed)
        for i, by in enumerate(BY_S):
            if (first + WINDOW - start) / 100 <= by and not removed <= best[i]:
                best[i] = removed
    return best, statistics.median(every) if every else float("nan")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("folders", type=Path, nargs="+", help="folders of run-N-calls.npz")
    args = parser.parse_args()

    from voicechat.audio.signal import ECHO_FRAME_SAMPLES
    from voicechat.echo.linear import LinearEchoCanceller, Recording, replay

    paths = sorted(p for folder in args.folders for p in folder.rglob("*calls.npz"))
    if not paths:
        sys.exit(f"no *calls.npz under {', '.join(map(str, args.folders))}")
    rows: dict[str, list[list[float]]] = {"recorded": [], "now": []}
    frames, spent = 0, 0.0
    for path in paths:
        recording = Recording.load(path)
        began = time.perf_counter()
        again = replay(recording, LinearEchoCanceller(ECHO_FRAME_SAMPLES))
        spent += time.perf_counter() - began
        frames += len(again)
        heard, played = np.array(recording.microphone), np.array(recording.played)
        line = []
        for name, out in (("recorded", recording.cancelled), ("now", again)):
            best, median = removal(heard, played, np.array(out))
            rows[name].append([*best, median])
            line.append(f"{name} " + " / ".join(f"{b:.1f}" for b in best) + f", {median:.1f}")
        print(f"{path}: {len(recording.shifts)} shifts; " + "; ".join(line))
    print(f"\n{len(paths)} recordings; dB removed, best 0.2 s by 1 / 2 / 3 s, then the median:")
    for name, values in rows.items():
        table = np.array(values)
        for label, pick in (("median", np.nanmedian), ("worst", np.nanmin)):
            figures = " / ".join(f"{x:.1f}" for x in pick(table[:, :3], axis=0))
            print(f"  {name:8s} {label:6s} {figures}, {pick(table[:, 3]):.1f}")
    print(f"now: {1000 * spent / max(frames, 1):.3f} ms per 10 ms frame")


if __name__ == "__main__":
    main()
