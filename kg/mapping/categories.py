"""Two-letter subject codes and the arXiv categories they map to.

A code maps to an arXiv category only when exactly one arXiv archive uses it:

>>> arxiv_category("LG"), arxiv_category("ME")
('cs.LG', 'stat.ME')
>>> arxiv_category("CV") is None   # cs.CV and math.CV
True
"""

from __future__ import annotations

_ARCHIVES: dict[str, str] = {
    "cs": "AI AR CC CE CG CL CR CV CY DB DC DL DM DS ET FL GL GR GT HC IR IT LG LO MA MM MS NA "
          "NE NI OH OS PF PL RO SC SD SE SI SY",
    "math": "AC AG AP AT CA CO CT CV DG DS FA GM GN GR GT HO IT KT LO MG MP NA NT OA OC PR QA "
            "RA RT SG SP ST",
    "stat": "AP CO ME ML OT TH",
    "eess": "AS IV SP SY",
    "econ": "EM GN TH",
    "q-bio": "BM CB GN MN NC OT PE QM SC TO",
    "q-fin": "CP EC GN MF PM PR RM ST TR",
    "astro-ph": "CO EP GA HE IM SR",
}


def _unambiguous() -> dict[str, str]:
    owners: dict[str, list[str]] = {}
    for archive, codes in _ARCHIVES.items():
        for code in codes.split():
            owners.setdefault(code, []).append(archive)
    return {
        code: f"{archives[0]}.{code}" for code, archives in owners.items() if len(archives) == 1
    }


UNAMBIGUOUS: dict[str, str] = _unambiguous()


def arxiv_category(code: str) -> str | None:
    """The arXiv category of a two-letter code, or None when absent or ambiguous."""
    return UNAMBIGUOUS.get(code)
