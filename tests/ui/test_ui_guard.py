"""The side doors, through the real app: Gradio's routes, uploads, the chat's session, origins,
body sizes and the client's address behind (or not behind) a trusted proxy."""
from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from starlette.routing import Mount

from tests.ui.conftest import (
    LiveServer,
    free_port,
    queue_result,
    respond_data,
    respond_index,
    strict_json,
)
from ui.guard import CHAT_PREFIXES, CHAT_ROUTES, SESSION_COOKIE, new_session

KEY = "s3cret"
WITH_KEY = {"X-API-Key": KEY}
MEDIATOR = "Who was appointed to mediate the Port Calder transit strike?"
ANSWER = "Judith Venn"


def gradio_routes(app: FastAPI) -> list[tuple[str, str]]:
    """(method, path) of every route the mounted Gradio app serves (path parameters filled)
    that is not newsrag's own."""
    def walk(routes: list[Any]) -> Iterator[Any]:
        for route in routes:
            if hasattr(route, "original_router"):  # an included router (its paths have the prefix)
                yield from walk(route.original_router.routes)
            else:
                yield route

    mount = next(r for r in app.routes if isinstance(r, Mount))
    own = {r.path for r in app.routes if r is not mount}  # /openapi.json, /docs: newsrag's own
    found = []
    for route in walk(mount.app.routes):
        path = re.sub(r"\{[^}]+\}", "x", route.path)
        if path not in own:
            found += [(m, path) for m in sorted(getattr(route, "methods", None) or {"GET"})]
    return found


def dependencies(c: TestClient, headers: dict[str, str]) -> list[dict[str, Any]]:
    """The chat's event handlers, as the running app's own config lists them."""
    r = c.get("/config", headers=headers)
    assert r.status_code == 200, r.text
    deps = r.json()["dependencies"]
    assert {d["api_name"] for d in deps} >= {"respond", "respond_1", "refresh"}
    return deps


@pytest.fixture(scope="module")
def keyed(make_app: Callable[..., FastAPI]) -> Iterator[TestClient]:
    """The full app with an API key (chat_auth "key", the default), no rate limit."""
    with TestClient(make_app(chat=True, api_key=KEY, rate_limit_per_minute=0)) as c:
        yield c


# --- 1. the API key protects the answers -----------------------------------------------------
def test_no_gradio_route_answers_without_the_key(keyed: TestClient) -> None:
    for d in dependencies(keyed, WITH_KEY):
        name, fn = d["api_name"], d["id"]
        for path in (f"/gradio_api/call/{name}", f"/gradio_api/call/v2/{name}",
                     f"/gradio_api/run/{name}", f"/gradio_api/api/{name}"):
            r = keyed.post(path, json={"data": respond_data()})
            assert r.status_code == 404, (path, r.text)  # closed, key or not
            assert keyed.post(path, json={"data": respond_data()},
                              headers=WITH_KEY).status_code == 404
        status, text = queue_result(keyed, fn, respond_data(), {})
        assert status == 401 and "needs the API key" in text and ANSWER not in text
        r = keyed.get("/gradio_api/queue/data?session_hash=probe")
        assert r.status_code == 401 and ANSWER not in r.text
    assert keyed.get("/config").status_code == 401
    assert keyed.get("/gradio_api/info").status_code == 404


def test_every_route_gradio_mounts_refuses_without_the_key(keyed: TestClient) -> None:
    routes = gradio_routes(keyed.app)
    assert ("POST", "/gradio_api/upload") in routes and ("POST", "/gradio_api/queue/join") in routes
    for method, path in routes:
        r = keyed.request(method, path, json={"data": respond_data(), "fn_index": 1,
                                              "session_hash": "x"})
        assert r.status_code in (401, 404), (method, path, r.status_code)
        assert ANSWER not in r.text


def test_the_key_or_a_session_opens_the_chat(keyed: TestClient) -> None:
    fn = respond_index(keyed, WITH_KEY)
    status, text = queue_result(keyed, fn, respond_data(), WITH_KEY, session="with-key")
    assert status == 200 and ANSWER in text  # the probe above would have seen an answer
    cookie = {"Cookie": f"{SESSION_COOKIE}={new_session(KEY)}"}
    status, text = queue_result(keyed, fn, respond_data(), cookie, session="with-cookie")
    assert status == 200 and ANSWER in text
    for forged in (new_session("another key"), new_session(KEY, now=time.time() - 13 * 3600),
                   "4102444800.00", "", "x.y.z"):
        status, _ = queue_result(keyed, fn, respond_data(), {
            "Cookie": f"{SESSION_COOKIE}={forged}"}, session="forged")
        assert status == 401, forged


def test_key_prompt_login_and_logout(keyed: TestClient) -> None:
    page = keyed.get("/")
    assert page.status_code == 401 and page.headers["content-type"].startswith("text/html")
    assert 'name="key" type="password"' in page.text and 'action="/chat/login"' in page.text
    assert "form-action 'self'" in page.headers["content-security-policy"]
    assert "gradio_config" not in page.text

    wrong = keyed.post("/chat/login", data={"key": "guess"}, follow_redirects=False)
    assert wrong.status_code == 401 and "That is not the key." in wrong.text
    assert SESSION_COOKIE not in wrong.headers.get("set-cookie", "")
    r = keyed.post("/chat/login", data={"key": KEY}, headers={"Origin": "https://evil.example"})
    assert r.status_code == 403

    with TestClient(keyed.app) as browser:  # its own cookie jar
        r = browser.post("/chat/login", data={"key": KEY}, follow_redirects=False)
        assert r.status_code == 303 and r.headers["location"] == "/"
        cookie = r.headers["set-cookie"]
        assert "HttpOnly" in cookie and "SameSite=lax" in cookie and "Max-Age=43200" in cookie
        chat = browser.get("/")
        assert chat.status_code == 200 and "gradio_config" in chat.text
        assert browser.get("/config").status_code == 200
        assert browser.post("/api/ask", json={"question": MEDIATOR}).status_code == 401  # API: key
        browser.get("/chat/logout")
        assert browser.get("/").status_code == 401


def test_login_attempts_are_rate_limited(make_app: Callable[..., FastAPI]) -> None:
    with TestClient(make_app(chat=False, api_key=KEY, rate_limit_per_minute=3)) as c:
        codes = [c.post("/chat/login", data={"key": f"guess{i}"}).status_code for i in range(5)]
    assert codes == [401, 401, 401, 429, 429]


def test_public_chat_with_a_key_is_an_explicit_setting(make_app: Callable[..., FastAPI]) -> None:
    with TestClient(make_app(chat=True, api_key=KEY, chat_auth="public",
                             rate_limit_per_minute=0)) as c:
        assert c.get("/").status_code == 200
        fn = respond_index(c)
        status, text = queue_result(c, fn, respond_data(), {})
        assert status == 200 and ANSWER in text
        assert c.post("/api/ask", json={"question": MEDIATOR}).status_code == 401
        assert c.post("/gradio_api/call/respond", json={"data": respond_data()}).status_code == 404


# --- 2. nobody stores files -----------------------------------------------------------------
def test_upload_and_file_routes_are_closed(client: TestClient, keyed: TestClient) -> None:
    for c, headers in ((client, {}), (keyed, WITH_KEY)):
        r = c.post("/gradio_api/upload", files={"files": ("big.bin", b"\0" * 1000)},
                   headers=headers)
        assert r.status_code == 404, r.text
        for path in ("/gradio_api/file=/etc/passwd", "/gradio_api/file/etc/passwd",
                     "/gradio_api/upload_progress?upload_id=x", "/gradio_api/proxy=http://x",
                     "/file=/etc/passwd", "/gradio_api/mcp/sse", "/monitoring"):
            assert c.get(path, headers=headers).status_code == 404, path


def test_only_the_chats_own_gradio_routes_are_open(client: TestClient) -> None:
    for method, path in gradio_routes(client.app):
        if path in CHAT_ROUTES or path.startswith(CHAT_PREFIXES):
            continue
        r = client.request(method, path)
        assert r.status_code == 404, (method, path, r.text)


# --- the chat's routes: origin, size, strict JSON ------------------------------------------
def test_chat_routes_check_the_origin(client: TestClient, make_app: Callable) -> None:
    body = {"data": respond_data(), "fn_index": respond_index(client), "session_hash": "o"}
    r = client.post("/gradio_api/queue/join", json=body, headers={"Origin": "http://evil.example"})
    assert r.status_code == 403 and "NEWSRAG_CORS_ORIGINS" in r.json()["detail"]
    assert client.get("/", headers={"Origin": "http://evil.example"}).status_code == 403
    r = client.post("/gradio_api/queue/join", json=body, headers={"Origin": "http://testserver"})
    assert r.status_code == 200
    with TestClient(make_app(chat=True, cors_origins=("https://news.example",),
                             rate_limit_per_minute=0)) as c:
        assert c.post("/gradio_api/queue/join", json=body,
                      headers={"Origin": "https://news.example"}).status_code == 200
        assert c.post("/gradio_api/queue/join", json=body,
                      headers={"Origin": "https://evil.example"}).status_code == 403


def test_chat_routes_have_the_body_limit(client: TestClient) -> None:
    big = {"data": respond_data("x" * 40_000), "fn_index": 1, "session_hash": "b"}
    r = client.post("/gradio_api/queue/join", json=big)
    assert r.status_code == 413 and "larger than 32768 bytes" in r.json()["detail"]

    def chunks() -> Iterator[bytes]:  # no Content-Length: counted as it arrives
        yield b'{"data": ["'
        for _ in range(40):
            yield b"x" * 1024
        yield b'"], "fn_index": 1, "session_hash": "b"}'

    r = client.post("/gradio_api/queue/join", content=chunks(),
                    headers={"Content-Type": "application/json"})
    assert r.status_code == 413


@pytest.mark.parametrize("raw, message", [
    (b'{"data": ["strike \\ud800 x"], "fn_index": 1, "session_hash": "s"}', "lone surrogate"),
    (b'{"data": ["x", [], [], [], NaN], "fn_index": 1, "session_hash": "s"}', "NaN is not"),
    (b'{"data": ["x\xff\xfe"], "fn_index": 1, "session_hash": "s"}', "not UTF-8"),
    (b"[" * 20_000, "nested too deeply"),
    (b'{"data": [], "fn_index": 99, "session_hash": "s"}', "fn_index: 99 is not one of"),
    (b'{"data": [], "fn_index": true, "session_hash": "s"}', "fn_index: true is not one of"),
])
def test_chat_routes_refuse_what_is_not_strict_json(client: TestClient, raw: bytes,
                                                    message: str) -> None:
    r = client.post("/gradio_api/queue/join", content=raw,
                    headers={"Content-Type": "application/json"})
    assert r.status_code == 422 and message in strict_json(r)["detail"]


def test_run_predict_is_a_404(client: TestClient) -> None:
    r = client.post("/gradio_api/run/predict", json={"data": ["x"]})
    assert r.status_code == 404 and strict_json(r) == {"detail": "Not Found"}


# --- 5. the client's address: X-Forwarded-For only from a trusted proxy ----------------------
def forged_requests(url: str, n: int = 8, **headers: str) -> list[int]:
    with httpx.Client(base_url=url, timeout=60) as http:
        return [http.post("/api/ask", json={"question": "hi"}, headers={
            "X-Forwarded-For": f"203.0.113.{i}", **headers}).status_code for i in range(n)]


def test_forged_forwarded_for_does_not_change_the_client(make_app: Callable) -> None:
    with LiveServer(make_app(rate_limit_per_minute=5), free_port()) as live:
        codes = forged_requests(live.url)
    assert codes == [200] * 5 + [429] * 3


def test_a_trusted_proxy_names_the_client(make_app: Callable) -> None:
    app = make_app(rate_limit_per_minute=5, trusted_proxies=("127.0.0.0/8",))
    with LiveServer(app, free_port()) as live:
        assert forged_requests(live.url) == [200] * 8  # eight clients behind the proxy
        with httpx.Client(base_url=live.url, timeout=60) as http:
            codes = [http.post("/api/ask", json={"question": "hi"}, headers={
                "X-Forwarded-For": "198.51.100.7, 127.0.0.1"}).status_code for _ in range(6)]
        assert codes == [200] * 5 + [429]  # the nearest address that is not a proxy


def test_forwarded_host_counts_only_from_a_trusted_proxy(make_app: Callable) -> None:
    headers = {"Origin": "http://evil.example", "X-Forwarded-Host": "evil.example"}
    for proxies, status in (((), 403), (("127.0.0.1",), 200)):
        with LiveServer(make_app(chat=False, rate_limit_per_minute=0, trusted_proxies=proxies),
                        free_port()) as live:
            r = httpx.post(live.url + "/api/ask", json={"question": "hi"}, headers=headers,
                           timeout=60)
        assert r.status_code == status, proxies


def test_the_chat_counts_the_same_client(make_app: Callable) -> None:
    """The chat's rate limit sees the address the guard settled on, as the API's does."""
    for proxies, second in (((), "Too many requests"), (("127.0.0.1",), ANSWER)):
        app = make_app(chat=True, rate_limit_per_minute=1, trusted_proxies=proxies)
        with LiveServer(app, free_port()) as live, httpx.Client(base_url=live.url,
                                                                timeout=60) as http:
            fn = respond_index(http)
            texts = [queue_result(http, fn, respond_data(), {"X-Forwarded-For": f"203.0.113.{i}"},
                                  session=f"xff-{i}")[1] for i in range(2)]
        assert ANSWER in texts[0] and second in texts[1], proxies


def test_guard_settings_name_the_valid_choices() -> None:
    from rag.errors import ConfigError
    from rag.settings import Settings

    s = Settings.load({}, env={"NEWSRAG_TRUSTED_PROXIES": "127.0.0.1, 10.0.0.0/8",
                               "NEWSRAG_CHAT_AUTH": "public"})
    assert s.trusted_proxies == ("127.0.0.1", "10.0.0.0/8") and s.chat_auth == "public"
    assert Settings().trusted_proxies == () and Settings().chat_auth == "key"
    with pytest.raises(ConfigError, match="'chat_auth' must be one of key, public; got 'open'"):
        Settings.load({}, env={"NEWSRAG_CHAT_AUTH": "open"})
    with pytest.raises(ConfigError, match="expects IP addresses or networks .* got 'proxy.lan'"):
        Settings.load({}, env={"NEWSRAG_TRUSTED_PROXIES": "proxy.lan"})


# --- 6. the other doors: the OpenAI-compatible endpoint, push, MCP ---------------------------
# (method, path, body, the status once past the checks); each door's own tests call it with its
# real client (tests/ui/test_openai_door.py, test_push_door.py, test_mcp_door.py); here the
# guard's checks, door by door, on a server with a key (a push needs one). The push here has no
# text (a 422 once let in): the session's index is shared and must not be written
DOORS = {
    "openai": ("POST", "/v1/chat/completions", {
        "model": "newsrag", "messages": [{"role": "user", "content": MEDIATOR}]}, 200),
    "push": ("POST", "/api/articles", {"title": "Ferry fares rise"}, 422),
    "delete": ("DELETE", "/api/articles/a0123456789abcd", None, 404),
    "mcp": ("POST", "/mcp", {"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {
        "name": "ask_news", "arguments": {"question": MEDIATOR}}}, 200),
}
MCP_ACCEPT = {"Accept": "application/json, text/event-stream"}  # streamable HTTP asks for both


def call_door(c: TestClient, door: str, headers: dict[str, str] | None = None,
              key: bool = True) -> httpx.Response:
    """The door's request, with the key unless `key` is False."""
    method, path, body, _ = DOORS[door]
    sent = {**MCP_ACCEPT, **(WITH_KEY if key else {}), **(headers or {})}
    return c.request(method, path, json=body, headers=sent)


def let_in(door: str) -> int:
    return DOORS[door][3]


def refusal(r: httpx.Response) -> str:
    """The message of a refusal, in the door's own shape (OpenAI's for /v1/)."""
    data = strict_json(r)
    return data["error"]["message"] if "error" in data else data["detail"]


@pytest.mark.parametrize("door", sorted(DOORS))
def test_every_door_needs_the_key(keyed: TestClient, door: str) -> None:
    for headers in ({}, {"X-API-Key": "guess"}, {"Authorization": "Bearer guess"}):
        r = call_door(keyed, door, headers, key=False)
        assert r.status_code == 401, (headers, r.text)
        assert "API key" in refusal(r) and ANSWER not in r.text
    for headers in (WITH_KEY, {"Authorization": f"Bearer {KEY}"}):
        assert call_door(keyed, door, headers, key=False).status_code == let_in(door)


@pytest.mark.parametrize("door", sorted(DOORS))
def test_every_door_checks_the_origin(keyed: TestClient, make_app: Callable, door: str) -> None:
    r = call_door(keyed, door, {"Origin": "http://evil.example"})
    assert r.status_code == 403 and "NEWSRAG_CORS_ORIGINS" in refusal(r)
    assert call_door(keyed, door, {"Origin": "http://testserver"}).status_code == let_in(door)
    with TestClient(make_app(api_key=KEY, cors_origins=("https://news.example",),
                             rate_limit_per_minute=0)) as c:
        assert call_door(c, door, {"Origin": "https://news.example"}).status_code == let_in(door)
        assert call_door(c, door, {"Origin": "https://evil.example"}).status_code == 403


@pytest.mark.parametrize("door", sorted(DOORS))
def test_every_door_has_the_body_limit(keyed: TestClient, door: str) -> None:
    """32 KB, as for a question; a push's own limit, 1 MB (an article, a whole page)."""
    method, path, body, _ = DOORS[door]
    limit = 1_000_000 if path == "/api/articles" else 32_768
    big = json_with_padding(body or {}, limit + 1000)
    headers = {"Content-Type": "application/json", **MCP_ACCEPT, **WITH_KEY}
    r = keyed.request(method, path, content=big, headers=headers)
    assert r.status_code == 413 and f"larger than {limit} bytes" in refusal(r)
    if limit > 32_768:  # over the questions' limit, within its own: read (and refused: padding)
        r = keyed.request(method, path, content=json_with_padding(body, 40_000), headers=headers)
        assert r.status_code == 422 and "unknown field 'padding'" in refusal(r)

    if body is None:
        return  # a DELETE reads no body: only its declared length is refused

    def chunks() -> Iterator[bytes]:  # no Content-Length: counted as it arrives
        for i in range(0, len(big), 1024):
            yield big[i:i + 1024]

    r = keyed.request(method, path, content=chunks(), headers=headers)
    assert r.status_code == 413


@pytest.mark.parametrize("door", sorted(DOORS))
def test_every_door_is_rate_limited(make_app: Callable, door: str) -> None:
    with TestClient(make_app(api_key=KEY, rate_limit_per_minute=2)) as c:
        codes = [call_door(c, door) for _ in range(3)]
    assert [r.status_code for r in codes] == [let_in(door), let_in(door), 429]
    assert "Too many requests" in refusal(codes[-1]) and int(codes[-1].headers["Retry-After"]) > 0


def json_with_padding(body: Any, size: int) -> bytes:
    """The body as JSON, padded past `size` bytes with a field the door would refuse anyway."""
    import json

    padded = dict(body) if isinstance(body, dict) else {"items": body}
    padded["padding"] = "x" * size
    return json.dumps(padded).encode()


def test_an_allowed_site_may_call_every_door_from_a_browser(make_app: Callable) -> None:
    """CORS preflight: the methods and headers the doors' clients send are allowed to an
    allowed origin (DELETE for a push taken down, MCP's protocol header), not to another."""
    with TestClient(make_app(api_key=KEY, cors_origins=("https://news.example",))) as c:
        for path, method, header in (("/api/articles/a1", "DELETE", "x-api-key"),
                                     ("/mcp", "POST", "mcp-protocol-version, content-type"),
                                     ("/v1/chat/completions", "POST", "authorization")):
            preflight = {"Access-Control-Request-Method": method,
                         "Access-Control-Request-Headers": header}
            r = c.options(path, headers={"Origin": "https://news.example", **preflight})
            assert r.status_code == 200, (path, r.text)
            assert r.headers["access-control-allow-origin"] == "https://news.example"
            assert method in r.headers["access-control-allow-methods"]
            r = c.options(path, headers={"Origin": "https://evil.example", **preflight})
            assert r.status_code == 400 and "access-control-allow-origin" not in r.headers
