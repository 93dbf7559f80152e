"""A throwaway PostgreSQL server for tests.

``PostgresServer`` runs ``initdb`` into a fresh temporary directory, starts the
server on a free loopback port with durability switched off (tests do not need
to survive a power cut), hands out URLs to fresh databases, and on ``stop()``
shuts the server down and deletes every trace of it.  ``halt()`` stops it the
hard way (``pg_ctl stop -m immediate``) but keeps it, and ``resume()`` starts it
again on the same port and data directory: an outage, for tests of recovery.

PostgreSQL refuses to run as root.  When the tests run as root (as CI does),
the data directory is handed to the ``postgres`` system user and the server
programs are run through ``runuser -u postgres --``.

If the server programs are missing and we are root, the Debian package
``postgresql`` is installed with apt-get; otherwise a clear error says what to
install.
"""

from __future__ import annotations

import atexit
import ctypes
import glob
import os
import pwd
import re
import shutil
import signal
import subprocess
import tempfile
import time
import uuid
from pathlib import Path

import psycopg
from psycopg import sql

from tests.support.processes import free_loopback_port, read_tail, tail

__all__ = [
    "PostgresServer",
    "PostgresServerError",
    "PostgresUnavailable",
    "find_postgres_bin_dir",
]

POSTGRES_GLOB = "/usr/lib/postgresql/*/bin"
SYSTEM_USER = "postgres"
INSTALL_HINT = "install the Debian package postgresql (apt-get install postgresql)"


class PostgresUnavailable(RuntimeError):
    """PostgreSQL server programs are not installed and could not be installed."""


class PostgresServerError(RuntimeError):
    """The server could not be initialised, started or stopped."""


def _is_root() -> bool:
    return os.geteuid() == 0


def _version_key(bin_dir: str) -> tuple[int, ...]:
    version = Path(bin_dir).parent.name
    return tuple(int(part) for part in re.findall(r"\d+", version)) or (0,)


def find_postgres_bin_dir() -> Path | None:
    """Newest ``/usr/lib/postgresql/<version>/bin`` holding initdb and pg_ctl."""
    candidates = [
        d
        for d in glob.glob(POSTGRES_GLOB)
        if os.access(os.path.join(d, "initdb"), os.X_OK) and os.access(os.path.join(d, "pg_ctl"), os.X_OK)
    ]
    if not candidates:
        return None
    return Path(max(candidates, key=_version_key))


def _install_postgres_package() -> None:
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    for command in (
        ["apt-get", "update"],
        ["apt-get", "install", "-y", "postgresql"],
    ):
        result = subprocess.run(
            command,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        if result.returncode != 0:
            raise PostgresUnavailable(
                f"PostgreSQL server programs not found under {POSTGRES_GLOB} and "
                f"{' '.join(command)!r} failed (exit {result.returncode}):\n"
                f"{tail(result.stdout)}"
            )


def ensure_postgres_bin_dir() -> Path:
    """Find the server programs, installing them first when root and missing."""
    bin_dir = find_postgres_bin_dir()
    if bin_dir is not None:
        return bin_dir
    if not _is_root():
        raise PostgresUnavailable(f"PostgreSQL server programs not found under {POSTGRES_GLOB}: {INSTALL_HINT}")
    _install_postgres_package()
    bin_dir = find_postgres_bin_dir()
    if bin_dir is None:
        raise PostgresUnavailable(
            f"installed postgresql but still found no server programs under {POSTGRES_GLOB}: {INSTALL_HINT}"
        )
    return bin_dir


def _has_exited(pid: int) -> bool:
    """True once ``pid`` is gone or a zombie waiting for init to reap it."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True
    # The state is the first field after the parenthesised command name.
    return stat.rpartition(")")[2].split()[0] in ("Z", "X")


def _reaped_or_exited(pid: int) -> bool:
    try:
        reaped, _ = os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        return _has_exited(pid)  # not our child: init reaps it
    return reaped == pid


def _wait_for_exit(pid: int, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not _reaped_or_exited(pid) and time.monotonic() < deadline:
        time.sleep(0.02)


_PR_SET_CHILD_SUBREAPER = 36


def _set_child_subreaper(on: bool) -> bool:
    """Adopt orphaned descendants (Linux), so we can reap the postmaster ourselves.

    ``pg_ctl`` starts the postmaster and exits, which orphans it.  Normally init
    adopts it and, once stopped, it shows up as ``<defunct>`` until init gets
    round to reaping it.  While we are a subreaper it is adopted by us instead,
    and ``stop()`` reaps it at once.
    """
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return libc.prctl(_PR_SET_CHILD_SUBREAPER, int(on), 0, 0, 0) == 0
    except (OSError, AttributeError):
        return False


class PostgresServer:
    """A private PostgreSQL server in a temporary directory.

    >>> with PostgresServer() as server:
    ...     url = server.create_database("scratch")
    """

    START_ATTEMPTS = 3

    def __init__(self, user: str = "crm", host: str = "127.0.0.1", *, crash_safe: bool = False) -> None:
        """`crash_safe` keeps every acknowledged commit through `halt()`: commits are written
        to the WAL before they are acknowledged (synchronous_commit on). fsync stays off either
        way: `halt()` kills the server, not the machine, so the WAL in the OS cache survives."""
        self._user = user
        self._host = host
        self._crash_safe = crash_safe
        self._port: int | None = None
        self._base_dir: Path | None = None
        self._bin_dir: Path | None = None
        self._as_postgres_user = False
        self._running = False
        self._halted = False

    # -- public properties -------------------------------------------------

    @property
    def host(self) -> str:
        return self._host

    @property
    def port(self) -> int:
        if self._port is None:
            raise PostgresServerError("server not started")
        return self._port

    @property
    def user(self) -> str:
        return self._user

    @property
    def running(self) -> bool:
        return self._running

    @property
    def base_dir(self) -> Path:
        if self._base_dir is None:
            raise PostgresServerError("server not started")
        return self._base_dir

    @property
    def data_dir(self) -> Path:
        return self.base_dir / "data"

    @property
    def socket_dir(self) -> Path:
        return self.base_dir / "sock"

    @property
    def log_file(self) -> Path:
        return self.base_dir / "server.log"

    @property
    def url(self) -> str:
        """URL of the ``postgres`` maintenance database."""
        return self.url_for("postgres")

    def url_for(self, dbname: str) -> str:
        return f"postgresql://{self._user}@{self._host}:{self.port}/{dbname}"

    # -- lifecycle -----------------------------------------------------------

    def start(self) -> PostgresServer:
        if self._running:
            return self
        self._bin_dir = ensure_postgres_bin_dir()
        self._as_postgres_user = _is_root()
        self._base_dir = Path(tempfile.mkdtemp(prefix="crm-pg-", dir="/tmp"))
        try:
            self._prepare_dirs()
            self._initdb()
            self._start_server()
        except BaseException:
            try:
                self._stop_server()
            except Exception:
                pass  # report the original failure
            self._remove_dir()
            raise
        self._running = True
        atexit.register(self.stop)
        return self

    def stop(self) -> None:
        """Stop the server (immediately: the data is thrown away) and delete it."""
        if self._base_dir is None:
            return
        try:
            if self._running:
                self._stop_server()
        finally:
            self._running = False
            self._halted = False
            self._remove_dir()
            atexit.unregister(self.stop)

    def halt(self) -> None:
        """Stop the server at once (``pg_ctl stop -m immediate``, as in a crash), keeping its
        data directory and port, so that ``resume()`` brings the same databases back."""
        if not self._running:
            raise PostgresServerError("server not started")
        self._stop_server()
        self._halted = True

    def resume(self) -> None:
        """Start a halted server again on the same port and data directory."""
        if not self._halted:
            raise PostgresServerError("server not halted")
        self._pg_ctl_start()
        self._halted = False
        self._wait_until_accepting()

    @property
    def halted(self) -> bool:
        return self._halted

    def __enter__(self) -> PostgresServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def __repr__(self) -> str:
        state = f"{self._host}:{self._port}" if self._running else "stopped"
        return f"<PostgresServer {state}>"

    # -- databases -----------------------------------------------------------

    def connect(self, dbname: str = "postgres", **kwargs) -> psycopg.Connection:
        return psycopg.connect(self.url_for(dbname), **kwargs)

    def create_database(self, name: str | None = None) -> str:
        """Create a fresh, empty database and return its URL."""
        if not self._running:
            raise PostgresServerError("server not started")
        name = name or f"test_{uuid.uuid4().hex[:16]}"
        statement = sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name))
        with self.connect("postgres", autocommit=True) as conn:
            if conn.info.server_version >= 150000:
                # Copying the files of the tiny template is about twice as fast
                # as the WAL-logged default when fsync is off.
                statement += sql.SQL(" STRATEGY FILE_COPY")
            conn.execute(statement)
        return self.url_for(name)

    def drop_database(self, name: str) -> None:
        with self.connect("postgres", autocommit=True) as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))

    # -- internals -------------------------------------------------------------

    def _prepare_dirs(self) -> None:
        base = self.base_dir
        self.socket_dir.mkdir(mode=0o700)
        if self._as_postgres_user:
            try:
                pw = pwd.getpwnam(SYSTEM_USER)
            except KeyError:
                raise PostgresUnavailable(
                    f"running as root but there is no {SYSTEM_USER!r} system user to run the server as: {INSTALL_HINT}"
                ) from None
            for path in (base, self.socket_dir):
                os.chown(path, pw.pw_uid, pw.pw_gid)

    def _command(self, program: str, *args: str) -> list[str]:
        assert self._bin_dir is not None
        command = [str(self._bin_dir / program), *args]
        if self._as_postgres_user:
            command = ["runuser", "-u", SYSTEM_USER, "--", *command]
        return command

    def _run(self, program: str, *args: str, timeout: float = 120) -> str:
        command = self._command(program, *args)
        try:
            result = subprocess.run(
                command,
                cwd=self.base_dir,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
                timeout=timeout,
            )
        except subprocess.TimeoutExpired as exc:
            raise PostgresServerError(
                f"{program} timed out after {timeout}s\n--- server log ---\n{read_tail(self.log_file)}"
            ) from exc
        if result.returncode != 0:
            raise PostgresServerError(
                f"{program} failed (exit {result.returncode}): {' '.join(command)}\n"
                f"--- output ---\n{tail(result.stdout)}\n"
                f"--- server log ---\n{read_tail(self.log_file)}"
            )
        return result.stdout

    def _initdb(self) -> None:
        self._run(
            "initdb",
            "-D",
            str(self.data_dir),
            "-A",
            "trust",
            "-U",
            self._user,
            "--encoding",
            "UTF8",
            "--locale",
            "C",
            "--no-sync",
        )

    def _start_server(self) -> None:
        last_error: Exception | None = None
        for _ in range(self.START_ATTEMPTS):
            self._port = free_loopback_port()
            try:
                self._pg_ctl_start()
            except PostgresServerError as exc:
                if "Address already in use" not in read_tail(self.log_file):
                    raise
                # Another process took the port between our probe and the
                # server's bind: try again on a new port.
                last_error = exc
                continue
            self._wait_until_accepting()
            return
        assert last_error is not None
        raise last_error

    def _pg_ctl_start(self) -> None:
        """Start the postmaster on ``self._port`` over the data directory."""
        options = " ".join(
            [
                f"-p {self._port}",
                f"-k {self.socket_dir}",
                f"-c listen_addresses={self._host}",
                "-c fsync=off",
                f"-c synchronous_commit={'on' if self._crash_safe else 'off'}",
                "-c full_page_writes=off",
                "-c max_connections=200",
            ]
        )
        subreaper = _set_child_subreaper(True)
        try:
            self._run(
                "pg_ctl",
                "start",
                "-w",
                "-t",
                "60",
                "-D",
                str(self.data_dir),
                "-l",
                str(self.log_file),
                "-o",
                options,
            )
        except PostgresServerError:
            self._kill_leftover_postmaster()
            raise
        finally:
            if subreaper:
                _set_child_subreaper(False)

    def _wait_until_accepting(self, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while True:
            try:
                with self.connect("postgres", connect_timeout=5):
                    return
            except psycopg.OperationalError as exc:
                if time.monotonic() > deadline:
                    raise PostgresServerError(
                        f"server started but does not accept connections on "
                        f"{self._host}:{self._port}: {exc}\n"
                        f"--- server log ---\n{read_tail(self.log_file)}"
                    ) from exc
                time.sleep(0.1)

    def _stop_server(self) -> None:
        pid = self._postmaster_pid()
        if pid is None:
            return  # already gone
        try:
            self._run("pg_ctl", "stop", "-w", "-t", "60", "-m", "immediate", "-D", str(self.data_dir))
        finally:
            # Whatever pg_ctl managed, the postmaster we started must be gone.
            self._kill_leftover_postmaster()
            _wait_for_exit(pid, timeout=10)

    def _postmaster_pid(self) -> int | None:
        try:
            first_line = (self.data_dir / "postmaster.pid").read_text().splitlines()[0]
            return int(first_line)
        except (OSError, IndexError, ValueError):
            return None

    def _kill_leftover_postmaster(self) -> None:
        """Make sure the postmaster we started is gone (its children exit when it dies)."""
        pid = self._postmaster_pid()
        if pid is None or not self._is_our_postmaster(pid):
            return
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            return
        except PermissionError:
            return
        _wait_for_exit(pid, timeout=10)

    def _is_our_postmaster(self, pid: int) -> bool:
        """Guard against a stale pid file naming some unrelated process."""
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        except OSError:
            return False
        return str(self.data_dir).encode() in cmdline

    def _remove_dir(self) -> None:
        if self._base_dir is not None:
            shutil.rmtree(self._base_dir, ignore_errors=True)
            self._base_dir = None
