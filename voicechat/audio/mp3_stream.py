"""Decoding an MP3 stream as it arrives, in pieces cut anywhere, with one continuous decoder.

The Edge voice sends a sentence as MP3 bytes in many small messages. Decoding each message
on its own would click at every joint (MP3 frames overlap) and wait for whole frames to be
cut right; one decoder for the whole sentence, fed whatever arrives, gives gapless audio
from the first complete frame on. PyAV (FFmpeg's decoders) does the work.
"""

from __future__ import annotations

from typing import Any

from voicechat.audio.container import frame_mono
from voicechat.types import AudioClip


class Mp3Stream:
    """Feed MP3 bytes with `feed`; each call returns the audio they completed (mono float32
    at the stream's own rate, 24,000 Hz for Edge), or None while no frame is complete yet."""

    def __init__(self) -> None:
        import av

        self._codec: Any = av.CodecContext.create("mp3", "r")

    def feed(self, data: bytes) -> AudioClip | None:
        """Decode what `data` completes."""
        return self._decode(self._codec.parse(data))

    def flush(self) -> AudioClip | None:
        """The end of the stream: decode what the parser and decoder still hold."""
        return self._decode([*self._codec.parse(b""), None])

    def _decode(self, packets: list[Any]) -> AudioClip | None:
        import numpy as np

        blocks = []
        rate = 0
        for packet in packets:
            for frame in self._codec.decode(packet):
                blocks.append(frame_mono(frame))
                rate = frame.sample_rate
        if not blocks:
            return None
        return AudioClip(np.concatenate(blocks), rate)
