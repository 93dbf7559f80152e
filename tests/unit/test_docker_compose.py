"""docker-compose.yml, Dockerfile and .dockerignore agree with the code.

No Docker engine runs where the tests run, so the stack is checked for consistency instead: its
commands parse with the `crm` parser, its CRM_* variables are the ones services/settings.py
reads, its addresses point at its own services, and the Kafka image is the broker version the
integration tests run (kafka-broker/pom.xml).

PyYAML is not a dependency of the project, so the compose file is read by the small parser
below, for the plain subset of YAML the file keeps to; where PyYAML happens to be installed,
a test checks that both read the file the same way.
"""

from __future__ import annotations

import fnmatch
import json
import re
import shlex
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from projections.registry import PROJECTION_NAMES
from services.cli.main import build_parser
from services.settings import ENV_PREFIX, Settings

ROOT = Path(__file__).resolve().parents[2]
COMPOSE_FILE = ROOT / "docker-compose.yml"
DOCKERFILE = ROOT / "Dockerfile"
DOCKERIGNORE = ROOT / ".dockerignore"
KAFKA_POM = ROOT / "kafka-broker" / "pom.xml"

APP_SERVICES = ("api", "relay", "consumer-pipeline", "consumer-segments", "consumer-nurture")
CONSUMER_SERVICES = ("consumer-pipeline", "consumer-segments", "consumer-nurture")
KAFKA_CLIENT_SERVICES = ("relay", *CONSUMER_SERVICES)
REQUIRED_APP_SETTINGS = ("CRM_DATABASE_URL", "CRM_KAFKA_BOOTSTRAP")


# --- a reader for the YAML subset of docker-compose.yml ------------------------------------


class UnsupportedYaml(ValueError):
    """The file uses YAML beyond the subset this reader understands."""


@dataclass(frozen=True)
class _Line:
    number: int
    indent: int
    text: str


_KEY = re.compile(r"^([A-Za-z0-9_][A-Za-z0-9_.-]*):(?: +(.*))?$")
_INT = re.compile(r"^-?(?:0|[1-9][0-9]*)$")
_BASE_60 = re.compile(r"^[-+]?[0-9][0-9_]*(?::[0-9_]+)+$")
_YAML_11_WORDS = {"yes", "no", "on", "off", "y", "n", "~", "null", "true", "false"}


def parse_yaml_subset(text: str) -> Any:
    """Block mappings and block lists by indentation, with scalars that are double-quoted,
    single-quoted, plain words and integers, or JSON-style flow lists. Anything else raises
    UnsupportedYaml naming the line."""
    lines = _significant_lines(text)
    if not lines:
        return None
    reader = _BlockReader(lines)
    value = reader.block(lines[0].indent)
    if reader.at < len(lines):
        raise UnsupportedYaml(f"line {lines[reader.at].number}: unexpected indentation")
    return value


def _significant_lines(text: str) -> list[_Line]:
    lines = []
    for number, raw in enumerate(text.splitlines(), 1):
        if raw.startswith("---") or raw.startswith("..."):
            raise UnsupportedYaml(f"line {number}: document markers")
        content = _without_comment(raw, number).rstrip()
        if not content.strip():
            continue
        indent = len(content) - len(content.lstrip(" "))
        if content[indent] == "\t":
            raise UnsupportedYaml(f"line {number}: a tab in the indentation")
        lines.append(_Line(number, indent, content.strip()))
    return lines


def _without_comment(raw: str, number: int) -> str:
    quote = None
    escaped = False
    for i, char in enumerate(raw):
        if quote == '"' and escaped:
            escaped = False
        elif quote == '"' and char == "\\":
            escaped = True
        elif quote is not None:
            if char == quote:
                quote = None
        elif char in "\"'" and (i == 0 or raw[i - 1] in " [,:-"):
            quote = char
        elif char == "#" and (i == 0 or raw[i - 1] == " "):
            return raw[:i]
    if quote is not None:
        raise UnsupportedYaml(f"line {number}: a quoted string that does not end on its line")
    return raw


class _BlockReader:
    def __init__(self, lines: list[_Line]) -> None:
        self.lines = lines
        self.at = 0

    def _current(self) -> _Line | None:
        return self.lines[self.at] if self.at < len(self.lines) else None

    def block(self, indent: int) -> Any:
        line = self.lines[self.at]
        if line.text == "-" or line.text.startswith("- "):
            return self.sequence(indent)
        return self.mapping(indent)

    def mapping(self, indent: int) -> dict[str, Any]:
        result: dict[str, Any] = {}
        while (line := self._current()) is not None and line.indent == indent:
            match = _KEY.match(line.text)
            if match is None:
                raise UnsupportedYaml(f"line {line.number}: expected `key: value` in a mapping: {line.text!r}")
            key, rest = match.group(1), match.group(2)
            if key in result:
                raise UnsupportedYaml(f"line {line.number}: key {key!r} twice in one mapping")
            self.at += 1
            following = self._current()
            if rest is not None:
                result[key] = _scalar(rest, line.number)
            elif following is not None and following.indent > indent:
                result[key] = self.block(following.indent)
            elif following is not None and following.indent == indent and following.text.startswith("- "):
                raise UnsupportedYaml(f"line {following.number}: indent a list under its key")
            else:
                result[key] = None
        if (line := self._current()) is not None and line.indent > indent:
            raise UnsupportedYaml(f"line {line.number}: unexpected indentation")
        return result

    def sequence(self, indent: int) -> list[Any]:
        items = []
        while (line := self._current()) is not None and line.indent == indent:
            if not line.text.startswith("- "):
                raise UnsupportedYaml(f"line {line.number}: a mapping key among list items")
            item = line.text[2:].strip()
            if _KEY.match(item):
                raise UnsupportedYaml(f"line {line.number}: mappings inside lists are not in the subset")
            items.append(_scalar(item, line.number))
            self.at += 1
        if (line := self._current()) is not None and line.indent > indent:
            raise UnsupportedYaml(f"line {line.number}: unexpected indentation")
        return items


def _scalar(text: str, number: int) -> Any:
    first = text[0]
    if first == '"':
        if len(text) < 2 or not text.endswith('"'):
            raise UnsupportedYaml(f"line {number}: text after a double-quoted string")
        return json.loads(text)
    if first == "'":
        if len(text) < 2 or not text.endswith("'"):
            raise UnsupportedYaml(f"line {number}: text after a single-quoted string")
        return text[1:-1].replace("''", "'")
    if first == "[":
        try:
            items = json.loads(text)
        except json.JSONDecodeError:
            raise UnsupportedYaml(f"line {number}: write flow lists as JSON: {text!r}") from None
        if not all(isinstance(item, str | int) and not isinstance(item, bool) for item in items):
            raise UnsupportedYaml(f"line {number}: flow lists hold only strings and integers")
        return items
    if first in "{&*!|>%@`,?:#":
        raise UnsupportedYaml(f"line {number}: {text!r} is beyond the subset (quote it)")
    if text in ("true", "false"):
        return text == "true"
    if text.lower() in _YAML_11_WORDS:
        raise UnsupportedYaml(f"line {number}: {text!r} means different things to YAML readers: quote it")
    if _BASE_60.match(text):
        raise UnsupportedYaml(f"line {number}: YAML 1.1 reads {text!r} as a base-60 number: quote it")
    if _INT.match(text):
        return int(text)
    if re.match(r"^[-+.0-9]", text):
        raise UnsupportedYaml(f"line {number}: {text!r} may be read as a number: quote it")
    return text


# --- reading the files ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    """docker-compose.yml as data."""
    return parse_yaml_subset(COMPOSE_FILE.read_text())


@pytest.fixture(scope="module")
def services(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Its services by name."""
    return compose["services"]


@dataclass(frozen=True)
class Instruction:
    """One Dockerfile instruction (continuation lines joined)."""

    name: str
    arguments: str

    def json_form(self) -> list[str]:
        """The arguments of an exec-form instruction (ENTRYPOINT, CMD)."""
        value = json.loads(self.arguments)
        assert isinstance(value, list) and all(isinstance(v, str) for v in value), self
        return value


def dockerfile_instructions(text: str) -> list[Instruction]:
    """The instructions of a Dockerfile, comments dropped and `\\` continuations joined."""
    instructions: list[Instruction] = []
    pending = ""
    for raw in text.splitlines():
        line = raw.strip()
        if not pending and (not line or line.startswith("#")):
            continue
        if line.startswith("#"):
            continue  # a comment inside a continued instruction
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        whole = (pending + line).strip()
        pending = ""
        name, _, arguments = whole.partition(" ")
        instructions.append(Instruction(name.upper(), arguments.strip()))
    assert not pending, "the Dockerfile ends inside a continued instruction"
    return instructions


@pytest.fixture(scope="module")
def dockerfile() -> list[Instruction]:
    """The Dockerfile's instructions."""
    return dockerfile_instructions(DOCKERFILE.read_text())


def only(instructions: list[Instruction], name: str) -> Instruction:
    found = [i for i in instructions if i.name == name]
    assert len(found) == 1, f"the Dockerfile has {len(found)} {name} instructions, expected one"
    return found[0]


def settings_variables() -> set[str]:
    """The CRM_* variables services/settings.py reads: one per field of the settings."""
    return {f"{ENV_PREFIX}{name.upper()}" for name in Settings.model_fields}


def environment(service: dict[str, Any]) -> dict[str, str]:
    env = service.get("environment") or {}
    assert isinstance(env, dict), "write environment as a mapping"
    return {name: str(value) for name, value in env.items()}


def crm_args(command: list[str]) -> Any:
    """`crm <command>` parsed by the CLI's own parser; an assertion error if it does not parse."""
    try:
        return build_parser().parse_args(command)
    except SystemExit:
        raise AssertionError(f"`crm {shlex.join(command)}` is not a valid crm command line") from None


def command_args(service: dict[str, Any]) -> Any:
    command = service["command"]
    return crm_args(command if isinstance(command, list) else shlex.split(command))


@dataclass(frozen=True)
class PublishedPort:
    host_ip: str
    host_port: int
    container_port: int


def published_ports(service: dict[str, Any]) -> list[PublishedPort]:
    ports = []
    for entry in service.get("ports") or []:
        assert isinstance(entry, str), f"write ports as quoted strings: {entry!r}"
        parts = entry.split("/")[0].split(":")
        assert len(parts) in (2, 3), f"publish ports as [ip:]host:container: {entry!r}"
        host_ip = parts[0] if len(parts) == 3 else "0.0.0.0"
        ports.append(PublishedPort(host_ip, int(parts[-2]), int(parts[-1])))
    return ports


def listeners(value: str) -> dict[str, tuple[str, int]]:
    """`NAME://host:port,...` -> {NAME: (host, port)}."""
    found = {}
    for item in value.split(","):
        name, _, address = item.strip().partition("://")
        host, _, port = address.rpartition(":")
        found[name] = (host, int(port))
    return found


def built_from_the_dockerfile(service: dict[str, Any]) -> bool:
    build = service.get("build")
    if build is None:
        return False
    if isinstance(build, str):
        return (ROOT / build).resolve() == ROOT
    context = (ROOT / build.get("context", ".")).resolve()
    return context == ROOT and build.get("dockerfile", "Dockerfile") == "Dockerfile"


def has_healthcheck(service: dict[str, Any]) -> bool:
    healthcheck = service.get("healthcheck")
    if healthcheck is not None and healthcheck.get("disable"):
        return False
    if healthcheck is not None and healthcheck.get("test"):
        return True
    return built_from_the_dockerfile(service)  # the image's HEALTHCHECK


# --- the reader itself ---------------------------------------------------------------------------


def test_the_reader_reads_nested_mappings_lists_and_scalars() -> None:
    text = (
        "# a comment\n"
        "a:\n"
        '  b: "x: #1"   # trailing comment\n'
        '  c: ["CMD", "pg_isready"]\n'
        "  d:\n"
        '    - "8000:8000"\n'
        "    - plain-word\n"
        "  e: 3\n"
        "  f: true\n"
        "  g:\n"
        "h: 'it''s'\n"
    )
    assert parse_yaml_subset(text) == {
        "a": {"b": "x: #1", "c": ["CMD", "pg_isready"], "d": ["8000:8000", "plain-word"], "e": 3, "f": True, "g": None},
        "h": "it's",
    }


@pytest.mark.parametrize(
    "text",
    [
        "ports:\n  - 8000:8000\n",  # YAML 1.1 reads it in base 60
        "a: &anchor 1\n",
        "a: |\n  text\n",
        "a:\n  - b: 1\n",
        "a: on\n",
        "a: 1.5\n",
        "a:\n- 1\n",
        "a: 1\na: 2\n",
        "a:\n  b: 1\n    c: 2\n",
    ],
)
def test_the_reader_refuses_yaml_beyond_its_subset(text: str) -> None:
    with pytest.raises(UnsupportedYaml):
        parse_yaml_subset(text)


def test_the_reader_and_pyyaml_read_the_compose_file_alike(compose: dict[str, Any]) -> None:
    yaml = pytest.importorskip("yaml", reason="PyYAML is not installed (it is not a dependency)")
    assert yaml.safe_load(COMPOSE_FILE.read_text()) == compose


# --- docker-compose.yml ------------------------------------------------------------------------


def test_the_stack_has_postgres_kafka_the_api_the_relay_and_a_consumer_per_projection(
    services: dict[str, dict[str, Any]],
) -> None:
    assert {"postgres", "kafka", *APP_SERVICES} <= set(services)
    assert {f"consumer-{name}" for name in PROJECTION_NAMES} == {s for s in services if s.startswith("consumer-")}


def test_every_crm_variable_in_the_stack_is_one_the_settings_read() -> None:
    known = settings_variables()
    assert "CRM_DATABASE_URL" in known and "CRM_KAFKA_BOOTSTRAP" in known  # the pattern still finds them
    for path in (COMPOSE_FILE, DOCKERFILE):
        unknown = set(re.findall(r"\bCRM_[A-Z0-9_]+", path.read_text())) - known
        assert not unknown, f"{path.name} names {sorted(unknown)}, which services/settings.py does not read"


def test_every_app_service_is_built_from_the_dockerfile_with_the_settings_it_needs(
    services: dict[str, dict[str, Any]],
) -> None:
    for name in APP_SERVICES:
        service = services[name]
        assert built_from_the_dockerfile(service), f"{name} is not built from ./Dockerfile"
        env = environment(service)
        missing = [v for v in REQUIRED_APP_SETTINGS if not env.get(v)]
        assert not missing, f"{name} does not set {missing}"
        assert Settings.from_env(env).backend == "postgres", name


def test_the_database_url_names_the_postgres_service_and_its_credentials(services: dict[str, dict[str, Any]]) -> None:
    postgres = environment(services["postgres"])
    for name in APP_SERVICES:
        url = urlsplit(environment(services[name])["CRM_DATABASE_URL"])
        assert url.scheme in ("postgres", "postgresql"), name
        assert (url.hostname, url.port or 5432) == ("postgres", 5432), name
        assert url.username == postgres["POSTGRES_USER"], name
        assert url.password == postgres["POSTGRES_PASSWORD"], name
        assert url.path.lstrip("/") == postgres["POSTGRES_DB"], name


def test_the_kafka_bootstrap_is_the_broker_listener_advertised_to_the_other_containers(
    services: dict[str, dict[str, Any]],
) -> None:
    kafka = environment(services["kafka"])
    internal = listeners(kafka["KAFKA_ADVERTISED_LISTENERS"])[kafka["KAFKA_INTER_BROKER_LISTENER_NAME"]]
    assert internal[0] == "kafka", "the broker advertises its service name to the other containers"
    for name in APP_SERVICES:
        assert environment(services[name])["CRM_KAFKA_BOOTSTRAP"] == f"{internal[0]}:{internal[1]}", name


def test_the_api_serves_on_all_interfaces_and_publishes_its_port(services: dict[str, dict[str, Any]]) -> None:
    api = services["api"]
    args = command_args(api)
    assert (args.command, args.host) == ("serve", "0.0.0.0")
    assert args.port in {p.container_port for p in published_ports(api)}
    assert 8000 in {p.host_port for p in published_ports(api)}


def test_the_relay_relays_and_each_consumer_runs_its_own_projection(services: dict[str, dict[str, Any]]) -> None:
    assert command_args(services["relay"]).command == "relay"
    for name in CONSUMER_SERVICES:
        args = command_args(services[name])
        assert args.command == "consume", name
        assert args.projection in PROJECTION_NAMES, name
        assert name == f"consumer-{args.projection}"


def test_the_consumers_are_in_the_default_stack(services: dict[str, dict[str, Any]]) -> None:
    for name in ("postgres", "kafka", "api", "relay", *CONSUMER_SERVICES):
        assert not services[name].get("profiles"), f"{name} belongs to the default stack"


def test_the_api_leaves_the_read_models_to_the_consumers_when_the_stack_has_them(
    services: dict[str, dict[str, Any]],
) -> None:
    # With CRM_READ_MODELS=in-process (the default) crm serve runs its own runner on the live
    # read-model tables; a consumer on the same tables tracks its own positions (per partition),
    # so the two would apply every event twice. In kafka mode serve runs no runner, and its
    # read-your-writes wait works out the written aggregate's partition from its own
    # CRM_KAFKA_PARTITIONS and topic prefix, which must be those the consumers read.
    consumers = [
        name
        for name, service in services.items()
        if built_from_the_dockerfile(service) and command_args(service).command == "consume"
    ]
    api = Settings.from_env(environment(services["api"]))
    if consumers:
        assert api.read_models == "kafka", "crm serve's runner and the consumers would both apply every event"
    for name in consumers:
        consumer = Settings.from_env(environment(services[name]))
        assert (consumer.kafka_partitions, consumer.kafka_topic_prefix) == (
            api.kafka_partitions,
            api.kafka_topic_prefix,
        ), f"the api would wait on other partitions than {name} keeps"


def test_every_dependency_exists_and_is_waited_for_until_healthy(services: dict[str, dict[str, Any]]) -> None:
    for name, service in services.items():
        depends_on = service.get("depends_on") or {}
        assert isinstance(depends_on, dict), f"{name}: write depends_on with conditions"
        for target, condition in depends_on.items():
            assert target in services, f"{name} depends on {target}, which is not a service"
            assert condition == {"condition": "service_healthy"}, f"{name} -> {target}"
            assert has_healthcheck(services[target]), f"{name} waits for {target}, which has no health check"
    for name in APP_SERVICES:
        assert "postgres" in services[name]["depends_on"], name
    for name in KAFKA_CLIENT_SERVICES:
        assert "kafka" in services[name]["depends_on"], name


def test_services_that_do_not_serve_http_drop_the_images_health_check(services: dict[str, dict[str, Any]]) -> None:
    # The Dockerfile's HEALTHCHECK probes /healthz on port 8000: only crm serve answers it.
    for name in KAFKA_CLIENT_SERVICES:
        assert services[name].get("healthcheck") == {"disable": True}, name


def test_postgres_is_version_15_or_newer_with_a_health_check_and_a_volume(services: dict[str, dict[str, Any]]) -> None:
    postgres = services["postgres"]
    image, _, tag = postgres["image"].partition(":")
    assert image == "postgres" and int(tag.split(".")[0].split("-")[0]) >= 15
    assert "pg_isready" in " ".join(postgres["healthcheck"]["test"])
    assert any(v.endswith(":/var/lib/postgresql/data") for v in postgres["volumes"])


def test_kafka_is_the_apache_4x_image_of_the_version_the_tests_run(services: dict[str, dict[str, Any]]) -> None:
    image, _, tag = services["kafka"]["image"].partition(":")
    assert image == "apache/kafka"
    assert re.fullmatch(r"4\.\d+\.\d+", tag), f"a pinned 4.x tag, not {tag!r}"
    pom_version = re.search(r"<kafka\.version>\s*([^<\s]+)\s*</kafka\.version>", KAFKA_POM.read_text())
    assert pom_version is not None
    assert tag == pom_version.group(1), "the compose broker and the test broker (kafka-broker/pom.xml) differ"


def test_kafka_runs_as_a_single_kraft_node(services: dict[str, dict[str, Any]]) -> None:
    kafka = services["kafka"]
    env = environment(kafka)
    assert set(env["KAFKA_PROCESS_ROLES"].split(",")) == {"broker", "controller"}
    bound = listeners(env["KAFKA_LISTENERS"])
    protocols = dict(item.split(":") for item in env["KAFKA_LISTENER_SECURITY_PROTOCOL_MAP"].split(","))
    assert set(bound) <= set(protocols), "every listener has a security protocol"
    controller = env["KAFKA_CONTROLLER_LISTENER_NAMES"]
    assert controller in bound and env["KAFKA_INTER_BROKER_LISTENER_NAME"] in bound
    voter_id, _, voter = env["KAFKA_CONTROLLER_QUORUM_VOTERS"].partition("@")
    assert voter_id == env["KAFKA_NODE_ID"], "the only voter is this node"
    assert voter == f"kafka:{bound[controller][1]}", "the voter is the controller listener of this service"
    assert re.fullmatch(r"[A-Za-z0-9_-]{22}", env["CLUSTER_ID"])
    volumes = kafka.get("volumes") or []
    assert any(v.endswith(":" + env["KAFKA_LOG_DIRS"]) for v in volumes), "the broker's data is on a volume"
    health = " ".join(kafka["healthcheck"]["test"])
    assert "/opt/kafka/bin/kafka-broker-api-versions.sh" in health or "/opt/kafka/bin/kafka-topics.sh" in health


def test_kafka_keeps_one_replica_of_everything(services: dict[str, dict[str, Any]]) -> None:
    env = environment(services["kafka"])
    for required in (
        "KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR",
        "KAFKA_TRANSACTION_STATE_LOG_REPLICATION_FACTOR",
        "KAFKA_TRANSACTION_STATE_LOG_MIN_ISR",
    ):
        assert required in env, f"a single broker needs {required}=1"
    replicas = {k: v for k, v in env.items() if k.endswith(("REPLICATION_FACTOR", "MIN_ISR", "MIN_INSYNC_REPLICAS"))}
    assert replicas and set(replicas.values()) == {"1"}, replicas


def test_the_brokers_host_listener_is_published_on_its_own_port(services: dict[str, dict[str, Any]]) -> None:
    kafka = services["kafka"]
    env = environment(kafka)
    bound = listeners(env["KAFKA_LISTENERS"])
    published = {p.container_port: p.host_port for p in published_ports(kafka)}
    for name, (host, port) in listeners(env["KAFKA_ADVERTISED_LISTENERS"]).items():
        if host in ("localhost", "127.0.0.1"):
            assert published.get(bound[name][1]) == port, f"{name} advertises {host}:{port} but is not published there"


def test_no_host_port_is_published_twice(services: dict[str, dict[str, Any]]) -> None:
    seen: dict[int, str] = {}
    for name, service in services.items():
        for port in published_ports(service):
            assert port.host_port not in seen, f"host port {port.host_port}: {seen.get(port.host_port)} and {name}"
            seen[port.host_port] = name


def test_every_service_restarts_and_every_named_volume_is_declared(
    compose: dict[str, Any], services: dict[str, dict[str, Any]]
) -> None:
    declared = set(compose.get("volumes") or {})
    for name, service in services.items():
        assert service.get("restart") in ("always", "unless-stopped", "on-failure"), name
        for volume in service.get("volumes") or []:
            source = volume.split(":")[0]
            if not source.startswith((".", "/", "~")):
                assert source in declared, f"{name} mounts volume {source!r}, which is not declared"


# --- Dockerfile and .dockerignore ----------------------------------------------------------------


def test_the_image_installs_the_project_and_runs_crm_as_a_user_other_than_root(
    dockerfile: list[Instruction],
) -> None:
    assert only(dockerfile, "FROM").arguments == "python:3.11-slim"
    assert only(dockerfile, "ENTRYPOINT").json_form() == ["crm"]
    runs = [i.arguments for i in dockerfile if i.name == "RUN"]
    assert any(re.search(r"\bpip install (?:--\S+ )*\.(?:\s|$)", run) for run in runs), "no `pip install .`"
    users = [i.arguments for i in dockerfile if i.name == "USER"]
    assert users and users[-1] not in ("root", "0", "0:0"), "the processes run as root"


def test_the_image_copies_everything_the_install_needs(dockerfile: list[Instruction]) -> None:
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    packages = [p.rstrip("*") for p in pyproject["tool"]["setuptools"]["packages"]["find"]["include"]]
    copied = {
        source.rstrip("/")
        for instruction in dockerfile
        if instruction.name == "COPY"
        for source in instruction.arguments.split()[:-1]
        if not source.startswith("--")
    }
    needed = {"pyproject.toml", pyproject["project"]["readme"], *packages}
    assert needed <= copied, f"not copied into the image: {sorted(needed - copied)}"


def test_the_default_command_serves_the_api_on_the_exposed_port_that_the_health_check_probes(
    dockerfile: list[Instruction],
) -> None:
    args = crm_args(only(dockerfile, "CMD").json_form())
    assert (args.command, args.host, args.port) == ("serve", "0.0.0.0", 8000)
    assert str(args.port) in only(dockerfile, "EXPOSE").arguments.split()
    healthcheck = only(dockerfile, "HEALTHCHECK").arguments
    exec_form = healthcheck[healthcheck.index("CMD ") + len("CMD ") :]
    program, flag, code = json.loads(exec_form)
    assert (program, flag) == ("python", "-c"), "no curl in the slim image: probe with python"
    compile(code, "<healthcheck>", "exec")
    assert f":{args.port}/healthz" in code


def dockerignored(path: str, patterns: list[str]) -> bool:
    """Whether .dockerignore keeps a repository path (posix, relative) out of the build context:
    a pattern matches the path or one of its parent directories; `**/` matches at any depth;
    the last matching pattern wins and `!` re-includes."""
    parts = path.split("/")
    prefixes = ["/".join(parts[: i + 1]) for i in range(len(parts))]
    ignored = False
    for pattern in patterns:
        negated = pattern.startswith("!")
        pattern = pattern.lstrip("!").strip("/")
        if pattern.startswith("**/"):
            hit = any(fnmatch.fnmatchcase(part, pattern[3:]) for part in parts)
        else:
            hit = any(fnmatch.fnmatchcase(prefix, pattern) for prefix in prefixes)
        if hit:
            ignored = not negated
    return ignored


def test_the_build_context_keeps_the_sources_and_leaves_out_local_state(dockerfile: list[Instruction]) -> None:
    patterns = [
        line.strip() for line in DOCKERIGNORE.read_text().splitlines() if line.strip() and not line.startswith("#")
    ]
    copied = [
        source.rstrip("/")
        for instruction in dockerfile
        if instruction.name == "COPY"
        for source in instruction.arguments.split()[:-1]
    ]
    needed = []
    for source in copied:
        path = ROOT / source
        files = [p for p in path.rglob("*") if p.is_file() and "__pycache__" not in p.parts] or [path]
        needed += [f.relative_to(ROOT).as_posix() for f in files]
    assert any(n.endswith(".py") for n in needed) and any(n.endswith(".json") for n in needed)
    dropped = [n for n in needed if dockerignored(n, patterns)]
    assert not dropped, f".dockerignore leaves out files the build copies: {dropped[:5]}"
    # the local database, the demo admin token and the virtualenv never go into an image
    for local in ("var/crm.sqlite", "var/demo-admin-token", ".venv/bin/python", ".git/HEAD"):
        assert dockerignored(local, patterns), local


# --- docs/operations.md ---------------------------------------------------------------------------


def test_the_operations_guide_names_the_commands_topics_headers_and_positions_the_code_uses() -> None:
    from consumers.envelope import CONTACT_TOPIC, DEAD_LETTER_HEADERS, DEAD_LETTER_TOPIC, LEAD_TOPIC
    from services.storage.tracking import RELAY as RELAY_TRACKING

    guide = (ROOT / "docs" / "operations.md").read_text()
    names = [*DEAD_LETTER_HEADERS, LEAD_TOPIC, CONTACT_TOPIC, DEAD_LETTER_TOPIC, RELAY_TRACKING, *settings_variables()]
    commands = ["serve", "relay --from", "consume --projection", "status --kafka", "replay --swap", "verify"]
    for name in [*names, *(f"crm {command}" for command in commands)]:
        assert name in guide, f"docs/operations.md does not mention {name}"
