"""Identity keys: the normalisation the contract's identity rules describe.

A person's key folds case, spacing, accents, punctuation and "Last, First" order:

>>> person_key("Zhang, Zheng") == person_key("Zheng Zhang")
True
>>> person_key("ZhaoXin  Huan") == person_key("Zhaoxin Huan")
True
>>> person_key("José Núñez")
'jose nunez'
>>> display_name("Zhang, Zheng")
'Zheng Zhang'

A paper's key folds case, Unicode compatibility forms and spacing, nothing else:

>>> title_key("Muon is  Scalable") == title_key("muon is scalable")
True
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

_NON_WORD = re.compile(r"[\W_]+", re.UNICODE)
_SPACE = re.compile(r"\s+", re.UNICODE)


def display_name(name: str) -> str:
    """The "First Last" display form of a name printed as "Last, First" (or already displayed)."""
    name = _SPACE.sub(" ", name).strip()
    if name.count(",") == 1:
        last, first = (part.strip() for part in name.split(","))
        if last and first:
            return f"{first} {last}"
    return name


def _fold(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text)
    stripped = "".join(c for c in decomposed if not unicodedata.combining(c))
    return stripped.casefold()


@lru_cache(maxsize=1 << 18)
def person_key(name: str) -> str:
    """The identity key of a person's name."""
    return _SPACE.sub(" ", _NON_WORD.sub(" ", _fold(display_name(name)))).strip()


@lru_cache(maxsize=1 << 16)
def title_key(title: str) -> str:
    """The identity key of a paper title."""
    return _SPACE.sub(" ", unicodedata.normalize("NFKC", title).casefold()).strip()


def slug(text: str) -> str:
    """A readable IRI path segment: an identity key with spaces as hyphens.

    >>> slug(person_key("Yuzhen Huang"))
    'yuzhen-huang'
    """
    return text.replace(" ", "-")
