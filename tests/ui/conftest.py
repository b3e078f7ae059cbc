"""UI fixtures: a real demo index (plus the hostile article), the app on uvicorn, Chromium;
helpers that call the chat's Gradio queue and read strict JSON."""
from __future__ import annotations

import json
import os
import socket
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Self

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

import httpx
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from rag.settings import Settings

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]


@pytest.fixture(scope="session")
def index_settings(demo_settings: Settings) -> Settings:
    """The session's real index (tests/conftest.py): the demo corpus plus tests/fixtures/hostile."""
    return demo_settings


@pytest.fixture(scope="session")
def news_rag(demo_rag: Any) -> Any:
    """The real pipeline over that index, opened once."""
    return demo_rag


@pytest.fixture(scope="session")
def make_app(index_settings: Settings, news_rag: Any) -> Callable[..., FastAPI]:
    """create_app over the shared pipeline, with settings overrides (chat=False skips Gradio)."""
    from ui.server import create_app

    def make(chat: bool = False, **overrides: Any) -> FastAPI:
        return create_app(index_settings.replace(**overrides), rag=news_rag, chat=chat)

    return make


@pytest.fixture(scope="session")
def client(make_app: Callable[..., FastAPI]) -> Iterator[TestClient]:
    """The full app (Gradio mounted), default settings, no rate limit."""
    with TestClient(make_app(chat=True, rate_limit_per_minute=0)) as c:
        yield c


# --- talking to the chat's Gradio routes as a client would --------------------------------
MEDIATOR = "Who was appointed to mediate the Port Calder transit strike?"


def respond_data(question: str = MEDIATOR, as_of: str = "2026-11-24") -> list[Any]:
    """The chat's `respond` inputs: question, chat, pairs, turns (each answer's sources),
    outlets, since, until, as_of, and the as-of a demo question pins."""
    return [question, [], [], [], [], "", "", as_of, ""]


def respond_index(c: httpx.Client, headers: dict[str, str] | None = None) -> int:
    """The fn_index of the chat's `respond`, from the running app's config."""
    deps = c.get("/config", headers=headers or {}).json()["dependencies"]
    return next(d["id"] for d in deps if d["api_name"] == "respond")


def queue_result(c: httpx.Client, fn_index: int, data: list[Any], headers: dict[str, str],
                 session: str = "probe") -> tuple[int, str]:
    """Join the queue, then read the session's event stream to the end: (join status, text).
    `c` is a TestClient or an httpx.Client on a live server."""
    joined = c.post("/gradio_api/queue/join", headers=headers,
                    json={"data": data, "fn_index": fn_index, "session_hash": session})
    if joined.status_code != 200:
        return joined.status_code, joined.text
    text = []
    with c.stream("GET", f"/gradio_api/queue/data?session_hash={session}",
                  headers=headers) as r:
        for line in r.iter_lines():
            text.append(line)
            if '"msg":"process_completed"' in line.replace(" ", "") or "close_stream" in line:
                break
    return 200, "\n".join(text)


def strict_json(r: httpx.Response) -> Any:
    """The body parsed as strict JSON (no NaN or Infinity)."""
    def constant(name: str) -> Any:
        raise ValueError(name)

    return json.loads(r.content.decode("utf-8"), parse_constant=constant)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class LiveServer:
    """A real uvicorn serving an app on a loopback port, in a thread, started as `newsrag serve`
    starts it (proxy headers left to the app)."""

    def __init__(self, app: FastAPI, port: int):
        import uvicorn

        self.port, self.url = port, f"http://127.0.0.1:{port}"
        self.server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port,
                                                    log_level="warning", lifespan="on",
                                                    proxy_headers=False))
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> Self:
        self.thread.start()
        deadline = time.monotonic() + 60
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError(f"uvicorn did not start on {self.url}")
            time.sleep(0.05)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(15)


class StaticPages:
    """Another origin: serves given HTML pages by path (the host page of the widget)."""

    def __init__(self, port: int):
        self.port, self.url, self.pages = port, f"http://127.0.0.1:{port}", {}
        pages = self.pages

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                body = pages.get(self.path.split("?")[0])
                self.send_response(200 if body else 404)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.end_headers()
                self.wfile.write((body or "not found").encode())

            def log_message(self, *args: object) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self) -> Self:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture(scope="session")
def host_site() -> Iterator[StaticPages]:
    with StaticPages(free_port()) as site:
        yield site


@pytest.fixture(scope="session")
def live(make_app: Callable[..., FastAPI], host_site: StaticPages) -> Iterator[LiveServer]:
    """The full app on uvicorn; the host site's origin is allowed (CORS)."""
    app = make_app(chat=True, cors_origins=(host_site.url,), rate_limit_per_minute=0)
    with LiveServer(app, free_port()) as server:
        yield server


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    if not Path(CHROMIUM).exists():
        pytest.skip(f"{CHROMIUM} is missing: apt-get install -y chromium (make browser)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield b
        b.close()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    pg = context.new_page()
    pg.errors = []
    pg.on("pageerror", lambda e: pg.errors.append(str(e)))
    yield pg
    context.close()


@pytest.fixture(scope="session")
def shots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Where screenshots go: $NEWSRAG_SCREENSHOTS (e.g. docs/img) or a temp folder."""
    target = os.environ.get("NEWSRAG_SCREENSHOTS")
    path = Path(target) if target else tmp_path_factory.mktemp("shots")
    path.mkdir(parents=True, exist_ok=True)
    return path
