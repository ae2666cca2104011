"""Words of a text as voicechat compares them: lower case, punctuation dropped."""

from __future__ import annotations

import re


def words(text: str) -> list[str]:
    """Lower-case words of `text`, punctuation dropped ("Paris." and "paris" are one word;
    "don't" is one word)."""
    return re.findall(r"[\w']+", text.lower())
