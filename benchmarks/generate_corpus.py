"""Generate synthetic researcher-profile documents in both text layouts, at any scale.

The documents mirror the seed pages byte for byte in shape (see
``/work/shared/spec/input-formats.md``): layout A, the scored profile page, and
layout B, the "Collaborating Authors" listing. Everything is a pure function of
the seed, the profile count and the options, so the same call writes the same bytes.

Profiles are generated in communities of :data:`COMMUNITY_SIZE` owners that share a
pool of papers and co-authors, so papers recur on several profiles (same title, a
byline truncated differently on each) and co-authors recur. Only one community is
held in memory at a time: memory does not grow with the number of profiles.

>>> docs = list(iter_documents(3, seed=7))
>>> [path.split("/")[0] for path, _ in docs]
['0000', '0000', '0000']
>>> docs == list(iter_documents(3, seed=7))
True
>>> any(text.endswith("\\n") for _, text in docs)
False

Command line::

    python benchmarks/generate_corpus.py --profiles 10000 --out /tmp/corpus --seed 1
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import math
import operator
import random
import sys
import time
import unicodedata
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

#: the as-of date year-less dates are written against, unless told otherwise
DEFAULT_AS_OF = dt.date(2026, 11, 21)
#: at most this many files per subfolder of the output directory
SHARD_SIZE = 1000
#: profile owners per community (a community shares papers and co-authors)
COMMUNITY_SIZE = 50
#: co-authors per community who own no profile
EXTERNALS_PER_COMMUNITY = 60
#: co-authors shared by every community (prolific people who recur everywhere)
PROLIFIC_PEOPLE = 2000
#: a community's papers are numbered below this, so paper numbers are global and unique
PAPERS_PER_COMMUNITY_CAP = COMMUNITY_SIZE * 50

MIN_PAPERS, MAX_PAPERS = 5, 50
MIN_ABSTRACT_WORDS, MAX_ABSTRACT_WORDS = 150, 350
MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")

# --------------------------------------------------------------------------- vocabulary


def _phrases(text: str) -> tuple[str, ...]:
    """One phrase per non-blank line."""
    return tuple(line.strip() for line in text.splitlines() if line.strip())


CATEGORY_WEIGHTS = dict(LG=30, CL=22, AI=15, CV=14, IR=6, DC=4, RO=3, NE=2, ME=2, CO=2)
CATEGORY_CODES = tuple(CATEGORY_WEIGHTS)
SOURCE_FEEDS: dict[str, str] = {
    "AI": "arXiv.org Artificial Intelligence",
    "CL": "arXiv.org Computation and Language",
    "CO": "arXiv.org Combinatorics",
    "CV": "arXiv.org Computer Vision and Pattern Recognition",
    "DC": "arXiv.org Distributed, Parallel, and Cluster Computing",
    "IR": "arXiv.org Information Retrieval",
    "LG": "arXiv.org Machine Learning",
    "ME": "arXiv.org Methodology",
    "RO": "arXiv.org Robotics",
    "NE": "arXiv.org Neural and Evolutionary Computing",
}
ORG_SLUGS = tuple(
    """
    tencent-ai cmu baidu pku tsinghua mit stanford google-deepmind meta-ai alibaba bytedance
    microsoft-research ethz epfl mila inria kaist ntu hkust sjtu zju berkeley oxford cambridge
    uw nvidia ant-group huawei-noah sensetime amazon ucl mpi-is kuleuven utokyo
    """.split()
)

FIRST_HEADS = tuple(
    """
    zhao yu wei xin hao jun li ming qian rui shu tian xiao yan zhi chen jia kai lin mei ning
    peng qing si ting wen zi bo fei guo hui jie lei ad al be ca da el fe ga jo ka le ma ni pa
    ra sa ta va ré lu ha ju mo no so ya
    """.split()
)
FIRST_TAILS = tuple(
    """
    xin hao ming rui wei chen jun yu han long feng lan hua shan ping qi tao yang zhen rian lia
    min na ra ton vin sé lie mon dré ka ro mir nuel bel dan lo mé rik sha
    """.split()
)
LAST_SINGLES = tuple(
    """
    zhang huang wang liu zhou wu xu sun zhu hu guo he luo gao zheng liang xie tang han feng
    deng cao zeng pan yuan cai jiang du ye cheng su ding ren shen yao jin fu tan fan shi hou
    qin kim park lee cho singh patel rao khan ali silva costa rossi bruno weber wolf koch meyer
    dubois moreau laurent martin novak smith brown jones miller davis garcia lopez müller núñez
    gómez schäfer lefèvre firooz gupta zha shum huan luan geng ou bai
    """.split()
)
LAST_HEADS = tuple(
    """
    ber kal mor hal ros lind win ash dor vel mar tor cas bel fen gar hol ker lan mal nor ost
    pel ril sal tam val wes yar zel
    """.split()
)
LAST_TAILS = tuple(
    """
    berg mann son ton ford field ley ner ova enko ski ez ini eau ström ić stein ard ero ides
    """.split()
)
MIDDLE_NAMES = tuple(
    """
    Peter Marie Tak Ali Jean Busnot Van De
    """.split()
)

COIN_SYLLABLES = tuple(c + v for c in "bdfgklmnprstvz" for v in "aeiou")
COIN_SUFFIXES = ("", "", "", "", "", "-R1", "++", "-7B", "-Bench", "2", "-X")
ADJECTIVES = tuple(
    """
    Scalable Efficient Robust Sparse Adaptive Unified Hierarchical Contrastive Causal Federated
    Multimodal Self-Supervised Zero-Shot Long-Context Low-Rank Verifiable Differentiable
    Probabilistic Quantized Distributed Compute-Optimal Execution-Free Retrieval-Augmented
    Lightweight
    """.split()
)
NOUNS = _phrases(
    """
    Reinforcement Learning
    Language Models
    Graph Neural Networks
    Retrieval
    Recommendation
    Diffusion Models
    Reward Models
    Attention
    Optimization
    Pretraining
    Fine-Tuning
    Reasoning
    Agents
    Embeddings
    Tokenization
    Inference
    Data Selection
    Alignment
    Planning
    Segmentation
    Verifiers
    Mixture-of-Experts
    Policy Optimization
    Knowledge Distillation
    World Models
    """
)
TASKS = _phrases(
    """
    Content Moderation
    Click-Through Rate Prediction
    Code Generation
    Mathematical Reasoning
    Robot Manipulation
    Protein Design
    Question Answering
    Machine Translation
    Image Generation
    Time Series Forecasting
    Scientific Discovery
    Ranking and Selection
    Software Engineering Agents
    Online Advertising
    Speech Recognition
    Volume-Preserving Integrators
    """
)
PROPERTIES = _phrases(
    """
    Robustness
    Calibration
    Sample Efficiency
    Limits
    Geometry
    Convergence
    Scaling Behaviour
    Stability
    """
)
VERBS = tuple(
    """
    Reason Rank Plan Compress Retrieve Summarize Verify Forecast
    """.split()
)
TITLE_TEMPLATES = (
    "{adj} {noun} for {task}",
    "Towards {adj} {noun} in {task}",
    "Scaling {noun} with {adj} {noun2}",
    "On the {prop} of {adj} {noun}",
    "Rethinking {noun} for {adj} {task}",
    "When {noun} Meet {noun2}",
    "A Survey of {adj} {noun}",
    "Learning to {verb} with {adj} {noun}",
    "{adj} and {adj2} {noun} at Scale",
)
#: occasional title decorations (never a colon: the coined name before it must stay unique)
TITLE_SPECIALS = (
    ' "{adj} and {adj2}" Procedures',
    " for Ranking & Selection",
    " with <1% Overhead",
    " When Depth > Width",
    " in \\mathbb{{R}}^n",
    " — A Case Study",
    " Déjà Vu",
    " Über Alles",
    " Beyond O(n\\log n) Attention",
    " with 'Self-Reflection'",
)

WORDS = tuple(
    """
    model models training data learning large language reasoning reward policy agent
    agents benchmark benchmarks performance efficiency scalable scaling distributed
    inference latency throughput memory compute accuracy robustness generalization
    representation representations embedding embeddings retrieval recommendation ranking
    transformer attention sparse dense mixture experts optimization gradient gradients
    stochastic convergence objective loss regularization supervision self-supervised
    contrastive multimodal vision text image video audio speech graph graphs node nodes
    edge structure structured hierarchical temporal sequence sequences token tokens
    context long-context window pretraining fine-tuning alignment preference feedback
    human annotation annotations label labels noisy sparse-reward verifiable verifier
    verifiers execution-free unit tests coding software engineering mathematical proof
    theorem algebraic Hopf numerical integrator volume-preserving forest aromatic
    recommendation click-through rate prediction advertising online offline production
    industrial cluster GPU GPUs accelerator hardware kernel kernels communication overlap
    pipeline parallelism sharding checkpoint checkpoints startup overhead container
    dependency snapshot prefetch storage bandwidth compression quantization pruning
    low-rank adapter adapters distillation teacher student curriculum exploration
    exploitation entropy collapse rollouts trajectories samples sample-efficient robust
    calibration uncertainty Bayesian posterior prior likelihood variational diffusion
    denoising score generative discriminative classifier classifiers detection
    segmentation tracking planning control robotic manipulation locomotion simulation
    real-world deployment evaluation metric metrics baseline baselines ablation ablations
    empirical theoretical analysis framework method approach system systems pipeline
    dataset datasets corpus corpora multilingual cross-lingual translation summarization
    question answering dialogue instruction instructions chain-of-thought verification
    search beam tree sampling decoding speculative cache caching throughput-oriented
    state-of-the-art substantial significant consistent improvements gains across
    diverse tasks domains settings regimes while without under over within between
    """.split()
)
SENTENCE_OPENERS = _phrases(
    """
    In this work, we study
    We propose
    This paper presents
    Recent advances in
    However,
    Moreover,
    To address this limitation, we introduce
    Experiments on
    We further show that
    Our results suggest that
    Unlike prior work,
    Specifically, we design
    Finally, we analyse
    In particular,
    Notably,
    Building on this observation, we develop
    Empirically,
    Theoretically, we prove that
    """
)
#: 256 entries, so one random byte picks one word (fast, and the same for a seed)
WORD_TABLE = tuple(WORDS[i % len(WORDS)] for i in range(256))
OPENERS_WITH_LENGTH = tuple((opener, len(opener.split())) for opener in SENTENCE_OPENERS)
#: sentences that carry the characters a parser must keep verbatim
ABSTRACT_SPECIALS = (
    "Our method improves accuracy by up to 6\\%+ over the strongest baseline.",
    'We observe the "aha moment" for the first time in small models.',
    "The resulting model achieves $\\sim\\!2\\times$ higher throughput than AdamW.",
    "Training in ${\\rm FP}8$ and ${\\rm INT}4$ keeps the loss within $10^{-3}$ of full precision.",
    "We release the AntM$^{2}$C-style splits as a companion resource.",
    "Latency stays < 5 ms while recall remains > 0.9 on every split.",
    "The model emits <think> tags before its final answer.",
    "We evaluate on R&D documents and Q&A pairs from public forums.",
    "This naïve approach — surprisingly — matches the über-tuned baselines.",
    "We thank the Poincaré and Schrödinger groups for the café-style discussions.",
    "The \\textbf{regional} gradients are computed once per block.",
    "The so-called 'shortcut' features vanish after the second stage.",
)


def _fold(text: str) -> str:
    """Case-, accent-insensitive form used to keep generated names distinct."""
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(c for c in decomposed if not unicodedata.combining(c)).casefold()


def _distinct_by_fold(candidates: Sequence[tuple[str, ...]]) -> tuple[tuple[str, ...], ...]:
    """Keep the first candidate of every folded spelling, so no two names compare equal."""
    seen: set[str] = set()
    kept: list[tuple[str, ...]] = []
    for parts in candidates:
        key = _fold("".join(parts))
        if key not in seen:
            seen.add(key)
            kept.append(parts)
    return tuple(kept)


#: first names as syllable pairs ("zhao", "xin") -> "Zhaoxin" (variant "ZhaoXin")
FIRST_NAMES = _distinct_by_fold([(h, t) for h in FIRST_HEADS for t in FIRST_TAILS])
LAST_NAMES = _distinct_by_fold(
    [(s,) for s in LAST_SINGLES] + [(h, t) for h in LAST_HEADS for t in LAST_TAILS]
)
#: how many distinct people the name space holds
NAME_SPACE = len(FIRST_NAMES) * len(LAST_NAMES)


# --------------------------------------------------------------------------- people


@dataclass(frozen=True, slots=True)
class Person:
    """A generated person: display name, and the camel-case variant of it if it has one."""

    name: str
    variant: str
    first: str
    last: str


class NameBook:
    """Maps person numbers to distinct names through a seeded permutation of the name space.

    People numbered below ``owners`` own profiles and always have two-word names; a few
    co-authors above get a middle name ("Ping Tak Peter Tang").

    >>> book = NameBook(seed=1, people=10, owners=5)
    >>> len({book.person(i).name for i in range(10)})
    10
    """

    def __init__(self, seed: int, people: int, owners: int) -> None:
        if people > NAME_SPACE:
            raise ValueError(f"{people} people exceed the name space of {NAME_SPACE} names")
        self._owners = owners
        self._cache: dict[int, Person] = {}
        rng = random.Random(f"{seed}:names")
        self._multiplier = rng.randrange(1, NAME_SPACE)
        while math.gcd(self._multiplier, NAME_SPACE) != 1:
            self._multiplier = rng.randrange(1, NAME_SPACE)
        self._offset = rng.randrange(NAME_SPACE)

    def person(self, number: int) -> Person:
        """The person with this number (recently used people are cached)."""
        found = self._cache.get(number)
        if found is None:
            if len(self._cache) >= 100_000:
                self._cache.clear()
            found = self._cache[number] = self._make_person(number)
        return found

    def _make_person(self, number: int) -> Person:
        slot = (self._multiplier * number + self._offset) % NAME_SPACE
        first_parts = FIRST_NAMES[slot % len(FIRST_NAMES)]
        last_parts = LAST_NAMES[slot // len(FIRST_NAMES)]
        first = "".join(first_parts).capitalize()
        last = "".join(last_parts).capitalize()
        camel = "".join(part.capitalize() for part in first_parts)
        if number >= self._owners and number % 23 == 0:
            middle = MIDDLE_NAMES[number % len(MIDDLE_NAMES)]
            first, camel = f"{first} {middle}", f"{camel} {middle}"
        return Person(f"{first} {last}", f"{camel} {last}", first, last)


# --------------------------------------------------------------------------- papers


@dataclass(frozen=True, slots=True)
class CorpusPlan:
    """The options every community is generated under."""

    profiles: int
    seed: int
    layout_b_share: float
    as_of: dt.date

    @property
    def communities(self) -> int:
        return math.ceil(self.profiles / COMMUNITY_SIZE)

    @property
    def people(self) -> int:
        return self.profiles + self.communities * EXTERNALS_PER_COMMUNITY + PROLIFIC_PEOPLE


@dataclass(frozen=True, slots=True)
class PaperContent:
    """What a paper is, independent of the profile it is listed on."""

    number: int
    title: str
    abstract: str
    category: str
    date: dt.date
    date_text: str
    score: str
    code: bool
    orgs: tuple[str, ...]


def coin_width(papers: int) -> int:
    """How many syllables make every paper number below ``papers`` a distinct coined name.

    >>> coin_width(15_000), coin_width(5_000_000)
    (3, 4)
    """
    width = 3
    while len(COIN_SYLLABLES) ** width < papers:
        width += 1
    return width


def coined_name(number: int, width: int = 3) -> str:
    """A pronounceable name unique to a paper number below ``70 ** width``.

    The number is scrambled by a bijection modulo ``70 ** width`` (the multiplier is prime
    to 70), then written with fixed-width syllables, so distinct numbers give distinct names.

    >>> coined_name(0), coined_name(1)
    ('Lanebi', 'Derado')
    >>> len({coined_name(n) for n in range(5000)})
    5000
    """
    space = len(COIN_SYLLABLES) ** width
    value = (number * 7_919_011 + 12_345) % space
    digits: list[str] = []
    for _ in range(width):
        value, digit = divmod(value, len(COIN_SYLLABLES))
        digits.append(COIN_SYLLABLES[digit])
    return "".join(digits).capitalize()


def _coin_style(coin: str, rng: random.Random) -> str:
    style = rng.random()
    if style < 0.3:
        return "".join(coin[i : i + 2].capitalize() for i in range(0, len(coin), 2))
    if style < 0.45:
        return coin.upper()
    return coin


def make_title(number: int, width: int, rng: random.Random) -> str:
    """A title made unique by the paper's coined name (before the colon, or the last word)."""
    adj, adj2 = rng.sample(ADJECTIVES, 2)
    noun, noun2 = rng.sample(NOUNS, 2)
    words = {
        "adj": adj,
        "adj2": adj2,
        "noun": noun,
        "noun2": noun2,
        "task": rng.choice(TASKS),
        "prop": rng.choice(PROPERTIES),
        "verb": rng.choice(VERBS),
    }
    phrase = rng.choice(TITLE_TEMPLATES).format(**words)
    if rng.random() < 0.08:
        phrase += rng.choice(TITLE_SPECIALS).format(**words)
    coin = _coin_style(coined_name(number, width), rng) + rng.choice(COIN_SUFFIXES)
    if rng.random() < 0.7:
        if rng.random() < 0.04:
            coin += "$^{2}$"
        return f"{coin}: {phrase}"
    return f"{phrase} {rng.choice(('via', 'with', 'using'))} {coin}"


def _abstract_extras(rng: random.Random, coin: str, surname: str) -> tuple[list[str], str]:
    """Sentences with citations, LaTeX and symbols, and maybe a closing code-URL sentence."""
    extras: list[str] = []
    if rng.random() < 0.25:
        year = rng.randint(2015, 2025)
        extras.append(f"This extends the analysis of {surname} et al. ({year}) to larger models.")
    if rng.random() < 0.3:
        extras.extend(rng.sample(ABSTRACT_SPECIALS, rng.randint(1, 3)))
    closing = ""
    if rng.random() < 0.2:
        owner = rng.choice(ORG_SLUGS)
        closing = f"Code is available at https://github.com/{owner}/{coin.lower()}."
    return extras, closing


def make_abstract(rng: random.Random, coin: str, surname: str) -> str:
    """One paragraph of 150-350 words, with the occasional citation, URL, LaTeX or symbol."""
    extras, closing = _abstract_extras(rng, coin, surname)
    count = sum(len(sentence.split()) for sentence in [*extras, closing])
    # the last sentence may overshoot by an opener and a few words, hence the margin
    target = rng.randint(MIN_ABSTRACT_WORDS, MAX_ABSTRACT_WORDS - 12)
    words = operator.itemgetter(*rng.randbytes(target))(WORD_TABLE)
    random_float = rng.random
    sentences: list[str] = []
    used = 0
    while count < target:
        opener = OPENERS_WITH_LENGTH[int(random_float() * len(OPENERS_WITH_LENGTH))]
        length = max(5, min(10 + int(random_float() * 17), target - count - opener[1]))
        sentences.append(f"{opener[0]} {' '.join(words[used : used + length])}.")
        used += length
        count += length + opener[1]
    for extra in extras:
        sentences.insert(rng.randrange(1, len(sentences) + 1), extra)
    if closing:
        sentences.append(closing)
    return " ".join(sentences)


def render_date(date: dt.date, as_of: dt.date, rng: random.Random) -> str:
    """``Mon D`` for most dates of the last year, else ``Mon D, YYYY``.

    A year-less date always resolves back to ``date``: the latest such month/day not after
    ``as_of``. Feb 29 goes without a year only in a leap as-of year.

    >>> render_date(dt.date(2026, 3, 13), dt.date(2026, 11, 21), random.Random(1))
    'Mar 13'
    >>> render_date(dt.date(2024, 2, 29), dt.date(2024, 11, 21), random.Random(1))
    'Feb 29'
    """
    recent = (as_of - date).days < 365
    leap_day_elsewhere = (date.month, date.day) == (2, 29) and date.year != as_of.year
    if recent and not leap_day_elsewhere and rng.random() < 0.9:
        return f"{MONTHS[date.month - 1]} {date.day}"
    return f"{MONTHS[date.month - 1]} {date.day}, {date.year}"


def make_paper(plan: CorpusPlan, number: int, surname: str) -> PaperContent:
    """The paper with this global number: a pure function of the seed and the number."""
    rng = random.Random(f"{plan.seed}:paper:{number}")
    width = coin_width(plan.communities * PAPERS_PER_COMMUNITY_CAP)
    title = make_title(number, width, rng)
    date = plan.as_of - dt.timedelta(days=min(int(rng.expovariate(1 / 700)), 365 * 9))
    category = rng.choices(CATEGORY_CODES, weights=tuple(CATEGORY_WEIGHTS.values()))[0]
    score = f"{rng.uniform(50, 99.9):.1f}" if rng.random() < 0.12 else ""
    orgs = tuple(rng.sample(ORG_SLUGS, rng.randint(1, 3))) if rng.random() < 0.15 else ()
    return PaperContent(
        number=number,
        title=title,
        abstract=make_abstract(rng, coined_name(number, width), surname),
        category=category,
        date=date,
        date_text=render_date(date, plan.as_of, rng),
        score=score,
        code=rng.random() < 0.35,
        orgs=orgs,
    )


# --------------------------------------------------------------------------- communities


@dataclass(frozen=True, slots=True)
class Listing:
    """A paper as it exists in a community: its content and its full, ordered author list."""

    paper: PaperContent
    authors: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class Owner:
    """A profile owner of a community and the papers their profile lists, in page order."""

    number: int
    layout_b: bool
    papers: tuple[int, ...]


def paper_count(rng: random.Random) -> int:
    """5-50 papers, skewed: the median profile lists about 11, one in fifty 40 or more."""
    return min(MAX_PAPERS, MIN_PAPERS + int(rng.expovariate(1 / 9)))


def _pick_papers(rng: random.Random, count: int, pool: int) -> list[int]:
    """Distinct pool indexes; about a third from the popular tenth of the pool."""
    hot = max(1, pool // 10)
    from_hot = min(hot, count // 3, rng.randint(0, count // 2))
    from_hot = max(from_hot, count - (pool - hot))
    chosen = rng.sample(range(hot), from_hot) + rng.sample(range(hot, pool), count - from_hot)
    rng.shuffle(chosen)
    return chosen


def _coauthor(rng: random.Random, plan: CorpusPlan, community: int, owners: range) -> int:
    """One co-author who is not (yet) chosen: mostly from the community, sometimes prolific."""
    draw = rng.random()
    if draw < 0.72:
        first = plan.profiles + community * EXTERNALS_PER_COMMUNITY
        return first + rng.randrange(EXTERNALS_PER_COMMUNITY)
    if draw < 0.9:
        first = plan.profiles + plan.communities * EXTERNALS_PER_COMMUNITY
        return first + rng.randrange(PROLIFIC_PEOPLE)
    return rng.choice(owners)


def _author_list(
    rng: random.Random, plan: CorpusPlan, community: int, owners: range, listed_by: list[int]
) -> tuple[int, ...]:
    """Authors in byline order: the owners who list the paper plus co-authors."""
    total = rng.randint(4, 14) if rng.random() < 0.72 else rng.randint(1, 3)
    total = max(total, len(listed_by))
    others: list[int] = []
    taken = set(listed_by)
    while len(others) < total - len(listed_by):
        person = _coauthor(rng, plan, community, owners)
        if person not in taken:
            taken.add(person)
            others.append(person)
    for owner in listed_by:
        position = rng.randrange(min(3, len(others) + 1)) if rng.random() < 0.45 else None
        others.insert(rng.randrange(len(others) + 1) if position is None else position, owner)
    return tuple(others)


def build_community(
    plan: CorpusPlan,
    names: NameBook,
    community: int,
) -> tuple[list[Owner], dict[int, Listing]]:
    """The owners of one community with their paper lists, and the papers they list."""
    rng = random.Random(f"{plan.seed}:community:{community}")
    owners = range(community * COMMUNITY_SIZE, min(plan.profiles, (community + 1) * COMMUNITY_SIZE))
    counts = [paper_count(rng) for _ in owners]
    pool = max(max(counts), math.ceil(sum(counts) / 1.7))
    picks = [_pick_papers(rng, count, pool) for count in counts]
    listed_by: dict[int, list[int]] = {}
    for owner, chosen in zip(owners, picks, strict=True):
        for index in chosen:
            listed_by.setdefault(index, []).append(owner)
    base = community * PAPERS_PER_COMMUNITY_CAP
    listings: dict[int, Listing] = {}
    for index in sorted(listed_by):
        authors = _author_list(rng, plan, community, owners, listed_by[index])
        surname = names.person(rng.randrange(plan.people)).last
        listings[base + index] = Listing(make_paper(plan, base + index, surname), authors)
    layout_b = [rng.random() < plan.layout_b_share for _ in owners]
    return [
        Owner(owner, is_b, tuple(base + index for index in chosen))
        for owner, is_b, chosen in zip(owners, layout_b, picks, strict=True)
    ], listings


# --------------------------------------------------------------------------- rendering


def _shown_name(person: Person, is_owner: bool, rng: random.Random) -> str:
    """The name, now and then in its camel-case variant ("ZhaoXin Huan" for "Zhaoxin Huan")."""
    chance = 0.06 if is_owner else 0.015
    return person.variant if rng.random() < chance else person.name


def render_byline(listing: Listing, owner: int, names: NameBook, rng: random.Random) -> str:
    """The byline as this profile shows it: usually the first three names and "et al."."""
    authors = listing.authors
    shown = len(authors)
    if len(authors) > 3:
        draw = rng.random()
        if draw < 0.85:
            shown = 3
        elif draw < 0.93 and len(authors) > 4:
            shown = rng.randint(4, len(authors) - 1)
    people = [_shown_name(names.person(author), author == owner, rng) for author in authors[:shown]]
    byline = ", ".join(people) + (" et al." if shown < len(authors) else "")
    if listing.paper.orgs:
        byline += " \u00b7 " + ", ".join(listing.paper.orgs)
    return byline


def _plural(count: int, word: str) -> str:
    return f"{count:,}{word}" if count == 1 else f"{count:,}{word}s"


def render_metrics(rng: random.Random, listed: int) -> list[str]:
    """The metric lines of layout A: h-index, papers, citations, novelty, AI score."""
    draw = rng.random()
    papers = 1 if draw < 0.03 else listed + rng.randint(1, 40) if draw < 0.2 else listed
    citations = 1 if rng.random() < 0.03 else int(rng.lognormvariate(5.0, 1.7))
    h_index = min(papers, int(math.sqrt(citations) * rng.uniform(0.3, 0.8)))
    return [
        f"h-index{h_index}",
        _plural(papers, "paper"),
        _plural(citations, "citation"),
        f"Novelty{rng.randint(20, 85)}%",
        f"AI Score{rng.randint(15, 95)}",
    ]


def render_layout_a(
    owner: Owner, listings: dict[int, Listing], names: NameBook, rng: random.Random
) -> str:
    """A scored profile page, exactly as the seeds 000-003 are laid out."""
    papers = [listings[number] for number in owner.papers]
    primary = Counter(listing.paper.category for listing in papers).most_common(1)[0][0]
    header = "\n".join(
        [
            names.person(owner.number).name,
            "",
            primary,
            *render_metrics(rng, len(papers)),
            "",
            f"{len(papers)} Papers",
            "",
            "",
        ]
    )
    blocks = []
    for listing in papers:
        paper = listing.paper
        date_line = f"{paper.score}{paper.category}{paper.date_text}{'Code' if paper.code else ''}"
        byline = render_byline(listing, owner.number, names, rng)
        blocks.append(f"{date_line}\n{paper.title}\n\n{byline}\n\n{paper.abstract}")
    return header + "\n\n".join(blocks)


def render_layout_b(
    owner: Owner, listings: dict[int, Listing], names: NameBook, rng: random.Random
) -> str:
    """A "Collaborating Authors" listing, exactly as seed 004 is laid out."""
    person = names.person(owner.number)
    header = f"Goto\n\nCollaborating Authors\n\n\u00a0{person.last}, {person.first}\n\n\n"
    blocks = []
    for number in owner.papers:
        paper = listings[number].paper
        feed = SOURCE_FEEDS["AI"] if rng.random() < 0.6 else SOURCE_FEEDS[paper.category]
        blocks.append(f"{paper.title}\n\n{feed}\n\n{paper.abstract}")
    return header + "\n\n\n".join(blocks)


def relative_path(index: int, text: str, profiles: int, shard_size: int = SHARD_SIZE) -> str:
    """``<shard>/<index>_<digest>.txt``, like the seeds' ``000_b974eff4d283375f.txt``.

    >>> relative_path(1000, "x", 5000)
    '0001/001000_2d711642b726b044.txt'
    """
    width = max(6, len(str(profiles - 1)))
    digest = hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]
    return f"{index // shard_size:04d}/{index:0{width}d}_{digest}.txt"


# --------------------------------------------------------------------------- entry points


def iter_documents(
    profiles: int,
    seed: int = 1,
    layout_b_share: float = 0.1,
    as_of: dt.date = DEFAULT_AS_OF,
    shard_size: int = SHARD_SIZE,
) -> Iterator[tuple[str, str]]:
    """Yield ``(relative_path, text)`` for each profile, one community at a time."""
    if profiles < 0 or not 0.0 <= layout_b_share <= 1.0 or shard_size < 1:
        raise ValueError("need profiles >= 0, 0 <= layout_b_share <= 1 and shard_size >= 1")
    plan = CorpusPlan(profiles, seed, layout_b_share, as_of)
    names = NameBook(seed, plan.people, profiles)
    for community in range(plan.communities):
        owners, listings = build_community(plan, names, community)
        for owner in owners:
            rng = random.Random(f"{seed}:render:{owner.number}")
            render = render_layout_b if owner.layout_b else render_layout_a
            text = render(owner, listings, names, rng)
            yield relative_path(owner.number, text, profiles, shard_size), text


@dataclass(frozen=True, slots=True)
class CorpusSummary:
    """What :func:`generate` wrote."""

    documents: int
    bytes: int
    seconds: float


def generate(
    profiles: int,
    out: Path | str,
    seed: int = 1,
    layout_b_share: float = 0.1,
    as_of: dt.date = DEFAULT_AS_OF,
    shard_size: int = SHARD_SIZE,
) -> CorpusSummary:
    """Write the corpus under ``out`` (which must be missing or empty), streaming."""
    out = Path(out)
    if out.exists() and any(out.iterdir()):
        raise FileExistsError(f"{out} is not empty; choose another --out")
    started = time.perf_counter()
    documents = written = 0
    made: set[str] = set()
    for path, text in iter_documents(profiles, seed, layout_b_share, as_of, shard_size):
        target = out / path
        if target.parent.name not in made:
            target.parent.mkdir(parents=True, exist_ok=True)
            made.add(target.parent.name)
        data = text.encode("utf-8")
        target.write_bytes(data)
        documents += 1
        written += len(data)
    return CorpusSummary(documents, written, time.perf_counter() - started)


def _parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--profiles", type=int, required=True, help="number of profiles")
    parser.add_argument("--out", type=Path, required=True, help="output directory (new or empty)")
    parser.add_argument("--seed", type=int, default=1, help="random seed (default 1)")
    parser.add_argument(
        "--layout-b-share",
        type=float,
        default=0.1,
        help="share of 'Collaborating Authors' documents (default 0.1)",
    )
    parser.add_argument(
        "--as-of",
        type=dt.date.fromisoformat,
        default=DEFAULT_AS_OF,
        help="capture date year-less dates are written against (default "
        f"{DEFAULT_AS_OF.isoformat()})",
    )
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    """Command-line entry point."""
    args = _parse_args(argv)
    try:
        summary = generate(args.profiles, args.out, args.seed, args.layout_b_share, args.as_of)
    except (ValueError, FileExistsError) as exc:
        print(f"generate_corpus: {exc}", file=sys.stderr)
        return 2
    print(
        f"wrote {summary.documents} documents, {summary.bytes / 1e6:.1f} MB, to {args.out} "
        f"in {summary.seconds:.1f} s"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
