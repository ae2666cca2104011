"""What kind of audio file a path holds, from its first bytes, before any parser sees it.

Only the formats voicechat documents get a decoder: WAV, FLAC, OGG and MP3 go to libsndfile,
WebM/Matroska and MP4/M4A to FFmpeg. Everything else libsndfile or FFmpeg could parse (AU,
AIFF, CAF, VOC, ADTS AAC, …) is refused unread, so their rarer parsers never run on a file
from outside. A leading ID3v2 tag is skipped by its declared size, never parsed.
"""

from __future__ import annotations

from enum import Enum
from pathlib import Path

HEAD_BYTES = 64
"""Bytes read to tell a format (after any ID3 tag)."""
MP3_SYNC_SEARCH_BYTES = 4096
"""Bytes after an ID3 tag in which the first MP3 frame must start (padding encoders leave)."""


class Kind(Enum):
    """A file format voicechat decodes, and which library reads it."""

    WAV = "WAV"
    FLAC = "FLAC"
    OGG = "OGG"
    MP3 = "MP3"
    MATROSKA = "WebM"
    MP4 = "MP4/M4A"

    @property
    def by_ffmpeg(self) -> bool:
        """Read by FFmpeg (PyAV) rather than libsndfile."""
        return self in (Kind.MATROSKA, Kind.MP4)


LIBSNDFILE_FORMATS: dict[Kind, tuple[str, ...]] = {
    Kind.WAV: ("WAV", "WAVEX"),
    Kind.FLAC: ("FLAC",),
    Kind.OGG: ("OGG",),
    Kind.MP3: ("MP3", "MPEG"),
}
"""The major formats libsndfile may report for each kind (`soundfile.info(...).format`)."""


def id3_size(head: bytes) -> int:
    """Bytes taken by an ID3v2 tag at the start of `head` (0 when there is none): its
    10-byte header, its syncsafe size and a 10-byte footer when the flags say so."""
    if len(head) < 10 or head[:3] != b"ID3" or any(b & 0x80 for b in head[6:10]):
        return 0
    size = (head[6] << 21) | (head[7] << 14) | (head[8] << 7) | head[9]
    footer = 10 if head[5] & 0x10 else 0
    return 10 + size + footer


def _is_mp3_frame(head: bytes) -> bool:
    """An MPEG audio frame header: sync, a known version, layer I-III (ADTS AAC has layer 0)."""
    if len(head) < 4 or head[0] != 0xFF or head[1] & 0xE0 != 0xE0:
        return False
    version, layer = (head[1] >> 3) & 3, (head[1] >> 1) & 3
    bitrate, rate = head[2] >> 4, (head[2] >> 2) & 3
    return version != 1 and layer != 0 and bitrate != 15 and rate != 3


SIGNATURES: tuple[tuple[int, bytes, Kind], ...] = (
    (0, b"fLaC", Kind.FLAC),
    (0, b"OggS", Kind.OGG),
    (0, b"\x1a\x45\xdf\xa3", Kind.MATROSKA),  # EBML
    (4, b"ftyp", Kind.MP4),
)
"""(offset, bytes, kind): the fixed signatures; WAV and MP3 are told by `kind_of`."""


def kind_of(head: bytes) -> Kind | None:
    """The format whose signature `head` starts with (None: none voicechat reads).
    MP3 is told only by its frame header here; see `sniff` for a leading ID3 tag."""
    if head[:4] == b"RIFF" and head[8:12] == b"WAVE":
        return Kind.WAV
    for offset, signature, kind in SIGNATURES:
        if head[offset : offset + len(signature)] == signature:
            return kind
    return Kind.MP3 if _is_mp3_frame(head) else None


def sniff(path: Path) -> Kind | None:
    """The format of the file at `path` (None: not one voicechat reads). An ID3v2 tag is
    taken only before an MP3 frame; other formats behind one are refused."""
    with path.open("rb") as f:
        head = f.read(HEAD_BYTES)
        skip = id3_size(head)
        if not skip:
            return kind_of(head)
        f.seek(skip)
        after = f.read(MP3_SYNC_SEARCH_BYTES)
    start = after.find(b"\xff")
    if start < 0 or any(after[:start]):  # only zero padding may come before the frame
        return None
    return Kind.MP3 if _is_mp3_frame(after[start : start + 4]) else None
