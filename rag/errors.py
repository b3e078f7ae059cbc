"""Errors meant for the user: a small hierarchy, turned into messages only at the edges."""


class NewsragError(Exception):
    """Base of every error newsrag reports to a user."""


class ConfigError(NewsragError):
    """A setting is missing, unknown or malformed."""


class IndexMismatchError(NewsragError):
    """The index was built by another embedder than the one configured."""


class EmptyIndexError(NewsragError):
    """Nothing is indexed yet."""


class StoreError(NewsragError):
    """The vector store or the catalog cannot be read or written."""


class InvalidQuestionError(NewsragError):
    """A question is empty, too long, or otherwise unusable."""


class UnknownSourceError(InvalidQuestionError):
    """A filter names an outlet the index does not hold."""


class AnswererError(NewsragError):
    """The answering backend failed (unreachable endpoint, bad response)."""


class MissingDependencyError(NewsragError):
    """An optional library is not installed."""

    def __init__(self, package: str, extra: str):
        super().__init__(f"{package} is not installed: pip install 'newsrag[{extra}]'")
