"""A real PostgreSQL server for tests: Debian's postgresql (installed by scripts/setup-test-env.sh), a fresh
cluster in a temporary directory (initdb, pg_ctl) on 127.0.0.1 and a free port, password-protected, run as
the ``postgres`` user when the tests run as root (PostgreSQL refuses to run as root)."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import pytest

PASSWORD = "pg-test-secret"


def _bin(name: str) -> str:
    for directory in sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True):
        if (directory / name).exists():
            return str(directory / name)
    found = shutil.which(name)
    if found:
        return found
    if os.environ.get("CI") == "true":
        raise RuntimeError(f"{name} not found: scripts/setup-test-env.sh installs Debian's postgresql")
    pytest.skip(f"{name} not found (Debian's postgresql; scripts/setup-test-env.sh installs it)")


@dataclass
class Postgres:
    host: str
    port: int
    data: Path

    def url(self, database: str = "postgres", *, password: bool = True) -> str:
        secret = f":{PASSWORD}" if password else ""
        return f"postgresql://sentikit{secret}@{self.host}:{self.port}/{database}"

    def new_database(self) -> str:
        """A fresh, empty database; returns its URL."""
        import psycopg

        name = f"t_{uuid.uuid4().hex[:12]}"
        with psycopg.connect(self.url(), autocommit=True) as connection:
            connection.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)


def _run(command: list[str]) -> None:
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode:
        raise RuntimeError(f"{' '.join(command)} failed ({done.returncode}): {done.stderr or done.stdout}")


def run_postgres(base: Path) -> Iterator[Postgres]:
    from conftest import free_port

    initdb, pg_ctl = _bin("initdb"), _bin("pg_ctl")
    as_root = os.geteuid() == 0
    data = base / "data"
    base.mkdir(parents=True, exist_ok=True)
    secret = base / "pwfile"
    secret.write_text(PASSWORD + "\n")
    if as_root:
        shutil.chown(base, "postgres")
        shutil.chown(secret, "postgres")
    prefix = ["runuser", "-u", "postgres", "--"] if as_root else []
    _run([*prefix, initdb, "-D", str(data), "-U", "sentikit", "--pwfile", str(secret), "-A", "scram-sha-256",
          "-E", "UTF8", "--no-sync"])
    port = free_port()
    options = f"-c listen_addresses=127.0.0.1 -p {port} -k {base} -c fsync=off -c max_connections=50"
    _run([*prefix, pg_ctl, "-D", str(data), "-o", options, "-l", str(base / "log"), "-w", "-t", "60", "start"])
    try:
        yield Postgres("127.0.0.1", port, data)
    finally:
        subprocess.run([*prefix, pg_ctl, "-D", str(data), "-m", "immediate", "stop"], capture_output=True)


@pytest.fixture(scope="module")
def postgres() -> Iterator[Postgres]:
    # Its own directory, not pytest's tmp_path: the postgres user must traverse it, and pytest keeps its
    # base directory (/tmp/pytest-of-root) at mode 0700.
    base = Path(tempfile.mkdtemp(prefix="sentikit-pg-"))
    os.chmod(base, 0o755)
    try:
        yield from run_postgres(base / "cluster")
    finally:
        shutil.rmtree(base, ignore_errors=True)
