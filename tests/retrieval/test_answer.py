import numpy as np
import pytest

from retrieval import grounded
from retrieval.answer import (
    Answer,
    Hit,
    QuestionError,
    Relevance,
    could_answer,
    diversify,
    has_answer_form,
    select_quote,
    sentence_similarity,
    unknown_places,
    validate_question,
    with_written_answer,
)
from retrieval.config import MAX_QUESTION_CHARS, LLMSettings
from retrieval.grounded import GroundedAnswer, GroundedResult, Outcome
from retrieval.render import NOT_FOUND, UNCERTAIN, answer_to_json, render_text
from retrieval.search import ScoredChunk
from retrieval.store import ChunkRecord, SentenceVectors
from tests.samples import seed_chunk

CHUNK = (
    "在白漳河河道整治工程项目施工现场，挖掘机长长的铁臂伴随着车辆轰鸣声，开挖、运渣各个环节有条不紊。"
    "据了解,白漳河河道城区段全长2886米,一期改造工程治理长度1075米,主要建设内容包括河道清淤疏浚、"
    "堤岸新建、雨污分流改造等。目前工程已完成东街临时桥到红旗路段河道北侧污水管道铺设430米。"
)


def _record(**overrides) -> ChunkRecord:
    """A chunk of CHUNK's article (its body is all of CHUNK, whatever the chunk's text)."""
    text = overrides.pop("text", CHUNK)
    return seed_chunk(text, **{"body": CHUNK, "end": len(CHUNK), **overrides})


def test_quote_is_the_sentence_with_the_asked_facts():
    quote = select_quote("白漳河河道城区段全长多少米？", CHUNK)
    assert quote.startswith("据了解,白漳河河道城区段全长2886米")
    assert quote in CHUNK


def test_traditional_question_quotes_simplified_text():
    quote = select_quote("白漳河河道城區段全長多少米？", CHUNK)
    assert quote.startswith("据了解,白漳河河道城区段全长2886米")


def test_numbers_in_the_question_weigh_extra():
    quote = select_quote("哪段管道铺设了430米", CHUNK)
    assert "430米" in quote


def test_quote_without_overlap_falls_back_to_the_opening():
    quote = select_quote("completely unrelated", CHUNK)
    assert CHUNK.startswith(quote)


def test_sentence_similarity_decides_when_words_do_not():
    # An English question shares no word with the text: closeness in meaning picks.
    similarity = [0.80, 0.86, 0.81]
    quote = select_quote("How long is the river in town?", CHUNK, similarity=similarity)
    assert quote.startswith("据了解,白漳河河道城区段全长2886米")


def test_translated_terms_count_as_question_words():
    quote = select_quote("How long is the sewage pipe?", CHUNK, terms={"污水管道": 1.0})
    assert "污水管道铺设430米" in quote


def test_sentences_with_the_asked_form_of_answer_are_preferred():
    text = "白漳河整治工程进展顺利，白漳河整治工程项目建设现场一片繁忙。白漳河工程总投资1.2亿元。"
    assert "1.2亿元" in select_quote("白漳河整治工程项目建设花了多少钱？", text)


def test_sentence_similarity_maps_chunk_sentences_onto_merged_passages():
    first, second = CHUNK[:48], CHUNK[48:]
    chunks = [
        _record(chunk_id=1, text=first, start=0, end=48),
        _record(chunk_id=2, text=second, start=48, end=len(CHUNK)),
    ]
    query = np.zeros(4, dtype=np.float32)
    query[0] = 1.0

    def vectors(n: int, value: float) -> np.ndarray:
        rows = np.zeros((n, 4), dtype=np.float16)
        rows[:, 0] = value
        return rows

    stored = {
        1: (chunks[0], SentenceVectors(np.asarray([[0, 48]]), vectors(1, 0.5))),
        2: (chunks[1], SentenceVectors(np.asarray([[0, 64], [64, 96]]), vectors(2, 0.9))),
    }
    merged = _record(chunk_id=1, text=CHUNK, start=0, end=len(CHUNK))
    similarity = sentence_similarity(query, merged, stored)
    assert similarity == pytest.approx([0.5, 0.9, 0.9], abs=1e-3)
    other_article = _record(article_id=99)
    assert sentence_similarity(query, other_article, stored) == [None, None, None]


def test_quote_is_at_most_three_sentences():
    text = "".join(f"白漳河第{i}句。" for i in range(10))
    assert select_quote("白漳河", text).count("。") <= 3


@pytest.mark.parametrize("question", ["", "   ", "\n\t", "\x00\x01"])
def test_empty_questions_are_refused(question):
    with pytest.raises(QuestionError, match="empty"):
        validate_question(question)


def test_overlong_question_is_refused():
    with pytest.raises(QuestionError, match="too long"):
        validate_question("问" * (MAX_QUESTION_CHARS + 1))


def test_question_is_normalised():
    assert validate_question("  白漳河\x07 有多长？\n ") == "白漳河 有多长？"


def test_json_has_exactly_the_documented_fields():
    answer = Answer("问题", [Hit(rank=1, score=0.8, quote="据了解", chunk=_record())])
    data = answer_to_json(answer)
    assert set(data) == {"question", "found", "confidence", "written", "hits"}
    assert data["written"] is None
    [hit] = data["hits"]
    assert set(hit) == {
        "rank",
        "score",
        "quote",
        "text",
        "headline",
        "section",
        "author",
        "issue",
        "date",
        "page",
        "source",
        "chunk_id",
    }
    assert (hit["date"], hit["page"], hit["chunk_id"]) == (None, None, 7)


def test_text_rendering_says_plainly_when_nothing_was_found():
    assert render_text(Answer("问题", [])) == NOT_FOUND


def test_quantity_questions_prefer_sentences_with_numbers():
    quote = select_quote("白漳河整治工程有多长？", CHUNK)
    assert "2886米" in quote


def _scored(chunk_id: int, article_id: int, seq: int, text: str, score: float) -> ScoredChunk:
    body = "".join(f"第{i}句。" for i in range(20))
    return ScoredChunk(
        chunk=_record(
            chunk_id=chunk_id,
            article_id=article_id,
            seq=seq,
            text=text,
            body=body,
            start=seq * 4,
            end=seq * 4 + 8,
        ),
        score=score,
        dense=score,
        lexical=None,
    )


def test_diversify_merges_neighbours_drops_reprints_and_caps_each_article():
    found = [
        _scored(1, article_id=1, seq=3, text="a", score=0.9),
        _scored(2, article_id=1, seq=4, text="b", score=0.8),  # neighbour of 1: merged
        _scored(3, article_id=2, seq=0, text="a", score=0.7),  # reprint of 1's text: dropped
        _scored(4, article_id=1, seq=9, text="c", score=0.6),  # second passage of article 1
        _scored(5, article_id=1, seq=15, text="d", score=0.5),  # third: over the cap
        _scored(6, article_id=3, seq=0, text="e", score=0.4),
    ]
    picked = diversify(found, 5)
    assert [best.chunk.chunk_id for best, _ in picked] == [1, 4, 6]
    merged = picked[0][1]
    assert (merged.start, merged.end) == (12, 24)
    assert merged.text == merged.body[12:24]


@pytest.mark.parametrize(
    ("question", "texts", "expected"),
    [
        ("白漳河整治工程投了多少钱？", ["白漳河河道城区段全长2886米。"], False),
        ("白漳河整治工程投了多少钱？", ["工程总投资1.2亿元。"], True),
        ("报名费多少", ["报名免费。"], True),
        ("培训会是哪天办的？", ["2月24日，交城县举办培训会。"], True),
        ("培训会是哪天办的？", ["交城县举办培训会。"], False),
        ("When was the training held?", ["今(22)日举办"], True),
        ("白漳河有多长", ["没有数字的句子。"], True),  # no particular form asked for
        ("總鋪師一共拿了多少酬勞？", ["總鋪師很辛苦。"], False),  # Traditional asks money too
        ("總鋪師一共拿了多少酬勞？", ["酬劳共计5萬元。"], True),
        ("动物园门票多少钱", ["门票于连假期间优惠全票480、学童票380。"], True),  # no 元
    ],
)
def test_answer_form(question, texts, expected):
    assert has_answer_form(question, texts) is expected


def test_on_topic_passages_without_the_asked_answer_are_shown_as_uncertain():
    weak = Answer(
        "白漳河整治工程投了多少钱？",
        [Hit(rank=i, score=0.5, quote="据了解", chunk=_record()) for i in (1, 2, 3)],
        relevance=Relevance(dense=0.9, coverage=0.6, has_answer_form=False),
    )
    assert not weak.found
    assert weak.confidence == "uncertain"
    text = render_text(weak)
    assert text.startswith(UNCERTAIN)
    assert NOT_FOUND not in text
    assert text.count("据了解") == 3
    data = answer_to_json(weak)
    assert (data["found"], data["confidence"]) == (False, "uncertain")


@pytest.mark.parametrize(
    ("relevance", "expected"),
    [
        (Relevance(dense=0.9, coverage=0.6, has_answer_form=True), "found"),
        # On the topic, but the asked form of answer is missing: shown, labelled.
        (Relevance(dense=0.9, coverage=0.6, has_answer_form=False), "uncertain"),
        (Relevance(dense=0.742, coverage=0.3), "uncertain"),
        (Relevance(dense=0.9, coverage=0.1), "uncertain"),
        # Nothing even on the topic: a word no bulletin has, or far in meaning.
        (Relevance(dense=0.9, coverage=0.0), "not_found"),
        (Relevance(dense=0.6, coverage=0.5), "not_found"),
        (Relevance(dense=None, coverage=None), "found"),  # an English question, lexical only
    ],
)
def test_three_outcomes(relevance: Relevance, expected: str) -> None:
    assert relevance.confidence == expected
    hits = [Hit(rank=1, score=0.5, quote="据了解", chunk=_record())]
    assert Answer("问题", hits, relevance=relevance).confidence == expected
    assert Answer("问题", [], relevance=relevance).confidence == "not_found"


LLM = LLMSettings(url="http://127.0.0.1:9", model="test")


@pytest.mark.parametrize(
    ("result", "confidence", "written"),
    [
        (GroundedResult(Outcome.ANSWERED, GroundedAnswer("全长2886米[1]。", (1,))), "found", True),
        # The model says the passages do not answer, or cites what they do not say.
        (GroundedResult(Outcome.DECLINED), "uncertain", False),
        (GroundedResult(Outcome.REJECTED, reason="2887 not in [1]"), "uncertain", False),
        # A timeout or an error: the quotes alone, as without an LLM.
        (GroundedResult(Outcome.FAILED, reason="timeout"), "found", False),
    ],
)
def test_a_written_answer_is_shown_only_once_checked(monkeypatch, result, confidence, written):
    seen = []

    def write(question, passages, settings):
        seen.append((question, [p.headline for p in passages], settings))
        return result

    monkeypatch.setattr(grounded, "write_answer", write)
    hits = [Hit(rank=i, score=0.8, quote="据了解", chunk=_record()) for i in (1, 2, 3, 4)]
    found = Answer("白漳河多长", hits, relevance=Relevance(dense=0.9, coverage=0.6))
    answer = with_written_answer(found, LLM)
    assert seen == [("白漳河多长", ["人勤春来早 项目施工忙"] * 3, LLM)]  # the best three only
    assert answer.confidence == confidence
    assert (answer.written is not None) is written
    text = render_text(answer)
    assert text.startswith("答：全长2886米[1]。\n\n1. ") is written
    assert answer_to_json(answer)["written"] == (
        {"text": "全长2886米[1]。", "citations": [1]} if written else None
    )


def test_no_llm_is_asked_without_settings_or_when_nothing_is_on_topic(monkeypatch):
    monkeypatch.setattr(grounded, "write_answer", lambda *args: pytest.fail("asked"))
    hits = [Hit(rank=1, score=0.8, quote="据了解", chunk=_record())]
    found = Answer("白漳河多长", hits, relevance=Relevance(dense=0.9, coverage=0.6))
    assert with_written_answer(found, None) is found
    off_topic = Answer("火星", hits, relevance=Relevance(dense=0.5, coverage=0.0))
    assert with_written_answer(off_topic, LLM) is off_topic


def test_a_quantity_question_quotes_the_number_of_the_measure_it_asks_for():
    text = (
        "去年台南参加东京食品展，接获凤梨鲜果订单超过100吨，金额达新台币1亿2千万元以上。"
        "今年台南市参展阵容相当强大，规划共计12格摊位，将展示超过80项产品。"
        "台南市农业局表示，东京食品展是亚洲最大的食品展，今年有来自全球的买家参加。"
    )
    # The quote starts at the sentence with "12格", not at the one with other numbers.
    assert select_quote("今年去东京食品展台南租了几格摊位？", text).startswith("今年台南市参展")


# A passage whose every sentence is on the same topic (the new activity centre): only one
# holds what each question asks. Each is padded past half of MAX_QUOTE_CHARS, so that a
# quote is the one sentence chosen.
_PAD = "，承办单位表示相关信息将陆续公布于官方网站及社群平台" * 3


def _passage(*sentences: str) -> str:
    """The sentences as one passage, each padded past half of MAX_QUOTE_CHARS."""
    return "".join(f"{sentence}{_PAD}。" for sentence in sentences)


CENTRE = _passage(
    "市政府选址溪东里亲子公园新建溪东里活动中心，新建工程今日举行开工仪式",
    "溪东里与溪顶里两里约1万名居民，过去共同利用桥下空间做为溪东里活动中心使用",
    "区公所感谢王健源董事长捐赠设备，期待活动中心落成后带动社区活动",
    "活动中心每张使用券面额50元，由区公所统一发放",
    "新活动中心预定新建二层建筑物，工期为360日历天，预计114年3月底完工",
)


def test_a_time_question_quotes_the_sentence_with_the_date():
    quote = select_quote("溪东里新活动中心哪一年盖好？", CENTRE)
    assert "114年3月底完工" in quote


def test_a_who_question_quotes_the_sentence_with_the_name():
    quote = select_quote("给溪东里活动中心捐设备的董事长叫什么？", CENTRE)
    assert "王健源董事长" in quote


def test_the_words_next_to_the_interrogative_outweigh_the_topic():
    quote = select_quote("溪东里活动中心的使用券面额多少？", CENTRE)
    assert "面额50元" in quote


def test_passages_without_the_asked_form_anywhere_cannot_answer():
    question = "台南400宴一桌要多少钱？"
    banquet = "台南400宴在大台南会展中心举办，四大总铺师掌厨。"
    priced = "每桌售价1万2000元。"
    assert not could_answer(question, [banquet, banquet, banquet], {"台南"})
    # Any of the passages an uncertain answer shows will do, not only the first quote...
    assert could_answer(question, [banquet, banquet, priced], {"台南"})
    # ... but not one the reader would not be shown.
    assert not could_answer(question, [banquet, banquet, banquet, priced], {"台南"})
    # A question asking for no particular form is not judged by it.
    assert could_answer("台南400宴在哪里办？", [banquet], {"台南"})


def test_a_well_known_place_no_bulletin_mentions_cannot_be_answered():
    question = "北京今年春节庙会在哪里办？"
    passage = "今年春节庙会在台南孔庙举办。"
    assert unknown_places(question, {"春节", "庙会"}) == ["北京"]
    assert not could_answer(question, [passage], {"春节", "庙会"})
    assert unknown_places(question, {"北京", "春节", "庙会"}) == []
    assert could_answer(question, [passage], {"北京", "春节", "庙会"})
    # jieba tags some verbs as places ("铺平", rare in its dictionary): not a place.
    assert unknown_places("柳营和后壁那两条路铺平总共多长？", {"柳营"}) == []


def test_who_holds_an_office_is_answered_only_by_passages_naming_it():
    question = "交城县的县长是谁？"
    assert not could_answer(question, ["交城县委常委、统战部部长率先垂范。"], {"交城"})
    assert could_answer(question, ["县长王建国表示，要抓好春耕。"], {"交城"})
    # The office alone decides only for a question asking who.
    assert could_answer("交城县的县长去了哪里？", ["统战部部长率先垂范。"], {"交城"})


def test_passages_that_cannot_answer_are_not_found_with_the_nearest_headline():
    relevance = Relevance(dense=0.95, coverage=0.9, answerable=False)
    assert relevance.confidence == "not_found"
    answer = Answer("台南400宴一桌要多少钱？", [Hit(1, 0.5, "据了解", _record())], relevance)
    assert answer.confidence == "not_found"
    text = render_text(answer)
    assert text.startswith(NOT_FOUND)
    assert "最接近：《" in text
    assert answer_to_json(answer)["confidence"] == "not_found"


def test_a_quote_grows_by_the_next_sentence_when_that_holds_the_asked_number():
    text = (
        "白漳河河道整治工程项目施工现场一片繁忙，河道整治工程正在抓紧推进，"
        "挖掘机和运输车来回穿梭，各个环节有条不紊。"
        "截至目前累计铺设430米。"
        "下一步将继续做好安全生产和文明施工工作，确保如期完工并早日发挥效益。"
    )
    quote = select_quote("白漳河河道整治工程已经完成多少？", text)
    assert "430米" in quote
    assert quote.startswith("白漳河河道整治工程项目施工现场")


def test_a_money_question_naming_what_is_paid_needs_an_amount_next_to_it():
    question = "和顺安居社宅一个月房租多少？"
    budget = "和顺安居社宅总经费12亿元，预计兴建500户。"
    assert not could_answer(question, [budget, budget], {"社宅"})
    assert could_answer(question, [budget, "社宅每月租金8000元起。"], {"社宅"})
    # "的票一张多少钱": 票 names the payment, as 费 in "摊位费" does.
    assert not could_answer("列车剧场的票一张多少钱？", ["剧场总经费50万元。"], {"剧场"})
    assert could_answer("列车剧场的票一张多少钱？", ["全票480元。"], {"剧场"})


# The sentences of a passage on one show: the asked extent or time is in one of them.
SHOW = _passage(
    "夏至艺术节的移动剧场在火车上演出亲子剧，共规划54场演出",
    "演员以小丑演出技巧陪伴观众共度这段60分钟的奇幻旅程",
    "剧中的大型列车布景高达3公尺，由剧团自行打造",
    "首演于今晚8:30在新营站开演，票券已全部售完",
)


@pytest.mark.parametrize(
    ("question", "answer"),
    [
        # An extent asked by its adjective: a number of one of its measures.
        ("火车上演的那出亲子剧有多长？", "60分钟"),
        ("那个列车布景有多高？", "3公尺"),
        # A time printed with a colon.
        ("火车上的亲子剧今晚几点开演？", "8:30"),
    ],
)
def test_an_extent_or_a_time_question_quotes_the_sentence_holding_it(question, answer):
    assert answer in select_quote(question, SHOW)


def test_a_total_question_quotes_the_sentence_giving_the_total():
    text = _passage(
        "重溪桥改建花了中央支持的1.22亿元",
        "旧桥长度不足，全案耗资1.95亿元",
    )
    assert "1.95亿元" in select_quote("重溪桥改建一共花了多少钱？", text)


def test_an_address_number_is_no_date():
    text = _passage(
        "日期：中华民国113年3月11日",
        "永康八德街开路的公听会开在永康区公所（中山南路655号）",
    )
    assert "3月11日" in select_quote("永康八德街开路的公听会哪天开？", text)


def test_a_which_company_question_quotes_the_sentence_naming_one():
    text = _passage(
        "银发人才服务据点3月20日在北区举办餐饮业联合征才活动",
        "本次征才活动邀请：王品餐饮股份有限公司享鸭分公司",
    )
    assert "王品" in select_quote("3月20日北区的银发征才是哪家餐饮集团来招人？", text)


def test_an_english_count_quotes_the_number_of_what_it_counts():
    stadium = _passage("工程总预算25亿元", "主球场由建筑团队设计", "包括25,000席观众席的主球场")
    question = "How many spectator seats will the main baseball stadium have?"
    assert "25,000席" in select_quote(question, stadium)
    lantern = _passage("灯会花了3亿元", "主灯由艺术家设计", "主灯高约600公分")
    assert "600公分" in select_quote("How tall is the lantern?", lantern)


def test_the_headline_words_of_a_question_name_the_topic_not_the_sentence():
    # Every sentence is about the tree the headline names; the lead names it again.
    text = _passage(
        "纽西兰鸡毛松是罗汉松科鸡毛松属的一种，纽西兰的特有种",
        "其叶螺旋状排列，幼树的叶呈尖锥状",
    )
    question = "纽西兰鸡毛松的树叶是什么形状的？"
    assert select_quote(question, text).startswith("纽西兰鸡毛松是")
    assert "尖锥状" in select_quote(question, text, headline="纽西兰鸡毛松")


def test_a_count_needs_a_number_of_its_measure_in_the_passages():
    question = "福尔摩沙游艇酒店总共有几间客房？"
    hotel = "福尔摩沙游艇酒店开幕已逾一年，去年营收达3亿元，住房率七成。"
    assert not could_answer(question, [hotel, hotel], {"酒店"})
    assert could_answer(question, [hotel, "酒店共有130间客房。"], {"酒店"})
    # A measure printed for the one asked counts ("52名役男" for 多少人); "哪几间" asks
    # which ones, not how many.
    assert could_answer("首批入营的有多少人？", ["首梯次配赋52名役男入营。"], {"入营"})
    assert could_answer("拿绩优的是哪几间学校？", ["绩优学校有亿载国小、宝仁国小。"], {"学校"})
    # An extent: 多久 a duration, 多大 an area or an age.
    canoe = "德元埤独木舟体验每人300元，适合亲子同游。"
    assert not could_answer("独木舟一次可以划多久？", [canoe], {"独木舟"})
    assert could_answer("独木舟一次可以划多久？", [canoe + "每趟约40分钟。"], {"独木舟"})
    # A year is a date, not a number of years.
    dated = "德元埤独木舟体验自113年1月起开放，2024年全年无休。"
    assert not could_answer("独木舟一次可以划多久？", [dated], {"独木舟"})
    assert could_answer("重症的是多大的孩子？", ["重症个案为7个月大女婴。"], {"重症"})


def test_a_share_question_quotes_the_sentence_with_the_percentage():
    text = (
        "公寓大厦修缮补助对象为领有使用执照满5年，且成立管委会的公寓大楼，"
        "市府鼓励大楼住户多加利用。补助额度为总维护修缮费用之45%，上限25万元。"
    )
    assert "45%" in select_quote("大楼公共的地方坏了要修，市府能补几成", text)


def test_an_alias_question_quotes_the_sentence_giving_other_names():
    text = (
        "猴面包树是锦葵科猴面包树属的落叶乔木，原产于非洲大陆的热带草原，树干极为粗大。"
        "每年雨季来临时，它会长出茂密的叶子并开出白色的大花。"
        "当地人给它取的别名有酸瓠树、猴树和旅人树等好几个。"
    )
    assert "别名有酸瓠树" in select_quote("猴面包树又称什么？", text)


def test_a_neighbour_scoring_almost_as_well_as_the_best_sentence_is_quoted_too():
    sentences = [
        "这句话跟问题没有共同的字，但意思最接近，长度也超过四十个字符，以免被当作短句处理。",
        "紧接着的这句话同样没有共同的字，意思几乎一样接近，长度也超过四十个字符以免被当作短句。",
        "最后这句话意思很远，长度也超过四十个字符，不应该出现在引文里面才对的。",
    ]
    quote = select_quote("志工服务站在哪？", "".join(sentences), similarity=[1.0, 0.95, 0.0])
    assert quote == sentences[0] + sentences[1]
    quote = select_quote("志工服务站在哪？", "".join(sentences), similarity=[1.0, 0.5, 0.0])
    assert quote == sentences[0]


def test_a_description_question_quotes_more_than_one_short_sentence():
    # An answer to "为什么" or "有什么特点" runs over sentences: under 120 characters,
    # the quote grows by the neighbour closer in meaning (here the one before).
    sentences = [
        "比赛开始前天气还算晴朗，排位赛垫底的其他车手都换上了干胎，只有他一个人坚持使用中性胎上场，"
        "被许多人看作一场不折不扣的赌博，连车队经理也捏了一把汗。",
        "开赛后突然下起大雨，多数赛车不得不进站换胎而落在后面，没有进站的赛车也因速度劣势被超越，"
        "温克霍克因此一度领先，最多时领先了三十多秒。",
        "这场比赛最后由阿隆索夺得冠军，马萨获得亚军，韦伯获得季军，车队积分榜的前三名也因此重新排列。",
    ]
    text = "".join(sentences)
    similarity = [0.9, 1.0, 0.5]
    quote = select_quote("温克霍克为什么一度领先？", text, similarity=similarity)
    assert quote == sentences[0] + sentences[1]
    # A question asking for no description keeps the one sentence holding its words.
    quote = select_quote("温克霍克一度领先了吗？", text, similarity=similarity)
    assert quote == sentences[1]
