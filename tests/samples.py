"""Sample data for the tests: the bulletins shipped with the project and the shared corpus.

The sample bulletins ship with the project (data/bulletins), so tests on them always
run. The development corpus is read from the shared folder ($BULLETIN_QA_SHARED,
default ../shared next to the repository); tests on it skip when it is absent.
"""

import os
import re
from pathlib import Path

from retrieval.store import ChunkRecord

ROOT = Path(__file__).resolve().parents[1]
BULLETINS = ROOT / "data" / "bulletins"
SEED = BULLETINS / "000_d59eaba95ec30256.txt"
FIXTURES = ROOT / "tests" / "fixtures"
SHARED = Path(os.environ.get("BULLETIN_QA_SHARED", ROOT.parent / "shared"))
CORPUS = SHARED / "corpus"

HAN = re.compile(r"[\u4e00-\u9fff]")


def seed_text() -> str:
    """The seed page as the user gave it."""
    return SEED.read_text(encoding="utf-8")


def hanzi(text: str) -> str:
    """Only the Chinese characters of ``text``: what no clean-up may lose."""
    return "".join(HAN.findall(text))


# What the seed page holds: its articles as (section, headline, author), and the layout
# debris between two columns of its signing article.
SEED_EXPECTED = [
    ("交城经济开发区", '召开"精细化工国家重点实验室交城创新中心"创建会', None),
    (
        "全力以赴抓经济 踔厉奋发开新局",
        "交城县与山西经济管理干部学院 山西经贸职业学院)举行战略合作签约",
        "司瑞东",
    ),
    (None, "", None),
    ("交城县", "人勤春来早 项目施工忙", None),
    ("交城县", "举办电子商务进农村党政干部培训会", "范英哲"),
    (
        "交城县",
        '开展"百年奋斗共青春 凝心聚力谱华章——争当红领巾讲解员 争做新时代好队员"竞演讲述活动',
        "梁赟",
    ),
]
SEED_DEBRIS = ("县", "202", "2", "年", "综", "武亚西")


def debris_free_hanzi(text: str) -> str:
    kept = (line for line in text.split("\n") if line.strip() not in SEED_DEBRIS)
    return hanzi("\n".join(kept))


# A structured issue in Traditional script, as the press releases are printed.
MINI_ISSUE = """臺南市政府新聞彙編
2024年1月9日 星期二　第9期　本期2篇
資料來源：臺南市政府全球資訊網「市政新聞」

========================
迎台南400  黃偉哲出席元旦升旗

發稿單位: 新聞及國際關係處發稿時間: 113年1月9日 08:45發稿人: 邱姿穎

迎接新年到來，台南市政府今（9）日舉行升旗典禮。

黃偉哲表示，新的一年市府將繼續努力。
典禮由國小舞龍隊揭開序幕。

（新聞及國際關係處新聞傳播科）

========================
南市推動資源回收 去年回收率創新高

發稿單位：環境保護局發稿日期：113年1月9日環保局今（9）日公布統計，去年資源回收率達六成，創歷年新高。

環保局表示，將持續推動垃圾減量。

承辦單位：一般廢棄物管理科
承辦科長：鄭華安 電話：06-2686751#1600

（臺南市政府環境保護局）
"""


def seed_chunk(text: str, **fields: object) -> ChunkRecord:
    """A stored chunk of the seed page's river-works article holding ``text`` whole (its
    own body), for tests of answers and their rendering; ``fields`` override any field."""
    return ChunkRecord(
        **{
            "chunk_id": 7,
            "text": text,
            "seq": 0,
            "start": 0,
            "end": len(text),
            "article_id": 3,
            "headline": "人勤春来早 项目施工忙",
            "section": "交城县",
            "author": None,
            "page": None,
            "body": text,
            "issue": "000_d59eaba95ec30256",
            "issue_title": None,
            "date": None,
            "source": "data/bulletins/000_d59eaba95ec30256.txt",
            **fields,
        }
    )
