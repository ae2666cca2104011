"""Smart Turn v3's model for tests and benchmarks, taken from the pipecat-ai wheel once.

voicechat does not depend on pipecat-ai (see voicechat/audio/smart_turn.py); its wheel is the
only offline source of the model, so the file is fetched from the package registry once,
without the framework's dependencies, and cached outside the repository.
"""

from __future__ import annotations

import tempfile
import zipfile
from pathlib import Path

from tests.support.wheels import download_wheel

WHEEL = "pipecat-ai==1.14.0"
MEMBER = "pipecat/audio/turn/smart_turn/data/smart-turn-v3.2-cpu.onnx"


def smart_turn_model(cache_dir: Path) -> Path | None:
    """The ONNX file, fetched into `cache_dir` once; None when the registry cannot be reached."""
    path = cache_dir / "smart-turn-v3.2-cpu.onnx"
    if path.is_file():
        return path
    with tempfile.TemporaryDirectory() as folder:
        wheel_path = download_wheel(WHEEL, Path(folder))
        if wheel_path is None:
            return None
        with zipfile.ZipFile(wheel_path) as wheel:
            tmp = path.with_name(path.name + ".tmp")
            tmp.write_bytes(wheel.read(MEMBER))
            tmp.rename(path)
    return path
