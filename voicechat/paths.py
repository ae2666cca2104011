"""Where voicechat keeps its files: the user's config file and the data folder.

`VOICECHAT_HOME`, when set, holds all of voicechat's data (sessions, caches it owns).
`VOICECHAT_CONFIG`, when set, names the user config file.
"""

from __future__ import annotations

import os
from pathlib import Path

APP_NAME = "voicechat"


def data_dir() -> Path:
    """The folder for sessions and the caches voicechat owns (not created here)."""
    home = os.environ.get("VOICECHAT_HOME")
    if home:
        return Path(home).expanduser()
    from platformdirs import user_data_dir

    return Path(user_data_dir(APP_NAME))


def user_config_file() -> Path:
    """The user's config file: `$VOICECHAT_CONFIG`, else `config.toml` in the user config dir."""
    explicit = os.environ.get("VOICECHAT_CONFIG")
    if explicit:
        return Path(explicit).expanduser()
    from platformdirs import user_config_dir

    return Path(user_config_dir(APP_NAME)) / "config.toml"


def user_config_is_explicit() -> bool:
    """Whether the user named a config file through `VOICECHAT_CONFIG` (then it must exist)."""
    return bool(os.environ.get("VOICECHAT_CONFIG"))


def sessions_dir(configured: str) -> Path:
    """The session folder: `session.dir` when set, else `sessions/` under the data dir."""
    return Path(configured).expanduser() if configured else data_dir() / "sessions"
