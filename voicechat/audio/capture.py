"""Recording from the microphone at its native rate, delivered as 16 kHz mono.

Opening a device at 16 kHz makes PortAudio fail on many devices, so the stream runs at the
device's own rate and soxr resamples as blocks arrive.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from typing import TYPE_CHECKING, Any

from voicechat.audio.devices import _sounddevice, resolve_input
from voicechat.audio.signal import level_dbfs
from voicechat.errors import MicrophoneUnavailable
from voicechat.types import WHISPER_SAMPLE_RATE, MicBlock

if TYPE_CHECKING:
    from voicechat.echo.canceller import MicFilter

log = logging.getLogger(__name__)

BLOCK_S = 0.032
"""Seconds per block from the device (one voice-activity frame at 16 kHz)."""
REANCHOR_S = 0.5
"""Seconds by which the device's sample clock may disagree with when its blocks arrive before
that clock is set again from the time: samples were lost (an overrun, a device that paused),
or the device's clock drifted that far from the system's over hours. A callback run late on
a busy machine is not such a case: its samples were captured on time. Nor is one run early:
through ALSA's PulseAudio plugin blocks come in pairs, so a count begun at the first block
runs up to a block ahead of later ones. It stays a little late, which nothing minds, where
setting it again (by 0.1-8 ms at a time) moved the echo as the linear canceller saw it, and
a canceller aligned to the sample then removed little of the echo for most of a second."""
STALL_S = 0.5
"""Seconds without a block, once blocks have been coming, after which the device counts as
gone. Blocks come every BLOCK_S (in pairs through ALSA's PulseAudio plugin); a PulseAudio
source removed under an open stream leaves it "active" and silent for 0.9-1.9 s (measured)
before PulseAudio moves it to another source, so inactivity alone never shows it. The first
block may take seconds to come through that plugin, so that wait is not judged."""


class Microphone:
    """An open input stream. `read()` returns 16 kHz mono blocks in order.

    level_db: the loudness of the latest block in dBFS (-100 for silence), for a meter.
    clean: cleans every block before it is read (echo, noise: `echo.canceller.MicFilter`).
    overflows: device blocks that came after input was lost (PortAudio's input overflow).
    """

    def __init__(self, device: str | int = "", clean: MicFilter | None = None) -> None:
        self.device = resolve_input(device)
        self.clean = clean
        self.level_db = -100.0
        self.overflows = 0
        self._overflows_logged = 0
        self._blocks: queue.Queue[Any] = queue.Queue()
        self._stream: Any = None
        self._resampler: Any = None
        self._lock = threading.Lock()
        self._last_block_at: float | None = None
        """time.monotonic() of the latest block from the device; None before the first."""
        self._clock: tuple[float, int] | None = None
        """(time.monotonic() of the device's sample 0, samples since): capture times counted
        on the device's steady sample clock, not on when the callback happened to run."""
        self._resampled: tuple[float, float] | None = None
        """(when the first 16 kHz sample counted was captured, samples counted since): the
        resampler hands out its samples in uneven bursts (540 for one 32 ms block at 44.1
        kHz, none for another), so a resampled block's capture time is counted in its own
        samples, from the last gap in what was read (`_resampled_until`)."""
        self._dropped = True
        """Blocks were dropped unread (`drain`), or none was read yet."""

    def start(self) -> None:
        """Open the stream (once); raises MicrophoneUnavailable for a busy or missing device."""
        sd = _sounddevice()
        with self._lock:
            if self._stream is not None:
                return
            rate = self.device.rate
            try:
                self._stream = sd.InputStream(
                    device=self.device.index,
                    samplerate=rate,
                    channels=1,
                    dtype="float32",
                    blocksize=int(rate * BLOCK_S),
                    # The default ("high") latency makes ALSA's PulseAudio plugin hold the
                    # first block for about 2 s: the start of every first take was lost.
                    latency="low",
                    callback=self._on_block,
                )
                self._last_block_at = None
                self._clock = None
                self._stream.start()
            except sd.PortAudioError as e:
                self._stream = None
                raise MicrophoneUnavailable(f"cannot open {self.device.name!r} ({e})") from None
            self._resampler = self._new_resampler() if rate != WHISPER_SAMPLE_RATE else None

    def _new_resampler(self) -> Any:
        """A resampler from the device's rate to 16 kHz, holding nothing yet."""
        import soxr

        return soxr.ResampleStream(self.device.rate, WHISPER_SAMPLE_RATE, 1, dtype="float32")

    def _on_block(self, indata: Any, frames: int, at: Any, status: Any) -> None:
        now = time.monotonic()
        self._last_block_at = now
        rate = self.device.rate
        origin, seen = self._clock if self._clock is not None else (now - frames / rate, 0)
        captured_at = origin + (seen + frames) / rate
        lost = bool(getattr(status, "input_overflow", False))
        if lost:  # the sample clock skipped what was lost: count from now again
            self.overflows += 1
        # A gap: samples before this block are missing (lost, the device paused), or the
        # clocks drifted apart; the count starts again.
        gap = lost or self._clock is None or abs(now - captured_at) > REANCHOR_S
        if gap:
            origin, seen = now - frames / rate, 0
            captured_at = now
        self._clock = (origin, seen + frames)
        self._blocks.put((indata[:, 0].copy(), captured_at, gap))

    def drain(self) -> None:
        """Drop everything recorded so far (what was heard while not listening)."""
        self._dropped = True
        while True:
            try:
                self._blocks.get_nowait()
            except queue.Empty:
                return

    def read(self, timeout: float = 0.2) -> MicBlock | None:
        """The next block at 16 kHz, or None if none arrived in `timeout` seconds."""
        import numpy as np

        try:
            block, captured_at, gap = self._blocks.get(timeout=timeout)
        except queue.Empty:
            stream, last = self._stream, self._last_block_at
            stalled = last is not None and time.monotonic() - last > STALL_S
            if stream is not None and (not stream.active or stalled):
                self.close()  # a later start() opens the device afresh
                raise MicrophoneUnavailable(
                    f"the microphone {self.device.name!r} stopped delivering audio (disconnected?)"
                ) from None
            return None
        if self.overflows > self._overflows_logged:
            log.warning("microphone: input lost %d times so far (overflow)", self.overflows)
            self._overflows_logged = self.overflows
        self.level_db = level_dbfs(block)
        gap, self._dropped = gap or self._dropped, False
        if self._resampler is not None:
            start = captured_at - len(block) / self.device.rate
            if gap:  # what the resampler holds does not go on into this block
                self._resampler = self._new_resampler()
            block = self._resampler.resample_chunk(block)
            captured_at = self._resampled_until(start, len(block), gap)
        block = np.asarray(block, dtype=np.float32)
        if self.clean is None:
            return MicBlock.alone(block)
        return self.clean.process(block, captured_at)

    def _resampled_until(self, start: float, samples: int, gap: bool) -> float:
        """When the last of `samples` resampled samples was captured, the device block they
        came from starting at `start` (`gap`: after missing samples, or the first).

        Counted on from the samples read before, and from this block only after a gap (the
        resampler is then new too): its output for a block starts up to a block before it,
        so counting afresh from a block's start in the middle of a stream misplaced it by up
        to 30 ms. Through PulseAudio that moved the echo's delay as the canceller saw it by as
        much, about once per reply."""
        if self._resampled is None or gap:
            self._resampled = (start, 0.0)
        first, counted = self._resampled
        self._resampled = (first, counted + samples)
        return first + (counted + samples) / WHISPER_SAMPLE_RATE

    def close(self) -> None:
        """Close the stream."""
        with self._lock:
            if self._stream is not None:
                self._stream.stop()
                self._stream.close()
                self._stream = None
