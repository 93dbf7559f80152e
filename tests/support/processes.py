"""What the throwaway test servers share: a free loopback port and the tail of a log."""

from __future__ import annotations

import socket
from pathlib import Path


def free_loopback_port(host: str = "127.0.0.1") -> int:
    """A port nobody listens on right now (the server may still lose it to a race: retry then)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def tail(text: str, lines: int = 60) -> str:
    """The last `lines` lines of a program's output, for error messages."""
    return "\n".join(text.splitlines()[-lines:])


def read_tail(path: Path, lines: int = 60) -> str:
    """The last `lines` lines of a log file, or a note that there is none."""
    try:
        return tail(path.read_text(errors="replace"), lines)
    except OSError:
        return "(no log)"
