"""Microsoft Edge's online voices through the edge-tts Python API (never a shell command).

asyncio stays inside this adapter: each sentence runs its own short event loop in the
calling (text-to-speech worker) thread. The MP3 chunks are decoded by libsndfile.
"""

from __future__ import annotations

import asyncio
import io

from voicechat.config import TtsConfig
from voicechat.errors import SynthesisUnavailable
from voicechat.types import AudioClip

FIRST_AUDIO_TIMEOUT_S = 3.0
"""Seconds to wait for the service's first audio before falling back."""
SENTENCE_TIMEOUT_S = 20.0
"""Seconds one sentence may take in all."""


def decode_mp3(data: bytes) -> AudioClip:
    """MP3 bytes to a mono float32 clip at the stream's own rate."""
    import numpy as np
    import soundfile as sf

    samples, rate = sf.read(io.BytesIO(data), dtype="float32", always_2d=True)
    return AudioClip(samples=np.ascontiguousarray(samples.mean(axis=1)), sample_rate=int(rate))


class EdgeSynthesizer:
    """voice: an Edge voice name ("en-US-AriaNeural"); rate: "+0%", "-10%", …"""

    engine = "edge"

    def __init__(self, tts: TtsConfig) -> None:
        """tts: voice, rate and proxy."""
        import edge_tts  # noqa: F401  (fail at start if the package is missing)

        self.voice = tts.voice
        self.rate = tts.rate
        self.proxy = tts.proxy or None

    def synthesize(self, text: str) -> AudioClip:
        """Fetch `text` from the service; every network or service failure is one reason."""
        import aiohttp
        import edge_tts.exceptions

        try:
            data = asyncio.run(asyncio.wait_for(self._fetch(text), SENTENCE_TIMEOUT_S))
        except TimeoutError:
            raise SynthesisUnavailable("Edge TTS timed out") from None
        except aiohttp.ClientResponseError as e:
            raise SynthesisUnavailable(f"Edge TTS refused the request ({e.status})") from None
        except (aiohttp.ClientError, OSError) as e:
            raise SynthesisUnavailable(f"Edge TTS is unreachable ({type(e).__name__})") from None
        except edge_tts.exceptions.NoAudioReceived:
            raise SynthesisUnavailable("Edge TTS sent no audio") from None
        except edge_tts.exceptions.EdgeTTSException as e:
            raise SynthesisUnavailable(f"Edge TTS failed ({type(e).__name__})") from None
        return decode_mp3(data)

    async def _fetch(self, text: str) -> bytes:
        import edge_tts

        communicate = edge_tts.Communicate(
            text,
            self.voice,
            rate=self.rate,
            proxy=self.proxy,
            connect_timeout=int(FIRST_AUDIO_TIMEOUT_S),
        )
        chunks: list[bytes] = []
        stream = communicate.stream()
        try:
            async with asyncio.timeout(FIRST_AUDIO_TIMEOUT_S) as first_audio:
                async for chunk in stream:
                    if chunk["type"] == "audio" and chunk.get("data"):
                        chunks.append(chunk["data"])
                        first_audio.reschedule(None)
        finally:
            await stream.aclose()
        if not chunks:
            import edge_tts.exceptions

            raise edge_tts.exceptions.NoAudioReceived("no audio")
        return b"".join(chunks)
