"""The project's JSON Lines form: one profile record per line, checked against a JSON Schema.

The schema is ``kg/schema/profile.schema.json`` (draft 2020-12). Numbers are read exactly
(decimals as :class:`~decimal.Decimal`). A bad line becomes a :class:`~kg.errors.DocumentError`
naming the file, the line and the field that failed; the other lines are still read.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
from collections.abc import Iterator
from decimal import Decimal
from functools import cache
from importlib.resources import files
from typing import Any

from jsonschema import Draft202012Validator, ValidationError, validators
from jsonschema.exceptions import best_match
from jsonschema.protocols import Validator

from kg.errors import DocumentError
from kg.mapping.identifiers import IdentifierError, check
from kg.mapping.names import display_name
from kg.parse.profile_page import code_repositories, is_truncated, quote, split_byline
from kg.parse.records import Identifier, Metrics, Paper, Profile, SourceDocument

_BOM = b"\xef\xbb\xbf"
_MESSAGE_LIMIT = 200
#: schema property -> identifier scheme, in the order identifiers are listed
_PERSON_IDS = {"orcid": "orcid", "dblp": "dblp", "wikidata": "wikidata", "profile_url": "profile"}
_PAPER_IDS = {"arxiv": "arxiv", "doi": "doi"}
_UNESCAPED_DOLLAR = re.compile(r"(?<!\\)\$")
_SURROGATE = re.compile("[\ud800-\udfff]")


def load_profile_schema() -> dict[str, Any]:
    """The JSON Schema of one record, as shipped in ``kg/schema/profile.schema.json``.

    >>> schema = load_profile_schema()
    >>> schema["required"], schema["additionalProperties"]
    (['name'], False)
    """
    text = files("kg").joinpath("schema/profile.schema.json").read_text(encoding="utf-8")
    schema: dict[str, Any] = json.loads(text)
    return schema


@cache
def _pattern_regex(pattern: str) -> re.Pattern[str]:
    # ECMA-262 "$" matches only at the very end; Python's also before a final newline.
    return re.compile(_UNESCAPED_DOLLAR.sub(r"\\Z", pattern))


def _pattern(
    validator: Validator, pattern: str, instance: object, schema: dict[str, Any]
) -> Iterator[ValidationError]:
    if validator.is_type(instance, "string") and not _pattern_regex(pattern).search(str(instance)):
        yield ValidationError(f"{instance!r} does not match {pattern!r}")


@cache
def _validator() -> Validator:
    cls = validators.extend(Draft202012Validator, {"pattern": _pattern})
    schema = load_profile_schema()
    validator: Validator = cls(schema, format_checker=Draft202012Validator.FORMAT_CHECKER)
    return validator


def parse_jsonl(
    data: bytes, *, path: str, as_of: dt.date
) -> Iterator[SourceDocument | DocumentError]:
    """One :class:`SourceDocument` per non-blank line, or a :class:`DocumentError` for a bad one.

    >>> data = (b'{"name": "Lovelace, Ada", "metrics": {"ai_score": 62.50}}\\n'
    ...         b'\\n{"name": "X", "nam": "x"}\\n')
    >>> good, bad = parse_jsonl(data, path="a.jsonl", as_of=dt.date(2026, 11, 21))
    >>> good.line, good.profile.name, good.profile.metrics.ai_score, good.as_of
    (1, 'Ada Lovelace', Decimal('62.50'), datetime.date(2026, 11, 21))
    >>> print(bad)
    a.jsonl:3: (record): Additional properties are not allowed ('nam' was unexpected) \
(schema: additionalProperties)
    """
    offset = 0
    records = 0
    for number, raw in enumerate(data.split(b"\n"), start=1):
        start, offset = offset, offset + len(raw) + 1
        raw = raw.removesuffix(b"\r")
        if number == 1 and raw.startswith(_BOM):
            raw, start = raw[len(_BOM) :], start + len(_BOM)
        if not raw.strip():
            continue
        records += 1
        try:
            yield _document(raw, start, path=path, line=number, as_of=as_of)
        except DocumentError as exc:
            yield exc
    if not records:
        yield DocumentError(path, None, "empty document: no JSON records")


def _document(raw: bytes, start: int, *, path: str, line: int, as_of: dt.date) -> SourceDocument:
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        reason = (
            f"not UTF-8: invalid byte 0x{raw[exc.start]:02x} at byte offset {start + exc.start}"
        )
        raise DocumentError(path, line, reason) from exc
    try:
        record = json.loads(
            text,
            parse_float=Decimal,
            parse_constant=_reject_constant,
            object_pairs_hook=_object_without_duplicates,
        )
    except json.JSONDecodeError as exc:
        raise DocumentError(path, line, f"invalid JSON: {exc.msg} at column {exc.colno}") from exc
    except ValueError as exc:  # duplicate keys, NaN, integers too long to convert
        raise DocumentError(path, line, f"invalid JSON: {exc}") from exc
    except RecursionError as exc:
        raise DocumentError(path, line, "invalid JSON: nested too deeply") from exc
    _check(record, path=path, line=line)
    _check_text(record, path=path, line=line)
    _check_identifiers(record, path=path, line=line)
    record_as_of = dt.date.fromisoformat(record["as_of"]) if "as_of" in record else as_of
    return SourceDocument(
        path=path,
        sha256=hashlib.sha256(raw).hexdigest(),
        as_of=record_as_of,
        profile=_profile(record, path=path, line=line),
        line=line,
    )


def _reject_constant(name: str) -> object:
    raise ValueError(f"{name} is not a number")


def _object_without_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise ValueError(f"duplicate key {quote(key)}")
        result[key] = value
    return result


def _check(record: object, *, path: str, line: int) -> None:
    try:
        errors = list(_validator().iter_errors(record))
    except RecursionError as exc:
        raise DocumentError(path, line, "record nested too deeply") from exc
    error = best_match(errors)
    if error is None:
        return
    where = "/".join(str(part) for part in error.absolute_path) or "(record)"
    schema_path = "/".join(str(part) for part in error.absolute_schema_path)
    message = error.message
    if len(message) > _MESSAGE_LIMIT:
        message = message[:_MESSAGE_LIMIT] + "\u2026"
    more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
    raise DocumentError(path, line, f"{where}: {message} (schema: {schema_path}){more}")


def _check_text(value: object, *, path: str, line: int, where: str = "(record)") -> None:
    """Reject a lone surrogate (a ``\\ud800`` escape that is not half of a pair): it is no
    character, so no UTF-8 text, IRI digest or store can hold it."""
    if isinstance(value, str):
        found = _SURROGATE.search(value)
        if found is not None:
            raise DocumentError(path, line, f"{where}: lone surrogate "
                                f"U+{ord(found.group()):04X} (a \\u escape of half a pair)")
    elif isinstance(value, dict):
        for key, item in value.items():
            _check_text(item, path=path, line=line,
                        where=key if where == "(record)" else f"{where}/{key}")
    elif isinstance(value, list):
        for index, item in enumerate(value):
            _check_text(item, path=path, line=line, where=f"{where}/{index}")


def _check_identifiers(record: dict[str, Any], *, path: str, line: int) -> None:
    """Check digits and the finer syntax of identifiers the schema's patterns let through."""
    given: list[tuple[str, dict[str, str], dict[str, str]]] = [
        ("identifiers", record.get("identifiers", {}), _PERSON_IDS)]
    for index, paper in enumerate(record.get("papers", ())):
        given.append((f"papers/{index}/identifiers", paper.get("identifiers", {}), _PAPER_IDS))
    for where, identifiers, schemes in given:
        for key, scheme in schemes.items():
            if key not in identifiers:
                continue
            try:
                check(scheme, identifiers[key])
            except IdentifierError as exc:
                raise DocumentError(path, line, f"{where}/{key}: {exc}") from exc


def _decimal(value: Decimal | int | str) -> Decimal:
    return value if isinstance(value, Decimal) else Decimal(value)


def _optional_decimal(value: Decimal | int | str | None) -> Decimal | None:
    return None if value is None else _decimal(value)


def _identifiers(given: dict[str, str], schemes: dict[str, str]) -> tuple[Identifier, ...]:
    return tuple(Identifier(scheme, given[key]) for key, scheme in schemes.items() if key in given)


def _profile(record: dict[str, Any], *, path: str, line: int) -> Profile:
    printed: str = record["name"]
    name = display_name(printed)
    metrics = record.get("metrics", {})
    return Profile(
        name=name,
        layout="jsonl",
        name_as_printed=printed if printed != name else None,
        alternate_names=tuple(record.get("alternate_names", ())),
        category_code=record.get("category"),
        metrics=Metrics(
            h_index=metrics.get("h_index"),
            paper_count=metrics.get("paper_count"),
            citation_count=metrics.get("citation_count"),
            novelty_score=_optional_decimal(metrics.get("novelty_score")),
            ai_score=_optional_decimal(metrics.get("ai_score")),
        ),
        listed_paper_count=record.get("listed_paper_count"),
        papers=tuple(
            _paper(paper, path=path, line=line, where=f"papers/{index}")
            for index, paper in enumerate(record.get("papers", ()))
        ),
        identifiers=_identifiers(record.get("identifiers", {}), _PERSON_IDS),
    )


def _paper(paper: dict[str, Any], *, path: str, line: int, where: str) -> Paper:
    byline: str | None = paper.get("byline")
    authors: tuple[str, ...] = tuple(paper.get("authors", ()))
    if byline is not None and "authors" not in paper:
        try:
            authors, _ = split_byline(byline)
        except ValueError as exc:
            raise DocumentError(path, line, f"{where}/byline: {exc}") from exc
    complete: bool | None = paper.get("byline_complete")
    if complete is None and byline is not None:
        complete = not is_truncated(byline)
    abstract: str | None = paper.get("abstract")
    repositories = paper.get("code_repositories")
    if repositories is None:
        repositories = code_repositories(abstract) if abstract else ()
    return Paper(
        title=paper["title"],
        line=line,
        abstract=abstract,
        category_code=paper.get("category"),
        date=dt.date.fromisoformat(paper["date"]) if "date" in paper else None,
        date_text=paper.get("date_text"),
        score=_optional_decimal(paper.get("score")),
        code_available=paper.get("code_available", False),
        byline=byline,
        authors=authors,
        byline_complete=complete,
        organisations=tuple(paper.get("organisations", ())),
        source_feed=paper.get("source_feed"),
        code_repositories=tuple(repositories),
        identifiers=_identifiers(paper.get("identifiers", {}), _PAPER_IDS),
    )
