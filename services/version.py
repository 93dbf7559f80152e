"""The installed version of the CRM (`crm --version`, `crm_build_info`)."""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

DISTRIBUTION = "crm-eventlog"


def crm_version() -> str:
    """The version of the installed distribution; `unknown` when running from an uninstalled checkout."""
    try:
        return version(DISTRIBUTION)
    except PackageNotFoundError:  # pragma: no cover - the project is always installed to run
        return "unknown"
