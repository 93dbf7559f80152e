"""The CRM's Kafka settings against the real broker: topics made with the replication, retention
and min.insync.replicas of the settings, or checked and never made; every client (the relay,
the consumers, the dead letters, the lag probe, the admin) through the broker's SASL/PLAIN
listener, where a wrong password fails fast with a message saying so; SCRAM users; and TLS
trusted through the CA file, or refused when no trusted CA signed the broker's certificate."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from kafka.admin import ConfigResource, ConfigResourceType, NewTopic
from pydantic import SecretStr

from consumers.kafka_clients import (
    KafkaConnection,
    KafkaUnavailable,
    SaslMechanism,
    new_admin,
    new_consumer,
    new_producer,
)
from consumers.kafka_relay import MissingTopics, TopicSettings, prepare_topics
from consumers.topics import Topics
from services.bootstrap import (
    bootstrap,
    create_topics,
    kafka_connection,
    kafka_lags,
    kafka_relay,
    open_read_models,
    projection_consumer,
)
from services.jobs.seed import seed_history
from services.settings import Settings
from tests.integration.test_kafka_delivery import END, wait_until
from tests.support.kafka_server import SASL_USERS, SCRAM_MECHANISMS, SCRAM_USERS, KafkaServer

pytestmark = [pytest.mark.kafka]


def fresh_topics() -> Topics:
    return Topics(prefix=f"t{uuid.uuid4().hex[:8]}.")


def topic_configs(connection: KafkaConnection | str, name: str) -> dict[str, str]:
    """The topic's configs as the broker reports them."""
    admin = new_admin(connection, "test-configs")
    try:
        described = admin.describe_configs([ConfigResource(ConfigResourceType.TOPIC, name)])
    finally:
        admin.close()
    [configs] = described["topic"].values()
    return {key: entry["value"] for key, entry in configs.items()}  # only those set on the topic


def partition_count(connection: KafkaConnection | str, name: str) -> int:
    admin = new_admin(connection, "test-partitions")
    try:
        [described] = admin.describe_topics([name])
    finally:
        admin.close()
    return len(described["partitions"])


def test_topics_are_created_with_the_partitions_replication_and_configs_of_the_settings(kafka_bootstrap: str) -> None:
    topics = fresh_topics()
    settings = TopicSettings(partitions=2, replication_factor=1, min_insync_replicas=1, retention_ms=3_600_000)
    created = prepare_topics(kafka_bootstrap, settings, topics)
    assert created == [*topics.events, topics.dead_letter]
    for name in created:
        configs = topic_configs(kafka_bootstrap, name)
        assert configs["retention.ms"] == "3600000" and configs["min.insync.replicas"] == "1"
        assert partition_count(kafka_bootstrap, name) == 2
    # a second start finds them and makes nothing
    assert prepare_topics(kafka_bootstrap, settings, topics) == []


def test_without_topic_creation_every_missing_topic_is_named_and_none_is_made(kafka_bootstrap: str) -> None:
    topics = fresh_topics()
    with pytest.raises(MissingTopics) as missing:
        prepare_topics(kafka_bootstrap, TopicSettings(create=False), topics)
    assert missing.value.missing == [*topics.events, topics.dead_letter]
    admin = new_admin(kafka_bootstrap, "test-admin")
    try:
        assert not set(missing.value.missing) & set(admin.list_topics())
        # once a platform team made some, only the others are named
        admin.create_topics([NewTopic(name, 1, 1) for name in (topics.lead, topics.dead_letter)])
    finally:
        admin.close()
    with pytest.raises(MissingTopics) as still_missing:
        prepare_topics(kafka_bootstrap, TopicSettings(create=False), topics)
    assert still_missing.value.missing == [topics.contact, topics.workspace]


def test_a_relay_that_may_not_create_topics_names_the_missing_ones(kafka_bootstrap: str, tmp_path: Path) -> None:
    topics = fresh_topics()
    env = {
        **os.environ,
        "CRM_DATABASE_URL": f"sqlite:///{tmp_path / 'crm.sqlite'}",
        "CRM_KAFKA_BOOTSTRAP": kafka_bootstrap,
        "CRM_KAFKA_TOPIC_PREFIX": topics.prefix,
        "CRM_KAFKA_CREATE_TOPICS": "false",
    }
    relayed = subprocess.run(
        [sys.executable, "-m", "services.cli", "relay", "--until-idle"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert relayed.returncode == 1, relayed.stdout + relayed.stderr
    assert f"crm: missing Kafka topics: {', '.join([*topics.events, topics.dead_letter])}" in relayed.stderr
    assert "CRM_KAFKA_CREATE_TOPICS=false" in relayed.stderr and "Traceback" not in relayed.stderr


# --- SASL ----------------------------------------------------------------------------------


def sasl_settings(kafka_server: KafkaServer, database_url: str, topics: Topics, password: str) -> Settings:
    """Settings of a CRM that reaches the broker through its SASL_PLAINTEXT listener only."""
    return Settings(
        database_url=database_url,
        kafka_bootstrap=kafka_server.sasl_bootstrap,
        kafka_partitions=3,
        kafka_topic_prefix=topics.prefix,
        kafka_security_protocol="SASL_PLAINTEXT",
        kafka_sasl_mechanism="PLAIN",
        kafka_sasl_username="crm",
        kafka_sasl_password=SecretStr(password),
        kafka_connect_timeout_ms=5_000,
    )


def test_the_relay_consumers_dead_letters_and_probes_all_work_through_sasl_plain(
    kafka_server: KafkaServer, kafka_bootstrap: str, postgres_url: str
) -> None:
    # given a CRM whose only way to the broker is SASL/PLAIN with the right password
    topics = fresh_topics()
    settings = sasl_settings(kafka_server, postgres_url, topics, SASL_USERS["crm"])
    connection = kafka_connection(settings)
    assert create_topics(settings) == [*topics.events, topics.dead_letter]  # the admin
    app = bootstrap(settings)
    store = open_read_models(settings)
    try:
        seed_history(app, leads=3, seed=41, end=END)
        poison = new_producer(connection, "test-poison", acks="all")
        poison.send(topics.lead, key=b"poison", value=b"{not json").get(timeout=30)
        poison.close()
        # when the relay publishes the log and the pipeline consumer projects it
        relay = kafka_relay(app, store, settings)
        stats = relay.run(until_idle=True)
        relay.close()
        projection = next(p for p in store.projections.values() if p.name == "pipeline")
        assert app.personal_fields is not None
        consumer = projection_consumer(settings, store, projection, app.personal_fields)
        worker = threading.Thread(target=consumer.run, name="consume-pipeline")
        worker.start()
        try:
            caught_up = lambda: not any(kafka_lags(settings, store, ["pipeline"])["pipeline"].values())  # noqa: E731
            wait_until(lambda: not worker.is_alive() or caught_up(), 120, "the pipeline consumed everything")
        finally:
            consumer.stopping.set()
            worker.join(timeout=60)
            consumer.close()
        # then every event went through, the poison message was parked, and the lag probe saw it
        assert stats.published == app.head_position()
        assert consumer.stats.applied == stats.published and consumer.stats.dead_lettered == 1
        assert caught_up()
        reader = new_consumer(connection, "test-reader", auto_offset_reset="earliest", consumer_timeout_ms=10_000)
        reader.subscribe([topics.dead_letter])
        parked = next(iter(reader))
        reader.close()
        assert parked.value == b"{not json" and dict(parked.headers)["projection"] == b"pipeline"
    finally:
        store.close()
        app.close()


def test_a_wrong_sasl_password_fails_each_client_within_its_time_out_saying_why(kafka_server: KafkaServer) -> None:
    connection = KafkaConnection(
        kafka_server.sasl_bootstrap,
        security_protocol="SASL_PLAINTEXT",
        sasl_username="crm",
        sasl_password="not-the-password",
        connect_timeout_ms=5_000,
    )
    for make in (new_admin, new_producer, new_consumer):
        outcome: list[BaseException | object] = []
        attempt = threading.Thread(target=_try, args=(outcome, make, connection), daemon=True)
        attempt.start()
        attempt.join(timeout=60)  # bounded by the client's own time-out, well within this
        assert outcome, f"{make.__name__} hung with a wrong password"
        [error] = outcome
        assert isinstance(error, KafkaUnavailable), error
        message = str(error)
        assert f"Kafka at {kafka_server.sasl_bootstrap} (SASL_PLAINTEXT, PLAIN as crm)" in message
        assert "within 5 s" in message and _says_the_credentials_were_refused(message)
        assert "not-the-password" not in message


def _says_the_credentials_were_refused(message: str) -> bool:
    """The broker's own answer, or, when the client saw only the closed connection that follows
    it, the hint at the credentials."""
    return "Authentication failed: Invalid username or password" in message or "wrong user or password" in message


def _try(outcome: list[BaseException | object], make: Callable[..., Any], connection: KafkaConnection) -> None:
    try:
        client = make(connection, "test-wrong-password")
    except Exception as error:
        outcome.append(error)
    else:
        client.close()
        outcome.append(client)


def test_crm_relay_and_status_with_a_wrong_sasl_password_say_so_in_one_line(
    kafka_server: KafkaServer, tmp_path: Path
) -> None:
    env = {
        **os.environ,
        "CRM_DATABASE_URL": f"sqlite:///{tmp_path / 'crm.sqlite'}",
        "CRM_KAFKA_BOOTSTRAP": kafka_server.sasl_bootstrap,
        "CRM_KAFKA_SECURITY_PROTOCOL": "SASL_PLAINTEXT",
        "CRM_KAFKA_SASL_USERNAME": "crm",
        "CRM_KAFKA_SASL_PASSWORD": "not-the-password",
        "CRM_KAFKA_CONNECT_TIMEOUT_MS": "5000",
    }
    relayed = subprocess.run(
        [sys.executable, "-m", "services.cli", "relay", "--until-idle"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert relayed.returncode == 1, relayed.stdout + relayed.stderr
    last = relayed.stderr.strip().splitlines()[-1]
    assert last.startswith(f"crm: Kafka at {kafka_server.sasl_bootstrap} (SASL_PLAINTEXT, PLAIN as crm)"), last
    assert _says_the_credentials_were_refused(last) and "not-the-password" not in relayed.stderr
    # and crm status --kafka still answers for the store, saying why Kafka did not
    status = subprocess.run(
        [sys.executable, "-m", "services.cli", "status", "--kafka"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert status.returncode == 0 and "store head: 0" in status.stdout, status.stdout + status.stderr
    assert _says_the_credentials_were_refused(status.stderr) and "PLAIN as crm" in status.stderr


@pytest.mark.parametrize("mechanism", SCRAM_MECHANISMS)
def test_scram_users_produce_and_consume_through_the_clients_of_the_crm(
    kafka_server: KafkaServer, kafka_bootstrap: str, mechanism: SaslMechanism
) -> None:
    [(user, password)] = SCRAM_USERS.items()
    connection = KafkaConnection(
        kafka_server.sasl_bootstrap,
        security_protocol="SASL_PLAINTEXT",
        sasl_mechanism=mechanism,
        sasl_username=user,
        sasl_password=password,
        connect_timeout_ms=5_000,
    )
    topics = fresh_topics()
    prepare_topics(connection, TopicSettings(partitions=1), topics)
    producer = new_producer(connection, "test-scram", acks="all")
    producer.send(topics.lead, key=b"k", value=mechanism.encode()).get(timeout=30)
    producer.close()
    reader = new_consumer(connection, "test-scram", auto_offset_reset="earliest", consumer_timeout_ms=10_000)
    reader.subscribe([topics.lead])
    assert [m.value for m in reader] == [mechanism.encode()]
    reader.close()


# --- TLS -----------------------------------------------------------------------------------


def test_clients_reach_a_tls_listener_trusting_its_certificate_through_the_ca_file(
    kafka_server: KafkaServer, kafka_bootstrap: str
) -> None:
    settings = Settings(
        kafka_bootstrap=kafka_server.ssl_bootstrap,
        kafka_security_protocol="SSL",
        kafka_ssl_cafile=str(kafka_server.ca_file),
        kafka_topic_prefix=fresh_topics().prefix,
        kafka_partitions=1,
        kafka_connect_timeout_ms=5_000,
    )
    topics = Topics(settings.kafka_topic_prefix)
    assert create_topics(settings) == [*topics.events, topics.dead_letter]
    connection = kafka_connection(settings)
    producer = new_producer(connection, "test-tls", acks="all")
    producer.send(topics.contact, key=b"k", value=b"over TLS").get(timeout=30)
    producer.close()
    reader = new_consumer(connection, "test-tls", auto_offset_reset="earliest", consumer_timeout_ms=10_000)
    reader.subscribe([topics.contact])
    assert [m.value for m in reader] == [b"over TLS"]
    reader.close()


def test_a_broker_certificate_that_no_trusted_ca_signed_is_refused_saying_so(kafka_server: KafkaServer) -> None:
    connection = KafkaConnection(kafka_server.ssl_bootstrap, security_protocol="SSL", connect_timeout_ms=3_000)
    with pytest.raises(KafkaUnavailable) as refused:
        new_admin(connection, "test-untrusted")
    assert f"Kafka at {kafka_server.ssl_bootstrap} (SSL)" in str(refused.value)
    assert "certificate verify failed" in str(refused.value)
