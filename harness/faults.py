"""Crash safety: kill -9 the ingest at random points; the next run must equal a clean build.
With --disk: a real full disk under an ingest, and an index on a read-only mount.

Each trial runs the real CLI (`python -m ui.cli ingest`) in a subprocess with small batches,
kills it with SIGKILL once or twice at a random moment after it starts writing, re-runs it to
the end, and compares the index with a clean build of the same files: the same articles,
chunks (ids and text), duplicates, Chroma ids and documents, and lexical (FTS) rows and words.
Scenarios: a first ingest, an update of changed/added/removed articles, and a `--prune` of a
deleted file (whose articles have a near-copy elsewhere that must then come back).

    python -m harness.faults --trials 24            # embedded Chroma
    python -m harness.faults --trials 6 --mode server
    python -m harness.faults --disk                 # root: mounts small tmpfs filesystems
"""
from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from rag.catalog import open_catalog
from rag.errors import StoreError
from rag.protocols import Catalog

REPO = Path(__file__).resolve().parent.parent
OUT = REPO / "docs" / "reliability.json"
SCENARIOS = ("fresh", "update", "prune")
QUERIES = ("harbour strike drivers", "reservoir drought rationing", "election mayor court",
           "flights pilots airport", "museum festival marathon")


# --- the corpora ------------------------------------------------------------------------
def _article(i: int, seed: int = 5) -> dict:
    sys.path.insert(0, str(REPO))
    from harness.synth import synth_article

    return synth_article(i, seed, paragraphs=3)


def corpus_v1() -> dict[str, list[dict]]:
    """Three files; b holds a near-copy and an exact copy (other URLs) of two of a's articles."""
    a = [_article(i) for i in range(8)]
    near = dict(a[1], url="https://copies.example/near-1",
                text=a[1]["text"].replace(".", " today.", 1))
    exact = dict(a[2], url="https://copies.example/exact-2")
    b = [_article(i) for i in range(8, 14)] + [near, exact]
    c = [_article(i) for i in range(14, 18)]
    return {"a.jsonl": a, "b.jsonl": b, "c.jsonl": c}


def corpus_v2(scenario: str) -> dict[str, list[dict] | None]:
    """What the files become for the trial (None: the file is deleted)."""
    files: dict[str, list[dict] | None] = dict(corpus_v1())
    if scenario == "update":
        a = [dict(x) for x in files["a.jsonl"] or []]
        a[0]["text"] += "\n\nA correction was appended to this story after readers wrote in."
        a[3]["title"] = "Updated: " + a[3]["title"]  # a new title: its words must leave FTS
        a[3]["text"] = a[3]["text"].replace(".", " again.", 2)
        a[5]["text"] = "\n\n".join(reversed(a[5]["text"].split("\n\n")))
        del a[6]  # vanished from its file
        a += [_article(i) for i in range(40, 43)]  # new
        files["a.jsonl"] = a
    elif scenario == "prune":
        files["a.jsonl"] = None  # its article 1 then lives on as the near-copy in b
    return files


def write_corpus(folder: Path, files: dict[str, list[dict] | None],
                 mtimes: dict[str, int] | None = None) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for name, rows in files.items():
        path = folder / name
        if rows is None:
            path.unlink(missing_ok=True)
            continue
        path.write_text("".join(json.dumps(r) + "\n" for r in rows), "utf-8")
        if mtimes and name in mtimes:
            os.utime(path, ns=(mtimes[name], mtimes[name]))


# --- running the CLI ----------------------------------------------------------------------
@dataclass
class Target:
    data_dir: Path
    chroma_url: str | None = None
    collection: str = "news"
    catalog_url: str | None = None  # the several-host deployment: the catalog on PostgreSQL

    def flags(self) -> list[str]:
        out = ["--data-dir", str(self.data_dir), "--collection", self.collection]
        out += ["--catalog-url", self.catalog_url] if self.catalog_url else []
        return out + (["--chroma-url", self.chroma_url] if self.chroma_url else [])

    def settings(self):
        from rag.settings import Settings

        return Settings(data_dir=self.data_dir, chroma_url=self.chroma_url,
                        collection=self.collection, catalog_url=self.catalog_url)


def ingest_cmd(target: Target, corpus: Path, prune: bool) -> list[str]:
    return [sys.executable, "-m", "ui.cli", "ingest", "--no-progress", *target.flags(),
            *(["--prune"] if prune else []), str(corpus)]


def cli_env(batch_chunks: int) -> dict[str, str]:
    return dict(os.environ, NEWSRAG_INGEST_BATCH_CHUNKS=str(batch_chunks), PYTHONPATH=str(REPO),
                OMP_WAIT_POLICY="PASSIVE", HF_HUB_OFFLINE="1", TOKENIZERS_PARALLELISM="false",
                ANONYMIZED_TELEMETRY="False")


def run_to_end(cmd: list[str], env: dict[str, str]) -> tuple[str, float]:
    t0 = time.monotonic()
    done = subprocess.run(cmd, env=env, cwd=REPO, capture_output=True, text=True, timeout=1800,
                          check=False)
    if done.returncode != 0:
        raise RuntimeError(f"ingest failed ({done.returncode}): {done.stderr[-2000:]}")
    return done.stdout, time.monotonic() - t0


class CatalogWatch:
    """Watches the catalog from outside, read-only: how many commits the ingest has made, and
    what it holds."""

    def __init__(self, target: Target):
        self.target, self.catalog, self.last, self.commits = target, None, None, 0
        self.flights, self.in_flight = 0, False

    def _open(self) -> Catalog | None:
        if self.catalog is None and (self.target.catalog_url
                                     or self.target.settings().catalog_path.exists()):
            try:
                self.catalog = open_catalog(self.target.settings(), readonly=True)
                self.last = self.catalog.version()
            except StoreError:
                self.catalog = None
        return self.catalog

    def poll(self) -> int:
        """Commits seen so far (polled: commits closer together than a poll count as one)."""
        if self.catalog is None:
            self._open()
            return 0
        try:
            version = self.catalog.version()
        except (sqlite3.Error, StoreError):
            return self.commits
        if version != self.last:
            self.commits, self.last = self.commits + 1, version
        return self.commits

    def batches(self) -> int:
        """Batches seen in flight so far (articles marked pending, not yet committed)."""
        if self.catalog is None:
            self.poll()
            return self.flights
        try:
            busy = self.catalog.state_counts()["pending"] > 0
        except (sqlite3.Error, StoreError):
            return self.flights
        if busy and not self.in_flight:
            self.flights += 1
        self.in_flight = busy
        return self.flights

    def state(self) -> dict[str, int]:
        try:
            catalog = open_catalog(self.target.settings(), readonly=True)
        except StoreError:
            return {"done": 0, "pending": 0}
        try:
            return catalog.state_counts()
        except (sqlite3.Error, StoreError):
            return {"done": 0, "pending": 0}
        finally:
            catalog.close()

    def close(self) -> None:
        if self.catalog is not None:
            self.catalog.close()


def run_and_kill(cmd: list[str], env: dict[str, str], target: Target, window: float,
                 commits: int, batches: int, rng: random.Random) -> dict[str, Any]:
    """Start the ingest and SIGKILL it: at a random time after its first commit, shortly after
    a random one of its commits, or while a batch is in flight (marked pending, being embedded,
    written to Chroma, committed): together they spread the kills over every step."""
    pick = rng.random()
    if pick < 1 / 3:
        how, after, delay = "time", 1, rng.uniform(0.0, window)
    elif pick < 2 / 3:
        how, after, delay = "commit", rng.randint(1, max(1, commits)), rng.uniform(0.0, 0.3)
    else:
        how, after, delay = "batch", rng.randint(1, max(1, batches)), rng.uniform(0.0, 0.4)
    watch = CatalogWatch(target)
    proc = subprocess.Popen(cmd, env=env, cwd=REPO, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    reached = None
    deadline = time.monotonic() + 900
    while proc.poll() is None and time.monotonic() < deadline:
        seen = watch.batches() if how == "batch" else watch.poll()
        if reached is None and seen >= after:
            reached = time.monotonic()
        if reached is not None and time.monotonic() - reached >= delay:
            break
        time.sleep(0.005)
    finished = proc.poll() is not None
    if not finished:
        proc.send_signal(signal.SIGKILL)
    proc.wait()
    watch.close()
    return {"how": how, "after": after, "delay_s": round(delay, 2),
            "killed": not finished, **watch.state()}


def timed_run(cmd: list[str], env: dict[str, str], target: Target) -> tuple[float, int, int]:
    """An uninterrupted run: seconds from its first commit to its end, its commits, and the
    batches seen in flight (all as polled)."""
    watch = CatalogWatch(target)
    proc = subprocess.Popen(cmd, env=env, cwd=REPO, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True)
    started = None
    while proc.poll() is None:
        watch.batches()
        if watch.poll() and started is None:
            started = time.monotonic()
        time.sleep(0.005)
    watch.poll()
    watch.close()
    if proc.returncode != 0:
        raise RuntimeError(f"the uninterrupted run failed: {proc.stderr.read()[-2000:]}")
    return (max(1.0, time.monotonic() - (started or time.monotonic())), watch.commits,
            watch.flights)


# --- comparing indexes ------------------------------------------------------------------
def fingerprint(target: Target, embedder) -> dict[str, Any]:
    """Everything a clean build determines, independent of file paths and of timing."""
    from rag.index import Index
    from rag.lexical import CatalogFTS

    index = Index.open(target.settings(), embedder)
    try:
        fts = CatalogFTS(index.catalog)
        return {
            "check": index.verify(),
            **index.catalog.contents(),
            "chroma": index.store.documents(),
            "lexical": {q: [(cid, round(s, 6)) for cid, s in fts.search(q, 10)]
                        for q in QUERIES},
        }
    finally:
        index.close()


def differences(got: dict[str, Any], clean: dict[str, Any]) -> list[str]:
    out = []
    if not got["check"]["consistent"]:
        out.append(f"verify: {got['check']}")
    if got["same_hash_twice"]:
        out.append(f"{got['same_hash_twice']} articles stored twice")
    for key in ("articles", "chunks", "duplicates", "chroma", "lexical"):
        a, b = got[key], clean[key]
        if a != b:
            extra, missing = sorted(set(a) - set(b)), sorted(set(b) - set(a))
            changed = sorted(k for k in set(a) & set(b) if a[k] != b[k])
            out.append(f"{key}: {len(extra)} extra {extra[:3]}, {len(missing)} missing "
                       f"{missing[:3]}, {len(changed)} differ {changed[:3]}")
    return out


# --- the trials ---------------------------------------------------------------------------
@dataclass
class Scenario:
    name: str
    corpus: Path  # fixed: the catalog keys files by absolute path
    prune: bool
    base: Target | None = None  # embedded: the v1 index a trial starts from, copied
    base_mtimes: dict[str, int] = field(default_factory=dict)
    clean: dict[str, Any] | None = None
    window: float = 10.0  # seconds from the first commit to the end of an uninterrupted run
    commits: int = 10  # commits an uninterrupted run makes (as polled)
    batches: int = 3  # batches it writes (as polled)


class Harness:
    """Sets scenarios up and runs trials. The reference builds run through the CLI too, or, with
    in_process (the tests), in this process: the same code without a process start each."""

    def __init__(self, work: Path, mode: str, batch_chunks: int, chroma_url: str | None,
                 embedder=None, in_process: bool = False, postgres: Any = None):
        self.work, self.mode, self.chroma_url = work, mode, chroma_url
        self.postgres = postgres  # a harness.postgres.PostgresServer, in "postgres" mode
        self.batch_chunks, self.in_process = batch_chunks, in_process
        self.env = cli_env(batch_chunks)
        if embedder is None:
            from rag.embedders import get_embedder

            embedder = get_embedder("minilm")
        self.embedder = embedder
        self.n = 0

    def build(self, target: Target, corpus: Path, prune: bool = False) -> None:
        if not self.in_process:
            run_to_end(ingest_cmd(target, corpus, prune), self.env)
            return
        from ingest.run import ingest
        from rag.index import Index

        settings = target.settings().replace(ingest_batch_chunks=self.batch_chunks)
        index = Index.open(settings, self.embedder)
        try:
            ingest(index, [corpus], prune=prune)
        finally:
            index.close()

    def target(self, label: str) -> Target:
        self.n += 1
        folder = self.work / f"{label}-{self.n}"
        if self.mode == "server":
            return Target(folder, self.chroma_url, f"faults-{os.getpid()}-{self.n}")
        if self.mode == "postgres":
            return Target(folder, self.chroma_url, f"faults-{os.getpid()}-{self.n}",
                          self.postgres.create_database())
        return Target(folder)

    def setup(self, name: str, timed: bool = True) -> Scenario:
        sc = Scenario(name, self.work / f"corpus-{name}", prune=name == "prune")
        write_corpus(sc.corpus, corpus_v1())
        if name != "fresh" and self.mode == "embedded":  # the v1 index every trial copies
            sc.base_mtimes = {n: (sc.corpus / n).stat().st_mtime_ns for n in corpus_v1()}
            sc.base = self.target(f"base-{name}")
            self.build(sc.base, sc.corpus)
        # the reference: a clean build, from an empty index, of what the files become
        write_corpus(sc.corpus, corpus_v2(name))
        clean = self.target(f"clean-{name}")
        self.build(clean, sc.corpus)
        sc.clean = fingerprint(clean, self.embedder)
        if not sc.clean["check"]["consistent"]:
            raise RuntimeError(f"the clean build is not consistent: {sc.clean['check']}")
        if not timed:  # kill within a second and a half of the first commit, or of a commit
            sc.window, sc.commits, sc.batches = 1.5, 3, 1
            return sc
        # an uninterrupted run of the trial itself: it must equal the clean build too, and its
        # time from the first commit to the end is the window the kills are drawn from
        plain = self.target(f"plain-{name}")
        self.start_from_base(sc, plain)
        sc.window, sc.commits, sc.batches = timed_run(
            ingest_cmd(plain, sc.corpus, sc.prune), self.env, plain)
        diffs = differences(fingerprint(plain, self.embedder), sc.clean)
        if diffs:
            raise RuntimeError(f"an uninterrupted {name} run differs from a clean build: {diffs}")
        return sc

    def start_from_base(self, sc: Scenario, target: Target) -> None:
        """The target index as the scenario's v1 index; the corpus as its v2 files."""
        v1 = corpus_v1()
        if sc.name != "fresh":
            if sc.base is not None:
                shutil.copytree(sc.base.data_dir, target.data_dir)
                write_corpus(sc.corpus, v1, sc.base_mtimes)  # as the base index saw them
            else:  # a server collection cannot be copied: build it again
                write_corpus(sc.corpus, v1)
                self.build(target, sc.corpus)
        write_corpus(sc.corpus, {n: rows for n, rows in corpus_v2(sc.name).items()
                                 if rows != v1.get(n)})

    def trial(self, sc: Scenario, rng: random.Random) -> dict[str, Any]:
        t0 = time.monotonic()
        target = self.target(f"trial-{sc.name}")
        self.start_from_base(sc, target)
        cmd = ingest_cmd(target, sc.corpus, sc.prune)
        kills = [run_and_kill(cmd, self.env, target, sc.window, sc.commits, sc.batches, rng)]
        if rng.random() < 0.35:  # kill the re-run too: recovery itself interrupted
            kills.append(run_and_kill(cmd, self.env, target, sc.window, sc.commits, sc.batches,
                                      rng))
        out, _ = run_to_end(cmd, self.env)
        recovered = 0
        for line in out.splitlines():
            if line.startswith("rolled back "):
                recovered = int(line.split()[2])
        got = fingerprint(target, self.embedder)
        diffs = differences(got, sc.clean)
        if not diffs:
            shutil.rmtree(target.data_dir, ignore_errors=True)
            if target.catalog_url and self.postgres is not None:
                self.postgres.drop_database(target.catalog_url)
        return {
            "scenario": sc.name, "mode": self.mode, "kills": kills,
            "rolled_back": recovered, "articles": len(got["articles"]),
            "chunks": len(got["chunks"]), "consistent": got["check"]["consistent"],
            "equal_to_clean_build": not diffs, "differences": diffs,
            "seconds": round(time.monotonic() - t0, 1),
        }


# --- a full disk and a read-only folder -----------------------------------------------------
@contextmanager
def tmpfs(folder: Path, size: str) -> Iterator[Path]:
    """A real small filesystem (root only): fills up for real, and can be remounted read-only."""
    folder.mkdir(parents=True, exist_ok=True)
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(folder)],
                          capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise PermissionError(f"cannot mount a tmpfs at {folder} (root needed): "
                              f"{done.stderr.strip()}")
    try:
        yield folder
    finally:
        subprocess.run(["umount", "-l", str(folder)], capture_output=True, check=False)


def fill(mount: Path, keep: int) -> Path:
    """A ballast file that leaves `keep` bytes free on the mount."""
    st = os.statvfs(mount)
    ballast = mount / "ballast"
    with ballast.open("wb") as f:
        left = max(0, st.f_bavail * st.f_frsize - keep)
        while left > 0:
            try:
                left -= f.write(b"\0" * min(left, 1 << 20))
            except OSError:
                break
    return ballast


def _forget_embedded_clients() -> None:
    """Close this process's embedded Chroma systems (cached per path) so that files close."""
    from chromadb.api.client import SharedSystemClient

    SharedSystemClient.clear_system_cache()


def disk_full_trial(work: Path, keep: int, embedder, clean: dict[str, Any],
                    corpora: tuple[Path, Path], env: dict[str, str]) -> dict[str, Any]:
    """Index the first corpus on a small disk, fill it, ingest more (CLI), check the error and
    that the old index still serves (here, another process), free the space, re-run (CLI): it
    must equal a clean build."""
    from rag.index import Index
    from rag.pipeline import NewsRAG

    first, more = corpora
    with tmpfs(work / f"disk-{keep}", "24m") as mount:
        target = Target(mount / "idx")
        run_to_end(ingest_cmd(target, first, False), env)
        before = fingerprint(target, embedder)
        ballast = fill(mount, keep)
        cmd = ingest_cmd(target, first, False)[:-1] + [str(first), str(more)]
        failed = subprocess.run(cmd, env=env, cwd=REPO, capture_output=True, text=True,
                                timeout=1800, check=False)
        message = failed.stderr.strip().splitlines()[-1] if failed.stderr.strip() else ""
        # the stored index, opened afresh, still answers from what it held before
        rag = NewsRAG(Index.open(target.settings(), embedder))
        try:
            after = rag.index.catalog.chunks_by_ids(list(before["chunks"]))
            kept = {cid: c.text for cid, c in after.items()} == {
                cid: row[-1] for cid, row in before["chunks"].items()}
            title = next(iter(before["articles"].values()))[2]
            passages = rag.retrieve(title, as_of="2026-11-01", k=3)
            served = bool(passages) and passages[0].chunk.title == title
            rag.ask(title, as_of="2026-11-01")
        finally:
            rag.close()
            _forget_embedded_clients()
        ballast.unlink()
        out, _ = run_to_end(cmd, env)
        got = fingerprint(target, embedder)
        _forget_embedded_clients()
        diffs = differences(got, clean)
    return {
        "free_kib_left": keep // 1024, "exit_code": failed.returncode, "message": message[:400],
        "clear_error": failed.returncode == 2 and "full" in message,
        "old_chunks_kept": kept, "old_index_served": served, "next_run_completed": True,
        "rolled_back": next(
            (int(x.split()[2]) for x in out.splitlines() if x.startswith("rolled back ")), 0),
        "equal_to_clean_build": not diffs, "differences": diffs,
    }


def read_only_trial(work: Path, embedder, corpus: Path, env: dict[str, str]) -> dict[str, Any]:
    """An index on a filesystem remounted read-only: it serves; an ingest is a clear error."""
    from rag.index import Index
    from rag.pipeline import NewsRAG

    build = Target(work / "ro-build")
    run_to_end(ingest_cmd(build, corpus, False), env)
    with tmpfs(work / "ro", "24m") as mount:
        shutil.copytree(build.data_dir, mount / "idx")
        subprocess.run(["mount", "-o", "remount,ro", str(mount)], check=True)
        target = Target(mount / "idx")
        failed = subprocess.run(ingest_cmd(target, corpus, False), env=env, cwd=REPO,
                                capture_output=True, text=True, timeout=900, check=False)
        rag = NewsRAG(Index.open(target.settings(), embedder))
        try:
            title = rag.index.catalog.titles()[0]
            answer = rag.ask(title, as_of="2026-11-01")
            check = rag.index.verify()
            row = {"opened_read_only": rag.index.readonly,
                   "answered": bool(answer.passages), "citations": len(answer.citations),
                   "consistent": check["consistent"], "ingest_exit_code": failed.returncode,
                   "ingest_message": failed.stderr.strip().splitlines()[-1][:300]}
        finally:
            rag.close()
            _forget_embedded_clients()
    row["clear_error"] = row["ingest_exit_code"] == 2 and "read-only" in row["ingest_message"]
    return row


def disk_trials(work: Path, levels: list[int], batch_chunks: int,
                read_only: bool = True) -> dict[str, Any]:
    from harness.synth import write_jsonl
    from rag.embedders import get_embedder

    embedder = get_embedder("minilm")
    env = cli_env(batch_chunks)
    first = write_jsonl(work / "first" / "a.jsonl", 6, seed=8).parent
    more = write_jsonl(work / "more" / "b.jsonl", 30, seed=9).parent
    clean = Target(work / "clean")
    run_to_end(ingest_cmd(clean, first, False)[:-1] + [str(first), str(more)], env)
    reference = fingerprint(clean, embedder)
    rows = []
    for keep in levels:
        row = disk_full_trial(work, keep, embedder, reference, (first, more), env)
        print(f"disk full, {row['free_kib_left']} KiB left: exit {row['exit_code']}, clear "
              f"error {row['clear_error']}, old index served {row['old_index_served']}, next run "
              f"equal to a clean build {row['equal_to_clean_build']}\n  {row['message']}",
              flush=True)
        rows.append(row)
    ro = read_only_trial(work, embedder, first, env) if read_only else None
    print(f"read-only folder: {ro}", flush=True)
    return {
        "what": "a real full disk (a small tmpfs filled with a ballast file, freed afterwards) "
                "under `newsrag ingest`, and an index on a tmpfs remounted read-only",
        "disk_full": rows, "read_only": ro,
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
    }


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class ChromaServer:
    """A `chroma run` on a free loopback port (the tests' server mode, and --mode server)."""

    url: str
    path: Path
    proc: subprocess.Popen

    @classmethod
    def start(cls, path: Path, timeout: float = 60, port: int | None = None) -> ChromaServer:
        import httpx

        exe = Path(sys.executable).with_name("chroma")
        if not exe.exists():
            raise FileNotFoundError(f"{exe} is missing: pip install chromadb (it carries the "
                                    "server)")
        port = port or free_port()
        log = (path.parent / f"{path.name}.log").open("wb")
        proc = subprocess.Popen(
            [str(exe), "run", "--path", str(path), "--host", "127.0.0.1", "--port", str(port)],
            stdout=log, stderr=subprocess.STDOUT, env=dict(os.environ, ANONYMIZED_TELEMETRY="False"))
        server = cls(f"http://127.0.0.1:{port}", path, proc)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                if httpx.get(f"{server.url}/api/v2/heartbeat", timeout=2).status_code == 200:
                    return server
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        server.stop()
        raise RuntimeError(f"chroma run did not answer on {server.url}: see {log.name}")

    def stop(self) -> None:
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def start_chroma_server(folder: Path) -> ChromaServer:
    folder.mkdir(parents=True, exist_ok=True)
    return ChromaServer.start(folder / "data")


def summarize(rows: list[dict[str, Any]], args: argparse.Namespace) -> dict[str, Any]:
    kills = [k for r in rows for k in r["kills"]]
    return {
        "what": "kill -9 of `newsrag ingest` at random points, then a re-run, compared with a "
                "clean build (articles, chunks, duplicates, Chroma ids+documents, FTS rows, "
                "words and BM25 results)",
        "trials": len(rows),
        "kills": sum(k["killed"] for k in kills),
        "kills_mid_batch": sum(k["killed"] and k["pending"] > 0 for k in kills),
        "kills_by_how": {h: sum(k["killed"] and k["how"] == h for k in kills)
                         for h in ("time", "commit", "batch")},
        "double_kills": sum(len(r["kills"]) > 1 and all(k["killed"] for k in r["kills"])
                            for r in rows),
        "trials_without_a_kill": sum(not any(k["killed"] for k in r["kills"]) for r in rows),
        "by_scenario": {s: sum(r["scenario"] == s for r in rows) for s in SCENARIOS},
        "equal_to_clean_build": sum(r["equal_to_clean_build"] for r in rows),
        "rolled_back_articles": sum(r["rolled_back"] for r in rows),
        "batch_chunks": args.batch_chunks,
        "mode": args.mode,
        "seed": args.seed,
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "rows": rows,
    }


def _kill_text(k: dict[str, Any]) -> str:
    if not k["killed"]:
        return "finished first"
    when = {"time": f"{k['delay_s']} s", "commit": f"commit {k['after']}+{k['delay_s']} s",
            "batch": f"batch {k['after']}+{k['delay_s']} s"}[k["how"]]
    return f"{when} -> {k['done']}/{k['pending']}"


def print_table(rows: list[dict[str, Any]]) -> None:
    print(f"{'#':>3} {'scenario':8} {'mode':8} {'kills: when -> done/pending at the kill':46} "
          f"{'rolled back':>11} {'chunks':>6} {'equal':>5} {'s':>6}")
    for i, r in enumerate(rows, 1):
        kills = ", ".join(_kill_text(k) for k in r["kills"])
        print(f"{i:>3} {r['scenario']:8} {r['mode']:8} {kills:46} {r['rolled_back']:>11} "
              f"{r['chunks']:>6} {'yes' if r['equal_to_clean_build'] else 'NO':>5} "
              f"{r['seconds']:>6}")
        for d in r["differences"]:
            print(f"      {d}")


def record(section: str, data: dict[str, Any], out: Path = OUT) -> None:
    """Merge one section into docs/reliability.json (faults, fuzz and soak share the file)."""
    current = json.loads(out.read_text("utf-8")) if out.exists() else {}
    current[section] = data
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(current, indent=2) + "\n", "utf-8")


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    sys.path.insert(0, str(REPO))
    rng = random.Random(args.seed)
    work = args.work or Path(tempfile.mkdtemp(prefix="newsrag-faults-"))
    if args.disk:
        return _disk_main(args, work)
    rows = _crash_trials(args, work, rng)
    print_table(rows)
    report = summarize(rows, args)
    record(f"crash_{args.mode}", report, args.out)
    print(f"{report['equal_to_clean_build']}/{report['trials']} trials equal to a clean build "
          f"({report['kills']} kills, {report['kills_mid_batch']} with a batch half-written); "
          f"written to {args.out}")
    return 0 if report["equal_to_clean_build"] == report["trials"] else 1


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m harness.faults", description=__doc__.split("\n")[0])
    p.add_argument("--trials", type=int, default=24)
    p.add_argument("--mode", choices=("embedded", "server", "postgres"), default="embedded",
                   help="embedded Chroma and SQLite; the Chroma server and SQLite; or the "
                        "several-host deployment (the Chroma server and PostgreSQL)")
    p.add_argument("--scenarios", default=",".join(SCENARIOS))
    p.add_argument("--batch-chunks", dest="batch_chunks", type=int, default=4)
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--work", type=Path, help="scratch folder (default: a temp folder)")
    p.add_argument("--out", type=Path, default=OUT)
    p.add_argument("--disk", action="store_true",
                   help="instead: fill a real (tmpfs) disk under an ingest, and serve from a "
                        "read-only one (needs root)")
    p.add_argument("--free-kib", dest="free_kib", default="16,128,384,1024",
                   help="with --disk: the free space left before the ingest, in KiB")
    p.add_argument("--no-read-only", dest="read_only", action="store_false",
                   help="with --disk: only the full-disk trials")
    return p


def _disk_main(args: argparse.Namespace, work: Path) -> int:
    """--disk: the full-disk and read-only trials, recorded; 0 if every one failed clearly."""
    try:
        levels = [int(x) * 1024 for x in args.free_kib.split(",")]
        report = disk_trials(work, levels, args.batch_chunks, args.read_only)
    finally:
        if args.work is None:
            shutil.rmtree(work, ignore_errors=True)
    record("disk", report, args.out)
    ok = all(r["clear_error"] and r["old_index_served"] and r["equal_to_clean_build"]
             for r in report["disk_full"]) and (
        report["read_only"] is None or report["read_only"]["clear_error"])
    return 0 if ok else 1


def _crash_trials(args: argparse.Namespace, work: Path, rng: random.Random) -> list[dict]:
    """The kill -9 trials, round the scenarios, with the servers the mode needs (stopped,
    and the scratch folder removed, at the end)."""
    server = postgres = None
    try:
        url = None
        if args.mode in ("server", "postgres"):
            server = start_chroma_server(work / "chroma-server")
            url = server.url
        if args.mode == "postgres":
            from harness.postgres import PostgresServer

            postgres = PostgresServer.start(Path(tempfile.mkdtemp(prefix="newsrag-pg-")))
        h = Harness(work, args.mode, args.batch_chunks, url, postgres=postgres)
        names = [s for s in args.scenarios.split(",") if s]
        scenarios = {}
        for name in names:
            print(f"setting up {name} ...", flush=True)
            scenarios[name] = h.setup(name)
        rows = []
        for i in range(args.trials):
            row = h.trial(scenarios[names[i % len(names)]], rng)
            rows.append(row)
            k = "; ".join(_kill_text(x) for x in row["kills"])
            print(f"trial {i + 1}/{args.trials} {row['scenario']}: killed at {k}; rolled back "
                  f"{row['rolled_back']}; equal to a clean build: {row['equal_to_clean_build']}",
                  flush=True)
        return rows
    finally:
        if server is not None:
            server.stop()
        if postgres is not None:
            postgres.stop()
            shutil.rmtree(postgres.folder, ignore_errors=True)
        if args.work is None:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
