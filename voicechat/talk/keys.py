"""Decoding terminal key input: legacy bytes and the kitty keyboard protocol.

In a plain terminal a key arrives as the bytes it types: " " for Space, "\\r" for Enter,
"\\x1b" for Esc, "\\x03" for Ctrl-C (with the terminal's signal keys turned off). Terminals
that speak the kitty keyboard protocol (kitty, WezTerm, foot, Ghostty) can instead report
every press, repeat and release as `CSI code ; modifiers:event ; text u`; with that, holding
Space to talk and releasing it to send works. A lone Esc is only known to be a key once no
sequence follows it, so `KeyDecoder.flush()` is called when input pauses.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

KITTY_FLAGS = 0b11011
"""Disambiguate (1) + event types (2) + all keys as escape codes (8) + associated text (16):
release events for text keys such as Space need "all keys as escape codes"."""

KITTY_QUERY = "\x1b[?u\x1b[c"
"""Ask for the kitty flags, then for device attributes, which every terminal answers: a flags
reply arriving before the attributes reply means the protocol is supported."""
KITTY_PUSH = f"\x1b[>{KITTY_FLAGS}u"
KITTY_POP = "\x1b[<u"

_CSI = re.compile(rb"\x1b\[([\x30-\x3f]*)([\x20-\x2f]*)([\x40-\x7e])")
_NAMED = {9: "tab", 13: "enter", 27: "escape", 32: "space", 127: "backspace"}
_MOD_CTRL = 4
_EVENTS = {1: "press", 2: "repeat", 3: "release"}


@dataclass(frozen=True)
class KeyEvent:
    """One key event.

    key: "space", "enter", "escape", "backspace", "tab", "up", "down", "left", "right",
    "ctrl+c", "ctrl+d", "char" (text holds it), or "kitty-flags" / "device-attributes"
    for the terminal's answers to the support query.
    kind: "press", "repeat" or "release" (legacy input only ever reports "press").
    """

    key: str
    kind: str = "press"
    text: str = ""


class KeyDecoder:
    """Turns raw input bytes into key events, keeping an unfinished sequence for later."""

    def __init__(self) -> None:
        self._pending = b""

    def feed(self, data: bytes) -> list[KeyEvent]:
        """Decode `data`; an incomplete escape sequence at the end waits for more bytes."""
        buf = self._pending + data
        self._pending = b""
        events: list[KeyEvent] = []
        i = 0
        while i < len(buf):
            byte = buf[i]
            if byte == 0x1B:
                if i + 1 >= len(buf):
                    self._pending = buf[i:]  # a lone Esc, or the start of a sequence
                    break
                if buf[i + 1 : i + 2] == b"[":
                    match = _CSI.match(buf, i)
                    if match is None:
                        if len(buf) - i < 32 and not re.search(rb"[\x40-\x7e]", buf[i + 2 :]):
                            self._pending = buf[i:]
                            break
                        i += 2  # garbage: skip the introducer
                        continue
                    event = _decode_csi(match.group(1).decode(), match.group(3).decode())
                    if event is not None:
                        events.append(event)
                    i = match.end()
                    continue
                if buf[i + 1 : i + 2] == b"O" and i + 2 < len(buf):  # SS3 arrows
                    arrow = _ARROWS.get(chr(buf[i + 2]))
                    if arrow:
                        events.append(KeyEvent(arrow))
                    i += 3
                    continue
                events.append(KeyEvent("escape"))  # Esc followed by another key
                i += 1
                continue
            char, size = _utf8_char(buf, i)
            if char is None:
                self._pending = buf[i:]
                break
            events.append(_decode_char(char))
            i += size
        return events

    def flush(self) -> list[KeyEvent]:
        """Input paused: a lone Esc still pending is the Esc key."""
        pending, self._pending = self._pending, b""
        return [KeyEvent("escape")] if pending == b"\x1b" else []


_ARROWS = {"A": "up", "B": "down", "C": "right", "D": "left"}


def _utf8_char(buf: bytes, i: int) -> tuple[str | None, int]:
    first = buf[i]
    size = 1 if first < 0x80 else 2 if first >> 5 == 0b110 else 3 if first >> 4 == 0b1110 else 4
    if i + size > len(buf):
        return None, 0
    return buf[i : i + size].decode("utf-8", errors="replace"), size


def _decode_char(char: str) -> KeyEvent:
    legacy = {
        " ": "space",
        "\r": "enter",
        "\n": "enter",
        "\t": "tab",
        "\x7f": "backspace",
        "\x08": "backspace",
        "\x03": "ctrl+c",
        "\x04": "ctrl+d",
    }
    if char in legacy:
        return KeyEvent(legacy[char], text=" " if char == " " else "")
    if char.isprintable():
        return KeyEvent("char", text=char)
    return KeyEvent("control", text=char)


def _decode_csi(params: str, final: str) -> KeyEvent | None:  # noqa: PLR0911 (one per form)
    if final == "u" and params.startswith("?"):
        return KeyEvent("kitty-flags", text=params[1:])
    if final == "c" and params.startswith("?"):
        return KeyEvent("device-attributes", text=params[1:])
    if final in _ARROWS and params in ("", "1"):
        return KeyEvent(_ARROWS[final])
    if final != "u":
        return None
    fields = params.split(";")
    code = int(fields[0].split(":")[0] or 0)
    modifiers, event = 1, 1
    if len(fields) > 1 and fields[1]:
        mod, _, ev = fields[1].partition(":")
        modifiers = int(mod or 1)
        event = int(ev or 1)
    text = ""
    if len(fields) > 2 and fields[2]:
        text = "".join(chr(int(c)) for c in fields[2].split(":") if c)
    kind = _EVENTS.get(event, "press")
    ctrl = bool((modifiers - 1) & _MOD_CTRL)
    if ctrl and code in (ord("c"), ord("d")):
        return KeyEvent(f"ctrl+{chr(code)}", kind)
    if code in _NAMED:
        return KeyEvent(_NAMED[code], kind, " " if code == 32 else "")
    if code >= 57344:  # kitty's private-use codes: modifiers alone, media keys
        return None
    if not text and not ctrl:
        text = chr(code)
    return KeyEvent("char", kind, text) if text else None
