"""What a reader is told when a question cannot be answered; the server log keeps the detail."""
from __future__ import annotations

import logging

from rag.errors import (
    AnswererError,
    EmptyIndexError,
    InvalidQuestionError,
    NewsragError,
    StoreError,
)

log = logging.getLogger("newsrag.server")

# a failure of the server's own (its index, its answering model, a setting) names server paths
# and internals that are the operator's to read, in the log, not the reader's
STORE_TROUBLE = ("The news index cannot be read just now. Try again in a moment; if this goes "
                 "on, the site's operator will find the cause in the server's log.")
MODEL_TROUBLE = ("The answering model is not responding just now. Try again in a moment; if "
                 "this goes on, the site's operator will find the cause in the server's log.")
SERVER_TROUBLE = ("This server cannot answer just now. The site's operator will find the "
                  "cause in the server's log.")


def reader_message(e: NewsragError) -> str:
    """The error as a reader of the chat, the widget or the API is told it: a question that
    cannot be used, or an empty index, as it is; any other failure plainly, logged in full."""
    if isinstance(e, (InvalidQuestionError, EmptyIndexError)):
        return str(e)
    log.error("A question could not be answered: %s", e, exc_info=e)
    if isinstance(e, AnswererError):
        return MODEL_TROUBLE
    return STORE_TROUBLE if isinstance(e, StoreError) else SERVER_TROUBLE
