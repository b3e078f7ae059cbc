"""`newsrag ingest`'s exit status: 3 when nothing could be read, 0 otherwise (skips reported)."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from ui.cli import EXIT_NOTHING_READ, main

SCRIPT = Path(sys.executable).with_name("newsrag")
NEWSRAG = [str(SCRIPT)] if SCRIPT.exists() else [sys.executable, "-m", "ui.cli"]
STORY = ("Ferry timetable changes for the winter\n\n"
         "The council met on Tuesday and agreed a new winter timetable for the island ferry.\n")


def run(capsys: pytest.CaptureFixture, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def broken_files(folder: Path) -> Path:
    """Three files no loader can use: empty, binary, an unsupported type."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "empty.txt").write_bytes(b"")
    (folder / "page.html").write_bytes(b"\x00\x01\x02 not a page")
    (folder / "report.pdf").write_bytes(b"%PDF-1.4")
    return folder


def ingest(capsys: pytest.CaptureFixture, tmp_path: Path, *args: str) -> tuple[int, str, str]:
    return run(capsys, "--data-dir", str(tmp_path / "idx"), "ingest", *args, "--no-progress")


def test_exit_3_when_the_folder_holds_no_files(tmp_path: Path, capsys) -> None:
    (tmp_path / "news").mkdir()
    code, _, err = ingest(capsys, tmp_path, str(tmp_path / "news"))
    assert code == EXIT_NOTHING_READ == 3
    assert f"nothing ingested: there are no files in {tmp_path / 'news'}" in err


def test_exit_3_when_every_file_is_skipped_and_again_when_they_are_unchanged(
        tmp_path: Path, capsys) -> None:
    news = broken_files(tmp_path / "news")
    code, out, err = ingest(capsys, tmp_path, str(news))
    assert code == 3
    assert "skipped 3: " in out and "empty 1" in out and "binary 1" in out
    assert "none of the 3 files" in err and "holds an article that could be read" in err
    # not read again (same size and mtime), and still nothing to show for them
    code, _, err = ingest(capsys, tmp_path, str(news))
    assert code == 3 and "3 unchanged since a run that skipped them" in err
    code, out, _ = ingest(capsys, tmp_path, str(news), "--json")
    assert code == 3
    assert json.loads(out)["files_with_articles"] == 0


def test_partial_success_and_unchanged_files_exit_0(tmp_path: Path, capsys, embedder) -> None:
    news = broken_files(tmp_path / "news")
    (news / "ferry.txt").write_text(STORY, "utf-8")
    code, out, err = ingest(capsys, tmp_path, str(news))
    assert code == 0, err
    assert "ingested 1," in out and "skipped 3: " in out and f"skip {news / 'report.pdf'}" in out
    assert "nothing ingested" not in err
    code, out, err = ingest(capsys, tmp_path, str(news))  # all unchanged: already indexed
    assert code == 0, err
    assert "(4 files unchanged)" in out
    code, out, _ = ingest(capsys, tmp_path, str(news / "ferry.txt"), "--json")
    assert code == 0 and json.loads(out)["files_with_articles"] == 1


def test_the_console_script_exits_3_and_documents_it(tmp_path: Path) -> None:
    news = broken_files(tmp_path / "news")
    done = subprocess.run(NEWSRAG + ["--data-dir", str(tmp_path / "idx"), "ingest", str(news),
                                     "--no-progress"],
                          capture_output=True, text=True, cwd=tmp_path, timeout=300, check=False)
    assert done.returncode == 3, done.stderr
    assert "newsrag: nothing ingested: none of the 3 files" in done.stderr
    helped = subprocess.run(NEWSRAG + ["ingest", "--help"], capture_output=True, text=True,
                            cwd=tmp_path, timeout=300, check=False)
    assert helped.returncode == 0
    assert "3 when nothing could be read" in " ".join(helped.stdout.split())
