"""Fitting a conversation into the model's context window."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from voicechat.errors import VoicechatError
from voicechat.types import Message


def fit_history(
    system_prompt: str,
    history: Sequence[Message],
    message: Message,
    count_tokens: Callable[[Sequence[Message]], int],
    budget: int,
) -> list[Message]:
    """The messages to send: the system prompt, as much recent history as fits, the new message.

    History is dropped oldest-first, a user message together with the replies that follow it,
    until the prompt takes at most `budget` tokens (the window minus the reply's tokens). The
    system prompt and the new message always stay; if they alone do not fit, that is an error,
    found before any history is counted. The cut is found by bisection over the turns, so a
    long history costs a few counts, not one per turn dropped.
    """
    head = [Message("system", system_prompt)] if system_prompt else []
    alone = count_tokens([*head, message])
    if alone > budget:
        raise VoicechatError(
            f"the message is too long for the model's context ({alone} tokens, at most "
            f"{budget}); shorten it or lower llm.max_new_tokens"
        )
    turns = list(history)
    # Where the kept history may start: the beginning, then each user message after it; the
    # last choice keeps no history at all.
    starts = [0, *(i for i, m in enumerate(turns) if m.role == "user" and i > 0), len(turns)]

    def fits(start: int) -> bool:
        return count_tokens([*head, *turns[start:], message]) <= budget

    low, high = 0, len(starts) - 1  # starts[high] always fits (the message alone does)
    while low < high:
        middle = (low + high) // 2
        if fits(starts[middle]):
            high = middle
        else:
            low = middle + 1
    return [*head, *turns[starts[low] :], message]
