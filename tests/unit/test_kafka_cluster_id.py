"""The cluster ids the test harness formats Kafka's storage with."""

from __future__ import annotations

import base64

from tests.support.kafka_server import _cluster_id


def test_no_cluster_id_starts_with_a_dash_which_the_storage_tool_would_read_as_an_option() -> None:
    ids = [_cluster_id() for _ in range(5000)]  # about 78 would start with a dash if unchecked
    assert not [i for i in ids if i.startswith("-")]
    assert all(len(base64.urlsafe_b64decode(i + "==")) == 16 for i in ids)
    assert len(set(ids)) == len(ids)
