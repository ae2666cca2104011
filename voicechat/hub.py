"""The Hugging Face Hub, where models named by id come from.

Without a network, huggingface_hub retries a failing lookup for most of a minute before giving
up. A model already in the cache needs no lookup at all, and a Hub that cannot be reached
within a few seconds is reported at once.
"""

from __future__ import annotations

import os
import socket
from urllib.parse import urlparse

CONNECT_TIMEOUT_S = 3.0


def hub_reachable() -> bool:
    """Whether a TCP connection to the Hub (`$HF_ENDPOINT`, else huggingface.co) opens."""
    if os.environ.get("HF_HUB_OFFLINE", "").lower() in ("1", "true", "yes"):
        return False
    endpoint = urlparse(os.environ.get("HF_ENDPOINT", "https://huggingface.co"))
    port = endpoint.port or (443 if endpoint.scheme == "https" else 80)
    try:
        with socket.create_connection((endpoint.hostname or "", port), timeout=CONNECT_TIMEOUT_S):
            return True
    except OSError:
        return False
