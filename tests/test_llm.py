"""Language model engines on a real (tiny, trained) Phi-3: in-process and over a real server."""

from __future__ import annotations

import http.server
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.llm_server import free_port, transformers_serve
from tests.support.tiny_phi3 import ANSWERS, SYSTEM_PROMPTS
from voicechat.config import LlmConfig
from voicechat.errors import LlmServerError
from voicechat.llm.base import GenerationOptions
from voicechat.llm.openai import OpenAIChatModel
from voicechat.llm.transformers import TransformersChatModel, native_bf16, resolve_dtype
from voicechat.types import Message

pytestmark = pytest.mark.slow

QUESTION = "What is the capital of France?"
GREEDY = GenerationOptions(max_new_tokens=200, temperature=0)


def _messages(question: str) -> list[Message]:
    return [Message("system", str(SYSTEM_PROMPTS[1])), Message("user", question)]


@pytest.fixture(scope="module")
def local_model(tiny_phi3: Path) -> TransformersChatModel:
    return TransformersChatModel(LlmConfig(model=str(tiny_phi3), device="cpu"))


def test_transformers_engine_streams_the_answer_and_stops_at_end(
    local_model: TransformersChatModel,
) -> None:
    pieces = list(local_model.stream(_messages(QUESTION), GREEDY, threading.Event()))
    assert len(pieces) > 5, "the reply should arrive in many pieces"
    assert "".join(pieces).strip() == ANSWERS[QUESTION]
    assert local_model.device == "cpu"
    assert local_model.dtype == ("bfloat16" if native_bf16("cpu") else "float32")
    assert local_model.context_window == 4096


def test_history_reaches_the_model(local_model: TransformersChatModel) -> None:
    first = "What colour is the sky?"
    messages = [
        Message("system", str(SYSTEM_PROMPTS[1])),
        Message("user", first),
        Message("assistant", ANSWERS[first]),
        Message("user", "How many legs does a spider have?"),
    ]
    reply = "".join(local_model.stream(messages, GREEDY, threading.Event())).strip()
    assert reply == ANSWERS["How many legs does a spider have?"]
    assert local_model.count_tokens(messages) > local_model.count_tokens(messages[-1:])


def test_each_turn_processes_only_the_new_message(local_model: TransformersChatModel) -> None:
    """The attention cache of one turn serves the next: the replies are what the model says
    without it, and only the new question is run through the model."""
    system = Message("system", str(SYSTEM_PROMPTS[1]))
    first, second = "What colour is the sky?", "How many legs does a spider have?"
    turn = [system, Message("user", first)]
    reply = "".join(local_model.stream(turn, GREEDY, threading.Event())).strip()
    assert reply == ANSWERS[first]
    turn = [*turn, Message("assistant", reply), Message("user", second)]
    assert "".join(local_model.stream(turn, GREEDY, threading.Event())).strip() == ANSWERS[second]
    history = local_model.count_tokens(turn) - local_model.count_tokens(turn[-1:])
    assert history - 3 <= local_model.cached_prompt_tokens <= history + 3
    # The same question again: the system prompt comes from the cache, the question does not.
    again = [system, Message("user", first)]
    assert "".join(local_model.stream(again, GREEDY, threading.Event())).strip() == ANSWERS[first]
    assert 0 < local_model.cached_prompt_tokens < local_model.count_tokens(again) - 5


def test_compiled_decoding_writes_what_eager_does_turn_after_turn_with_the_cache_kept(
    local_model: TransformersChatModel, tiny_phi3: Path
) -> None:
    """llm.compile: a static cache of the whole window, kept between turns, and a compiled
    decoding step that is compiled once (by the first reply) and never again."""
    import torch._dynamo

    compiled = TransformersChatModel(LlmConfig(model=str(tiny_phi3), device="cpu", compile=True))
    assert compiled.compiled
    torch._dynamo.reset()
    list(compiled.stream([Message("user", "Hello")], GREEDY, threading.Event()))  # the warm-up
    graphs = torch._dynamo.utils.counters["stats"]["unique_graphs"]
    assert graphs >= 1, "the decoding step was compiled"
    conversation = [Message("system", str(SYSTEM_PROMPTS[1]))]
    for question in ("What colour is the sky?", "How many legs does a spider have?", QUESTION):
        conversation.append(Message("user", question))
        eager = "".join(local_model.stream(conversation, GREEDY, threading.Event()))
        fast = "".join(compiled.stream(conversation, GREEDY, threading.Event()))
        assert fast == eager
        if len(conversation) <= 4:  # the tiny model learnt conversations of two turns
            assert fast.strip() == ANSWERS[question]
        if len(conversation) > 2:
            assert compiled.cached_prompt_tokens > 20, "the history came from the kept cache"
        conversation.append(Message("assistant", fast.strip()))
    assert torch._dynamo.utils.counters["stats"]["unique_graphs"] == graphs, "no recompile"


def test_a_thread_that_did_not_import_graph_trees_can_capture_after_its_state_is_made() -> None:
    """torch before 2.13 asserts when a CUDA graph is captured in a thread other than the
    one that imported cudagraph_trees (every reply generates in a new thread); the state
    voicechat makes there is the one torch's own lookup then finds."""
    import torch
    from torch._inductor import cudagraph_trees

    from voicechat.llm.transformers import make_graph_tree_state

    seen: dict[str, Any] = {}

    def reply_thread() -> None:
        seen["before"] = torch._C._is_key_in_tls("tree_manager_containers")
        make_graph_tree_state(cudagraph_trees)
        seen["after"] = torch._C._is_key_in_tls("tree_manager_containers")
        seen["container"] = cudagraph_trees.get_container(0)
        seen["same"] = cudagraph_trees.get_container(0)

    cudagraph_trees.get_container(0)  # this thread's state exists (it imported the module)
    worker = threading.Thread(target=reply_thread)
    worker.start()
    worker.join()
    assert seen["before"] is False, "a new thread starts without the state"
    assert seen["after"] is True
    assert isinstance(seen["container"], cudagraph_trees.TreeManagerContainer)
    assert seen["same"] is seen["container"], "one container per device in the thread"


def test_compile_with_bitsandbytes_or_without_a_compiler_is_one_clear_line(
    tiny_phi3: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from voicechat.errors import DeviceError
    from voicechat.llm.transformers import _compile_decoding

    with pytest.raises(DeviceError, match="bitsandbytes"):
        _compile_decoding(object(), "cuda", "4bit")
    monkeypatch.setenv("PATH", "/nonexistent")
    with pytest.raises(DeviceError, match="C compiler"):
        TransformersChatModel(LlmConfig(model=str(tiny_phi3), device="cpu", compile=True))


def test_cancel_stops_generation(local_model: TransformersChatModel) -> None:
    cancel = threading.Event()
    pieces = []
    for piece in local_model.stream(_messages("Tell me a long story."), GREEDY, cancel):
        pieces.append(piece)
        if len(pieces) == 3:
            cancel.set()
    story = ANSWERS["Tell me a long story."]
    assert len("".join(pieces)) < len(story) / 4
    # What the cancelled reply left in the cache does not disturb the next one.
    answer = "".join(local_model.stream(_messages(QUESTION), GREEDY, threading.Event())).strip()
    assert answer == ANSWERS[QUESTION]


@pytest.mark.parametrize(
    ("requested", "device", "bf16", "expected"),
    [
        ("auto", "cpu", False, "float32"),
        ("auto", "cpu", True, "bfloat16"),
        ("auto", "cuda", True, "bfloat16"),
        ("auto", "cuda", False, "float16"),
        ("float16", "cpu", False, "float16"),
    ],
)
def test_dtype_auto(requested: str, device: str, bf16: bool, expected: str) -> None:
    assert resolve_dtype(requested, device, bf16) == expected


@pytest.mark.parametrize("kind", ["int4", "4bit", "8bit"])
def test_quantization_on_the_cpu_is_a_clear_error(tiny_phi3: Path, kind: str) -> None:
    from voicechat.errors import DeviceError

    with pytest.raises(DeviceError, match=rf"llm.quantization = '{kind}' needs a CUDA GPU"):
        TransformersChatModel(LlmConfig(model=str(tiny_phi3), device="cpu", quantization=kind))


def test_missing_local_model_and_offline_hub_name(tmp_path: Path) -> None:
    from voicechat.errors import ModelError

    with pytest.raises(ModelError, match=r"no such model folder"):
        TransformersChatModel(LlmConfig(model=str(tmp_path / "nope") + "/", device="cpu"))
    with pytest.raises(ModelError, match=r"set llm\.model to a local model folder"):
        TransformersChatModel(LlmConfig(model="microsoft/Phi-3-mini-4k-instruct", device="cpu"))


def test_a_hub_model_without_network_fails_at_once(monkeypatch: pytest.MonkeyPatch) -> None:
    """Without HF_HUB_OFFLINE, the Hub is tried; here it cannot be reached (no network, or an
    endpoint on a closed loopback port), and the error comes without minutes of retries."""
    from voicechat.errors import ModelError
    from voicechat.hub import hub_reachable

    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setenv("HF_ENDPOINT", f"http://127.0.0.1:{free_port()}")
    assert not hub_reachable()
    with pytest.raises(ModelError, match="not cached and the Hugging Face Hub cannot be reached"):
        TransformersChatModel(LlmConfig(model="microsoft/Phi-3-mini-4k-instruct", device="cpu"))


@pytest.fixture(scope="module")
def server(tiny_phi3: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with transformers_serve(tiny_phi3, tmp_path_factory.mktemp("serve") / "log.txt") as url:
        yield url


def _openai(url: str, model: str) -> OpenAIChatModel:
    return OpenAIChatModel(LlmConfig(engine="openai", model=model, base_url=url))


def test_openai_engine_streams_from_a_real_server(server: str, tiny_phi3: Path) -> None:
    model = _openai(server, str(tiny_phi3))
    pieces = list(model.stream(_messages(QUESTION), GREEDY, threading.Event()))
    assert len(pieces) > 1
    assert "".join(pieces).strip() == ANSWERS[QUESTION]


def test_openai_engine_unknown_model_is_one_line(server: str) -> None:
    with pytest.raises(LlmServerError) as raised:
        list(
            _openai(server, "no/such-model").stream(_messages(QUESTION), GREEDY, threading.Event())
        )
    message = str(raised.value)
    assert message.startswith(server) and "'no/such-model'" in message and "\n" not in message


def test_openai_engine_connection_refused_is_one_line() -> None:
    url = f"http://127.0.0.1:{free_port()}/v1"
    with pytest.raises(LlmServerError, match=r"cannot connect to .*is the server running"):
        list(_openai(url, "m").stream(_messages(QUESTION), GREEDY, threading.Event()))


class _Unauthorized(http.server.BaseHTTPRequestHandler):
    """A server that, like a key-protected vLLM, answers every request with 401."""

    def do_POST(self) -> None:
        body = b'{"error": {"message": "invalid api key", "type": "auth"}}'
        self.send_response(401)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


def test_openai_engine_rejected_key_is_one_line() -> None:
    httpd = http.server.HTTPServer(("127.0.0.1", 0), _Unauthorized)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{httpd.server_address[1]}/v1"
        with pytest.raises(LlmServerError, match=r"rejected the API key \(401\)"):
            list(_openai(url, "m").stream(_messages(QUESTION), GREEDY, threading.Event()))
    finally:
        httpd.shutdown()


def test_openai_engine_without_key_or_url_says_what_to_set(monkeypatch: pytest.MonkeyPatch) -> None:
    from voicechat.errors import ModelError

    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    with pytest.raises(ModelError, match=r"\$OPENAI_API_KEY"):
        OpenAIChatModel(LlmConfig(engine="openai", model="gpt-4o-mini"))


def test_a_static_cache_is_cut_back_in_place_where_its_layers_cannot_crop(
    monkeypatch: pytest.MonkeyPatch, tiny_phi3: Path
) -> None:
    """transformers before 5.18 has no `crop` on static layers: the kept cache is still cut
    back to the shared prefix, in the same tensors (a captured CUDA graph reads them)."""
    import torch
    from transformers import AutoModelForCausalLM, StaticCache
    from transformers.cache_utils import StaticLayer

    from voicechat.llm.prompt_cache import cache_argument, cut_back

    model = AutoModelForCausalLM.from_pretrained(tiny_phi3)
    cache = StaticCache(config=model.config, max_cache_len=64)
    with torch.no_grad():
        model(torch.arange(1, 11)[None], use_cache=True, **{cache_argument(): cache})
    assert int(cache.get_seq_length()) == 10
    layer: Any = cache.layers[0]
    keys = layer.keys.data_ptr()
    monkeypatch.delattr(StaticLayer, "crop")
    cut_back(cache, 4)
    assert int(cache.get_seq_length()) == 6
    assert layer.keys.data_ptr() == keys
    with torch.no_grad():
        model(torch.arange(7, 9)[None], use_cache=True, **{cache_argument(): cache})
    assert int(cache.get_seq_length()) == 8, "the next tokens are written after the cut"
