"""Run a PostgreSQL server (Debian's ``postgresql``) on a free loopback port, in a folder.

Used by the tests, the benchmarks and CI, as ``central.broker`` runs Mosquitto: a
real server, made with ``initdb``, started and stopped with ``pg_ctl``. PostgreSQL
refuses to run as root, so as root the folder goes to the ``postgres`` system user
that Debian's package creates and the binaries run under ``runuser`` (in a folder of its
own under the system's temporary directory when the one given is not reachable by that
user, as pytest's private temporary folders are not); clients
connect over TCP on 127.0.0.1 as the ``hotspot`` role (trust authentication, which
is for a server that lives and dies with a test run, never for a deployment).
"""

from __future__ import annotations

import os
import pwd
import shutil
import stat
import subprocess
import tempfile
import time
from pathlib import Path

from central.broker import free_port

USER = "hotspot"
DATABASE = "hotspot"


class PostgresError(Exception):
    """The server could not be made or started; the message says what to install or check."""


def _bin_dir() -> Path:
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/pg_ctl"))
    if not found:
        raise PostgresError(
            "PostgreSQL is not installed: run 'sudo apt-get install postgresql' (./dev does)"
        )
    return found[-1].parent


def _reachable_by_others(directory: Path) -> bool:
    """Whether a user other than root can reach ``directory`` (every existing parent o+x)."""
    for folder in [directory.resolve(), *directory.resolve().parents]:
        if folder.exists() and not folder.stat().st_mode & stat.S_IXOTH:
            return False
    return True


class PostgresServer:
    def __init__(self, directory: str | Path, port: int | None = None) -> None:
        self.dir = Path(directory)
        self.port = port or free_port()
        self._bin = _bin_dir()
        self._as_root = os.geteuid() == 0
        self._private = False
        self._databases = 0
        if self._as_root and not _reachable_by_others(self.dir):
            self.dir = Path(tempfile.mkdtemp(prefix="hotspot-postgres-"))
            self._private = True
        self.data = self.dir / "data"

    @property
    def url(self) -> str:
        return f"postgresql://{USER}@127.0.0.1:{self.port}/{DATABASE}"

    def _run(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        command = [str(self._bin / args[0]), *args[1:]]
        if self._as_root:
            command = ["runuser", "-u", "postgres", "--", *command]
        done = subprocess.run(command, capture_output=True, text=True, check=False)
        if check and done.returncode != 0:
            raise PostgresError(f"{args[0]} failed: {(done.stderr or done.stdout).strip()[-400:]}")
        return done

    def start(self) -> PostgresServer:
        self.dir.mkdir(parents=True, exist_ok=True)
        if self._as_root:
            try:
                owner = pwd.getpwnam("postgres")
            except KeyError:
                raise PostgresError("no 'postgres' user: install Debian's postgresql") from None
            os.chown(self.dir, owner.pw_uid, owner.pw_gid)
            os.chmod(self.dir, 0o700)
        if not (self.data / "PG_VERSION").exists():
            self._run("initdb", "-D", str(self.data), "-A", "trust", "-U", USER, "-E", "UTF8")
        options = (
            f"-p {self.port} -k {self.dir} -c listen_addresses=127.0.0.1 "
            "-c fsync=on -c max_connections=50"
        )
        self._run(
            "pg_ctl", "-D", str(self.data), "-o", options, "-l", str(self.dir / "server.log"),
            "-w", "-t", "60", "start",
        )  # fmt: skip
        deadline = time.monotonic() + 30
        while True:
            made = self._run(
                "createdb", "-h", "127.0.0.1", "-p", str(self.port), "-U", USER, DATABASE,
                check=False,
            )  # fmt: skip
            if made.returncode == 0 or "already exists" in made.stderr:
                return self
            if time.monotonic() > deadline:
                raise PostgresError(f"createdb failed: {made.stderr.strip()[-300:]}")
            time.sleep(0.2)

    def new_database(self) -> str:
        """Create another, empty database on this server; its URL."""
        import psycopg

        self._databases += 1
        name = f"{DATABASE}_{self._databases}"
        with psycopg.connect(self.url, autocommit=True) as conn:
            conn.execute(f"CREATE DATABASE {name}")
        return self.url.rsplit("/", 1)[0] + "/" + name

    def stop(self) -> None:
        if (self.data / "postmaster.pid").exists():
            self._run("pg_ctl", "-D", str(self.data), "-m", "fast", "-w", "stop", check=False)
        if self._private:
            shutil.rmtree(self.dir, ignore_errors=True)

    def remove(self) -> None:
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self) -> PostgresServer:
        return self.start()

    def __exit__(self, *_exc: object) -> None:
        self.stop()
