"""The linear echo canceller, for what speech-to-text hears while both talk: a least-squares
FIR filter from what the speaker played to what the microphone heard, refit every REFIT_S over
the last SPAN_S.

    the speaker's samples, played over the microphone frame's 10 ms ──┐
    the microphone frame ── minus the echo the filter predicts from them ──> what a take keeps

WebRTC's AEC3 (`echo.canceller`) removes more echo, but its suppressor cannot tell a person from
the echo while both talk and removes both. This filter only subtracts the echo it predicts, so
it keeps the person, and Whisper hears past the echo it leaves. It needs the speaker's samples
of the same moment no later than their echo reaches the microphone (earlier is fine, up to its
length; `echo.delay` hands them over just before).

A least-squares fit rather than an adaptive filter: through PulseAudio the echo is a fixed
filtering of what played (a filter fitted on one 0.25 s stretch removes 56-80 dB of the
next), and a fit reaches that at once, where an adaptive filter can stall for seconds while a
person talks over the reply (the comparison is in benchmarks/RESULTS.md, "Talking over the
reply").
A new fit is kept only where it leaves less than the fit in use of the latest REFIT_S, which
it was not fitted to, and removes ADOPT_DB of it: a person talking leaves the fit in use.

The fit solves the normal equations, whose matrix is the Toeplitz autocorrelation of what
played, by conjugate gradients preconditioned with its circulant approximation (T. Chan's),
started from the fit in use: a few FFTs per iteration, and few iterations while the echo path
holds still (about 0.2 ms per 10 ms frame on average at 128 ms, one 2-core x86 CPU).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from voicechat.audio.signal import PCM16_FULL_SCALE, QUIET_MEAN_SQUARE, mean_square
from voicechat.types import WHISPER_SAMPLE_RATE

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

FILTER_MS = 128
"""How long after the sound it is handed the filter models the echo, ms: the room's
reflections after the direct sound, the devices' delay being taken out first
(`echo.delay`)."""
SPAN_S = 1.5
"""Seconds of the latest sound a fit is made over. Replayed through the 128 ms filter, the
median 0.25 s stretch lost 17 dB of the echo over 1 s, 22 over 1.5 s and 23 over 2 s; a
longer span follows a moving echo path more slowly."""
REFIT_S = 0.1
"""Seconds between fits (and the latest stretch a new fit must do better on to be kept)."""
FIRST_S = 0.1
"""Seconds of sound before the first fit."""
RIDGE = 1e-4
"""Fraction of the normal equations' diagonal added to it: a filter that fits the sound's
silences and narrow bands with huge gains fits nothing else."""
TOLERANCE = 1e-4
"""The fit stops where the normal equations' residual is this fraction of their right side."""
MAX_ITERATIONS = 30
"""Conjugate-gradient iterations per fit at most."""
ADOPT_DB = 6.0
"""dB a new fit must remove of the latest REFIT_S to be kept: while a person talks over the
echo, what is left is mostly them, whichever fit is used, and fits made over their voice were
kept as often as not (a person 8 dB louder than the echo, offline: 7 dB of the echo removed
while they talked and after, against 36-37 with this)."""


@dataclass
class Recording:
    """Every call a canceller was given, in order, to be given again to another
    (benchmarks/linear_echo.py): each frame heard, what played over it and what the canceller
    made of it, and each new shift of what played (`LinearEchoCanceller.handed_later`)."""

    microphone: list[npt.NDArray[np.int16]] = field(default_factory=list)
    played: list[npt.NDArray[np.int16]] = field(default_factory=list)
    cancelled: list[npt.NDArray[np.int16]] = field(default_factory=list)
    shifts: list[tuple[int, int, bool]] = field(default_factory=list)
    """(frames before it, the shift in samples, whether the echo moved with it)."""

    def save(self, path: Path) -> None:
        """Write it to `path` (.npz)."""
        import numpy as np

        np.savez_compressed(
            path,
            microphone=np.array(self.microphone, dtype=np.int16).reshape(len(self.microphone), -1),
            played=np.array(self.played, dtype=np.int16).reshape(len(self.played), -1),
            cancelled=np.array(self.cancelled, dtype=np.int16).reshape(len(self.cancelled), -1),
            shifts=np.array(self.shifts, dtype=np.int64).reshape(-1, 3),
        )

    @classmethod
    def load(cls, path: Path) -> Recording:
        """One written by `save`."""
        import numpy as np

        with np.load(path) as saved:
            return cls(
                list(saved["microphone"]),
                list(saved["played"]),
                list(saved["cancelled"]),
                [(int(a), int(b), bool(c)) for a, b, c in saved["shifts"]],
            )


class LinearEchoCanceller:
    """Removes from each microphone frame the echo of what the speaker played over it.

    frame_samples: samples per frame at 16 kHz (every call takes exactly this many).
    filter_ms: how long an echo the filter models, ms.
    """

    def __init__(self, frame_samples: int, filter_ms: int = FILTER_MS) -> None:
        self.frame_samples = frame_samples
        self.taps = filter_ms * WHISPER_SAMPLE_RATE // 1000
        self._span = round(SPAN_S * WHISPER_SAMPLE_RATE)
        self._refit_frames = max(1, round(REFIT_S * WHISPER_SAMPLE_RATE / frame_samples))
        self.shift = 0
        """Samples after it played that what played is handed over (`handed_later`)."""
        self.recording: Recording | None = None
        """Where set, every call is kept there."""
        self.reset()

    def handed_later(self, shift: int, echo_moved: bool) -> None:
        """What played is handed over `shift` samples after it played from now on. With
        `echo_moved`, the echo moved as much (the devices' delay changed): the fit still fits,
        and only sound from now on is fitted (`_moved`). Else the echo is where it was (its
        delay was just found, what played having been handed over at its own time): the fit
        and what played before move with what is handed over (`_realign`)."""
        if shift == self.shift:
            return
        if self.recording is not None:
            self.recording.shifts.append((len(self.recording.microphone), shift, echo_moved))
        if echo_moved:
            self._moved()
        else:
            self._realign(shift - self.shift)
        self.shift = shift

    def reset(self) -> None:
        """Forget the echo path learned (it moved) and what played before."""
        import numpy as np

        self._played = np.zeros(self._span + self.taps - 1)
        self._heard = np.zeros(self._span)
        self._frames = 0
        self._use(np.zeros(self.taps))
        self._moved()

    def _realign(self, samples: int) -> None:
        """What played is handed over `samples` later than before (earlier where negative)
        from now on, and the echo did not move: the fit and what played before move too."""
        self._played = _shifted(self._played, samples)
        self._use(_shifted(self.fit, -samples))

    def _moved(self) -> None:
        """What played is handed over at a new delay from now on, moved with the echo (the
        filter in use still fits): fit only what comes from now on."""
        self._filled = 0
        """Samples heard since the last move, up to the span."""

    def _use(self, fit: npt.NDArray[np.float64]) -> None:
        """Cancel with `fit` from now on."""
        import numpy as np

        self.fit = fit
        """The filter in use: the echo is `fit` convolved with what played."""
        self._fit_spectrum = np.fft.rfft(fit, _fft_size(self.frame_samples + self.taps - 1))

    def cancel(
        self, microphone: npt.NDArray[np.int16], played: npt.NDArray[np.int16]
    ) -> npt.NDArray[np.int16]:
        """`microphone` less the echo of `played` (the speaker's samples over the same span,
        silence where nothing played); both 16-bit, `frame_samples` long."""
        import numpy as np

        count = self.frame_samples
        if len(microphone) != count or len(played) != count:
            raise ValueError(f"frames of {count} samples only")
        self._played[:-count] = self._played[count:]
        self._played[-count:] = played
        self._heard[:-count] = self._heard[count:]
        self._heard[-count:] = microphone
        self._filled = min(self._span, self._filled + count)
        recent = self._played[-(count + self.taps - 1) :]
        size = _fft_size(len(recent))
        echo = np.fft.irfft(np.fft.rfft(recent, size) * self._fit_spectrum, size)
        out = self._heard[-count:] - echo[self.taps - 1 : len(recent)]
        self._frames += 1
        if (
            self._frames % self._refit_frames == 0
            and self._filled >= (FIRST_S + REFIT_S) * WHISPER_SAMPLE_RATE
        ):
            self._refit()
        cancelled = np.clip(np.round(out), -PCM16_FULL_SCALE - 1, PCM16_FULL_SCALE).astype(np.int16)
        if self.recording is not None:
            self.recording.microphone.append(np.array(microphone, dtype=np.int16))
            self.recording.played.append(np.array(played, dtype=np.int16))
            self.recording.cancelled.append(cancelled)
        return cancelled

    def _refit(self) -> None:
        """Fit the filter anew over what was heard since the last move, up to SPAN_S, but for
        the latest REFIT_S, and keep it where it leaves less of that than the fit in use and
        removes ADOPT_DB of it."""
        import numpy as np

        taps, latest = self.taps, self._refit_frames * self.frame_samples
        filled = self._filled - latest
        played = self._played[-(filled + latest + taps - 1) : -latest]
        if mean_square(played[taps - 1 :]) < QUIET_MEAN_SQUARE:  # too little to fit to
            return
        size = _fft_size(len(played) + taps)
        spectrum = np.fft.rfft(played, size)
        autocorrelation = np.fft.irfft(spectrum * np.conj(spectrum), size)[:taps]
        heard = np.concatenate([np.zeros(taps - 1), self._heard[-(filled + latest) : -latest]])
        cross = np.fft.irfft(np.fft.rfft(heard, size) * np.conj(spectrum), size)[:taps]
        autocorrelation[0] *= 1 + RIDGE
        autocorrelation[0] += 1.0
        fit = solve_toeplitz(autocorrelation, cross, self.fit)
        recent, heard_lately = self._played[-(latest + taps - 1) :], self._heard[-latest:]
        new = heard_lately - _filtered(recent, fit)
        old = heard_lately - _filtered(recent, self.fit)
        left = float(new @ new)
        enough = left * 10 ** (ADOPT_DB / 10) <= float(heard_lately @ heard_lately)
        if enough and left < float(old @ old):
            self._use(fit)


def replay(recording: Recording, canceller: LinearEchoCanceller) -> list[npt.NDArray[np.int16]]:
    """What `canceller` makes of the frames in `recording`, given the same calls in the same
    order."""
    shifts = iter(recording.shifts)
    pending = next(shifts, None)
    out = []
    frames = zip(recording.microphone, recording.played, strict=True)
    for frame, (microphone, played) in enumerate(frames):
        while pending is not None and pending[0] == frame:
            canceller.handed_later(pending[1], echo_moved=pending[2])
            pending = next(shifts, None)
        out.append(canceller.cancel(microphone, played))
    return out


def solve_toeplitz(
    autocorrelation: npt.NDArray[np.float64],
    right: npt.NDArray[np.float64],
    start: npt.NDArray[np.float64],
    tolerance: float = TOLERANCE,
    max_iterations: int = MAX_ITERATIONS,
) -> npt.NDArray[np.float64]:
    """x with T x = `right`, T the symmetric Toeplitz matrix whose first column is
    `autocorrelation` (positive definite), by conjugate gradients from `start`, preconditioned
    with T. Chan's circulant approximation of T; products with T by FFT (T laid in a circulant
    twice its size)."""
    import numpy as np

    n = len(autocorrelation)
    embedded = np.fft.rfft(np.concatenate([autocorrelation, [0.0], autocorrelation[:0:-1]]))

    def times_t(v: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
        return np.fft.irfft(embedded * np.fft.rfft(v, 2 * n), 2 * n)[:n]

    lags = np.arange(n)
    wrapped = np.concatenate([[0.0], autocorrelation[:0:-1]])
    eigenvalues = np.fft.fft(((n - lags) * autocorrelation + lags * wrapped) / n).real
    eigenvalues = np.maximum(eigenvalues, 1e-6 * float(eigenvalues.max()))

    def preconditioned(v: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
        return np.fft.ifft(np.fft.fft(v) / eigenvalues).real

    x = start.copy()
    residual = right - times_t(x)
    z = preconditioned(residual)
    direction = z.copy()
    rz = float(residual @ z)
    goal = tolerance * float(np.linalg.norm(right))
    for _ in range(max_iterations):
        if rz <= 0.0 or float(np.linalg.norm(residual)) <= goal:
            break
        product = times_t(direction)
        step = rz / float(direction @ product)
        x += step * direction
        residual -= step * product
        z = preconditioned(residual)
        rz_next = float(residual @ z)
        direction = z + (rz_next / rz) * direction
        rz = rz_next
    return x


def _filtered(
    played: npt.NDArray[np.float64], fit: npt.NDArray[np.float64]
) -> npt.NDArray[np.float64]:
    """`played` through the FIR `fit`: its last len(played) - len(fit) + 1 samples (those
    with the whole filter's length of sound before them)."""
    import numpy as np

    size = _fft_size(len(played))
    return np.fft.irfft(np.fft.rfft(played, size) * np.fft.rfft(fit, size), size)[
        len(fit) - 1 : len(played)
    ]


def _shifted(values: npt.NDArray[np.float64], by: int) -> npt.NDArray[np.float64]:
    """`values` moved `by` places later (earlier where negative), zeros coming in."""
    import numpy as np

    out = np.zeros_like(values)
    if 0 <= by < len(values):
        out[by:] = values[: len(values) - by]
    elif -len(values) < by < 0:
        out[:by] = values[-by:]
    return out


def _fft_size(samples: int) -> int:
    """The power of two at least `samples`."""
    return 1 << max(0, samples - 1).bit_length()
