"""The speaker's echo taken out of what the microphone hears, so a person can talk over the
reply: its one public face is `MicFilter`, fed the speaker's timeline (`FarEnd`), which
turns each microphone block into a `MicBlock` carrying what it found (settling, talked
over).

    canceller.py  MicFilter: WebRTC's AEC3 and noise suppression, and what a take keeps
    linear.py     the linear canceller that keeps a person talking over the echo
    delay.py      the speaker's delay to the microphone, found and followed
    far_end.py    what the speaker played, and when (the timeline the canceller reads)
    talk_over.py  someone talking over the speaker, told from the linear canceller
"""

from __future__ import annotations

from voicechat.echo.canceller import MicFilter, available
from voicechat.echo.far_end import FarEnd

__all__ = ["FarEnd", "MicFilter", "available"]
