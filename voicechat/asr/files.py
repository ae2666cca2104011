"""Transcribing one audio file into a text stream, in any output format."""

from __future__ import annotations

from collections.abc import Callable
from typing import TextIO

from voicechat.asr.base import DecodeOptions, Transcriber
from voicechat.asr.formats import OutputFormat, header, render_json, render_segment
from voicechat.asr.longform import LongFormTranscription
from voicechat.audio.io import AudioInfo
from voicechat.audio.untrusted import decoded_blocks
from voicechat.audio.vad import VoiceActivityDetector
from voicechat.types import Segment, Transcript


def transcribe_file(
    info: AudioInfo,
    transcriber: Transcriber,
    vad: VoiceActivityDetector,
    options: DecodeOptions,
    fmt: OutputFormat,
    out: TextIO,
    on_progress: Callable[[float], None] | None = None,
    on_segment: Callable[[Segment], None] | None = None,
) -> Transcript:
    """Decode `info.path` (in a child process with limits, `untrusted`) and write it to `out`
    as `fmt`.

    txt, srt and vtt are written segment by segment as they are recognised; json once at the end.
    on_progress: called with seconds of audio done. on_segment: called with each new segment.
    Raises AudioFileError if the file turns out corrupt or truncated part way.
    """
    run = LongFormTranscription(transcriber, vad, options)
    segments: list[Segment] = []
    streaming = fmt is not OutputFormat.json
    if streaming:
        out.write(header(fmt))
    for segment in run.segments(decoded_blocks(info.path), on_progress):
        segments.append(segment)
        if streaming:
            out.write(render_segment(fmt, len(segments), segment))
            out.flush()
        if on_segment:
            on_segment(segment)
    transcript = Transcript(
        segments=tuple(segments),
        language=run.language or "",
        duration=run.duration,
        model=transcriber.model_name,
        engine=transcriber.engine,
    )
    if not streaming:
        out.write(render_json(transcript))
    out.flush()
    return transcript
