"""Every Kafka client the CRM makes gets its connection options from one function: the security
protocol, SASL and TLS settings reach the relay, the consumers, the dead letters, the probes and
the admin alike, and no module constructs a client of its own."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from consumers.kafka_clients import KafkaConnection, _likeliest, as_connection, client_config
from consumers.kafka_relay import TopicSettings
from services.bootstrap import kafka_connection, topic_settings
from services.settings import Settings, SettingsError

ROOT = Path(__file__).resolve().parents[2]
CLIENT_CLASSES = {"KafkaProducer", "KafkaConsumer", "KafkaAdminClient"}
THE_ONE_PLACE = ROOT / "consumers" / "kafka_clients.py"


def constructions(path: Path) -> list[str]:
    """`file:line Class` of every call of a Kafka client class in a module."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Call):
            name = node.func.id if isinstance(node.func, ast.Name) else getattr(node.func, "attr", None)
            if name in CLIENT_CLASSES:
                found.append(f"{path.relative_to(ROOT)}:{node.lineno} {name}")
    return found


def test_only_the_client_module_constructs_kafka_clients() -> None:
    # the program's own code (the benchmarks' raw baselines and the tests' probes are not the CRM)
    modules = [p for room in ("consumers", "services", "domain", "projections") for p in (ROOT / room).rglob("*.py")]
    assert THE_ONE_PLACE in modules
    elsewhere = [site for path in modules if path != THE_ONE_PLACE for site in constructions(path)]
    assert elsewhere == []
    # and the one module does construct each kind (the scan finds what it looks for)
    assert {site.split()[-1] for site in constructions(THE_ONE_PLACE)} == CLIENT_CLASSES


def test_a_plaintext_connection_sends_no_credentials() -> None:
    config = client_config(as_connection("127.0.0.1:9092"), "crm-relay")
    assert config == {
        "bootstrap_servers": "127.0.0.1:9092",
        "client_id": "crm-relay",
        "security_protocol": "PLAINTEXT",
        "bootstrap_timeout_ms": 30_000,
    }


def test_sasl_over_tls_gets_the_mechanism_the_user_and_every_tls_file() -> None:
    settings = Settings.from_env(
        {
            "CRM_KAFKA_BOOTSTRAP": "kafka-1:9094,kafka-2:9094",
            "CRM_KAFKA_SECURITY_PROTOCOL": "SASL_SSL",
            "CRM_KAFKA_SASL_MECHANISM": "SCRAM-SHA-512",
            "CRM_KAFKA_SASL_USERNAME": "crm",
            "CRM_KAFKA_SASL_PASSWORD": "s3cret",
            "CRM_KAFKA_SSL_CAFILE": "/etc/crm/ca.pem",
            "CRM_KAFKA_SSL_CERTFILE": "/etc/crm/client.pem",
            "CRM_KAFKA_SSL_KEYFILE": "/etc/crm/client.key",
            "CRM_KAFKA_SSL_KEY_PASSWORD": "keypass",
            "CRM_KAFKA_CONNECT_TIMEOUT_MS": "5000",
        }
    )
    config = client_config(kafka_connection(settings), "crm-dead-letters")
    assert config == {
        "bootstrap_servers": "kafka-1:9094,kafka-2:9094",
        "client_id": "crm-dead-letters",
        "security_protocol": "SASL_SSL",
        "bootstrap_timeout_ms": 5000,
        "sasl_mechanism": "SCRAM-SHA-512",
        "sasl_plain_username": "crm",
        "sasl_plain_password": "s3cret",
        "ssl_cafile": "/etc/crm/ca.pem",
        "ssl_certfile": "/etc/crm/client.pem",
        "ssl_keyfile": "/etc/crm/client.key",
        "ssl_password": "keypass",
    }


def test_tls_alone_sends_only_the_files_that_are_set_and_no_sasl() -> None:
    connection = KafkaConnection("kafka:9093", security_protocol="SSL", ssl_cafile="/ca.pem")
    config = client_config(connection, "crm-admin")
    assert config["ssl_cafile"] == "/ca.pem" and "ssl_certfile" not in config
    assert not any(name.startswith("sasl_") for name in config)


def test_sasl_settings_are_ignored_without_a_sasl_protocol() -> None:
    connection = KafkaConnection("kafka:9092", sasl_username="crm", sasl_password="s3cret")
    assert not any(name.startswith("sasl_") for name in client_config(connection, "crm-status"))


def test_a_connection_names_the_broker_and_the_user_but_never_a_password() -> None:
    connection = KafkaConnection(
        "kafka:9093", security_protocol="SASL_PLAINTEXT", sasl_username="crm", sasl_password="s3cret", ssl_password="k"
    )
    assert connection.describe() == "kafka:9093 (SASL_PLAINTEXT, PLAIN as crm)"
    assert "s3cret" not in repr(connection) and "'k'" not in repr(connection)


def test_a_sasl_protocol_without_a_user_and_password_is_refused_naming_both_variables() -> None:
    with pytest.raises(SettingsError) as refused:
        Settings.from_env({"CRM_KAFKA_SECURITY_PROTOCOL": "SASL_PLAINTEXT", "CRM_KAFKA_SASL_USERNAME": "crm"})
    assert "CRM_KAFKA_SASL_USERNAME" in str(refused.value) and "CRM_KAFKA_SASL_PASSWORD" in str(refused.value)
    with pytest.raises(SettingsError, match="CRM_KAFKA_SASL_MECHANISM"):
        Settings.from_env({"CRM_KAFKA_SASL_MECHANISM": "GSSAPI"})
    with pytest.raises(SettingsError, match="CRM_KAFKA_SECURITY_PROTOCOL"):
        Settings.from_env({"CRM_KAFKA_SECURITY_PROTOCOL": "TLS"})


def test_topics_are_made_with_the_replication_and_configs_of_the_settings() -> None:
    settings = Settings.from_env(
        {
            "CRM_KAFKA_PARTITIONS": "12",
            "CRM_KAFKA_REPLICATION_FACTOR": "3",
            "CRM_KAFKA_MIN_INSYNC_REPLICAS": "2",
            "CRM_KAFKA_RETENTION_MS": "-1",
            "CRM_KAFKA_CREATE_TOPICS": "false",
        }
    )
    made = topic_settings(settings)
    assert made == TopicSettings(
        partitions=12, replication_factor=3, min_insync_replicas=2, retention_ms=-1, create=False
    )
    assert made.configs() == {"min.insync.replicas": "2", "retention.ms": "-1"}
    assert TopicSettings().configs() == {}  # the broker's defaults
    assert topic_settings(Settings()).create is True


def test_more_in_sync_replicas_than_replicas_is_refused() -> None:
    with pytest.raises(SettingsError, match="CRM_KAFKA_MIN_INSYNC_REPLICAS=2 is more than"):
        Settings.from_env({"CRM_KAFKA_MIN_INSYNC_REPLICAS": "2"})


SASL = KafkaConnection("kafka:9093", security_protocol="SASL_PLAINTEXT", sasl_username="crm", sasl_password="x")


def test_a_failed_bootstrap_names_the_brokers_refusal_before_the_disconnects_that_follow_it() -> None:
    refused = "[Error 58] SaslAuthenticationFailedError: Authentication failed: Invalid username or password"
    reasons = ["KafkaConnectionError: socket disconnected", refused, "KafkaConnectionError: socket disconnected"]
    assert _likeliest(reasons, SASL) == refused


def test_a_sasl_connection_closed_at_every_attempt_points_at_the_credentials() -> None:
    reason = _likeliest(["KafkaConnectionError: socket disconnected"] * 3, SASL)
    assert reason is not None and "wrong user or password" in reason
    # the last attempt cut short by the deadline changes nothing
    cut = ["KafkaConnectionError: socket disconnected", "KafkaTimeoutError: Timeout during ApiVersions check"]
    reason = _likeliest(cut, SASL)
    assert reason is not None and "wrong user or password" in reason and "socket disconnected" in reason
    assert _likeliest(["KafkaTimeoutError: Timeout during ApiVersions check"], SASL) == cut[1]  # never got in
    timed_out = ["KafkaConnectionError: socket disconnected", "KafkaTimeoutError: SASL Authentication timed out"]
    reason = _likeliest(timed_out, SASL)
    assert reason is not None and "wrong user or password" in reason
    # without SASL a closed connection is only that
    plain = KafkaConnection("kafka:9092")
    assert (
        _likeliest(["KafkaConnectionError: socket disconnected"], plain) == "KafkaConnectionError: socket disconnected"
    )
    assert _likeliest([], plain) is None
