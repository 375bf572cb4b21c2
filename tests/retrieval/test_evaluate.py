"""The eval set as a regression test, and the question-set format."""

import json
from pathlib import Path
from types import SimpleNamespace

import pytest

from retrieval.evaluate import EvalItem, EvalSetError, evaluate, load_eval_set
from retrieval.ingest import ingest
from retrieval.search import Searcher

ROOT = Path(__file__).resolve().parents[2]
BULLETINS = ROOT / "data" / "bulletins"
QUESTIONS = ROOT / "benchmarks" / "eval" / "questions.jsonl"


def test_question_set_format_errors_name_the_line(tmp_path):
    path = tmp_path / "qa.jsonl"
    path.write_text('{"question": "q", "answer": "a"}\n\nnot json\n', encoding="utf-8")
    with pytest.raises(EvalSetError, match=r"qa.jsonl:3: not JSON"):
        load_eval_set(path)
    path.write_text('{"question": "q"}\n', encoding="utf-8")
    with pytest.raises(EvalSetError, match="needs an answer"):
        load_eval_set(path)


def test_a_right_passage_needs_answer_and_article_but_answer_anywhere_counts_apart():
    item = EvalItem("白漳河多长", answer="2886 米", article="人勤春来早")
    right = SimpleNamespace(text="全长2886米。", headline="人勤春来早 项目施工忙")
    reprint = SimpleNamespace(text="全长2886米。", headline="另一篇")
    assert item.matches(right) and item.holds_answer(right)
    assert not item.matches(reprint) and item.holds_answer(reprint)
    assert not EvalItem("火星上有水吗", unanswerable=True).matches(right)


def test_the_shipped_question_set_loads():
    items = load_eval_set(QUESTIONS)
    assert len(items) >= 150
    assert sum(i.unanswerable for i in items) >= 20
    assert sum(i.extra.get("lang") == "en" for i in items) >= 15


@pytest.mark.slow
def test_retrieval_on_the_sample_bulletins_stays_above_its_floor(tmp_path, embedder):
    """The questions about the bundled bulletins, plus the unanswerable ones.

    Last measured (hybrid): hit@5 1.0, MRR 0.893, the right passage's quote holding the
    answer 0.709, "not found" on 0.125 of the unanswerable and on 0.038 of the answerable
    (wrongly refused; "uncertain" is not a refusal). The floors sit well below.
    """
    shipped = {p.stem for p in BULLETINS.glob("*.txt")}
    items = [
        item
        for item in load_eval_set(QUESTIONS)
        if item.unanswerable or item.extra.get("issue") in shipped
    ]
    index = tmp_path / "index"
    assert ingest([BULLETINS], index, embedder).ok
    report = evaluate(Searcher(index, embedder), items, k=10)
    summary = report.summary()
    assert summary["answerable"] >= 60, json.dumps(summary)
    assert summary["hit@5"] >= 0.9, json.dumps(summary)
    assert summary["mrr@10"] >= 0.7, json.dumps(summary)
    assert summary["quote_right"] >= 0.55, json.dumps(summary)
    assert summary["wrongly_refused"] <= 0.1, json.dumps(summary)
    assert summary["not_found_right"] >= 0.05, json.dumps(summary)
