"""A throwaway PostgreSQL server on a loopback port, in a folder of its own: for the tests of the
several-host catalog (rag/catalog_postgres.py), its kill -9 trials and its benchmark.

Debian's `postgresql` package provides the binaries (`make postgres` installs it). The server
refuses to run as root, so as root it runs as the `postgres` user, which then owns the folder.
Nothing of the machine's own PostgreSQL service is touched.

    python -m harness.postgres start DIR   # prints the URL, leaves the server running
    python -m harness.postgres stop DIR
"""
from __future__ import annotations

import argparse
import os
import pwd
import shutil
import subprocess
import sys
import uuid
from dataclasses import dataclass
from pathlib import Path

from harness.loadtest import free_port

USER = "newsrag"  # the database superuser the server is initialised with (trust on loopback)


def _bin_dir() -> Path:
    """Where initdb and pg_ctl are: Debian keeps them out of PATH, under the major version."""
    found = shutil.which("pg_ctl")
    if found:
        return Path(found).resolve().parent
    versions = sorted(Path("/usr/lib/postgresql").glob("*/bin/pg_ctl"),
                      key=lambda p: int(p.parent.parent.name) if p.parent.parent.name.isdigit()
                      else 0)
    if not versions:
        raise FileNotFoundError("PostgreSQL's server binaries (initdb, pg_ctl) are not installed: "
                                "`make postgres` (apt-get install postgresql) installs them")
    return versions[-1].parent


def _as_owner(cmd: list[str]) -> list[str]:
    """The command as the `postgres` user when we are root (the server refuses root)."""
    if os.geteuid() != 0:
        return cmd
    return ["su", "postgres", "-s", "/bin/sh", "-c", " ".join(_quote(c) for c in cmd)]


def _quote(s: str) -> str:
    return "'" + s.replace("'", "'\\''") + "'"


@dataclass
class PostgresServer:
    folder: Path
    port: int

    @property
    def data(self) -> Path:
        return self.folder / "data"

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://{USER}@127.0.0.1:{self.port}/{database}"

    @classmethod
    def start(cls, folder: Path, port: int | None = None, timeout: float = 60) -> PostgresServer:
        """initdb (first time only) and start on a free loopback port."""
        folder = Path(folder).resolve()
        folder.mkdir(parents=True, exist_ok=True)
        server = cls(folder, port or free_port())
        if os.geteuid() == 0:
            owner = pwd.getpwnam("postgres")
            for p in (folder, *folder.rglob("*")):
                os.chown(p, owner.pw_uid, owner.pw_gid)
        bin_dir = _bin_dir()
        if not (server.data / "PG_VERSION").exists():
            subprocess.run(_as_owner([str(bin_dir / "initdb"), "-D", str(server.data), "-A",
                                      "trust", "-U", USER, "-E", "UTF8", "--no-sync"]),
                           check=True, capture_output=True, timeout=timeout)
        server.start_again(timeout)
        return server

    def start_again(self, timeout: float = 60) -> None:
        """Start the (initialised, stopped) server on its port."""
        self._pg_ctl("start", "-w", "-t", str(int(timeout)), "-o",
                     f"-p {self.port} -k {self.folder} -c listen_addresses=127.0.0.1 "
                     "-c fsync=off -c full_page_writes=off -c max_connections=200",
                     "-l", str(self.folder / "log"))

    def _pg_ctl(self, *args: str) -> None:
        proc = subprocess.run(_as_owner([str(_bin_dir() / "pg_ctl"), "-D", str(self.data),
                                         *args]), check=False, capture_output=True, text=True,
                              timeout=120)
        if proc.returncode != 0:
            log = (self.folder / "log")
            tail = log.read_text(errors="replace")[-2000:] if log.exists() else ""
            raise RuntimeError(f"pg_ctl {args[0]} failed: {proc.stderr.strip()}\n{tail}")

    def stop(self, mode: str = "fast") -> None:
        """Stop the server; mode "immediate" is the nearest to pulling its plug."""
        self._pg_ctl("stop", "-w", "-m", mode)

    def restart(self) -> None:
        """Stop at once (every connection is cut, as in a crash) and start again."""
        self.stop("immediate")
        self.start_again()

    def create_database(self, name: str | None = None) -> str:
        """A new empty database; returns its URL."""
        import psycopg

        name = name or "t" + uuid.uuid4().hex[:12]
        with psycopg.connect(self.url(), autocommit=True) as db:
            db.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def drop_database(self, url: str) -> None:
        import psycopg

        name = url.rsplit("/", 1)[1]
        with psycopg.connect(self.url(), autocommit=True) as db:
            db.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m harness.postgres", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("action", choices=["start", "stop"])
    ap.add_argument("folder", type=Path)
    ap.add_argument("--port", type=int, default=None)
    args = ap.parse_args(argv)
    if args.action == "start":
        server = PostgresServer.start(args.folder, args.port)
        print(server.url())
        return 0
    port_file = args.folder / "data" / "postmaster.pid"
    if not port_file.exists():
        print(f"no server running in {args.folder}", file=sys.stderr)
        return 1
    port = int(port_file.read_text().splitlines()[3])
    PostgresServer(args.folder.resolve(), port).stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

