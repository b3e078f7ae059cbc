"""Synthetic articles for the scale, fault and soak harness (harness/bench.py, faults.py, soak.py) and
the tests: deterministic, distinct, written by us. In the package, so `newsrag bench memory`
works outside a checkout."""
from __future__ import annotations

import json
import random
from pathlib import Path

_WORDS = ["harbour", "council", "budget", "drivers", "union", "strike", "transit", "ferry", "reservoir", "drought", "rationing", "dam", "power", "tariff", "regulator", "recall", "battery", "scooter", "probe", "launch", "orbit", "asteroid", "mission", "engineers", "farmers", "irrigation", "rain", "storm", "bridge", "tunnel", "school", "hospital", "nurses", "doctors", "election", "mayor", "minister", "parliament", "court", "judge", "ruling", "appeal", "museum", "festival", "stadium", "marathon", "runners", "record", "market", "shares", "profit", "loss", "quarter", "investors", "bank", "rates", "inflation", "wages", "rent", "housing", "tenants", "airport", "flights", "pilots", "cargo", "port", "ships", "containers", "exports", "imports", "tariffs", "trade", "talks", "deal", "river", "flood", "warning", "residents", "evacuation", "volunteers", "police", "investigation", "report", "survey", "study", "researchers", "glacier", "forest", "wildfire", "smoke", "air", "quality", "vaccine", "clinic", "patients", "students", "teachers"]
_NAMES = ["Arden", "Brantwick", "Calder", "Delmore", "Eastpoint", "Fenwick", "Galloway", "Halden", "Ivers", "Jarrow", "Kestrel", "Lindqvist", "Morrow", "Norland", "Orsay", "Pellham", "Quayle", "Rowan", "Selden", "Tarrant", "Ulric", "Vance"]


def synth_article(i: int, seed: int = 0, paragraphs: int = 4) -> dict:
    rng = random.Random(seed * 100_003 + i)
    place = f"{rng.choice(_NAMES)}{i}"
    paras = []
    for _ in range(paragraphs):
        sents = []
        for _ in range(rng.randint(2, 4)):
            n = rng.randint(8, 22)
            body = " ".join(rng.choice(_WORDS) for _ in range(n))
            sents.append(f"{place} {body} {rng.randint(2, 9999)}.")
        paras.append(" ".join(sents))
    day = 1 + i % 28
    return {
        "title": f"{place} {' '.join(rng.choice(_WORDS) for _ in range(6))}",
        "text": "\n\n".join(paras),
        "url": f"https://synthetic.example/{seed}/{i}",
        "published_at": f"2026-10-{day:02d}T08:00:00Z",
        "source": rng.choice(["Synthetic Wire", "Test Gazette", "Fixture Times"]),
        "author": rng.choice(_NAMES),
    }


def write_jsonl(path: Path, n: int, seed: int = 0, start: int = 0) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8") as f:
        for i in range(start, start + n):
            f.write(json.dumps(synth_article(i, seed)) + "\n")
    return path
