"""A newcomer's first hour, checked end to end: a clean clone, `make run`, a question typed in the
chat (headless Chromium), a page of one's own ingested and asked about (CLI and chat).

    .venv/bin/python -m harness.newcomer                 # clones this checkout's last commit
    .venv/bin/python -m harness.newcomer --repo URL --keep

Prints a transcript (docs/ui.md holds one) and exits 1 when a check fails. The clone builds its
own .venv with `make run` (the registries only), so the first run takes minutes.
"""
from __future__ import annotations

import argparse
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

REPO = Path(__file__).resolve().parent.parent
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
DEMO_QUESTION = "Who was appointed to mediate the Port Calder transit strike?"
OWN_PAGE = Path("tests") / "fixtures" / "plain_pages" / "kelso-library.html"
OWN_QUESTION = "How much did the Kelso library extension cost?"


class Transcript:
    """Timed lines, and the checks that failed."""

    def __init__(self) -> None:
        self.start, self.failed = time.monotonic(), []

    def say(self, text: str) -> None:
        print(f"[{time.monotonic() - self.start:6.1f} s] {text}", flush=True)

    def block(self, text: str) -> None:
        for line in text.rstrip().splitlines():
            print(f"           | {line}", flush=True)

    def check(self, ok: bool, what: str) -> None:
        self.say(("ok: " if ok else "FAILED: ") + what)
        if not ok:
            self.failed.append(what)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def fresh_env(**extra: str) -> dict[str, str]:
    """A newcomer's environment: none of this shell's newsrag settings or virtualenv."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("NEWSRAG_", "VIRTUAL_ENV", "PYTHON"))}
    return env | extra


def make_run(clone: Path, port: int, log: Path) -> subprocess.Popen:
    """`make run` as a newcomer types it, on a port of its own (NEWSRAG_PORT)."""
    return subprocess.Popen(["make", "run"], cwd=clone, env=fresh_env(NEWSRAG_PORT=str(port)),
                            stdout=log.open("w"), stderr=subprocess.STDOUT,
                            start_new_session=True)


def wait_ready(url: str, proc: subprocess.Popen, log: Path, timeout: float) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"`make run` exited ({proc.returncode}):\n{log.read_text()[-3000:]}")
        try:
            health = httpx.get(url + "/api/health", timeout=2).json()
            if health.get("articles"):
                return health
        except (httpx.HTTPError, ValueError):
            pass
        time.sleep(1)
    raise SystemExit(f"the chat did not come up within {timeout:.0f} s:\n{log.read_text()[-3000:]}")


def stop(proc: subprocess.Popen) -> None:
    """Ctrl-C, as a newcomer stops `make run` (the whole process group: make and the server)."""
    os.killpg(proc.pid, signal.SIGINT)
    try:
        proc.wait(30)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(10)


def chat_ask(browser: Any, url: str, question: str) -> dict[str, Any]:
    """Type a question in the chat and wait for its sources: the answer, the as-of line under
    the box, the cards' heads, the seconds it took."""
    page = browser.new_context(viewport={"width": 1280, "height": 900}).new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(url + "/")
    page.wait_for_selector("#nr-question textarea", timeout=60_000)
    t = time.monotonic()
    page.fill("#nr-question textarea", question)
    page.click("#nr-ask")
    page.wait_for_selector("#nr-sources [data-turn='1']", timeout=120_000)
    seconds = time.monotonic() - t
    out = {"seconds": seconds, "errors": errors,
           "answer": page.locator("#nr-chat [data-testid=bot]").last.inner_text(),
           "note": page.locator("#nr-asof-note").inner_text(),
           "cards": [page.locator("#nr-sources .nr-card .nr-head").nth(i).inner_text()
                     + " — " + page.locator("#nr-sources .nr-card .nr-meta").nth(i).inner_text()
                     for i in range(page.locator("#nr-sources .nr-card").count())]}
    page.context.close()
    return out


def run(clone: Path, say: Transcript, browser: Any, work: Path) -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    log = work / "make-run.log"
    say.say(f"NEWSRAG_PORT={port} make run   (in the clean clone)")
    proc = make_run(clone, port, log)
    try:
        health = wait_ready(url, proc, log, timeout=1800)
        say.say(f"the chat is up at {url}/: {health['articles']} articles, {health['chunks']} "
                "chunks")
        said = [line for line in log.read_text().splitlines()
                if line.startswith(("The index", "ingested", "newsrag: chat"))]
        say.block("\n".join(said))
        say.check(any(line.startswith("ingested 36 articles") for line in said),
                  "make run ingested the 36 demo articles")
        got = chat_ask(browser, url, DEMO_QUESTION)
        say.say(f"typed in the chat: {DEMO_QUESTION!r} -> answered in {got['seconds']:.1f} s")
        say.block(f"under the box: {got['note']}\nanswer: {got['answer']}\ncards:\n  "
                  + "\n  ".join(got["cards"]))
        say.check("predates" in got["note"] and "(today)" in got["note"],
                  "the line under the box says the day used and that the demo news predates it")
        say.check(re.search(r"As of \d+ \w+ \d{4}\.", got["answer"]) is not None,
                  "the answer says its as-of day")
        heads = [c.split(" — ")[0].split("]", 1)[-1] for c in got["cards"]]
        say.check(bool(heads) and "[1]" in got["answer"], "a cited answer with its cards")
        say.check(len(heads) == len(set(heads)), "one card per article")
        say.check(not got["errors"], "no script errors in the page")
    finally:
        stop(proc)
    say.say("Ctrl-C: the server stopped")

    mine = work / "my-pages"
    mine.mkdir(exist_ok=True)
    shutil.copy(clone / OWN_PAGE, mine / "library.html")
    newsrag = clone / ".venv" / "bin" / "newsrag"
    done = subprocess.run([str(newsrag), "ingest", str(mine), "--no-progress"], cwd=clone,
                          capture_output=True, text=True, check=False, env=fresh_env())
    say.say(f"newsrag ingest {mine}   (a plain page: no og: tags) -> exit {done.returncode}")
    say.block(done.stdout + done.stderr)
    say.check(done.returncode == 0 and "ingested 1" in done.stdout, "the page was ingested")
    t = time.monotonic()
    done = subprocess.run([str(newsrag), "ask", OWN_QUESTION], cwd=clone, capture_output=True,
                          text=True, check=False, env=fresh_env())
    seconds = time.monotonic() - t
    say.say(f"newsrag ask {OWN_QUESTION!r} -> exit {done.returncode} in {seconds:.2f} s (cold)")
    say.block(done.stdout + done.stderr)
    say.check("1.4 million" in done.stdout and "Kelso Weekly Gazette" in done.stdout
              and "2026-11-17" in done.stdout, "the answer cites the page, its outlet and date")

    proc = make_run(clone, port, log)
    try:
        wait_ready(url, proc, log, timeout=600)
        got = chat_ask(browser, url, OWN_QUESTION)
        say.say(f"make run again; typed in the chat: {OWN_QUESTION!r} -> answered in "
                f"{got['seconds']:.1f} s")
        say.block(f"answer: {got['answer']}\ncards:\n  " + "\n  ".join(got["cards"]))
        say.check("1.4 million" in got["answer"] and any(
            "Kelso Weekly Gazette" in c and "2026-11-17" in c for c in got["cards"]),
            "the chat answers from the page, with its outlet and date on the card")
    finally:
        stop(proc)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m harness.newcomer", description=__doc__.split(
        "\n\n")[0])
    p.add_argument("--repo", default=str(REPO), help="what to clone (default: this checkout)")
    p.add_argument("--keep", action="store_true", help="keep the clone and its venv")
    args = p.parse_args(argv)
    if not Path(CHROMIUM).exists():
        print(f"{CHROMIUM} is missing: make browser", file=sys.stderr)
        return 2
    from playwright.sync_api import sync_playwright

    work = Path(tempfile.mkdtemp(prefix="newsrag-newcomer-"))
    clone = work / "newsrag"
    say = Transcript()
    try:
        subprocess.run(["git", "clone", "--quiet", args.repo, str(clone)], check=True)
        head = subprocess.run(["git", "log", "-1", "--format=%h %cs"], cwd=clone, check=True,
                              capture_output=True, text=True).stdout.strip()
        say.say(f"git clone {args.repo} -> {clone} (commit {head})")
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            try:
                run(clone, say, browser, work)
            finally:
                browser.close()
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    say.say(f"{'all checks passed' if not say.failed else 'FAILED: ' + '; '.join(say.failed)}")
    return 1 if say.failed else 0


if __name__ == "__main__":
    sys.exit(main())
