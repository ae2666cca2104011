"""Building the configured chat model."""

from __future__ import annotations

from voicechat.config import LlmConfig
from voicechat.engines import LLM_ENGINES, load_engine
from voicechat.llm.base import ChatModel, GenerationOptions


def create_chat_model(llm: LlmConfig) -> ChatModel:
    """Load the `[llm]` engine and model (downloading a Hub model once)."""
    factory = load_engine(LLM_ENGINES, "language model", llm.engine)
    model: ChatModel = factory(llm)
    return model


def generation_options(llm: LlmConfig) -> GenerationOptions:
    """The `[llm]` sampling settings."""
    return GenerationOptions(max_new_tokens=llm.max_new_tokens, temperature=llm.temperature)
