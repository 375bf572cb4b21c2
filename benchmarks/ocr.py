"""Measure layout recovery on OCR-like text: articles, headlines, text and retrieval per style.

Usage:
    python benchmarks/ocr.py [--issues 20] [--corpus ../shared/corpus] [--styles a,b]
                             [--retrieval/--no-retrieval] [--real-ocr/--no-real-ocr]
                             [--ocr-issues 3] [--index DIR] [--json out.json]

The corpus parses perfectly because it is clean web text; real bulletins come from OCR,
one printed column line per line, with furniture and debris in between. Each corpus issue
is laid out in every style of :mod:`benchmarks.ocr_styles` (and, when
``benchmarks/ocr_render.py`` and the OCR engine are there, rendered to page images and OCR'd
for real; ``ocr-searchable`` puts those scans in a PDF that ``ocrmypdf -l chi_sim`` made
searchable, as a scanner's or an editor's OCR would), read back with
:func:`retrieval.parse.read_issue`, and compared with the clean
parse of the same issue, which is the manifest's truth:

* article boundaries: precision / recall / F1 of predicted article starts within a few
  characters of a true one, on the issue's text with all whitespace removed (and
  Traditional folded to Simplified), after aligning the recovered text with the true one;
* headlines recovered exactly (their letters and digits: whitespace, punctuation and
  character width ignored, see :func:`headline_key`), and bylines;
* character error rate of the recovered bodies (edit distance / true length), and how
  much text leaked in (furniture, debris) or was lost;
* retrieval: the eval set's questions about the chosen issues, asked of an index of the
  styled issues (hybrid mode), against the same questions on the clean issues. The eval
  items name an article by headline, so a lost headline costs a hit, as it would a reader.

The issues are those the eval set's questions point to, most asked about first, so that
retrieval is measured where there are questions. One index folder serves every style in
turn (issues removed and ingested again), so that text already embedded for an earlier
style or run (``--index``) is not embedded again.
"""

from __future__ import annotations

import argparse
import collections
import datetime as dt
import difflib
import importlib
import inspect
import json
import re
import shutil
import subprocess
import sys
import tempfile
import time
import unicodedata
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from PIL import Image

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # run as a script: `python benchmarks/ocr.py`
    sys.path.insert(0, str(ROOT))

from benchmarks.ocr_styles import (  # noqa: E402
    STYLES,
    ArticleLike,
    Style,
    corpus_file_text,
    corpus_originals,
    from_taiwan,
    layout,
    printed_articles,
)
from retrieval.documents import Article  # noqa: E402
from retrieval.evaluate import EvalItem, Report, evaluate, load_eval_set  # noqa: E402
from retrieval.parse import BadFileError, read_issue, read_issue_files  # noqa: E402
from retrieval.parse.ocr import ocr_available  # noqa: E402
from retrieval.store import ChunkRecord  # noqa: E402
from retrieval.text import to_simplified  # noqa: E402

EVAL_SET = ROOT / "benchmarks" / "eval" / "questions.jsonl"
_SPACE_RE = re.compile(r"\s+")
# Rendered scans in each script, and phone photos of the Simplified pages.
REAL_OCR_STYLES = (
    "ocr-render",
    "ocr-render-hant",
    "ocr-photo",
    "ocr-pictures",
    "ocr-curled",
    "ocr-modules",
    "ocr-spreads",
    "ocr-spread-photos",
    "ocr-searchable",
)
# The styles whose scans come as one PDF an issue, with Tesseract's text layer over them.
_SEARCHABLE = {"ocr-searchable"}
# What each real-OCR style asks of the renderer, beyond the script.
_RENDER_OPTIONS: dict[str, dict[str, object]] = {
    "ocr-photo": {"photo": True},
    "ocr-curled": {"photo": True, "curl": True},
    "ocr-pictures": {"pictures": True},
    "ocr-modules": {"modules": True, "pictures": True},
    "ocr-spreads": {"modules": True, "pictures": True, "spread": True},
    "ocr-spread-photos": {
        "modules": True,
        "pictures": True,
        "spread": True,
        "photo": True,
        "curl": True,
    },
}


# --- text comparison ----------------------------------------------------------------------


def levenshtein(a: str, b: str) -> int:
    """Edit distance (insertions, deletions, substitutions of one character each).

    Bit-parallel (Myers 1999, Hyyrö's global variant) over Python integers: an issue's
    25,000 characters against as many take well under a second, where the textbook
    table would take minutes in Python.
    """
    if len(a) < len(b):
        a, b = b, a
    if not b:
        return len(a)
    peq = _pattern_masks(b)
    mask = (1 << len(b)) - 1
    top = 1 << (len(b) - 1)
    pv, mv, score = mask, 0, len(b)
    for char in a:
        eq = peq.get(char, 0)
        xv = eq | mv
        xh = (((eq & pv) + pv) ^ pv) | eq
        ph = mv | (~(xh | pv) & mask)
        mh = pv & xh
        if ph & top:
            score += 1
        elif mh & top:
            score -= 1
        ph = ((ph << 1) | 1) & mask
        mh = (mh << 1) & mask
        pv = mh | (~(xv | ph) & mask)
        mv = ph & xv
    return score


def lcs_length(a: str, b: str) -> int:
    """Length of the longest common subsequence (bit-parallel, Allison-Dix / Hyyrö)."""
    if not a or not b:
        return 0
    peq = _pattern_masks(b)
    mask = (1 << len(b)) - 1
    v = mask
    for char in a:
        u = v & peq.get(char, 0)
        v = ((v + u) | (v - u)) & mask
    return len(b) - v.bit_count()


def _pattern_masks(pattern: str) -> dict[str, int]:
    masks: dict[str, int] = {}
    for i, char in enumerate(pattern):
        masks[char] = masks.get(char, 0) | (1 << i)
    return masks


def squash(text: str, fold: bool = False) -> str:
    """``text`` without whitespace; with ``fold``, Traditional folded to Simplified."""
    text = _SPACE_RE.sub("", text or "")
    return to_simplified(text) if fold and text else text


def headline_key(text: str, fold: bool = False) -> str:
    """A headline as a reader tells it apart: its letters and digits, in one width.

    Punctuation, symbols and whitespace are left out, and full-width forms made
    half-width (NFKC): OCR reads a "!" set in Chinese type as "！", and drops a middle
    dot ("•", "‧") it takes for a speck; the headline is the same one to a reader.
    """
    text = unicodedata.normalize("NFKC", squash(text, fold))
    return "".join(c for c in text if unicodedata.category(c)[0] not in "PSZ")


class _OffsetMap:
    """Maps offsets of a recovered text onto the true text, through their alignment.

    An offset inside text that has no counterpart (debris, furniture) maps to where the
    alignment resumes: a recovered article that starts with a stray line still starts
    where its true text does.
    """

    def __init__(self, gold: str, predicted: str) -> None:
        matcher = difflib.SequenceMatcher(None, gold, predicted, autojunk=False)
        self.blocks = [b for b in matcher.get_matching_blocks() if b.size]
        self.end = len(gold)

    def __call__(self, offset: int) -> int:
        for block in self.blocks:
            if offset < block.b:
                return block.a
            if offset < block.b + block.size:
                return block.a + offset - block.b
        return self.end


def _match_starts(
    gold: Sequence[int], predicted: Sequence[int], tolerance: int
) -> list[tuple[int, int]]:
    """One-to-one pairs (gold index, predicted index) of starts within ``tolerance``."""
    pairs = sorted(
        (abs(g - p), gi, pi)
        for gi, g in enumerate(gold)
        for pi, p in enumerate(predicted)
        if abs(g - p) <= tolerance
    )
    used_gold: set[int] = set()
    used_pred: set[int] = set()
    matched = []
    for _, gi, pi in pairs:
        if gi not in used_gold and pi not in used_pred:
            used_gold.add(gi)
            used_pred.add(pi)
            matched.append((gi, pi))
    return matched


# --- scores -------------------------------------------------------------------------------


@dataclass
class Scores:
    """Counts summed over issues; the rates are computed from the sums (micro-averages)."""

    issues: int = 0
    gold_articles: int = 0
    found_articles: int = 0
    boundaries_right: int = 0
    headlines_right: int = 0
    bylines_gold: int = 0
    bylines_right: int = 0
    body_chars: int = 0
    body_edits: int = 0
    text_chars: int = 0
    leaked_chars: int = 0
    lost_chars: int = 0
    failed: list[str] = field(default_factory=list)
    seconds: float = 0.0

    def add(self, other: Scores) -> None:
        """Add another issue's counts to these."""
        for name, value in vars(other).items():
            if isinstance(value, int):
                setattr(self, name, getattr(self, name) + value)
        self.failed.extend(other.failed)

    def summary(self) -> dict[str, Any]:
        """The rates, rounded, with the counts they come from."""
        precision = _ratio(self.boundaries_right, self.found_articles)
        recall = _ratio(self.boundaries_right, self.gold_articles)
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        return {
            "issues": self.issues,
            "articles_gold": self.gold_articles,
            "articles_found": self.found_articles,
            "boundary_p": round(precision, 3),
            "boundary_r": round(recall, 3),
            "boundary_f1": round(f1, 3),
            "headline_exact": round(_ratio(self.headlines_right, self.gold_articles), 3),
            "byline_exact": round(_ratio(self.bylines_right, self.bylines_gold), 3)
            if self.bylines_gold
            else None,
            "body_cer": round(_ratio(self.body_edits, self.body_chars), 4),
            "leaked": round(_ratio(self.leaked_chars, self.text_chars), 4),
            "lost": round(_ratio(self.lost_chars, self.text_chars), 4),
            "failed": self.failed,
            "seconds": round(self.seconds, 1),
        }


def _ratio(part: int, whole: int) -> float:
    return part / whole if whole else 0.0


def score_issue(
    gold: Sequence[ArticleLike],
    predicted: Sequence[ArticleLike],
    *,
    fold: bool = False,
    bylines: bool = True,
    tolerance: int = 3,
) -> Scores:
    """Compare the articles recovered from styled text with the true ones.

    Args:
        gold: The articles as printed (their text is the truth).
        predicted: The articles the parser recovered.
        fold: Fold Traditional to Simplified before comparing (Traditional styles).
        bylines: Whether the bylines were printed (and so can be recovered).
        tolerance: How far (in characters of whitespace-free text) a predicted article
            start may be from the true one.
    """
    scores = Scores(issues=1, gold_articles=len(gold), found_articles=len(predicted))
    gold_heads = [headline_key(a.headline, fold) for a in gold]
    pred_heads = [headline_key(a.headline, fold) for a in predicted]
    gold_bodies = [squash(a.body, fold) for a in gold]
    pred_bodies = [squash(a.body, fold) for a in predicted]
    gold_text, gold_starts = _joined(gold_heads, gold_bodies)
    pred_text, pred_starts = _joined(pred_heads, pred_bodies)

    offsets = _OffsetMap(gold_text, pred_text)
    matched = _match_starts(gold_starts, [offsets(p) for p in pred_starts], tolerance)
    scores.boundaries_right = len(matched)

    found = collections.Counter(h for h in pred_heads if h)
    for head in gold_heads:
        if found[head] > 0:
            found[head] -= 1
            scores.headlines_right += 1

    if bylines:
        scores.bylines_gold = sum(bool(a.author) for a in gold)
        scores.bylines_right = sum(
            bool(gold[gi].author)
            and squash(gold[gi].author or "", fold) == squash(predicted[pi].author or "", fold)
            for gi, pi in matched
        )

    gold_body, pred_body = "".join(gold_bodies), "".join(pred_bodies)
    scores.body_chars = len(gold_body)
    scores.body_edits = levenshtein(gold_body, pred_body)
    common = lcs_length(gold_text, pred_text)
    scores.text_chars = len(gold_text)
    scores.leaked_chars = len(pred_text) - common
    scores.lost_chars = len(gold_text) - common
    return scores


def _joined(heads: list[str], bodies: list[str]) -> tuple[str, list[int]]:
    starts, parts, offset = [], [], 0
    for head, body in zip(heads, bodies, strict=True):
        starts.append(offset)
        parts.append(head + body)
        offset += len(head) + len(body)
    return "".join(parts), starts


# --- issues and variants ------------------------------------------------------------------


def choose_issues(corpus: Path, n: int, eval_set: Path = EVAL_SET) -> list[str]:
    """The ``n`` corpus issues to measure: those with most eval questions first.

    Ties go by date; issues without questions follow in date order when ``n`` asks for
    more than the eval set covers.
    """
    counts = collections.Counter(
        row.get("issue") for row in map(json.loads, eval_set.read_text("utf-8").splitlines())
    )
    available = sorted(p.stem for p in (corpus / "issues").glob("*.txt"))
    asked = sorted((i for i in available if counts[i]), key=lambda i: (-counts[i], i))
    rest = [i for i in available if not counts[i]]
    return (asked + rest)[:n]


def check_manifest(corpus: Path, clean: dict[str, list[Article]]) -> None:
    """Check that the clean parse is the manifest's truth: article count and titles.

    Raises:
        SystemExit: They differ (the benchmark would measure against the wrong truth).
    """
    titles: dict[str, list[str]] = collections.defaultdict(list)
    with (corpus / "manifest.jsonl").open(encoding="utf-8") as lines:
        for row in map(json.loads, lines):
            if row["issue"] in clean:
                titles[row["issue"]].append(row["title"])
    for issue, articles in clean.items():
        parsed = [squash(a.headline) for a in articles]
        if parsed != [squash(t) for t in titles[issue]]:
            sys.exit(f"{issue}: the clean parse differs from manifest.jsonl; fix that first")


@dataclass
class Variant:
    """One way of presenting the chosen issues to the parser, and what came of it."""

    name: str
    style: Style | None  # None: the clean corpus files, or real OCR
    issues: list[str]  # the issues it presents in its own form (the rest stay clean)
    fold: bool = False
    bylines: bool = True
    files: dict[str, list[Path]] = field(default_factory=dict)  # issue → files to ingest
    scores: Scores = field(default_factory=Scores)
    retrieval: dict[str, Any] | None = None


def _write_styled(
    variant: Variant,
    clean: dict[str, list[Article]],
    dates: dict[str, dt.date | None],
    corpus: Path,
    folder: Path,
    seed: int,
    tolerance: int,
) -> None:
    """Lay the issues out in the variant's style, parse them back and score them."""
    style = variant.style
    assert style is not None
    folder.mkdir(parents=True, exist_ok=True)
    for number, issue in enumerate(variant.issues):
        originals = corpus_originals(corpus, issue) if style.traditional else None
        if originals is not None and len(originals) != len(clean[issue]):
            originals = None  # not the same articles: convert the Simplified ones instead
        gold = printed_articles(clean[issue], style, originals)
        path = folder / f"{issue}.txt"
        if style.laid_out:
            text = layout(clean[issue], dates[issue], style, seed + number, originals=originals)
        else:
            text = corpus_file_text(corpus, issue, style)
        path.write_text(text, encoding="utf-8")
        variant.files[issue] = [path]
        variant.scores.add(_parse_and_score(variant, issue, [path], gold, tolerance))


def _write_rendered(
    variant: Variant,
    clean: dict[str, list[Article]],
    render: Callable[..., list[Path]],
    folder: Path,
    seed: int,
    tolerance: int,
) -> None:
    """Render the issues to page images (``ocr_render``), read them back, score them.

    The renderer converts to Traditional itself; the truth stays the Simplified text,
    and both sides are folded to Simplified for the comparison.
    """
    parameters = inspect.signature(render).parameters
    for number, issue in enumerate(variant.issues):
        articles = [(a.headline, a.body) for a in clean[issue]]
        gold: list[ArticleLike] = list(clean[issue])
        extra: dict[str, object] = {"issue": issue} if "issue" in parameters else {}
        options = _RENDER_OPTIONS.get(variant.name, {})
        extra.update((key, value) for key, value in options.items() if key in parameters)
        try:
            rendered = render(
                articles, folder / issue, traditional=variant.fold, seed=seed + number, **extra
            )
        except Exception as exc:  # another engineer's module: report, do not crash the run
            variant.scores.add(_failed(issue, f"render_issue: {exc!r}", gold))
            continue
        paths = _as_page_files(issue, [Path(p) for p in rendered], folder / f"{issue}-pages")
        if variant.name in _SEARCHABLE:
            try:
                paths = [_searchable_pdf(issue, paths, folder)]
            except (OSError, subprocess.CalledProcessError) as exc:
                variant.scores.add(_failed(issue, f"ocrmypdf: {exc}", gold))
                continue
        variant.files[issue] = paths
        variant.scores.add(_parse_and_score(variant, issue, paths, gold, tolerance))


def _searchable_pdf(issue: str, pages: list[Path], folder: Path) -> Path:
    """The issue's page images as one PDF, made searchable by ``ocrmypdf``: Tesseract's
    invisible text layer over the scans, as a scanner or an editor's OCR delivers them."""
    scan = folder / "scans" / f"{issue}.pdf"
    scan.parent.mkdir(parents=True, exist_ok=True)
    first, *rest = [Image.open(page).convert("L") for page in pages]
    first.save(scan, "PDF", resolution=300, save_all=True, append_images=rest)
    searchable = folder / f"{issue}.pdf"
    command = ["ocrmypdf", "-q", "-l", "chi_sim", "--output-type", "pdf", scan, searchable]
    subprocess.run(command, check=True)
    return searchable


def _as_page_files(issue: str, paths: list[Path], folder: Path) -> list[Path]:
    """The rendered pages, named as the page files of ``issue`` if they are not already.

    Page files named ``<issue>_NN`` are read as one issue with numbered pages
    (:func:`retrieval.parse.group_issue_files`); a renderer that does not know the
    issue's name gets its files copied under such names, in the order it returned them.
    """
    if all(p.stem.startswith(f"{issue}_") for p in paths):
        return paths
    folder.mkdir(parents=True, exist_ok=True)
    named = []
    for page, path in enumerate(paths, start=1):
        target = folder / f"{issue}_{page:02d}{path.suffix.lower()}"
        shutil.copyfile(path, target)
        named.append(target)
    return named


def _parse_and_score(
    variant: Variant,
    issue: str,
    paths: list[Path],
    gold: Sequence[ArticleLike],
    tolerance: int,
) -> Scores:
    started = time.perf_counter()
    try:
        parsed, skipped = read_issue_files(paths)
    except (BadFileError, ValueError) as exc:
        return _failed(issue, str(exc), gold)
    scores = score_issue(
        gold, parsed.articles, fold=variant.fold, bylines=variant.bylines, tolerance=tolerance
    )
    scores.failed.extend(f"{issue}: {err.path.name} skipped: {err.reason}" for err in skipped)
    scores.seconds = time.perf_counter() - started
    return scores


def _failed(issue: str, reason: str, gold: Sequence[ArticleLike]) -> Scores:
    """An issue that could not be parsed: every article and character counts as lost."""
    scores = score_issue(gold, [], bylines=False)
    scores.failed.append(f"{issue}: {reason}")
    return scores


# --- retrieval ----------------------------------------------------------------------------


class Retrieval:
    """The eval set's questions about the chosen issues, asked of each variant in turn.

    One index folder serves all variants: before a variant is ingested every issue is
    removed, so the index holds exactly that variant's issues; the embedding cache stays,
    so text seen in an earlier variant (or run, with ``--index``) is not embedded again.
    """

    def __init__(self, index_dir: Path, issues: list[str], eval_set: Path = EVAL_SET) -> None:
        from retrieval.embed import load_embedder  # imported here: it loads torch

        self.index_dir = index_dir
        self.issues = issues
        self.items = [
            item
            for item in load_eval_set(eval_set)
            if not item.unanswerable and item.extra.get("issue") in issues
        ]
        started = time.perf_counter()
        self.embedder = load_embedder()
        print(f"model loaded in {time.perf_counter() - started:.1f} s", file=sys.stderr)
        self.searcher: Any = None
        self.clean: Any = None  # the clean variant's Report, for the deltas

    def run(self, variant: Variant, clean_files: dict[str, list[Path]]) -> dict[str, Any]:
        """Index the variant (its issues in its form, the others clean) and ask."""
        from retrieval.ingest import ingest
        from retrieval.search import Searcher

        self._empty_index()
        others = [issue for issue in clean_files if issue not in variant.issues]
        files = [p for issue in others for p in clean_files[issue]]
        files += [p for paths in variant.files.values() for p in paths]
        report = ingest(files, self.index_dir, self.embedder)
        if self.searcher is None:
            self.searcher = Searcher(self.index_dir, self.embedder, mode="hybrid")
        items = [i for i in self.items if i.extra.get("issue") in variant.issues]
        kind = FoldedItem if variant.fold else PrintedItem
        items = [kind(**vars(i)) for i in items]
        result = evaluate(self.searcher, items, k=10, mode="hybrid")
        if variant.style is None and variant.name == "clean":
            self.clean = result
        summary = result.summary()
        out: dict[str, Any] = {
            "questions": summary["answerable"],
            "hit@1": summary["hit@1"],
            "hit@5": summary["hit@5"],
            "answer@5": summary["answer@5"],
            "mrr@10": summary["mrr@10"],
            "chunks": report.chunks,
            "embedded": report.embedded,
            "ingest_s": round(report.seconds, 1),
            "ingest_failed": [f"{Path(p).name}: {why}" for p, why in report.failed],
            "misses": result.misses(),
        }
        if self.clean is not None:  # the clean issues, on the same questions
            asked = {i.question for i in items}
            same = Report("hybrid", [o for o in self.clean.outcomes if o.item.question in asked])
            out["clean_hit@5"] = round(same.hit_at(5), 3)
            out["delta_hit@5"] = round(result.hit_at(5) - same.hit_at(5), 3)
        return out

    def _empty_index(self) -> None:
        from retrieval.store import StoreError, open_store, remove_issues

        store = open_store(self.index_dir)
        try:
            reader = store.reader()
        except StoreError:
            return
        keys = [summary.issue for summary in reader.issues()]
        reader.close()
        if foreign := sorted(set(keys) - set(self.issues)):
            # Not a scratch index of this benchmark: emptying it would destroy real work.
            sys.exit(f"{self.index_dir} holds other issues ({', '.join(foreign[:3])}…): not used")
        if keys:
            remove_issues(store, keys)


class PrintedItem(EvalItem):
    """An eval item matched the way a reader compares what is printed: headlines by their
    letters and digits (see :func:`headline_key`), answers without whitespace and in one
    width (NFKC). The corpus sets brackets in either width at random ("今(1)日",
    "今（1）日" in one issue), and the OCR engine reads most of them half-width, sure of
    it even where the page prints them full-width; "3月11日(星期一)" is the date asked for.
    """

    def printed(self, text: str) -> str:
        """A passage's or headline's text, in the eval set's script and wording."""
        return text

    def matches(self, chunk: ChunkRecord) -> bool:
        """Whether ``chunk`` is a right passage."""
        if self.unanswerable:
            return False
        if self.answer is not None and not self.holds_answer(chunk):
            return False
        return self.article is None or headline_key(self.article) in headline_key(
            self.printed(chunk.headline)
        )

    def holds_answer(self, chunk: ChunkRecord) -> bool:
        """Whether ``chunk`` holds the answer string."""
        if self.answer is None:
            return False
        answer = unicodedata.normalize("NFKC", squash(self.answer))
        return answer in unicodedata.normalize("NFKC", squash(self.printed(chunk.text)))


class FoldedItem(PrintedItem):
    """A :class:`PrintedItem` for Traditional indexes: passages are read as the corpus's
    Simplified was made from its Taiwanese originals (:func:`from_taiwan`). Folded
    character by character (t2s) they keep Taiwan's words (計程車 → 计程车, not the eval
    set's 出租车; 自立生活支援 for 生活自立支持): 7 of the 10 questions Traditional issues
    missed beyond clean's in one run had found the article under such a headline.
    """

    def printed(self, text: str) -> str:
        """``text`` in Simplified, in the mainland's words."""
        return from_taiwan(text)


# --- the run ------------------------------------------------------------------------------


def _real_ocr() -> Callable[..., list[Path]] | None:
    """``render_issue`` of ``benchmarks/ocr_render.py``, if it and the OCR engine are there."""
    if not (ROOT / "benchmarks" / "ocr_render.py").exists() or not ocr_available():
        return None
    try:
        module = importlib.import_module("benchmarks.ocr_render")
    except Exception as exc:  # being written by someone else: say why, run without it
        print(f"benchmarks/ocr_render.py not usable: {exc!r}", file=sys.stderr)
        return None
    return getattr(module, "render_issue", None)


def _table(variants: list[Variant], retrieval: bool) -> str:
    head = [
        "style",
        "articles gold/found",
        "boundary P",
        "R",
        "F1",
        "headline exact",
        "byline",
        "body CER",
        "leaked",
        "lost",
    ]
    if retrieval:
        head += ["hit@1", "hit@5", "answer@5", "Δhit@5"]
    rows = ["| " + " | ".join(head) + " |", "|" + " --- |" * len(head)]
    for v in variants:
        s = v.scores.summary()
        cells = [
            v.name,
            f"{s['articles_gold']}/{s['articles_found']}",
            f"{s['boundary_p']:.3f}",
            f"{s['boundary_r']:.3f}",
            f"{s['boundary_f1']:.3f}",
            f"{s['headline_exact']:.3f}",
            "-" if s["byline_exact"] is None else f"{s['byline_exact']:.3f}",
            f"{s['body_cer']:.2%}",
            f"{s['leaked']:.2%}",
            f"{s['lost']:.2%}",
        ]
        if retrieval:
            r = v.retrieval or {}
            delta = r.get("delta_hit@5")
            cells += [
                _cell(r.get("hit@1")),
                _cell(r.get("hit@5")),
                _cell(r.get("answer@5")),
                "" if delta is None or v.name == "clean" else f"{delta:+.3f}",
            ]
        rows.append("| " + " | ".join(cells) + " |")
    return "\n".join(rows)


def _cell(value: float | None) -> str:
    return "" if value is None else f"{value:.3f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--issues", type=int, default=20, help="corpus issues to measure")
    parser.add_argument("--corpus", type=Path, default=ROOT.parent / "shared" / "corpus")
    parser.add_argument("--styles", help="comma-separated styles (default: all)")
    parser.add_argument(
        "--retrieval", action=argparse.BooleanOptionalAction, default=True, help="ask the eval set"
    )
    parser.add_argument(
        "--real-ocr",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="render and OCR pages (default: when benchmarks/ocr_render.py and the engine exist)",
    )
    parser.add_argument("--ocr-issues", type=int, default=3, help="issues for real OCR")
    parser.add_argument("--tolerance", type=int, default=3, help="boundary tolerance (chars)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--index",
        type=Path,
        help="scratch index folder kept between runs, so that unchanged text is not embedded "
        "again (default: a temporary one); it must hold nothing but this benchmark's issues",
    )
    parser.add_argument("--keep", type=Path, help="also write the styled files into this folder")
    parser.add_argument("--json", type=Path, help="write the results as JSON here")
    args = parser.parse_args()

    names = args.styles.split(",") if args.styles else [*STYLES, *REAL_OCR_STYLES]
    unknown = [n for n in names if n not in STYLES and n not in REAL_OCR_STYLES]
    if unknown:
        sys.exit(f"unknown styles: {', '.join(unknown)} (known: {', '.join(STYLES)}, ocr-render…)")
    render = _real_ocr() if args.real_ocr is not False else None
    if args.real_ocr and render is None:
        sys.exit("--real-ocr: needs benchmarks/ocr_render.py with render_issue, and rapidocr")
    if render is None:
        names = [n for n in names if n not in REAL_OCR_STYLES]
    if _SEARCHABLE & set(names) and shutil.which("ocrmypdf") is None:
        print(f"ocrmypdf not installed: {', '.join(_SEARCHABLE & set(names))} left out")
        names = [n for n in names if n not in _SEARCHABLE]
    via_pdftotext = [n for n in names if n in STYLES and STYLES[n].pdftotext]
    if via_pdftotext and shutil.which("pdftotext") is None:
        print(f"pdftotext (poppler-utils) not installed: {', '.join(via_pdftotext)} left out")
        names = [n for n in names if n not in via_pdftotext]

    issues = choose_issues(args.corpus, args.issues)
    if not issues:
        sys.exit(f"no issues under {args.corpus / 'issues'}")
    clean_issues = {i: read_issue(args.corpus / "issues" / f"{i}.txt") for i in issues}
    clean = {i: issue.articles for i, issue in clean_issues.items()}
    dates = {i: issue.date for i, issue in clean_issues.items()}
    check_manifest(args.corpus, clean)
    clean_files = {i: [args.corpus / "issues" / f"{i}.txt"] for i in issues}

    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="ocr-bench-") as tmp:
        work = args.keep or Path(tmp)
        variants = [Variant("clean", None, issues, files=dict(clean_files))]
        for issue in issues:  # the clean parse against itself: the sanity row
            variants[0].scores.add(score_issue(clean[issue], clean[issue]))
        for name in names:
            t0 = time.perf_counter()
            if name in REAL_OCR_STYLES:
                variant = Variant(name, None, issues[: args.ocr_issues], fold=name.endswith("hant"))
                variant.bylines = False  # the renderer prints headline and body only
                assert render is not None
                _write_rendered(variant, clean, render, work / name, args.seed, args.tolerance)
            else:
                style = STYLES[name]
                variant = Variant(name, style, issues, fold=style.traditional, bylines=style.byline)
                _write_styled(
                    variant, clean, dates, args.corpus, work / name, args.seed, args.tolerance
                )
            variant.scores.seconds = time.perf_counter() - t0
            variants.append(variant)
            print(f"{name}: laid out and parsed in {variant.scores.seconds:.1f} s", file=sys.stderr)

        if args.retrieval:
            retrieval = Retrieval(args.index or Path(tmp) / "index", issues)
            for variant in variants:
                t0 = time.perf_counter()
                variant.retrieval = retrieval.run(variant, clean_files)
                print(
                    f"{variant.name}: retrieval {time.perf_counter() - t0:.1f} s "
                    f"({variant.retrieval['embedded']} chunks embedded)",
                    file=sys.stderr,
                )

    print(f"{len(issues)} issues ({issues[0]} …), styles: {', '.join(names)}")
    if args.retrieval:
        print(f"{len(retrieval.items)} eval questions about them, hybrid retrieval")
    print(_table(variants, args.retrieval))
    for variant in variants:
        for failure in variant.scores.failed:  # one line each: a page list can be long
            print(f"  {variant.name}: {failure if len(failure) < 160 else failure[:157] + '…'}")
    total = time.perf_counter() - started
    print(f"total {total:.0f} s")
    if args.json:
        results = {
            "issues": issues,
            "seconds": round(total, 1),
            "variants": {
                v.name: {
                    "style": vars(v.style) if v.style else None,
                    "issues": len(v.issues),
                    **v.scores.summary(),
                    "retrieval": v.retrieval,
                }
                for v in variants
            },
        }
        args.json.write_text(json.dumps(results, ensure_ascii=False, indent=1), encoding="utf-8")


if __name__ == "__main__":
    main()
