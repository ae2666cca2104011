"""Hugging Face transformers: Phi-3-mini (or any chat model) on CUDA, else the CPU.

The model is loaded with `trust_remote_code=False` (the Hub's Phi-3 remote code breaks on
current transformers; the built-in Phi3 class is the same model) and SDPA attention.
Generation runs in a worker thread and streams text through `TextIteratorStreamer`; the
attention cache is kept between turns (`PromptCache`), so only the new message is processed.
"""

from __future__ import annotations

import importlib.util
import logging
import threading
from collections import defaultdict
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from voicechat.config import LlmConfig
from voicechat.errors import DeviceError, EngineUnavailable, ModelError
from voicechat.hub import hub_reachable
from voicechat.llm.base import GenerationOptions
from voicechat.llm.message_end import (
    Opening,
    end_probabilities,
    end_probability,
    message_end_ids,
    opening,
)
from voicechat.llm.prompt_cache import PromptCache
from voicechat.types import Message

log = logging.getLogger(__name__)

STOP_TOKENS = ("<|end|>", "<|endoftext|>")
"""Phi-3 ends a turn with <|end|> but does not list it as its EOS: without it, it runs on."""

PHI3_CONTEXT = 4096
"""Tokens; Phi-3-mini-4k's window, also the cap for models that claim more."""

STREAM_TIMEOUT_S = 600.0
"""Longest wait for the next piece before generation counts as stuck."""


def resolve_dtype(requested: str, device: str, bf16_supported: bool) -> str:
    """ "auto" = bf16 where the device computes it natively; else fp16 on CUDA, fp32 on the
    CPU."""
    if requested != "auto":
        return requested
    if bf16_supported:
        return "bfloat16"
    return "float16" if device == "cuda" else "float32"


def native_bf16(device: str) -> bool:
    """Whether `device` computes in bf16 natively: CUDA GPUs that support it, and CPUs with
    AVX512-BF16 or AMX (read from /proc/cpuinfo; False where it cannot be read).

    On such a CPU Phi-3-mini in bf16 takes half the memory of fp32 and, measured on a 2-core
    AMD EPYC, about half the time per token and a third of the time to the first token.
    """
    import torch

    if device == "cuda":
        return bool(torch.cuda.is_bf16_supported())
    try:
        with open("/proc/cpuinfo") as fh:
            lines = [line for line in fh if line.startswith("flags")]
        flags = lines[0].split(":", 1)[1].split() if lines else []
    except OSError:
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags


class TransformersChatModel:
    """A local causal LM with a chat template."""

    engine = "transformers"

    def __init__(self, config: LlmConfig) -> None:
        import torch

        from voicechat.compute import resolve_device

        self.model_name = config.model
        self.device = resolve_device(config.device, torch.cuda.is_available())
        self.dtype = resolve_dtype(config.dtype, self.device, native_bf16(self.device))
        self._tokenizer, self._model = _load(config, self.device, self.dtype)
        self.context_window = min(
            int(getattr(self._model.config, "max_position_embeddings", PHI3_CONTEXT)), PHI3_CONTEXT
        )
        self.compiled = config.compile
        self._prompt_cache = PromptCache(self._static_cache if config.compile else None)
        if config.compile:
            _compile_decoding(self._model, self.device, config.quantization)
        self._end_ids = message_end_ids(self._tokenizer, STOP_TOKENS)
        self._opening: Opening | None = None
        """The chat template's opening, run once (for end_probability)."""
        self._opening_lock = threading.Lock()
        vocab = self._tokenizer.get_vocab()
        self._stop_ids = sorted(
            {vocab[t] for t in STOP_TOKENS if t in vocab}
            | (
                {self._tokenizer.eos_token_id}
                if self._tokenizer.eos_token_id is not None
                else set()
            )
        )

    def end_probability(self, text: str) -> float:
        """How likely `text`, said so far, is a whole message: the model's probability that
        the message ends here (its end-of-message token, or a final . ? or !), from one
        forward pass over the message alone. Trailing punctuation is dropped first, as
        Whisper also punctuates speech that was cut off."""
        with self._opening_lock:
            if self._opening is None:
                self._opening = opening(self._model, self._tokenizer)
        return end_probability(self._model, self._tokenizer, self._end_ids, self._opening, text)

    def end_probabilities(self, texts: Sequence[str]) -> list[float]:
        """`end_probability` of each text, in padded batches."""
        return end_probabilities(self._model, self._tokenizer, self._end_ids, texts)

    def _static_cache(self) -> Any:
        """A cache of the whole window, fixed in size so the compiled step never changes shape
        (a new prompt or a longer conversation reuses the compiled graph)."""
        from transformers import StaticCache

        return StaticCache(config=self._model.config, max_cache_len=self.context_window)

    def _prompt_ids(self, messages: Sequence[Message]) -> Any:
        return self._tokenizer.apply_chat_template(
            [m.as_dict() for m in messages],
            add_generation_prompt=True,
            return_tensors="pt",
            return_dict=True,
        )

    def count_tokens(self, messages: Sequence[Message]) -> int:
        """Prompt tokens for `messages`, through the model's own chat template."""
        return int(self._prompt_ids(messages)["input_ids"].shape[1])

    def forget_cache(self) -> None:
        """Drop the kept attention cache: the next reply processes its whole prompt."""
        with self._prompt_cache.lock:
            self._prompt_cache.drop()

    @property
    def cached_prompt_tokens(self) -> int:
        """Prompt tokens the last reply took from the kept attention cache."""
        return self._prompt_cache.reused_tokens

    def _history_tokens(self, messages: Sequence[Message]) -> int:
        """Tokens of the conversation before the last message; 0 where the template cannot
        render it alone."""
        if len(messages) < 2:
            return 0
        try:
            rendered = self._tokenizer.apply_chat_template(
                [m.as_dict() for m in messages[:-1]], add_generation_prompt=False, return_dict=True
            )
        except Exception:  # some templates insist on a user message last
            return 0
        return len(rendered["input_ids"])

    def stream(
        self, messages: Sequence[Message], options: GenerationOptions, cancel: threading.Event
    ) -> Iterator[str]:
        """Generate in a worker thread and yield decoded text as it arrives."""
        from transformers import StoppingCriteria, StoppingCriteriaList, TextIteratorStreamer

        stop = threading.Event()

        class _Cancelled(StoppingCriteria):
            def __call__(self, input_ids: Any, scores: Any, **kwargs: Any) -> bool:
                return cancel.is_set() or stop.is_set()

        inputs = self._prompt_ids(messages).to(self._model.device)
        streamer = TextIteratorStreamer(
            self._tokenizer, skip_prompt=True, skip_special_tokens=True, timeout=STREAM_TIMEOUT_S
        )
        sampling: dict[str, Any] = (
            {"do_sample": True, "temperature": options.temperature}
            if options.temperature > 0
            else {"do_sample": False, "temperature": None, "top_p": None, "top_k": None}
        )
        failure: list[BaseException] = []
        cache = self._prompt_cache
        history = self._history_tokens(messages)

        def run(reuse: dict[str, Any]) -> Any:
            return self._model.generate(
                **inputs,
                **reuse,
                streamer=streamer,
                max_new_tokens=options.max_new_tokens,
                eos_token_id=self._stop_ids,
                pad_token_id=self._tokenizer.pad_token_id or self._stop_ids[0],
                stopping_criteria=StoppingCriteriaList([_Cancelled()]),
                **sampling,
            )

        def generate() -> None:
            try:
                if self.compiled and self.device == "cuda":
                    graph_trees_in_this_thread()
                with cache.lock:
                    prompt = inputs["input_ids"][0].tolist()
                    reuse = cache.prepare(prompt, history)
                    log.debug("prompt: %d tokens, %d cached", len(prompt), cache.reused_tokens)
                    try:
                        cache.keep(run(reuse)[0].tolist())
                    except BaseException:
                        cache.drop()
                        raise
            except BaseException as e:
                failure.append(e)
                streamer.end()

        worker = threading.Thread(target=generate, name="voicechat-generate", daemon=True)
        worker.start()
        try:
            for piece in streamer:
                if piece:
                    yield piece
                if cancel.is_set():
                    break
        finally:
            stop.set()  # the consumer stopped early (cancelled, or the generator was closed)
            worker.join(timeout=STREAM_TIMEOUT_S)
        if failure:
            reason = str(failure[0]) or type(failure[0]).__name__
            raise ModelError(f"generation failed: {reason}") from failure[0]


def _load(config: LlmConfig, device: str, dtype: str) -> tuple[Any, Any]:
    import torch
    import transformers
    from transformers import AutoModelForCausalLM, AutoTokenizer

    transformers.utils.logging.disable_progress_bar()  # the spinner already says it is loading
    kwargs: dict[str, Any] = {
        "dtype": getattr(torch, dtype),
        "attn_implementation": "sdpa",
        "trust_remote_code": False,
    }
    if config.quantization != "none":
        kwargs["quantization_config"] = _quantization(config.quantization, device, dtype)
        kwargs["device_map"] = device
    source = config.model
    path = Path(source).expanduser()
    local = path.exists()
    if local:
        if not (path / "config.json").is_file():
            raise ModelError(f"{source}: not a model folder (no config.json)")
        source = str(path)
    elif source.startswith((".", "/", "~")):
        raise ModelError(f"{source}: no such model folder")
    try:
        try:  # a cached Hub model needs no network
            tokenizer: Any = AutoTokenizer.from_pretrained(
                source, trust_remote_code=False, local_files_only=True
            )
            model: Any = AutoModelForCausalLM.from_pretrained(
                source, local_files_only=True, **kwargs
            )
        except OSError:
            if local or not hub_reachable():
                raise
            tokenizer = AutoTokenizer.from_pretrained(source, trust_remote_code=False)
            model = AutoModelForCausalLM.from_pretrained(source, **kwargs)
    except OSError as e:
        if local:
            raise ModelError(f"{source}: cannot load the model ({e})") from e
        raise ModelError(
            f"{source!r} is not cached and the Hugging Face Hub cannot be reached; connect "
            "once to download it, or set llm.model to a local model folder"
        ) from e
    if config.quantization == "none":
        model = model.to(device)
    model.eval()
    return tokenizer, model


def _quantization(kind: str, device: str, dtype: str) -> Any:
    if device != "cuda":
        raise DeviceError(
            f"llm.quantization = {kind!r} needs a CUDA GPU; set it to 'none' on the CPU"
        )
    if kind == "int4":
        return _torchao_int4(dtype)
    try:
        import bitsandbytes  # noqa: F401
    except ImportError:
        raise EngineUnavailable(
            f'llm.quantization = {kind!r} needs bitsandbytes: pip install "voicechat[quant]"'
        ) from None
    import torch
    from transformers import BitsAndBytesConfig

    if kind == "4bit":
        return BitsAndBytesConfig(
            load_in_4bit=True,
            bnb_4bit_quant_type="nf4",
            bnb_4bit_compute_dtype=getattr(torch, dtype),
            bnb_4bit_use_double_quant=True,
        )
    return BitsAndBytesConfig(load_in_8bit=True)


def _compile_decoding(model: Any, device: str, quantization: str) -> None:
    """Have `generate()` compile its decoding step (one token, fixed shapes) and run the
    prompt eagerly. The graph is built on the first reply, which the warm-up makes; on CUDA
    it is captured as a CUDA graph ("reduce-overhead"), so Python no longer launches every
    kernel of every token."""
    import shutil

    from transformers import CompileConfig

    if quantization in ("4bit", "8bit"):
        raise DeviceError(
            f"llm.compile cannot compile bitsandbytes' {quantization} layers; use "
            'llm.quantization = "int4" (torchao) with it, or set llm.compile = false'
        )
    if device == "cpu" and not any(shutil.which(cc) for cc in ("cc", "gcc", "g++", "clang")):
        raise DeviceError(
            "llm.compile on the CPU needs a C compiler (apt-get install gcc); "
            "or set llm.compile = false"
        )
    if device == "cuda" and importlib.util.find_spec("triton") is None:
        raise DeviceError("llm.compile on CUDA needs triton (pip install triton)")
    config = CompileConfig(
        fullgraph=False, mode="reduce-overhead" if device == "cuda" else "default"
    )
    # generate() compiles only on GPUs unless told; the stubs type the flag as None.
    config._compile_all_devices = True  # type: ignore[assignment]
    model.generation_config.compile_config = config


def graph_trees_in_this_thread() -> None:
    """Give the calling thread CUDA graph trees' per-thread state where torch does not.

    A compiled step captures its CUDA graphs in the thread that generates, a new one for
    every reply. torch before 2.13 keeps that state only in the thread that first imported
    `torch._inductor.cudagraph_trees` and fails an assertion (`_is_key_in_tls`) when a graph
    is captured in any other: a second compiled model in one process, or a recompile in a
    later reply. torch 2.13 makes the state in each thread on first use (`_initialize_tls`)."""
    from torch._inductor import cudagraph_trees

    if not hasattr(cudagraph_trees, "_initialize_tls"):
        make_graph_tree_state(cudagraph_trees)


def make_graph_tree_state(cudagraph_trees: Any) -> None:
    """What torch 2.13's `_initialize_tls` does, for the calling thread if it has no state:
    an empty tree-manager container and lock per device, kept where `get_obj` finds them."""
    import torch

    if torch._C._is_key_in_tls("tree_manager_containers"):
        return
    local = cudagraph_trees.local
    local.tree_manager_containers = {}
    local.tree_manager_locks = defaultdict(threading.Lock)
    torch._C._stash_obj_in_tls("tree_manager_containers", local.tree_manager_containers)
    torch._C._stash_obj_in_tls("tree_manager_locks", local.tree_manager_locks)


def _torchao_int4(dtype: str) -> Any:
    """torchao's int4 weight-only recipe for CUDA (groups of 128, HQQ scales, packed for the
    tinygemm kernel in torch itself): about a quarter of bf16's memory, and unlike
    bitsandbytes it compiles."""
    if dtype != "bfloat16":
        raise DeviceError('llm.quantization = "int4" computes in bf16; set llm.dtype = "auto"')
    try:
        from torchao.quantization import Int4WeightOnlyConfig
    except ImportError:
        raise EngineUnavailable(
            'llm.quantization = "int4" needs torchao: pip install "voicechat[quant]"'
        ) from None
    from transformers import TorchAoConfig

    return TorchAoConfig(
        quant_type=Int4WeightOnlyConfig(
            group_size=128,
            int4_packing_format="tile_packed_to_4d",
            int4_choose_qparams_algorithm="hqq",
        )
    )
