"""`newsrag bench`: ingest speed against the encoder ceiling, query latency at scale, memory.

Every figure is measured in this process, medians over repeats, and written to docs/bench/.
"""
from __future__ import annotations

import argparse
import gzip
import json
import os
import platform
import random
import resource
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from rag.settings import Settings

CORPUS = Path(__file__).resolve().parents[2] / "shared" / "data" / "realtimeqa" / "corpus.jsonl.gz"
QUESTIONS = CORPUS.parent / "questions_dev.jsonl"
OUT = Path(__file__).resolve().parents[1] / "docs" / "bench"


def rss_mb() -> float:
    import psutil

    return psutil.Process().memory_info().rss / 1e6


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e3


def pct(values: Sequence[float], q: float) -> float:
    if not values:
        return float("nan")
    s = sorted(values)
    return s[min(len(s) - 1, round(q / 100 * (len(s) - 1)))]


def machine() -> dict[str, Any]:
    import torch

    return {"cpus": os.cpu_count(), "python": platform.python_version(),
            "platform": platform.platform(), "torch": torch.__version__,
            "torch_threads": torch.get_num_threads(),
            "omp_wait_policy": os.environ.get("OMP_WAIT_POLICY")}


def sample_corpus(n: int, dest: Path, seed: int = 7, offset: int = 0) -> Path:
    """n real articles from the shared corpus into a temp file (never into the repository)."""
    with gzip.open(CORPUS, "rt", encoding="utf-8") as f:
        lines = f.readlines()
    rng = random.Random(seed)
    rng.shuffle(lines)
    dest.parent.mkdir(parents=True, exist_ok=True)
    dest.write_text("".join(lines[offset:offset + n]), "utf-8")
    return dest


def dir_size(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


# --- ingest ------------------------------------------------------------------------------
def bench_ingest(settings: Settings, articles: int, repeats: int) -> dict[str, Any]:
    """Pipeline chunks/s against the raw encoder on the very same embedded texts, and article
    characters/s against issue 16's peer (fp32 MiniLM on 256-word-piece chunks)."""
    from rag.embedders import get_embedder

    embedder = get_embedder(settings.embedder, settings.embedder_model, settings.embed_batch)
    embedder.embed_batch(["warm up"] * 8)
    runs = []
    for r in range(repeats):
        runs.append(_ingest_run(settings, embedder, articles, seed=r))
        last = runs[-1]
        print(f"  ingest run {r + 1}: pipeline {last['article_chars_per_s']:,.0f} article chars/s "
              f"({last['chunks_per_s']:.1f} chunks/s); peer (fp32 MiniLM, 256-piece chunks) "
              f"{last['peer_article_chars_per_s']:,.0f} chars/s; ratio to peer "
              f"{last['ratio_to_peer']:.3f}; ratio to own encoder {last['ratio_to_ceiling']:.3f}",
              flush=True)
    keys = [k for k, v in runs[0].items() if isinstance(v, (int, float))]
    med = {k: statistics.median(r[k] for r in runs) for k in keys}
    print(f"  median of {repeats}: pipeline {med['article_chars_per_s']:,.0f} chars/s, peer "
          f"{med['peer_article_chars_per_s']:,.0f} chars/s, ratio to peer "
          f"{med['ratio_to_peer']:.3f}", flush=True)
    return {"articles_per_run": articles, "repeats": repeats, "median": med, "runs": runs,
            "peak_rss_mb": peak_rss_mb()}


def _ingest_run(settings: Settings, embedder, articles: int, seed: int) -> dict[str, Any]:
    """One run: ingest a fresh sample, re-ingest it unchanged and touched, then time the bare
    encoder on the same embedded texts and the peer on the same articles."""
    from ingest.run import ingest
    from rag.index import Index, embedding_text

    tmp = Path(tempfile.mkdtemp(prefix="newsrag-bench-"))
    corpus = sample_corpus(articles, tmp / "sample.jsonl", seed=seed)
    index = Index.open(settings.replace(data_dir=tmp / "idx"), embedder)
    rss0 = rss_mb()
    t0 = time.perf_counter()
    report = ingest(index, [corpus])
    pipeline_s = time.perf_counter() - t0
    if not report.chunks:
        index.close()
        shutil.rmtree(tmp, ignore_errors=True)
        raise SystemExit(f"bench ingest: none of the {articles} sampled articles was stored "
                         f"({report.ingested} ingested); nothing to time")
    rss1 = rss_mb()
    t0 = time.perf_counter()
    again = ingest(index, [corpus])
    reingest_s = time.perf_counter() - t0
    os.utime(corpus)  # same content, new mtime: every article is re-read and compared
    t0 = time.perf_counter()
    ingest(index, [corpus])
    reread_s = time.perf_counter() - t0
    chunks = list(index.catalog.chunks_by_ids(sorted(index.catalog.all_chunk_ids())).values())
    texts = [embedding_text(c) for c in chunks]
    t0 = time.perf_counter()
    embedder.embed_batch(texts)
    ceiling_s = time.perf_counter() - t0
    sizes = embedder.count_tokens(texts)
    bodies = [index.catalog.article_text(a) or "" for a in {c.article_id for c in chunks}]
    chars = sum(map(len, bodies))
    peer = peer_encode(bodies)
    disk = dir_size(tmp / "idx")
    index.close()
    shutil.rmtree(tmp, ignore_errors=True)
    return {
        "articles": report.ingested, "chunks": report.chunks, "seconds": pipeline_s,
        "articles_per_s": report.ingested / pipeline_s, "chunks_per_s": report.chunks / pipeline_s,
        "article_chars": chars, "article_chars_per_s": chars / pipeline_s,
        "ceiling_chunks_per_s": len(texts) / ceiling_s,
        "ratio_to_ceiling": (report.chunks / pipeline_s) / (len(texts) / ceiling_s),
        "peer_chunks": peer["chunks"], "peer_article_chars_per_s": chars / peer["seconds"],
        "ratio_to_peer": peer["seconds"] / pipeline_s,
        "reingest_seconds": reingest_s, "reingest_speedup": pipeline_s / max(reingest_s, 1e-9),
        "reingest_added_chunks": again.chunks,
        "reread_seconds": reread_s, "reread_speedup": pipeline_s / max(reread_s, 1e-9),
        "truncated_chunks": sum(s > embedder.max_tokens for s in sizes),
        "max_wordpieces": max(sizes), "duplicates": dict(report.duplicates),
        "rss_growth_mb": rss1 - rss0, "disk_bytes_per_chunk": disk / max(report.chunks, 1),
    }


def peer_windows(text: str, tokenizer, window: int = 256) -> list[str]:
    """The text cut into consecutive pieces of at most `window` word pieces (special tokens
    included), no overlap, no headline: what an encoder-bound peer pipeline embeds."""
    enc = tokenizer(text, add_special_tokens=False, return_offsets_mapping=True, verbose=False)
    spans = enc["offset_mapping"]
    step = window - 2  # [CLS] and [SEP]
    return [text[spans[i][0]: spans[min(i + step, len(spans)) - 1][1]]
            for i in range(0, len(spans), step)]


def peer_encode(bodies: Sequence[str]) -> dict[str, float]:
    """The peer of issue 16: the packaged fp32 MiniLM (sentence-transformers, torch) encoding the
    same articles as 256-word-piece chunks. Cutting is not timed; only the encoder is."""
    from rag.embedders import get_embedder

    peer = get_embedder("minilm")
    tokenizer = peer.model.tokenizer
    pieces = [w for body in bodies for w in peer_windows(body, tokenizer)]
    t0 = time.perf_counter()
    peer.embed_batch(pieces)
    return {"chunks": len(pieces), "seconds": time.perf_counter() - t0}


# --- memory while ingesting (pipeline only: a hash embedder of the same shape) -------------
class HashEmbedder:
    """Same shape as MiniLM, vectors from a hash: isolates the pipeline's own memory."""

    name, dimension, max_tokens = "hash-384", 384, 256

    def embed_batch(self, texts):
        out = np.zeros((len(texts), 384), dtype=np.float32)
        for i, t in enumerate(texts):
            rng = np.random.default_rng(abs(hash(t)) % (2**32))
            v = rng.standard_normal(384).astype(np.float32)
            out[i] = v / np.linalg.norm(v)
        return out

    def count_tokens(self, texts):
        return [len(t.split()) + 2 for t in texts]


def bench_memory(settings: Settings, sizes: Sequence[int], modes: Sequence[str]) -> dict[str, Any]:
    """Peak memory of ingesting n generated articles into a fresh index, each run in a fresh
    process. `embedded`: the vectors' HNSW index lives in the ingesting process (it grows with
    the index by design); `server`: in a `chroma run` process, so the ingest's own RSS shows
    whether the pipeline streams."""
    import subprocess

    out: dict[str, Any] = {}
    for mode in modes:
        for n in sizes:
            tmp = Path(tempfile.mkdtemp(prefix="newsrag-mem-"))
            feeds = synth_corpus(n, tmp / "feeds")
            chroma = None
            if mode == "server":
                from harness.faults import start_chroma_server

                chroma = start_chroma_server(tmp / "chroma")
            try:
                res = subprocess.run(
                    [sys.executable, "-m", "harness.bench", "--memory-child", str(feeds),
                     str(tmp / "idx"), chroma.url if chroma else ""],
                    capture_output=True, text=True, cwd=Path(__file__).resolve().parents[1],
                    timeout=3600, check=False)
                row = (json.loads(res.stdout.strip().splitlines()[-1]) if res.returncode == 0
                       else {"error": res.stderr[-800:]})
                if chroma is not None:
                    import psutil

                    row["chroma_server_rss_mb"] = round(
                        psutil.Process(chroma.proc.pid).memory_info().rss / 1e6)
            finally:
                if chroma is not None:
                    chroma.stop()
                shutil.rmtree(tmp, ignore_errors=True)
            out[f"{mode}_{n}"] = row
            print(f"  memory, {mode} Chroma, {n} articles: {row}", flush=True)
    return out


def memory_child(feeds: Path, data_dir: Path, chroma_url: str) -> None:
    """One ingest, its RSS sampled twice a second and its Python heap traced."""
    import threading
    import tracemalloc

    import psutil

    from ingest.run import ingest
    from rag.index import Index

    proc = psutil.Process()
    index = Index.open(Settings(data_dir=data_dir, chroma_url=chroma_url or None),
                       HashEmbedder())
    base = proc.memory_info().rss / 1e6
    samples: list[float] = []
    done = threading.Event()

    def sample() -> None:
        while not done.wait(0.5):
            samples.append(proc.memory_info().rss / 1e6)

    tracemalloc.start()
    t = threading.Thread(target=sample, daemon=True)
    t.start()
    report = ingest(index, [feeds])
    done.set()
    t.join()
    heap_peak = tracemalloc.get_traced_memory()[1] / 1e6
    samples.append(proc.memory_info().rss / 1e6)
    half = samples[len(samples) // 2:]
    print(json.dumps({
        "articles": report.ingested, "chunks": report.chunks, "files": len(list(
            feeds.iterdir())), "seconds": round(report.seconds, 1),
        "rss_after_open_mb": round(base), "rss_peak_mb": round(max(samples)),
        "rss_median_second_half_mb": round(statistics.median(half)),
        "python_heap_peak_mb": round(heap_peak, 1),
        "peak_rss_getrusage_mb": round(peak_rss_mb())}))


def synth_corpus(n: int, dest: Path, per_file: int = 200) -> Path:
    """n distinct article-length records of generated text, as feed files of per_file each
    (feeds arrive as many files; one file is read whole, files are capped at max_file_bytes)."""
    from harness.synth import synth_article

    dest.mkdir(parents=True, exist_ok=True)
    for start in range(0, n, per_file):
        with (dest / f"feed-{start // per_file:05d}.jsonl").open("w", encoding="utf-8") as f:
            for i in range(start, min(n, start + per_file)):
                f.write(json.dumps(synth_article(i, seed=3, paragraphs=12)) + "\n")
    return dest


# --- queries at scale ----------------------------------------------------------------------
def grow_index(source: Settings, target: Settings, n_chunks: int, seed: int = 1) -> int:
    """An index of n_chunks: real chunks with their real vectors, plus variants of them (a
    sentence rotation and a small vector perturbation) under new ids, written through the
    index with their vectors given (no re-embedding). Returns the number of chunks."""
    from rag.embedders import get_embedder
    from rag.index import ArticleWrite, Index
    from rag.types import Article, Chunk

    embedder = get_embedder(source.embedder, source.embedder_model, source.embed_batch)
    src = Index.open(source, embedder)
    dst = Index.open(target, embedder)
    try:
        have = dst.catalog.counts()["chunks"]
        if have >= n_chunks:
            return have
        rows = [c for part in src.catalog.chunks_in_order() for c in part]
        # batches of whole articles: writing an article replaces all its chunks
        batches, part = [], []
        for c in rows:
            if len(part) >= 2000 and c.article_id != part[-1].article_id:
                batches.append(part)
                part = []
            part.append(c)
        batches.append(part)
        rng = np.random.default_rng(seed)
        copy = have // len(rows)
        while have < n_chunks:
            for part in batches:
                part = part[: n_chunks - have]
                if not part:
                    break
                vec = src.store.vectors([c.id for c in part])
                writes: dict[str, ArticleWrite] = {}
                for c in part:
                    aid = f"{c.article_id}v{copy}"
                    text = c.text if copy == 0 else _rotate(c.text, copy)
                    v = vec[c.id]
                    if copy:
                        v = v + rng.normal(0, 0.02, v.shape).astype(np.float32)
                        v /= np.linalg.norm(v)
                    new = Chunk(f"{aid}-{c.position:04d}", aid, c.position, text, 0, len(text),
                                c.title, c.source, c.published, c.url)
                    w = writes.setdefault(aid, ArticleWrite(
                        Article(aid, c.title, text, c.url, c.source, (), c.published,
                                f"h{aid}", "bench"), "bench", [], vectors=np.empty((0, v.size))))
                    w.chunks.append(new)
                    w.vectors = np.vstack([w.vectors, v[None, :]])
                dst.write_batch(list(writes.values()))
                have += len(part)
                print(f"    grown to {have} chunks", flush=True)
            copy += 1
        return have
    finally:
        src.close()
        dst.close()


def _rotate(text: str, k: int) -> str:
    from rag.text import sentence_spans

    sents = [text[a:b] for a, b in sentence_spans(text)]
    if len(sents) < 2:
        return text
    k %= len(sents)
    return " ".join(sents[k:] + sents[:k])


def bench_queries(settings: Settings, n_questions: int) -> dict[str, Any]:
    """Latency of retrieval and of whole extractive answers over an index, with the share of
    each stage, and the old lexical path (FTS5's bm25() in SQL) as a same-process baseline."""
    from rag.index import Index
    from rag.lexical import CatalogFTS
    from rag.pipeline import NewsRAG

    qs = [json.loads(x) for x in QUESTIONS.read_text("utf-8").splitlines()][:n_questions]
    rss0 = rss_mb()
    t0 = time.perf_counter()
    rag = NewsRAG(Index.open(settings))
    bm25 = rag.index.bm25
    fts_index = CatalogFTS(rag.index.catalog)
    ready_s = time.perf_counter() - t0
    chunks = rag.index.catalog.counts()["chunks"]
    sources = [s for s, _ in rag.index.catalog.sources()[:3]]
    rag.ask("warm up the strike question", as_of="2022-07-01")
    hybrid, filtered, answer, fts, memory = [], [], [], [], []
    stages: dict[str, list[float]] = {}
    for q in qs:
        as_of = q["question_date"].replace("/", "-")
        fresh = getattr(rag, "sentence_vectors", None)  # each timing embeds the question anew
        forget = fresh.forget if fresh is not None else (lambda texts: None)
        forget([q["question"]])
        t0 = time.perf_counter()
        rag.retrieve(q["question"], as_of=as_of)
        hybrid.append(time.perf_counter() - t0)
        forget([q["question"]])
        t0 = time.perf_counter()
        rag.retrieve(q["question"], as_of=as_of, since="2022-01-01", until=as_of,
                     sources=sources)
        filtered.append(time.perf_counter() - t0)
        forget([q["question"]])
        t0 = time.perf_counter()
        got = rag.ask(q["question"], as_of=as_of)
        answer.append(time.perf_counter() - t0)
        for k, v in got.timings.items():
            stages.setdefault(k, []).append(v)
        t0 = time.perf_counter()
        fts_index.search(q["question"], settings.candidates)
        fts.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        bm25.search(q["question"], settings.candidates)
        memory.append(time.perf_counter() - t0)
    rss = rss_mb()
    rag.close()
    ms = lambda xs, p: round(pct(xs, p) * 1000, 1)
    return {"chunks": chunks, "questions": len(qs), "filter_sources": sources,
            "retrieval_ms": {"p50": ms(hybrid, 50), "p95": ms(hybrid, 95)},
            "retrieval_filtered_ms": {"p50": ms(filtered, 50), "p95": ms(filtered, 95)},
            "answer_ms": {"p50": ms(answer, 50), "p95": ms(answer, 95)},
            "answer_stages_ms_p50": {k: ms(v, 50) for k, v in stages.items()},
            "answer_stages_ms_p95": {k: ms(v, 95) for k, v in stages.items()},
            "lexical_ms": {"fts5_sql": {"p50": ms(fts, 50), "p95": ms(fts, 95)},
                           "memory_bm25": {"p50": ms(memory, 50), "p95": ms(memory, 95)},
                           "speedup_p50": round(pct(fts, 50) / max(pct(memory, 50), 1e-9), 1)},
            "open_seconds": round(ready_s, 2), "bm25_timings_s": bm25.timings,
            "rss_mb": {"before_open": round(rss0), "serving": round(rss)}}


def serving_rss(settings: Settings, n_questions: int = 20) -> dict[str, Any]:
    """RSS of a fresh process that opens the index and answers questions: what one serving
    worker holds at this size (the query bench's own process has opened the smaller ones)."""
    import subprocess

    res = subprocess.run(
        [sys.executable, "-m", "harness.bench", "--serve-child", str(settings.data_dir),
         settings.collection, str(n_questions)],
        capture_output=True, text=True, cwd=Path(__file__).resolve().parents[1], timeout=3600,
        check=False)
    if res.returncode != 0:
        return {"error": res.stderr[-800:]}
    return json.loads(res.stdout.strip().splitlines()[-1])


def serve_child(data_dir: Path, collection: str, n_questions: int) -> None:
    from rag.index import Index
    from rag.pipeline import NewsRAG

    qs = [json.loads(x) for x in QUESTIONS.read_text("utf-8").splitlines()][:n_questions]
    base = rss_mb()
    rag = NewsRAG(Index.open(Settings(data_dir=data_dir, collection=collection)))
    opened = rss_mb()
    rag.index.bm25  # noqa: B018
    with_bm25 = rss_mb()
    for q in qs:
        rag.ask(q["question"], as_of=q["question_date"].replace("/", "-"))
    print(json.dumps({"rss_python_and_model_mb": round(base), "rss_index_open_mb": round(opened),
                      "rss_bm25_loaded_mb": round(with_bm25),
                      "rss_after_questions_mb": round(rss_mb()),
                      "peak_rss_mb": round(peak_rss_mb())}))


def main(argv: Sequence[str], settings: Settings) -> int:
    p = argparse.ArgumentParser(prog="newsrag bench")
    p.add_argument("what", nargs="*", default=["ingest", "memory", "queries"],
                   help="ingest | memory | queries")
    p.add_argument("--articles", type=int, default=150)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--memory-sizes", default="1000,10000")
    p.add_argument("--memory-chroma", default="embedded,server",
                   help="embedded and/or server: where the vectors' index lives")
    p.add_argument("--source-index", help="an index of the real corpus (its chunks and vectors "
                   "seed the grown indexes); default: the eval index of the shared corpus")
    p.add_argument("--sizes", default="10000,100000")
    p.add_argument("--questions", type=int, default=100)
    p.add_argument("--answerers", help="time these answerers one after another in this process "
                   "(e.g. extractive,learned; default: the setting's)")
    p.add_argument("--work-dir", default=str(Path(settings.data_dir) / "bench"))
    p.add_argument("--out", default=str(OUT / "results.json"))
    args = p.parse_args(list(argv))
    out_path = Path(args.out)
    results: dict[str, Any] = json.loads(out_path.read_text()) if out_path.exists() else {}
    results["machine"] = machine()
    if "ingest" in args.what:
        print(f"ingest: {args.articles} real articles x {args.repeats} runs", flush=True)
        results["ingest"] = bench_ingest(settings, args.articles, args.repeats)
    if "memory" in args.what:
        sizes = [int(x) for x in args.memory_sizes.split(",")]
        print(f"memory: ingesting {sizes} generated articles (hash embedder)", flush=True)
        results["memory"] = bench_memory(settings, sizes, args.memory_chroma.split(","))
    if "queries" in args.what:
        source = Path(args.source_index) if args.source_index else _default_source(settings)
        src = settings.replace(data_dir=source, collection="eval")
        results.setdefault("queries", {})
        for n in [int(x) for x in args.sizes.split(",")]:
            target = settings.replace(data_dir=Path(args.work_dir) / f"grown-{n}", collection="news")
            print(f"queries at {n} chunks: growing the index", flush=True)
            got = grow_index(src, target, n)
            results["queries"][str(n)] = bench_queries(target, args.questions)
            for name in (args.answerers or "").split(","):
                if name.strip():  # the same index and questions, another answerer
                    results["queries"][str(n)][f"answerer_{name.strip()}"] = bench_queries(
                        target.replace(answerer=name.strip()), args.questions)
            results["queries"][str(n)]["grown_to"] = got
            results["queries"][str(n)]["serving_process"] = serving_rss(target)
            print(f"  {results['queries'][str(n)]}", flush=True)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    out_path.write_text(json.dumps(results, indent=2, default=float))
    print(json.dumps({k: v for k, v in results.items() if k != "machine"}, indent=1,
                     default=float)[:4000])
    print(f"written to {out_path}")
    return 0


def _default_source(settings: Settings) -> Path:
    from eval.datasets import eval_settings

    return eval_settings(CORPUS, settings).data_dir


if __name__ == "__main__" and sys.argv[1:2] == ["--memory-child"]:
    memory_child(Path(sys.argv[2]), Path(sys.argv[3]), sys.argv[4])
if __name__ == "__main__" and sys.argv[1:2] == ["--serve-child"]:
    serve_child(Path(sys.argv[2]), sys.argv[3], int(sys.argv[4]))
