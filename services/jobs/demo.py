"""The demo of `crm serve --demo`: seeded data in an empty store, and an admin token that stays
the same across restarts (kept in a file readable by its owner only)."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import TextIO

from services.app.application import CrmApplication, derived_id
from services.app.errors import NotFound
from services.auth.policy import Role
from services.settings import Settings
from services.storage.tokens import TokenStore

DEMO_LEADS = 200
DEMO_SEED = 42
DEMO_ADMIN = "demo-admin"


def demo_token_file(settings: Settings) -> Path | None:
    """Where the demo admin token is kept so that a restart prints the same one: next to the
    SQLite file, or in var/ for PostgreSQL; nowhere for an in-memory store."""
    database = settings.database
    if database.backend == "sqlite" and database.path != ":memory:":
        return Path(database.path).parent / "demo-admin-token"
    if database.backend == "postgres":
        return Path("var") / f"demo-admin-token.{database.host}-{database.port}-{database.name}"
    return None


def prepare_demo(crm: CrmApplication, tokens: TokenStore, settings: Settings, log: TextIO = sys.stderr) -> str:
    """Seed demo data into an empty store, and return the demo admin token (the kept one if it
    still works, else a new one, which is kept)."""
    if crm.head_position() == 0:
        print(f"crm: empty store, seeding {DEMO_LEADS} demo leads (seed {DEMO_SEED})...", file=log, flush=True)
        from services.jobs.seed import seed_history

        report = seed_history(crm, leads=DEMO_LEADS, seed=DEMO_SEED)
        print(f"crm: seeded {report.events} events in {report.seconds:.1f} s", file=log, flush=True)
    path = demo_token_file(settings)
    if path is not None and path.exists():
        path.chmod(0o600)  # one an older version left readable by others is made the owner's only
        kept = path.read_text().strip()
        principal = tokens.authenticate(kept)
        if principal is not None and principal.role is Role.ADMIN:
            return kept
    token = tokens.issue(DEMO_ADMIN, Role.ADMIN)
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        os.fchmod(fd, 0o600)  # exactly 0600, whatever the umask, and for a file that was there
        with os.fdopen(fd, "w") as file:
            file.write(token + "\n")
    return token


def demo_lead_id(crm: CrmApplication) -> str | None:
    """The first seeded demo lead, if it is in the store."""
    lead_id = derived_id("lead", f"seed:{DEMO_SEED}:0")
    try:
        crm.get_lead(lead_id)
    except NotFound:
        return None
    return str(lead_id)


def banner(host: str, port: int, token: str, lead_id: str | None) -> str:
    """What `crm serve --demo` prints before it starts serving."""
    base = f"http://{host}:{port}"
    target = f"{base}/v1/leads/{lead_id}" if lead_id else f"{base}/v1/leads/<lead id>"
    return "\n".join(
        [
            "CRM demo",
            f"  Interactive docs: {base}/docs",
            f"  Web console:      {base}/app (sign in with the admin token, or any token of `crm token issue`)",
            f"  Admin token:      {token}",
            f"  Try:              curl -H 'Authorization: Bearer {token}' {target}",
            "",
        ]
    )
