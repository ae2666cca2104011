"""Voice activity detection with silero-vad, whose model ships inside its package.

Whisper invents text ("Thank you.", "Thanks for watching!") when it is given silence, hum or
noise; only the spans found here are ever sent to it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from voicechat.types import WHISPER_SAMPLE_RATE

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt


@dataclass(frozen=True)
class SpeechSpan:
    """Speech from sample `start` to sample `end` (exclusive), at 16 kHz."""

    start: int
    end: int


class VoiceActivityDetector:
    """Finds speech in 16 kHz mono audio.

    threshold: speech probability (0-1) above which a 32 ms frame counts as speech.
    min_silence_ms: a pause shorter than this does not split a span.
    speech_pad_ms: context kept on each side of a span; Whisper decodes better with it.
    max_span_s: spans longer than this are split at the quietest point.
    """

    sample_rate = WHISPER_SAMPLE_RATE

    def __init__(
        self,
        threshold: float = 0.5,
        min_silence_ms: int = 500,
        speech_pad_ms: int = 200,
        max_span_s: float = 28.0,
    ) -> None:
        self.threshold = threshold
        self.min_silence_ms = min_silence_ms
        self.speech_pad_ms = speech_pad_ms
        self.max_span_s = max_span_s
        self._model = _load_model()

    def speech_spans(self, samples: npt.NDArray[np.float32]) -> list[SpeechSpan]:
        """The spans of speech in `samples`, in order, as sample indices."""
        import torch
        from silero_vad import get_speech_timestamps

        if len(samples) == 0:
            return []
        stamps = get_speech_timestamps(
            torch.from_numpy(samples),
            self._model,
            threshold=self.threshold,
            sampling_rate=self.sample_rate,
            min_silence_duration_ms=self.min_silence_ms,
            speech_pad_ms=self.speech_pad_ms,
            max_speech_duration_s=self.max_span_s,
        )
        return [SpeechSpan(int(s["start"]), int(s["end"])) for s in stamps]


def _load_model() -> Any:
    """silero's ONNX model (about twice as fast on CPU), else its TorchScript one."""
    from silero_vad import load_silero_vad

    try:
        import onnxruntime  # noqa: F401
    except ImportError:
        return load_silero_vad(onnx=False)
    return load_silero_vad(onnx=True)


class StreamingVad:
    """Speech probability for each 32 ms frame of a live 16 kHz stream.

    Keeps its own model and state, so it can run beside file transcription.
    """

    frame = 512
    """Samples per frame at 16 kHz (32 ms), what silero expects."""

    def __init__(self) -> None:
        import numpy as np

        self._model = _load_model()
        self._rest = np.zeros(0, dtype=np.float32)

    def reset(self) -> None:
        """Forget the stream so far (call before each take)."""
        import numpy as np

        self._model.reset_states()
        self._rest = np.zeros(0, dtype=np.float32)

    def feed(self, samples: npt.NDArray[np.float32]) -> list[float]:
        """Probabilities (0-1) for the complete frames now available, in order."""
        import numpy as np
        import torch

        buffer = np.concatenate([self._rest, samples])
        count = len(buffer) // self.frame
        self._rest = buffer[count * self.frame :]
        return [
            float(
                self._model(torch.from_numpy(buffer[i * self.frame : (i + 1) * self.frame]), 16000)
            )
            for i in range(count)
        ]
