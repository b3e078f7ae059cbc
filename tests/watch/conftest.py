"""A real HTTP server on loopback that serves feeds and pages we write, and logs every request."""
from __future__ import annotations

import gzip
import hashlib
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from email.utils import formatdate
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from xml.sax.saxutils import escape

import pytest

WORDS = ("council", "harbour", "ferry", "budget", "strike", "vote", "mayor", "river", "bridge",
         "school", "clinic", "tram", "orchard", "festival", "library", "drought", "wildfire",
         "pier", "museum", "union", "wages", "rents", "flood")


@dataclass
class Route:
    body: bytes | Callable[[], bytes] = b""
    status: int = 200
    ctype: str = "text/html; charset=utf-8"
    headers: dict[str, str] = field(default_factory=dict)
    etag: bool = True  # answer If-None-Match with 304
    delay: float = 0.0  # seconds before answering
    statuses: list[int] = field(default_factory=list)  # served first, one per request
    gzip: bool = False


class Site:
    """Routes by path; `requests` lists (path, headers) as they came."""

    def __init__(self) -> None:
        self.routes: dict[str, Route] = {}
        self.requests: list[tuple[str, dict[str, str]]] = []
        self.lock = threading.Lock()
        site = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args) -> None:
                pass

            def do_GET(self) -> None:
                site.handle(self)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.05,),
                                       daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def add(self, path: str, body: str | bytes | Callable[[], bytes] = b"", **kw) -> Route:
        if isinstance(body, str):
            body = body.encode("utf-8")
        route = Route(body, **kw)
        self.routes[path] = route
        return route

    def hits(self, path: str) -> list[dict[str, str]]:
        with self.lock:
            return [h for p, h in self.requests if p == path]

    def handle(self, req: BaseHTTPRequestHandler) -> None:
        path = req.path
        with self.lock:
            self.requests.append((path, {k.lower(): v for k, v in req.headers.items()}))
        route = self.routes.get(path)
        if route is None:
            return self._send(req, 404, b"not here", "text/plain", {})
        if route.delay:
            time.sleep(route.delay)
        status = route.statuses.pop(0) if route.statuses else route.status
        body = route.body() if callable(route.body) else route.body
        headers = dict(route.headers)
        if status == 200 and route.etag:
            tag = '"' + hashlib.sha1(body).hexdigest()[:12] + '"'
            headers["ETag"] = tag
            if req.headers.get("If-None-Match") == tag:
                return self._send(req, 304, b"", route.ctype, headers)
        if route.gzip:
            body = gzip.compress(body)
            headers["Content-Encoding"] = "gzip"
        self._send(req, status, body if status != 304 else b"", route.ctype, headers)

    @staticmethod
    def _send(req, status: int, body: bytes, ctype: str, headers: dict[str, str]) -> None:
        try:
            req.send_response(status)
            req.send_header("Content-Type", ctype)
            req.send_header("Content-Length", str(len(body)))
            for k, v in headers.items():
                req.send_header(k, v)
            req.end_headers()
            req.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):
            pass


@pytest.fixture
def site():
    s = Site()
    yield s
    s.close()


def story(n: int, topic: str = "", words: int = 140) -> str:
    """A made-up news story of about `words` words, different for each n."""
    sentences = []
    for i in range(words // 14):
        w = [WORDS[(n * 7 + i * 3 + k) % len(WORDS)] for k in range(6)]
        sentences.append(f"The {w[0]} committee in Alderford {n} discussed the {w[1]} and the "
                         f"{w[2]} plan on day {i}, while residents asked about {w[3]} costs.")
    lead = f"{topic} " if topic else ""
    return lead + " ".join(sentences)


def article_page(title: str, text: str, *, published: str | None = None,
                 url: str | None = None, site_name: str | None = "Alderford Courier") -> str:
    meta = []
    if published:
        meta.append(f'<meta property="article:published_time" content="{published}">')
    if url:
        meta.append(f'<meta property="og:url" content="{escape(url)}">')
        meta.append(f'<link rel="canonical" href="{escape(url)}">')
    if site_name:
        meta.append(f'<meta property="og:site_name" content="{escape(site_name)}">')
    paras = "".join(f"<p>{escape(p)}</p>" for p in _paragraphs(text))
    return (f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{escape(title)}</title>"
            f"{''.join(meta)}</head><body><nav>Home | News | Sport</nav><article>"
            f"<h1>{escape(title)}</h1>{paras}</article><footer>© Alderford Courier</footer>"
            "</body></html>")


def _paragraphs(text: str, per: int = 3) -> list[str]:
    parts = text.replace(". ", ".\n").split("\n")
    return [" ".join(parts[i:i + per]) for i in range(0, len(parts), per)]


def rss(items: list[dict], title: str = "Alderford Courier – News") -> str:
    out = []
    for it in items:
        desc = f"<description>{escape(it['summary'])}</description>" if it.get("summary") else ""
        date = f"<pubDate>{it['pubdate']}</pubDate>" if it.get("pubdate") else ""
        out.append(f"<item><title>{escape(it['title'])}</title><link>{escape(it['link'])}</link>"
                   f"<guid>{escape(it.get('guid', it['link']))}</guid>{date}{desc}</item>")
    return (f'<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel>'
            f"<title>{escape(title)}</title><link>http://example.invalid/</link>"
            f"{''.join(out)}</channel></rss>")


def rfc822(ts: float) -> str:
    return formatdate(ts, usegmt=True)
