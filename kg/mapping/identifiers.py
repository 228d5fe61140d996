"""External identifiers: validation, canonical IRIs and the datasets they point into.

Every scheme scholarkg reads (:data:`SCHEMES`) has a checker that returns the value
or raises :class:`IdentifierError` with a message saying what is wrong:

>>> check("orcid", "0000-0002-1825-0097")
'0000-0002-1825-0097'
>>> check("orcid", "0000-0002-1825-0098")
Traceback (most recent call last):
...
kg.mapping.identifiers.IdentifierError: check digit of '0000-0002-1825-0098' should be 7
>>> check("arxiv", "hep-th/9913001")
Traceback (most recent call last):
...
kg.mapping.identifiers.IdentifierError: month 13 of old-style arXiv id 'hep-th/9913001' is not 01-12

Canonical IRIs follow the data model (a DOI is case-insensitive, so its IRI is lower-case):

>>> canonical_iri("wikidata", "Q42")
'http://www.wikidata.org/entity/Q42'
>>> canonical_iri("doi", "10.1000/ABC<1>")
'https://doi.org/10.1000/abc%3C1%3E'
>>> canonical_iri("orcid", "not an orcid") is None
True

Link files and reconciliation queries name targets as IRIs or ``scheme:value``:

>>> parse_target("orcid:0000-0002-1825-0097").iri
'https://orcid.org/0000-0002-1825-0097'
>>> parse_target("https://www.wikidata.org/wiki/Q42").iri
'http://www.wikidata.org/entity/Q42'
>>> parse_target("https://example.org/people/7")
Target(iri='https://example.org/people/7', scheme=None, value=None)
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import quote, unquote, urlsplit

from kg.output.ntriples import is_valid_iri

#: every identifier scheme, in the order records list them
SCHEMES = ("orcid", "dblp", "wikidata", "profile", "arxiv", "doi")


class IdentifierError(ValueError):
    """An identifier that is not valid for its scheme; the message says why."""


@dataclass(frozen=True)
class TargetDataset:
    """An external dataset our entities link into with ``owl:sameAs``."""

    scheme: str
    title: str
    uri_space: str
    homepage: str


#: the datasets identifiers resolve into, keyed by scheme (profile URLs have none)
TARGET_DATASETS: dict[str, TargetDataset] = {
    "orcid": TargetDataset("orcid", "ORCID", "https://orcid.org/", "https://orcid.org/"),
    "dblp": TargetDataset("dblp", "dblp computer science bibliography",
                          "https://dblp.org/pid/", "https://dblp.org/"),
    "wikidata": TargetDataset("wikidata", "Wikidata", "http://www.wikidata.org/entity/",
                              "https://www.wikidata.org/"),
    "arxiv": TargetDataset("arxiv", "arXiv", "https://arxiv.org/abs/", "https://arxiv.org/"),
    "doi": TargetDataset("doi", "DOI", "https://doi.org/", "https://www.doi.org/"),
}

# --- the checkers ---------------------------------------------------------------------

_ORCID = re.compile(r"[0-9]{4}-[0-9]{4}-[0-9]{4}-[0-9]{3}[0-9X]\Z")
_DOI = re.compile(r"10\.[0-9]{4,9}(?:\.[0-9]+)*/\S+\Z")
_NEW_ARXIV = re.compile(r"([0-9]{2})([0-9]{2})\.([0-9]{4,5})\Z")
_OLD_ARXIV = re.compile(r"([a-z]+(?:-[a-z]+)*)(\.[A-Z]{2})?/([0-9]{2})([0-9]{2})([0-9]{3})\Z")
_ARXIV_VERSION = re.compile(r"v[0-9]+\Z")
_QID = re.compile(r"Q[1-9][0-9]*\Z")
_DBLP_NUMERIC = re.compile(r"[0-9]{2,3}/[0-9]+(?:-[0-9]+)?\Z")
_DBLP_NAME = re.compile(r"[a-z]/[A-Za-z][A-Za-z0-9_=.-]*\Z")
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")

#: arXiv archives that had old-style ids (``archive/YYMMNNN``), before April 2007
OLD_ARXIV_ARCHIVES = frozenset({
    "acc-phys", "adap-org", "alg-geom", "ao-sci", "astro-ph", "atom-ph", "bayes-an",
    "chao-dyn", "chem-ph", "cmp-lg", "comp-gas", "cond-mat", "cs", "dg-ga", "funct-an",
    "gr-qc", "hep-ex", "hep-lat", "hep-ph", "hep-th", "math", "math-ph", "mtrl-th", "nlin",
    "nucl-ex", "nucl-th", "patt-sol", "physics", "plasm-ph", "q-alg", "q-bio", "quant-ph",
    "solv-int", "supr-con",
})


def orcid_check_digit(digits: str) -> str:
    """The ISO 7064 MOD 11-2 check character of an ORCID's first 15 digits.

    >>> orcid_check_digit("000000021825009"), orcid_check_digit("000000021694233")
    ('7', 'X')
    """
    total = 0
    for digit in digits:
        total = (total + int(digit)) * 2
    result = (12 - total % 11) % 11
    return "X" if result == 10 else str(result)


def check_orcid(value: str) -> str:
    """An ORCID iD, ``NNNN-NNNN-NNNN-NNNC`` with a valid check character.

    >>> check_orcid("0000-0002-1694-233x")
    Traceback (most recent call last):
    ...
    kg.mapping.identifiers.IdentifierError: ORCID iD '0000-0002-1694-233x' must look like \
0000-0002-1825-0097 (four groups of four digits; the last character may be X, upper-case)
    """
    if not _ORCID.match(value):
        raise IdentifierError(
            f"ORCID iD {value!r} must look like 0000-0002-1825-0097 (four groups of four "
            "digits; the last character may be X, upper-case)")
    digits = value.replace("-", "")
    expected = orcid_check_digit(digits[:15])
    if digits[15] != expected:
        raise IdentifierError(f"check digit of {value!r} should be {expected}")
    return value


def check_doi(value: str) -> str:
    """A DOI, ``10.<registrant>/<suffix>``, without a ``doi:`` or resolver prefix.

    >>> check_doi("10.1000.10/xyz-123")
    '10.1000.10/xyz-123'
    >>> check_doi("https://doi.org/10.1000/x")
    Traceback (most recent call last):
    ...
    kg.mapping.identifiers.IdentifierError: DOI 'https://doi.org/10.1000/x' must be \
10.<registrant>/<suffix>, e.g. 10.1000/xyz123, without a 'doi:' or https://doi.org/ prefix
    """
    if _CONTROL.search(value) or not _DOI.match(value):
        raise IdentifierError(
            f"DOI {value!r} must be 10.<registrant>/<suffix>, e.g. 10.1000/xyz123, "
            "without a 'doi:' or https://doi.org/ prefix")
    return value


def doi_key(value: str) -> str:
    """The identity form of a DOI: DOIs are case-insensitive, so lower-case.

    >>> doi_key("10.1000/XYZ")
    '10.1000/xyz'
    """
    return value.lower()


def check_arxiv(value: str) -> str:
    """An arXiv id without version: ``YYMM.NNNNN`` (``YYMM.NNNN`` before 2015) or
    ``archive(.SC)/YYMMNNN`` (before April 2007).

    >>> check_arxiv("2503.14476"), check_arxiv("math.GT/0309136")
    ('2503.14476', 'math.GT/0309136')
    >>> check_arxiv("2503.14476v2")
    Traceback (most recent call last):
    ...
    kg.mapping.identifiers.IdentifierError: arXiv id '2503.14476v2' must be given without its \
version suffix 'v2'
    >>> check_arxiv("1501.0001")
    Traceback (most recent call last):
    ...
    kg.mapping.identifiers.IdentifierError: arXiv id '1501.0001' needs a 5-digit number after \
the dot (from 1501 on)
    """
    version = _ARXIV_VERSION.search(value)
    if version and (_NEW_ARXIV.match(value[: version.start()])
                    or _OLD_ARXIV.match(value[: version.start()])):
        raise IdentifierError(
            f"arXiv id {value!r} must be given without its version suffix {version.group(0)!r}")
    new = _NEW_ARXIV.match(value)
    if new:
        yy, mm, number = new.groups()
        _check_month(value, mm, "arXiv id")
        yymm = int(yy + mm)
        if yymm < 704:
            raise IdentifierError(
                f"arXiv id {value!r}: new-style ids start in April 2007 (0704); older papers "
                "have old-style ids such as hep-th/9901001")
        if yymm < 1501 and len(number) != 4:
            raise IdentifierError(
                f"arXiv id {value!r} needs a 4-digit number after the dot (before 1501)")
        if yymm >= 1501 and len(number) != 5:
            raise IdentifierError(
                f"arXiv id {value!r} needs a 5-digit number after the dot (from 1501 on)")
        return value
    old = _OLD_ARXIV.match(value)
    if old:
        archive, _subject, yy, mm, _number = old.groups()
        if archive not in OLD_ARXIV_ARCHIVES:
            raise IdentifierError(
                f"{archive!r} in arXiv id {value!r} is not an arXiv archive that had "
                "old-style ids (e.g. hep-th, math, cs, cond-mat)")
        _check_month(value, mm, "old-style arXiv id")
        yymm = int(yy + mm)
        if 703 < yymm < 9108:
            raise IdentifierError(
                f"old-style arXiv id {value!r} must date from 9108 to 0703; later papers "
                "have new-style ids such as 2503.14476")
        return value
    raise IdentifierError(
        f"arXiv id {value!r} must be new-style YYMM.NNNNN (e.g. 2503.14476) or old-style "
        "archive/YYMMNNN (e.g. hep-th/9901001, math.GT/0309136)")


def _check_month(value: str, month: str, what: str) -> None:
    if not 1 <= int(month) <= 12:
        raise IdentifierError(f"month {month} of {what} {value!r} is not 01-12")


def check_wikidata(value: str) -> str:
    """A Wikidata item id, ``Q`` and a number without leading zeros.

    >>> check_wikidata("Q042")
    Traceback (most recent call last):
    ...
    kg.mapping.identifiers.IdentifierError: Wikidata id 'Q042' must be Q followed by a number \
without leading zeros, e.g. Q42
    """
    if not _QID.match(value):
        raise IdentifierError(
            f"Wikidata id {value!r} must be Q followed by a number without leading zeros, "
            "e.g. Q42")
    return value


def check_dblp(value: str) -> str:
    """A dblp person id: numeric (``123/4567``, ``00/1234-1``) or name-based (``h/JohnDoe``).

    >>> check_dblp("00/1234-1"), check_dblp("h/JohnDoe")
    ('00/1234-1', 'h/JohnDoe')
    >>> check_dblp("pid/h/JohnDoe")
    Traceback (most recent call last):
    ...
    kg.mapping.identifiers.IdentifierError: dblp person id 'pid/h/JohnDoe' must look like \
123/4567, 00/1234-1 or h/JohnDoe (without https://dblp.org/pid/)
    """
    if not (_DBLP_NUMERIC.match(value) or _DBLP_NAME.match(value)):
        raise IdentifierError(
            f"dblp person id {value!r} must look like 123/4567, 00/1234-1 or h/JohnDoe "
            "(without https://dblp.org/pid/)")
    return value


def check_profile_url(value: str) -> str:
    """A profile page URL: an absolute http(s) IRI with a host.

    >>> check_profile_url("https://profiles.example.org/ada")
    'https://profiles.example.org/ada'
    >>> check_profile_url("https:///ada")
    Traceback (most recent call last):
    ...
    kg.mapping.identifiers.IdentifierError: profile URL 'https:///ada' must be an absolute \
http(s) IRI with a host, e.g. https://example.org/people/ada
    """
    parts = urlsplit(value) if is_valid_iri(value) else None
    if parts is None or parts.scheme not in ("http", "https") or not parts.hostname:
        raise IdentifierError(
            f"profile URL {value!r} must be an absolute http(s) IRI with a host, "
            "e.g. https://example.org/people/ada")
    return value


_CHECKERS: dict[str, Callable[[str], str]] = {
    "orcid": check_orcid,
    "dblp": check_dblp,
    "wikidata": check_wikidata,
    "profile": check_profile_url,
    "arxiv": check_arxiv,
    "doi": check_doi,
}
assert tuple(_CHECKERS) == SCHEMES


def check(scheme: str, value: str) -> str:
    """Validate ``value`` as an identifier of ``scheme``; the value, or IdentifierError."""
    checker = _CHECKERS.get(scheme)
    if checker is None:
        raise IdentifierError(
            f"unknown identifier scheme {scheme!r} (known: {', '.join(SCHEMES)})")
    return checker(value)


# --- canonical IRIs ----------------------------------------------------------------------

# characters kept in a DOI's IRI: RFC 3986 unreserved, sub-delims, ":" "@" "/"
_DOI_SAFE = "-._~!$&'()*+,;=:@/"


def canonical_iri(scheme: str, value: str) -> str | None:
    """The canonical IRI of a valid identifier (a profile URL is its own IRI).

    None when the value is not valid for the scheme.

    >>> canonical_iri("dblp", "h/JohnDoe")
    'https://dblp.org/pid/h/JohnDoe'
    >>> canonical_iri("profile", "https://profiles.example.org/ada")
    'https://profiles.example.org/ada'
    """
    try:
        check(scheme, value)
    except IdentifierError:
        return None
    if scheme == "profile":
        return value
    if scheme == "doi":
        return TARGET_DATASETS["doi"].uri_space + quote(doi_key(value), safe=_DOI_SAFE)
    return TARGET_DATASETS[scheme].uri_space + value


def target_dataset(iri: str) -> TargetDataset | None:
    """The external dataset a canonical IRI points into, if any.

    >>> target_dataset("https://orcid.org/0000-0002-1825-0097").title
    'ORCID'
    >>> target_dataset("https://example.org/x") is None
    True
    """
    for dataset in TARGET_DATASETS.values():
        if iri.startswith(dataset.uri_space):
            return dataset
    return None


# --- reading targets written by people ----------------------------------------------------

#: ``scheme:value`` prefixes accepted in link files and queries (case-insensitive)
TARGET_PREFIXES = {"orcid": "orcid", "dblp": "dblp", "wikidata": "wikidata", "wd": "wikidata",
            "arxiv": "arxiv", "doi": "doi"}

_IRI_FORMS: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("orcid", re.compile(r"https?://(?:www\.)?orcid\.org/(.+)\Z")),
    ("dblp", re.compile(r"https?://(?:dblp\.org|dblp\.uni-trier\.de)/pid/(.+?)"
                        r"(?:\.html|\.xml|\.rdf|\.nt|\.ttl)?\Z")),
    ("wikidata", re.compile(r"https?://(?:www\.)?wikidata\.org/(?:entity|wiki)/(.+)\Z")),
    ("arxiv", re.compile(r"https?://(?:export\.)?arxiv\.org/abs/(.+)\Z")),
    ("doi", re.compile(r"https?://(?:dx\.)?doi\.org/(.+)\Z")),
)
_SCHEME_PREFIX = re.compile(r"([A-Za-z]+):(?!//)(.+)\Z", re.DOTALL)


@dataclass(frozen=True)
class Target:
    """A link target: its IRI and, when it is a known identifier, its scheme and value."""

    iri: str
    scheme: str | None
    value: str | None


def parse_target(text: str, scheme: str | None = None) -> Target:
    """Read a link target: ``scheme:value``, an identifier of ``scheme``, or an IRI.

    IRIs in a known identifier namespace (any usual spelling: http or https, www,
    dx.doi.org, wikidata.org/wiki) are validated and given in their canonical form.

    >>> parse_target("0000-0002-1825-0097", scheme="orcid").iri
    'https://orcid.org/0000-0002-1825-0097'
    >>> parse_target("DOI:10.1000/XYZ").iri
    'https://doi.org/10.1000/xyz'
    >>> parse_target("http://dx.doi.org/10.1000/a%2Fb").value
    '10.1000/a/b'
    >>> parse_target("isbn:0-306-40615-2")
    Traceback (most recent call last):
    ...
    kg.mapping.identifiers.IdentifierError: 'isbn:0-306-40615-2' is neither an absolute IRI nor \
scheme:value with a scheme of orcid, dblp, wikidata (or wd), arxiv, doi
    """
    text = text.strip()
    if scheme is not None:
        known = scheme.strip().lower()
        if known not in TARGET_PREFIXES:
            raise IdentifierError(
                f"unknown scheme {scheme!r} (known: orcid, dblp, wikidata, arxiv, doi)")
        known = TARGET_PREFIXES[known]
        for form_scheme, pattern in _IRI_FORMS:
            match = pattern.match(text)
            if match and form_scheme == known:
                text = unquote(match.group(1))
                break
        return _target(known, text)
    for form_scheme, pattern in _IRI_FORMS:
        match = pattern.match(text)
        if match:
            return _target(form_scheme, unquote(match.group(1)))
    prefixed = _SCHEME_PREFIX.match(text)
    if prefixed and prefixed.group(1).lower() in TARGET_PREFIXES:
        return _target(TARGET_PREFIXES[prefixed.group(1).lower()], prefixed.group(2).strip())
    parts = urlsplit(text) if is_valid_iri(text) else None
    if parts is not None and parts.scheme and (parts.netloc or parts.scheme == "urn"):
        return Target(text, None, None)
    raise IdentifierError(
        f"{text!r} is neither an absolute IRI nor scheme:value with a scheme of "
        "orcid, dblp, wikidata (or wd), arxiv, doi")


def _target(scheme: str, value: str) -> Target:
    check(scheme, value)
    target = canonical_iri(scheme, value)
    assert target is not None
    return Target(target, scheme, value)
