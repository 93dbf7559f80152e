"""Readiness (`/readyz`): the event store's head and the read models' lag, within a budget."""

from __future__ import annotations

import threading
import time
from typing import NoReturn

import pytest

from services.api.problems import NotReady
from services.api.readiness import Readiness, Ready


def failing() -> NoReturn:
    raise OSError("connection refused")


def test_a_store_that_answers_and_read_models_that_follow_are_ready_with_their_lag() -> None:
    readiness = Readiness(lambda: 10, lambda: {"segments": 10, "pipeline": 8})
    assert readiness.check() == Ready(head_position=10, lag={"pipeline": 2, "segments": 0})


def test_an_event_store_that_does_not_answer_fails_its_check_and_skips_the_read_models() -> None:
    with pytest.raises(NotReady) as raised:
        Readiness(failing, lambda: {"pipeline": 1}).check()
    assert raised.value.checks == {"event_store": "failed", "read_models": "skipped"}
    assert str(raised.value) == "event_store: the event store does not answer (OSError)"
    assert raised.value.retry_after >= 1


def test_read_models_that_do_not_answer_or_lag_too_far_fail_their_check() -> None:
    with pytest.raises(NotReady) as silent:
        Readiness(lambda: 10, failing).check()
    with pytest.raises(NotReady) as behind:
        Readiness(lambda: 500, lambda: {"pipeline": 500, "segments": 100}, max_lag=300).check()
    assert silent.value.checks == behind.value.checks == {"event_store": "ok", "read_models": "failed"}
    assert "segments 400" in str(behind.value) and "pipeline" not in str(behind.value)


def test_without_read_models_kept_here_only_the_event_store_is_checked() -> None:
    assert Readiness(lambda: 3, None).check() == Ready(head_position=3, lag={})
    with pytest.raises(NotReady) as raised:
        Readiness(failing, None).check()
    assert raised.value.checks == {"event_store": "failed", "read_models": "skipped"}


def test_a_database_that_hangs_is_not_ready_within_the_budget_and_probes_do_not_pile_up() -> None:
    released = threading.Event()
    calls = []

    def hanging() -> int:
        calls.append(1)
        released.wait(10)
        return 1

    readiness = Readiness(hanging, None, budget=0.1)
    try:
        started = time.monotonic()
        for _ in range(3):
            with pytest.raises(NotReady) as raised:
                readiness.check()
            assert raised.value.checks["event_store"] == "failed" and "within 0.1 s" in str(raised.value)
        assert time.monotonic() - started < 2
        assert len(calls) == 1
    finally:
        released.set()
