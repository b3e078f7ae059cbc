"""A small HTTP server that speaks the OpenAI chat-completions protocol (streaming included).

It stands in for OpenAI/Ollama/vLLM/llama.cpp, which cannot run here; its replies are scripted
from the passages in the prompt so that tests can check what the client does with them."""
from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


def default_script(messages: list[dict]) -> str:
    """Cite passage 1's first sentence correctly, invent a passage [9], misuse passage [2]."""
    user = messages[-1]["content"]
    m = re.search(r"\[1\][^\n]*\n<<<\n(.+?)\n>>>", user, re.DOTALL)
    first = re.split(r"(?<=[.!?])\s", m.group(1).strip())[0] if m else "Nothing."
    return (f"{first} [1] The moon is made of cheese [9]. "
            f"Purple dragons levitated over Mars [2].")


class FakeOpenAI:
    def __init__(self, script: Callable[[list[dict]], str] = default_script):
        self.script = script
        self.requests: list[dict] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *a):  # quiet
                pass

            def do_POST(self):
                if self.path.rstrip("/") != "/v1/chat/completions":
                    self.send_error(404)
                    return
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                body["_auth"] = self.headers.get("Authorization")
                outer.requests.append(body)
                text = outer.script(body["messages"])
                if not body.get("stream"):
                    payload = json.dumps({
                        "id": "chatcmpl-1", "object": "chat.completion", "created": int(time.time()),
                        "model": body["model"], "choices": [{"index": 0, "finish_reason": "stop",
                        "message": {"role": "assistant", "content": text}}]}).encode()
                    self.send_response(200)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(payload)))
                    self.end_headers()
                    self.wfile.write(payload)
                    return
                self.send_response(200)
                self.send_header("Content-Type", "text/event-stream")
                self.end_headers()
                pieces = re.findall(r"\S+\s*", text)
                first = {"role": "assistant", "content": ""}
                for i, delta in enumerate([first] + [{"content": p} for p in pieces]):
                    chunk = {"id": "chatcmpl-1", "object": "chat.completion.chunk",
                             "created": int(time.time()), "model": body["model"],
                             "choices": [{"index": 0, "delta": delta, "finish_reason": None}]}
                    self.wfile.write(f"data: {json.dumps(chunk)}\n\n".encode())
                    self.wfile.flush()
                end = {"id": "chatcmpl-1", "object": "chat.completion.chunk", "model": body["model"],
                       "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]}
                self.wfile.write(f"data: {json.dumps(end)}\n\ndata: [DONE]\n\n".encode())
                self.wfile.flush()

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/v1"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
