"""Any OpenAI-compatible chat-completions server: vLLM, Ollama, a llama.cpp server,
`transformers serve`, or api.openai.com. This is how a model outgrows one machine.

The API key is read from the environment variable named by `llm.api_key_env` at start and
is never written to a file or a log.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator, Sequence
from typing import Any

from voicechat.config import LlmConfig
from voicechat.errors import LlmServerError, ModelError
from voicechat.llm.base import GenerationOptions
from voicechat.types import Message

CONTEXT_WINDOW = 4096
"""Tokens assumed for the served model (Phi-3-mini-4k) when trimming history."""

CHARS_PER_TOKEN = 3.0
"""A cautious estimate for English: the server's tokenizer is not available here."""


class OpenAIChatModel:
    """Streams chat completions from `llm.base_url`."""

    engine = "openai"
    device = "server"

    def __init__(self, config: LlmConfig) -> None:
        from openai import OpenAI

        self.model_name = config.model
        self.base_url = config.base_url or "https://api.openai.com/v1"
        self.context_window = CONTEXT_WINDOW
        key = os.environ.get(config.api_key_env, "")
        if not key and not config.base_url:
            raise ModelError(
                f"the openai engine needs an API key in ${config.api_key_env}, "
                "or llm.base_url pointing at your own server"
            )
        self._client = OpenAI(
            base_url=self.base_url, api_key=key or "unused", timeout=30.0, max_retries=0
        )

    def count_tokens(self, messages: Sequence[Message]) -> int:
        """An estimate: characters / 3, plus a few tokens of framing per message."""
        return sum(int(len(m.content) / CHARS_PER_TOKEN) + 4 for m in messages) + 2

    def stream(
        self, messages: Sequence[Message], options: GenerationOptions, cancel: threading.Event
    ) -> Iterator[str]:
        """Yield the streamed reply; each kind of server failure becomes one clear line."""
        import openai

        streaming = False  # the reply has begun to arrive
        try:
            stream: Any = self._client.chat.completions.create(
                model=self.model_name,
                messages=[m.as_dict() for m in messages],  # type: ignore[misc]
                stream=True,
                max_tokens=options.max_new_tokens,
                temperature=options.temperature,
            )
            with stream:
                for chunk in stream:
                    streaming = True
                    if cancel.is_set():
                        return
                    if chunk.choices and chunk.choices[0].delta.content:
                        yield chunk.choices[0].delta.content
        except openai.APITimeoutError:
            raise LlmServerError(f"{self.base_url}: the server did not answer in time") from None
        except openai.APIConnectionError:
            if streaming:
                raise LlmServerError(
                    f"{self.base_url}: the connection was lost during the reply"
                ) from None
            raise LlmServerError(
                f"cannot connect to {self.base_url}; is the server running?"
            ) from None
        except openai.AuthenticationError:
            raise LlmServerError(
                f"{self.base_url} rejected the API key (401); check the key in the environment"
            ) from None
        except openai.NotFoundError:
            raise LlmServerError(
                f"{self.base_url} has no model {self.model_name!r} (404); check llm.model"
            ) from None
        except openai.APIStatusError as e:
            raise LlmServerError(
                f"{self.base_url} answered {e.status_code} for model {self.model_name!r}: "
                f"{e.message}"
            ) from None
        except Exception as e:  # the transport broke mid-stream (the server died): its own types
            raise LlmServerError(
                f"{self.base_url}: the connection was lost during the reply ({type(e).__name__})"
            ) from None
