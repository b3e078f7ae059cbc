"""Following news feeds, sitemaps and pages over HTTP into the index (`newsrag watch`)."""
from ingest.watch.watcher import PollReport, Watcher, parse_duration

__all__ = ["PollReport", "Watcher", "parse_duration"]
