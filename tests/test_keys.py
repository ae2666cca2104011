"""Key decoding on byte sequences: legacy terminals and the kitty keyboard protocol."""

from __future__ import annotations

import pytest

from voicechat.talk.keys import KeyDecoder, KeyEvent


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (b" ", [KeyEvent("space", "press", " ")]),
        (b"\r", [KeyEvent("enter")]),
        (b"\n", [KeyEvent("enter")]),
        (b"\x7f", [KeyEvent("backspace")]),
        (b"\x03", [KeyEvent("ctrl+c")]),
        (b"\x04", [KeyEvent("ctrl+d")]),
        (b"hi", [KeyEvent("char", text="h"), KeyEvent("char", text="i")]),
        (
            "é€😀".encode(),
            [KeyEvent("char", text="é"), KeyEvent("char", text="€"), KeyEvent("char", text="😀")],
        ),
        (b"\x1b[A\x1bOB", [KeyEvent("up"), KeyEvent("down")]),
        # kitty: CSI code ; modifiers:event ; text u
        (b"\x1b[32u", [KeyEvent("space", "press", " ")]),
        (b"\x1b[32;1:1u", [KeyEvent("space", "press", " ")]),
        (b"\x1b[32;1:2u", [KeyEvent("space", "repeat", " ")]),
        (b"\x1b[32;1:3u", [KeyEvent("space", "release", " ")]),
        (b"\x1b[13u\x1b[13;1:3u", [KeyEvent("enter"), KeyEvent("enter", "release")]),
        (b"\x1b[27u", [KeyEvent("escape")]),
        (b"\x1b[127u", [KeyEvent("backspace")]),
        (b"\x1b[97;;97u", [KeyEvent("char", text="a")]),
        (b"\x1b[97;2;65u", [KeyEvent("char", text="A")]),
        (b"\x1b[97;1:3u", [KeyEvent("char", "release", "a")]),
        (b"\x1b[99;5u", [KeyEvent("ctrl+c")]),
        (b"\x1b[100;5u", [KeyEvent("ctrl+d")]),
        (b"\x1b[57441;2u", []),  # left shift alone
        (b"\x1b[?27u", [KeyEvent("kitty-flags", text="27")]),
        (b"\x1b[?62;22c", [KeyEvent("device-attributes", text="62;22")]),
    ],
)
def test_sequences_decode_to_key_events(data: bytes, expected: list[KeyEvent]) -> None:
    decoder = KeyDecoder()
    assert decoder.feed(data) + decoder.flush() == expected


def test_a_sequence_split_across_reads_is_joined() -> None:
    decoder = KeyDecoder()
    assert decoder.feed(b"\x1b[3") == []
    assert decoder.feed(b"2;1:") == []
    assert decoder.feed(b"3u") == [KeyEvent("space", "release", " ")]
    assert decoder.feed("é".encode()[:1]) == []
    assert decoder.feed("é".encode()[1:]) == [KeyEvent("char", text="é")]


def test_a_lone_escape_is_the_escape_key_once_input_pauses() -> None:
    decoder = KeyDecoder()
    assert decoder.feed(b"\x1b") == []
    assert decoder.flush() == [KeyEvent("escape")]
    assert decoder.feed(b"\x1b\x1b[A") == [KeyEvent("escape"), KeyEvent("up")]


def test_hold_to_talk_sequence() -> None:
    """Holding Space in a kitty-protocol terminal: one press, repeats, one release."""
    decoder = KeyDecoder()
    events = decoder.feed(b"\x1b[32u" + b"\x1b[32;1:2u" * 5 + b"\x1b[32;1:3u")
    assert [e.kind for e in events] == ["press"] + ["repeat"] * 5 + ["release"]
    assert {e.key for e in events} == {"space"}
