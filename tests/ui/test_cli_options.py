"""Global options before or after every command, and library noise kept out of the CLI's output."""
from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from rag import embedders
from rag.errors import ConfigError
from rag.settings import Settings
from ui.cli import main

REPO = Path(__file__).resolve().parents[2]
DEMO = REPO / "demo"
COMMANDS = ("ingest", "ask", "serve", "stats", "eval", "bench", "mcp")
MEDIATOR = "Who was appointed to mediate the Port Calder transit strike?"
# the installed console script when there is one: what a user runs
SCRIPT = Path(sys.executable).with_name("newsrag")
NEWSRAG = [str(SCRIPT)] if SCRIPT.exists() else [sys.executable, "-m", "ui.cli"]
# Russian news makes about twice as many MiniLM word pieces as tiktoken tokens: its chunks
# overflow the model's 256 and used to set off the tokenizer's length warning
LONG_ARTICLE = "Совет обсуждает расписание паромов\n\n" + (
    "Городской совет во вторник обсудил новое расписание паромов и его стоимость для жителей. "
    * 60)
NOISE = ("Loading weights", "Token indices sequence length", "[transformers]")


def run(capsys: pytest.CaptureFixture, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def command_args(command: str, tmp: Path) -> list[str]:
    """The least each command needs to reach the point where it opens the settings' embedder."""
    article = tmp / "one.txt"
    article.write_text("Ferry timetable\n\nThe council met on Tuesday.\n", "utf-8")
    return {
        "ingest": ["ingest", str(article), "--no-progress"],
        "ask": ["ask", MEDIATOR],
        "serve": ["serve", "--port", "8199"],
        "stats": ["stats"],
        "mcp": ["mcp"],
        "eval": ["eval", "--questions", str(DEMO / "questions.jsonl"), "--corpus", str(article),
                 "--limit", "1", "--no-answers", "--no-progress", "--out", str(tmp / "run")],
        "bench": ["bench", "ingest", "--articles", "1", "--repeats", "1",
                  "--out", str(tmp / "bench.json")],
    }[command]


def place(option: list[str], argv: list[str], position: str) -> list[str]:
    return option + argv if position == "before" else argv + option


@pytest.fixture
def restore_logging() -> Iterator[None]:
    """`-v` changes process-wide logging: put newsrag's and the model libraries' back after."""
    logger = logging.getLogger("newsrag")
    level = logger.level
    yield
    logger.setLevel(level)
    embedders.quiet_model_libraries()


@pytest.mark.parametrize("position", ["before", "after"])
@pytest.mark.parametrize("command", COMMANDS)
@pytest.mark.parametrize("how", ["--embedder", "--config"])
def test_embedder_and_config_reach_every_command(how: str, command: str, position: str,
                                                 tmp_path: Path, capsys, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)  # a stray default index would land here
    config = tmp_path / "newsrag.conf.toml"
    config.write_text('[newsrag]\nembedder = "from-config"\n', "utf-8")
    option = ["--embedder", "from-flag"] if how == "--embedder" else ["--config", str(config)]
    argv = place(option + ["--data-dir", str(tmp_path / "idx")],
                 command_args(command, tmp_path), position)
    code, _, err = run(capsys, *argv)
    name = "from-flag" if how == "--embedder" else "from-config"
    assert code == 2, err
    assert f"Unknown embedder {name!r}. Valid embedders are:" in err
    assert not (tmp_path / ".newsrag").exists()


@pytest.mark.parametrize("position", ["before", "after"])
def test_data_dir_before_or_after_ask_and_stats(position: str, index_settings: Settings,
                                                capsys) -> None:
    d = ["--data-dir", str(index_settings.data_dir)]
    code, out, err = run(capsys, *place(d, ["ask", MEDIATOR, "--as-of", "2026-11-24"], position))
    assert code == 0, err
    assert "Judith Venn" in out.split("\nSources:\n")[0]
    code, out, err = run(capsys, *place(d, ["stats", "--json"], position))
    assert code == 0, err
    assert json.loads(out)["articles"] >= 28


@pytest.mark.parametrize("position", ["before", "after"])
def test_data_dir_and_collection_before_or_after_ingest(position: str, tmp_path: Path,
                                                        capsys) -> None:
    (tmp_path / "one.txt").write_text("Ferry timetable\n\nThe council met on Tuesday.\n")
    opts = ["--data-dir", str(tmp_path / "idx"), "--collection", "mine"]
    code, _, err = run(capsys, *place(opts, ["ingest", str(tmp_path / "one.txt"), "--json"],
                                      position))
    assert code == 0, err
    assert (tmp_path / "idx" / "catalog.sqlite3").is_file()
    code, out, err = run(capsys, *place(opts, ["stats", "--json"], position))
    data = json.loads(out)
    assert code == 0 and data["articles"] == 1 and data["collection"] == "mine"


@pytest.mark.parametrize("position", ["before", "after"])
def test_data_dir_before_or_after_serve(position: str, tmp_path: Path, capsys,
                                        monkeypatch) -> None:
    import uvicorn

    served: list[dict] = []
    monkeypatch.setattr(uvicorn, "run", lambda app, **kw: served.append(kw))
    argv = place(["--data-dir", str(tmp_path / "idx")], ["serve", "--port", "8124"], position)
    code, _, err = run(capsys, *argv)
    assert code == 0, err
    assert served[0]["port"] == 8124 and (tmp_path / "idx" / "catalog.sqlite3").is_file()


@pytest.mark.parametrize("position", ["before", "after"])
def test_chroma_url_before_or_after_stats(position: str, tmp_path: Path, capsys) -> None:
    import socket

    with socket.socket() as s:  # a port that nothing listens on
        s.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{s.getsockname()[1]}"
    opts = ["--data-dir", str(tmp_path / "idx"), "--chroma-url", url]
    code, _, err = run(capsys, *place(opts, ["stats"], position))
    assert code == 2 and f"Chroma at {url}" in err


@pytest.mark.slow
def test_data_dir_before_eval_holds_the_eval_index(tmp_path: Path, capsys, monkeypatch) -> None:
    """docs/eval/README.md: `--data-dir` may come before `eval` or among eval's own options."""
    monkeypatch.chdir(tmp_path)
    data_dir = tmp_path / "data"
    own = ["--questions", str(DEMO / "questions.jsonl"), "--corpus", str(DEMO / "corpus"),
           "--limit", "2", "--no-answers", "--no-progress"]
    code, out, err = run(capsys, "--data-dir", str(data_dir), "eval", *own,
                         "--out", str(tmp_path / "before"))
    assert code == 0, err
    assert "wrote " in out
    (index_dir,) = (data_dir / "eval").iterdir()
    corpus = json.loads((index_dir / "corpus.json").read_text())["corpus"]
    assert corpus == str((DEMO / "corpus").resolve())
    # among eval's options: the same index is found again (only the files are re-checked)
    code, out, err = run(capsys, "eval", *own, "--data-dir", str(data_dir),
                         "--out", str(tmp_path / "after"))
    assert code == 0, err
    index = json.loads((tmp_path / "after.json").read_text())["index"]
    assert index["dir"] == str(index_dir) and index["reused"]
    assert not (tmp_path / ".newsrag").exists()


@pytest.mark.parametrize("flag", ["-v", "--verbose", "--debug"])
@pytest.mark.parametrize("position", ["before", "after"])
def test_verbose_before_or_after_the_command(flag: str, position: str, index_settings: Settings,
                                             capsys, restore_logging) -> None:
    argv = place([flag], ["stats", "--data-dir", str(index_settings.data_dir)], position)
    code, _, err = run(capsys, *argv)
    assert code == 0, err
    assert logging.getLogger("newsrag").getEffectiveLevel() == logging.DEBUG


def test_log_level_from_the_environment(index_settings: Settings, capsys, monkeypatch,
                                        restore_logging) -> None:
    d = str(index_settings.data_dir)
    monkeypatch.setenv("NEWSRAG_LOG_LEVEL", "DEBUG")
    assert run(capsys, "stats", "--data-dir", d)[0] == 0
    assert logging.getLogger("newsrag").getEffectiveLevel() == logging.DEBUG
    monkeypatch.setenv("NEWSRAG_LOG_LEVEL", "loud")
    code, _, err = run(capsys, "stats", "--data-dir", d)
    assert code == 2
    assert "NEWSRAG_LOG_LEVEL='loud' is not a log level. Valid levels are: debug, info" in err


def test_debug_shows_the_model_libraries_output(tmp_path: Path, capsys, monkeypatch,
                                                restore_logging) -> None:
    from transformers.utils import logging as hf_logging

    monkeypatch.setattr(embedders, "_CACHE", {})  # load the model again, under -v
    # ingest embeds with the model (`ask` computes it with numpy: no model library to quiet)
    page = Path(__file__).resolve().parents[1] / "fixtures" / "plain_pages" / "kelso-library.html"
    code, _, err = run(capsys, "-v", "ingest", str(page), "--data-dir", str(tmp_path / "idx"),
                       "--no-progress")
    assert code == 0
    assert hf_logging.get_verbosity() == logging.DEBUG and hf_logging.is_progress_bar_enabled()
    assert logging.getLogger("sentence_transformers").level == logging.DEBUG
    assert "Loading weights" in err  # transformers' own log handler holds the real stderr


def test_stats_never_loads_the_embedding_model_but_ask_does(index_settings: Settings, capsys,
                                                          monkeypatch) -> None:
    loads: list[str] = []

    def load(self) -> None:
        loads.append(self.name)
        raise ConfigError("the model was loaded")

    monkeypatch.setattr(embedders, "_CACHE", {})  # not the session's, already loaded embedder
    monkeypatch.setattr(embedders.SentenceTransformerEmbedder, "_load", load)
    monkeypatch.setattr(embedders.NumpyMiniLMEmbedder, "_parts", load)  # what `ask` embeds with
    d = ["--data-dir", str(index_settings.data_dir)]
    code, out, err = run(capsys, *d, "stats", "--json")
    assert code == 0, err
    assert json.loads(out)["embedder"] == {"name": "all-MiniLM-L6-v2", "dimension": 384}
    assert loads == []
    code, _, err = run(capsys, *d, "ask", MEDIATOR)  # the question must be embedded
    assert code == 2 and "the model was loaded" in err
    assert loads == ["all-MiniLM-L6-v2"]


def test_stats_in_a_fresh_process_imports_no_model_library(index_settings: Settings) -> None:
    """What makes `newsrag stats` start in about a second rather than five (docs/performance.md)."""
    script = ("import json, sys\nfrom ui.cli import main\n"
              f"code = main(['--data-dir', {str(index_settings.data_dir)!r}, 'stats', '--json'])\n"
              "print(json.dumps([code, sorted(m for m in ('sentence_transformers', 'torch', "
              "'transformers', 'onnxruntime') if m in sys.modules)]))")
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          cwd=REPO, timeout=300, check=False)
    assert done.returncode == 0, done.stderr
    code, imported = json.loads(done.stdout.strip().splitlines()[-1])
    assert code == 0 and imported == []


def test_model_libraries_quiet_by_default(embedder) -> None:
    from transformers.utils import logging as hf_logging

    assert not embedders.quiet_model_libraries()
    assert hf_logging.get_verbosity() == logging.ERROR and not hf_logging.is_progress_bar_enabled()


def test_chunk_shrinking_is_said_at_debug(embedder, caplog) -> None:
    from ingest.chunk import Chunker, fit_chunks
    from rag.types import Article

    article = Article.create(title="Совет обсуждает расписание паромов", text=LONG_ARTICLE)
    with caplog.at_level(logging.DEBUG, logger="newsrag.ingest.chunk"):
        chunks = fit_chunks(Chunker(200), article, embedder.count_tokens, embedder.max_tokens)
    assert max(embedder.count_tokens([c.text for c in chunks])) <= embedder.max_tokens
    assert "over the embedder's 256: budget 200 ->" in caplog.text


@pytest.mark.slow
def test_ingest_and_ask_print_no_library_noise(tmp_path: Path, embedder) -> None:
    """The real console script, in fresh processes: no weight-loading bar, no tokenizer warning."""
    article = tmp_path / "ferries.txt"
    article.write_text(LONG_ARTICLE, "utf-8")
    # the precondition: chunks of the default size overflow the model (the warning's trigger)
    from ingest.chunk import Chunker, embedding_text
    from rag.types import Article

    first = Chunker(Settings().chunk_tokens).chunk(Article.create(title="", text=LONG_ARTICLE))
    assert max(embedder.count_tokens([embedding_text(c) for c in first])) > embedder.max_tokens
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("NEWSRAG_", "TRANSFORMERS_VERBOSITY", "HF_HUB_DISABLE"))}
    d = ["--data-dir", str(tmp_path / "idx")]
    for argv in (d + ["ingest", str(article), "--no-progress"],
                 d + ["ask", "What did the city council discuss about the ferries?"]):
        done = subprocess.run(NEWSRAG + argv, capture_output=True, text=True, env=env,
                              cwd=tmp_path, timeout=600, check=False)
        assert done.returncode == 0, done.stderr
        assert done.stdout.strip()
        for noise in NOISE:
            assert noise not in done.stderr, (argv, done.stderr)
