"""Answers as text: the source line, quotes first, whole passages on request."""

import dataclasses
import datetime as dt

from retrieval.answer import Answer, Hit, Relevance
from retrieval.render import (
    FOLD,
    NOT_FOUND,
    PLAIN,
    QUOTE,
    UNCERTAIN,
    Run,
    hit_runs,
    passage_runs,
    render,
    render_text,
    source_line,
)
from tests.samples import seed_chunk

BEFORE = "在白漳河河道整治工程项目施工现场，挖掘机开挖、运渣各个环节有条不紊。"
QUOTE_TEXT = "据了解,白漳河河道城区段全长2886米,一期改造工程治理长度1075米。"
AFTER = "目前工程已完成污水管道铺设430米。"
FOUND = Relevance(dense=0.9, coverage=1.0)


def _hit(rank: int = 1, text: str = BEFORE + QUOTE_TEXT + AFTER, **chunk: object) -> Hit:
    return Hit(rank=rank, score=0.9, quote=QUOTE_TEXT, chunk=seed_chunk(text, **chunk))


def test_source_line_names_known_parts_only():
    dated = _hit(author="司瑞东", page=2, date=dt.date(2023, 2, 24))
    # A date names the issue better than its id.
    assert (
        source_line(dated) == "《人勤春来早 项目施工忙》 · 交城县 · 2023年2月24日 · 第2版 · 司瑞东"
    )
    # Without a date, the id is all there is.
    assert source_line(_hit()) == "《人勤春来早 项目施工忙》 · 交城县 · 000_d59eaba95ec30256"
    # A printed issue title (paper and number) comes with the date.
    titled = _hit(
        issue="2024-03-01", issue_title="台南市政府新闻汇编 第61期", date=dt.date(2024, 3, 1)
    )
    assert source_line(titled) == (
        "《人勤春来早 项目施工忙》 · 交城县 · 台南市政府新闻汇编 第61期 · 2024年3月1日"
    )
    assert source_line(_hit(headline="", section=None)).startswith("（无标题） · ")


def test_a_passage_leads_with_its_quote_and_folds_the_rest_with_the_quote_marked():
    hit = _hit()
    assert hit_runs(hit, score=False) == [
        Run("1. "),
        Run(QUOTE_TEXT, (QUOTE,)),
        Run("\n   —— 《人勤春来早 项目施工忙》 · 交城县 · 000_d59eaba95ec30256"),
    ]
    assert passage_runs(hit) == [
        Run(BEFORE, (FOLD,)),
        Run(QUOTE_TEXT, (FOLD, QUOTE)),
        Run(AFTER, (FOLD,)),
    ]
    assert render(passage_runs(hit), PLAIN) == f"{BEFORE}「{QUOTE_TEXT}」{AFTER}"
    assert passage_runs(_hit(text=f" {QUOTE_TEXT}\n")) == []  # all quote: nothing to unfold


def test_the_terminal_is_compact_unless_asked_for_whole_passages():
    hit = _hit(text=f"{BEFORE}\n{QUOTE_TEXT}{AFTER}")
    answer = Answer("白漳河多长", [hit, dataclasses.replace(hit, rank=2)], relevance=FOUND)
    compact = render(hit_runs(hit), PLAIN)
    source = "《人勤春来早 项目施工忙》 · 交城县 · 000_d59eaba95ec30256"
    assert compact == f"1. 「{QUOTE_TEXT}」\n   —— {source}  [0.90]"
    assert render_text(answer).split("\n\n")[0] == compact
    # --full: the whole passage under the source line, indented line by line.
    full = render_text(answer, full=True).split("\n\n")
    assert full[0] == f"{compact}\n   {BEFORE}\n   「{QUOTE_TEXT}」{AFTER}"
    assert full[1].startswith("2. ")


def test_an_uncertain_answer_shows_its_best_passages_under_a_label():
    on_topic = Relevance(dense=0.9, coverage=0.6, has_answer_form=False)
    hits = [_hit(rank=rank) for rank in (1, 2, 3, 4)]
    text = render_text(Answer("白漳河投了多少钱", hits, relevance=on_topic), full=True)
    assert text.startswith(f"{UNCERTAIN}\n\n1. ")
    assert text.count(f"   {BEFORE}「{QUOTE_TEXT}」{AFTER}") == 3  # at most three
    assert "\n\n4. " not in text


def test_not_found_names_the_nearest_headline_only():
    off_topic = Relevance(dense=0.5, coverage=0.0)
    answer = Answer("火星上有没有水", [_hit(), _hit(rank=2)], relevance=off_topic)
    assert render_text(answer) == f"{NOT_FOUND}\n最接近：《人勤春来早 项目施工忙》"
    assert render_text(Answer("火星上有没有水", [])) == NOT_FOUND
