"""The ``kg`` command: ingest, release, export, apply-changes, query, validate, stats, serve.

Thin: each command parses its options, calls the library, and turns library
errors into a clear message and a non-zero exit code.
"""

from __future__ import annotations

import datetime as dt
import sys
from pathlib import Path

import click
from tqdm import tqdm

from kg.errors import KgError
from kg.mapping.iris import DEFAULT_BASE_IRI, IriMinter
from kg.output.formats import RDF_FORMATS, RESULT_FORMATS

STORE_OPTION = click.option(
    "--store", "store_dir", default="store", show_default=True, envvar="KG_STORE",
    type=click.Path(file_okay=False, path_type=Path),
    help="Directory of the Oxigraph store (env KG_STORE).")
BASE_OPTION = click.option(
    "--base-iri", default=DEFAULT_BASE_IRI, show_default=True, envvar="KG_BASE_IRI",
    help="Base IRI under which instance IRIs are minted (env KG_BASE_IRI).")

PROGRESS_OPTION = click.option(
    "--progress/--no-progress", default=None,
    help="Show a progress bar (default: when stderr is a terminal).")


def _date(_ctx: click.Context, _param: click.Parameter, value: str | None) -> dt.date:
    if value is None:
        return dt.date.today()
    try:
        return dt.date.fromisoformat(value)
    except ValueError as exc:
        raise click.BadParameter(f"expected YYYY-MM-DD, got {value!r}") from exc


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="scholarkg")
def main() -> None:
    """scholarkg: publish researcher profiles as a scholarly knowledge graph."""


class _DocumentBar:
    """One progress bar for an ingest: documents (JSON Lines records each count), with
    the bytes of the files read so far and their rate."""

    def __init__(self, documents: int, total_bytes: int, *, disable: bool) -> None:
        self.total_bytes = total_bytes
        self.done_bytes = 0
        self.bar = tqdm(total=documents, unit="doc", disable=disable, file=sys.stderr,
                        dynamic_ncols=True, smoothing=0.1)
        self._postfix()

    def _postfix(self) -> None:
        elapsed = self.bar.format_dict.get("elapsed") or 0
        rate = f", {_megabytes(int(self.done_bytes / elapsed))}/s" if elapsed else ""
        self.bar.set_postfix_str(f"{_megabytes(self.done_bytes)}/{_megabytes(self.total_bytes)}"
                                 f"{rate}", refresh=False)

    def document(self) -> None:
        self.bar.update(1)

    def file_done(self, size: int) -> None:
        self.done_bytes += size
        self._postfix()

    def close(self) -> None:
        self.bar.close()


def _megabytes(n: int) -> str:
    return f"{n / 1e6:.1f} MB" if n >= 100_000 else f"{n / 1e3:.1f} kB"


@main.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path(exists=True, path_type=Path))
@click.option("--as-of", callback=_date, metavar="YYYY-MM-DD",
              help="Date the documents were captured (default: today); year-less dates "
                   "resolve against it and it is recorded with each document.")
@STORE_OPTION
@BASE_OPTION
@PROGRESS_OPTION
@click.option("--jobs", "-j", type=click.IntRange(min=1), default=None,
              help="Processes that parse and map documents (default: the number of CPUs).")
def ingest(paths: tuple[Path, ...], as_of: dt.date, store_dir: Path, base_iri: str,
           progress: bool | None, jobs: int | None) -> None:
    """Ingest profile documents (files or folders) into the store.

    Every rejected document is reported with file, line and reason; all others
    are ingested. Exits 1 if anything was rejected, or if the paths hold no documents.
    Folders are walked for .txt and .jsonl files; every other file is reported as
    skipped, with the reason.
    """
    import os

    from kg.ingest import Ingestor
    from kg.parallel import map_files
    from kg.parse.detect import scan_inputs

    scan = scan_inputs(paths)
    for skipped, why in scan.skipped:
        click.echo(f"skipped: {skipped}: {why}", err=True)
    if scan.documents == 0:
        raise click.ClickException(
            "no documents to ingest in " + ", ".join(map(str, paths))
            + " (kg ingest reads .txt profile pages and .jsonl records"
            + (f"; {len(scan.skipped)} other files skipped" if scan.skipped else "") + ")")
    store = _open(store_dir)
    # compactions wait for idle CPU while the ingest runs (see the method)
    store.lower_compaction_priority()
    try:
        ingestor = Ingestor(store, IriMinter(base_iri))
    except KgError as exc:
        refused = str(exc)  # raised below, once its traceback no longer holds the store open
    else:
        refused = ""
    if refused:
        del store
        raise click.ClickException(refused)
    show = sys.stderr.isatty() if progress is None else progress
    bar = _DocumentBar(scan.documents, scan.bytes, disable=not show)
    processes = jobs or os.cpu_count() or 1

    def items():
        sizes = iter(scan.bytes_per_file)
        for results in map_files(scan.files, as_of=as_of, base_iri=base_iri,
                                 ingested_at=ingestor.ingested_at, processes=processes):
            for item in results:
                yield item  # the writer has taken the document before the bar moves
                bar.document()
            bar.file_done(next(sizes, 0))

    try:
        report = ingestor.ingest(items())
    except KgError as exc:
        raise click.ClickException(str(exc)) from exc
    finally:
        bar.close()
    for error in report.rejected:
        click.echo(f"rejected: {error}", err=True)
    click.echo(
        f"{len(report.ingested)} ingested, {len(report.unchanged)} unchanged, "
        f"{len(report.rejected)} rejected ({report.superseded} superseded earlier snapshots, "
        f"{report.historical} older snapshots kept as history) into {store_dir}",
        err=True)
    click.echo("time: " + ", ".join(f"{phase} {seconds:.1f} s"
                                    for phase, seconds in report.seconds.items()), err=True)
    del store
    if report.rejected:
        sys.exit(1)


@main.command()
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@STORE_OPTION
@BASE_OPTION
def link(file: Path, store_dir: Path, base_iri: str) -> None:
    """Load a curated link set: owl:sameAs links from a TSV or CSV FILE.

    The header row names the columns entity (our IRI, or an exact name or title),
    target (an IRI, or scheme:value such as orcid:0000-0002-1825-0097, wikidata:Q42,
    doi:10.1000/xyz) and optionally scheme (the scheme of bare target values). The
    file is the link set <base>linkset/<file stem>; loading a new version replaces it.
    Rejected rows are reported with their line and left out; exits 1 if any was.
    """
    from kg.mapping.linksets import load_linkset

    store = _open(store_dir)
    try:
        report = load_linkset(store, file, IriMinter(base_iri))
    except (KgError, OSError) as exc:
        raise click.ClickException(str(exc)) from exc
    for error in report.rejected:
        click.echo(f"rejected: {error}", err=True)
    if report.ignored_columns:
        click.echo(f"ignored columns: {', '.join(report.ignored_columns)}", err=True)
    changes = ("unchanged" if report.outcome == "unchanged" else
               f"{report.outcome}: {report.added} added, {report.removed} removed")
    click.echo(f"{report.links} links in link set {report.name} <{report.graph}> ({changes}), "
               f"{len(report.rejected)} rows rejected", err=True)
    del store
    if report.rejected:
        sys.exit(1)


class _QuadProgress:
    """A tqdm bar on stderr counting quads, its description the current stage."""

    def __init__(self, show: bool | None) -> None:
        self.bar = tqdm(unit=" quads", unit_scale=True, file=sys.stderr,
                        disable=not (sys.stderr.isatty() if show is None else show))
        self.stage = ""

    def __call__(self, stage: str, quads: int) -> None:
        if stage != self.stage:
            self.stage = stage
            self.bar.set_description(stage, refresh=False)
        self.bar.update(quads)

    def close(self) -> None:
        self.bar.close()


@main.command()
@STORE_OPTION
@BASE_OPTION
@click.option("--out", "out_dir", default="exports", show_default=True,
              type=click.Path(file_okay=False, path_type=Path), help="Folder of the dump set.")
@click.option("--release", default=None, help="Release name in the file names "
              "(default: the latest as-of date in the store).")
@click.option("--previous", type=click.Path(exists=True, path_type=Path), default=None,
              help="The earlier release to write the changes from: its scholarkg-<release>.nq.gz "
                   "or its export folder (default: the release in --out, if any).")
@PROGRESS_OPTION
def export(store_dir: Path, base_iri: str, out_dir: Path, release: str | None,
           previous: Path | None, progress: bool | None) -> None:
    """Write gzip'd N-Quads, Turtle, N-Triples and JSON-LD dumps, VoID/DCAT and SHA256SUMS.

    When --out (or --previous) holds an earlier release, also writes the change set from
    it: the quads removed and added (scholarkg-<old>-to-<new>.removed.nq.gz, .added.nq.gz,
    .changes.json), which 'kg apply-changes' applies to a store holding the earlier release.
    """
    from kg.output.export import export_store

    store = _open(store_dir, read_only=True)
    bar = _QuadProgress(progress)
    try:
        result = export_store(store, out_dir, base_iri=base_iri, release=release,
                              previous=previous, progress=bar)
    except KgError as exc:
        raise click.ClickException(str(exc)) from exc
    finally:
        bar.close()
    for d in result.dumps:
        unit = "quads" if d.dataset else "triples"  # the N-Quads dump holds every graph
        click.echo(f"{d.name}\t{d.triples} {unit}\t{d.size} bytes\tsha256 {d.sha256}")
    if result.changes is not None:
        c = result.changes
        for part in (c.removed, c.added):
            click.echo(f"{part.file}\t{part.quads} quads\t{part.size} bytes\tsha256 {part.sha256}")


@main.command("apply-changes")
@click.argument("changes", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@STORE_OPTION
@PROGRESS_OPTION
def apply_changes(changes: Path, store_dir: Path, progress: bool | None) -> None:
    """Apply a change set (its .changes.json, with its .removed.nq.gz and .added.nq.gz
    beside it) to a store holding the change set's base release.

    Refused, with the store unchanged, when the store is not exactly the base release
    (its quads' SHA-256 is checked against the change set's) or a file does not match
    its checksum. A store already at the change set's result is left as it is.
    """
    from kg.output.changes import apply_change_set

    if not store_dir.is_dir():
        raise click.ClickException(f"no store at {store_dir}: load the base release first")
    store = _open(store_dir)
    bar = _QuadProgress(progress)
    try:
        done = apply_change_set(store, changes, progress=bar)
    except KgError as exc:
        raise click.ClickException(str(exc)) from exc
    finally:
        bar.close()
    c = done.changes
    if done.applied:
        click.echo(f"applied {c.name}: {done.removed} quads removed, {done.added} added; "
                   f"the store holds release {c.target}", err=True)
    else:
        click.echo(f"the store already holds release {c.target}: nothing to do", err=True)
    del store


@main.command()
@STORE_OPTION
@click.option("--releases", "releases_dir", required=True,
              type=click.Path(file_okay=False, path_type=Path),
              help="Folder of the releases; its 'current' link is what 'kg serve' serves.")
@click.option("--keep", type=click.IntRange(min=1), default=3, show_default=True,
              help="Releases to keep (older ones no process has open are removed).")
@click.option("--optimize/--no-optimize", default=False, show_default=True,
              help="Compact the working store first (see 'kg optimize').")
def release(store_dir: Path, releases_dir: Path, keep: int, optimize: bool) -> None:
    """Publish the working store: copy it into a new release and make that one current.

    The copy is a consistent checkpoint (hard links, cheap); the dataset's figures (the
    dataset page, VoID, 'kg stats') are computed into it (a whole-store read); then
    RELEASES/current is repointed atomically, and a server started with --store
    RELEASES/current switches to the new release without failing a request. Run it
    between ingests, never during one.
    """
    from kg.storage.release import publish_release

    try:
        made = publish_release(store_dir, releases_dir, keep=keep, optimize=optimize)
    except KgError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(f"published {made.path} as {releases_dir / 'current'} (statistics "
               f"computed in {made.stats_seconds:.1f} s)", err=True)
    for name in made.pruned:
        click.echo(f"removed old release {name}", err=True)
    for name in made.in_use:
        click.echo(f"kept old release {name}: a process still has it open", err=True)
    click.echo(made.name)


@main.command()
@STORE_OPTION
def optimize(store_dir: Path) -> None:
    """Compact the store (after a large ingest, before serving it).

    'kg ingest' lets RocksDB's compactions wait while it runs, so a large ingest leaves
    what it loaded in many overlapping files, which a read-only server never compacts.
    This compacts every index (for 100,000 profiles: 90-139 s on 2 cores, the store
    16 GB -> 12 GB, full scans 23% faster). 'kg release --optimize' does it before publishing.
    """
    import time

    if not store_dir.is_dir():
        raise click.ClickException(f"no store at {store_dir}: run 'kg ingest' first")
    store = _open(store_dir)
    started = time.monotonic()
    try:
        store.optimize()
    except KgError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(f"compacted {store_dir} in {time.monotonic() - started:.1f} s", err=True)
    del store


def _engine_options(func):  # type: ignore[no-untyped-def]
    """One click option per engine setting (flags and KG_ENGINE* env; see kg.storage.engine)."""
    from kg.storage.engine import ENGINE_SETTINGS

    for setting in reversed(ENGINE_SETTINGS):
        if setting.secret:
            continue
        kind = click.Choice(setting.choices) if setting.choices else setting.type
        func = click.option(
            setting.flag, setting.name, type=kind, default=None,
            help=f"{setting.help} [env {setting.env}; default {setting.default!r}]",
        )(func)
    return func


def _open_engine(store_dir: Path, options: dict[str, object]):  # type: ignore[no-untyped-def]
    """The embedded store, or the remote engine the KG_ENGINE* settings name."""
    from kg.storage.engine import EngineSettings, open_engine

    try:
        settings = EngineSettings.from_sources(overrides=options)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from exc
    except KgError as exc:
        raise click.ClickException(str(exc)) from exc
    if settings.engine == "embedded":
        return _open(store_dir, read_only=True)
    engine = open_engine(settings, None)
    click.get_current_context().call_on_close(engine.close)
    return engine


@main.command()
@click.argument("sparql")
@STORE_OPTION
@BASE_OPTION
@click.option("--format", "format_name", default=None,
              type=click.Choice(sorted({*RESULT_FORMATS, *RDF_FORMATS})),
              help="Output format: json, xml, csv or tsv (default) for SELECT/ASK; turtle "
                   "(default), ntriples, nquads, trig, rdfxml or jsonld for CONSTRUCT/DESCRIBE.")
@_engine_options
def query(sparql: str, store_dir: Path, base_iri: str, format_name: str | None,
          **engine: object) -> None:
    """Run a SPARQL query (text, or @FILE to read it from a file) and print the results.

    Turtle and TriG declare only the prefixes they use, and write the graph's own IRIs
    with a prefix per kind (person:, paper:, ...) under --base-iri.
    """
    from kg.mapping.vocab import PREFIXES

    if sparql.startswith("@"):
        sparql = Path(sparql[1:]).read_text(encoding="utf-8")
    store = _open_engine(store_dir, engine)
    try:
        result = store.query(sparql)
        if result.kind == "graph":
            fmt, valid, what = format_name or "turtle", RDF_FORMATS, "a CONSTRUCT or DESCRIBE"
        else:
            fmt, valid, what = (format_name or "tsv", RESULT_FORMATS,
                                "an ASK" if result.kind == "ask" else "a SELECT")
        if fmt not in valid:
            raise click.UsageError(
                f"--format {fmt} cannot hold the result of {what} query; "
                f"valid formats: {', '.join(valid)}")
        prefixes = {**PREFIXES, **IriMinter(base_iri).prefixes()}
        out = sys.stdout.buffer
        for chunk in result.serialize(fmt, prefixes=prefixes):
            out.write(chunk)
        out.flush()
    except KgError as exc:
        raise click.ClickException(str(exc)) from exc


@main.command()
@STORE_OPTION
@click.option("--named-graphs/--default-graph-only", default=True,
              help="Also validate each document's named graph on its own.")
@_engine_options
def validate(store_dir: Path, named_graphs: bool, **engine: object) -> None:
    """Validate the store against the SHACL shapes; exits 1 on any violation.

    A store built before 2026-12-07 (authorships with schema:author) is reported as such,
    with how to rebuild or migrate it, and exits 1.
    """
    from kg.mapping.migrations import OLD_MODEL_MESSAGE, old_model_authorships
    from kg.validate import validate_store

    store = _open_engine(store_dir, engine)
    try:
        old = old_model_authorships(store)
        if old:
            click.echo("error: " + OLD_MODEL_MESSAGE.format(count=old), err=True)
            sys.exit(1)
        reports = validate_store(store, named_graphs=named_graphs)
    except KgError as exc:
        raise click.ClickException(str(exc)) from exc
    bad = [r for r in reports if not r.conforms]
    for r in bad:
        click.echo(f"graph {r.graph or '(default)'}: {r.violations} violations\n{r.text}", err=True)
    named = sum(1 for r in reports if r.graph is not None)
    checked = f"the default graph and {named} named graphs" if named_graphs else "the default graph"
    click.echo(f"validated {checked}: {len(bad)} with violations")
    if bad:
        sys.exit(1)


@main.command()
@STORE_OPTION
@_engine_options
def stats(store_dir: Path, **engine: object) -> None:
    """Counts: persons, papers, triples of the default graph, quads of every graph,
    named graphs (documents, author links, title variants, link sets), documents, and
    entities per class.

    A release's figures were computed when it was published ('kg release'); for any
    other store, one changed since, or a remote engine, they are computed now
    (whole-store queries).
    """
    from kg.stats import stats_state, store_stats

    store = _open_engine(store_dir, engine)
    try:
        s = store_stats(store)
    except KgError as exc:
        raise click.ClickException(str(exc)) from exc
    labels = {"persons": "persons", "papers": "papers", "triples": "triples (default graph)",
              "quads": "quads (every graph)", "graphs": "named graphs", "documents": "documents"}
    for key, label in labels.items():
        click.echo(f"{label}\t{s[key]}")
    for cls, n in s["classes"]:
        click.echo(f"class\t{cls}\t{n}")
    state = stats_state(store_dir) if store.path is not None else "remote engine"
    click.echo("figures: " + ("published with the data" if state == "fresh" else
                              f"computed now ({state})" if state == "remote engine" else
                              f"computed now (published figures {state})"), err=True)


@main.command()
@click.argument("release_file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--engine", "engine_kind", type=click.Choice(["virtuoso", "gsp"]), default=None,
              help="The kind of slot expected to load into: virtuoso (bulk loader through "
                   "isql) or gsp (Graph Store Protocol); default: the slots file's.")
@click.option("--slots", "slots_file", required=True, envvar="KG_PUBLISH_SLOTS",
              type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="JSON file naming the two engine instances that take turns and their "
                   "kind (env KG_PUBLISH_SLOTS; see kg.storage.publish).")
@click.option("--pointer", required=True, envvar="KG_ENGINE_RELEASE",
              type=click.Path(dir_okay=False, path_type=Path),
              help="The release pointer readers follow (env KG_ENGINE_RELEASE).")
@click.option("--user", default="dba", show_default=True, envvar="KG_ENGINE_USER",
              help="Virtuoso user for isql (env KG_ENGINE_USER; its password: env "
                   "KG_ENGINE_PASSWORD). A gsp slot names its own user.")
@click.option("--isql", default="isql-vt", show_default=True, envvar="KG_ISQL",
              help="Virtuoso's isql program (env KG_ISQL).")
def publish(release_file: Path, engine_kind: str | None, slots_file: Path, pointer: Path,
            user: str, isql: str) -> None:
    """Publish RELEASE_FILE (scholarkg-<release>.nq.gz, from 'kg export') into an engine.

    The release is loaded into the instance that does not serve (Virtuoso: its bulk
    loader; any other engine: the Graph Store Protocol, graph by graph in bounded
    requests), its quads counted, and only then the pointer is switched to it; a failed
    load leaves the current release serving.
    """
    import os

    from kg.storage.publish import GspSlot, Slot, idle_slot, read_slots
    from kg.storage.publish import publish as publish_release_into

    password = os.environ.get("KG_ENGINE_PASSWORD", "")
    slots: dict[str, Slot] = {}
    target: Slot | None = None
    problem: KgError | None = None
    try:
        slots = read_slots(slots_file)
        target = idle_slot(slots, pointer)
    except KgError as exc:
        problem = exc
    # isql always needs a password; a gsp slot only when it names a user
    if not password and (not isinstance(target, GspSlot) or target.user):
        raise click.UsageError("set KG_ENGINE_PASSWORD to the password of the engine's user "
                               "(--user for isql, the slot's user for gsp)")
    if problem is not None or target is None:
        raise click.ClickException(f"{problem} (the current release still serves)")
    if engine_kind is not None and target.kind != engine_kind:
        raise click.UsageError(f"--engine {engine_kind}: the slot to load into, "
                               f"{target.name}, is a {target.kind} slot")
    try:
        done = publish_release_into(
            release_file, slots, pointer, user=user, password=password, isql=isql,
            progress=lambda message: click.echo(message, err=True))
    except KgError as exc:
        raise click.ClickException(f"{exc} (the current release still serves)") from exc
    via = f", {done.requests} requests" if done.requests else ""
    click.echo(f"published {done.release} into slot {done.slot}: {done.quads} quads in "
               f"{done.seconds:.1f} s ({done.quads_per_s:,.0f} quads/s{via}); {pointer} "
               f"points at it", err=True)
    click.echo(done.slot)


def _serve_options(func):  # type: ignore[no-untyped-def]
    """One click option per server setting, from the settings table (flags and KG_* env)."""
    from server.settings import SETTINGS

    for setting in reversed(SETTINGS):
        func = click.option(
            setting.flag, setting.name, type=setting.type, default=None,
            help=f"{setting.help} [env {setting.env}; default {setting.default!r}]",
        )(func)
    return func


@main.command()
@_serve_options
@_engine_options
def serve(**options: object) -> None:
    """Serve the store: SPARQL endpoint, entity pages, query page and dumps.

    Every setting can also be given as a KG_* environment variable. With --engine remote
    (or --engine-release) the graph is read from a remote SPARQL engine instead of the store.
    """
    from server.run import serve as run_server
    from server.settings import Settings

    try:
        settings = Settings.from_sources(overrides=options)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from exc
    except KgError as exc:
        raise click.ClickException(str(exc)) from exc
    if not settings.remote and not Path(settings.store).is_dir():
        raise click.ClickException(f"no store at {settings.store}: run 'kg ingest' first")
    try:
        run_server(settings)
    except KgError as exc:
        raise click.ClickException(str(exc)) from exc


def _open(store_dir: Path, *, read_only: bool = False):
    from kg.storage.store import KnowledgeStore

    try:
        store = KnowledgeStore.open(store_dir, read_only=read_only)
    except KgError as exc:
        raise click.ClickException(str(exc)) from exc
    # closed (its lock dropped) when the command ends, however it ends
    click.get_current_context().call_on_close(store.close)
    return store


if __name__ == "__main__":
    main()
