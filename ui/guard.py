"""What reaches the app: the client behind trusted proxies, allowed origins, the API key or the
chat's session, body sizes, rate limits, and only the Gradio routes the chat page uses."""
from __future__ import annotations

import hashlib
import hmac
import html
import ipaddress
import json
import logging
import math
import re
import threading
import time
from collections import deque
from collections.abc import Collection, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from starlette.datastructures import Headers
from starlette.requests import cookie_parser
from starlette.responses import HTMLResponse, JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from rag.settings import Settings

log = logging.getLogger("newsrag.server")

STATIC = Path(__file__).resolve().parent / "static"
SESSION_COOKIE = "newsrag_chat"
SESSION_SECONDS = 12 * 3600
PROXIED = "newsrag.proxied"  # set in the ASGI scope when a trusted proxy named the client

# The Gradio routes the chat page calls (seen from Chromium: page, assets, queue, heartbeat).
# Every other route Gradio mounts (upload, file=, proxy=, call/, run/, api/, stream/, mcp,
# component_server, monitoring, vibe-*, ...) answers 404, whoever asks.
CHAT_ROUTES = frozenset({
    "/", "/config", "/theme.css", "/favicon.ico", "/manifest.json", "/robots.txt",
    "/gradio_api/queue/join", "/gradio_api/queue/data", "/gradio_api/cancel",
    "/gradio_api/reset", "/gradio_api/startup-events", "/gradio_api/theme.css"})
CHAT_PREFIXES = ("/assets/", "/static/", "/svelte/", "/gradio_api/heartbeat/", "/pwa_icon")


# --- rate limit and body size --------------------------------------------------------------
class RateLimiter:
    """A sliding one-minute window per client, kept in this process only."""

    def __init__(self, per_minute: int, window: float = 60.0):
        self.per_minute, self.window = per_minute, window
        self._hits: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def hit(self, client: str) -> float | None:
        """Count a request; None if allowed, else the seconds until one is allowed again."""
        if self.per_minute <= 0:
            return None
        now = time.monotonic()
        with self._lock:
            hits = self._hits.setdefault(client, deque())
            while hits and hits[0] <= now - self.window:
                hits.popleft()
            if len(hits) >= self.per_minute:
                return max(0.1, hits[0] + self.window - now)
            hits.append(now)
            if len(self._hits) > 10_000:  # forget idle clients
                for k in [k for k, v in self._hits.items() if not v or v[-1] <= now - self.window]:
                    del self._hits[k]
            return None

    def message(self, retry: float) -> str:
        return (f"Too many requests: the limit is {self.per_minute} questions per minute per "
                f"client (counted per server process). Try again in {retry_seconds(retry)} s.")


def retry_seconds(retry: float) -> int:
    """Whole seconds to wait, rounded up (as Retry-After says): never "0 s"."""
    return max(1, math.ceil(retry))


class BodyLimit:
    """ASGI middleware: a request body over `limit` bytes gets a 413, on every route (over its
    own limit on the paths `limits` names: a pushed article is longer than a question)."""

    def __init__(self, app: ASGIApp, limit: int, limits: Mapping[str, int] | None = None):
        self.app, self.default, self.limits = app, limit, dict(limits or {})

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        limit = self.limits.get(scope["path"], self.default)
        length = Headers(scope=scope).get("content-length")
        if length is not None and length.isdigit() and int(length) > limit:
            return await self._reject(scope, receive, send, limit)
        seen, started, rejected = 0, False, False

        async def counting_receive() -> Message:
            nonlocal seen, rejected
            message = await receive()
            seen += len(message.get("body", b""))
            if seen > limit and not rejected:
                rejected = True
                if not started:
                    await self._reject(scope, receive, send, limit)
                return {"type": "http.disconnect"}  # the app stops reading; its reply is dropped
            return message

        async def guarded_send(message: Message) -> None:
            nonlocal started
            if rejected:
                return
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counting_receive, guarded_send)
        except Exception:
            if not rejected:
                raise

    async def _reject(self, scope: Scope, receive: Receive, send: Send, limit: int) -> None:
        detail = f"The request body is larger than {limit} bytes."
        body: dict[str, Any] = {"detail": detail}
        if scope["path"].startswith("/v1/"):  # the OpenAI-compatible door: OpenAI's shape
            body = {"error": {"message": detail, "type": "invalid_request_error",
                              "param": None, "code": "request_too_large"}}
        await JSONResponse(body, status_code=413)(scope, receive, send)


# --- who is asking, from where ---------------------------------------------------------------
def presented_key(headers: Mapping[str, str]) -> str | None:
    auth = headers.get("authorization", "")
    if auth.lower().startswith("bearer "):
        return auth[7:].strip()
    return headers.get("x-api-key")


def key_matches(presented: str | None, key: str) -> bool:
    return hmac.compare_digest((presented or "").encode("utf-8", "replace"), key.encode())


def origin_allowed(origin: str, headers: Mapping[str, str], allowed: Collection[str],
                   proxied: bool) -> bool:
    """An allowed origin, or the page calling is served by this server (X-Forwarded-Host is
    believed only from a trusted proxy)."""
    if origin in allowed or "*" in allowed:
        return True
    hosts = {headers.get("host", "").lower()}
    if proxied:
        hosts.add(headers.get("x-forwarded-host", "").split(",")[0].strip().lower())
    return urlsplit(origin).netloc.lower() in hosts - {""}


def origin_message(origin: str) -> str:
    return (f"Origin {origin} is not allowed: add it to NEWSRAG_CORS_ORIGINS (comma-separated) "
            "on the server.")


_REFUSED: set[str] = set()  # origins already logged (bounded: a scan must not fill the log)


def refused_origin(origin: str) -> str:
    """Log, once per origin, which origin to allow for a site that embeds the widget; the
    message for the reply."""
    shown = json_safe(origin[:200])
    if shown not in _REFUSED and len(_REFUSED) < 1000:
        _REFUSED.add(shown)
        log.warning("refused a request from origin %s: to let that site use the widget or the "
                    "API, add it to NEWSRAG_CORS_ORIGINS (comma-separated)", shown)
    return origin_message(shown)


def forwarded_client(scope: Scope, proxies: list[Any]) -> bool:
    """Take the client's address (and scheme) from a trusted proxy's X-Forwarded-For (and
    -Proto), in place; True if it did. The nearest address not itself a proxy is the client."""
    peer = (scope.get("client") or ("", 0))[0]
    if not proxies or not _within(peer, proxies):
        return False
    headers = Headers(scope=scope)
    chain = [a.strip() for a in headers.get("x-forwarded-for", "").split(",") if a.strip()]
    if chain:
        client = next((a for a in reversed(chain) if not _within(a, proxies)), chain[0])
        scope["client"] = (client, 0)
    proto = headers.get("x-forwarded-proto", "").split(",")[0].strip().lower()
    if proto in ("http", "https"):
        scope["scheme"] = {"http": "ws", "https": "wss"}[proto] if scope["type"] == (
            "websocket") else proto
    scope[PROXIED] = True
    return True


def _within(address: str, networks: list[Any]) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in n for n in networks)


# --- the chat's session --------------------------------------------------------------------
def new_session(key: str, now: float | None = None) -> str:
    """A cookie value: its expiry and an HMAC of it keyed with the API key."""
    expires = int((now if now is not None else time.time()) + SESSION_SECONDS)
    return f"{expires}.{_signature(key, expires)}"


def session_valid(key: str, value: str | None, now: float | None = None) -> bool:
    expires, _, signature = (value or "").partition(".")
    if not expires.isdigit() or int(expires) < (now if now is not None else time.time()):
        return False
    return hmac.compare_digest(signature, _signature(key, int(expires)))


def _signature(key: str, expires: int) -> str:
    message = f"newsrag-chat-session:{expires}".encode()
    return hmac.new(key.encode(), message, hashlib.sha256).hexdigest()


def login_page(root_path: str = "", message: str = "") -> HTMLResponse:
    """The key prompt the chat shows first (a 401: the chat itself needs the key)."""
    page = (STATIC / "login.html").read_text("utf-8")
    note = f'<p class="note">{html.escape(message)}</p>' if message else ""
    page = page.replace("<!--message-->", note).replace(
        "<!--action-->", html.escape(f"{root_path}/chat/login"))
    return HTMLResponse(page, status_code=401, headers={
        "Cache-Control": "no-store",
        "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; "
                                   "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"})


# --- JSON that always encodes ----------------------------------------------------------------
def json_safe(value: Any) -> Any:
    """Error content any JSON encoder takes: lone surrogates replaced, NaN and inf as text."""
    if isinstance(value, str):
        return value.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "replace")
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    if isinstance(value, Mapping):
        return {str(json_safe(k)): json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set)):
        return [json_safe(v) for v in value]
    if value is None or isinstance(value, (bool, int, float)):
        return value
    return json_safe(str(value))


def strict_json(body: bytes) -> Any:
    """The body as JSON, strictly: UTF-8, no NaN or Infinity, no lone surrogates; a ValueError
    says what is wrong."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as e:
        raise ValueError(f"body: not UTF-8 text (byte {e.start})") from None

    def constant(name: str) -> Any:
        raise ValueError(f"{name} is not a JSON number")

    try:
        data = json.loads(text, parse_constant=constant)
    except RecursionError:
        raise ValueError("body: not valid JSON (nested too deeply)") from None
    except ValueError as e:
        raise ValueError(f"body: not valid JSON ({e})") from None
    stack = [data]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            try:
                item.encode("utf-8")
            except UnicodeEncodeError:
                raise ValueError("body: a string holds a lone surrogate (\\ud800-\\udfff), "
                                 "not a character") from None
        elif isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return data


# --- the guard -------------------------------------------------------------------------------
class Guard:
    """ASGI middleware in front of everything. The app's own routes (`own`: the JSON API, the
    widget, the login) pass through to their own checks; of the rest (Gradio's), only the
    chat's routes are served, origin-checked, with strict JSON bodies, and, with a key and
    chat_auth "key", only to a request carrying the key or a session cookie."""

    def __init__(self, app: ASGIApp, settings: Settings, own: Collection[str],
                 fn_indices: Collection[int] = ()):
        self.app, self.own, self.fn_indices = app, frozenset(own), frozenset(fn_indices)
        # a route with a path parameter (/api/articles/{id}) is its own by its pattern
        self.own_patterns = [re.compile(re.sub(r"\\\{[^}]*\\\}", "[^/]+", re.escape(p)))
                             for p in own if "{" in p]
        self.key = settings.api_key if settings.chat_auth == "key" else None
        self.allowed = frozenset(settings.cors_origins)
        self.proxies = [ipaddress.ip_network(p, strict=False) for p in settings.trusted_proxies]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            return await self.app(scope, receive, send)
        proxied = forwarded_client(scope, self.proxies)
        path = scope["path"]
        if path in self.own or any(p.fullmatch(path) for p in self.own_patterns):
            return await self.app(scope, receive, send)
        if path not in CHAT_ROUTES and not path.startswith(CHAT_PREFIXES):
            return await self._refuse(scope, receive, send, 404, "Not Found")
        headers = Headers(scope=scope)
        origin = headers.get("origin")
        if origin and not origin_allowed(origin, headers, self.allowed, proxied):
            return await self._refuse(scope, receive, send, 403, refused_origin(origin))
        if self.key and not self._signed_in(headers):
            if path == "/" and scope.get("method") in ("GET", "HEAD"):
                return await login_page(scope.get("root_path", ""))(scope, receive, send)
            return await self._refuse(scope, receive, send, 401, (
                "The chat needs the API key: open the chat page and enter it, or send it in "
                "the X-API-Key header."))
        if scope["type"] == "http" and scope["method"] == "POST":
            return await self._checked_body(scope, receive, send)
        await self.app(scope, receive, _json_5xx(send))

    def _signed_in(self, headers: Headers) -> bool:
        assert self.key is not None
        if key_matches(presented_key(headers), self.key):
            return True
        cookies = cookie_parser(headers.get("cookie", ""))
        return session_valid(self.key, cookies.get(SESSION_COOKIE))

    async def _checked_body(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Read the (size-limited) body, refuse what is not strict JSON, then replay it."""
        chunks, more = [], True
        while more:
            message = await receive()
            if message["type"] == "http.disconnect":
                return  # the client left, or BodyLimit refused the body and answered
            chunks.append(message.get("body", b""))
            more = message.get("more_body", False)
        body = b"".join(chunks)
        try:
            data = strict_json(body) if body else None
        except ValueError as e:
            return await self._refuse(scope, receive, send, 422, str(e))
        if scope["path"] == "/gradio_api/queue/join" and (problem := self._fn_problem(data)):
            return await self._refuse(scope, receive, send, 422, problem)
        await self.app(scope, replay_body(body, receive), _json_5xx(send))

    def _fn_problem(self, data: Any) -> str | None:
        fn = data.get("fn_index") if isinstance(data, dict) else None
        if fn is not None and (isinstance(fn, bool) or fn not in self.fn_indices):
            valid = ", ".join(map(str, sorted(self.fn_indices)))
            return f"fn_index: {json.dumps(fn)[:20]} is not one of the chat's functions ({valid})"
        return None

    async def _refuse(self, scope: Scope, receive: Receive, send: Send, status: int,
                      detail: str) -> None:
        if scope["type"] == "websocket":
            return await send({"type": "websocket.close", "code": 1008})
        headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
        await JSONResponse({"detail": detail}, status_code=status, headers=headers)(
            scope, receive, send)


def _json_5xx(send: Send) -> Send:
    """Gradio's own 500s are plain text: send a JSON body in their place."""
    replaced = False

    async def wrapped(message: Message) -> None:
        nonlocal replaced
        if message["type"] == "http.response.start" and message["status"] >= 500:
            replaced = True
            body = json.dumps({"detail": "Internal error while serving the chat."}).encode()
            await send({"type": "http.response.start", "status": message["status"],
                        "headers": [(b"content-type", b"application/json"),
                                    (b"content-length", str(len(body)).encode())]})
            await send({"type": "http.response.body", "body": body})
        elif not replaced:
            await send(message)

    return wrapped


def replay_body(body: bytes, receive: Receive) -> Receive:
    """A `receive` that hands the app a body already read (to check it), then the rest."""
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay
