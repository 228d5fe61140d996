"""Strict reading of request parameters and bodies: UTF-8 or a 400 that says where.

werkzeug decodes parameters leniently (invalid bytes become U+FFFD); the SPARQL
protocol wants UTF-8, so the raw query string and form bodies are decoded here.

>>> params = parse_params(b"query=ASK%20%7B%7D&default-graph-uri=http%3A%2F%2Fex.org%2Fg", "URL")
>>> params["query"], params.getlist("default-graph-uri")
('ASK {}', ['http://ex.org/g'])
>>> parse_params(b"default", "the URL")["default"]
''
>>> decode_utf8(b"ASK { 'caf\\xe9' }", "the query")
Traceback (most recent call last):
...
server.web.errors.ApiError: the query is not valid UTF-8: byte 0xe9 at offset 10 cannot be decoded
"""

from __future__ import annotations

import re
from codecs import escape_decode
from urllib.parse import unquote_to_bytes

from werkzeug.datastructures import MultiDict

from server.web.errors import ApiError

# an absolute IRI: a scheme, then no characters IRIs forbid
_ABSOLUTE_IRI = re.compile(r"[A-Za-z][A-Za-z0-9+.\-]*:[^\x00-\x20<>\"{}|^`\\]*\Z")


def decode_utf8(data: bytes, what: str) -> str:
    """Decode strictly; a 400 naming the first bad byte and its offset otherwise."""
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ApiError(400, f"{what} is not valid UTF-8: byte 0x{data[exc.start]:02x} at "
                       f"offset {exc.start} cannot be decoded") from exc


# a "%" that does not start an escape (%XX), which unquote_to_bytes keeps as it is
_LONE_PERCENT = re.compile(rb"%(?![0-9A-Fa-f]{2})")


def percent_decode(data: bytes) -> bytes:
    r"""``urllib.parse.unquote_to_bytes``, in C: every ``%XX`` becomes its byte.

    Backslashes are doubled and ``%`` becomes ``\x``, so the C decoder of Python's bytes
    escapes does the work (a SPARQL query in a URL holds dozens of escapes); a lone
    ``%`` takes the pure-Python path, which keeps it.

    >>> percent_decode(rb"a%20b%C3%A9%5C\x41\%41")
    b'a b\xc3\xa9\\\\x41\\A'
    >>> percent_decode(rb"100%25 %zz %4"), unquote_to_bytes(rb"100%25 %zz %4")
    (b'100% %zz %4', b'100% %zz %4')
    """
    if b"%" not in data:
        return data
    if _LONE_PERCENT.search(data):
        return unquote_to_bytes(data)
    decoded: bytes = escape_decode(data.replace(b"\\", b"\\\\").replace(b"%", b"\\x"))[0]
    return decoded


def parse_params(raw: bytes, where: str) -> MultiDict[str, str]:
    """``application/x-www-form-urlencoded`` pairs, each name and value strict UTF-8."""
    params: MultiDict[str, str] = MultiDict()
    for piece in raw.split(b"&"):
        if not piece:
            continue
        name_raw, _, value_raw = piece.partition(b"=")
        name = decode_utf8(percent_decode(name_raw.replace(b"+", b" ")), f"a name in {where}")
        value = decode_utf8(percent_decode(value_raw.replace(b"+", b" ")),
                            f"the {name} parameter in {where}")
        params.add(name, value)
    return params


def check_iri(value: str, what: str) -> str:
    """An absolute IRI, or a 400 naming the parameter.

    >>> check_iri("http://ex.org/g", "graph")
    'http://ex.org/g'
    >>> check_iri("not an iri", "graph")
    Traceback (most recent call last):
    ...
    server.web.errors.ApiError: graph must be an absolute IRI, got 'not an iri'
    """
    if not _ABSOLUTE_IRI.match(value):
        raise ApiError(400, f"{what} must be an absolute IRI, got {value!r}")
    return value


def check_charset(charset: str | None, media_type: str) -> None:
    """415 unless the charset parameter is absent or UTF-8."""
    if charset and charset.strip().strip('"').lower() not in ("utf-8", "utf8"):
        raise ApiError(415, f"{media_type} must be sent as UTF-8, not charset={charset}")
