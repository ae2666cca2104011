"""Audio devices as PortAudio (through sounddevice) sees them."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from voicechat.errors import MicrophoneUnavailable


@dataclass(frozen=True)
class AudioDevice:
    """One device. rate: its native sample rate in Hz."""

    index: int
    name: str
    inputs: int
    outputs: int
    rate: int
    default_input: bool
    default_output: bool

    def as_dict(self) -> dict[str, Any]:
        """For `voicechat devices --json`."""
        return asdict(self)


def _sounddevice() -> Any:
    try:
        import sounddevice
    except OSError as e:  # the PortAudio library itself is missing
        raise MicrophoneUnavailable(
            f"PortAudio is not installed ({e}); on Debian/Ubuntu: apt-get install libportaudio2"
        ) from None
    return sounddevice


def list_devices() -> list[AudioDevice]:
    """Every input and output device, with the system defaults marked."""
    sd = _sounddevice()
    try:
        devices = sd.query_devices()
        default_in, default_out = sd.default.device
    except sd.PortAudioError as e:
        raise MicrophoneUnavailable(f"cannot list audio devices ({e})") from None
    return [
        AudioDevice(
            index=i,
            name=str(d["name"]),
            inputs=int(d["max_input_channels"]),
            outputs=int(d["max_output_channels"]),
            rate=int(d["default_samplerate"]),
            default_input=i == default_in,
            default_output=i == default_out,
        )
        for i, d in enumerate(devices)
    ]


def resolve_input(wanted: str | int) -> AudioDevice:
    """The input device for `audio.input_device`: "" = default, an index, or a name fragment."""
    devices = list_devices()
    inputs = [d for d in devices if d.inputs > 0]
    if not inputs:
        raise MicrophoneUnavailable("no microphone found: no audio input device is available")
    if wanted == "":
        default = next((d for d in inputs if d.default_input), None)
        return default or inputs[0]
    if isinstance(wanted, int):
        found = next((d for d in inputs if d.index == wanted), None)
        if found is None:
            raise MicrophoneUnavailable(f"no input device {wanted}; `voicechat devices` lists them")
        return found
    matches = [d for d in inputs if wanted.lower() in d.name.lower()]
    if not matches:
        raise MicrophoneUnavailable(
            f"no input device matches {wanted!r}; `voicechat devices` lists them"
        )
    return matches[0]
