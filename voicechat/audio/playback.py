"""Playing clips through the speakers with pygame's mixer.

The mixer opens only when something is first spoken, on `audio.output_device`, and every clip
is resampled to the mixer's rate so voices of any rate play back to back.
"""

from __future__ import annotations

import contextlib
import os
import threading
import time
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any, Protocol

from voicechat.audio.signal import to_pcm16
from voicechat.errors import SpeakerUnavailable
from voicechat.types import WHISPER_SAMPLE_RATE, AudioClip

if TYPE_CHECKING:
    from voicechat.echo.far_end import FarEnd

MIXER_RATE = 24_000
"""Hz; Edge voices' own rate. Piper's 22,050 Hz is resampled."""
POLL_S = 0.005
"""Seconds between checks for the end of a clip or a stop request."""
LEAD_S = 0.05
"""`play` returns this long before its clip ends, so the next one is queued behind it and
follows without a gap."""


class AudioSink(Protocol):
    """Where replies are played: the speakers, or a timed sink in benchmarks. Clips play
    back to back, without gaps, in the order given."""

    def play(self, clip: AudioClip, cancel: threading.Event | None = None) -> bool:
        """Play `clip` right after what is playing; return when it has about LEAD_S left
        (so the next can follow it), or False if cut short."""
        ...

    def wait(self, cancel: threading.Event | None = None) -> None:
        """Block until everything given to `play` has been heard (or `cancel`, or `stop`)."""
        ...

    def stop(self) -> None:
        """Cut the clip playing now short (from any thread)."""
        ...

    def close(self) -> None:
        """Release the device."""
        ...


class TimedSink:
    """A sink that takes as long as a real device would to play each clip, and plays nothing.

    For benchmarks on machines without speakers; `played` records (start, clip) pairs, the
    start in time.monotonic().
    """

    lead_s = LEAD_S
    """How long before a clip's end `play` returns (the next clip's head start)."""

    def __init__(self) -> None:
        self.played: list[tuple[float, AudioClip]] = []
        self._stop = threading.Event()
        self._busy_until = 0.0

    def play(self, clip: AudioClip, cancel: threading.Event | None = None) -> bool:
        """Start the clip when the one before it ends; return LEAD_S before its own end."""
        self._stop.clear()
        start = max(time.monotonic(), self._busy_until)
        if not self._sleep_until(start, cancel):
            return False
        self.played.append((start, clip))
        self._busy_until = start + clip.duration
        return self._sleep_until(self._busy_until - self.lead_s, cancel)

    def wait(self, cancel: threading.Event | None = None) -> None:
        """Until the last clip has been 'heard'."""
        self._sleep_until(self._busy_until, cancel)

    def _sleep_until(self, deadline: float, cancel: threading.Event | None) -> bool:
        while time.monotonic() < deadline:
            if self._stop.is_set() or (cancel is not None and cancel.is_set()):
                self._busy_until = 0.0
                return False
            time.sleep(POLL_S)
        return True

    def stop(self) -> None:
        """Cut the current clip short."""
        self._stop.set()

    def close(self) -> None:
        """Nothing to release."""


@contextlib.contextmanager
def _native_stderr_quiet() -> Iterator[None]:
    """Drop what C libraries write to stderr meanwhile: SDL trying ALSA on a machine with no
    sound card prints eight lines of "ALSA lib ..." over the terminal (talk opens the speaker
    as it starts, hands-free). What went wrong still comes back as pygame.error."""
    try:
        saved = os.dup(2)
    except OSError:  # no stderr to quiet
        yield
        return
    try:
        with open(os.devnull, "wb") as devnull:
            os.dup2(devnull.fileno(), 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


def output_device_names() -> list[str]:
    """SDL's names for the playback devices."""
    os.environ.setdefault("PYGAME_HIDE_SUPPORT_PROMPT", "1")
    import pygame
    from pygame._sdl2 import audio as sdl_audio

    with _native_stderr_quiet():
        pygame.init()
    try:
        return list(sdl_audio.get_audio_device_names(False))
    finally:
        pygame.quit()


def resolve_output_device(wanted: str | int, names: list[str]) -> str | None:
    """The SDL device name for a config value: "" = default (None), an index, or a fragment."""
    if wanted == "":
        return None
    if isinstance(wanted, int):
        if not 0 <= wanted < len(names):
            raise SpeakerUnavailable(f"no output device {wanted}; there are {len(names)}")
        return names[wanted]
    matches = [n for n in names if wanted.lower() in n.lower()]
    if not matches:
        raise SpeakerUnavailable(f"no output device matches {wanted!r}; see `voicechat devices`")
    return matches[0]


PAD_S = 0.1
"""With an echo canceller: silence (s) queued behind the playing clip while a reply goes on
and its next clip is not ready yet, so its sound never stops mid-reply (each start from
silence moves the echo's delay by tens of ms, and the canceller has to find it again)."""
PAD_AHEAD_S = 0.06
"""A pad is queued once the sound playing has less than this left (s)."""
PRIME_S = 0.5
"""With an echo canceller: silence (s) played through a newly opened mixer before anything
else. Measured through PulseAudio, the first sound of a new mixer came out 0.35-0.85 s later
than the sounds after it, and at a delay that moved by tens of ms from clip to clip; after
this much silence it came out as they did (90 ms)."""


class Speaker:
    """Plays clips one after another; `stop()` cuts the current one off at once.

    far_end: told each clip as it starts to play (and where playing was cut off), for the
    microphone's echo canceller; a reply's clips are then joined by silence (PAD_S).
    """

    def __init__(self, device: str | int = "", far_end: FarEnd | None = None) -> None:
        self.device = device
        self.far_end = far_end
        self._ends_at = 0.0  # time.monotonic() when the clip playing ends
        self._mixer: Any = None
        self._channels = 1
        self._rate = MIXER_RATE
        self._stop = threading.Event()
        self._channel: Any = None
        self._lock = threading.Lock()  # the channel's queue, between play() and the padder
        self._pad: Any = None
        self._padding = False  # a reply is under way: keep its sound going
        self._closed = threading.Event()

    def _open(self) -> Any:
        if self._mixer is not None:
            return self._mixer
        os.environ.setdefault("PYGAME_HIDE_SUPPORT_PROMPT", "1")
        import pygame

        try:
            name = (
                resolve_output_device(self.device, output_device_names())
                if self.device != ""
                else None
            )
            with _native_stderr_quiet():
                pygame.mixer.init(
                    frequency=MIXER_RATE, size=-16, channels=1, buffer=512, devicename=name
                )
        except pygame.error as e:
            raise SpeakerUnavailable(f"no audio output device ({e})") from None
        rate, _size, channels = pygame.mixer.get_init()
        self._rate, self._channels = int(rate), int(channels)
        self._mixer = pygame.mixer
        if self.far_end is not None:
            self._prime()
            self._pad = self._sound(AudioClip(_silence(PAD_S), WHISPER_SAMPLE_RATE))
            threading.Thread(target=self._pad_gaps, name="voicechat-pad", daemon=True).start()
        return self._mixer

    def open(self) -> None:
        """Open the output device now rather than when something is first spoken (with an
        echo canceller, that takes PRIME_S). Raises SpeakerUnavailable without one."""
        self._open()

    def _prime(self) -> None:
        """Play PRIME_S of silence and wait for it, so the first reply comes out when the
        echo canceller is told it does."""
        channel = self._sound(AudioClip(_silence(PRIME_S), WHISPER_SAMPLE_RATE)).play()
        deadline = time.monotonic() + PRIME_S + 1.0
        while channel is not None and channel.get_busy() and time.monotonic() < deadline:
            time.sleep(POLL_S)

    def _sound(self, clip: AudioClip) -> Any:
        """`clip` as a pygame Sound at the mixer's rate and channels."""
        import numpy as np
        import soxr

        samples = clip.samples
        if clip.sample_rate != self._rate:
            samples = soxr.resample(samples, clip.sample_rate, self._rate)
        pcm = to_pcm16(samples)
        if self._channels > 1:
            pcm = np.repeat(pcm[:, None], self._channels, axis=1)
        return self._mixer.Sound(buffer=np.ascontiguousarray(pcm).tobytes())

    def _pad_gaps(self) -> None:
        """Padder thread: while a reply is under way, queue silence behind a sound about to
        end with nothing after it."""
        pad = AudioClip(_silence(PAD_S), WHISPER_SAMPLE_RATE)
        while not self._closed.wait(POLL_S):
            with self._lock:
                channel = self._channel
                if (
                    self._padding
                    and channel is not None
                    and channel.get_busy()
                    and channel.get_queue() is None
                    and self._ends_at - time.monotonic() < PAD_AHEAD_S
                ):
                    channel.queue(self._pad)
                    started = self._ends_at  # follows the sound playing, sample for sample
                    self._ends_at = started + PAD_S
                    if self.far_end is not None:
                        self.far_end.played(pad, started)

    def play(self, clip: AudioClip, cancel: threading.Event | None = None) -> bool:
        """Queue `clip` behind the clip playing (pygame starts it the moment that one ends)
        and return when it has LEAD_S left; False if `cancel` or `stop()` cut it short."""
        self._open()
        sound = self._sound(clip)
        self._stop.clear()
        self._padding = self.far_end is not None
        while True:
            with self._lock:
                if self._mixer is None:  # closed meanwhile
                    return False
                channel = self._channel
                busy = channel is not None and channel.get_busy()
                # pygame's channel reads as idle for a moment as the sound queued behind the
                # one that ended starts: a clip played then went out on a second channel
                # beside the pad, and the echo canceller, told of the pad first, heard the
                # clip 100 ms early (the reply's first word taken for a person in 4 runs of
                # 17 through PulseAudio, every time this happened, and only then)
                between = not busy and channel is not None and time.monotonic() < self._ends_at
                if not between and not (busy and channel.get_queue() is not None):
                    # When it starts is taken before it is handed over, and a queued clip
                    # starts as the one before it ends (known now, where polling would be
                    # late): the echo canceller copes with hearing of a sound early, never
                    # with hearing of it after it played.
                    before = time.monotonic()
                    if busy:
                        channel.queue(sound)
                        started = self._ends_at
                    else:
                        channel = self._channel = sound.play()
                        started = before
                    ends = self._ends_at = started + sound.get_length()
                    if self.far_end is not None:
                        self.far_end.played(clip, started)
                    break
            if self._stopped(cancel):
                return False
            time.sleep(POLL_S)
        while self._on(channel, "get_queue") is not None:  # the one before plays
            if self._stopped(cancel):
                return False
            time.sleep(POLL_S)
        while time.monotonic() < ends - LEAD_S and self._on(channel, "get_busy"):
            if self._stopped(cancel):
                return False
            time.sleep(POLL_S)
        return True

    def _on(self, channel: Any, method: str) -> Any:
        """`channel.method()`, None once the mixer is closed: a pygame channel used after
        `close()` quit the mixer crashed the process (a reply's player still waiting on it
        as talk exited)."""
        with self._lock:
            if channel is None or self._mixer is None:
                return None
            return getattr(channel, method)()

    def wait(self, cancel: threading.Event | None = None) -> None:
        """Until the last clip has played out."""
        self._padding = False
        while self._channel is not None and (
            self._on(self._channel, "get_busy") or time.monotonic() < self._ends_at  # or between
        ):
            if self._stopped(cancel) or self._closed.is_set():
                return
            time.sleep(POLL_S)

    def _stopped(self, cancel: threading.Event | None) -> bool:
        """Stop playing (and drop what is queued) when asked to."""
        if self._stop.is_set() or (cancel is not None and cancel.is_set()):
            self._padding = False
            self._on(self._channel, "stop")
            self._ends_at = min(self._ends_at, time.monotonic())
            if self.far_end is not None:
                self.far_end.stopped(time.monotonic())
            return True
        return False

    def stop(self) -> None:
        """Stop the clip playing now (from any thread)."""
        self._padding = False
        self._stop.set()

    def close(self) -> None:
        """Release the audio device (what still waits on it returns)."""
        self._closed.set()
        with self._lock:
            if self._mixer is not None:
                self._mixer.quit()
                self._mixer = None
                self._channel = None


def _silence(seconds: float) -> Any:
    """`seconds` of 16 kHz silence."""
    import numpy as np

    return np.zeros(int(seconds * WHISPER_SAMPLE_RATE), dtype=np.float32)
