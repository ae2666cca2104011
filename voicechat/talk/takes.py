"""Recording one take at a time for the talk loop, on a worker thread.

The microphone opens when it is first needed; without one, one error line is shown and typing
still works. Each take reports its pauses to the early start, so a reply can begin before the
take is known to be over.
"""

from __future__ import annotations

import concurrent.futures
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from voicechat.audio.takes import Start, TakeRecorder
from voicechat.config import AudioConfig
from voicechat.early_start import EarlyStart
from voicechat.errors import MicrophoneUnavailable
from voicechat.types import Continuation, Take

if TYPE_CHECKING:
    from voicechat.echo.far_end import FarEnd

MakeRecorder = Callable[[AudioConfig], TakeRecorder]
"""Opens the microphone (raises MicrophoneUnavailable without one)."""


def microphone_recorder(audio: AudioConfig, far_end: FarEnd | None = None) -> TakeRecorder:
    """A take recorder on the configured microphone, with its own voice-activity model; the
    microphone cleaned where the duplex extra is installed (noise suppression, and the echo of
    what `far_end` hears the speaker play)."""
    from voicechat import echo
    from voicechat.audio.capture import Microphone
    from voicechat.audio.vad import StreamingVad

    cancel = audio.echo_cancel and far_end is not None
    clean = (
        echo.MicFilter(cancel, audio.noise_suppression, far_end if cancel else None)
        if echo.available() and (cancel or audio.noise_suppression)
        else None
    )
    return TakeRecorder(
        Microphone(audio.input_device, clean), StreamingVad(), audio.silence_ms, audio.max_record_s
    )


class Takes:
    """The take being recorded, if any.

    on_mic_error: told once per failure when the microphone cannot be used.
    on_speech: hands-free: speech has started, the take is listening.
    """

    def __init__(
        self,
        audio: AudioConfig,
        make_recorder: MakeRecorder | None,
        early: EarlyStart,
        on_mic_error: Callable[[MicrophoneUnavailable], None],
        on_speech: Callable[[], None],
    ) -> None:
        self._audio = audio
        self._make_recorder = make_recorder
        self._early = early
        self._on_mic_error = on_mic_error
        self._on_speech = on_speech
        self._recorder: TakeRecorder | None = None
        self._jobs = concurrent.futures.ThreadPoolExecutor(max_workers=1)
        self._job: concurrent.futures.Future[Take] | None = None
        self._stop = threading.Event()
        self._discard = threading.Event()
        self.failed = False
        """The microphone failed: hands-free stops listening by itself."""
        self.by_space_at: float | None = None
        """time.monotonic() when Space started this take, where releases are reported."""

    @property
    def recording(self) -> bool:
        """A take is being recorded (or has ended and is not yet collected)."""
        return self._job is not None

    @property
    def level_db(self) -> float:
        """The microphone's latest level in dBFS."""
        return self._recorder.mic.level_db if self._recorder is not None else -100.0

    def open(self) -> bool:
        """Open the microphone if it is not open; False (told once) where there is none."""
        if self._recorder is None and self._make_recorder is not None:
            try:
                self._recorder = self._make_recorder(self._audio)
                self._recorder.mic.start()
            except MicrophoneUnavailable as e:
                self._failed(e)
        return self._recorder is not None and not self.failed

    def start(
        self,
        by_space: bool = False,
        wait_for_speech: bool = False,
        over_reply: bool = False,
        continues: Continuation | None = None,
    ) -> bool:
        """Start a take; False where there is no microphone. over_reply: it waits for speech
        while a reply plays, so it takes longer speech to start (OVER_REPLY_START_FRAMES).
        continues: the take that just ended at a pause, which speech soon after goes on with
        (`TakeRecorder.record`)."""
        self.open()
        if self._recorder is None:
            return False
        self.failed = False
        self._stop, self._discard = threading.Event(), threading.Event()
        self.by_space_at = time.monotonic() if by_space else None
        self._job = self._jobs.submit(
            self._recorder.record,
            self._stop,
            self._discard,
            wait_for_speech,
            self._on_speech,
            self._early.paused,
            self._early.resumed,
            Start.OVER_REPLY if over_reply else Start.SPEECH,
            continues,
        )
        return True

    @property
    def resumed(self) -> bool:
        """The take under way went on from the one before (its speech started while that
        take could still be continued)."""
        return self._recorder is not None and self._recorder.resumed

    def judged(self, paused_at: int, finished: bool | None, doubt: float) -> None:
        """Any thread: the smart end of turn's verdict on a pause of the take."""
        if self._recorder is not None:
            self._recorder.judged(paused_at, finished, doubt)

    def send(self) -> None:
        """End the take and answer it."""
        self._stop.set()

    def discard(self) -> None:
        """End the take and drop it."""
        self._discard.set()

    def finished(self) -> Take | None:
        """The take, once it has ended (collected once); None while it runs or if it failed."""
        job = self._job
        if job is None or not job.done():
            return None
        self._job = None
        try:
            return job.result()
        except MicrophoneUnavailable as e:
            self._failed(e)
            self._early.drop()
            return None

    def close(self) -> None:
        """Drop any take and close the microphone."""
        self._discard.set()
        self._jobs.shutdown(wait=True)
        if self._recorder is not None:
            self._recorder.mic.close()

    def _failed(self, error: MicrophoneUnavailable) -> None:
        self.failed = True
        self._on_mic_error(error)
