"""Throwaway servers for the production tests, each on a spare port and in a folder of its own:
a PostgreSQL cluster (and a streaming standby of it), an S3-protocol server (moto), and the
processes of the stack under dms.settings.production. Never the machine's shared services."""

import glob
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(check, *, timeout: float, what: str, interval: float = 0.2):
    """Poll `check()` until it returns something truthy (a deadline, not a timed assertion)."""
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"gave up waiting for {what}")
        time.sleep(interval)


def port_open(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.3):
            return True
    except OSError:
        return False


def pg_bin(name: str) -> str:
    """A PostgreSQL server binary (initdb, pg_ctl, pg_basebackup) of the newest installed major."""
    found = sorted(
        glob.glob(f"/usr/lib/postgresql/*/bin/{name}"), key=lambda p: int(p.split("/")[4])
    )
    if found:
        return found[-1]
    return shutil.which(name) or name


def _as_postgres() -> list[str]:
    # initdb and postgres refuse to run as root: run them as the postgres system user then
    return ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []


def _private_dir(prefix: str) -> Path:
    path = Path(tempfile.mkdtemp(prefix=prefix, dir="/tmp"))
    if os.geteuid() == 0:
        shutil.chown(path, "postgres", "postgres")
    return path


class PostgresCluster:
    """`PostgresCluster().start()` → a new cluster (trust auth, user postgres) on 127.0.0.1 at a
    spare port; `standby()` → a streaming replica of it made with pg_basebackup -R."""

    def __init__(self, datadir: Path | None = None, port: int | None = None):
        self.base = _private_dir("dms-pg-") if datadir is None else datadir.parent
        self.datadir = datadir or self.base / "data"
        self.port = port or free_port()
        self.logfile = self.base / f"postgres-{self.port}.log"
        self.replicas: list[PostgresCluster] = []

    def url(self, dbname: str) -> str:
        return f"postgres://postgres@127.0.0.1:{self.port}/{dbname}"

    def _run(self, *cmd: str, **kwargs) -> subprocess.CompletedProcess:
        return subprocess.run(
            [*_as_postgres(), *cmd], check=True, capture_output=True, text=True, **kwargs
        )

    def init(self, **settings: str) -> "PostgresCluster":
        self._run(
            pg_bin("initdb"),
            "-D",
            str(self.datadir),
            "-U",
            "postgres",
            "--auth=trust",
            "-E",
            "UTF8",
        )
        conf = {
            "listen_addresses": "'127.0.0.1'",
            "unix_socket_directories": f"'{self.base}'",
            "wal_level": "replica",
            "max_wal_senders": "5",
            "hot_standby": "on",
            "fsync": "off",
            "synchronous_commit": "off",
            "full_page_writes": "off",
            **settings,
        }
        self._append_conf(conf)
        return self

    def _append_conf(self, conf: dict[str, str]) -> None:
        lines = "".join(f"{k} = {v}\n" for k, v in conf.items())
        self._run("sh", "-c", f"cat >> {self.datadir}/postgresql.conf", input=lines)

    def start(self) -> "PostgresCluster":
        self._run(
            pg_bin("pg_ctl"),
            "-D",
            str(self.datadir),
            "-l",
            str(self.logfile),
            "-o",
            f"-p {self.port}",
            "-w",
            "-t",
            "120",
            "start",
        )
        return self

    def stop(self) -> None:
        subprocess.run(
            [*_as_postgres(), pg_bin("pg_ctl"), "-D", str(self.datadir), "-m", "fast", "stop"],
            capture_output=True,
            check=False,
        )

    def remove(self) -> None:
        for replica in self.replicas:
            replica.remove()
        self.stop()
        shutil.rmtree(self.base, ignore_errors=True)

    def psql(self, sql: str, dbname: str = "postgres") -> str:
        return self._run(
            "psql", "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres", "-d", dbname,
            "-XAtq", "-v", "ON_ERROR_STOP=1", "-c", sql,
        ).stdout.strip()  # fmt: skip

    def standby(self, **settings: str) -> "PostgresCluster":
        """pg_basebackup -R of this cluster into a new folder, started as a hot standby."""
        replica = PostgresCluster(datadir=_private_dir("dms-pg-standby-") / "data")
        self._run(
            pg_bin("pg_basebackup"), "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres",
            "-D", str(replica.datadir), "-R", "-X", "stream", "-c", "fast",
        )  # fmt: skip
        replica._append_conf({"unix_socket_directories": f"'{replica.base}'", **settings})
        self.replicas.append(replica)
        return replica.start()

    def replayed(self, primary: "PostgresCluster") -> bool:
        """True when this standby has replayed everything the primary has written so far."""
        target = primary.psql("SELECT pg_current_wal_lsn()")
        return self.psql(f"SELECT pg_last_wal_replay_lsn() >= '{target}'::pg_lsn") == "t"


class MotoServer:
    """moto's S3-protocol server on a spare port (`moto_server`, the `moto[server]` extra)."""

    def __init__(self, workdir: Path):
        self.port = free_port()
        self.log = workdir / f"moto-{self.port}.log"
        self.proc = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> "MotoServer":
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(self.port)],
            stdout=self.log.open("w"),
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        wait_for(lambda: port_open(self.port), timeout=60, what="moto_server")
        return self

    def stop(self) -> None:
        stop_process(self.proc)


def stop_process(proc: subprocess.Popen | None, timeout: float = 30) -> None:
    """SIGTERM a process started with start_new_session=True and its children; SIGKILL late."""
    if proc is None or proc.poll() is not None:
        return
    try:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
    except ProcessLookupError:
        pass
