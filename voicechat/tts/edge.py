"""Microsoft Edge's online voices through the edge-tts Python API (never a shell command).

A sentence's MP3 arrives in many small messages; each is decoded as it arrives by one
continuous decoder (`Mp3Stream`), so the first sound plays once the first message is in,
not after the service has sent the whole sentence. asyncio stays inside this adapter: each
sentence runs its own short event loop in the calling (text-to-speech worker) thread.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncGenerator, Iterator

from voicechat.audio.mp3_stream import Mp3Stream
from voicechat.config import TtsConfig
from voicechat.errors import SynthesisUnavailable
from voicechat.types import AudioClip

log = logging.getLogger(__name__)

FIRST_AUDIO_TIMEOUT_S = 3.0
"""Seconds to wait for the service's first audio before falling back."""
SENTENCE_TIMEOUT_S = 20.0
"""Seconds one sentence may take in all."""


class EdgeSynthesizer:
    """voice: an Edge voice name ("en-US-AriaNeural"); rate: "+0%", "-10%", …"""

    engine = "edge"

    def __init__(self, tts: TtsConfig) -> None:
        """tts: voice, rate and proxy."""
        import edge_tts  # noqa: F401  (fail at start if the package is missing)

        self.voice = tts.voice
        self.rate = tts.rate
        self.proxy = tts.proxy or None

    def stream(self, text: str) -> Iterator[AudioClip]:
        """Speak `text`, each piece as soon as it is decoded. A failure before the first
        audio (or no audio in FIRST_AUDIO_TIMEOUT_S) raises SynthesisUnavailable; one after
        it ends the sentence there."""
        loop = asyncio.new_event_loop()
        messages = self._fetch(text)
        decoder = Mp3Stream()
        start = time.monotonic()
        heard = False
        try:
            while True:
                limit = FIRST_AUDIO_TIMEOUT_S if not heard else SENTENCE_TIMEOUT_S
                left = limit - (time.monotonic() - start)
                try:
                    data = loop.run_until_complete(asyncio.wait_for(anext(messages), left))
                except StopAsyncIteration:
                    break
                except Exception as e:
                    log.debug("Edge TTS failed", exc_info=True)
                    if heard:
                        return  # the sentence was partly heard: end it, say nothing twice
                    raise _unavailable(e) from None
                if (piece := decoder.feed(data)) is not None:
                    heard = True
                    yield piece
            if not heard:
                raise SynthesisUnavailable("Edge TTS sent no audio")
            if (piece := decoder.flush()) is not None:
                yield piece
        finally:
            loop.run_until_complete(messages.aclose())
            loop.close()

    async def _fetch(self, text: str) -> AsyncGenerator[bytes, None]:
        """The sentence's MP3 bytes, message by message."""
        import edge_tts

        communicate = edge_tts.Communicate(
            text,
            self.voice,
            rate=self.rate,
            proxy=self.proxy,
            connect_timeout=int(FIRST_AUDIO_TIMEOUT_S),
        )
        async for chunk in communicate.stream():
            if chunk["type"] == "audio" and chunk.get("data"):
                yield chunk["data"]


def _unavailable(error: Exception) -> SynthesisUnavailable:
    """Every network or service failure as one reason."""
    import aiohttp
    import edge_tts.exceptions

    if isinstance(error, TimeoutError):
        return SynthesisUnavailable("Edge TTS timed out")
    if isinstance(error, aiohttp.ClientResponseError):
        return SynthesisUnavailable(f"Edge TTS refused the request ({error.status})")
    if isinstance(error, aiohttp.ClientError | OSError):
        return SynthesisUnavailable(f"Edge TTS is unreachable ({type(error).__name__})")
    if isinstance(error, edge_tts.exceptions.NoAudioReceived):
        return SynthesisUnavailable("Edge TTS sent no audio")
    if isinstance(error, edge_tts.exceptions.EdgeTTSException):
        return SynthesisUnavailable(f"Edge TTS failed ({type(error).__name__})")
    return SynthesisUnavailable(f"Edge TTS failed ({type(error).__name__}: {error})")
