"""`newsrag ask` and `newsrag serve`: the CLI's reader-side commands."""
from __future__ import annotations

import argparse
import errno
import json
import os
import socket
import sys
import textwrap
from datetime import date
from pathlib import Path

from rag.errors import NewsragError
from rag.settings import Settings
from rag.types import Answer, answer_to_dict
from ui.cards import by_article

DEMO_CORPUS = Path(__file__).resolve().parent.parent / "demo" / "corpus"


def format_answer(answer: Answer, width: int = 100, today: bool = False) -> str:
    """The answer, the day it was read against, then its sources, one per article (numbered
    as the answer cites them), each with the sentences the answer's claims rest on. An
    abstention is the pipeline's own sentence ("The indexed news does not cover this."),
    printed as is. `today`: the as-of was not given."""
    data = by_article(answer_to_dict(answer))
    text = " ".join(_sentence(s) for s in data["sentences"]) or answer.text
    lines = [textwrap.fill(text, width)]
    if day := day_label(answer.as_of):
        lines.append(f"(as of {day}" + (": today; --as-of YYYY-MM-DD reads 'last week' and "
                                        "'latest' against another day)" if today else ")"))
    if data["cards"]:
        lines += ["", "Sources:"]
    for card in data["cards"]:
        meta = ", ".join(x for x in (card["source"], (card["published"] or "")[:10]) if x)
        lines.append(f"[{card['number']}] {card['title']}" + (f" ({meta})" if meta else ""))
        if card["url"]:
            lines.append(f"    {card['url']}")
        quoted: set[str] = set()
        for excerpt in card["excerpts"]:
            passage = excerpt["text"]
            for a, b, _ in sorted(excerpt["marks"], key=lambda m: (m[2] < 0, m[2], m[0])):
                a, b = closed_quote(passage, a, b)
                quote = " ".join(passage[a:b].split())
                if quote and quote not in quoted:
                    quoted.add(quote)
                    lines.append(textwrap.fill(f"“{quote}”", width, initial_indent="    ",
                                               subsequent_indent="    "))
    return "\n".join(lines)


def _sentence(s: dict) -> str:
    """One answer sentence as printed: a quotation it opens closed, then its [n] markers."""
    if not s.get("supported", True):
        return f"{s['text']} (unverified)"
    return f"{close_quotes(s['text'])} {''.join(f'[{n}]' for n in s['citations'])}".strip()


def day_label(as_of: str | None) -> str:
    """'24 November 2026' for an ISO day, '' for none."""
    try:
        d = date.fromisoformat((as_of or "")[:10])
    except ValueError:
        return ""
    return f"{d.day} {d.strftime('%B')} {d.year}"


_OPENS = {"“": "”", '"': '"', "«": "»"}


def close_quotes(sentence: str) -> str:
    """A sentence that opens a quotation it does not close (the first sentence of a quoted
    statement) ends with "…" and the closing mark, so the reader sees the quote goes on."""
    for opening, closing in _OPENS.items():
        unclosed = (sentence.count(opening) % 2 if opening == closing
                    else sentence.count(opening) > sentence.count(closing))
        if unclosed:
            sentence = f"{sentence.rstrip()} …{closing}"
    return sentence


def closed_quote(passage: str, a: int, b: int, reach: int = 400) -> tuple[int, int]:
    """The span widened to the end of a quotation it leaves open (a quoted statement of
    several sentences), when that end is within `reach` characters."""
    text = passage[a:b]
    for opening, closing in _OPENS.items():
        unclosed = (text.count(opening) % 2 if opening == closing
                    else text.count(opening) > text.count(closing))
        if unclosed:
            end = passage.find(closing, b, b + reach)
            if end >= 0:
                b = end + 1
    return a, b


def ask(args: argparse.Namespace, settings: Settings) -> int:
    # one question embeds a few short texts: numpy's BLAS on one thread is faster for those
    # than two threads that spin against the other processes on shared cores (measured:
    # docs/performance.md); set before numpy loads
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    from rag.embedders import get_embedder
    from rag.index import Index
    from rag.pipeline import NewsRAG

    # the packaged MiniLM computed with numpy: the same vectors, without torch's seconds of
    # imports; any other embedder as configured
    packaged = settings.embedder == "minilm" and settings.embedder_model is None
    rag = NewsRAG(Index.open(settings, get_embedder("minilm-numpy") if packaged else None))
    try:
        answer = rag.ask(args.question, sources=args.source or None, since=args.since,
                         until=args.until, as_of=args.as_of)
    finally:
        rag.close()
    if args.json:
        print(json.dumps(answer_to_dict(answer), indent=2, ensure_ascii=False))
    else:
        print(format_answer(answer, today=not args.as_of))
        for w in answer.withdrawn:  # what the answerer wrote and the check did not show
            print(f"withdrawn, not supported by its passage: {w.text} ({'; '.join(w.reasons)})",
                  file=sys.stderr)
    return 0


def ingest_demo_if_empty(settings: Settings) -> None:
    from ingest.run import ingest
    from rag.index import Index

    index = Index.open(settings)
    try:
        if index.stats()["articles"]:
            return
        print(f"The index in {settings.data_dir} is empty: ingesting the demo corpus {DEMO_CORPUS}")
        report = ingest(index, [DEMO_CORPUS]).to_dict()
    finally:
        index.close()
    print(f"ingested {report['ingested']} articles ({report['chunks']} chunks) from "
          f"{report['files']} files in {report['seconds']} s; duplicates "
          f"{counted(report['duplicates'])}, skipped {counted(report['skipped'])}")


def serve(args: argparse.Namespace, settings: Settings) -> int:
    import uvicorn

    from ui.server import create_app

    check_port(settings.host, settings.port)  # before the demo ingest and the model load
    if getattr(args, "ingest_demo_if_empty", False):
        ingest_demo_if_empty(settings)
    app = create_app(settings)
    # the embedding model loads on first use (rag/embedders.py): now, not on a reader's question
    app.state.rag.index.embedder.embed_batch(["newsrag"])
    url = f"http://{settings.host}:{settings.port}"
    print(f"newsrag: chat {url}/  API docs {url}/docs  embed {url}/embed\n"
          f"widget: <script src=\"{url}/widget.js\" async></script>")
    # proxy_headers=False: uvicorn would believe X-Forwarded-For from loopback; the app reads
    # it only from settings.trusted_proxies (ui/guard.py)
    try:
        uvicorn.run(app, host=settings.host, port=settings.port, log_level="info",
                    timeout_graceful_shutdown=5, proxy_headers=False)
    except SystemExit as e:  # uvicorn exits 3 when it could not start (the port taken since)
        if e.code in (0, None):
            return 0
        raise NewsragError(f"The server did not start on {settings.host}:{settings.port} "
                           f"(see the log above). {PORT_HINT}") from None
    return 0


PORT_HINT = ("Choose another port with --port N or NEWSRAG_PORT=N (the host with --host or "
             "NEWSRAG_HOST).")


def check_port(host: str, port: int) -> None:
    """Refuse a port another process listens on, with the setting that changes it, before
    anything slow happens (uvicorn would print its URL first, then fail with errno 98)."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as e:
        raise NewsragError(f"Cannot serve on host {host!r}: {e.strerror}. Set another with "
                           "--host or NEWSRAG_HOST.") from None
    family, kind, proto, _, address = infos[0]
    with socket.socket(family, kind, proto) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn binds
        try:
            s.bind(address)
        except OSError as e:
            why = ("is in use by another program (another `newsrag serve`?)"
                   if e.errno == errno.EADDRINUSE else f"cannot be used: {e.strerror}")
            raise NewsragError(f"Port {port} on {host} {why}. {PORT_HINT}") from None


def counted(counts: dict[str, int]) -> str:
    """'1 (near 1)' for {'near': 1}; '0' for none."""
    total = sum(counts.values())
    detail = ", ".join(f"{kind} {n}" for kind, n in counts.items() if n)
    return f"{total} ({detail})" if detail else str(total)


CHECK_PROBLEMS = {
    "orphans_in_store": "chunks in Chroma the catalog lacks",
    "missing_in_store": "catalog chunks missing from Chroma",
    "pending": "chunks of an unfinished ingest",
    "orphan_chunks": "catalog chunks of no article",
    "articles_with_wrong_chunk_count": "articles with a wrong chunk count",
}


def check_text(check: dict) -> str:
    """`stats --check` in words: consistent with the counts, or each disagreement named."""
    if check.get("consistent"):
        return (f"consistent: {check.get('store_chunks')} chunks in Chroma and in the catalog, "
                f"{check.get('fts_rows')} full-text rows")
    problems = [f"{check[k]} {words}" for k, words in CHECK_PROBLEMS.items() if check.get(k)]
    if check.get("fts_rows_match") is False or (
            check.get("fts_tokens") != check.get("fts_tokens_expected")):
        problems.append("the full-text index disagrees with the chunks")
    return ("NOT consistent: " + "; ".join(problems or ["see --json"])
            + f" (Chroma {check.get('store_chunks')} chunks, catalog "
            f"{check.get('catalog_chunks')}; every count: --json)")
