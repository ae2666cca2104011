"""The errors voicechat raises; each message says what went wrong and how to fix it.

Only the CLI turns these into one red line and an exit code: 1 for a failure,
2 for a usage or configuration mistake (130 for Ctrl-C is the CLI's own).
"""

from __future__ import annotations

EXIT_FAILURE = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130


class VoicechatError(Exception):
    """Base of every error voicechat reports to the user as one line."""

    exit_code: int = EXIT_FAILURE


class UsageError(VoicechatError):
    """The command was called in a way that cannot work (a wrong option value)."""

    exit_code = EXIT_USAGE


class ConfigError(UsageError):
    """A configuration file or value is invalid; the message names the file and the key."""


class AudioFileError(VoicechatError):
    """An input file is missing, unreadable or not audio; the message starts with its path."""

    def __init__(self, path: object, reason: str) -> None:
        super().__init__(f"{path}: {reason}")
        self.path = path
        self.reason = reason


class ModelError(VoicechatError):
    """A model could not be found, downloaded or loaded."""


class EngineUnavailable(VoicechatError):
    """An engine's optional package is not installed; the message names the extra to install."""


class DeviceError(VoicechatError):
    """The requested compute or audio device is not available."""


class MicrophoneUnavailable(DeviceError):
    """No usable input device: none at all, none matching the config, or it failed to open."""


class SpeakerUnavailable(VoicechatError):
    """No audio output device could be opened."""


class SynthesisUnavailable(VoicechatError):
    """An online voice cannot be used right now (no network, refused, timed out)."""


class LlmServerError(VoicechatError):
    """An OpenAI-compatible server could not be reached or refused the request."""


class SessionError(VoicechatError):
    """A session file cannot be read or written; the message names its path."""


class SessionBusy(VoicechatError):
    """Another voicechat process is in the middle of a turn in this session."""
