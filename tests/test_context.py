"""Trimming history to the context window, counted with a real Phi-3 tokenizer."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pytest

from voicechat.errors import VoicechatError
from voicechat.llm.context import fit_history
from voicechat.types import Message


@pytest.fixture(scope="module")
def count_tokens(tiny_phi3: Path):  # type: ignore[no-untyped-def]
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(tiny_phi3)

    def count(messages: Sequence[Message]) -> int:
        ids = tokenizer.apply_chat_template(
            [m.as_dict() for m in messages], add_generation_prompt=True, tokenize=False
        )
        return len(tokenizer(ids, add_special_tokens=False)["input_ids"])

    return count


def _history(turns: int) -> list[Message]:
    out = []
    for i in range(turns):
        out.append(Message("user", f"Question number {i}: what is the capital of France?"))
        out.append(Message("assistant", f"Answer number {i}: the capital of France is Paris."))
    return out


def test_everything_is_kept_when_it_fits(count_tokens) -> None:  # type: ignore[no-untyped-def]
    history = _history(3)
    new = Message("user", "And Spain?")
    assert fit_history("Be brief.", history, new, count_tokens, 4096 - 256) == [
        Message("system", "Be brief."),
        *history,
        new,
    ]


def test_oldest_turns_go_first_and_the_system_prompt_stays(count_tokens) -> None:  # type: ignore[no-untyped-def]
    history = _history(200)
    new = Message("user", "And Spain?")
    budget = 4096 - 256
    assert count_tokens([Message("system", "Be brief."), *history, new]) > budget

    fitted = fit_history("Be brief.", history, new, count_tokens, budget)
    assert fitted[0] == Message("system", "Be brief.")
    assert fitted[-1] == new
    kept = fitted[1:-1]
    assert kept == history[-len(kept) :], "the most recent turns are kept, in order"
    assert kept[0].role == "user", "turns are dropped whole"
    assert count_tokens(fitted) <= budget
    one_more = history[-len(kept) - 2 : -len(kept)]
    assert count_tokens([fitted[0], *one_more, *kept, new]) > budget, "as much as fits is kept"


def test_a_message_too_long_for_the_window_is_an_error(count_tokens) -> None:  # type: ignore[no-untyped-def]
    huge = Message("user", "word " * 5000)
    with pytest.raises(VoicechatError, match="too long for the model's context"):
        fit_history("Be brief.", _history(2), huge, count_tokens, 4096 - 256)
