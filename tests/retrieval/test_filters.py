import datetime as dt

import pytest

from retrieval.filters import Filters, leading_filter, phrase_filter

D = dt.date


@pytest.mark.parametrize(
    ("question", "since", "until", "rest"),
    [
        ("2024-03 灯会", D(2024, 3, 1), D(2024, 3, 31), "灯会"),
        ("2024-02-05 灯会", D(2024, 2, 5), D(2024, 2, 5), "灯会"),
        ("2024-03-01..2024-03-10 灯会", D(2024, 3, 1), D(2024, 3, 10), "灯会"),
        ("2024-02~2024-03 灯会", D(2024, 2, 1), D(2024, 3, 31), "灯会"),
    ],
)
def test_leading_dates_become_filters(question, since, until, rest):
    filters, text = leading_filter(question)
    assert (filters.since, filters.until, text) == (since, until, rest)


def test_no_leading_date_leaves_the_question_alone():
    assert leading_filter("灯会 2024-03") == (Filters(), "灯会 2024-03")


def test_impossible_leading_date_is_an_error():
    with pytest.raises(ValueError):
        leading_filter("2024-13 灯会")


@pytest.mark.parametrize(
    ("question", "years", "expected"),
    [
        ("2024年3月的灯会有多少人", {2024}, (D(2024, 3, 1), D(2024, 3, 31))),
        ("2023年3月份的灯会", {2024}, (D(2023, 3, 1), D(2023, 3, 31))),
        ("3月份的灯会有多少人", {2024}, (D(2024, 3, 1), D(2024, 3, 31))),
        ("2024年的灯会", {2023, 2024}, (D(2024, 1, 1), D(2024, 12, 31))),
        ("lantern festival in 2024", {2024}, (D(2024, 1, 1), D(2024, 12, 31))),
        ("2024年 3月份 灯会", {2024}, (D(2024, 3, 1), D(2024, 3, 31))),
    ],
)
def test_unambiguous_phrases_become_date_filters(question, years, expected):
    filters = phrase_filter(question, years)
    assert (filters.since, filters.until) == expected


@pytest.mark.parametrize(
    ("question", "years"),
    [
        ("3月份的灯会", {2023, 2024}),  # which March?
        ("3月10日收班前能坐到吗", {2024}),  # an event's date, not the issue's
        ("3月份和4月份的活动", {2024}),
        ("2023年和2024年的预算", {2024}),
        ("2024年3月和2024年4月", {2024}),
        ("白漳河有多长", {2024}),
    ],
)
def test_ambiguous_or_absent_phrases_do_not_filter(question, years):
    assert not phrase_filter(question, years)


def test_describe():
    assert (
        Filters(D(2024, 3, 1), D(2024, 3, 31), "x").describe() == "2024-03-01…2024-03-31, issue x"
    )
