"""Where a model runs: the device a config's "auto", "cpu" or "cuda" comes to."""

from __future__ import annotations

from voicechat.errors import DeviceError


def resolve_device(requested: str, cuda_available: bool) -> str:
    """ "auto" becomes "cuda" when a CUDA device is present, else "cpu"; "cuda" must exist."""
    if requested == "auto":
        return "cuda" if cuda_available else "cpu"
    if requested == "cuda" and not cuda_available:
        raise DeviceError("device 'cuda' was asked for, but no CUDA device is available; use 'cpu'")
    return requested
