"""Issue 36: a `newsrag serve` on an embedded index answers from what a `newsrag ingest` in
another process committed, without a restart (both real processes, over loopback)."""
from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from tests.conftest import REPO

DEMO = REPO / "demo" / "corpus"
ARTICLE = {
    "title": "Quillmere lighthouse keeper rescues three stranded otter pups",
    "text": "Ferrin Oakhollow, the keeper of the Quillmere lighthouse, rescued three stranded "
            "otter pups from the tidal rocks below the lamp on Tuesday night. Oakhollow carried "
            "the pups to the Quillmere marine shelter in a wicker fish basket. The shelter said "
            "the pups were underweight but unhurt and would be released in the spring.",
    "url": "https://gazette.example/quillmere-otter-pups",
    "published": "2026-11-24",
    "source": "Quillmere Gazette",
}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("NEWSRAG_")}
    return dict(env, PYTHONPATH=str(REPO))


def _call(url: str, body: dict | None = None) -> tuple[int, dict]:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=60) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


def _wait_until_up(base: str, server: subprocess.Popen, seconds: float = 600) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise AssertionError(f"the server exited: {server.communicate()[1][-2000:]}")
        try:
            if _call(base + "/api/health")[1].get("articles"):
                return
        except OSError:
            pass
        time.sleep(1)
    raise AssertionError("the server did not come up")


@pytest.mark.slow
def test_a_running_server_answers_from_an_ingest_in_another_process(tmp_path: Path) -> None:
    data, port = tmp_path / "index", _free_port()
    base = f"http://127.0.0.1:{port}"
    cli = [sys.executable, "-m", "ui.cli"]
    ingest_demo = subprocess.run([*cli, "ingest", "--no-progress", "--data-dir", str(data),
                                  str(DEMO)], cwd=REPO, env=_env(), capture_output=True,
                                 text=True, timeout=900, check=False)
    assert ingest_demo.returncode == 0, ingest_demo.stderr
    server = subprocess.Popen([*cli, "serve", "--data-dir", str(data), "--port", str(port)],
                              cwd=REPO, env=_env(), stdout=subprocess.DEVNULL,
                              stderr=subprocess.PIPE, text=True)
    try:
        _wait_until_up(base, server)
        # a first answer loads the vector index into the server
        status, first = _call(base + "/api/ask", {
            "question": "Who was appointed to mediate the Port Calder transit strike?",
            "as_of": "2026-11-24"})
        assert status == 200 and first["citations"], first
        page = tmp_path / "mine" / "otters.jsonl"
        page.parent.mkdir()
        page.write_text(json.dumps(ARTICLE) + "\n")
        added = subprocess.run([*cli, "ingest", "--no-progress", "--data-dir", str(data),
                                str(page.parent)], cwd=REPO, env=_env(), capture_output=True,
                               text=True, timeout=600, check=False)
        assert added.returncode == 0, added.stderr
        status, answer = _call(base + "/api/ask", {
            "question": "Who rescued the otter pups at the Quillmere lighthouse?",
            "as_of": "2026-11-25"})
        assert status == 200, answer
        assert ARTICLE["url"] in {c["url"] for c in answer["citations"]}, answer
        assert "Oakhollow" in answer["answer"], answer
    finally:
        server.terminate()
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
