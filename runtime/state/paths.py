"""Where the state file lives by default, and making its folder private."""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from pathlib import Path

STATE_FILE_NAME = "state.db"


def default_state_path(env: Mapping[str, str] | None = None, platform: str | None = None, home: Path | None = None) -> Path:
    """The user's data directory + `syncmap/state.db`: `$XDG_DATA_HOME` when set (also on
    macOS, where setting it is a deliberate choice), else `~/Library/Application Support` on
    macOS and `~/.local/share` elsewhere (the XDG default)."""
    env = os.environ if env is None else env
    platform = sys.platform if platform is None else platform
    home = Path.home() if home is None else home
    xdg = env.get("XDG_DATA_HOME", "")
    # The XDG spec says a relative value is invalid and must be ignored.
    if xdg and os.path.isabs(xdg):
        base = Path(xdg)
    elif platform == "darwin":
        base = home / "Library" / "Application Support"
    else:
        base = home / ".local" / "share"
    return base / "syncmap" / STATE_FILE_NAME


def make_private_dirs(folder: Path) -> None:
    """Create `folder` and its missing parents with mode 0700 (`Path.mkdir(parents=True)`
    gives the parents the default mode); folders that already exist are left as they are."""
    missing = []
    while not folder.exists():
        missing.append(folder)
        if folder.parent == folder:
            break
        folder = folder.parent
    for path in reversed(missing):
        path.mkdir(mode=0o700, exist_ok=True)
