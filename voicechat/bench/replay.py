"""A recording played as a microphone: the take recorder hears it as it would be spoken."""

from __future__ import annotations

import time

from voicechat.audio.signal import VAD_FRAME_SAMPLES
from voicechat.types import WHISPER_SAMPLE_RATE, AudioClip, MicBlock


class ReplayedMicrophone:
    """Delivers `clip` (16 kHz) in 32 ms blocks at the pace it was spoken, then silence.

    It has the `Microphone` methods `TakeRecorder` uses; the clock starts at `start()`.
    """

    def __init__(self, clip: AudioClip) -> None:
        if clip.sample_rate != WHISPER_SAMPLE_RATE:
            raise ValueError("a replayed take must be 16 kHz")
        self.clip = clip
        self.level_db = -100.0
        self._started_at = 0.0
        self._position = 0

    def start(self) -> None:
        """Begin playing the recording from its start (once: later takes hear it go on, as
        they would a microphone)."""
        if self._started_at == 0.0:
            self._started_at = time.monotonic()
            self._position = 0

    def drain(self) -> None:
        """Nothing was heard before the take."""

    def time_at(self, sample: int) -> float:
        """time.monotonic() at which `sample` was heard."""
        return self._started_at + sample / WHISPER_SAMPLE_RATE

    def read(self, timeout: float = 0.2) -> MicBlock | None:
        """The next block once it has been 'spoken', or None if that is over `timeout` away."""
        import numpy as np

        end = self._position + VAD_FRAME_SAMPLES
        wait = self.time_at(end) - time.monotonic()
        if wait > timeout:
            time.sleep(timeout)
            return None
        if wait > 0:
            time.sleep(wait)
        block = self.clip.samples[self._position : end]
        if len(block) < VAD_FRAME_SAMPLES:
            block = np.concatenate([block, np.zeros(VAD_FRAME_SAMPLES - len(block), np.float32)])
        self._position = end
        return MicBlock.alone(np.asarray(block, dtype=np.float32))

    def close(self) -> None:
        """Nothing to release."""
