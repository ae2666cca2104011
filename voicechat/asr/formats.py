"""Transcript output formats: txt, srt and vtt stream segment by segment; json comes at the end."""

from __future__ import annotations

import json
from enum import StrEnum

from voicechat.types import Segment, Transcript


class OutputFormat(StrEnum):
    """The formats `voicechat transcribe --format` writes."""

    txt = "txt"
    srt = "srt"
    vtt = "vtt"
    json = "json"


def timestamp(seconds: float, decimal_marker: str) -> str:
    """`HH:MM:SS<marker>mmm`, rounded to the millisecond (SRT uses ",", WebVTT ".")."""
    ms = max(0, round(seconds * 1000))
    hours, ms = divmod(ms, 3_600_000)
    minutes, ms = divmod(ms, 60_000)
    secs, ms = divmod(ms, 1000)
    return f"{hours:02d}:{minutes:02d}:{secs:02d}{decimal_marker}{ms:03d}"


def header(fmt: OutputFormat) -> str:
    """Text that opens a file of this format."""
    return "WEBVTT\n\n" if fmt is OutputFormat.vtt else ""


def render_segment(fmt: OutputFormat, index: int, segment: Segment) -> str:
    """One segment in a streaming format; `index` counts from 1 (SRT numbers its cues)."""
    if fmt is OutputFormat.txt:
        return segment.text + "\n"
    if fmt is OutputFormat.srt:
        times = f"{timestamp(segment.start, ',')} --> {timestamp(segment.end, ',')}"
        return f"{index}\n{times}\n{segment.text}\n\n"
    if fmt is OutputFormat.vtt:
        return (
            f"{timestamp(segment.start, '.')} --> {timestamp(segment.end, '.')}\n{segment.text}\n\n"
        )
    raise ValueError(f"{fmt} is not a streaming format")


def render_json(transcript: Transcript) -> str:
    """The whole transcript as one JSON object (seconds for every time)."""
    data = {
        "text": transcript.text,
        "segments": [{"start": s.start, "end": s.end, "text": s.text} for s in transcript.segments],
        "language": transcript.language,
        "duration": round(transcript.duration, 3),
        "model": transcript.model,
        "engine": transcript.engine,
    }
    return json.dumps(data, ensure_ascii=False, indent=2) + "\n"
