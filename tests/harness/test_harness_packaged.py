"""The bench, fault and soak harness runs from the installed package, outside a checkout: its
synthetic articles live in harness/synth.py, not in the (unpackaged) tests folder."""
from __future__ import annotations

import json
import subprocess
import sys


def test_synthetic_feeds_are_written_outside_a_checkout(tmp_path) -> None:
    code = ("import importlib.util, sys\n"
            "from pathlib import Path\n"
            "assert importlib.util.find_spec('tests') is None, 'tests is importable here'\n"
            "from harness.bench import synth_corpus\n"
            "out = synth_corpus(5, Path(sys.argv[1]), per_file=2)\n"
            "print(sorted(p.name for p in out.iterdir()))\n")
    done = subprocess.run([sys.executable, "-I", "-c", code, str(tmp_path / "feeds")],
                          cwd=tmp_path, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "['feed-00000.jsonl', 'feed-00001.jsonl', 'feed-00002.jsonl']"
    records = [json.loads(line) for f in sorted((tmp_path / "feeds").iterdir())
               for line in f.read_text("utf-8").splitlines()]
    assert len(records) == 5 and len({r["title"] for r in records}) == 5
