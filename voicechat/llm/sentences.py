"""Cutting a reply into speakable sentences while it is still being written.

The first sentence can go to text-to-speech as soon as it is complete, long before the model
has finished. A sentence ends at `.`, `!` or `?` followed by a space, or at a line break; it
does not end after an abbreviation ("Dr. Smith"), an initial ("J. Smith"), a list number
("1. First"), inside a decimal ("3.14"), or at an ellipsis that runs on in lower case.
Markdown, code blocks, links and emoji are shown on screen but not read aloud.
"""

from __future__ import annotations

import re
import unicodedata

ABBREVIATIONS = frozenset(
    [
        "mr",
        "mrs",
        "ms",
        "dr",
        "prof",
        "sr",
        "jr",
        "st",
        "mt",
        "vs",
        "etc",
        "e.g",
        "i.e",
        "a.m",
        "p.m",
        "u.s",
        "u.k",
        "no",
        "fig",
        "approx",
        "inc",
        "ltd",
        "co",
        "jan",
        "feb",
        "mar",
        "apr",
        "jun",
        "jul",
        "aug",
        "sep",
        "sept",
        "oct",
        "nov",
        "dec",
    ]
)

_CANDIDATE = re.compile(r"(\.\.\.|…|[.!?]+)([\"'”’)\]]*)(?=\s)|\n")
_CLAUSE_END = re.compile(r"[,;:](?=\s)|\s[—–](?=\s)")
_FENCE = "```"

_LINK = re.compile(r"\[([^\]]*)\]\([^)]*\)")
_URL = re.compile(r"https?://\S+|www\.\S+")
_INLINE_CODE = re.compile(r"`([^`]*)`")
_EMPHASIS = re.compile(r"(\*\*|__|\*|_)(?=\S)(.+?)(?<=\S)\1")
_HEADING = re.compile(r"^\s{0,3}#{1,6}\s+")
_BULLET = re.compile(r"^\s*(?:[-*+•]|>)\s+")
_TABLE_RULE = re.compile(r"^\s*\|?\s*:?-{2,}.*$")


def _is_emoji(char: str) -> bool:
    code = ord(char)
    return (
        0x1F000 <= code <= 0x1FAFF
        or 0x2600 <= code <= 0x27BF
        or code in (0x200D, 0xFE0F, 0xFE0E, 0x20E3)
        or unicodedata.category(char) == "So"
    )


def speakable(text: str) -> str:
    """`text` as it should be read aloud: markdown markers, URLs and emoji removed.

    Returns "" when nothing speakable is left (a rule line, a lone emoji).
    """
    if _TABLE_RULE.match(text):
        return ""
    text = _LINK.sub(r"\1", text)
    text = _URL.sub("", text)
    text = _INLINE_CODE.sub(r"\1", text)
    text = _EMPHASIS.sub(r"\2", text)
    text = _HEADING.sub("", text)
    text = _BULLET.sub("", text)
    text = re.sub(r"\s*\|\s*", ", ", text)
    text = "".join(c for c in text if not _is_emoji(c))
    text = " ".join(text.split()).strip(" ,")
    return text if any(c.isalnum() for c in text) else ""


class SentenceSplitter:
    """Feed text pieces in; get complete, speakable sentences out.

    max_chars: a run longer than this with no sentence end is cut at its last comma,
    semicolon or colon, so speech never waits for a very long sentence.
    first_clause_words: the first piece of a reply ends at the first comma, semicolon, colon
        or dash that follows at least this many words, so the voice can start before the
        first sentence is complete (0: whole sentences only).
    """

    def __init__(self, max_chars: int = 250, first_clause_words: int = 0) -> None:
        self.max_chars = max_chars
        self.first_clause_words = first_clause_words
        self._buffer = ""
        self._in_code = False
        self._emitted = False

    def feed(self, text: str) -> list[str]:
        """Add a piece of the reply; return the sentences it completed."""
        self._buffer += text
        return self._drain(final=False)

    def flush(self) -> list[str]:
        """The reply is complete: return whatever is left as a last sentence."""
        return self._drain(final=True)

    def _drain(self, final: bool) -> list[str]:
        sentences: list[str] = []
        while True:
            if self._in_code:
                end = self._buffer.find(_FENCE)
                if end < 0:
                    # Code is shown, never read; keep only what may start the closing fence.
                    self._buffer = "" if final else self._buffer[-(len(_FENCE) - 1) :]
                    return sentences
                self._buffer = self._buffer[end + len(_FENCE) :].split("\n", 1)[-1]
                self._in_code = False
                continue
            fence = self._buffer.find(_FENCE)
            prose = self._buffer if fence < 0 else self._buffer[:fence]
            if fence < 0 and not final and self._buffer.endswith("`"):
                prose = prose.rstrip("`")  # may be the start of a fence
            done = self._split(prose, final=final or fence >= 0)
            sentences.extend(done[0])
            if fence >= 0:
                self._buffer = self._buffer[fence + len(_FENCE) :]
                self._in_code = True
                continue
            self._buffer = done[1] + self._buffer[len(prose) :]
            return sentences

    def _split(self, text: str, final: bool) -> tuple[list[str], str]:
        """Complete sentences of `text` and the unfinished rest."""
        out: list[str] = []
        start = 0
        for match in _CANDIDATE.finditer(text):
            end = match.end()
            if match.group(0) != "\n" and not self._ends_sentence(text, match, final):
                continue
            start = self._first_clause(text, start, match.start(), out)
            self._emit(text[start:end], out)
            start = end
        start = self._first_clause(text, start, len(text), out)
        rest = text[start:]
        if final:
            self._emit(rest, out)
            return out, ""
        while len(rest) > self.max_chars:
            cut = max(rest.rfind(sep, 0, self.max_chars) for sep in (", ", "; ", ": "))
            if cut <= 0:
                break
            self._emit(rest[: cut + 1], out)
            rest = rest[cut + 2 :]
        return out, rest

    def _first_clause(self, text: str, start: int, end: int, out: list[str]) -> int:
        """Emit the reply's first clause if it ends in text[start:end]; return the new start."""
        if self._emitted or not self.first_clause_words:
            return start
        for match in _CLAUSE_END.finditer(text, start, end):
            clause = speakable(text[start : match.start()])
            if len(clause.split()) >= self.first_clause_words:
                mark = match.group().strip()  # kept: a voice pauses at it
                out.append(clause + (" " + mark if mark in "—–" else mark))
                self._emitted = True
                return match.end()
        return start

    @staticmethod
    def _ends_sentence(text: str, match: re.Match[str], final: bool) -> bool:
        mark = match.group(1)
        before = text[: match.start()]
        word = before.split()[-1] if before.split() else ""
        if mark in ("...", "…"):
            following = text[match.end() :].lstrip()
            if not following:
                return final
            return following[0].isupper()
        if mark != ".":
            return True
        bare = word.lstrip("(\"'“‘").lower()
        if bare in ABBREVIATIONS or (len(bare) == 1 and bare.isalpha()):
            return False
        line_start = before.rfind("\n") + 1
        return not (word.isdigit() and before[line_start:].strip() == word)

    def _emit(self, raw: str, out: list[str]) -> None:
        sentence = speakable(raw.strip())
        if sentence:
            out.append(sentence)
            self._emitted = True
