"""Course material from the CLI: ingest, search, eval, courses, templates, gaps, the model."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from bot.cli.common import (
    DEFAULT_EVAL_FILE,
    CourseOption,
    app,
    cli_address,
    err,
    get_container,
    model_app,
    out,
    print_json,
    progress_bar,
    ready_course,
)
from bot.config import Settings
from bot.core.errors import InputError
from bot.core.text import clean_query


@app.command()
def ingest(
    paths: Annotated[
        list[Path] | None, typer.Argument(help="Files or folders (default: every bundled course).")
    ] = None,
    course: Annotated[str | None, typer.Option(help="Course to ingest into.")] = None,
) -> None:
    """Add or update course material (.md .txt .html .pdf .docx .pptx); only changes re-embed."""
    container = get_container()
    if paths:
        # A course folder named on its own ingests into the course of that name.
        name = course or (paths[0].name if len(paths) == 1 and paths[0].is_dir() else None)
        jobs = [(paths, name or container.settings.default_course)]
    elif course:
        jobs = [([container.settings.knowledge_dir / course], course)]
    else:
        jobs = [([container.settings.knowledge_dir / c], c) for c in container.catalog.bundled()]
        if not jobs:
            raise InputError(f"no course folders in {container.settings.knowledge_dir}")
    skipped = 0
    for job_paths, job_course in jobs:
        from bot.retrieval.index import validate_course

        validate_course(job_course)
        with progress_bar(f"Embedding {job_course}") as progress:
            report = container.ingestor.ingest(list(job_paths), job_course, progress)
        for file, reason in report.skipped:
            err.print(f"skipped {escape(file)}: {escape(reason)}")
        skipped += len(report.skipped)
        out.print(escape(report.summary()))
        # A whole course folder carries its quiz bank: validate and sync it too.
        course_folder = (container.settings.knowledge_dir / job_course).resolve()
        if [Path(p).resolve() for p in job_paths] == [course_folder]:
            quiz_report = container.catalog.sync_quizzes(job_course)
            if quiz_report:
                out.print(escape(quiz_report.summary(job_course)))
    if skipped:
        raise InputError(f"{skipped} file(s) could not be read and were skipped")


@app.command()
def search(
    query: Annotated[str, typer.Argument(help="What to look for.")],
    k: Annotated[int, typer.Option(min=1, max=50, help="How many passages.")] = 5,
    course: Annotated[str | None, typer.Option(help="Course to search.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Find the course passages that answer QUERY (hybrid dense + BM25 search)."""
    container = get_container()
    text = clean_query(query, container.settings.retrieval.max_query_chars)
    name = ready_course(course)
    result = container.searcher.search(text, name, k=k)
    if as_json:
        print_json([p.to_source() for p in result.passages] if result.in_scope else [])
        return
    if not result.in_scope:
        nearest = ", ".join(dict.fromkeys(p.chunk.title for p in result.passages[:3]))
        out.print(
            f"Nothing in {name} covers that closely. Nearest topics: {escape(nearest) or 'none'}."
        )
        return
    for rank, passage in enumerate(result.passages, 1):
        snippet = " ".join(passage.chunk.text.split())
        snippet = snippet[:280] + ("..." if len(snippet) > 280 else "")
        out.print(
            f"[bold]{rank}. {escape(passage.chunk.section)}[/bold]  "
            f"[dim]{escape(passage.chunk.location)} · score {passage.score:.2f}[/dim]"
        )
        out.print(f"   {escape(snippet)}\n")


def _eval_templates(file: Path | None, course: str | None, as_json: bool) -> None:
    from bot.templates_eval import TEMPLATE_EVAL_DIR, evaluate_files, load_cases, render

    files = [file] if file else sorted(TEMPLATE_EVAL_DIR.glob("*.jsonl"))
    if missing := [f for f in files if not f.is_file()]:
        raise InputError(f"no such eval file: {missing[0]}")
    try:
        cases = {f: load_cases(f) for f in files}
    except ValueError as exc:
        raise InputError(str(exc)) from exc
    reports = evaluate_files(get_container().assistant, cases, ready_course(course))
    if as_json:
        print_json([r.to_dict() for r in reports])
    else:
        out.print(render(reports))


def _eval_answers(file: Path, course: str | None, as_json: bool) -> None:
    from bot.answers_eval import evaluate_answers, render

    if not file.is_file():
        raise InputError(f"no such eval file: {file}")
    report = evaluate_answers(get_container().assistant, file, ready_course(course))
    if as_json:
        print_json([report.to_dict()])
    else:
        out.print(render([report]))
        for failure in report.failures:
            out.print(f"[bold]{failure['question']}[/]: {', '.join(failure['failed'])}")


@app.command("eval")
def evaluate(
    file: Annotated[Path, typer.Argument(help="JSONL eval set.")] = DEFAULT_EVAL_FILE,
    course: Annotated[str | None, typer.Option(help="Course to evaluate.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
    templates: Annotated[
        bool, typer.Option("--templates", help="Measure template intent and slots instead.")
    ] = False,
    answers: Annotated[
        bool, typer.Option("--answers", help="Check every composed answer reads as a whole.")
    ] = False,
) -> None:
    """Measure retrieval (recall@1/3/5, MRR per mode), understanding, or composed answers."""
    from bot.retrieval.evaluation import KS, evaluate, load_questions

    if templates:
        _eval_templates(None if file == DEFAULT_EVAL_FILE else file, course, as_json)
        return
    if answers:
        _eval_answers(file, course, as_json)
        return
    container = get_container()
    questions = load_questions(file)
    name = ready_course(course)
    retrieval = container.settings.retrieval
    report = evaluate(
        container.searcher, questions, name, retrieval.min_similarity, retrieval.min_coverage
    )
    if as_json:
        print_json(report.to_dict())
        return
    table = Table(title=f"Retrieval on {file.name} ({report.overall['hybrid'].questions} in scope)")
    table.add_column("mode")
    for k in KS:
        table.add_column(f"recall@{k}", justify="right")
    table.add_column("MRR", justify="right")
    for mode, scores in report.overall.items():
        table.add_row(mode, *(f"{scores.recall(k):.3f}" for k in KS), f"{scores.mrr:.3f}")
    out.print(table)
    per_concept = Table(title="recall@5 per concept")
    per_concept.add_column("concept")
    per_concept.add_column("n", justify="right")
    for mode in report.overall:
        per_concept.add_column(mode, justify="right")
    for concept, group in sorted(report.by_concept.items()):
        per_concept.add_row(
            concept,
            str(group["hybrid"].questions),
            *(f"{group[m].recall(5):.3f}" for m in report.overall),
        )
    out.print(per_concept)
    out.print(
        f"Abstention when similarity < {report.threshold:.2f} and lexical coverage < "
        f"{report.coverage:.2f}: {report.off_topic_abstained}/{report.off_topic} off-topic "
        f"abstained, {len(report.in_scope_abstained)} in-scope wrongly abstained "
        "(best pair on this set: similarity {:.3f}, coverage {:.3f})".format(
            *report.best_thresholds()
        )
    )
    for question in report.in_scope_abstained:
        out.print(f"  wrongly abstained: {escape(question)}")


@app.command()
def templates(
    example: Annotated[
        str | None,
        typer.Option(help="Show this template filled in for a sample app (a worked example)."),
    ] = None,
    course: CourseOption = None,
) -> None:
    """List the prompt templates and their slots, or show one's worked example."""
    container = get_container()
    if example:
        from rich.markdown import Markdown

        name = ready_course(course)
        out.print(Markdown(container.worked_examples.show(name, example)))
        return
    for template in container.prompts.user_templates():
        out.print(f"[bold]{template.id}[/bold] ({template.concept}): {escape(template.title)}")
        out.print(f"  {escape(template.description)}")
        for slot in template.slots:
            required = "" if slot.required else ", optional"
            out.print(f"  - {slot.name} ({slot.type}{required}): {escape(slot.description)}")


@app.command()
def gaps(
    tenant: Annotated[
        str, typer.Option(help="Workspace or server, e.g. slack:T123.")
    ] = "cli:local",
    limit: Annotated[int, typer.Option(min=1, max=500)] = 50,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Questions the course could not answer, newest first, with how often they were asked."""
    import datetime

    found = get_container().assistant.gaps(cli_address(tenant), limit)
    if as_json:
        print_json(
            [{"question": g.question, "count": g.count, "last_asked": g.last_asked} for g in found]
        )
        return
    if not found:
        out.print("No content gaps recorded.")
    for gap in found:
        when = datetime.datetime.fromtimestamp(gap.last_asked).strftime("%Y-%m-%d %H:%M")
        out.print(f"{gap.count:>4}x  {when}  {escape(gap.question)}")


@app.command()
def courses() -> None:
    """List the courses and how many chunks each has indexed."""
    container = get_container()
    for name in container.catalog.known():
        marker = " (default)" if name == container.settings.default_course else ""
        out.print(f"{name}{marker}: {container.index.count(name)} chunks indexed")


@model_app.command("export")
def model_export(
    force: Annotated[bool, typer.Option(help="Export again even if present.")] = False,
) -> None:
    """Export all-MiniLM-L6-v2 to ONNX in the data dir (needs torch; done once)."""
    from bot.retrieval.embedding import onnx_model_path
    from bot.retrieval.model_export import export_onnx

    settings = Settings()
    path = onnx_model_path(settings.models_dir, export_if_missing=False)
    if force or not path.exists():
        export_onnx(path)
    out.print(f"{path} ({path.stat().st_size / 1e6:.0f} MB)")
