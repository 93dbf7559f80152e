"""Headless Chromium for the console's browser tests: Debian's ``chromium`` package, driven by
Playwright for Python over its own executable (no browser is downloaded). When the package is
missing and the tests run as root, it is installed with apt-get; otherwise a clear error says
what to install.

The network is closed where the tests run: the flags keep Chromium from reaching out (for
updates, sync, field trials), which would otherwise stall its start."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

CHROMIUM = "/usr/bin/chromium"
INSTALL_HINT = "install the Debian package chromium (apt-get install chromium)"
FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
)


class BrowserUnavailable(RuntimeError):
    """Chromium is not installed and could not be installed."""


def _tail(text: str, lines: int = 20) -> str:
    return "\n".join(text.splitlines()[-lines:])


def ensure_chromium() -> str:
    """The Chromium executable, installing the Debian package first when root and missing."""
    if os.access(CHROMIUM, os.X_OK):
        return CHROMIUM
    if os.geteuid() != 0:
        raise BrowserUnavailable(f"{CHROMIUM} not found: {INSTALL_HINT}")
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    for command in (["apt-get", "update"], ["apt-get", "install", "-y", "chromium"]):
        result = subprocess.run(
            command, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
        )
        if result.returncode != 0:
            failed = f"{' '.join(command)!r} failed (exit {result.returncode})"
            raise BrowserUnavailable(f"{CHROMIUM} not found and {failed}:\n{_tail(result.stdout)}")
    if not os.access(CHROMIUM, os.X_OK):
        raise BrowserUnavailable(f"apt-get installed chromium but {CHROMIUM} is missing")
    return CHROMIUM


@contextmanager
def chromium() -> Iterator[Any]:
    """A headless Chromium (a Playwright `Browser`) with a fresh profile, until the block ends."""
    from playwright.sync_api import sync_playwright

    executable = ensure_chromium()
    profile = Path(tempfile.mkdtemp(prefix="crm-chromium-"))
    try:
        with sync_playwright() as playwright:
            context = playwright.chromium.launch_persistent_context(
                str(profile),
                executable_path=executable,
                headless=True,
                args=list(FLAGS),
                viewport={"width": 390, "height": 844},
                device_scale_factor=2,
                is_mobile=True,
                has_touch=True,
            )
            try:
                yield context
            finally:
                context.close()
    finally:
        shutil.rmtree(profile, ignore_errors=True)
