"""The ``hexad`` command line.

Query commands refresh the index first (a warm refresh re-parses only changed files), so
an answer is never older than the files on disk. Every command takes ``--json``.
"""

from __future__ import annotations

import functools
import json
import logging
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict
from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from hexad import __version__
from hexad.core.db import (
    Connection,
    clear_recovery_notice,
    connect,
    database_path,
    recovery_notice,
)
from hexad.core.errors import HexadError
from hexad.core.secrets import guard_handler, guard_root_logger
from hexad.core.types import CallEdge, Symbol
from hexad.perception.index import IndexReader
from hexad.perception.indexer import Indexer, IndexSummary
from hexad.perception.repomap import build_repo_map

err = Console(stderr=True)
out = Console(soft_wrap=True)


def _emit_json(data: Any) -> None:
    click.echo(json.dumps(data, indent=2, default=str))


def _find_workspace(start: Path) -> Path:
    """The nearest folder at or above ``start`` that already has a Hexad index, else start."""
    start = start.resolve()
    for folder in (start, *start.parents):
        if database_path(folder).exists():
            return folder
    return start


def _tell_recovery(conn: Connection) -> None:
    """A corrupt or foreign database was moved aside: say so once (the warning logged when
    this process did the moving already has), then forget the notice."""
    notice = recovery_notice(conn, unannounced=True)
    if notice is not None:
        err.print(f"[yellow]hexad:[/] {notice}", highlight=False, soft_wrap=True)
    clear_recovery_notice(conn)


def _run_index(
    root: Path, *, quiet: bool, workers: int | None = None
) -> tuple[IndexSummary, Connection]:
    indexer = Indexer(root, workers=workers)
    _tell_recovery(indexer.conn)
    if quiet or not err.is_terminal:
        return indexer.run(), indexer.conn
    with Progress(
        TextColumn("[bold]indexing"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=err,
        transient=True,
    ) as bar:
        task = bar.add_task("index", total=None)

        def progress(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total)

        return indexer.run(progress), indexer.conn


@contextmanager
def _index(workspace: str | None, refresh: bool) -> Iterator[IndexReader]:
    root = Path(workspace) if workspace else _find_workspace(Path.cwd())
    if refresh or not database_path(root).exists():
        _summary, conn = _run_index(root, quiet=True)
    else:
        conn = connect(database_path(root))
        _tell_recovery(conn)
    try:
        yield IndexReader(conn)
    finally:
        conn.close()


def _symbol_json(sym: Symbol) -> dict[str, Any]:
    return {
        "name": sym.name,
        "kind": sym.kind,
        "qualname": sym.qualname,
        "path": sym.path,
        "line": sym.name_span.start_line + 1,
        "signature": sym.signature,
        "exported": sym.exported,
        "doc": sym.doc.split("\n", 1)[0] if sym.doc else "",
        "language": sym.language,
    }


def _edge_json(edge: CallEdge) -> dict[str, Any]:
    return {
        "caller": edge.caller.qualname if edge.caller else None,
        "callee": edge.callee.qualname if edge.callee else None,
        "name": edge.name,
        "receiver": edge.receiver,
        "path": edge.path,
        "line": edge.line + 1,
        "resolution": edge.resolution,
        "candidates": edge.candidates,
        "external": edge.target_module,
    }


workspace_option = click.option(
    "-w",
    "--workspace",
    type=click.Path(exists=True, file_okay=False),
    default=None,
    help="Workspace root (default: the nearest indexed folder above the current one).",
)
json_option = click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
refresh_option = click.option(
    "--refresh/--no-refresh",
    default=True,
    show_default=True,
    help="Bring the index up to date with the files first.",
)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="hexad")
@click.option("-v", "--verbose", count=True, help="Log more to stderr (-v info, -vv debug).")
def cli(verbose: int) -> None:
    """Hexad: a local-first coding agent that lives inside a language server."""
    level = logging.WARNING - 10 * min(verbose, 2)
    logging.basicConfig(
        level=level, stream=sys.stderr, format="%(levelname)s %(name)s: %(message)s"
    )
    guard_root_logger()  # nothing that looks like a secret reaches a log


@cli.command()
@click.argument("path", type=click.Path(exists=True, file_okay=False), default=".")
@click.option("--workers", type=click.IntRange(1, 64), default=None, help="Parsing processes.")
@click.option("--quiet", is_flag=True, help="No progress bar.")
@json_option
def index(path: str, workers: int | None, quiet: bool, as_json: bool) -> None:
    """Build or refresh the structural index of PATH."""
    summary, conn = _run_index(Path(path), quiet=quiet or as_json, workers=workers)
    conn.close()
    if as_json:
        data = asdict(summary)
        data["skipped"] = [{"path": p, "reason": r} for p, r in summary.skipped]
        _emit_json(data)
        return
    table = Table(title=f"Hexad index of {summary.root}", show_header=False, title_justify="left")
    table.add_row(
        "files",
        f"{summary.files} ({summary.parsed} parsed, {summary.unchanged} unchanged, "
        f"{summary.removed} removed, {len(summary.skipped)} skipped)",
    )
    table.add_row("languages", ", ".join(f"{k} {v}" for k, v in summary.languages.items()) or "-")
    table.add_row("symbols", str(summary.symbols))
    table.add_row("references", f"{summary.refs} ({summary.calls} calls)")
    resolved = ", ".join(
        f"{k} {v}" for k, v in sorted(summary.resolution.items(), key=lambda t: -t[1])
    )
    table.add_row("call resolution", resolved or "-")
    table.add_row("imports", str(summary.imports))
    if summary.parse_errors:
        table.add_row("syntax errors", str(summary.parse_errors))
    table.add_row(
        "seconds",
        f"{summary.seconds:.2f} ({summary.workers} worker{'s' if summary.workers > 1 else ''})",
    )
    out.print(table)
    for path_, reason in summary.skipped[:10]:
        err.print(f"[yellow]skipped[/] {path_}: {reason}")
    if len(summary.skipped) > 10:
        err.print(f"[yellow]… and {len(summary.skipped) - 10} more skipped[/]")


@cli.command()
@click.argument("query")
@click.option("--kind", multiple=True, help="Only these kinds (class, function, method, …).")
@click.option("--limit", type=click.IntRange(1, 10000), default=30, show_default=True)
@workspace_option
@refresh_option
@json_option
def symbols(
    query: str,
    kind: tuple[str, ...],
    limit: int,
    workspace: str | None,
    refresh: bool,
    as_json: bool,
) -> None:
    """Find symbols by fuzzy name (or qualified name, with a dot)."""
    with _index(workspace, refresh) as reader:
        found = reader.search(query, limit=limit, kinds=kind)
    if as_json:
        _emit_json([{**_symbol_json(s), "score": round(score, 2)} for s, score in found])
        return
    if not found:
        err.print(f"no symbol matches {query!r}")
        raise SystemExit(1)
    for sym, _score in found:
        private = "" if sym.exported else " (private)"
        out.print(
            f"{sym.kind:<9} [bold]{sym.qualname}[/]{private}  {sym.location}  "
            f"[dim]{sym.signature}[/]",
            highlight=False,
        )


def _targets(reader: IndexReader, name: str) -> list[Symbol]:
    targets = reader.lookup(name)
    if not targets:
        err.print(f"no symbol named {name!r}; try `hexad symbols {name}`")
        raise SystemExit(1)
    return targets


def _print_edges(edges: list[CallEdge], callers: bool) -> None:
    for edge in edges:
        who = edge.caller if callers else edge.callee
        label = who.qualname if who else ("<module>" if callers else edge.name)
        how = edge.resolution
        if edge.resolution == "ambiguous":
            how += f", {edge.candidates} candidates"
        if edge.target_module:
            how += f": {edge.target_module}"
        out.print(f"  {edge.path}:{edge.line + 1}  {label}  [dim]({how})[/]")


@cli.command()
@click.argument("name")
@click.option("--certain", is_flag=True, help="Leave out ambiguous call sites.")
@workspace_option
@refresh_option
@json_option
def callers(name: str, certain: bool, workspace: str | None, refresh: bool, as_json: bool) -> None:
    """Who calls NAME (a name or qualified name)."""
    with _index(workspace, refresh) as reader:
        targets = _targets(reader, name)
        edges = reader.callers(targets, include_ambiguous=not certain)
    if as_json:
        _emit_json(
            {
                "targets": [_symbol_json(t) for t in targets],
                "callers": [_edge_json(e) for e in edges],
            }
        )
        return
    for t in targets:
        out.print(f"[bold]{t.qualname}[/] {t.location}")
    sure = [e for e in edges if e.resolution != "ambiguous"]
    maybe = [e for e in edges if e.resolution == "ambiguous"]
    out.print(f"{len(sure)} call site{'s' if len(sure) != 1 else ''}")
    _print_edges(sure, callers=True)
    if maybe:
        out.print(f"{len(maybe)} more that may call it (the name is defined more than once)")
        _print_edges(maybe, callers=True)


@cli.command()
@click.argument("name")
@workspace_option
@refresh_option
@json_option
def callees(name: str, workspace: str | None, refresh: bool, as_json: bool) -> None:
    """What NAME calls, each with how it was resolved."""
    with _index(workspace, refresh) as reader:
        targets = _targets(reader, name)
        edges = reader.callees(targets)
    if as_json:
        _emit_json(
            {
                "callers": [_symbol_json(t) for t in targets],
                "callees": [_edge_json(e) for e in edges],
            }
        )
        return
    for t in targets:
        out.print(f"[bold]{t.qualname}[/] {t.location}")
    out.print(f"{len(edges)} call{'s' if len(edges) != 1 else ''}")
    _print_edges(edges, callers=False)


@cli.command("map")
@click.option("--tokens", type=click.IntRange(16, 1_000_000), default=1024, show_default=True)
@click.option(
    "--focus", multiple=True, help="File path or symbol name to rank toward (repeatable)."
)
@workspace_option
@refresh_option
@json_option
def repo_map(
    tokens: int, focus: tuple[str, ...], workspace: str | None, refresh: bool, as_json: bool
) -> None:
    """A ranked outline of the workspace that fits in a token budget."""
    with _index(workspace, refresh) as reader:
        paths = {r[0] for r in reader.conn.execute("SELECT path FROM files")}
        focus_files = [f for f in focus if f in paths]
        focus_symbols = [f for f in focus if f not in paths]
        result = build_repo_map(reader.conn, tokens, focus_files, focus_symbols)
    if as_json:
        _emit_json(
            {"tokens": result.tokens, "budget": tokens, "cached": result.cached, "map": result.text}
        )
        return
    click.echo(result.text, nl=False)
    err.print(
        f"[dim]{result.tokens} of {tokens} tokens (≈{4} chars/token)"
        f"{', cached' if result.cached else ''}[/]"
    )


@cli.command()
@click.argument("path")
@workspace_option
@refresh_option
@json_option
def deps(path: str, workspace: str | None, refresh: bool, as_json: bool) -> None:
    """A file's place in the import graph: what it imports, who imports it, which packages."""
    with _index(workspace, refresh) as reader:
        root = Path(workspace).resolve() if workspace else _find_workspace(Path.cwd())
        rel = Path(path).resolve().relative_to(root).as_posix() if Path(path).exists() else path
        found = reader.module_deps(rel)
        packages = reader.external_packages() if found is None and path == "." else None
    if packages is not None:
        if as_json:
            _emit_json([{"package": p, "files": n} for p, n in packages])
        else:
            for p, n in packages:
                out.print(f"{p}  [dim]({n} files)[/]")
        return
    if found is None:
        err.print(f"{path} is not in the index")
        raise SystemExit(1)
    if as_json:
        _emit_json(asdict(found))
        return
    out.print(f"[bold]{found.path}[/] ({found.module})")
    for label, items in (
        ("imports", found.imports),
        ("imported by", found.imported_by),
        ("packages", found.external),
        ("standard library", found.stdlib),
    ):
        out.print(f"{label}: " + (", ".join(items) if items else "-"))


@cli.command()
@click.option("--tcp", "tcp", default=None, metavar="HOST:PORT", help="Serve on TCP (debugging).")
@click.option("--log-file", type=click.Path(dir_okay=False), default=None, help="Log here too.")
def serve(tcp: str | None, log_file: str | None) -> None:
    """Run the language server (stdio by default)."""
    from hexad.lsp.server import build_server

    if log_file:
        handler = logging.FileHandler(log_file, encoding="utf-8")
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        logging.getLogger().addHandler(guard_handler(handler))
    logging.getLogger("hexad").setLevel(logging.INFO)
    server = build_server()
    try:
        if tcp:
            host, _, port = tcp.rpartition(":")
            server.start_tcp(host or "127.0.0.1", int(port))
        else:
            server.start_io()
    finally:
        server.close()


# ---------------------------------------------------------------------------------------
# hexad policy: governance (imported lazily: `hexad index` need not load pydantic models)


def _policy_root(workspace: str | None) -> Path:
    """``-w``, else the nearest folder with a ``.hexad/`` above the current one, else it."""
    if workspace:
        return Path(workspace).resolve()
    start = Path.cwd().resolve()
    for folder in (start, *start.parents):
        if (folder / ".hexad").is_dir():
            return folder
    return start


def _shown(file: str) -> str:
    """A path as the user would type it: relative to the current folder when inside it."""
    try:
        return Path(file).resolve().relative_to(Path.cwd().resolve()).as_posix()
    except ValueError:
        return file


@cli.group()
def policy() -> None:
    """Governance: check policy files, explain a decision, print the schema, read the ledger."""


@policy.command("check")
@click.argument("files", nargs=-1, type=click.Path(exists=True, dir_okay=False))
@workspace_option
@json_option
def policy_check(files: tuple[str, ...], workspace: str | None, as_json: bool) -> None:
    """Validate the policy files in force (and FILES, as workspace files on top).

    Prints `file:line:col: severity: field: message`; exits 1 when any file has an error.
    """
    from hexad.governance.loader import load

    result = load(_policy_root(workspace), extra=[Path(f) for f in files])
    issues = sorted(
        (i for found in result.issues.values() for i in found),
        key=lambda i: (i.file, i.span.line, i.span.col),
    )
    errors = [i for i in issues if i.severity == "error"]
    if as_json:
        _emit_json(
            {
                "ok": not errors,
                "files": list(result.used),
                "issues": [i.to_json() for i in issues],
            }
        )
    else:
        for issue in issues:
            click.echo(issue.format(_shown(issue.file)))
        warnings = len(issues) - len(errors)
        err.print(
            f"{len(result.used)} policy file{'s' if len(result.used) != 1 else ''} in force, "
            f"{len(errors)} error{'s' if len(errors) != 1 else ''}, "
            f"{warnings} warning{'s' if warnings != 1 else ''}",
            highlight=False,
        )
    if errors:
        raise SystemExit(1)


@policy.command("explain")
@click.option(
    "--action",
    "action_json",
    required=True,
    metavar="JSON",
    help='The action, e.g. \'{"kind":"edit","paths":["src/a.py"],"files_touched":3}\'.',
)
@workspace_option
@json_option
def policy_explain(action_json: str, workspace: str | None, as_json: bool) -> None:
    """Dry run: which rules match ACTION, the effect, and the budget left. Records nothing."""
    from pydantic import ValidationError

    from hexad.governance.engine import Engine
    from hexad.governance.ledger import Ledger, format_amount
    from hexad.governance.loader import load
    from hexad.governance.model import Action

    try:
        action = Action.model_validate_json(action_json)
    except ValidationError as exc:
        for error in exc.errors(include_url=False):
            where = ".".join(str(p) for p in error["loc"]) or "action"
            err.print(f"[red]--action[/] {where}: {error['msg']}", highlight=False)
        raise SystemExit(2) from None
    root = _policy_root(workspace)
    result = load(root)
    for issue in result.errors:
        err.print(
            f"[yellow]policy file left out:[/] {issue.format(_shown(issue.file))}", highlight=False
        )
    ledger = Ledger(connect(database_path(root))) if database_path(root).exists() else None
    try:
        decision = Engine(result.policy, root, ledger=ledger).explain(action)
    finally:
        if ledger is not None:
            ledger.close()
    if as_json:
        _emit_json({**decision.to_json(), "files": list(result.policy.files)})
        return
    colour = {"allow": "green", "require_approval": "yellow", "escalate": "magenta"}.get(
        decision.effect, "red"
    )
    out.print(f"effect: [bold {colour}]{decision.effect}[/]", highlight=False)
    if not decision.reasons:
        out.print("no rule matches this action", highlight=False)
    for reason in decision.reasons:
        source = f"  [dim]{reason.source}[/]" if reason.source else ""
        out.print(
            f"  {reason.effect:<16} [bold]{reason.rule}[/]: {reason.why}{source}", highlight=False
        )
    out.print("budgets:", highlight=False)
    for state in decision.budget_state:
        if state.limit is None:
            out.print(f"  {state.name:<25} no limit", highlight=False)
            continue
        mark = " [red]exceeded[/]" if state.exceeded else ""
        asked = f", this action {format_amount(state.requested)}" if state.requested else ""
        out.print(
            f"  {state.name:<25} {format_amount(state.remaining or 0)} of "
            f"{format_amount(state.limit)} left{asked}{mark}",
            highlight=False,
        )
    if decision.route is not None:
        r = decision.route.route
        model = f" ({r.model})" if r.model else ""
        fallbacks = f", then {', '.join(r.fallbacks)}" if r.fallbacks else ""
        task = decision.route.task or "default"
        out.print(f"route: {task} → {r.engine}{model}{fallbacks}", highlight=False)
    esc = result.policy.escalation
    if decision.escalation is not None:
        out.print(
            f"escalation: confidence {action.confidence:g} → {decision.escalation} "
            f"(proceed at ≥ {esc.proceed_at:g}, escalate below {esc.escalate_below:g})",
            highlight=False,
        )


@policy.command("schema")
@click.option("--write", is_flag=True, help="Write it to policies/schema.json.")
@click.option("--check", is_flag=True, help="Exit 1 when policies/schema.json is out of date.")
@json_option
def policy_schema(write: bool, check: bool, as_json: bool) -> None:
    """The JSON Schema of policy files, generated from the pydantic models."""
    from hexad.core.resources import data_dir
    from hexad.governance.model import policy_schema_text

    text = policy_schema_text()
    target = data_dir("policies") / "schema.json"
    if write:
        target.write_text(text, encoding="utf-8")
        err.print(f"wrote {_shown(str(target))}", highlight=False)
        return
    if check:
        current = target.read_text(encoding="utf-8") if target.exists() else ""
        if current != text:
            err.print(
                f"{_shown(str(target))} is out of date: run `hexad policy schema --write`",
                highlight=False,
            )
            raise SystemExit(1)
        err.print(f"{_shown(str(target))} is up to date", highlight=False)
        return
    click.echo(text, nl=False)


@policy.command("ledger")
@click.option("--limit", type=click.IntRange(1, 100_000), default=50, show_default=True)
@click.option("--task", "task_id", default=None, help="Only this task's entries.")
@workspace_option
@json_option
def policy_ledger(limit: int, task_id: str | None, workspace: str | None, as_json: bool) -> None:
    """The audit ledger: the latest decisions and spends, oldest first."""
    from datetime import datetime

    from hexad.governance.ledger import Ledger, format_amount

    root = _policy_root(workspace)
    if not database_path(root).exists():
        if as_json:
            _emit_json([])
        else:
            err.print(f"no ledger yet in {root}", highlight=False)
        return
    ledger = Ledger(connect(database_path(root)))
    try:
        entries = ledger.entries(limit=limit, task_id=task_id)
    finally:
        ledger.close()
    if as_json:
        _emit_json(
            [
                {"id": e.id, "ts": e.ts, "type": e.type, "task_id": e.task_id, **e.summary}
                for e in entries
            ]
        )
        return
    if not entries:
        err.print("the ledger is empty", highlight=False)
    for e in entries:
        when = datetime.fromtimestamp(e.ts).isoformat(sep=" ", timespec="seconds")
        task = f" task {e.task_id}" if e.task_id else ""
        s = e.summary
        if e.type == "decision":
            rules = ", ".join(s["rules"]) or "no rule matched"
            line = f"decision #{e.id}{task}: {s['kind']} → {s['effect']} ({rules})"
        else:
            of = f" for decision #{s['decision_id']}" if s["decision_id"] else ""
            note = f" — {s['note']}" if s["note"] else ""
            amount = format_amount(s["amount"])
            line = f"spend #{e.id}{task}: {amount} {s['metric']} ({s['source']}){of}{note}"
        out.print(f"{when}  {line}", highlight=False)


# -- memory ------------------------------------------------------------------------------


@cli.group()
def memory() -> None:
    """Semantic memory: code chunks, notes and decisions, searched by words and meaning."""


embed_model_option = click.option(
    "--embed-model",
    type=click.Path(exists=True, dir_okay=False),
    envvar="HEXAD_EMBED_MODEL",
    default=None,
    help="A GGUF model for embeddings (llama.cpp); default: the workspace's own model.",
)


@contextmanager
def _memory(
    workspace: str | None, *, refresh: bool, sync: bool, embed_model: str | None, quiet: bool
) -> Iterator[Any]:
    from hexad.memory import Memory

    embedder = None
    if embed_model:
        from hexad.inference.embedding import LlamaEmbedder

        embedder = LlamaEmbedder(Path(embed_model))
    root = (Path(workspace) if workspace else _find_workspace(Path.cwd())).resolve()
    if refresh or not database_path(root).exists():
        _summary, conn = _run_index(root, quiet=True)
    else:
        conn = connect(database_path(root))
        _tell_recovery(conn)
    mem = Memory(conn, root, embedder)
    try:
        if sync:
            _sync_memory(mem, quiet=quiet)
        yield mem
    finally:
        conn.close()


def _sync_memory(mem: Any, *, quiet: bool) -> Any:
    if quiet or not err.is_terminal:
        return mem.sync()
    with Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=err,
        transient=True,
    ) as bar:
        tasks: dict[str, Any] = {}

        def progress(phase: str, done: int, total: int) -> None:
            if phase not in tasks:
                label = "memory: chunks" if phase == "chunks" else "memory: embeddings"
                tasks[phase] = bar.add_task(label, total=total)
            bar.update(tasks[phase], completed=done, total=total)

        return mem.sync(progress)


@memory.command("search")
@click.argument("query")
@click.option("-k", "--limit", type=click.IntRange(1, 1000), default=10, show_default=True)
@click.option(
    "--mode",
    type=click.Choice(["hybrid", "keyword", "vector"]),
    default="hybrid",
    show_default=True,
)
@click.option("--type", "types", multiple=True, type=click.Choice(["chunk", "note", "decision"]))
@click.option("--kind", "kinds", multiple=True, help="Only these symbol kinds.")
@click.option("--language", "languages", multiple=True, help="Only these languages.")
@click.option("--path", "path_glob", default=None, help="Only paths matching this glob.")
@embed_model_option
@workspace_option
@refresh_option
@json_option
def memory_search(
    query: str,
    limit: int,
    mode: str,
    types: tuple[str, ...],
    kinds: tuple[str, ...],
    languages: tuple[str, ...],
    path_glob: str | None,
    embed_model: str | None,
    workspace: str | None,
    refresh: bool,
    as_json: bool,
) -> None:
    """Search memory by words and meaning; each hit says why it matched."""
    with _memory(
        workspace, refresh=refresh, sync=refresh, embed_model=embed_model, quiet=as_json
    ) as mem:
        hits = mem.recall(
            query,
            limit,
            mode=mode,
            types=types,
            kinds=kinds,
            languages=languages,
            path_glob=path_glob,
        )
    if as_json:
        _emit_json([h.to_json() for h in hits])
        return
    if not hits:
        err.print(f"nothing in memory matches {query!r}")
        raise SystemExit(1)
    for hit in hits:
        item = hit.item
        label = item.qualname or item.title or item.key
        where = f"  {item.location}" if item.location else ""
        out.print(
            f"{hit.score:.4f} {item.type:<8} [bold]{label}[/]{where}\n         [dim]{hit.why}[/]",
            highlight=False,
        )


@memory.command("remember")
@click.argument("text")
@click.option(
    "--scope", default="", help="Where it applies: a path glob or a qualified symbol name."
)
@workspace_option
@json_option
def memory_remember(text: str, scope: str, workspace: str | None, as_json: bool) -> None:
    """Remember a note (e.g. "we use pathlib, not os.path")."""
    with _memory(workspace, refresh=False, sync=False, embed_model=None, quiet=True) as mem:
        try:
            note = mem.records.remember(text, scope=scope)
        except ValueError as exc:
            raise click.BadParameter(str(exc), param_hint="TEXT") from exc
        mem.embed_pending()
    if as_json:
        _emit_json(note.to_json())
        return
    where = f" (for {note.scope})" if note.scope else ""
    out.print(f"remembered note #{note.id}{where}", highlight=False)


@memory.command("forget")
@click.argument("note_id", type=int)
@workspace_option
@json_option
def memory_forget(note_id: int, workspace: str | None, as_json: bool) -> None:
    """Forget note NOTE_ID (see `hexad memory notes`)."""
    with _memory(workspace, refresh=False, sync=False, embed_model=None, quiet=True) as mem:
        forgotten = mem.records.forget(note_id)
    if as_json:
        _emit_json({"id": note_id, "forgotten": forgotten})
    elif forgotten:
        out.print(f"forgot note #{note_id}", highlight=False)
    if not forgotten:
        if not as_json:
            err.print(f"there is no note #{note_id}; see `hexad memory notes`")
        raise SystemExit(1)


@memory.command("notes")
@click.option("--source", type=click.Choice(["user", "learned"]), default=None)
@workspace_option
@json_option
def memory_notes(source: str | None, workspace: str | None, as_json: bool) -> None:
    """List remembered notes, with their ids."""
    with _memory(workspace, refresh=False, sync=False, embed_model=None, quiet=True) as mem:
        notes = mem.records.notes(source=source)
    if as_json:
        _emit_json([n.to_json() for n in notes])
        return
    for n in notes:
        where = f" [dim](for {n.scope})[/]" if n.scope else ""
        out.print(f"#{n.id} {n.source:<7} {n.text}{where}", highlight=False)


@memory.command("stats")
@embed_model_option
@workspace_option
@refresh_option
@json_option
def memory_stats(
    embed_model: str | None, workspace: str | None, refresh: bool, as_json: bool
) -> None:
    """What memory holds: chunks, notes, decisions, vector spaces; syncs first."""
    with _memory(
        workspace, refresh=refresh, sync=refresh, embed_model=embed_model, quiet=as_json
    ) as mem:
        stats = mem.stats()
    if as_json:
        _emit_json(stats)
        return
    table = Table(title="Hexad memory", show_header=False, title_justify="left")
    table.add_row("chunks", f"{stats['chunks']} from {stats['files']} files")
    table.add_row("notes", str(stats["notes"]))
    decisions = stats["decisions"]
    detail = ", ".join(f"{k} {v}" for k, v in decisions.items() if k != "total")
    table.add_row("decisions", f"{decisions['total']}" + (f" ({detail})" if detail else ""))
    table.add_row("plan runs", str(stats["plan_runs"]))
    for space in stats["spaces"]:
        table.add_row(
            f"vectors ({space['state']})",
            f"{space['vectors']} × {space['dim']} from {space['model']}"
            + (f", {space['pending']} pending" if space["pending"] else ""),
        )
    out.print(table)


# -- models ------------------------------------------------------------------------------


@cli.command("generate")
@click.argument("task")
@click.option("--prompt", "prompt_name", required=True, help="Packaged prompt template name.")
@click.option("--var", "variables", multiple=True, help="NAME=VALUE for the template (repeat).")
@click.option(
    "--model-path",
    type=click.Path(exists=True, dir_okay=False),
    default=None,
    help="A GGUF file to serve the task's routed model in process.",
)
@click.option("--model-url", default=None, help="An OpenAI-compatible server (…/v1) instead.")
@click.option("--max-tokens", type=click.IntRange(1, 100_000), default=None)
@click.option("--task-id", default=None, help="Charge per-task budgets to this id.")
@workspace_option
@json_option
def generate_command(
    task: str,
    prompt_name: str,
    variables: tuple[str, ...],
    model_path: str | None,
    model_url: str | None,
    max_tokens: int | None,
    task_id: str | None,
    workspace: str | None,
    as_json: bool,
) -> None:
    """Run a prompt through the model governance routes TASK to (e.g. implement, plan)."""
    from hexad.core.settings import ModelSettings
    from hexad.execution.models import call_json, open_model_service
    from hexad.governance import open_engine
    from hexad.inference.prompts import PromptError, prompt

    values: dict[str, str] = {}
    for item in variables:
        name, sep, value = item.partition("=")
        if not sep:
            raise click.BadParameter(f"{item!r} is not NAME=VALUE", param_hint="--var")
        values[name] = value
    try:
        request = prompt(prompt_name).render(max_tokens=max_tokens, **values)
    except PromptError as exc:
        raise click.BadParameter(str(exc), param_hint="--prompt/--var") from exc
    root = (Path(workspace) if workspace else _find_workspace(Path.cwd())).resolve()
    engine = open_engine(root)
    route = engine.route(task)
    name = (route.route.model if route is not None else None) or "local"
    models = {}
    if model_path or model_url:
        models[name] = ModelSettings(path=model_path, url=model_url, threads=None)
    service = open_model_service(engine, models)
    try:
        call = service.generate(task, request, task_id=task_id)
    finally:
        for backend in service.backends.values():
            backend.close()
        engine.close()
    if as_json:
        _emit_json(call_json(call))
    elif call.generation is None:
        err.print(f"[yellow]no model answered:[/] {call.unavailable}", highlight=False)
    else:
        gen = call.generation
        click.echo(gen.text)
        stats = gen.logprob_stats()
        err.print(
            f"[dim]{call.model} ({gen.backend}): {gen.finish_reason}, {gen.prompt_tokens} + "
            f"{gen.completion_tokens} tokens in {gen.seconds:.1f} s; mean log-prob "
            f"{stats.get('mean_logprob', float('nan')):.2f}[/]",
            highlight=False,
        )
    if call.generation is None:
        raise SystemExit(1)


def _position(value: str, option: str) -> dict[str, Any]:
    """``PATH:LINE:COL`` or ``PATH:LINE:COL-LINE:COL`` (1-based, as editors show them) to
    a request's 0-based fields."""
    path, _, rest = value.partition(":")
    try:
        start, _, end = rest.partition("-")
        line, col = (int(x) for x in start.split(":"))
        fields: dict[str, Any] = {"path": path, "line": line - 1, "col": col - 1}
        if end:
            end_line, end_col = (int(x) for x in end.split(":"))
            fields.update(end_line=end_line - 1, end_col=end_col - 1)
    except ValueError as exc:
        raise click.BadParameter(
            f"{value!r} is not PATH:LINE:COL[-LINE:COL]", param_hint=option
        ) from exc
    if min(v for k, v in fields.items() if k != "path") < 0:
        raise click.BadParameter("lines and columns start at 1", param_hint=option)
    return fields


@cli.command("propose")
@click.option("--rename", nargs=2, metavar="SYMBOL NEW", default=None, help="Rename a symbol.")
@click.option("--add-import", "add_import", metavar="NAME", default=None, help="Import NAME.")
@click.option("--file", "file_", metavar="PATH", default=None, help="The file (--add-import).")
@click.option("--module", default=None, help="Import from this module (--add-import).")
@click.option("--extract-variable", nargs=2, metavar="RANGE NAME", default=None)
@click.option("--extract-function", nargs=2, metavar="RANGE NAME", default=None)
@click.option("--inline", metavar="PATH:LINE:COL", default=None)
@click.option(
    "--signature",
    nargs=2,
    metavar="SYMBOL PARAMS",
    default=None,
    help="Change a function's parameters and update its call sites.",
)
@click.option(
    "--value",
    "values",
    multiple=True,
    metavar="NAME=EXPR",
    help="What call sites pass for a new parameter (--signature; repeat).",
)
@click.option("--implement", metavar="SYMBOL", default=None, help="Write a stub's body (model).")
@click.option("--write-test", metavar="SYMBOL", default=None, help="Write a test (model).")
@click.option("--fix-test", metavar="NODEID", default=None, help="Fix a failing test (model).")
@click.option("--samples", type=click.IntRange(1, 8), default=1, help="Model samples to draw.")
@click.option(
    "--tests/--no-tests",
    "run_tests",
    default=True,
    show_default=True,
    help="Run the tests that reach the change (in a shadow copy).",
)
@click.option("--apply", "apply_", is_flag=True, help="Write the change if governance allows.")
@click.option(
    "--approve",
    is_flag=True,
    help="With --apply: you approve an edit governance wants a person to review.",
)
@click.option(
    "--model-path",
    type=click.Path(exists=True, dir_okay=False),
    default=None,
    help="A GGUF file to serve model-backed engines in process.",
)
@click.option("--model-url", default=None, help="An OpenAI-compatible server (…/v1) instead.")
@workspace_option
@json_option
def propose_command(
    rename: tuple[str, str] | None,
    add_import: str | None,
    file_: str | None,
    module: str | None,
    extract_variable: tuple[str, str] | None,
    extract_function: tuple[str, str] | None,
    inline: str | None,
    signature: tuple[str, str] | None,
    values: tuple[str, ...],
    implement: str | None,
    write_test: str | None,
    fix_test: str | None,
    samples: int,
    run_tests: bool,
    apply_: bool,
    approve: bool,
    model_path: str | None,
    model_url: str | None,
    workspace: str | None,
    as_json: bool,
) -> None:
    """Propose a verified edit: print its diff and verification report; --apply writes it.

    SYMBOL is a qualified name (``pkg.module.func``); RANGE is PATH:LINE:COL-LINE:COL.
    """
    from hexad.core.settings import ModelSettings
    from hexad.execution.engines.base import EngineError
    from hexad.execution.models import open_model_service
    from hexad.execution.proposals import ProposalError, ProposalRequest, ProposalService
    from hexad.execution.sources import DiskSources
    from hexad.governance import open_engine

    fields: dict[str, Any]
    chosen = [
        name
        for name, given in (
            ("--rename", rename),
            ("--add-import", add_import),
            ("--extract-variable", extract_variable),
            ("--extract-function", extract_function),
            ("--inline", inline),
            ("--signature", signature),
            ("--implement", implement),
            ("--write-test", write_test),
            ("--fix-test", fix_test),
        )
        if given
    ]
    if len(chosen) != 1:
        raise click.UsageError(
            "give exactly one of --rename, --add-import, --extract-variable, "
            "--extract-function, --inline, --signature, --implement, --write-test, --fix-test"
            + (f" (got {', '.join(chosen)})" if chosen else "")
        )
    if rename:
        fields = {"kind": "rename", "symbol": rename[0], "new_name": rename[1]}
        if ":" in rename[0]:
            fields = {"kind": "rename", **_position(rename[0], "--rename"), "new_name": rename[1]}
    elif add_import:
        if not file_:
            raise click.UsageError("--add-import needs --file PATH")
        fields = {"kind": "add_import", "name": add_import, "path": file_, "module": module}
    elif extract_variable or extract_function:
        where, name = extract_variable or extract_function or ("", "")
        kind = "extract_variable" if extract_variable else "extract_function"
        fields = {"kind": kind, **_position(where, f"--{kind.replace('_', '-')}"), "new_name": name}
        if "end_line" not in fields:
            raise click.BadParameter("give a range PATH:LINE:COL-LINE:COL", param_hint=kind)
    elif inline:
        fields = {"kind": "inline", **_position(inline, "--inline")}
    elif signature:
        pairs: dict[str, str] = {}
        for item in values:
            name, sep, expr = item.partition("=")
            if not sep:
                raise click.BadParameter(f"{item!r} is not NAME=EXPR", param_hint="--value")
            pairs[name.strip()] = expr.strip()
        fields = {
            "kind": "signature",
            "symbol": signature[0],
            "params": signature[1],
            "values": pairs,
        }
    elif implement or write_test:
        fields = {
            "kind": "implement" if implement else "write_test",
            "symbol": implement or write_test,
            "samples": samples,
        }
    else:
        fields = {"kind": "fix_test", "test": fix_test}
    request = ProposalRequest.parse({k: v for k, v in fields.items() if v is not None})

    root = (Path(workspace) if workspace else _find_workspace(Path.cwd())).resolve()
    _summary, conn = _run_index(root, quiet=True)
    engine = open_engine(root)
    models = None
    memory = None
    if request.kind in ("implement", "write_test", "fix_test"):
        from hexad.memory import Memory

        route = engine.route(request.kind)
        name = (route.route.model if route is not None else None) or "local"
        configured = {}
        if model_path or model_url:
            configured[name] = ModelSettings(path=model_path, url=model_url, threads=None)
        models = open_model_service(engine, configured)
        memory = Memory(conn, root)
    service = ProposalService(
        root,
        DiskSources(root),
        lambda: IndexReader(conn),
        conn,
        engine,
        models=models,
        memory=memory,
    )
    written: list[str] = []
    try:
        proposal = service.propose(request, run_tests=run_tests)
        if apply_:
            if not proposal.report.passed:
                raise ProposalError("not applied: the proposal failed verification")
            written = service.apply(proposal.id, approved=approve)
    except (EngineError, ProposalError) as exc:
        if as_json:
            _emit_json({"error": str(exc)})
        else:
            err.print(f"[red]hexad:[/] {exc}", highlight=False)
        raise SystemExit(2) from exc
    finally:
        if models is not None:
            for backend in models.backends.values():
                backend.close()
        engine.close()
        conn.close()
    if as_json:
        _emit_json({**proposal.to_json(), "written": written})
    else:
        _print_proposal(proposal.to_json(), written, apply_)
    if not proposal.report.passed:
        raise SystemExit(1)


def _print_proposal(data: dict[str, Any], written: list[str], applied: bool) -> None:
    from rich.syntax import Syntax

    out.print(f"[bold]#{data['id']} {data['task']}[/]  ({data['engine']})", highlight=False)
    if data["diff"]:
        out.print(Syntax(data["diff"], "diff", theme="ansi_dark", background_color="default"))
    table = Table("check", "", "summary", "seconds", box=None, show_header=False)
    marks = {
        "passed": "[green]✓[/]",
        "failed": "[red]✗[/]",
        "skipped": "[dim]–[/]",
        "error": "[red]![/]",
    }
    for check in data["verification"]["checks"]:
        table.add_row(
            check["name"], marks[check["status"]], check["summary"], f"{check['seconds']:.2f}"
        )
        for ev in check["evidence"][:5]:
            where = f"{ev['path']}:{(ev['line'] or 0) + 1}: " if ev.get("path") else ""
            table.add_row("", "", f"[dim]{where}{ev['message']}[/]", "")
    out.print(table)
    for note in data["notes"]:
        out.print(f"[yellow]note:[/] {note}", highlight=False)
    trust = data["trust"]
    out.print(
        f"[bold]confidence {data['confidence']:.2f} → {trust['decision']}[/] "
        f"({trust['model']} model; proceed ≥ {trust['proceedAt']:.2f}, escalate < "
        f"{trust['escalateBelow']:.2f})",
        highlight=False,
    )
    for point in trust["evidence"][:3]:
        sign = "+" if point["weight"] > 0 else "−" if point["weight"] < 0 else " "
        out.print(f"  {sign} {point['text']}", highlight=False)
    policy = data["policy"]
    reasons = "; ".join(r["why"] for r in policy["reasons"])
    out.print(
        f"governance: {policy['effect']}" + (f" — {reasons}" if reasons else ""),
        highlight=False,
    )
    if applied:
        out.print(f"[green]applied:[/] {', '.join(written)}", highlight=False)


@cli.command("plan")
@click.argument("task", required=False)
@click.option(
    "--signature",
    nargs=2,
    metavar="SYMBOL PARAMS",
    default=None,
    help="Change a function's parameters, then its call sites file by file.",
)
@click.option(
    "--add-parameter",
    nargs=3,
    metavar="SYMBOL NAME DEFAULT",
    default=None,
    help="Add NAME=DEFAULT and thread it through the callers.",
)
@click.option(
    "--thread/--no-thread",
    default=True,
    show_default=True,
    help="With --add-parameter: pass the parameter through the callers.",
)
@click.option(
    "--move",
    nargs=2,
    metavar="SYMBOL TARGET",
    default=None,
    help="Move a top-level symbol to the module file TARGET, updating every import.",
)
@click.option(
    "--rename-module",
    nargs=2,
    metavar="PATH NEW_PATH",
    default=None,
    help="Rename (move) a module file, updating every import.",
)
@click.option(
    "--split",
    metavar="PATH",
    default=None,
    help="Split a module; give each part with --into TARGET=NAME,NAME.",
)
@click.option(
    "--into",
    multiple=True,
    metavar="TARGET=NAMES",
    help="With --split: a module file and the names of PATH that go there.",
)
@click.option(
    "--reexport/--no-reexport",
    default=None,
    help="With --move/--split: leave an import behind (default: when the name is public).",
)
@click.option("--dry-run", is_flag=True, help="Plan and validate; run nothing.")
@click.option(
    "--approve", is_flag=True, help="You approve the steps governance wants a person to review."
)
@click.option("--resume", metavar="RUN_ID", default=None, help="Go on with a stored plan run.")
@click.option(
    "--model-path",
    type=click.Path(exists=True, dir_okay=False),
    default=None,
    help="A GGUF file to plan free-form tasks (and write model steps) in process.",
)
@click.option("--model-url", default=None, help="An OpenAI-compatible server (…/v1) instead.")
@workspace_option
@json_option
def plan_command(
    task: str | None,
    signature: tuple[str, str] | None,
    add_parameter: tuple[str, str, str] | None,
    thread: bool,
    move: tuple[str, str] | None,
    rename_module: tuple[str, str] | None,
    split: str | None,
    into: tuple[str, ...],
    reexport: bool | None,
    dry_run: bool,
    approve: bool,
    resume: str | None,
    model_path: str | None,
    model_url: str | None,
    workspace: str | None,
    as_json: bool,
) -> None:
    """Plan a task as validated steps, then run them one by one as verified proposals.

    TASK alone is a free-form request planned by the model governance routes `plan` to;
    with a structural option it is the plan's title.
    """
    from hexad.core.settings import ModelSettings
    from hexad.execution.edits import file_inside, read_inside
    from hexad.execution.models import open_model_service
    from hexad.execution.proposals import ProposalService
    from hexad.execution.sources import DiskSources
    from hexad.governance import open_engine
    from hexad.lsp.plans import ServiceExecutor, make_plan, make_replanner, max_replans
    from hexad.memory import Memory
    from hexad.memory.records import Records
    from hexad.planning.planners import PlanningError
    from hexad.planning.runner import PlanRunner
    from hexad.planning.validate import validate

    intent = (
        None
        if resume
        else _plan_intent(
            task, signature, add_parameter, thread, move, rename_module, split, into, reexport
        )
    )
    root = (Path(workspace) if workspace else _find_workspace(Path.cwd())).resolve()
    _summary, conn = _run_index(root, quiet=True)
    engine = open_engine(root)

    exists = functools.partial(file_inside, root)
    text_of = functools.partial(read_inside, root)

    def reader() -> IndexReader:
        return IndexReader(conn)

    def refresh() -> None:
        Indexer(root, conn=conn).run()

    configured = {}
    if model_path or model_url:
        route = engine.route("plan")
        name = (route.route.model if route is not None else None) or "local"
        configured = {
            n: ModelSettings(path=model_path, url=model_url, threads=None) for n in {name, "local"}
        }
    service = ProposalService(
        root,
        DiskSources(root),
        reader,
        conn,
        engine,
        models=open_model_service(engine, configured) if configured else None,
        memory=Memory(conn, root) if configured else None,
    )
    executor = ServiceExecutor(service, reader, refresh, approve=approve, file_exists=exists)
    runner = PlanRunner(
        Records(conn),
        executor,
        lambda p: validate(p, reader(), engine, file_exists=exists),
        replanner=make_replanner(service, reader, executor, text_of=text_of),
        max_replans=max_replans(engine),
        on_progress=None if as_json else _print_step,
    )
    try:
        if resume:
            run_id = resume
        else:
            assert intent is not None
            try:
                planned = make_plan(intent, service, reader(), file_exists=exists, text_of=text_of)
            except PlanningError as exc:
                raise click.ClickException(str(exc)) from exc
            if planned.plan is None:
                if as_json:
                    _emit_json(
                        {
                            "run": None,
                            "refused": planned.refused,
                            "model": planned.model.to_json() if planned.model else None,
                        }
                    )
                    raise SystemExit(2)
                raise click.ClickException(f"no plan: {planned.refused}")
            plan = planned.plan
            run_id, validation = runner.start(plan)
            if as_json and (dry_run or not validation.ok):
                _emit_json(
                    {"run": run_id, "plan": plan.to_json(), "validation": validation.to_json()}
                )
            elif not as_json:
                click.echo(plan.markdown())
                if planned.model is not None:
                    tries = len(planned.model.attempts)
                    err.print(
                        f"[dim]model plan after {tries} answer(s), "
                        f"{planned.model.tokens} tokens[/]",
                        highlight=False,
                    )
                for issue in validation.errors:
                    err.print(f"[red]invalid:[/] {issue}", highlight=False)
                for note in validation.notes:
                    err.print(f"[yellow]note:[/] {note}", highlight=False)
            if not validation.ok:
                raise SystemExit(2)
            if dry_run:
                if not as_json:
                    err.print(f"[dim]plan run {run_id} stored; run it with --resume {run_id}[/]")
                return
        try:
            done = runner.run(run_id)
        except (KeyError, ValueError) as exc:
            raise click.ClickException(str(exc)) from exc
    finally:
        service.close()
    stored = Records(connect(database_path(root))).plan_run(run_id)
    status = stored["status"] if stored else "?"
    outcome = stored["plan"].get("outcome") if stored else None
    if as_json:
        _emit_json({"run": run_id, "status": status, "outcome": outcome, "plan": done.to_json()})
    else:
        click.echo(done.markdown())
        err.print(
            f"plan run {run_id}: {status}" + (f" — {outcome}" if outcome else ""), highlight=False
        )
    if status != "done":
        raise SystemExit(1)


def _plan_intent(
    task: str | None,
    signature: tuple[str, str] | None,
    add_parameter: tuple[str, str, str] | None,
    thread: bool,
    move: tuple[str, str] | None,
    rename_module: tuple[str, str] | None,
    split: str | None,
    into: tuple[str, ...],
    reexport: bool | None,
) -> Any:
    from hexad.planning.intents import Intent
    from hexad.planning.planners import PlanningError

    given = [o for o in (signature, add_parameter, move, rename_module, split) if o]
    if len(given) > 1:
        raise click.UsageError("give one intent: --signature, --add-parameter, --move, ...")
    if into and not split:
        raise click.UsageError("--into goes with --split")
    data: dict[str, Any]
    if signature:
        data = {"kind": "signature", "symbol": signature[0], "params": signature[1]}
    elif add_parameter:
        symbol, name, default = add_parameter
        data = {
            "kind": "add_parameter",
            "symbol": symbol,
            "name": name,
            "default": default,
            "thread": thread,
        }
    elif move:
        data = {"kind": "move", "symbol": move[0], "target": move[1], "reexport": reexport}
    elif rename_module:
        data = {"kind": "rename_module", "path": rename_module[0], "new_path": rename_module[1]}
    elif split:
        groups: dict[str, list[str]] = {}
        for part in into:
            target, sep, names = part.partition("=")
            if not sep or not target or not names.strip():
                raise click.UsageError(f"--into {part!r}: write TARGET=NAME,NAME")
            groups.setdefault(target, []).extend(n.strip() for n in names.split(",") if n.strip())
        if not groups:
            raise click.UsageError("--split needs at least one --into TARGET=NAMES")
        data = {"kind": "split_module", "path": split, "groups": groups, "reexport": reexport}
    elif task:
        return Intent.parse({"kind": "task", "text": task})
    else:
        raise click.UsageError(
            "give a task, or a structural intent (--signature, --add-parameter, --move, "
            "--rename-module, --split)"
        )
    if task:
        data["title"] = task
    try:
        return Intent.parse({k: v for k, v in data.items() if v is not None})
    except PlanningError as exc:
        raise click.UsageError(str(exc)) from exc


def _print_step(plan: Any, step: Any) -> None:
    marks = {"running": "▶", "done": "[green]✓[/]", "failed": "[red]✗[/]", "skipped": "–"}
    detail = f" — {step.detail}" if step.detail and step.status != "running" else ""
    err.print(
        f"{marks.get(step.status, step.status)} {step.id}/{len(plan.steps)} {step.title}{detail}",
        highlight=False,
    )


@cli.group("trust")
def trust_group() -> None:
    """Calibration of Hexad's confidence on this workspace's outcomes."""


@trust_group.command("report")
@click.option(
    "--svg",
    "svg_path",
    type=click.Path(dir_okay=False),
    default=None,
    help="Where to write the reliability diagram (default .hexad/trust-reliability.svg).",
)
@click.option("--bins", type=click.IntRange(2, 50), default=10, show_default=True)
@workspace_option
@json_option
def trust_report(svg_path: str | None, bins: int, workspace: str | None, as_json: bool) -> None:
    """Reliability table, ECE, Brier and AUROC of the confidence each proposal was shown
    with, against what became of it (applied or accepted vs rejected or reverted)."""
    from hexad.memory.records import Records
    from hexad.trust import Trust
    from hexad.trust.metrics import (
        auroc,
        brier,
        caught_at_review_rate,
        ece,
        reliability,
        reliability_svg,
    )

    root = (Path(workspace) if workspace else _find_workspace(Path.cwd())).resolve()
    conn = connect(database_path(root))
    _tell_recovery(conn)
    try:
        decided = [d for d in Records(conn).outcomes() if d.confidence is not None]
        model = Trust(conn).model
    finally:
        conn.close()
    predicted = [float(d.confidence or 0.0) for d in decided]
    outcomes = [bool(d.outcome) for d in decided]
    table = reliability(predicted, outcomes, bins)
    caught, bad = caught_at_review_rate(predicted, outcomes, 0.2)
    target = Path(svg_path) if svg_path else root / ".hexad" / "trust-reliability.svg"
    if decided:
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(
            reliability_svg(
                predicted, outcomes, bins=bins, title=f"Hexad confidence, {len(decided)} outcomes"
            ),
            encoding="utf-8",
        )
    report = {
        "outcomes": len(decided),
        "kept": sum(outcomes),
        "ece": ece(predicted, outcomes, bins),
        "brier": brier(predicted, outcomes),
        "auroc": auroc(predicted, outcomes),
        "caught_at_20pct_review": [caught, bad],
        "bins": [
            {
                "low": b.low,
                "high": b.high,
                "count": b.count,
                "predicted": b.mean_predicted,
                "observed": b.observed,
            }
            for b in table
        ],
        "model": model.to_json(),
        "diagram": str(target) if decided else None,
    }
    if as_json:
        _emit_json(report)
        return
    if not decided:
        out.print("no proposal has an outcome yet: accept or reject some first")
        return
    grid = Table("confidence", "proposals", "mean predicted", "observed kept")
    for b in table:
        grid.add_row(
            f"{b.low:.1f}–{b.high:.1f}",
            str(b.count),
            f"{b.mean_predicted:.2f}",
            f"{b.observed:.2f}",
        )
    out.print(grid)
    area = report["auroc"]
    out.print(
        f"{len(decided)} outcomes ({sum(outcomes)} kept) · ECE {report['ece']:.3f} · Brier "
        f"{report['brier']:.3f} · AUROC {'n/a' if area is None else f'{area:.3f}'} · bad edits "
        f"caught reviewing the least confident 20%: {caught}/{bad}",
        highlight=False,
    )
    label = (
        "cold start" if model.version == "cold-start" else f"fitted on {model.outcomes} outcomes"
    )
    out.print(f"model in force: {label} · diagram: {target}", highlight=False)


def main() -> None:
    try:
        cli(standalone_mode=True)
    except HexadError as exc:
        err.print(f"[red]hexad:[/] {exc}")
        raise SystemExit(2) from exc


if __name__ == "__main__":
    main()
