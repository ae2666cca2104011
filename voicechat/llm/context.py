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
    system prompt and the new message always stay; if they alone do not fit, that is an error.
    """
    head = [Message("system", system_prompt)] if system_prompt else []
    turns = list(history)
    while True:
        messages = [*head, *turns, message]
        if count_tokens(messages) <= budget:
            return messages
        if not turns:
            raise VoicechatError(
                f"the message is too long for the model's context ({count_tokens(messages)} "
                f"tokens, at most {budget}); shorten it or lower llm.max_new_tokens"
            )
        # Drop the oldest message and any replies up to the next user message.
        turns = turns[1:]
        while turns and turns[0].role != "user":
            turns = turns[1:]
