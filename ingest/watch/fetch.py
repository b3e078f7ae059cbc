"""Polite HTTP for the watcher: robots.txt, one or two requests per host, validators, limits."""
from __future__ import annotations

import ipaddress
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib.metadata import PackageNotFoundError, version
from urllib.parse import urljoin, urlsplit
from urllib.robotparser import RobotFileParser

import httpx

from ingest.loaders.common import SkipInput, decode_bytes

MAX_REDIRECTS = 5
ROBOTS_SECONDS = 3600.0  # a host's robots.txt is read again after this long
ROBOTS_MAX_BYTES = 512_000
RETRY_STATUSES = {429, 500, 502, 503, 504}


def user_agent() -> str:
    try:
        ours = version("newsrag")
    except PackageNotFoundError:
        ours = "0"
    return f"newsrag/{ours} (news question answering; follows feeds it is given)"


@dataclass
class FetchResult:
    url: str  # the final URL, after redirects
    status: int | None = None  # None: no answer (see error)
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""
    # None, or why there is no usable body: "timeout", "connection", "too large", "refused"
    # (scheme, private address, robots.txt), "redirects"
    error: str | None = None
    detail: str = ""
    attempts: int = 1

    @property
    def ok(self) -> bool:
        return self.error is None and self.status == 200

    @property
    def not_modified(self) -> bool:
        return self.error is None and self.status == 304

    def text(self) -> str:
        """The body decoded: the charset of the Content-Type header, else the document's own
        (a BOM, an XML or meta declaration), else UTF-8 or cp1252 (ingest.loaders.common)."""
        charset = _charset(self.headers.get("content-type", ""))
        if charset:
            try:
                return self.body.decode(charset)
            except (LookupError, UnicodeDecodeError):
                pass
        return decode_bytes(self.body)

    def describe(self) -> str:
        if self.error:
            return f"{self.error}: {self.detail}" if self.detail else self.error
        return f"HTTP {self.status}"


def _charset(content_type: str) -> str | None:
    for part in content_type.split(";")[1:]:
        key, _, value = part.partition("=")
        if key.strip().lower() == "charset" and value.strip():
            return value.strip().strip("\"'")
    return None


class Refused(Exception):
    """A URL newsrag will not fetch: its scheme, or a private address on another host."""


def private_address(host: str) -> str | None:
    """The loopback, private, link-local or otherwise non-public address `host` names, if any."""
    try:
        infos = socket.getaddrinfo(host, None, proto=socket.IPPROTO_TCP)
    except (socket.gaierror, UnicodeError, ValueError):
        return None  # unresolvable: the request itself will fail as a connection error
    for info in infos:
        addr = ipaddress.ip_address(info[4][0].split("%")[0])
        if isinstance(addr, ipaddress.IPv6Address) and addr.ipv4_mapped:
            addr = addr.ipv4_mapped
        if (addr.is_loopback or addr.is_private or addr.is_link_local or addr.is_reserved
                or addr.is_multicast or addr.is_unspecified):
            return str(addr)
    return None


def check_url(url: str, home: str | None, allow_private: bool) -> None:
    """Refuse what a feed must not make newsrag read: other schemes than http(s) (file:, ftp:,
    gopher:), and hosts other than `home` on non-public addresses (server-side request forgery)."""
    parts = urlsplit(url)
    if parts.scheme.lower() not in ("http", "https"):
        raise Refused(f"scheme {parts.scheme or '(none)'!r} refused: only http and https")
    host = (parts.hostname or "").lower()
    if not host:
        raise Refused("no host in the URL")
    if allow_private or host == (home or "").lower():
        return
    addr = private_address(host)
    if addr:
        raise Refused(f"{host} is on a non-public address ({addr}) and not the feed's own host "
                      "(set watch_allow_private to allow it)")


class Fetcher:
    """GET with conditional headers, retries, a size cap and a total deadline; thread-safe."""

    def __init__(self, *, timeout: float = 20.0, max_bytes: int = 10_000_000,
                 delay: float = 1.0, per_host: int = 1, retries: int = 3, backoff: float = 0.5,
                 allow_private: bool = False, stop: threading.Event | None = None):
        self.timeout, self.max_bytes, self.delay = timeout, max_bytes, delay
        self.retries, self.backoff, self.allow_private = retries, backoff, allow_private
        self.per_host = per_host
        self.stop = stop or threading.Event()
        self.agent = user_agent()
        # no proxies from the environment: the address checks must see where requests go
        self.client = httpx.Client(
            timeout=httpx.Timeout(timeout, connect=min(timeout, 10.0)), follow_redirects=False,
            trust_env=False, headers={"User-Agent": self.agent, "Accept-Encoding": "gzip, deflate"},
            limits=httpx.Limits(max_connections=16, max_keepalive_connections=8))
        self._lock = threading.Lock()
        self._slots: dict[str, threading.Semaphore] = {}
        self._last: dict[str, float] = {}
        self._robots: dict[str, tuple[float, RobotFileParser | None, bool]] = {}
        self._robots_locks: dict[str, threading.Lock] = {}
        self.requests = 0

    @classmethod
    def from_settings(cls, settings, stop: threading.Event | None = None) -> Fetcher:
        return cls(timeout=settings.watch_timeout, max_bytes=settings.watch_max_bytes,
                   delay=settings.watch_delay, per_host=settings.watch_per_host,
                   retries=settings.watch_retries, backoff=settings.watch_backoff,
                   allow_private=settings.watch_allow_private, stop=stop)

    def close(self) -> None:
        self.client.close()

    # --- the public call -----------------------------------------------------------------
    def get(self, url: str, *, home: str | None = None, etag: str | None = None,
            last_modified: str | None = None, accept: str = "*/*") -> FetchResult:
        """Fetch `url`. `home` is the host whose addresses are trusted (a configured source's
        own, or the feed's for its items); every redirect hop is checked like the first."""
        home = home or (urlsplit(url).hostname or "").lower()
        headers = {"Accept": accept}
        if etag:
            headers["If-None-Match"] = etag
        if last_modified:
            headers["If-Modified-Since"] = last_modified
        attempt = 0
        while True:
            attempt += 1
            result = self._follow(url, home, headers)
            result.attempts = attempt
            retry = result.error in ("timeout", "connection") or result.status in RETRY_STATUSES
            if not retry or attempt > self.retries or self.stop.is_set():
                return result
            if self.stop.wait(self.backoff * 2 ** (attempt - 1)):
                return result

    def _follow(self, url: str, home: str | None, headers: dict[str, str]) -> FetchResult:
        for _ in range(MAX_REDIRECTS + 1):
            try:
                check_url(url, home, self.allow_private)
            except Refused as e:
                return FetchResult(url, error="refused", detail=str(e))
            blocked = self.robots_block(url)
            if blocked is not None:
                return blocked
            result = self._once(url, headers, self.max_bytes)
            location = result.headers.get("location")
            if result.status not in (301, 302, 303, 307, 308) or not location:
                return result
            url = urljoin(url, location.strip())
        return FetchResult(url, error="redirects", detail=f"more than {MAX_REDIRECTS} redirects")

    # --- one request ---------------------------------------------------------------------
    def _once(self, url: str, headers: dict[str, str], max_bytes: int) -> FetchResult:
        host = urlsplit(url).netloc.lower()
        with self._slot(host):
            self.requests += 1
            deadline = time.monotonic() + self.timeout * 2  # a slow trickle ends too
            try:
                with self.client.stream("GET", url, headers=headers) as r:
                    out = FetchResult(str(r.url), r.status_code,
                                      {k.lower(): v for k, v in r.headers.items()})
                    if r.status_code != 200:
                        return out
                    declared = r.headers.get("content-length", "")
                    if declared.isdigit() and int(declared) > max_bytes:
                        return _too_large(out, max_bytes, f"Content-Length {declared}")
                    body = bytearray()
                    for part in r.iter_bytes():
                        body += part
                        if len(body) > max_bytes:
                            return _too_large(out, max_bytes, "the body")
                        if time.monotonic() > deadline:
                            raise httpx.ReadTimeout("total time over the limit")
                    out.body = bytes(body)
                    return out
            except httpx.TimeoutException as e:
                return FetchResult(url, error="timeout",
                                   detail=f"no answer within {self.timeout:g} s ({e or 'timeout'})")
            except httpx.DecodingError as e:
                return FetchResult(url, error="connection", detail=f"bad compressed body: {e}")
            except (httpx.TransportError, httpx.InvalidURL) as e:
                return FetchResult(url, error="connection", detail=f"{type(e).__name__}: {e}")
            except UnicodeError as e:  # a host name IDNA refuses
                return FetchResult(url, error="refused", detail=f"bad host name: {e}")

    def _slot(self, host: str) -> _HostSlot:
        with self._lock:
            slot = self._slots.setdefault(host, threading.Semaphore(self.per_host))
        return _HostSlot(slot, lambda: self._wait_turn(host))

    def _wait_turn(self, host: str) -> None:
        """At most one request starts per `delay` seconds on a host."""
        while True:
            with self._lock:
                now = time.monotonic()
                start = self._last.get(host, -1e9) + self.delay
                if now >= start:
                    self._last[host] = now
                    return
            if self.stop.wait(start - now):
                return

    # --- robots.txt ----------------------------------------------------------------------
    def robots_block(self, url: str) -> FetchResult | None:
        """None when robots.txt lets newsrag fetch `url`, else why not (a refusal, or an
        unreachable robots.txt: a retryable error, as RFC 9309 says to stay away meanwhile)."""
        parts = urlsplit(url)
        if parts.path == "/robots.txt":
            return None
        root = f"{parts.scheme}://{parts.netloc}".lower()
        with self._lock:
            lock = self._robots_locks.setdefault(root, threading.Lock())
        with lock:  # one read of a host's robots.txt, however many threads ask
            cached = self._robots.get(root)
            if cached is None or time.monotonic() - cached[0] > ROBOTS_SECONDS:
                parser, allow_all, failed = self._read_robots(root)
                if failed is not None:  # not cached: asked again on the next request
                    return FetchResult(url, error=failed.error or "connection",
                                       detail=f"robots.txt: {failed.describe()}")
                cached = (time.monotonic(), parser, allow_all)
                self._robots[root] = cached
        _, parser, allow_all = cached
        allowed = allow_all if parser is None else parser.can_fetch("newsrag", url)
        return None if allowed else FetchResult(url, error="refused",
                                                detail="disallowed by robots.txt")

    def _read_robots(self, root: str) -> tuple[RobotFileParser | None, bool, FetchResult | None]:
        """RFC 9309: a 4xx means no rules; a 5xx or no answer means stay away for now."""
        result = self._once(root + "/robots.txt", {"Accept": "text/plain"}, ROBOTS_MAX_BYTES)
        if result.error == "too large":
            return None, True, None
        if result.error or result.status is None or result.status >= 500:
            return None, False, result
        if result.status != 200:  # 4xx, or a redirect (not followed): no rules
            return None, True, None
        try:
            text = result.text()
        except SkipInput:
            return None, True, None
        parser = RobotFileParser()
        parser.parse(text.splitlines())
        return parser, True, None


def _too_large(out: FetchResult, max_bytes: int, what: str) -> FetchResult:
    out.error, out.detail = "too large", f"{what} exceeds watch_max_bytes {max_bytes}"
    return out


class _HostSlot:
    def __init__(self, sem: threading.Semaphore, wait: Callable[[], None]):
        self.sem, self.wait = sem, wait

    def __enter__(self) -> None:
        self.sem.acquire()
        self.wait()

    def __exit__(self, *exc: object) -> None:
        self.sem.release()
