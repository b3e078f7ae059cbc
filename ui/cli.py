"""`newsrag ingest|ask|serve|watch|stats|export|import|eval|bench`: settings read here, errors
turned into messages."""
from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rag.errors import NewsragError
from rag.settings import Settings

if TYPE_CHECKING:
    from ingest.run import IngestReport

DEMO_CORPUS = Path(__file__).resolve().parent.parent / "demo" / "corpus"
LOG_LEVELS = ("debug", "info", "warning", "error")
# Exit statuses: 0 done, 2 an error (bad option, missing path, broken index), 130 interrupted,
# and for `ingest` 3: nothing could be read (README, docs/ingest.md)
EXIT_NOTHING_READ = 3
INGEST_EXITS = (
    "exit status: 0 when the files were read (some skipped, or all unchanged since an earlier "
    "run, included); 3 when nothing could be read: no files, or every file skipped (empty, "
    "broken, unsupported); 2 on an error (a missing path, a bad option, the index)."
)


WATCH_EXITS = (
    "exit status with --once: 0 when every source was polled and no item failed for good; 1 "
    "when a source could not be polled (no answer, an HTTP error, a malformed feed) or an item "
    "failed, died (404/410) or was refused; items waiting for a retry are not failures. Without "
    "--once it polls until Ctrl-C or SIGTERM (then 0). 2 on an error (a bad option, the index)."
)


def global_options() -> argparse.ArgumentParser:
    """The options every command takes, before or after the command's name (`newsrag
    --data-dir D ask ...` = `newsrag ask ... --data-dir D`). SUPPRESS keeps a subcommand's
    unset option from overwriting the value given before the command."""
    p = argparse.ArgumentParser(add_help=False, argument_default=argparse.SUPPRESS)
    g = p.add_argument_group("global options (before or after the command)")
    g.add_argument("--data-dir", dest="data_dir", help="index folder (default .newsrag)")
    g.add_argument("--chroma-url", dest="chroma_url",
                   help="a Chroma server, e.g. http://127.0.0.1:8000")
    g.add_argument("--collection", help="Chroma collection name")
    g.add_argument("--catalog-url", dest="catalog_url",
                   help="the catalog on PostgreSQL, e.g. postgresql://newsrag@db:5432/news "
                        "(several hosts; default: SQLite in the data folder). Keep a password "
                        "out of the command line: NEWSRAG_CATALOG_URL or PGPASSWORD")
    g.add_argument("--embedder", help="embedder name (minilm, minilm-int8)")
    g.add_argument("--config", help="a TOML config file")
    g.add_argument("-v", "--verbose", "--debug", dest="verbose", action="store_true",
                   help="debug output, the model libraries' logs and progress bars included "
                        "(also NEWSRAG_LOG_LEVEL=debug)")
    return p


def build_parser() -> argparse.ArgumentParser:
    common = global_options()
    parser = argparse.ArgumentParser(prog="newsrag", description="Ask the news, with citations.",
                                     parents=[common])
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("ingest", help="add news files or folders to the index", parents=[common],
                       epilog=INGEST_EXITS)
    p.add_argument("paths", nargs="+", type=Path)
    p.add_argument("--prune", action="store_true", help="remove articles whose files are gone")
    p.add_argument("--vectors", action="append", type=Path, metavar="FILE",
                   help="a vector file whose vectors are reused instead of embedding the same "
                        "text again (repeatable; also NEWSRAG_VECTOR_FILES)")
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    p.add_argument("--no-progress", action="store_true")

    p = sub.add_parser("ask", help="answer a question from the indexed news", parents=[common])
    p.add_argument("question")
    p.add_argument("--json", action="store_true")
    p.add_argument("--source", action="append", help="only this outlet (repeatable)")
    p.add_argument("--since", help="published on or after (YYYY-MM-DD)")
    p.add_argument("--until", help="published on or before (YYYY-MM-DD)")
    p.add_argument("--as-of", dest="as_of", help="resolve 'last week', 'latest' against this date")
    p.add_argument("--answerer", help="extractive | openai | llamacpp")

    p = sub.add_parser("serve", help="serve the web chat, the JSON API and the widget",
                       parents=[common])
    p.add_argument("--host")
    p.add_argument("--port", type=int)
    p.add_argument("--ingest-demo-if-empty", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--watch", action="store_true", default=None,
                   help="also follow the feeds of the settings (feeds = [...], NEWSRAG_FEEDS)")
    p.add_argument("--every", help="with --watch: the poll interval (default 15m)")

    p = sub.add_parser("watch", help="follow news feeds, sitemaps or pages into the index",
                       parents=[common], epilog=WATCH_EXITS)
    p.add_argument("urls", nargs="*", help="RSS, Atom, JSON Feed or sitemap URLs, or article "
                   "pages (default: the feeds of the settings)")
    p.add_argument("--every", help="poll interval: 30s, 15m, 1h30m (default 15m)")
    p.add_argument("--once", action="store_true", help="poll each source once, then exit")
    p.add_argument("--json", action="store_true", help="one JSON object per poll")
    p.add_argument("--no-progress", action="store_true")

    p = sub.add_parser("export", help="write the index to a dump: articles, chunks, vectors, "
                       "duplicates, feed state (docs/export.md)", parents=[common])
    p.add_argument("path", type=Path, help="a new folder")
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    p.add_argument("--no-progress", action="store_true")

    p = sub.add_parser("import", help="load a dump written by `newsrag export` into this index, "
                       "embedding nothing (docs/export.md)", parents=[common])
    p.add_argument("path", type=Path, help="the dump's folder")
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    p.add_argument("--no-progress", action="store_true")

    sub.add_parser("mcp", help="serve the MCP tools (search_news, ask_news, news_index) on "
                   "stdin/stdout, for a local assistant", parents=[common])

    p = sub.add_parser("stats", help="what is indexed", parents=[common])
    p.add_argument("--json", action="store_true")
    p.add_argument("--check", action="store_true", help="also verify Chroma and the catalog agree")

    # eval and bench parse their own options (`newsrag eval --help` shows them): everything
    # that is not a global option is passed on, in order. No abbreviations here, so that
    # `eval --data` stays eval's to refuse as ambiguous (--dataset or --data-dir)
    for name, text in (("eval", "evaluate retrieval, answers and grounding"),
                       ("bench", "benchmark ingest, queries and memory")):
        sub.add_parser(name, help=text, parents=[common], add_help=False, allow_abbrev=False)
    return parser


def settings_from(args: argparse.Namespace, **extra: Any) -> Settings:
    flags = {
        k: getattr(args, k, None)
        for k in ("data_dir", "chroma_url", "collection", "catalog_url", "embedder", "host",
                  "port", "answerer", "watch")
    }
    flags["watch_every"] = getattr(args, "every", None)
    flags.update(extra)
    return Settings.load(flags, config_path=getattr(args, "config", None))


class _StderrHandler(logging.StreamHandler):
    """Writes to the sys.stderr of the moment (a test's capture included)."""

    def __init__(self) -> None:
        super().__init__()
        self.setFormatter(logging.Formatter("newsrag: %(levelname)s: %(name)s: %(message)s"))

    @property
    def stream(self):  # type: ignore[override]
        return sys.stderr

    @stream.setter
    def stream(self, value) -> None:
        pass


def configure_logging(verbose: bool, env_level: str | None) -> int:
    """newsrag's log level: debug with -v, else NEWSRAG_LOG_LEVEL, else warning. The model
    libraries follow it (rag.embedders): their logs and progress bars only at debug."""
    name = "debug" if verbose else (env_level or "warning").strip().lower()
    if name not in LOG_LEVELS:
        raise NewsragError(f"NEWSRAG_LOG_LEVEL={env_level!r} is not a log level. "
                           f"Valid levels are: {', '.join(LOG_LEVELS)}")
    level = getattr(logging, name.upper())
    logger = logging.getLogger("newsrag")
    logger.setLevel(level)
    if not any(isinstance(h, _StderrHandler) for h in logger.handlers):
        logger.addHandler(_StderrHandler())
    return level


def main(argv: Sequence[str] | None = None) -> int:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
    os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")
    # spinning OpenMP threads slow torch tenfold when the cores are shared (measured)
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    parser = build_parser()
    args, unknown = parser.parse_known_args(argv)
    if args.command in ("eval", "bench"):
        args.rest = unknown
    elif unknown:
        parser.error(f"unrecognized arguments: {' '.join(unknown)}")
    try:
        configure_logging(getattr(args, "verbose", False), os.environ.get("NEWSRAG_LOG_LEVEL"))
        return COMMANDS[args.command](args)
    except NewsragError as e:
        print(f"newsrag: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("newsrag: interrupted (re-run to finish: nothing half-written is kept)", file=sys.stderr)
        return 130


@contextmanager
def _closing(index: Any, bar: Any) -> Iterator[None]:
    """A command's index and progress bar, closed however the command ends."""
    try:
        yield
    finally:
        if bar is not None:
            bar.close()
        index.close()


def cmd_ingest(args: argparse.Namespace) -> int:
    from ingest.run import ingest
    from rag.index import Index
    from ui.commands import counted

    missing = [str(p) for p in args.paths if not p.exists()]
    if missing:
        raise NewsragError(f"No such file or folder: {', '.join(missing)}")
    settings = settings_from(args)
    if args.vectors:
        settings = settings.replace(vector_files=settings.vector_files
                                    + tuple(str(p) for p in args.vectors))
    index = Index.open(settings)
    bar = None
    if not args.no_progress and not args.json:
        from tqdm import tqdm

        bar = tqdm(unit=" articles", file=sys.stderr, dynamic_ncols=True)
        chunks_done = [0]

        def progress(n_articles: int, n_chunks: int) -> None:
            chunks_done[0] += n_chunks
            bar.update(n_articles)
            rate = bar.format_dict.get("rate") or 0
            elapsed = max(bar.format_dict.get("elapsed") or 0, 1e-9)
            bar.set_postfix_str(f"{rate:.1f} articles/s, {chunks_done[0] / elapsed:.1f} chunks/s")
    with _closing(index, bar):
        report = ingest(index, args.paths, prune=args.prune, progress=progress if bar is not None else None)
    data = report.to_dict()
    if args.json:
        print(json.dumps(data, indent=2))
        return _ingest_status(report, args.paths)
    print(
        f"seen {data['seen']} articles in {data['files']} files "
        f"({data['files_unchanged']} files unchanged): ingested {data['ingested']}, "
        f"updated {data['updated']}, unchanged {data['unchanged']}, "
        f"duplicates {counted(report.duplicates)}, "
        f"removed {data['removed']}, chunks {data['chunks']}, {data['seconds']} s "
        f"({data['articles_per_s']} articles/s, {data['chunks_per_s']} chunks/s)"
    )
    if report.vectors_reused:
        print(f"vectors: {report.vectors_reused} reused from vector files, "
              f"{report.vectors_embedded} embedded")
    if report.skipped:
        print(f"skipped {sum(report.skipped.values())}: " + ", ".join(
            f"{reason} {n}" for reason, n in report.skipped.most_common()))
        for s in report.skips[:20]:
            print(f"  skip {s.origin}: {s.reason}" + (f" ({s.detail})" if s.detail else ""))
    if report.recovered:
        print(f"rolled back {report.recovered} articles an interrupted run left half-written")
    return _ingest_status(report, args.paths)


def _ingest_status(report: IngestReport, paths: Sequence[Path]) -> int:
    """0, or 3 when no file held an article (said on stderr, so that cron mails it)."""
    if report.files_with_articles:
        return 0
    where = ", ".join(str(p) for p in paths)
    if not report.files:
        why = f"there are no files in {where}"
    else:
        why = f"none of the {report.files} files in {where} holds an article that could be read"
        if report.files_unchanged:
            why += (f" ({report.files_unchanged} unchanged since a run that skipped them: fix or "
                    "replace them to have them read again)")
    print(f"newsrag: nothing ingested: {why}", file=sys.stderr)
    return EXIT_NOTHING_READ


def _article_bar(args: argparse.Namespace, total: int | None = None):
    """A progress bar on stderr (articles, chunks/s), as the ingest shows: (bar, callback)."""
    if args.no_progress or args.json:
        return None, None
    from tqdm import tqdm

    bar = tqdm(total=total, unit=" articles", file=sys.stderr, dynamic_ncols=True)
    chunks_done = [0]

    def progress(n_articles: int, n_chunks: int) -> None:
        chunks_done[0] += n_chunks
        bar.update(n_articles)
        elapsed = max(bar.format_dict.get("elapsed") or 0, 1e-9)
        bar.set_postfix_str(f"{chunks_done[0] / elapsed:.0f} chunks/s")
    return bar, progress


def cmd_export(args: argparse.Namespace) -> int:
    from ingest.export import export
    from rag.index import Index

    index = Index.open(settings_from(args))
    bar, progress = _article_bar(args, index.catalog.counts()["articles"])
    with _closing(index, bar):
        report = export(index, args.path, progress=progress)
    if args.json:
        print(json.dumps(report.to_dict(), indent=2))
        return 0
    c = report.counts
    print(f"exported {c['articles']} articles, {c['chunks']} chunks and their vectors, "
          f"{c['duplicates']} duplicates, {c['files']} files, {c['feed_sources']} feed sources, "
          f"{c['feed_items']} feed items to {report.path} ({report.bytes / 1e6:.1f} MB, "
          f"{report.seconds:.1f} s)")
    if report.pending_left_out:
        print(f"left out {report.pending_left_out} articles an interrupted ingest left "
              "half-written (the next ingest rolls them back)")
    return 0


def cmd_import(args: argparse.Namespace) -> int:
    from ingest.dump import Dump
    from ingest.importer import import_dump
    from rag.embedders import get_embedder
    from rag.index import Index

    settings = settings_from(args)
    dump = Dump(args.path)
    # refused before the index is even opened (opening an empty folder creates the index)
    embedder = get_embedder(settings.embedder, settings.embedder_model, settings.embed_batch)
    dump.check_embedder(embedder.name, embedder.dimension)
    dump.verify()
    index = Index.open(settings, embedder)
    bar, progress = _article_bar(args, dump.counts["articles"])
    with _closing(index, bar):
        report = import_dump(index, dump, progress=progress)
    data = report.to_dict()
    if args.json:
        print(json.dumps(data, indent=2))
        return 0
    from ui.commands import counted

    rows = data["rows_added"]
    print(f"read {data['articles']} articles from {args.path}: ingested {data['ingested']}, "
          f"updated {data['updated']}, unchanged {data['unchanged']}, duplicates "
          f"{counted(report.ingest.duplicates)}, chunks {data['chunks']}, {data['seconds']} s")
    print(f"vectors: {data['vectors_from_dump']} from the dump, {data['vectors_embedded']} "
          f"embedded; added {rows['duplicates']} duplicates, {rows['files']} files, "
          f"{rows['feed_sources']} feed sources, {rows['feed_items']} feed items")
    if report.ingest.recovered:
        print(f"rolled back {report.ingest.recovered} articles an interrupted run left "
              "half-written")
    return 0


def cmd_stats(args: argparse.Namespace) -> int:
    from rag.index import Index
    from ui.commands import check_text

    index = Index.open(settings_from(args))
    try:
        data = index.stats()
        data["feeds"] = index.catalog.feed_report()
        if args.check:
            data["check"] = index.verify()
    finally:
        index.close()
    if args.json:
        print(json.dumps(data, indent=2))
        return 0
    print(f"articles   {data['articles']}\nchunks     {data['chunks']}")
    print(f"duplicates {data['duplicates']} (stored once)\nfiles      {data['files']}")
    first, last = data["date_range"]
    print(f"dates      {first or '?'} .. {last or '?'}")
    print(f"embedder   {data['embedder']['name']} ({data['embedder']['dimension']} dims)")
    print(f"store      {data['store']} [{data['collection']}]")
    print(f"catalog    {data['catalog']}")
    print("sources    " + ", ".join(f"{s} ({n})" for s, n in data["sources"].items()))
    if data["feeds"]:
        from ui.watching import feed_lines

        print("feeds")
        for line in feed_lines(data["feeds"]):
            print(f"  {line}")
    if args.check:
        print(f"check      {check_text(data['check'])}")
    return 0


def cmd_ask(args: argparse.Namespace) -> int:
    from ui.commands import ask

    return ask(args, settings_from(args))


def cmd_serve(args: argparse.Namespace) -> int:
    from ui.commands import serve

    return serve(args, settings_from(args))


def cmd_watch(args: argparse.Namespace) -> int:
    from ui.watching import watch

    return watch(args, settings_from(args))


def cmd_mcp(args: argparse.Namespace) -> int:
    from ui.mcp_server import run_stdio

    return run_stdio(settings_from(args))


def cmd_eval(args: argparse.Namespace) -> int:
    from eval.cli import main as eval_main

    return eval_main(args.rest, settings_from(args))


def cmd_bench(args: argparse.Namespace) -> int:
    from harness.bench import main as bench_main

    return bench_main(args.rest, settings_from(args))


COMMANDS = {
    "ingest": cmd_ingest,
    "ask": cmd_ask,
    "serve": cmd_serve,
    "stats": cmd_stats,
    "export": cmd_export,
    "import": cmd_import,
    "watch": cmd_watch,
    "mcp": cmd_mcp,
    "eval": cmd_eval,
    "bench": cmd_bench,
}

if __name__ == "__main__":
    sys.exit(main())
