"""The official JSON Schema of AsyncAPI 3.0.0, from the `@asyncapi/specs` npm package.

It is installed with npm into a cache directory reused across runs
(``~/.cache/crm-asyncapi/<version>``; set ``CRM_ASYNCAPI_CACHE`` for another root),
the way the Kafka jars come from Maven Central: npm runs only when the cache lacks it.
Without npm (Debian: ``apt-get install npm``) ``AsyncApiSpecsUnavailable`` says so."""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

from tests.support.processes import tail

SPECS_PACKAGE = "@asyncapi/specs"
SPECS_VERSION = "6.11.1"
CACHE_ENV = "CRM_ASYNCAPI_CACHE"
DEFAULT_CACHE_ROOT = Path.home() / ".cache" / "crm-asyncapi"


class AsyncApiSpecsUnavailable(RuntimeError):
    """npm is missing, or the package could not be installed."""


def _schema_file(base: Path, asyncapi_version: str) -> Path:
    return base / "node_modules" / "@asyncapi" / "specs" / "schemas" / f"{asyncapi_version}-without-$id.json"


def asyncapi_schema(asyncapi_version: str = "3.0.0") -> dict[str, Any]:
    """The JSON Schema (draft 7) that an AsyncAPI document of that version must satisfy."""
    root = os.environ.get(CACHE_ENV)
    base = (Path(root).expanduser() if root else DEFAULT_CACHE_ROOT) / SPECS_VERSION
    schema = _schema_file(base, asyncapi_version)
    if not schema.is_file():
        _install(base)
    if not schema.is_file():
        raise AsyncApiSpecsUnavailable(f"{SPECS_PACKAGE}@{SPECS_VERSION} has no schema for AsyncAPI {asyncapi_version}")
    loaded: dict[str, Any] = json.loads(schema.read_text())
    return loaded


def _install(base: Path) -> None:
    npm = shutil.which("npm")
    if npm is None:
        raise AsyncApiSpecsUnavailable(f"no npm on PATH to install {SPECS_PACKAGE} (Debian: apt-get install npm)")
    base.mkdir(parents=True, exist_ok=True)
    with open(base / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # concurrent sessions: one installs, the others wait
        command = [npm, "install", "--no-audit", "--no-fund", "--prefix", str(base), f"{SPECS_PACKAGE}@{SPECS_VERSION}"]
        try:
            result = subprocess.run(command, capture_output=True, text=True, timeout=300, stdin=subprocess.DEVNULL)
        except subprocess.TimeoutExpired as exc:
            raise AsyncApiSpecsUnavailable(f"installing {SPECS_PACKAGE} timed out: {' '.join(command)}") from exc
        if result.returncode != 0:
            raise AsyncApiSpecsUnavailable(
                f"installing {SPECS_PACKAGE} failed (exit {result.returncode}): {' '.join(command)}\n"
                f"{tail(result.stdout + result.stderr)}"
            )
