"""The group commit's leader and followers, over a writer that records the groups it is given
(the PostgreSQL writer itself is tested in tests/integration/test_group_commit.py)."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest

from services.storage.group_commit import Append, GroupCommit


class Writer:
    """Writes a group by giving each append the ids of its events; the first group waits for
    `release`, so that the next appends queue behind it; `fail` makes a group raise."""

    def __init__(self) -> None:
        self.groups: list[list[str]] = []
        self.release = threading.Event()
        self.fail: BaseException | None = None
        self.next_id = 1

    def __call__(self, group: list[Append]) -> None:
        if not self.groups:
            self.release.wait(timeout=60)
        self.groups.append([a.options["name"] for a in group])
        if self.fail is not None:
            raise self.fail
        for append in group:
            append.ids = list(range(self.next_id, self.next_id + len(append.events)))
            self.next_id += len(append.events)


def started(commit: GroupCommit, answers: dict[str, Any], name: str, events: int = 1) -> threading.Thread:
    def run() -> None:
        try:
            answers[name] = commit.append([object()] * events, name=name)  # type: ignore[list-item]
        except Exception as error:
            answers[name] = error

    thread = threading.Thread(target=run)
    thread.start()
    return thread


def until(predicate: Any) -> None:
    deadline = time.monotonic() + 60
    while not predicate():
        assert time.monotonic() < deadline
        time.sleep(0.002)


def test_an_append_alone_is_written_at_once_in_a_group_of_its_own() -> None:
    writer = Writer()
    writer.release.set()
    commit = GroupCommit(writer)
    assert commit.append([object(), object()], name="a") == [1, 2]  # type: ignore[list-item]
    assert writer.groups == [["a"]] and (commit.stats.groups, commit.stats.largest) == (1, 1)


def test_appends_that_queue_while_a_group_is_written_form_the_next_one_at_most_max_group_large() -> None:
    writer, answers = Writer(), {}
    commit = GroupCommit(writer, max_group=3)
    threads = [started(commit, answers, "lead")]
    until(lambda: commit.queued() == (True, 0))
    for queued, name in enumerate(("b", "c", "d", "e"), start=1):
        threads.append(started(commit, answers, name, events=2))
        until(lambda queued=queued: commit.queued() == (True, queued))  # queued in this order
    writer.release.set()
    for thread in threads:
        thread.join(timeout=60)

    assert writer.groups[0] == ["lead"]
    assert [len(g) for g in writer.groups[1:]] == [3, 1], "the oldest three, then the one left"
    assert sorted(name for g in writer.groups for name in g) == ["b", "c", "d", "e", "lead"]
    ids = sorted(i for name in ("b", "c", "d", "e") for i in answers[name])
    assert ids == list(range(2, 10)) and answers["lead"] == [1]


def test_a_group_that_fails_fails_each_of_its_appends_and_the_next_append_is_written() -> None:
    writer, answers = Writer(), {}
    commit = GroupCommit(writer)
    writer.fail = ConnectionError("the database went away")
    threads = [started(commit, answers, "lead")]
    until(lambda: commit.queued() == (True, 0))
    threads += [started(commit, answers, "b"), started(commit, answers, "c")]
    until(lambda: commit.queued() == (True, 2))
    writer.release.set()
    for thread in threads:
        thread.join(timeout=60)
    assert all(isinstance(answers[n], ConnectionError) for n in ("lead", "b", "c"))

    writer.fail = None
    assert commit.append([object()], name="after") == [1]  # type: ignore[list-item]


def test_an_append_the_writer_refused_raises_its_own_error_and_the_others_get_their_ids() -> None:
    def writer(group: list[Append]) -> None:
        for index, append in enumerate(group):
            if append.options["name"] == "taken":
                append.error = ValueError("version taken")
            else:
                append.ids = [index]

    commit = GroupCommit(writer)
    with pytest.raises(ValueError, match="version taken"):
        commit.append([object()], name="taken")  # type: ignore[list-item]
    assert commit.append([object()], name="free") == [0]  # type: ignore[list-item]
