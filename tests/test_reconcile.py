"""The reconciliation service (/reconcile): protocol conformance, matching, suggest, extend.

The W3C Entity Reconciliation CG's schemas and examples (../shared/reconciliation-0.2)
are used when present: every example is checked against its schema (so the checks
below are known to catch what they should), every response the service gives is
validated against the schema of its kind, every valid request example is accepted
and every invalid one refused with a 400 and a message.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

import pytest
from flask import Flask
from flask.testing import FlaskClient
from jsonschema import Draft7Validator
from referencing import Registry
from referencing.jsonschema import DRAFT7

from kg.storage.store import KnowledgeStore
from server import create_app
from tests.sample_data import BASE, EXAMPLES, build_store, shared_dir

LINKING = Path(__file__).parent / "data" / "linking"
_SHARED = shared_dir()
RECON = _SHARED / "reconciliation-0.2" if _SHARED else None
if RECON is not None and not RECON.is_dir():
    RECON = None

AMARA = f"{BASE}person/amara-okafor"
LUKAS = f"{BASE}person/lukas-brandt"
MEI = f"{BASE}person/mei-tanaka"
CONFORMAL = "Calibrated Uncertainty for Gradient-Boosted Trees via Conformal \"Residual\" Bands"
MARKUP = "Sequential Tests That Stop Early <and> Stay Valid: A Practitioner's Guide"
SEED_PEOPLE = {
    "Zhicheng Zhu": "zhicheng-zhu",
    "Yuzhen Huang": "yuzhen-huang",
    "Huang, Yuzhen": "yuzhen-huang",
    "yuzhen HUANG": "yuzhen-huang",
    "Zhaoxin Huan": "zhaoxin-huan",
    "ZhaoXin Huan": "zhaoxin-huan",
    "Zishi Zhang": "zishi-zhang",
    "Zhang, Zheng": "zheng-zhang",
    "ZHENG  ZHANG": "zheng-zhang",
}


# --- the shared schemas -------------------------------------------------------------------

def _schemas() -> tuple[dict[str, dict[str, Any]], Registry]:
    assert RECON is not None
    schemas: dict[str, dict[str, Any]] = {}
    resources = []
    for path in sorted((RECON / "schemas").glob("*.json")):
        contents = json.loads(path.read_text(encoding="utf-8"))
        schemas[path.stem] = contents
        resources.append((contents["$id"].rstrip("#"), DRAFT7.create_resource(contents)))
    return schemas, Registry().with_resources(resources)


#: example kinds without a schema file of their own: the schema (and JSON pointer) that
#: defines them
SUBSCHEMAS = {
    "data-extension-metadata": ("manifest", "/properties/extend"),
    "preview-metadata": ("manifest", "/properties/preview"),
    "suggest-metadata": ("manifest", "/properties/suggest/definitions/service_definition"),
    "reconciliation-candidate": ("reconciliation-result-batch",
                                 "/patternProperties/^.*$/properties/result/items"),
    "security-scheme": ("openapi", "/definitions/securityDefinitions/additionalProperties"),
}
#: examples that their kind's schema judges differently from the folder they are in
KNOWN_MISMATCHES = {
    ("security-scheme", "valid", "http_basic_auth.json"):
        "an OpenAPI 3 security scheme (type http); the 0.2 manifest schema refers to "
        "Swagger 2.0 securityDefinitions, whose basic scheme is type basic",
}
#: kinds with no schema at all: checked against the service's own answer's shape
SHAPE_ONLY = {"flyout-response"}


class Schemas:
    """Validators for every schema and for the sub-schemas example kinds use."""

    def __init__(self) -> None:
        self.documents, self.registry = _schemas()

    def validator(self, kind: str) -> Draft7Validator:
        if kind in self.documents:
            schema: dict[str, Any] = self.documents[kind]
        else:
            name, pointer = SUBSCHEMAS[kind]
            base = self.documents[name]["$id"].rstrip("#")
            schema = {"$ref": f"{base}#{quote(pointer, safe='/^$*.')}"}
        return Draft7Validator(schema, registry=self.registry)

    def errors(self, kind: str, instance: Any) -> list[str]:
        return [e.message for e in self.validator(kind).iter_errors(instance)]


@pytest.fixture(scope="session")
def schemas() -> Schemas | None:
    return Schemas() if RECON is not None else None


def check(schemas: Schemas | None, kind: str, instance: Any) -> None:
    """Validate a response against its schema when the shared schemas are present."""
    if schemas is not None:
        assert schemas.errors(kind, instance) == [], (kind, instance)


def _examples() -> Iterator[tuple[str, str, Path]]:
    assert RECON is not None
    for path in sorted((RECON / "examples").glob("*/*/*.json")):
        yield path.parent.parent.name, path.parent.name, path


def _example_params() -> list[Any]:
    if RECON is None:
        return []
    return [pytest.param(kind, validity, path, id=f"{kind}/{validity}/{path.name}")
            for kind, validity, path in _examples()]


# --- stores and apps ----------------------------------------------------------------------

@pytest.fixture(scope="module")
def store() -> KnowledgeStore:
    """The bundled sample, plus the seeds when present."""
    shared = shared_dir()
    paths = [EXAMPLES]
    if shared is not None and (shared / "seeds").is_dir():
        paths.append(shared / "seeds")
    return build_store(paths)


@pytest.fixture(scope="module")
def namesakes_store() -> KnowledgeStore:
    """The sample plus tests/data/linking/identified.jsonl: two Persons named Grace Hopper."""
    return build_store([EXAMPLES, LINKING / "identified.jsonl"])


def make_app(store: KnowledgeStore, **overrides: Any) -> Flask:
    app = create_app(store=store, base_iri=BASE, exports_dir="exports-not-used", **overrides)
    app.config["TESTING"] = True
    return app


@pytest.fixture
def client(store: KnowledgeStore) -> FlaskClient:
    return make_app(store).test_client()


def reconcile(client: FlaskClient, queries: dict[str, Any], how: str = "form") -> Any:
    text = json.dumps(queries)
    if how == "form":
        response = client.post("/reconcile", data={"queries": text})
    elif how == "get":
        response = client.get("/reconcile?" + urlencode({"queries": text}))
    else:
        response = client.post("/reconcile", data=text, content_type="application/json")
    assert response.status_code == 200, response.get_data(as_text=True)
    return response.get_json()


def top(result: dict[str, Any]) -> tuple[str, bool]:
    best = result["result"][0]
    return best["id"], best["match"]


def refused(response: Any, status: int = 400) -> str:
    """The message of an error answer (the one error shape, asked for as JSON)."""
    assert response.status_code == status, (response.status_code, response.get_data())
    body = response.get_json()
    message: str = body["error"]["message"]
    assert message
    return message


# --- the shared examples against their schemas ----------------------------------------------

if RECON is None:
    def test_shared_reconciliation_suite_is_absent() -> None:
        pytest.skip("the shared reconciliation-0.2 folder (../shared/reconciliation-0.2, or "
                    "$SCHOLARKG_SHARED/reconciliation-0.2) is not present on this machine: "
                    "schema and example checks did not run, responses were not validated")
else:
    def test_every_schema_and_example_kind_is_used(schemas: Schemas) -> None:
        kinds = {path.name for path in (RECON / "examples").iterdir() if path.is_dir()}
        covered = set(schemas.documents) | set(SUBSCHEMAS) | SHAPE_ONLY
        assert kinds <= covered, kinds - covered
        used_by_examples = {SUBSCHEMAS.get(k, (k, ""))[0] for k in kinds}
        # type.json is reached through manifest and suggest-types $refs; the rest by name
        assert set(schemas.documents) - used_by_examples == {"type"}
        for document in schemas.documents.values():
            Draft7Validator.check_schema(document)

    @pytest.mark.parametrize(("kind", "validity", "path"), _example_params())
    def test_example_against_its_schema(schemas: Schemas, kind: str, validity: str,
                                        path: Path) -> None:
        example = json.loads(path.read_text(encoding="utf-8"))
        if kind in SHAPE_ONLY:
            assert validity == "valid" and set(example) == {"id", "html"}
            return
        errors = schemas.errors(kind, example)
        expected_valid = validity == "valid"
        if (kind, validity, path.name) in KNOWN_MISMATCHES:
            expected_valid = not expected_valid
        assert (errors == []) == expected_valid, errors


# --- the manifest ----------------------------------------------------------------------------

def test_manifest(client: FlaskClient, schemas: Schemas | None) -> None:
    response = client.get("/reconcile")
    assert response.status_code == 200 and response.mimetype == "application/json"
    manifest = response.get_json()
    check(schemas, "manifest", manifest)
    assert manifest["versions"] == ["0.2"]
    assert manifest["identifierSpace"] == BASE
    assert manifest["schemaSpace"] == "https://schema.org/"
    assert [t["id"] for t in manifest["defaultTypes"]] == ["Person", "ScholarlyArticle"]
    assert manifest["batchSize"] == 100
    preview = manifest["preview"]
    check(schemas, "preview-metadata", preview)
    assert preview["url"] == "http://localhost/reconcile/preview?id={{id}}"
    for kind in ("entity", "type", "property"):
        check(schemas, "suggest-metadata", manifest["suggest"][kind])
    check(schemas, "data-extension-metadata", manifest["extend"])
    assert client.get("/reconcile/").get_json() == manifest


def test_manifest_as_jsonp(client: FlaskClient, schemas: Schemas | None) -> None:
    response = client.get("/reconcile?callback=jQuery_12.cb")
    assert response.status_code == 200
    assert response.mimetype == "application/javascript"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    text = response.get_data(as_text=True)
    assert text.startswith("/**/jQuery_12.cb(") and text.endswith(");")
    check(schemas, "manifest", json.loads(text[len("/**/jQuery_12.cb("):-2]))


@pytest.mark.parametrize("callback", ["alert(1)//", "a b", "1abc", "x" * 101, "a..b"])
def test_jsonp_callbacks_must_be_identifiers(client: FlaskClient, callback: str) -> None:
    response = client.get("/reconcile?" + urlencode({"callback": callback}),
                          headers={"Accept": "application/json"})
    assert "callback must be a JavaScript identifier" in refused(response)


# --- requests: the shared examples and malformed ones --------------------------------------

def _request_params(kind: str) -> list[Any]:
    if RECON is None:
        return []
    return [pytest.param(validity, path, how, id=f"{validity}/{path.name}/{how}")
            for k, validity, path in _examples() if k == kind
            for how in ("form", "get", "json")]


if RECON is not None:  # without the shared folder, the one skipped test above says so
    @pytest.mark.parametrize(("validity", "path", "how"),
                             _request_params("reconciliation-query-batch"))
    def test_query_batch_examples(client: FlaskClient, schemas: Schemas, validity: str,
                                  path: Path, how: str) -> None:
        text = path.read_text(encoding="utf-8")
        headers = {"Accept": "application/json"}
        if how == "form":
            response = client.post("/reconcile", data={"queries": text}, headers=headers)
        elif how == "get":
            response = client.get("/reconcile?" + urlencode({"queries": text}), headers=headers)
        else:
            response = client.post("/reconcile", data=text, content_type="application/json",
                                   headers=headers)
        if validity == "valid":
            assert response.status_code == 200, response.get_data(as_text=True)
            result = response.get_json()
            check(schemas, "reconciliation-result-batch", result)
            assert set(result) == set(json.loads(text))
        else:
            refused(response)

    @pytest.mark.parametrize(("validity", "path", "how"), _request_params("data-extension-query"))
    def test_extension_query_examples(client: FlaskClient, schemas: Schemas, validity: str,
                                      path: Path, how: str) -> None:
        text = path.read_text(encoding="utf-8")
        if how == "form":
            response = client.post("/reconcile", data={"extend": text})
        elif how == "get":
            response = client.get("/reconcile?" + urlencode({"extend": text}))
        else:
            response = client.post("/reconcile", data=text, content_type="application/json")
        assert validity == "valid"
        assert response.status_code == 200, response.get_data(as_text=True)
        body = response.get_json()
        check(schemas, "data-extension-response", body)
        query = json.loads(text)
        assert set(body["rows"]) == set(query["ids"])  # ids that are not ours: empty cells
        assert [m["id"] for m in body["meta"]] == [p["id"] for p in query["properties"]]


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"queries": "{not json"}, "the queries parameter is not valid JSON"),
        ({"queries": "[]"}, "a query batch must be a JSON object"),
        ({"queries": '{"q0": "Ada"}'}, "query 'q0' must be a JSON object, got a string"),
        ({"queries": '{"q0": {"query": 7}}'}, "query 'q0': query must be a string"),
        ({"queries": '{"q0": {"query": "  "}}'}, "needs a non-empty query string"),
        ({"queries": '{"q0": {"query": "A", "limit": 0}}'}, "limit must be a positive integer"),
        ({"queries": '{"q0": {"query": "A", "limit": 1.5}}'}, "positive integer, got 1.5"),
        ({"queries": '{"q0": {"query": "A", "limit": "5"}}'}, "positive integer"),
        ({"queries": '{"q0": {"query": "A", "limit": true}}'}, "positive integer"),
        ({"queries": '{"q0": {"query": "A", "type": 5}}'}, "type must be a type id"),
        ({"queries": '{"q0": {"query": "A", "type_strict": "most"}}'}, "type_strict"),
        ({"queries": '{"q0": {"query": "A", "properties": {}}}'}, "properties must be an array"),
        ({"queries": '{"q0": {"query": "A", "properties": [{"pid": "x"}]}}'},
         "properties[0] must be an object with pid and v"),
        ({"queries": '{"q0": {"query": "A", "properties": [{"pid": 1, "v": "x"}]}}'},
         "properties[0].pid must be a string"),
        ({"queries": '{"q0": {"query": "A", "properties": [{"pid": "x", "v": {"name": "n"}}]}}'},
         "properties[0].v must be"),
        ({"queries": '{"q0": {"query": "A", "properties": [{"pid": "x", "v": [null]}]}}'},
         "properties[0].v must be"),
        ({"queries": '{"q0": {"query": NaN}}'}, "NaN is not a JSON number"),
        ({"queries": "[" * 100_000}, "nested too deeply"),
        ({"query": '{"query": "A", "props": []}'}, "unknown field 'props'"),
        ({"extend": '{"ids": "x", "properties": []}'}, "ids must be an array"),
        ({"extend": '{"ids": [], "properties": [{"name": "x"}]}'},
         "properties[0] must be an object with a string id"),
        ({"extend": '{"ids": [], "properties": [{"id": "x", "settings": {"limit": -1}}]}'},
         "settings.limit must be a whole number"),
        ({"extend": '{"ids": [], "properties": [{"id": "x", "settings": []}]}'},
         "settings must be an object"),
        ({"extend": "[1]"}, "a data extension query must be a JSON object"),
    ],
)
def test_malformed_requests_are_400_with_a_message(client: FlaskClient, params: dict[str, str],
                                                   message: str) -> None:
    body = urlencode(params)
    for response in (
        client.post("/reconcile", data=body, content_type="application/x-www-form-urlencoded",
                    headers={"Accept": "application/json"}),
        client.get("/reconcile?" + body, headers={"Accept": "application/json"}),
    ):
        if response.status_code == 414:  # the deep nesting is too long for a URL
            continue
        assert message in refused(response)


def test_other_malformed_requests(client: FlaskClient) -> None:
    json_accept = {"Accept": "application/json"}
    both = urlencode({"queries": "{}", "extend": "{}"})
    assert "one of queries, query or extend" in refused(
        client.get("/reconcile?" + both, headers=json_accept))
    twice = "queries=%7B%7D&queries=%7B%7D"
    assert "given 2 times" in refused(client.get("/reconcile?" + twice, headers=json_accept))
    assert "needs Content-Type" in refused(
        client.post("/reconcile", data="queries={}", content_type="text/plain",
                    headers=json_accept), 415)
    assert "not valid UTF-8" in refused(
        client.post("/reconcile", data=b"queries=%ff", headers=json_accept,
                    content_type="application/x-www-form-urlencoded"))
    assert "not valid JSON" in refused(
        client.post("/reconcile", data=b"{", content_type="application/json",
                    headers=json_accept))
    assert "holds no queries" in refused(
        client.post("/reconcile", data="", content_type="application/x-www-form-urlencoded",
                    headers=json_accept))


def test_json_bodies(client: FlaskClient) -> None:
    batch = {"q0": {"query": "Mei Tanaka"}}
    for body in (batch, {"queries": batch}):
        response = client.post("/reconcile", data=json.dumps(body),
                               content_type="application/json")
        assert top(response.get_json()["q0"]) == (MEI, True)
    # a batch whose one query id happens to be "queries"
    odd = {"queries": {"query": "Mei Tanaka"}}
    response = client.post("/reconcile", data=json.dumps(odd), content_type="application/json")
    assert top(response.get_json()["queries"]) == (MEI, True)


def test_batch_size_cap(client: FlaskClient) -> None:
    batch = {f"q{i}": {"query": "Amara Okafor"} for i in range(101)}
    response = client.post("/reconcile", data={"queries": json.dumps(batch)},
                           headers={"Accept": "application/json"})
    assert "at most 100 are answered per request" in refused(response, 413)
    del batch["q100"]
    assert len(reconcile(client, batch)) == 100


def test_extension_size_caps(client: FlaskClient) -> None:
    query = {"ids": [AMARA] * 501, "properties": [{"id": "hIndex"}]}
    response = client.post("/reconcile", data={"extend": json.dumps(query)},
                           headers={"Accept": "application/json"})
    assert "at most 500 ids" in refused(response, 413)


def test_request_size_limits(store: KnowledgeStore) -> None:
    client = make_app(store, max_query_bytes=200, max_body_bytes=5000).test_client()
    batch = json.dumps({f"q{i}": {"query": "Amara Okafor"} for i in range(10)})
    response = client.post("/reconcile", data={"queries": batch},
                           headers={"Accept": "application/json"})
    assert "KG_MAX_QUERY_BYTES allows 200" in refused(response, 413)
    response = client.post("/reconcile", data={"queries": "x" * 6000},
                           headers={"Accept": "application/json"})
    assert "KG_MAX_BODY_BYTES allows 5000" in refused(response, 413)


# --- reconciling -------------------------------------------------------------------------

@pytest.mark.parametrize("how", ["form", "get", "json"])
def test_seed_researchers_by_name(client: FlaskClient, seeds_dir: Path,
                                  schemas: Schemas | None, how: str) -> None:
    queries = {f"q{i}": {"query": name, "type": "Person"}
               for i, name in enumerate(SEED_PEOPLE)}
    results = reconcile(client, queries, how)
    check(schemas, "reconciliation-result-batch", results)
    for i, (name, slug) in enumerate(SEED_PEOPLE.items()):
        assert top(results[f"q{i}"]) == (f"{BASE}person/{slug}", True), name
        first = results[f"q{i}"]["result"][0]
        assert first["score"] == 100 and first["type"] == [{"id": "Person", "name": "Person"}]
        check(schemas, "reconciliation-candidate", first)


def test_every_person_and_paper_reconciles_to_itself(client: FlaskClient,
                                                      store: KnowledgeStore) -> None:
    rows = list(store.query("""
        SELECT ?e ?name ?kind WHERE {
          { ?e a <https://schema.org/Person> ; <https://schema.org/name> ?name
            BIND("Person" AS ?kind) }
          UNION
          { ?e a <https://schema.org/ScholarlyArticle> ; <https://schema.org/name> ?name
            BIND("ScholarlyArticle" AS ?kind) }
        }""").rows())
    assert len(rows) >= 12  # the sample alone: 4 people, 8 papers
    for start in range(0, len(rows), 100):
        chunk = rows[start : start + 100]
        queries = {str(i): {"query": r["name"][1].upper() if i % 2 else r["name"][1],
                            "type": r["kind"][1]} for i, r in enumerate(chunk)}
        results = reconcile(client, queries)
        for i, row in enumerate(chunk):
            assert top(results[str(i)]) == (row["e"][1], True), row["name"][1]


def test_seed_paper_titles(client: FlaskClient, seeds_dir: Path) -> None:
    titles = {
        "Muon is Scalable for LLM Training": None,
        "muon is  scalable for llm training": None,
        "AntM$^{2}$C: A Large Scale Dataset For Multi-Scenario Multi-Modal CTR Prediction": None,
        "SWE-RM: Execution-free Feedback For Software Engineering Agents": None,
    }
    results = reconcile(client, {f"q{i}": {"query": t, "type": "ScholarlyArticle"}
                                 for i, t in enumerate(titles)})
    ids = [top(results[f"q{i}"]) for i in range(len(titles))]
    assert all(match for _, match in ids)
    assert ids[0] == ids[1]
    names = [results[f"q{i}"]["result"][0]["name"] for i in range(len(titles))]
    assert names[0] == names[1] == "Muon is Scalable for LLM Training"
    assert names[2].startswith("AntM$^{2}$C")


def test_ambiguous_and_unknown_names_never_match(client: FlaskClient) -> None:
    results = reconcile(client, {
        "shared": {"query": "Okafor Tanaka"},  # one word of two people's names each
        "unknown": {"query": "Nobody Atall"},
        "partial": {"query": "Amara"},
        "typo": {"query": "Amara Okafur"},
    })
    shared = results["shared"]["result"]
    assert {c["id"] for c in shared[:2]} == {AMARA, MEI}
    assert shared[0]["score"] == shared[1]["score"] < 100
    for key in results:
        assert not any(c["match"] for c in results[key]["result"]), key
    assert results["unknown"]["result"] == []
    assert results["typo"]["result"][0]["id"] == AMARA  # found, but not certain


def test_seed_namesakes_by_surname_are_ambiguous(client: FlaskClient, seeds_dir: Path) -> None:
    result = reconcile(client, {"q": {"query": "Zhang", "type": "Person"}})["q"]["result"]
    assert {c["id"] for c in result} >= {f"{BASE}person/zheng-zhang",
                                         f"{BASE}person/zishi-zhang"}
    assert not any(c["match"] for c in result)


def test_types_limit_and_single_queries(client: FlaskClient, schemas: Schemas | None) -> None:
    results = reconcile(client, {
        "paper": {"query": "Amara Okafor", "type": "ScholarlyArticle"},
        "iri": {"query": "Amara Okafor", "type": ["https://schema.org/Person"]},
        "other": {"query": "Amara Okafor", "type": "DifferentiatedPerson"},
        "limited": {"query": "learning", "limit": 2},
    })
    assert all(c["type"][0]["id"] == "ScholarlyArticle" for c in results["paper"]["result"])
    assert top(results["iri"]) == (AMARA, True)
    assert results["other"]["result"] == []
    assert len(results["limited"]["result"]) <= 2
    single = client.get("/reconcile?query=Lukas+Brandt").get_json()
    check(schemas, "reconciliation-result-batch", {"q": single})
    assert top(single) == (LUKAS, True)
    structured = client.post("/reconcile", data={"query": json.dumps(
        {"query": "Lukas Brandt", "limit": 1})}).get_json()
    assert len(structured["result"]) == 1


def test_queries_naming_an_entity_or_an_identifier(namesakes_store: KnowledgeStore) -> None:
    client = make_app(namesakes_store).test_client()
    grace = f"{BASE}person/orcid-0000-0002-1694-233X"
    results = reconcile(client, {
        "iri": {"query": AMARA},
        "orcid": {"query": "0000-0002-1694-233X"},
        "orcid-iri": {"query": "https://orcid.org/0000-0002-1694-233X"},
        "doi": {"query": "doi:10.1000/abc.123"},
        "arxiv": {"query": "https://arxiv.org/abs/2503.14476", "type": "ScholarlyArticle"},
    })
    assert top(results["iri"]) == (AMARA, True)
    assert top(results["orcid"]) == (grace, True)
    assert top(results["orcid-iri"]) == (grace, True)
    assert top(results["doi"]) == (f"{BASE}paper/arxiv-2503.14476", True)
    assert top(results["arxiv"]) == (f"{BASE}paper/arxiv-2503.14476", True)


def test_namesakes_and_properties_that_separate_them(namesakes_store: KnowledgeStore,
                                                     schemas: Schemas | None) -> None:
    client = make_app(namesakes_store).test_client()
    grace = f"{BASE}person/orcid-0000-0002-1694-233X"
    namesake = f"{BASE}person/grace-hopper"
    results = reconcile(client, {
        "name": {"query": "Grace Hopper"},
        "category": {"query": "Grace Hopper", "properties": [{"pid": "category", "v": "AI"}]},
        "arxiv-category": {"query": "Hopper, Grace",
                           "properties": [{"pid": "category", "v": "cs.LG"}]},
        "orcid": {"query": "Grace Hopper",
                  "properties": [{"pid": "orcid", "v": "0000-0002-1694-233X"}]},
        "only-orcid": {"properties": [{"pid": "orcid",
                                       "v": "https://orcid.org/0000-0002-1694-233X"}]},
        "coauthor": {"query": "Grace Hopper",
                     "properties": [{"pid": "coauthors", "v": ["Carberry, Josiah"]}]},
        "unknown-pid": {"query": "Grace Hopper", "properties": [{"pid": "shoeSize", "v": 9}]},
    })
    check(schemas, "reconciliation-result-batch", results)
    name = results["name"]["result"]
    assert {c["id"] for c in name[:2]} == {grace, namesake}
    assert not any(c["match"] for c in name)
    assert top(results["category"]) == (namesake, True)
    assert results["category"]["result"][1]["score"] == 50.0
    assert top(results["arxiv-category"]) == (grace, True)
    assert top(results["orcid"]) == (grace, True)
    assert top(results["only-orcid"]) == (grace, True)
    assert top(results["coauthor"]) == (grace, True)
    features = {f["id"]: f["value"] for f in results["coauthor"]["result"][0]["features"]}
    assert features == {"name": 100.0, "coauthors": True}
    assert results["unknown-pid"]["result"] == []


def test_paper_properties(client: FlaskClient) -> None:
    results = reconcile(client, {
        "year": {"query": CONFORMAL,
                 "properties": [{"pid": "datePublished", "v": 2025}]},
        "month": {"query": CONFORMAL,
                  "properties": [{"pid": "datePublished", "v": "2025-03"}]},
        "wrong-year": {"query": CONFORMAL,
                       "properties": [{"pid": "datePublished", "v": "2019"}]},
        "author": {"query": CONFORMAL, "properties": [
            {"pid": "authors", "v": [{"id": AMARA, "name": "Amara Okafor"}]}]},
        "wrong-author": {"query": CONFORMAL,
                         "properties": [{"pid": "authors", "v": "Mei Tanaka"}]},
    })
    for key in ("year", "month", "author"):
        assert top(results[key])[1] is True, key
    for key in ("wrong-year", "wrong-author"):
        best = results[key]["result"][0]
        assert (best["match"], best["score"]) == (False, 50.0), key


# --- preview, view, flyout ------------------------------------------------------------------

def _paper_id(client: FlaskClient, title: str) -> str:
    return str(top(reconcile(client, {"q": {"query": title}})["q"])[0])


def test_preview_escapes_markup(client: FlaskClient) -> None:
    paper = _paper_id(client, MARKUP)
    response = client.get("/reconcile/preview?" + urlencode({"id": paper}))
    assert response.status_code == 200 and response.mimetype == "text/html"
    page = response.get_data(as_text=True)
    assert "Stop Early &lt;and&gt; Stay Valid" in page and "<and>" not in page
    assert "default-src 'none'" in response.headers["Content-Security-Policy"]
    person = client.get("/reconcile/preview?" + urlencode({"id": LUKAS})).get_data(as_text=True)
    assert "<title>Lukas Brandt</title>" in person and "<li>" in person  # his papers
    assert 'href="/id/person/lukas-brandt"' in person


def test_flyout(client: FlaskClient) -> None:
    paper = _paper_id(client, MARKUP)
    body = client.get("/reconcile/flyout/entity?" + urlencode({"id": paper})).get_json()
    assert set(body) == {"id", "html"} and body["id"] == paper
    assert "&lt;and&gt;" in body["html"] and "<and>" not in body["html"]


def test_view_redirects_to_the_entity_page(client: FlaskClient) -> None:
    response = client.get("/reconcile/view?" + urlencode({"id": AMARA}))
    assert response.status_code == 303
    assert response.headers["Location"].endswith("/id/person/amara-okafor")


@pytest.mark.parametrize("route", ["preview", "view", "flyout/entity"])
def test_entity_routes_refuse_unknown_or_missing_ids(client: FlaskClient, route: str) -> None:
    accept = {"Accept": "application/json"}
    assert "id parameter is required" in refused(client.get(f"/reconcile/{route}",
                                                            headers=accept))
    unknown = urlencode({"id": f"{BASE}person/<nobody>"})
    assert "no person or paper" in refused(client.get(f"/reconcile/{route}?{unknown}",
                                                      headers=accept), 404)


# --- suggest and property proposals ---------------------------------------------------------

def test_suggest_entities(client: FlaskClient, schemas: Schemas | None) -> None:
    body = client.get("/reconcile/suggest/entity?prefix=ama").get_json()
    check(schemas, "suggest-entities-response", body)
    first = body["result"][0]
    assert (first["id"], first["name"]) == (AMARA, "Amara Okafor")
    assert first["notable"] == [{"id": "Person", "name": "Person"}]
    assert "h-index 12" in first["description"]
    papers = client.get("/reconcile/suggest/entity?prefix=calibrated%20unc&type=ScholarlyArticle")
    assert [r["name"] for r in papers.get_json()["result"]] == [CONFORMAL]
    word = client.get("/reconcile/suggest/entity?prefix=okaf").get_json()["result"]
    assert [r["id"] for r in word] == [AMARA]  # a word of the name, not only its start
    by_iri = client.get("/reconcile/suggest/entity?" + urlencode({"prefix": LUKAS}))
    assert by_iri.get_json()["result"][0]["id"] == LUKAS
    page = client.get("/reconcile/suggest/entity?prefix=s&limit=1&cursor=1").get_json()
    everything = client.get("/reconcile/suggest/entity?prefix=s&limit=100").get_json()
    assert page["result"] == everything["result"][1:2]
    accept = {"Accept": "application/json"}
    assert "prefix parameter is required" in refused(
        client.get("/reconcile/suggest/entity", headers=accept))
    assert "cursor parameter" in refused(
        client.get("/reconcile/suggest/entity?prefix=a&cursor=-1", headers=accept))


def test_suggest_types_and_properties(client: FlaskClient, schemas: Schemas | None) -> None:
    types = client.get("/reconcile/suggest/type?prefix=pers").get_json()
    check(schemas, "suggest-types-response", types)
    assert [t["id"] for t in types["result"]] == ["Person"]
    article = client.get("/reconcile/suggest/type?prefix=article").get_json()
    assert [t["id"] for t in article["result"]] == ["ScholarlyArticle"]
    props = client.get("/reconcile/suggest/property?prefix=co").get_json()
    check(schemas, "suggest-properties-response", props)
    assert {p["id"] for p in props["result"]} == {  # id or a word of the name
        "coauthors", "codeRepository", "citationCount", "paperCount"}
    date = client.get("/reconcile/suggest/property?prefix=date").get_json()
    assert [p["id"] for p in date["result"]] == ["datePublished"]
    person_props = client.get("/reconcile/suggest/property?prefix=&type=Person").get_json()
    assert "datePublished" not in {p["id"] for p in person_props["result"]}


def test_propose_properties(client: FlaskClient, schemas: Schemas | None) -> None:
    body = client.get("/reconcile/propose_properties?type=Person").get_json()
    check(schemas, "data-extension-property-proposal", body)
    ids = [p["id"] for p in body["properties"]]
    assert {"hIndex", "paperCount", "citationCount", "papers", "coauthors"} <= set(ids)
    paper = client.get("/reconcile/propose_properties?type=ScholarlyArticle&limit=3").get_json()
    assert paper["limit"] == 3 and len(paper["properties"]) == 3
    accept = {"Accept": "application/json"}
    assert "unknown type" in refused(client.get("/reconcile/propose_properties?type=Q5",
                                                headers=accept))
    assert "type parameter is required" in refused(
        client.get("/reconcile/propose_properties", headers=accept))


# --- data extension -------------------------------------------------------------------------

def test_extend(client: FlaskClient, schemas: Schemas | None) -> None:
    paper = _paper_id(client, CONFORMAL)
    query = {"ids": [AMARA, paper, "https://example.org/not-ours"],
             "properties": [{"id": "hIndex"}, {"id": "paperCount"}, {"id": "citationCount"},
                            {"id": "papers"}, {"id": "authors"}, {"id": "datePublished"},
                            {"id": "coauthors", "settings": {"limit": "1"}},
                            {"id": "noSuchProperty"}]}
    response = client.post("/reconcile", data={"extend": json.dumps(query)})
    assert response.status_code == 200
    body = response.get_json()
    check(schemas, "data-extension-response", body)
    meta = {m["id"]: m for m in body["meta"]}
    assert meta["papers"]["type"] == {"id": "ScholarlyArticle", "name": "Scholarly article"}
    assert meta["noSuchProperty"] == {"id": "noSuchProperty", "name": "noSuchProperty"}
    amara = body["rows"][AMARA]
    assert (amara["hIndex"], amara["paperCount"], amara["citationCount"]) == (
        [{"int": 12}], [{"int": 4}], [{"int": 1204}])
    assert len(amara["papers"]) == 4
    assert {p["name"] for p in amara["papers"]} >= {CONFORMAL}
    assert all(p["id"].startswith(f"{BASE}paper/") for p in amara["papers"])
    assert len(amara["coauthors"]) == 1
    assert amara["authors"] == [] and amara["noSuchProperty"] == []
    conformal = body["rows"][paper]
    assert conformal["authors"] == [{"id": LUKAS, "name": "Lukas Brandt"},
                                    {"id": AMARA, "name": "Amara Okafor"}]
    assert conformal["datePublished"] == [{"date": "2025-03-03T00:00:00Z"}]
    assert conformal["hIndex"] == []
    assert all(cells == [] for cells in body["rows"]["https://example.org/not-ours"].values())


def test_extend_as_a_json_body(client: FlaskClient) -> None:
    query = {"ids": [LUKAS], "properties": [{"id": "coauthors"}]}
    for body in (query, {"extend": query}):
        response = client.post("/reconcile", data=json.dumps(body),
                               content_type="application/json")
        assert response.status_code == 200
        coauthors = response.get_json()["rows"][LUKAS]["coauthors"]
        assert {"id": AMARA, "name": "Amara Okafor"} in coauthors
        assert {"str": "Hannah Weiß"} in coauthors  # printed on a byline, no profile


# --- CORS -----------------------------------------------------------------------------------

def test_cors(client: FlaskClient, store: KnowledgeStore) -> None:
    response = client.get("/reconcile", headers={"Origin": "https://refine.example"})
    assert response.headers["Access-Control-Allow-Origin"] == "*"
    preflight = client.options("/reconcile", headers={
        "Origin": "https://refine.example", "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "Content-Type"})
    assert preflight.status_code == 204
    assert "POST" in preflight.headers["Access-Control-Allow-Methods"]
    assert "Content-Type" in preflight.headers["Access-Control-Allow-Headers"]
    error = client.get("/reconcile/suggest/entity", headers={"Origin": "https://x.example"})
    assert error.status_code == 400 and error.headers["Access-Control-Allow-Origin"] == "*"
    for route in ("preview", "suggest/entity", "suggest/type", "suggest/property",
                  "propose_properties", "flyout/entity", "view"):
        assert client.options(f"/reconcile/{route}").status_code == 204, route
    strict = make_app(store, cors_origins="https://refine.example").test_client()
    allowed = strict.get("/reconcile", headers={"Origin": "https://refine.example"})
    assert allowed.headers["Access-Control-Allow-Origin"] == "https://refine.example"
    assert "Origin" in allowed.headers["Vary"]
    other = strict.get("/reconcile", headers={"Origin": "https://evil.example"})
    assert "Access-Control-Allow-Origin" not in other.headers


def test_long_cells_are_answered_quickly(client: FlaskClient) -> None:
    import time

    abstract = "Sparse Mixtures for Tabular Forecasting " + "experts routing tabular " * 4000
    started = time.monotonic()
    results = reconcile(client, {"q": {"query": abstract}})
    assert time.monotonic() - started < 5
    assert not any(c["match"] for c in results["q"]["result"])
