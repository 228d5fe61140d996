"""Errors the library raises. Foreign exceptions are translated once, where they enter."""

from __future__ import annotations


class KgError(Exception):
    """Base class of every error scholarkg raises on purpose."""


class DocumentError(KgError):
    """A document that cannot be ingested, with the file and line that show why.

    >>> str(DocumentError("a.txt", 7, "expected 'h-index<int>', found 'hindex 7'"))
    "a.txt:7: expected 'h-index<int>', found 'hindex 7'"
    """

    def __init__(self, path: str, line: int | None, reason: str) -> None:
        self.path = path
        self.line = line
        self.reason = reason
        where = f"{path}:{line}" if line is not None else path
        super().__init__(f"{where}: {reason}")

    def __reduce__(self) -> tuple[type[DocumentError], tuple[str, int | None, str]]:
        # pickled by its fields: ingest workers send rejections to the writer
        return type(self), (self.path, self.line, self.reason)


class StoreError(KgError):
    """The store could not be opened, read or written."""


class RemoteServiceError(KgError):
    """A federated ``SERVICE`` endpoint could not be reached or broke off its answer."""


class EngineUnavailable(StoreError):
    """A remote SPARQL engine could not be reached, or answered that it cannot serve."""


class EngineTimeout(StoreError):
    """A remote SPARQL engine did not finish in time (its own limit or ours): never a cut
    result."""


class UnwritableTerm(KgError):
    """A result holds a term that the format asked for cannot hold (a control character
    in XML, a predicate RDF/XML cannot name, a triple term in JSON-LD): never written
    changed or malformed. The message names the term and the formats that can hold it;
    the server answers 406. Built by :func:`kg.output.term_limits.cannot_hold`."""

    def __init__(self, message: str, format_name: str) -> None:
        super().__init__(message)
        self.format_name = format_name

    def __reduce__(self) -> tuple[type[UnwritableTerm], tuple[str, str]]:
        return type(self), (str(self), self.format_name)
