"""`newsrag watch` and `newsrag serve --watch` as a person runs them: exit statuses, kill -9, and a
running server answering about an item published after it started."""
from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from ingest.watch import Watcher
from rag.index import Index
from rag.settings import Settings
from tests.watch.conftest import article_page, rss, story
from ui.cli import main

REPO = Path(__file__).resolve().parents[2]
FAST = {"NEWSRAG_WATCH_DELAY": "0", "NEWSRAG_WATCH_BACKOFF": "0",
        "NEWSRAG_WATCH_RETRY_AFTER": "0", "NEWSRAG_WATCH_RETRIES": "1"}


@pytest.fixture
def fast_env(monkeypatch):
    for k, v in FAST.items():
        monkeypatch.setenv(k, v)
    monkeypatch.delenv("NEWSRAG_FEEDS", raising=False)


def test_watch_once_prints_a_line_per_poll_and_its_exit_status_says_what_failed(
        site, tmp_path, fast_env, capsys):
    site.add("/news/1", article_page("Ferry story", story(1)))
    site.add("/feed.xml", rss([{"title": "Ferry", "link": f"{site.url}/news/1"}]),
             ctype="application/rss+xml")
    data = ["--data-dir", str(tmp_path / "idx")]
    assert main(["watch", site.url + "/feed.xml", "--once", "--json", *data]) == 0
    (line,) = capsys.readouterr().out.strip().splitlines()
    report = json.loads(line)
    assert report["http_status"] == 200 and report["stored"] == 1 and report["kind"] == "rss"
    assert main(["watch", site.url + "/missing.xml", "--once", *data]) == 1
    out = capsys.readouterr().out
    assert "missing.xml: HTTP 404 (HTTP 404)" in out
    assert main(["stats", *data]) == 0
    stats = capsys.readouterr().out
    assert "feeds\n" in stats and "items seen 1, stored 1" in stats
    assert main(["watch", "--once", *data]) == 2
    assert "No sources to watch" in capsys.readouterr().err
    assert main(["watch", "ftp://x.example/feed", "--once", *data]) == 2
    assert main(["watch", site.url + "/feed.xml", "--every", "soon", *data]) == 2
    assert "not a duration" in capsys.readouterr().err


def _catalog_state(settings: Settings, embedder) -> tuple:
    index = Index.open(settings, embedder)
    try:
        assert index.verify()["consistent"]
        articles = sorted(index.catalog.article_rows("id", "content_hash", "n_chunks", "state"))
        items = sorted(index.catalog.feed_item_rows("link", "state", "article_id"))
        return articles, items, index.catalog.counts()["chunks"]
    finally:
        index.close()


@pytest.mark.slow
def test_kill_9_mid_poll_then_a_rerun_equals_an_uninterrupted_run(site, tmp_path, embedder):
    items = []
    for n in range(12):
        site.add(f"/news/{n}", article_page(f"Story {n}", story(100 + n)), delay=0.15)
        items.append({"title": f"Story {n}", "link": f"{site.url}/news/{n}"})
    site.add("/feed.xml", rss(items), ctype="application/rss+xml")
    feed = site.url + "/feed.xml"
    env = {**os.environ, **FAST, "NEWSRAG_WATCH_FLUSH_ITEMS": "3"}
    killed = tmp_path / "killed"
    cmd = [sys.executable, "-m", "ui.cli", "watch", feed, "--once", "--data-dir", str(killed)]
    proc = subprocess.Popen(cmd, cwd=REPO, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)
    deadline = time.monotonic() + 240
    while sum(len(site.hits(f"/news/{n}")) for n in range(12)) < 7:
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    rerun = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=300,
                           check=False)
    assert rerun.returncode == 0, rerun.stderr
    # the same site, polled without interruption into another index
    whole = Settings(data_dir=tmp_path / "whole", watch_delay=0.0)
    w = Watcher(Index.open(whole, embedder), [feed])
    w.poll()
    w.close()
    w.index.close()
    got = _catalog_state(Settings(data_dir=killed), embedder)
    assert got == _catalog_state(whole, embedder)
    assert len(got[0]) == 12 and {s for _, s, _ in got[1]} == {"stored"}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow
def test_a_running_serve_watch_answers_about_an_item_published_after_it_started(site,
                                                                                tmp_path):
    site.add("/news/1", article_page("Harbour ferry timetable changes", story(1)))
    items = [{"title": "Ferry", "link": f"{site.url}/news/1"}]
    site.add("/feed.xml", lambda: rss(items).encode(), ctype="application/rss+xml")
    port = _free_port()
    env = {**os.environ, **FAST, "NEWSRAG_FEEDS": site.url + "/feed.xml"}
    cmd = [sys.executable, "-m", "ui.cli", "serve", "--watch", "--every", "1s", "--port",
           str(port), "--data-dir", str(tmp_path / "idx")]
    proc = subprocess.Popen(cmd, cwd=REPO, env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 600  # a loaded 2-core machine took 160 s to start it
        while True:
            assert proc.poll() is None, "the server exited"
            assert time.monotonic() < deadline, "no first poll"
            try:
                feeds = httpx.get(url + "/api/stats", timeout=5).json()["feeds"]
                if feeds and feeds[0]["polls"] and feeds[0]["items"]["stored"] == 1:
                    break
            except httpx.HTTPError:
                pass
            time.sleep(0.3)
        site.add("/news/2", article_page(
            "Lighthouse keeper retires", "Marisol Venn, the keeper of the Quillbrook "
            "lighthouse for thirty-one years, retired on Friday after the council automated "
            "the light. " + story(2), published="2026-12-02T12:00:00Z"))
        items.append({"title": "Lighthouse", "link": f"{site.url}/news/2"})
        question = {"question": "Who retired as keeper of the Quillbrook lighthouse?",
                    "as_of": "2026-12-03"}
        while True:
            assert time.monotonic() < deadline, "the new item was never answered"
            r = httpx.post(url + "/api/ask", json=question, timeout=60)
            cited = [c["url"] for c in r.json().get("citations", [])] if r.status_code == 200 \
                else []
            if f"{site.url}/news/2" in cited:
                assert "Marisol Venn" in r.json()["answer"]
                break
            time.sleep(0.5)
        stats = httpx.get(url + "/api/stats", timeout=5).json()
        assert stats["feeds"][0]["items"]["stored"] == 2 and stats["articles"] == 2
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
