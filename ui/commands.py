"""`newsrag ask` and `newsrag serve`: the CLI's reader-side commands."""
from __future__ import annotations

import argparse
import json
import textwrap
from pathlib import Path

from rag.settings import Settings
from rag.types import Answer, answer_to_dict

DEMO_CORPUS = Path(__file__).resolve().parent.parent / "demo" / "corpus"


def format_answer(answer: Answer, width: int = 100) -> str:
    """The answer, then its numbered sources with the supporting passage span. An abstention
    is the pipeline's own sentence ("The indexed news does not cover this."), printed as is."""
    lines = [textwrap.fill(answer.text, width)]
    if answer.citations:
        lines += ["", "Sources:"]
    for c in answer.citations:
        meta = ", ".join(x for x in (c.source, (c.published or "")[:10]) if x)
        lines.append(f"[{c.number}] {c.title}" + (f" ({meta})" if meta else ""))
        if c.url:
            lines.append(f"    {c.url}")
        a, b = c.span_in_passage
        span = " ".join(c.passage[a:b].split()) if 0 <= a < b <= len(c.passage) else ""
        if span:
            lines.append(textwrap.fill(f"“{span}”", width, initial_indent="    ",
                                       subsequent_indent="    "))
    return "\n".join(lines)


def ask(args: argparse.Namespace, settings: Settings) -> int:
    from rag.pipeline import NewsRAG

    rag = NewsRAG.open(settings)
    try:
        answer = rag.ask(args.question, sources=args.source or None, since=args.since,
                         until=args.until, as_of=args.as_of)
    finally:
        rag.close()
    if args.json:
        print(json.dumps(answer_to_dict(answer), indent=2, ensure_ascii=False))
    else:
        print(format_answer(answer))
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
          f"{report['files']} files in {report['seconds']} s; duplicates {report['duplicates']}, "
          f"skipped {report['skipped']}")


def serve(args: argparse.Namespace, settings: Settings) -> int:
    import uvicorn

    from ui.server import create_app

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
    uvicorn.run(app, host=settings.host, port=settings.port, log_level="info",
                timeout_graceful_shutdown=5, proxy_headers=False)
    return 0
