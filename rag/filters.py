"""What a question may be restricted to: sources and a range of publication days.

Each store translates them into its own terms (the vector store into a Chroma `where`, the
catalog into SQL); nothing outside those implementations knows either form.
"""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Filters:
    sources: tuple[str, ...] = ()
    since_day: int | None = None  # YYYYMMDD, inclusive
    until_day: int | None = None

    def is_empty(self) -> bool:
        return not self.sources and self.since_day is None and self.until_day is None
