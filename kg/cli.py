"""The ``kg`` command: ingest, release, export, query, validate, stats, serve.

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
from kg.formats import RDF_FORMATS, RESULT_FORMATS
from kg.iris import DEFAULT_BASE_IRI, IriMinter

STORE_OPTION = click.option(
    "--store", "store_dir", default="store", show_default=True, envvar="KG_STORE",
    type=click.Path(file_okay=False, path_type=Path),
    help="Directory of the Oxigraph store (env KG_STORE).")
BASE_OPTION = click.option(
    "--base-iri", default=DEFAULT_BASE_IRI, show_default=True, envvar="KG_BASE_IRI",
    help="Base IRI under which instance IRIs are minted (env KG_BASE_IRI).")


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


@main.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path(exists=True, path_type=Path))
@click.option("--as-of", callback=_date, metavar="YYYY-MM-DD",
              help="Date the documents were captured (default: today); year-less dates "
                   "resolve against it and it is recorded with each document.")
@STORE_OPTION
@BASE_OPTION
@click.option("--progress/--no-progress", default=None,
              help="Show a progress bar (default: when stderr is a terminal).")
@click.option("--jobs", "-j", type=click.IntRange(min=1), default=None,
              help="Processes that parse and map documents (default: the number of CPUs).")
def ingest(paths: tuple[Path, ...], as_of: dt.date, store_dir: Path, base_iri: str,
           progress: bool | None, jobs: int | None) -> None:
    """Ingest profile documents (files or folders) into the store.

    Every rejected document is reported with file, line and reason; all others
    are ingested. Exits 1 if anything was rejected.
    """
    import os

    from kg.detect import iter_input_files
    from kg.ingest import Ingestor
    from kg.parallel import map_files

    files = list(iter_input_files(paths))
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
    bar = tqdm(total=len(files), unit="file", disable=not show, file=sys.stderr)
    processes = jobs or os.cpu_count() or 1

    def items():
        for results in map_files(files, as_of=as_of, base_iri=base_iri,
                                 ingested_at=ingestor.ingested_at, processes=processes):
            yield from results
            bar.update(1)

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
    from kg.linksets import load_linkset

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


@main.command()
@STORE_OPTION
@BASE_OPTION
@click.option("--out", "out_dir", default="exports", show_default=True,
              type=click.Path(file_okay=False, path_type=Path), help="Folder of the dump set.")
@click.option("--release", default=None, help="Release name in the file names "
              "(default: the latest as-of date in the store).")
def export(store_dir: Path, base_iri: str, out_dir: Path, release: str | None) -> None:
    """Write gzip'd N-Quads, Turtle, N-Triples and JSON-LD dumps, VoID/DCAT and SHA256SUMS."""
    from kg.export import export_store

    store = _open(store_dir, read_only=True)
    try:
        result = export_store(store, out_dir, base_iri=base_iri, release=release,
                              progress=lambda name: click.echo(f"writing {name}", err=True))
    except KgError as exc:
        raise click.ClickException(str(exc)) from exc
    for d in result.dumps:
        unit = "quads" if d.dataset else "triples"  # the N-Quads dump holds every graph
        click.echo(f"{d.name}\t{d.triples} {unit}\t{d.size} bytes\tsha256 {d.sha256}")


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

    The copy is a consistent checkpoint (hard links, cheap); RELEASES/current is repointed
    atomically, and a server started with --store RELEASES/current switches to the new
    release without failing a request. Run it between ingests, never during one.
    """
    from kg.release import publish_release

    try:
        made = publish_release(store_dir, releases_dir, keep=keep, optimize=optimize)
    except KgError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(f"published {made.path} as {releases_dir / 'current'}", err=True)
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


@main.command()
@click.argument("sparql")
@STORE_OPTION
@click.option("--format", "format_name", default=None,
              type=click.Choice(sorted({*RESULT_FORMATS, *RDF_FORMATS})),
              help="Output format (default: tsv for SELECT/ASK, turtle for CONSTRUCT/DESCRIBE).")
def query(sparql: str, store_dir: Path, format_name: str | None) -> None:
    """Run a SPARQL query (text, or @FILE to read it from a file) and print the results."""

    if sparql.startswith("@"):
        sparql = Path(sparql[1:]).read_text(encoding="utf-8")
    store = _open(store_dir, read_only=True)
    try:
        result = store.query(sparql)
        fmt = format_name or ("turtle" if result.kind == "graph" else "tsv")
        out = sys.stdout.buffer
        for chunk in result.serialize(fmt):
            out.write(chunk)
        out.flush()
    except KgError as exc:
        raise click.ClickException(str(exc)) from exc


@main.command()
@STORE_OPTION
@click.option("--named-graphs/--default-graph-only", default=True,
              help="Also validate each document's named graph on its own.")
def validate(store_dir: Path, named_graphs: bool) -> None:
    """Validate the store against the SHACL shapes; exits 1 on any violation.

    A store built before 2026-12-07 (authorships with schema:author) is reported as such,
    with how to rebuild or migrate it, and exits 1.
    """
    from kg.migrations import OLD_MODEL_MESSAGE, old_model_authorships
    from kg.validate import validate_store

    store = _open(store_dir, read_only=True)
    old = old_model_authorships(store)
    if old:
        click.echo("error: " + OLD_MODEL_MESSAGE.format(count=old), err=True)
        sys.exit(1)
    reports = validate_store(store, named_graphs=named_graphs)
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
def stats(store_dir: Path) -> None:
    """Counts: persons, papers, triples of the default graph, quads of every graph,
    named graphs (documents, author links, title variants, link sets), documents, and
    entities per class."""
    from kg.stats import store_stats

    store = _open(store_dir, read_only=True)
    s = store_stats(store)
    labels = {"persons": "persons", "papers": "papers", "triples": "triples (default graph)",
              "quads": "quads (every graph)", "graphs": "named graphs", "documents": "documents"}
    for key, label in labels.items():
        click.echo(f"{label}\t{s[key]}")
    for cls, n in s["classes"].items():
        click.echo(f"class\t{cls}\t{n}")


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
def serve(**options: object) -> None:
    """Serve the store: SPARQL endpoint, entity pages, query page and dumps.

    Every setting can also be given as a KG_* environment variable.
    """
    from server.run import serve as run_server
    from server.settings import Settings

    try:
        settings = Settings.from_sources(overrides=options)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from exc
    if not Path(settings.store).is_dir():
        raise click.ClickException(f"no store at {settings.store}: run 'kg ingest' first")
    run_server(settings)


def _open(store_dir: Path, *, read_only: bool = False):
    from kg.store import KnowledgeStore

    try:
        return KnowledgeStore.open(store_dir, read_only=read_only)
    except KgError as exc:
        raise click.ClickException(str(exc)) from exc


if __name__ == "__main__":
    main()
