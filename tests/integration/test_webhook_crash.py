"""Webhook deliveries under a real fault: a `crm webhooks` process killed with SIGKILL while
the receiver is slow to answer. Nothing is lost: once another process has caught up, every event
the subscription takes has arrived at least once (the one in flight perhaps twice, with the same
`webhook-id`), and every delivery's signature verifies."""

from __future__ import annotations

import base64
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from domain.events import event_id_of
from services.bootstrap import bootstrap, webhook_desk
from services.settings import Settings
from tests.integration.factories import ALICE, capture
from tests.support.webhook_receiver import receiving

ROOT = Path(__file__).resolve().parents[2]
LEADS = 20

pytestmark = pytest.mark.parametrize(
    "database_url",
    [pytest.param("sqlite", id="sqlite"), pytest.param("postgres", id="postgres", marks=pytest.mark.postgres)],
    indirect=True,
)


def test_a_worker_killed_mid_delivery_loses_no_event(database_url: str) -> None:
    master_key = base64.b64encode(os.urandom(32)).decode()
    settings = Settings(database_url=database_url, master_key=master_key, webhooks_allow_private_networks=True)
    env = {
        **os.environ,
        "CRM_DATABASE_URL": database_url,
        "CRM_MASTER_KEY": master_key,
        "CRM_WEBHOOKS_ALLOW_PRIVATE_NETWORKS": "true",
        "CRM_AUTOMATION_POLL_SECONDS": "0.05",
    }
    app = bootstrap(settings)
    try:
        with receiving() as receiver, webhook_desk(app, settings) as desk:
            issued = desk.subscribe(receiver.url, ["lead.captured"], "crash test", True, ALICE)
            receiver.secrets.append(issued.secret)
            leads = [app.capture_lead(capture(), ALICE).id for _ in range(LEADS)]
            expected = {str(event_id_of(lead, 1)) for lead in leads}

            # given a worker whose first delivery the receiver holds
            receiver.hold()
            worker = subprocess.Popen(
                [sys.executable, "-m", "services.cli", "webhooks"],
                cwd=ROOT,
                env=env,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            try:
                receiver.wait_until_held()
                # when it is killed before the answer comes
                worker.send_signal(signal.SIGKILL)
            finally:
                worker.wait(30)
            receiver.release()

            # then another worker catches up
            again = subprocess.run(
                [sys.executable, "-m", "services.cli", "webhooks", "--until-idle"],
                cwd=ROOT,
                env=env,
                capture_output=True,
                text=True,
                timeout=120,
            )
            assert again.returncode == 0, again.stderr

            # and every event arrived at least once, each signature valid
            arrived = [d.headers["webhook-id"] for d in receiver.deliveries]
            assert set(arrived) == expected
            assert len(arrived) - len(expected) <= 1, "only the delivery in flight may come twice"
            assert all(d.verified_with == (issued.secret,) for d in receiver.deliveries)
            order = [d.envelope["position"] for d in receiver.deliveries]
            assert order == sorted(order), "in log order"
    finally:
        app.close()
