"""The five real seed documents, read through :func:`kg.parse.detect.read_documents`.

Every value asserted here was read off the seed files themselves. The seeds live outside the
repository, in the shared folder (``$SCHOLARKG_SHARED/seeds``, by default ``../shared/seeds``
next to the checkout); the tests are skipped when it is absent.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import os
from decimal import Decimal
from pathlib import Path

import pytest

from kg.parse.detect import iter_input_files, read_documents
from kg.parse.profile_page import split_lines
from kg.parse.records import Metrics, Profile, SourceDocument

AS_OF = dt.date(2026, 11, 21)
SHARED = Path(os.environ.get("SCHOLARKG_SHARED") or Path(__file__).resolve().parents[2] / "shared")
SEEDS = SHARED / "seeds"
FILES = {
    "zhu": "000_b974eff4d283375f.txt",
    "huang": "001_e35de6572a71e462.txt",
    "huan": "002_956bcb3e337b5d36.txt",
    "zhang_zishi": "003_ee1a281679e517e5.txt",
    "zhang_zheng": "004_b8bfba5b55eabba4.txt",
}

pytestmark = pytest.mark.skipif(
    not SEEDS.is_dir(),
    reason=f"seed documents not found in {SEEDS} (set SCHOLARKG_SHARED to the shared folder)",
)


@pytest.fixture(scope="module")
def documents() -> dict[str, SourceDocument]:
    read: dict[str, SourceDocument] = {}
    for key, name in FILES.items():
        (document,) = read_documents(SEEDS / name, as_of=AS_OF)
        assert isinstance(document, SourceDocument), document
        read[key] = document
    return read


def profile(documents: dict[str, SourceDocument], key: str) -> Profile:
    return documents[key].profile


def d(text: str) -> dt.date:
    return dt.date.fromisoformat(text)


def test_all_seed_files_are_found_and_read() -> None:
    assert [p.name for p in iter_input_files([SEEDS])] == sorted(FILES.values())


def test_documents_carry_path_hash_and_as_of(documents: dict[str, SourceDocument]) -> None:
    for key, name in FILES.items():
        document = documents[key]
        assert document.path == str(SEEDS / name)
        assert document.sha256 == hashlib.sha256((SEEDS / name).read_bytes()).hexdigest()
        assert (document.as_of, document.line) == (AS_OF, None)


def test_names_and_layouts(documents: dict[str, SourceDocument]) -> None:
    assert [
        (p.profile.name, p.profile.name_as_printed, p.profile.layout) for p in documents.values()
    ] == [
        ("Zhicheng Zhu", None, "scored-profile-page"),
        ("Yuzhen Huang", None, "scored-profile-page"),
        ("Zhaoxin Huan", None, "scored-profile-page"),
        ("Zishi Zhang", None, "scored-profile-page"),
        ("Zheng Zhang", "Zhang, Zheng", "collaborating-authors"),
    ]


def test_metrics(documents: dict[str, SourceDocument]) -> None:
    expected = {
        "zhu": ("AI", Metrics(7, 3, 1, Decimal(40), Decimal(39)), 3),
        "huang": ("CL", Metrics(20, 15, 1679, Decimal(54), Decimal(62)), 15),
        "huan": ("LG", Metrics(14, 11, 144, Decimal(51), Decimal(48)), 11),
        "zhang_zishi": ("LG", Metrics(3, 7, 16, Decimal(63), Decimal(54)), 7),
        "zhang_zheng": (None, Metrics(), None),
    }
    for key, (category, metrics, listed) in expected.items():
        p = profile(documents, key)
        assert (p.category_code, p.metrics, p.listed_paper_count) == (category, metrics, listed)


def test_paper_counts(documents: dict[str, SourceDocument]) -> None:
    counts = [len(document.profile.papers) for document in documents.values()]
    assert counts == [3, 15, 11, 7, 10]
    assert sum(counts) == 46


# (title, code, date as printed, resolved date, "Code" flag), in page order
ZHU = [
    ("Scaling Reinforcement Learning for Content Moderation with Large Language Models",
     "AI", "Dec 23, 2025", d("2025-12-23"), False),
    ("Aromatic and clumped multi-indices: algebraic structure and Hopf embeddings",
     "CO", "Mar 13", d("2026-03-13"), False),
    ("BootSeer: Analyzing and Mitigating Initialization Bottlenecks in Large-Scale LLM Training",
     "LG", "Jul 16, 2025", d("2025-07-16"), False),
]  # fmt: skip
HUANG = [
    ("LoopFM: Learning frOm HistOrical RePresentations of Foundation Model for Recommendation",
     "LG", "May 28", d("2026-05-28"), False),
    ("SWE-RM: Execution-free Feedback For Software Engineering Agents",
     "CL", "Dec 26, 2025", d("2025-12-26"), True),
    ("SimpleRL-Zoo: Investigating and Taming Zero Reinforcement Learning for Open Base Models "
     "in the Wild", "LG", "Mar 24, 2025", d("2025-03-24"), True),
    ("Compression Represents Intelligence Linearly",
     "CL", "Apr 15, 2024", d("2024-04-15"), True),
    ("Learn to Reason Efficiently with Adaptive Length-based Reward Shaping",
     "CL", "May 21, 2025", d("2025-05-21"), True),
    ("Predictive Data Selection: The Data That Predicts Is the Data That Teaches",
     "CL", "Mar 2, 2025", d("2025-03-02"), True),
    ("Kunlun: Establishing Scaling Laws for Massive-Scale Recommendation Systems through "
     "Unified Architecture Design", "IR", "Feb 10", d("2026-02-10"), False),
    ("From Accuracy to Robustness: A Study of Rule- and Model-based Verifiers in Mathematical "
     "Reasoning", "LG", "May 28, 2025", d("2025-05-28"), True),
    ("Pre-train and Search: Efficient Embedding Table Sharding with Pre-trained Neural Cost "
     "Models", "LG", "May 3, 2023", d("2023-05-03"), True),
    ("B-STaR: Monitoring and Balancing Exploration and Exploitation in Self-Taught Reasoners",
     "AI", "Dec 23, 2024", d("2024-12-23"), False),
    ("External Large Foundation Model: How to Efficiently Serve Trillions of Parameters for "
     "Online Ads Recommendation", "IR", "Feb 20, 2025", d("2025-02-20"), False),
    ("The Tool Decathlon: Benchmarking Language Agents for Diverse, Realistic, and Long-Horizon "
     "Task Execution", "CL", "Oct 29, 2025", d("2025-10-29"), False),
    ("C-Eval: A Multi-Level Multi-Discipline Chinese Evaluation Suite for Foundation Models",
     "CL", "May 15, 2023", d("2023-05-15"), False),
    ("Training Recommender Systems at Scale: Communication-Efficient Model and Data Parallelism",
     "LG", "Oct 18, 2020", d("2020-10-18"), False),
    ("TensorOpt: Exploring the Tradeoffs in Distributed DNN Training with Auto-Parallelism",
     "DC", "Apr 16, 2020", d("2020-04-16"), False),
]  # fmt: skip
HUAN = [
    ("Focal Reward: Balanced Reinforcement Learning under Rubric-Based Rewards",
     "LG", "May 26", d("2026-05-26"), False),
    ("AntM$^{2}$C: A Large Scale Dataset For Multi-Scenario Multi-Modal CTR Prediction",
     "IR", "Aug 31, 2023", d("2023-08-31"), False),
    ("Rethinking Memory and Communication Cost for Efficient Large Language Model Training",
     "LG", "Oct 9, 2023", d("2023-10-09"), False),
    ("Every FLOP Counts: Scaling a 300B Mixture-of-Experts LING LLM without Premium GPUs",
     "LG", "Mar 7, 2025", d("2025-03-07"), True),
    ("Breaking the Length Barrier: LLM-Enhanced CTR Prediction in Long Textual User Behaviors",
     "IR", "Mar 28, 2024", d("2024-03-28"), False),
    ("G-Meta: Distributed Meta Learning in GPU Clusters for Large-Scale Recommender Systems",
     "LG", "Jan 9, 2024", d("2024-01-09"), False),
    ("AntDT: A Self-Adaptive Distributed Training Framework for Leader and Straggler Nodes",
     "DC", "Apr 15, 2024", d("2024-04-15"), False),
    ("BOSE: A Systematic Evaluation Method Optimized for Base Models",
     "LG", "Mar 2, 2025", d("2025-03-02"), False),
    ("Every Activation Boosted: Scaling General Reasoner to 1 Trillion Open Language Foundation",
     "CL", "Oct 25, 2025", d("2025-10-25"), False),
    ("Short-Path Prompting in LLMs: Analyzing Reasoning Instability and Solutions for Robust "
     "Performance", "CL", "Apr 13, 2025", d("2025-04-13"), False),
    ("Data-Free Adversarial Perturbations for Practical Black-Box Attack",
     "CV", "Mar 3, 2020", d("2020-03-03"), False),
]  # fmt: skip
ZHANG_ZISHI = [
    ("SACRED: A Faithful Annotated Multimedia Multimodal Multilingual Dataset for Classifying "
     "Connectedness Types in Online Spirituality", "CL", "Mar 28", d("2026-03-28"), False),
    ("Cold-Start Forecasting of New Product Life-Cycles via Conditional Diffusion Models",
     "LG", "Apr 22", d("2026-04-22"), False),
    ("Optimal low-rank stochastic gradient estimation for LLM training",
     "LG", "Mar 21", d("2026-03-21"), False),
    ("LLM-Inspired Pretrain-Then-Finetune for Small-Data, Large-Scale Optimization",
     "LG", "Feb 3", d("2026-02-03"), False),
    ('Sample-Efficient "Clustering and Conquer" Procedures for Parallel Large-Scale Ranking and '
     "Selection", "ME", "Feb 3, 2024", d("2024-02-03"), False),
    ("Half-order Fine-Tuning for Diffusion Model: A Recursive Likelihood Ratio Optimizer",
     "CV", "Feb 2, 2025", d("2025-02-02"), False),
    ("RiskPO: Risk-based Policy Optimization via Verifiable Reward for LLM Post-Training",
     "LG", "Oct 1, 2025", d("2025-10-01"), False),
]  # fmt: skip


@pytest.mark.parametrize(
    ("key", "expected"),
    [("zhu", ZHU), ("huang", HUANG), ("huan", HUAN), ("zhang_zishi", ZHANG_ZISHI)],
)
def test_titles_codes_dates_and_code_flags(
    documents: dict[str, SourceDocument],
    key: str,
    expected: list[tuple[str, str, str, dt.date, bool]],
) -> None:
    papers = profile(documents, key).papers
    assert [
        (p.title, p.category_code, p.date_text, p.date, p.code_available) for p in papers
    ] == expected
    # one paper every 7 lines from line 12, the date line
    assert [p.line for p in papers] == list(range(12, 12 + 7 * len(papers), 7))


def test_seven_code_flags_on_yuzhen_huangs_profile(documents: dict[str, SourceDocument]) -> None:
    flagged = [
        p.title.split(":")[0] for p in profile(documents, "huang").papers if p.code_available
    ]
    assert flagged == [
        "SWE-RM",
        "SimpleRL-Zoo",
        "Compression Represents Intelligence Linearly",
        "Learn to Reason Efficiently with Adaptive Length-based Reward Shaping",
        "Predictive Data Selection",
        "From Accuracy to Robustness",
        "Pre-train and Search",
    ]


def test_scores(documents: dict[str, SourceDocument]) -> None:
    scored = [
        (key, p.title.split(":")[0], p.score)
        for key in FILES
        for p in profile(documents, key).papers
        if p.score is not None
    ]
    assert scored == [("huang", "LoopFM", Decimal("92.3"))]
    assert str(scored[0][2]) == "92.3"


def test_organisations(documents: dict[str, SourceDocument]) -> None:
    shown = [
        (p.title.split(":")[0], p.byline, p.organisations)
        for key in FILES
        for p in profile(documents, key).papers
        if p.organisations
    ]
    assert shown == [
        ("Predictive Data Selection", "Kashun Shum, Yuzhen Huang, Hongjian Zou et al.",
         ("baidu", "tencent-ai")),
        ("The Tool Decathlon", "Junlong Li, Wenshuo Zhao, Jian Zhao et al.", ("cmu",)),
        ("RiskPO", "Tao Ren, Jinyang Jiang, Hui Yang et al.", ("pku",)),
    ]  # fmt: skip


def test_byline_completeness(documents: dict[str, SourceDocument]) -> None:
    complete = {key: [p.byline_complete for p in profile(documents, key).papers] for key in FILES}
    assert complete == {
        "zhu": [False, True, False],
        "huang": [False] * 15,
        "huan": [False] * 11,
        "zhang_zishi": [False, False, False, False, True, False, False],
        "zhang_zheng": [None] * 10,
    }


def test_authors_as_printed(documents: dict[str, SourceDocument]) -> None:
    zhu = profile(documents, "zhu").papers
    assert zhu[0].byline == "Hamed Firooz, Rui Liu, Yuchen Lu et al."
    assert zhu[0].authors == ("Hamed Firooz", "Rui Liu", "Yuchen Lu")
    assert zhu[1].authors == ("Zhicheng Zhu", "Adrien Busnot Laurent")
    huang = profile(documents, "huang").papers
    assert huang[1].authors == ("KaShun Shum", "Binyuan Hui", "Jiawei Chen")
    assert huang[13].authors == ("Vipul Gupta", "Dhruv Choudhary", "Ping Tak Peter Tang")
    # the owner, spelled with other capitalisation, is printed as it is
    assert profile(documents, "huan").papers[10].authors == (
        "ZhaoXin Huan",
        "Yulong Wang",
        "Xiaolu Zhang",
    )
    assert profile(documents, "zhang_zishi").papers[4].authors == ("Zishi Zhang", "Yijie Peng")
    # the owner is not added where the byline does not show them
    assert "Zhicheng Zhu" not in zhu[0].authors
    for key in FILES:
        for paper in profile(documents, key).papers:
            assert not any("et al" in name for name in paper.authors)


def test_et_al_in_an_abstract_stays_in_the_abstract(documents: dict[str, SourceDocument]) -> None:
    paper = profile(documents, "huang").papers[5]
    assert "(Huang et al., 2024)" in (paper.abstract or "")
    assert paper.authors == ("Kashun Shum", "Yuzhen Huang", "Hongjian Zou")


def test_abstracts_are_the_printed_lines_exactly(documents: dict[str, SourceDocument]) -> None:
    for key, name in FILES.items():
        lines = split_lines((SEEDS / name).read_text(encoding="utf-8"))
        offset = 5 if key != "zhang_zheng" else 4  # date line or title line -> abstract line
        for paper in profile(documents, key).papers:
            assert paper.abstract == lines[paper.line - 1 + offset]
            assert paper.abstract and paper.abstract == paper.abstract.strip()


def test_collaborating_authors_titles_and_feeds(documents: dict[str, SourceDocument]) -> None:
    papers = profile(documents, "zhang_zheng").papers
    assert [p.title for p in papers] == [
        "DAPO: An Open-Source LLM Reinforcement Learning System at Scale",
        "Wanda++: Pruning Large Language Models via Regional Gradients",
        "Muon is Scalable for LLM Training",
        "QuZO: Quantized Zeroth-Order Fine-Tuning for Large Language Models",
        "MaZO: Masked Zeroth-Order Optimization for Multi-Task Fine-Tuning of Large Language "
        "Models",
        "Connector-S: A Survey of Connectors in Multi-modal Large Language Models",
        "Scalable Back-Propagation-Free Training of Optical Physics-Informed Neural Networks",
        "CoLA: Compute-Efficient Pre-Training of LLMs via Low-Rank Activation",
        "CTR-Driven Advertising Image Generation with Multimodal Large Language Models",
        "CG-RAG: Research Question Answering by Citation Graph Retrieval-Augmented LLMs",
    ]
    assert [p.line for p in papers] == list(range(8, 78, 7))
    assert {p.source_feed for p in papers} == {"arXiv.org Artificial Intelligence"}
    for paper in papers:
        assert (paper.date, paper.date_text, paper.score, paper.category_code) == (
            None,
            None,
            None,
            None,
        )
        assert (paper.byline, paper.authors, paper.byline_complete) == (None, (), None)


def test_source_feeds_only_in_the_listing(documents: dict[str, SourceDocument]) -> None:
    for key in ("zhu", "huang", "huan", "zhang_zishi"):
        assert all(p.source_feed is None for p in profile(documents, key).papers)


def test_code_repositories(documents: dict[str, SourceDocument]) -> None:
    found = [
        (key, p.title.split(":")[0], p.code_repositories)
        for key in FILES
        for p in profile(documents, key).papers
        if p.code_repositories
    ]
    assert found == [
        ("huang", "Learn to Reason Efficiently with Adaptive Length-based Reward Shaping",
         ("https://github.com/hkust-nlp/Laser",)),
        ("huang", "Predictive Data Selection", ("https://github.com/hkust-nlp/PreSelect",)),
        ("huang", "Pre-train and Search", ("https://github.com/daochenzha/neuroshard",)),
        ("huan", "Every FLOP Counts", ("https://huggingface.co/inclusionAI",)),
        ("zhang_zheng", "CTR-Driven Advertising Image Generation with Multimodal Large Language "
         "Models", ("https://github.com/Chenguoz/CAIG",)),
    ]  # fmt: skip
    # a project homepage is not a repository
    assert "https://www.atecup.cn/home" in (profile(documents, "huan").papers[1].abstract or "")
