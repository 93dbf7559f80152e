"""`crm serve --demo` as a user starts it: a subprocess on a free port over a fresh SQLite file."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

import httpx

from services.app.application import derived_id


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Demo:
    base_url: str
    stdout: list[str] = field(default_factory=list)
    stderr: list[str] = field(default_factory=list)

    def printed(self, pattern: str) -> str:
        """The first group of `pattern` in what the server printed (waiting a little for it)."""
        deadline = time.monotonic() + 5
        while not (match := re.search(pattern, "".join(self.stdout))) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert match, "".join(self.stdout + self.stderr)
        return match.group(1)


def crm(database_url: str, cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "CRM_DATABASE_URL": database_url, "PYTHONUNBUFFERED": "1"}
    return subprocess.run(
        [sys.executable, "-m", "services.cli", *args], env=env, cwd=cwd, capture_output=True, text=True, timeout=60
    )


@contextmanager
def demo_server(
    database_url: str, cwd: Path, automation: str = "in-process", extra: tuple[str, ...] = (), demo: bool = True
) -> Iterator[Demo]:
    """Start `crm serve --demo` (with `extra` arguments; without `--demo` unless `demo`), wait
    until it answers /readyz."""
    port = free_port()
    env = {**os.environ, "CRM_DATABASE_URL": database_url, "PYTHONUNBUFFERED": "1", "CRM_AUTOMATION": automation}
    process = subprocess.Popen(
        [
            *(sys.executable, "-m", "services.cli", "serve", "--host", "127.0.0.1", "--port", str(port)),
            *(("--demo",) if demo else ()),
            *extra,
        ],
        env=env,
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    served = Demo(base_url=f"http://127.0.0.1:{port}")

    def pump(stream: IO[str], into: list[str]) -> None:
        for line in stream:
            into.append(line)

    pumps = [
        threading.Thread(target=pump, args=(process.stdout, served.stdout), daemon=True),
        threading.Thread(target=pump, args=(process.stderr, served.stderr), daemon=True),
    ]
    for thread in pumps:
        thread.start()
    try:
        deadline = time.monotonic() + 45
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise AssertionError(f"crm serve exited {process.returncode}: {''.join(served.stdout + served.stderr)}")
            try:
                if httpx.get(f"{served.base_url}/readyz", timeout=2, trust_env=False).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.1)
        else:
            raise AssertionError(f"crm serve did not answer: {''.join(served.stdout + served.stderr)}")
        yield served
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        for thread in pumps:
            thread.join(timeout=5)


def test_serve_demo_seeds_prints_docs_and_a_working_token_and_keeps_it_across_restarts(tmp_path: Path) -> None:
    database_url = f"sqlite:///{tmp_path / 'var' / 'crm.sqlite'}"
    first_lead = str(derived_id("lead", "seed:42:0"))

    # without automation, which would rescore the seeded leads as their scores decay meanwhile
    with demo_server(database_url, tmp_path, automation="separate") as demo:
        docs = demo.printed(r"Interactive docs:\s+(\S+)")
        token = demo.printed(r"Admin token:\s+(\S+)")
        sample = demo.printed(r"Try:\s+(curl .+)")
        auth = {"Authorization": f"Bearer {token}"}

        assert docs == f"{demo.base_url}/docs"
        assert httpx.get(docs, trust_env=False).status_code == 200
        assert token in sample and f"/v1/leads/{first_lead}" in sample
        assert httpx.get(f"{demo.base_url}/readyz", trust_env=False).json()["head_position"] > 200
        lead = httpx.get(f"{demo.base_url}/v1/leads/{first_lead}", headers=auth, trust_env=False)
        assert lead.status_code == 200, lead.text
        assert lead.json()["id"] == first_lead and lead.headers["ETag"] == f'"{lead.json()["version"]}"'
        history = httpx.get(f"{demo.base_url}/v1/leads/{first_lead}/history", headers=auth, trust_env=False).json()
        assert history["entries"][0]["actor"] == "system:marketing"
        assert httpx.get(f"{demo.base_url}/v1/leads/{first_lead}", trust_env=False).status_code == 401

        # the read models caught up with the demo data before serving, and follow new writes
        assert "read models caught up" in "".join(demo.stderr)
        pipeline = httpx.get(f"{demo.base_url}/v1/pipeline", headers=auth, trust_env=False).json()
        assert sum(stage["count"] for stage in pipeline["stages"]) >= 200
        # a lead for a new member of the seeded team
        visitor = {"id": "visitor", "name": "A Visitor", "role": "rep"}
        assert httpx.post(f"{demo.base_url}/v1/users", json=visitor, headers=auth, trust_env=False).status_code == 201
        lead = {"name": "Grace Hopper", "email": "grace@navy.example", "source": "event", "owner": "visitor"}
        moved = httpx.post(f"{demo.base_url}/v1/leads", json=lead, headers=auth, trust_env=False)
        assert moved.status_code == 201, moved.text
        listed = httpx.get(
            f"{demo.base_url}/v1/leads",
            params={"min_position": moved.json()["position"], "owner": "visitor"},
            headers=auth,
            trust_env=False,
        ).json()
        assert [item["id"] for item in listed["items"]] == [moved.json()["id"]]
        metrics = httpx.get(f"{demo.base_url}/metrics", trust_env=False).text
        assert f'crm_projection_position{{projection="pipeline"}} {moved.json()["position"]}' in metrics
        ready = httpx.get(f"{demo.base_url}/readyz", trust_env=False).json()

        # `crm token issue` writes to the same store; the running server accepts the new token
        issued = crm(database_url, tmp_path, "token", "issue", "--user", "ana", "--role", "analyst")
        assert issued.returncode == 0, issued.stderr
        analyst_token = issued.stdout.strip()
        masked = httpx.get(
            f"{demo.base_url}/v1/leads/{first_lead}",
            headers={"Authorization": f"Bearer {analyst_token}"},
            trust_env=False,
        )
        assert masked.status_code == 200 and masked.json()["name"].endswith("***")
        assert "seeding 200 demo leads" in "".join(demo.stderr)

    assert (tmp_path / "var" / "demo-admin-token").read_text().strip() == token
    with demo_server(database_url, tmp_path, automation="separate") as again:
        assert again.printed(r"Admin token:\s+(\S+)") == token
        assert "seeding" not in "".join(again.stderr)
        assert httpx.get(f"{again.base_url}/readyz", trust_env=False).json() == ready

    bad_role = crm(database_url, tmp_path, "token", "issue", "--user", "x", "--role", "root")
    bad_user = crm(database_url, tmp_path, "token", "issue", "--user", "not a name", "--role", "rep")
    assert bad_role.returncode == 2 and bad_user.returncode == 2 and not bad_user.stdout


def test_serve_runs_the_automation_a_web_form_lead_gets_its_call_task(tmp_path: Path) -> None:
    database_url = f"sqlite:///{tmp_path / 'var' / 'crm.sqlite'}"

    with demo_server(database_url, tmp_path) as demo:
        token = demo.printed(r"Admin token:\s+(\S+)")
        auth = {"Authorization": f"Bearer {token}"}
        lead = {"name": "Ada Lovelace", "email": "ada@acme.example", "source": "web_form", "owner": "alice"}
        captured = httpx.post(f"{demo.base_url}/v1/leads", json=lead, headers=auth, trust_env=False)
        assert captured.status_code == 201, captured.text
        lead_id = captured.json()["id"]

        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            history = httpx.get(f"{demo.base_url}/v1/leads/{lead_id}/history", headers=auth, trust_env=False).json()
            made = [e for e in history["entries"] if e["event_type"] == "lead.task_created"]
            if made:
                break
            time.sleep(0.1)
        else:
            raise AssertionError(f"no call task came: {''.join(demo.stderr)}")
        (task,) = made
        assert task["actor"] == "automation:follow_up" and task["data"]["owner"] == "alice"
        listed = httpx.get(f"{demo.base_url}/v1/tasks", params={"owner": "alice"}, headers=auth, trust_env=False)
        assert [t["title"] for t in listed.json()["items"]] == ["Call within 1 business day"]
