"""Time to first token over a growing conversation, with the attention cache kept between
turns and without it, measured side by side in one run.

    python benchmarks/prompt_cache.py MODEL_FOLDER [--turns N]
    python benchmarks/prompt_cache.py --random-phi3 [--turns N]   # Phi-3-mini shape, 7.6 GB in bf16

Each turn is answered twice from the same history: once after dropping the cache (the whole
prompt is processed, as before the cache was kept) and once with it (only the new question is:
the question itself is never taken from the cache).
The conversation then goes on with the reply, so the history grows turn by turn.
"""

from __future__ import annotations

import argparse
import sys
import threading
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from voicechat.config import LlmConfig
from voicechat.llm.base import GenerationOptions
from voicechat.types import Message

QUESTIONS = [
    "What is the capital of France?",
    "What colour is the sky?",
    "How many legs does a spider have?",
    "What is the capital of France?",
    "What colour is the sky?",
    "How many legs does a spider have?",
]


def first_token(
    model: Any, messages: list[Message], options: GenerationOptions
) -> tuple[float, str]:
    """Seconds to the first piece, and the whole reply."""
    start = time.perf_counter()
    ttft = None
    pieces = []
    for piece in model.stream(messages, options, threading.Event()):
        if ttft is None:
            ttft = time.perf_counter() - start
        pieces.append(piece)
    return ttft or 0.0, "".join(pieces).strip()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("model", nargs="?", help="a local model folder (transformers engine)")
    parser.add_argument("--random-phi3", action="store_true")
    parser.add_argument("--turns", type=int, default=6)
    args = parser.parse_args()
    system = LlmConfig().system_prompt
    if args.random_phi3:
        from voicechat.bench.random_weights import random_phi3
        from voicechat.llm.transformers import TransformersChatModel

        model: Any = TransformersChatModel(LlmConfig(model=str(random_phi3()), device="cpu"))
        options = GenerationOptions(max_new_tokens=4, temperature=0)
    elif args.model:
        from voicechat.llm.transformers import TransformersChatModel

        model = TransformersChatModel(LlmConfig(model=args.model, device="cpu"))
        options = GenerationOptions(max_new_tokens=60, temperature=0)
    else:
        parser.error("give a model folder or --random-phi3")
    history = [Message("system", system)]
    first_token(model, [*history, Message("user", "Hello.")], options)  # warm up
    print("turn  prompt  cached  without cache  with cache  ratio")
    ratios = []
    for turn in range(args.turns):
        messages = [*history, Message("user", QUESTIONS[turn % len(QUESTIONS)])]
        model.forget_cache()
        without, reply = first_token(model, messages, options)
        # The cache now holds this turn; the history before the question is what a real
        # conversation would have kept from the turn before.
        with_cache, _ = first_token(model, messages, options)
        ratios.append(with_cache / without)
        print(
            f"{turn + 1:>4}  {model.count_tokens(messages):>6}  {model.cached_prompt_tokens:>6}"
            f"  {without * 1000:>10.0f} ms  {with_cache * 1000:>7.0f} ms  {ratios[-1]:.2f}"
        )
        history = [*messages, Message("assistant", reply)]


if __name__ == "__main__":
    main()
