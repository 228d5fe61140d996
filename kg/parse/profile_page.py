"""Layout A, the scored profile page: a researcher's metrics and their scored papers.

The page is read line by line. Extra blank lines between blocks are tolerated, content is not:
an unexpected line is a :class:`~kg.errors.DocumentError` naming the line, what was expected
and what was found. Literals (title, byline, abstract) are kept exactly as printed.

This module also holds the line handling and the byline and repository-URL rules that the
other text layout (:mod:`kg.parse.collaborating_authors`) and the JSON Lines form share.
"""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal
from urllib.parse import urlsplit

from kg.errors import DocumentError
from kg.mapping.names import display_name
from kg.parse.records import Metrics, Paper, Profile

#: hosts whose URLs in an abstract are code repositories (subdomains included)
CODE_HOSTS = (
    "github.com",
    "gitlab.com",
    "bitbucket.org",
    "codeberg.org",
    "huggingface.co",
    "sourceforge.net",
)

#: organisation slugs as shown after " · ", e.g. "tencent-ai"
ORGANISATION_SLUG = re.compile(r"[a-z0-9]+(?:-[a-z0-9]+)*")

_MONTHS = {
    name: number
    for number, name in enumerate(
        ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"),
        start=1,
    )
}
_NEWLINE = re.compile(r"\r\n|\r|\n")
_INT = r"([0-9]{1,3}(?:,[0-9]{3})+|[0-9]+)"
_NUMBER = r"([0-9]+(?:\.[0-9]+)?)"
_CATEGORY = re.compile(r"[A-Z]{2}")
_H_INDEX = re.compile(rf"h-index\s*{_INT}")
_PAPER_COUNT = re.compile(rf"{_INT}\s*papers?")
_CITATION_COUNT = re.compile(rf"{_INT}\s*citations?")
_NOVELTY = re.compile(rf"Novelty\s*{_NUMBER}\s*%")
_AI_SCORE = re.compile(rf"AI Score\s*{_NUMBER}")
_LISTED = re.compile(rf"{_INT}\s+Papers?")
#: "[<score>]<CODE><Mon> <D>[, <YYYY>][Code]"
DATE_LINE = re.compile(
    r"(?P<score>[0-9]+(?:\.[0-9]+)?)?(?P<code>[A-Z]{2})"
    r"(?P<date>(?P<month>[A-Z][a-z]{2}) (?P<day>[0-9]{1,2})(?:, (?P<year>[0-9]{4}))?)"
    r"(?P<flag>Code)?"
)
_URL = re.compile(r"https?://[^\s<>\"'`{}|\\^\[\]]+")
_ET_AL = "et al."
_ORG_SEPARATOR = " \u00b7 "
_QUOTE_LIMIT = 80
#: the longest name accepted (also ``maxLength`` of a record's name): a person's IRI is made
#: from the name and written in every statement about them, so a huge name would multiply
#: the size of the document
MAX_NAME_LENGTH = 500


def split_lines(text: str) -> list[str]:
    """The lines of ``text`` without their terminators (CRLF, CR or LF; a BOM is dropped).

    >>> split_lines("a\\r\\n\\nb\\n")
    ['a', '', 'b']
    >>> split_lines("a\\nb")
    ['a', 'b']
    """
    text = text.removeprefix("\ufeff")
    if "\r" in text:
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    return lines


def quote(text: str) -> str:
    """``text`` quoted for an error message, cut to about 80 characters.

    >>> quote("hindex 7")
    "'hindex 7'"
    >>> len(quote("x" * 500)) < 90
    True
    """
    if len(text) > _QUOTE_LIMIT:
        text = text[:_QUOTE_LIMIT] + "\u2026"
    return repr(text)


def code_repositories(text: str) -> tuple[str, ...]:
    """Repository URLs on known code hosts in ``text``, trailing sentence punctuation removed.

    >>> code_repositories("Code: https://github.com/hkust-nlp/Laser. See https://example.org/x.")
    ('https://github.com/hkust-nlp/Laser',)
    """
    found: dict[str, None] = {}  # ordered, without repeats
    for match in _URL.finditer(text):
        url = _trim_url(match.group())
        try:
            parts = urlsplit(url)
        except ValueError:
            continue
        host = (parts.hostname or "").lower()
        on_code_host = any(host == h or host.endswith("." + h) for h in CODE_HOSTS)
        if on_code_host and parts.path.strip("/"):
            found[url] = None
    return tuple(found)


def _trim_url(url: str) -> str:
    """``url`` without trailing sentence punctuation; a ")" only when it closes nothing."""
    end, opened, closed = len(url), url.count("("), url.count(")")
    while end:
        last = url[end - 1]
        if last == ")" and closed > opened:
            closed -= 1
        elif last not in ".,;:!?":
            break
        end -= 1
    return url[:end]


def is_truncated(byline: str) -> bool:
    """Whether a byline ends in "et al.", i.e. does not list every author.

    >>> is_truncated("Rui Li, Xiaoyun Zhi, Jinxin Chi et al."), is_truncated("Ling Team")
    (True, False)
    """
    text = byline.strip()
    return text == _ET_AL or text.endswith((" " + _ET_AL, "," + _ET_AL))


def split_byline(byline: str) -> tuple[tuple[str, ...], bool]:
    """The author names of a byline (without any " · org" part) and whether it is complete.

    "et al." ends a truncated byline and is never an author. Raises ``ValueError`` for an
    empty name.

    >>> split_byline("Hamed Firooz, Rui Liu, Yuchen Lu et al.")
    (('Hamed Firooz', 'Rui Liu', 'Yuchen Lu'), False)
    >>> split_byline("Zishi Zhang, Yijie Peng")
    (('Zishi Zhang', 'Yijie Peng'), True)
    """
    text = byline.strip()
    complete = not is_truncated(byline)
    if not complete:
        text = text[: -len(_ET_AL)].rstrip().removesuffix(",").rstrip()
    if not text:
        if complete:
            raise ValueError("empty byline")
        return (), complete
    names = tuple(map(str.strip, text.split(",")))
    if not all(names):
        raise ValueError(f"empty author name in byline {quote(byline)}")
    return names, complete


def resolve_date(month: int, day: int, year: int | None, as_of: dt.date) -> dt.date:
    """The date printed as month, day and optional year; without a year, the latest such
    month/day not after ``as_of``. Raises ``ValueError`` for a date that does not exist.

    >>> resolve_date(12, 23, None, dt.date(2026, 11, 21))
    datetime.date(2025, 12, 23)
    >>> resolve_date(2, 29, None, dt.date(2026, 11, 21))
    datetime.date(2024, 2, 29)
    """
    if year is not None:
        return dt.date(year, month, day)
    dt.date(2000, month, day)  # a leap year: rejects only days that never exist
    for candidate in range(as_of.year, dt.MINYEAR - 1, -1):
        try:
            resolved = dt.date(candidate, month, day)
        except ValueError:
            continue
        if resolved <= as_of:
            return resolved
    raise ValueError(f"no {month:02d}-{day:02d} on or before {as_of}")


class LineCursor:
    """Reads a document's lines in order, skipping blank lines, and explains what went wrong.

    >>> cursor = LineCursor("Goto\\n\\n  Collaborating Authors\\n", path="a.txt")
    >>> cursor.take("'Goto'")
    (1, 'Goto')
    >>> cursor.take("a name", after_blank=True)
    (3, '  Collaborating Authors')
    >>> cursor.at_end()
    True
    """

    def __init__(self, text: str, *, path: str) -> None:
        self.lines = split_lines(text)
        self.path = path
        self._next = 0

    def error(self, line: int | None, reason: str) -> DocumentError:
        """A :class:`DocumentError` for this document at ``line`` (1-based)."""
        return DocumentError(self.path, line, reason)

    def at_end(self) -> bool:
        """True when only blank lines are left."""
        return self._next_non_blank() == len(self.lines)

    def take(self, what: str, *, after_blank: bool = False) -> tuple[int, str]:
        """The next non-blank line as (1-based number, exact text).

        ``after_blank`` requires at least one blank line before it (between free-text fields,
        the blank line is what shows where one field ends).
        """
        index = self._next_non_blank()
        if index == len(self.lines):
            raise self.error(len(self.lines) or None, f"expected {what}, found end of document")
        text = self.lines[index]
        if after_blank and index == self._next:
            raise self.error(
                index + 1, f"expected a blank line and then {what}, found {quote(text)}"
            )
        self._next = index + 1
        return index + 1, text

    def take_match(self, pattern: re.Pattern[str], what: str) -> tuple[int, re.Match[str]]:
        """The next non-blank line, which must match ``pattern`` (surrounding space ignored)."""
        number, text = self.take(what)
        match = pattern.fullmatch(text.strip())
        if match is None:
            raise self.error(number, f"expected {what}, found {quote(text)}")
        return number, match

    def _next_non_blank(self) -> int:
        index = self._next
        while index < len(self.lines) and not self.lines[index].strip():
            index += 1
        return index


def take_name(cursor: LineCursor, what: str) -> str:
    """The next non-blank line as a person's name, without surrounding space."""
    number, printed = cursor.take(what)
    printed = printed.strip()
    if len(printed) > MAX_NAME_LENGTH:
        raise cursor.error(number, f"expected {what}, found a line of {len(printed):,} "
                           f"characters (a name has at most {MAX_NAME_LENGTH})")
    return printed


def _int(text: str) -> int:
    return int(text.replace(",", ""))


def _take_count(cursor: LineCursor, pattern: re.Pattern[str], what: str) -> int:
    """The next line's count; more digits than ``int()`` converts is an input error."""
    number, match = cursor.take_match(pattern, what)
    try:
        return _int(match[1])
    except ValueError as exc:  # over sys.get_int_max_str_digits() (4300 by default)
        digits = len(match[1].replace(",", ""))
        raise cursor.error(number, f"expected {what}, found a count of {digits} digits") from exc


def parse_profile_page(text: str, *, path: str, as_of: dt.date) -> Profile:
    """Parse a scored profile page; year-less paper dates are resolved against ``as_of``.

    >>> page = '''Ada Lovelace
    ...
    ... LG
    ... h-index3
    ... 1paper
    ... 1,204citations
    ... Novelty40%
    ... AI Score39
    ...
    ... 1 Papers
    ...
    ... 92.3LGMar 13Code
    ... Notes on the $\\\\mathcal{A}$nalytical Engine
    ...
    ... Charles Babbage, Ada Lovelace et al. · cmu
    ...
    ... As Smith et al. note, see https://github.com/ada/engine.
    ... '''
    >>> profile = parse_profile_page(page, path="ada.txt", as_of=dt.date(2026, 11, 21))
    >>> profile.name, profile.metrics.citation_count, profile.metrics.novelty_score
    ('Ada Lovelace', 1204, Decimal('40'))
    >>> paper = profile.papers[0]
    >>> paper.title
    'Notes on the $\\\\mathcal{A}$nalytical Engine'
    >>> paper.date, paper.score, paper.code_available, paper.line
    (datetime.date(2026, 3, 13), Decimal('92.3'), True, 12)
    >>> paper.authors, paper.byline_complete, paper.organisations, paper.code_repositories
    (('Charles Babbage', 'Ada Lovelace'), False, ('cmu',), ('https://github.com/ada/engine',))
    """
    cursor = LineCursor(text, path=path)
    printed = take_name(cursor, "the researcher's name")
    name = display_name(printed)
    _, category = cursor.take_match(_CATEGORY, "a category code like 'LG'")
    h_index = _take_count(cursor, _H_INDEX, "'h-index<int>'")
    paper_count = _take_count(cursor, _PAPER_COUNT, "'<int>papers'")
    citation_count = _take_count(cursor, _CITATION_COUNT, "'<int>citations'")
    _, novelty = cursor.take_match(_NOVELTY, "'Novelty<int>%'")
    _, ai_score = cursor.take_match(_AI_SCORE, "'AI Score<int>'")
    listed = _take_count(cursor, _LISTED, "'<int> Papers'")
    papers: list[Paper] = []
    while not cursor.at_end():
        papers.append(_paper(cursor, as_of))
    return Profile(
        name=name,
        layout="scored-profile-page",
        name_as_printed=printed if printed != name else None,
        category_code=category.group(),
        metrics=Metrics(
            h_index=h_index,
            paper_count=paper_count,
            citation_count=citation_count,
            novelty_score=Decimal(novelty[1]),
            ai_score=Decimal(ai_score[1]),
        ),
        listed_paper_count=listed,
        papers=tuple(papers),
    )


def _free_text(cursor: LineCursor, what: str, *, after_blank: bool) -> tuple[int, str]:
    number, text = cursor.take(what, after_blank=after_blank)
    if DATE_LINE.fullmatch(text.strip()):
        raise cursor.error(number, f"expected {what}, found a date line {quote(text)}")
    return number, text


def _paper(cursor: LineCursor, as_of: dt.date) -> Paper:
    line, match = cursor.take_match(
        DATE_LINE, "a paper's date line like 'LGMay 28' or '92.3CLDec 26, 2025Code'"
    )
    month = _MONTHS.get(match["month"])
    year = match["year"]
    try:
        if month is None:
            raise ValueError(f"unknown month {match['month']!r}")
        date = resolve_date(month, int(match["day"]), int(year) if year else None, as_of)
    except ValueError as exc:
        raise cursor.error(line, f"invalid date {quote(match['date'])}: {exc}") from exc
    _, title = _free_text(cursor, "the paper's title", after_blank=False)
    byline_number, byline_line = _free_text(cursor, "the byline", after_blank=True)
    byline, organisations = _split_organisations(cursor, byline_number, byline_line)
    try:
        authors, complete = split_byline(byline)
    except ValueError as exc:
        raise cursor.error(byline_number, str(exc)) from exc
    _, abstract = _free_text(cursor, "the abstract", after_blank=True)
    return Paper(
        title=title,
        line=line,
        abstract=abstract,
        category_code=match["code"],
        date=date,
        date_text=match["date"],
        score=Decimal(match["score"]) if match["score"] else None,
        code_available=match["flag"] is not None,
        byline=byline,
        authors=authors,
        byline_complete=complete,
        organisations=organisations,
        code_repositories=code_repositories(abstract),
    )


def _split_organisations(cursor: LineCursor, line: int, text: str) -> tuple[str, tuple[str, ...]]:
    byline, separator, orgs = text.rpartition(_ORG_SEPARATOR)
    if not separator:
        return text, ()
    slugs = tuple(org.strip() for org in orgs.split(","))
    for slug in slugs:
        if not ORGANISATION_SLUG.fullmatch(slug):
            raise cursor.error(
                line,
                f"expected organisation slugs like 'tencent-ai' after ' \u00b7 ', "
                f"found {quote(slug)}",
            )
    return byline, slugs
