"""Layout B, the "Collaborating Authors" listing: one person and the papers they wrote.

The name is printed reversed ("Last, First") after a no-break space; each paper is a title, the
source feed it was listed from and an abstract, separated by blank lines. There are no
metrics, dates or bylines; the person is an author of every listed paper.
"""

from __future__ import annotations

from kg.mapping.names import display_name
from kg.parse.profile_page import LineCursor, code_repositories, quote, take_name
from kg.parse.records import Paper, Profile

_GOTO = "Goto"
_HEADING = "Collaborating Authors"


def parse_collaborating_authors(text: str, *, path: str) -> Profile:
    """Parse a "Collaborating Authors" listing.

    >>> page = (
    ...     "Goto\\n\\nCollaborating Authors\\n\\n\\u00a0Lovelace, Ada\\n\\n\\n"
    ...     "Notes on the Analytical Engine\\n\\narXiv.org Artificial Intelligence\\n\\n"
    ...     "We describe https://github.com/ada/engine.\\n"
    ... )
    >>> profile = parse_collaborating_authors(page, path="ada.txt")
    >>> profile.name, profile.name_as_printed, profile.layout
    ('Ada Lovelace', 'Lovelace, Ada', 'collaborating-authors')
    >>> paper = profile.papers[0]
    >>> paper.title, paper.source_feed, paper.line, paper.code_repositories
    ('Notes on the Analytical Engine', 'arXiv.org Artificial Intelligence', 8, ('https://github.com/ada/engine',))
    """
    cursor = LineCursor(text, path=path)
    for expected in (_GOTO, _HEADING):
        number, text_line = cursor.take(repr(expected))
        if text_line.strip() != expected:
            raise cursor.error(number, f"expected {expected!r}, found {quote(text_line)}")
    # the no-break space before the name is layout, not name
    printed = take_name(cursor, "the researcher's name, like '\\xa0Zhang, Zheng'")
    name = display_name(printed)
    papers: list[Paper] = []
    while not cursor.at_end():
        line, title = cursor.take("a paper's title", after_blank=True)
        _, feed = cursor.take("the paper's source feed", after_blank=True)
        _, abstract = cursor.take("the abstract", after_blank=True)
        papers.append(
            Paper(
                title=title,
                line=line,
                abstract=abstract,
                source_feed=feed,
                code_repositories=code_repositories(abstract),
            )
        )
    return Profile(
        name=name,
        layout="collaborating-authors",
        name_as_printed=printed if printed != name else None,
        papers=tuple(papers),
    )
