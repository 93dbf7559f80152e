"""A throwaway single-node Apache Kafka broker for tests.

``KafkaServer`` runs a real Kafka 4.x broker in KRaft mode (one JVM that is
both broker and controller), with no Docker:

* The broker's jars come from Maven Central through ``kafka-broker/pom.xml``:
  ``mvn dependency:copy-dependencies`` copies them into a cache directory that
  is reused across runs (``~/.cache/crm-kafka/<version>/lib``; set
  ``CRM_KAFKA_CACHE`` to use another root than ``~/.cache/crm-kafka``).  Maven
  runs only when the jars of the pom as it is now are missing.
* ``start()`` picks four free loopback ports (clients, SASL clients, TLS
  clients and controller), writes
  ``server.properties`` into a fresh temporary directory, formats the storage
  with ``kafka.tools.StorageTool`` and launches ``kafka.Kafka`` in a process
  group of its own, logging to ``server.log`` there.  It returns once the
  broker answers a metadata request.
* Besides the PLAINTEXT listener (``bootstrap``), the same broker has a
  SASL_PLAINTEXT listener (``sasl_bootstrap``) that takes SASL/PLAIN for the
  users of ``SASL_USERS`` and SCRAM-SHA-256 / SCRAM-SHA-512 for those of
  ``SCRAM_USERS`` (written into the storage when it is formatted), and an SSL
  listener (``ssl_bootstrap``) whose certificate a throwaway CA (``ca_file``)
  signs, so that clients are tested with real authentication and TLS at no
  extra broker start-up.
* ``stop()`` shuts the broker down (SIGTERM, then SIGKILL) and deletes every
  trace of it.  ``kill()`` and ``shutdown()`` stop only the process and keep
  the data directory and ports, so ``start()`` or ``restart()`` brings the
  same broker back with its topics and records.

Java 17 or newer and Maven must be on PATH (Debian: ``apt-get install
openjdk-17-jre-headless maven``); otherwise ``KafkaUnavailable`` says so.

The tests talk to the broker with kafka-python 3.x, which knows the broker
protocol up to Kafka 4.3.  Against a newer 4.x broker it negotiates every API
at the highest version both sides support; the broker is 4.3.1, the newest release whose command-line
tools (kafka-tools, for the console consumer used as a foreign client) Maven Central serves.
"""

from __future__ import annotations

import atexit
import base64
import contextlib
import fcntl
import hashlib
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import uuid
from pathlib import Path

from tests.support.processes import free_loopback_port, read_tail, tail

__all__ = [
    "SASL_USERS",
    "SCRAM_USERS",
    "KafkaServer",
    "KafkaServerError",
    "KafkaUnavailable",
    "ensure_kafka_jars",
    "kafka_version",
]

REPO_ROOT = Path(__file__).resolve().parents[2]
POM = REPO_ROOT / "kafka-broker" / "pom.xml"
CACHE_ENV = "CRM_KAFKA_CACHE"
DEFAULT_CACHE_ROOT = Path.home() / ".cache" / "crm-kafka"
INSTALL_HINT = "install Java 17+ and Maven (Debian: apt-get install openjdk-17-jre-headless maven)"
MIN_JAVA = 17
# Marks a complete copy of the jars; holds a digest of the pom it came from.
COMPLETE_MARKER = ".complete"


class KafkaUnavailable(RuntimeError):
    """Java or Maven is missing, or the Kafka jars could not be fetched."""


class KafkaServerError(RuntimeError):
    """The broker could not be formatted, started or stopped."""


# -- jars -------------------------------------------------------------------


def kafka_version(pom: Path = POM) -> str:
    """The Kafka version that ``kafka-broker/pom.xml`` asks for."""
    match = re.search(r"<kafka\.version>\s*([^<\s]+)\s*</kafka\.version>", pom.read_text())
    if match is None:
        raise KafkaServerError(f"no <kafka.version> property in {pom}")
    return match.group(1)


def cache_dir(version: str) -> Path:
    root = os.environ.get(CACHE_ENV)
    return (Path(root).expanduser() if root else DEFAULT_CACHE_ROOT) / version


def _pom_digest(pom: Path) -> str:
    return hashlib.sha256(pom.read_bytes()).hexdigest()


def _jars_present(lib: Path, version: str, digest: str) -> bool:
    try:
        marker = (lib / COMPLETE_MARKER).read_text().strip()
    except OSError:
        return False
    return marker == digest and (lib / f"kafka_2.13-{version}.jar").is_file()


def _java_major_version(java: str) -> int:
    result = subprocess.run(
        [java, "-version"],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        timeout=60,
    )
    # 'openjdk version "17.0.15" 2025-04-15' or, before Java 9, "1.8.0_392".
    match = re.search(r'version "(\d+)(?:\.(\d+))?', result.stdout)
    if match is None:
        raise KafkaUnavailable(f"cannot tell the version of {java}:\n{tail(result.stdout)}")
    major = int(match.group(1))
    if major == 1 and match.group(2):
        major = int(match.group(2))
    return major


def find_java() -> str:
    """``java`` from PATH, checked to be new enough for Kafka 4.x."""
    java = shutil.which("java")
    if java is None:
        raise KafkaUnavailable(f"no java on PATH: {INSTALL_HINT}")
    major = _java_major_version(java)
    if major < MIN_JAVA:
        raise KafkaUnavailable(f"{java} is Java {major}, Kafka 4.x needs Java {MIN_JAVA}+: {INSTALL_HINT}")
    return java


def ensure_kafka_jars(pom: Path = POM) -> Path:
    """The directory of the broker's jars, fetched with Maven if missing.

    Concurrent test sessions share the cache: a lock file makes one of them
    download while the others wait, and the jars are copied into a scratch
    directory that only replaces ``lib`` once Maven has succeeded.
    """
    version = kafka_version(pom)
    digest = _pom_digest(pom)
    base = cache_dir(version)
    lib = base / "lib"
    if _jars_present(lib, version, digest):
        return lib
    mvn = shutil.which("mvn")
    if mvn is None:
        raise KafkaUnavailable(
            f"Kafka {version} jars are not in {lib} and there is no mvn on PATH to fetch them: {INSTALL_HINT}"
        )
    base.mkdir(parents=True, exist_ok=True)
    with open(base / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if _jars_present(lib, version, digest):
            return lib  # another session fetched them while we waited
        scratch = Path(tempfile.mkdtemp(prefix="lib-", dir=base))
        try:
            command = [
                mvn,
                "-q",
                "-B",
                "-f",
                str(pom),
                "dependency:copy-dependencies",
                "-DincludeScope=runtime",
                f"-DoutputDirectory={scratch}",
            ]
            try:
                result = subprocess.run(
                    command,
                    stdin=subprocess.DEVNULL,
                    stdout=subprocess.PIPE,
                    stderr=subprocess.STDOUT,
                    text=True,
                    timeout=900,
                )
            except subprocess.TimeoutExpired as exc:
                raise KafkaUnavailable(
                    f"fetching the Kafka {version} jars with Maven timed out: {' '.join(command)}"
                ) from exc
            if result.returncode != 0:
                raise KafkaUnavailable(
                    f"fetching the Kafka {version} jars with Maven failed "
                    f"(exit {result.returncode}): {' '.join(command)}\n"
                    f"{tail(result.stdout)}"
                )
            if not (scratch / f"kafka_2.13-{version}.jar").is_file():
                raise KafkaUnavailable(f"Maven ran but kafka_2.13-{version}.jar is not in {scratch}")
            (scratch / COMPLETE_MARKER).write_text(digest + "\n")
            scratch.chmod(0o755)  # mkdtemp made it private
            shutil.rmtree(lib, ignore_errors=True)
            scratch.rename(lib)
        finally:
            shutil.rmtree(scratch, ignore_errors=True)
    return lib


# -- processes ----------------------------------------------------------------


def _cluster_id() -> str:
    """A random cluster id, in the form ``kafka-storage random-uuid`` prints. Like Kafka's own
    `Uuid.randomUuid`, never one that starts with a dash: the storage tool would read it as an
    option and refuse to format (one id in 64 would)."""
    while True:
        cluster_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        if not cluster_id.startswith("-"):
            return cluster_id


def _pdeathsig_prefix() -> list[str]:
    """Have the kernel kill the JVM should this Python process die unexpectedly.

    ``setpriv --pdeathsig`` (util-linux) sets the signal and execs java, which
    keeps it.  Without setpriv, the normal ``stop()`` and atexit hooks are all
    there is.
    """
    setpriv = shutil.which("setpriv")
    return [setpriv, "--pdeathsig", "KILL", "--"] if setpriv else []


LOG4J2_PROPERTIES = """\
status = warn
appender.stdout.type = Console
appender.stdout.name = STDOUT
appender.stdout.layout.type = PatternLayout
appender.stdout.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = INFO
rootLogger.appenderRefs = stdout
rootLogger.appenderRef.stdout.ref = STDOUT
logger.state.name = state.change.logger
logger.state.level = WARN
"""


SASL_USERS = {"crm": "crm-secret"}
"""The users (and passwords) the SASL_PLAINTEXT listener takes with SASL/PLAIN."""
SCRAM_USERS = {"crm-scram": "crm-scram-secret"}
"""The users (and passwords) the SASL_PLAINTEXT listener takes with SCRAM-SHA-256 and -512."""
SCRAM_MECHANISMS = ("SCRAM-SHA-256", "SCRAM-SHA-512")


def _write_tls_files(directory: Path, host: str) -> None:
    """A throwaway CA (``ca.pem``) and a certificate it signs for ``host``, with its unencrypted
    PKCS#8 key, in ``server-keystore.pem``: what the SSL listener presents."""
    import datetime
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    now = datetime.datetime.now(datetime.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "crm test CA")])
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=2))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True
        )  # key_cert_sign, crl_sign
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    server = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, host)]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=2))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address(host)), x509.DNSName("localhost")]),
            critical=False,
        )
        .sign(ca_key, hashes.SHA256())
    )
    pem = serialization.Encoding.PEM
    key_pem = key.private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    (directory / "ca.pem").write_bytes(ca.public_bytes(pem))
    (directory / "server-keystore.pem").write_bytes(key_pem + server.public_bytes(pem) + ca.public_bytes(pem))


def _jaas_quote(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


class KafkaServer:
    """A private single-node Kafka broker (KRaft) in a temporary directory.

    >>> with KafkaServer() as kafka:
    ...     producer = KafkaProducer(bootstrap_servers=kafka.bootstrap)
    """

    START_ATTEMPTS = 3
    START_TIMEOUT = 60.0
    STOP_TIMEOUT = 30.0

    def __init__(self, host: str = "127.0.0.1", heap: str = "512m") -> None:
        self._host = host
        self._heap = heap
        self._version = kafka_version()
        self._port: int | None = None
        self._controller_port: int | None = None
        self._sasl_port: int | None = None
        self._ssl_port: int | None = None
        self._base_dir: Path | None = None
        self._lib: Path | None = None
        self._java: str | None = None
        self._process: subprocess.Popen[bytes] | None = None
        self._last_start_seconds: float | None = None

    # -- public properties -------------------------------------------------

    @property
    def host(self) -> str:
        return self._host

    @property
    def port(self) -> int:
        if self._port is None:
            raise KafkaServerError("server not started")
        return self._port

    @property
    def controller_port(self) -> int:
        if self._controller_port is None:
            raise KafkaServerError("server not started")
        return self._controller_port

    @property
    def bootstrap(self) -> str:
        """``host:port`` for ``bootstrap_servers``."""
        return f"{self._host}:{self.port}"

    @property
    def sasl_port(self) -> int:
        if self._sasl_port is None:
            raise KafkaServerError("server not started")
        return self._sasl_port

    @property
    def ssl_port(self) -> int:
        if self._ssl_port is None:
            raise KafkaServerError("server not started")
        return self._ssl_port

    @property
    def ssl_bootstrap(self) -> str:
        """``host:port`` of the SSL listener, whose certificate ``ca_file`` signs."""
        return f"{self._host}:{self.ssl_port}"

    @property
    def ca_file(self) -> Path:
        """PEM of the throwaway CA that signed the SSL listener's certificate."""
        return self.base_dir / "ca.pem"

    @property
    def sasl_bootstrap(self) -> str:
        """``host:port`` of the SASL_PLAINTEXT listener (users: ``SASL_USERS``, ``SCRAM_USERS``)."""
        return f"{self._host}:{self.sasl_port}"

    @property
    def version(self) -> str:
        return self._version

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process is not None else None

    @property
    def base_dir(self) -> Path:
        if self._base_dir is None:
            raise KafkaServerError("server not started")
        return self._base_dir

    @property
    def data_dir(self) -> Path:
        return self.base_dir / "data"

    @property
    def config_file(self) -> Path:
        return self.base_dir / "server.properties"

    @property
    def log_file(self) -> Path:
        return self.base_dir / "server.log"

    @property
    def last_start_seconds(self) -> float | None:
        """How long the last start took, from launching java to a metadata answer."""
        return self._last_start_seconds

    # -- lifecycle -----------------------------------------------------------

    def start(self) -> KafkaServer:
        """Start the broker; after ``kill()`` or ``shutdown()``, the same one again."""
        if self.running:
            return self
        if self._base_dir is not None:
            self._launch_and_wait()  # same ports, same data
            return self
        self._java = find_java()
        self._lib = ensure_kafka_jars()
        try:
            self._start_fresh()
        except BaseException:
            self._remove()
            raise
        atexit.register(self.stop)
        return self

    def stop(self) -> None:
        """Stop the broker (SIGTERM, SIGKILL after a while) and delete all its data."""
        try:
            self._terminate(graceful=True)
        finally:
            self._remove()
            atexit.unregister(self.stop)

    def shutdown(self) -> None:
        """Stop the broker process cleanly but keep its data; ``start()`` resumes it."""
        self._terminate(graceful=True)

    def kill(self) -> None:
        """SIGKILL the broker (a crash); its data stays, ``start()`` brings it back."""
        self._terminate(graceful=False)

    def restart(self, *, kill: bool = False) -> KafkaServer:
        """Stop the broker (or kill it) and start it again on the same ports and data."""
        if self._base_dir is None:
            raise KafkaServerError("server not started")
        self._terminate(graceful=not kill)
        self._launch_and_wait()
        return self

    def __enter__(self) -> KafkaServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def __repr__(self) -> str:
        state = self.bootstrap if self.running else "stopped"
        return f"<KafkaServer {self._version} {state}>"

    # -- internals -------------------------------------------------------------

    def _start_fresh(self) -> None:
        last_error: KafkaServerError | None = None
        for _ in range(self.START_ATTEMPTS):
            self._remove()
            self._base_dir = Path(tempfile.mkdtemp(prefix="crm-kafka-", dir="/tmp"))
            self._port = free_loopback_port(self._host)
            self._controller_port = free_loopback_port(self._host)
            while self._controller_port == self._port:
                self._controller_port = free_loopback_port(self._host)
            self._sasl_port = free_loopback_port(self._host)
            while self._sasl_port in (self._port, self._controller_port):
                self._sasl_port = free_loopback_port(self._host)
            self._ssl_port = free_loopback_port(self._host)
            while self._ssl_port in (self._port, self._controller_port, self._sasl_port):
                self._ssl_port = free_loopback_port(self._host)
            _write_tls_files(self.base_dir, self._host)
            self._write_config()
            self._format_storage()
            try:
                self._launch_and_wait()
                return
            except KafkaServerError as exc:
                if "Address already in use" not in read_tail(self.log_file, 400):
                    raise
                # Another process took a port between our probe and the
                # broker's bind: try again on new ports (and new storage, as
                # the controller's address is written into it).
                last_error = exc
        assert last_error is not None
        raise last_error

    def _write_config(self) -> None:
        host, port, cport, sport, tport = self._host, self.port, self.controller_port, self.sasl_port, self.ssl_port
        plain_users = " ".join(f"user_{name}={_jaas_quote(pw)}" for name, pw in SASL_USERS.items())
        settings = {
            "process.roles": "broker,controller",
            "node.id": "1",
            # A dynamic KRaft quorum of one (formatted with --standalone).
            "controller.quorum.bootstrap.servers": f"{host}:{cport}",
            "listeners": (
                f"PLAINTEXT://{host}:{port},CONTROLLER://{host}:{cport},SASL_PLAINTEXT://{host}:{sport},"
                f"SSL://{host}:{tport}"
            ),
            "advertised.listeners": (
                f"PLAINTEXT://{host}:{port},CONTROLLER://{host}:{cport},SASL_PLAINTEXT://{host}:{sport},"
                f"SSL://{host}:{tport}"
            ),
            "controller.listener.names": "CONTROLLER",
            "inter.broker.listener.name": "PLAINTEXT",
            "listener.security.protocol.map": (
                "CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT,SASL_PLAINTEXT:SASL_PLAINTEXT,SSL:SSL"
            ),
            # TLS with a certificate of a throwaway CA (PEM key and chain in one file, KIP-651).
            "listener.name.ssl.ssl.keystore.type": "PEM",
            "listener.name.ssl.ssl.keystore.location": str(self.base_dir / "server-keystore.pem"),
            # Clients authenticate on the SASL listener only; the broker talks to itself in plain.
            "sasl.enabled.mechanisms": ",".join(("PLAIN", *SCRAM_MECHANISMS)),
            "listener.name.sasl_plaintext.plain.sasl.jaas.config": (
                f"org.apache.kafka.common.security.plain.PlainLoginModule required {plain_users};"
            ),
            **{
                f"listener.name.sasl_plaintext.{m.lower()}.sasl.jaas.config": (
                    "org.apache.kafka.common.security.scram.ScramLoginModule required;"
                )
                for m in SCRAM_MECHANISMS
            },
            "log.dirs": str(self.data_dir),
            "num.partitions": "6",
            "default.replication.factor": "1",
            "min.insync.replicas": "1",
            "auto.create.topics.enable": "false",
            "offsets.topic.replication.factor": "1",
            # One partition each: the internal topics are made at first use,
            # and 50 partitions of them would slow down the first consumer group.
            "offsets.topic.num.partitions": "1",
            "transaction.state.log.replication.factor": "1",
            "transaction.state.log.min.isr": "1",
            "transaction.state.log.num.partitions": "1",
            "share.coordinator.state.topic.replication.factor": "1",
            "share.coordinator.state.topic.min.isr": "1",
            "group.initial.rebalance.delay.ms": "0",
            # After a crash (kill()) the restarted broker cannot register
            # again until the controller has expired its old session: 9 s by
            # default, 3 s here.
            "broker.heartbeat.interval.ms": "500",
            "broker.session.timeout.ms": "3000",
            "delete.topic.enable": "true",
        }
        self.config_file.write_text("".join(f"{key}={value}\n" for key, value in settings.items()))
        (self.base_dir / "log4j2.properties").write_text(LOG4J2_PROPERTIES)

    def _java_command(self, main_class: str, *args: str) -> list[str]:
        assert self._java is not None and self._lib is not None
        return [
            self._java,
            f"-Xmx{self._heap}",
            "-Xms64m",
            "-XX:+UseG1GC",
            "-XX:+ExitOnOutOfMemoryError",
            "-Djava.awt.headless=true",
            f"-Dlog4j2.configurationFile={self.base_dir / 'log4j2.properties'}",
            f"-Dkafka.logs.dir={self.base_dir}",
            "-cp",
            f"{self._lib}/*",
            main_class,
            *args,
        ]

    def _format_storage(self) -> None:
        command = self._java_command(
            "kafka.tools.StorageTool",
            "format",
            "--cluster-id",
            _cluster_id(),
            "--config",
            str(self.config_file),
            "--standalone",
            *(
                arg
                for mechanism in SCRAM_MECHANISMS
                for name, password in SCRAM_USERS.items()
                for arg in ("--add-scram", f"{mechanism}=[name={name},password={password}]")
            ),
        )
        try:
            result = subprocess.run(
                command,
                cwd=self.base_dir,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
                timeout=120,
            )
        except subprocess.TimeoutExpired as exc:
            raise KafkaServerError("formatting the Kafka storage timed out") from exc
        with open(self.log_file, "a") as log:
            log.write(result.stdout)
        if result.returncode != 0:
            raise KafkaServerError(
                f"formatting the Kafka storage failed (exit {result.returncode}): "
                f"{' '.join(command)}\n{tail(result.stdout)}"
            )

    def _launch_and_wait(self) -> None:
        started = time.monotonic()
        with open(self.log_file, "ab") as log:
            log.write(f"--- starting kafka.Kafka {self._version} ---\n".encode())
            log.flush()
            self._process = subprocess.Popen(
                _pdeathsig_prefix() + self._java_command("kafka.Kafka", str(self.config_file)),
                cwd=self.base_dir,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own process group, spared our signals
            )
        try:
            self._wait_until_ready(started + self.START_TIMEOUT)
        except BaseException:
            self._terminate(graceful=False)
            raise
        self._last_start_seconds = time.monotonic() - started

    def _wait_until_ready(self, deadline: float) -> None:
        """Until the broker answers a metadata request (and, when it has
        committed offsets, an offset fetch), or its process ends."""
        # Imported late (only Kafka tests need kafka-python), from its submodule
        # (a bare ``kafka`` is also the name of the repository's kafka/ folder).
        from kafka.admin import KafkaAdminClient

        last_error: Exception | None = None
        coordinator_topic_exists = (self.data_dir / "__consumer_offsets-0").is_dir()
        while True:
            assert self._process is not None
            if self._process.poll() is not None:
                raise KafkaServerError(
                    f"kafka.Kafka exited with code {self._process.returncode} while "
                    f"starting\n--- server log ---\n{read_tail(self.log_file)}"
                )
            if self._port_open():
                try:
                    admin = KafkaAdminClient(
                        bootstrap_servers=self.bootstrap,
                        client_id="crm-test-readiness",
                        bootstrap_timeout_ms=5000,
                        request_timeout_ms=5000,
                    )
                    try:
                        admin.list_topics()
                        if coordinator_topic_exists:
                            # After a restart the group coordinator reloads the
                            # committed offsets; until then group requests fail
                            # with CoordinatorLoadInProgress.  Wait that out too.
                            admin.list_group_offsets("crm-test-readiness")
                        return
                    finally:
                        admin.close()
                except Exception as exc:  # not ready yet: any client error
                    last_error = exc
            if time.monotonic() > deadline:
                raise KafkaServerError(
                    f"Kafka broker on {self.bootstrap} did not answer a metadata "
                    f"request within {self.START_TIMEOUT:.0f}s (last error: {last_error!r})\n"
                    f"--- server log ---\n{read_tail(self.log_file)}"
                )
            time.sleep(0.2)

    def _port_open(self) -> bool:
        with contextlib.suppress(OSError), socket.create_connection((self._host, self.port), timeout=1):
            return True
        return False

    def _terminate(self, *, graceful: bool) -> None:
        process, self._process = self._process, None
        if process is None or process.poll() is not None:
            return
        try:
            pgid = os.getpgid(process.pid)
        except ProcessLookupError:
            pgid = None
        if graceful:
            self._signal(process, pgid, signal.SIGTERM)
            try:
                process.wait(timeout=self.STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                pass
        if process.poll() is None:
            self._signal(process, pgid, signal.SIGKILL)
            process.wait(timeout=30)

    @staticmethod
    def _signal(process: subprocess.Popen[bytes], pgid: int | None, sig: int) -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            if pgid is not None and pgid == process.pid:
                os.killpg(pgid, sig)  # the JVM and anything it started
            else:
                process.send_signal(sig)

    def _remove(self) -> None:
        if self._base_dir is not None:
            shutil.rmtree(self._base_dir, ignore_errors=True)
            self._base_dir = None
        self._port = None
        self._controller_port = None
        self._sasl_port = None
        self._ssl_port = None
