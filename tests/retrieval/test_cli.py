"""End to end through the command line, with the real model on the bundled seed page."""

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from retrieval.cli import cli
from retrieval.store.local import open_writer

ROOT = Path(__file__).resolve().parents[2]
SEED = ROOT / "data" / "bulletins" / "000_d59eaba95ec30256.txt"
CORPUS_ISSUE = ROOT / "data" / "bulletins" / "2024-12-29.txt"
# Paragraphs too short to be articles, each taken for one: what an unrecognised layout gives.
BAD_SPLIT = "\n\n".join(f"县里第{i}次会议召开\n\n本报讯 县里今天开会了。" for i in range(30))

pytestmark = pytest.mark.slow


def run(*args: str, input: str | None = None):
    return CliRunner().invoke(cli, [str(a) for a in args], input=input, catch_exceptions=False)


@pytest.fixture(scope="module")
def seeded_ingest(tmp_path_factory, embedder):
    """The ingest of the seed page and one corpus issue into a new index (once per module).

    Returns the folder, the index and the command's result.
    """
    folder = tmp_path_factory.mktemp("bulletins")
    shutil.copy(SEED, folder)
    shutil.copy(CORPUS_ISSUE, folder)
    index = tmp_path_factory.mktemp("index")
    result = run("ingest", folder, "--index", index)
    assert result.exit_code == 0, result.output
    assert "2 added" in result.output
    return folder, index, result


@pytest.fixture(scope="module")
def seeded(seeded_ingest):
    """An index holding the seed page and one corpus issue: its folder and index."""
    folder, index, _ = seeded_ingest
    return folder, index


def test_ask_json_quotes_the_answer_with_its_source(seeded):
    _, index = seeded
    result = run("ask", "白漳河河道城区段全长多少米？", "--json", "--index", index)
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["question"] == "白漳河河道城区段全长多少米？"
    top = data["hits"][0]
    assert "2886米" in top["quote"]
    assert top["quote"] in top["text"]
    assert top["headline"] == "人勤春来早 项目施工忙"
    assert top["issue"] == "000_d59eaba95ec30256"
    assert top["date"] is None
    assert top["source"].endswith("000_d59eaba95ec30256.txt")
    assert [h["rank"] for h in data["hits"]] == list(range(1, len(data["hits"]) + 1))


def test_ask_text_shows_quote_and_source_line(seeded):
    _, index = seeded
    result = run("ask", "精细化工国家重点实验室交城创新中心", "-k", "2", "--index", index)
    assert result.exit_code == 0, result.output
    first = result.output.split("\n\n")[0]
    assert first.startswith("1. 「")
    assert '《召开"精细化工国家重点实验室交城创新中心"创建会》' in first


def test_ask_full_adds_the_whole_passage_and_json_ignores_it(seeded):
    _, index = seeded
    question = "白漳河河道城区段全长多少米？"
    compact = run("ask", question, "-k", "1", "--index", index).output
    full = run("ask", question, "-k", "1", "--full", "--index", index).output
    quote, source = compact.rstrip("\n").split("\n")
    assert quote.startswith("1. 「") and "2886米" in quote and source.startswith("   —— 《")
    # The same two lines, then the passage indented, its quote marked where it stands.
    assert full.startswith(compact.rstrip("\n") + "\n   ")
    passage = full[len(compact) :]
    assert "挖掘机" in passage and quote[len("1. ") :] in passage
    as_json = run("ask", question, "-k", "1", "--json", "--index", index).output
    assert run("ask", question, "-k", "1", "--json", "--full", "--index", index).output == as_json


def test_english_question_finds_the_chinese_article(seeded):
    _, index = seeded
    result = run(
        "ask", "How long is the Baizhang river section in the city?", "--json", "--index", index
    )
    answer = json.loads(result.output)
    # "Baizhang" is in no dictionary: found by the pinyin of the index's words (漳河).
    assert answer["found"]
    assert answer["hits"][0]["headline"] == "人勤春来早 项目施工忙"
    assert "2886米" in answer["hits"][0]["quote"]


@pytest.mark.parametrize("question", ["asdf qwer zxcv", "?!", "xyzzy plugh"])
def test_gibberish_without_chinese_is_not_found(seeded, question):
    result = run("ask", question, "--json", "--index", seeded[1])
    assert result.exit_code == 0
    assert json.loads(result.output)["found"] is False


@pytest.mark.parametrize("question", ["", "   ", "问" * 2000])
def test_bad_questions_get_a_clear_message(seeded, question):
    _, index = seeded
    result = run("ask", question, "--index", index)
    assert result.exit_code == 1
    assert "Error:" in result.output
    assert "Traceback" not in result.output


def test_chat_answers_piped_questions_line_by_line(seeded):
    _, index = seeded
    result = run(
        "chat", "--index", index, input="白漳河一期改造工程治理长度是多少？\n\n电商培训讲师是谁？\n"
    )
    assert result.exit_code == 0, result.output
    assert "1075米" in result.output
    assert "魏春雷" in result.output
    assert result.output.count("问：") == 2
    full = run("chat", "--full", "-k", "1", "--index", index, input="电商培训讲师是谁？\n")
    question, quote, source, passage, *_ = full.output.splitlines()
    assert (question, quote[:4], source[:6]) == ("问：电商培训讲师是谁？", "1. 「", "   —— ")
    assert passage.startswith("   ") and not passage.startswith("   —— ")


def test_list_shows_issues(seeded):
    _, index = seeded
    result = run("list", "--index", index, "--json")
    issues = {i["issue"]: i for i in json.loads(result.output)}
    assert set(issues) == {"000_d59eaba95ec30256", "2024-12-29"}
    assert issues["2024-12-29"]["date"] == "2024-12-29"
    assert issues["000_d59eaba95ec30256"]["articles"] >= 6


def test_reingest_unchanged_change_and_remove(tmp_path, embedder):
    folder = tmp_path / "b"
    folder.mkdir()
    shutil.copy(SEED, folder)
    index = tmp_path / "index"
    assert "1 added" in run("ingest", folder, "--index", index).output
    again = run("ingest", folder, "--index", index, "--json")
    report = json.loads(again.output)
    assert (report["unchanged"], report["added"], report["embedded"]) == (
        ["000_d59eaba95ec30256"],
        [],
        0,
    )

    page = folder / SEED.name
    page.write_text(
        page.read_text(encoding="utf-8")
        + "\n交城县\n\n新增一条消息\n\n本报讯 县里新建了一座图书馆，藏书十万册。（张三）\n",
        encoding="utf-8",
    )
    changed = json.loads(run("ingest", folder, "--index", index, "--json").output)
    assert changed["replaced"] == ["000_d59eaba95ec30256"]
    assert 0 < changed["embedded"] < changed["chunks"]  # only the new text is embedded
    answer = json.loads(run("ask", "图书馆藏书多少册", "--json", "--index", index).output)
    assert "十万册" in answer["hits"][0]["quote"]

    removed = run("remove", "000_d59eaba95ec30256", "--index", index)
    assert removed.exit_code == 0, removed.output
    assert json.loads(run("list", "--index", index, "--json").output) == []
    assert run("remove", "nope", "--index", index).exit_code == 1


def test_bad_files_are_named_and_the_rest_ingested(tmp_path, embedder):
    folder = tmp_path / "b"
    folder.mkdir()
    shutil.copy(SEED, folder)
    (folder / "empty.txt").write_bytes(b"")
    (folder / "binary.txt").write_bytes(bytes(range(256)) * 4)
    (folder / "notes.docx").write_bytes(b"PK\x03\x04")
    index = tmp_path / "index"
    result = run("ingest", folder, folder / "notes.docx", folder / "missing.txt", "--index", index)
    assert result.exit_code == 1
    for name in ("empty.txt", "binary.txt", "notes.docx", "missing.txt"):
        assert name in result.output
    assert "1 added" in result.output
    assert "Traceback" not in result.output
    listed = json.loads(run("list", "--index", index, "--json").output)
    assert [i["issue"] for i in listed] == ["000_d59eaba95ec30256"]


def test_index_built_with_another_model_is_refused(tmp_path, embedder):
    index = tmp_path / "index"
    with open_writer(index, "some-other-model", embedder.dim) as writer:
        writer.remove_issue("x")  # creates the store without publishing
    result = run("ingest", SEED, "--index", index)
    assert result.exit_code == 1
    assert "some-other-model" in result.output


def test_missing_index_is_reported(tmp_path):
    result = run("ask", "问题", "--index", tmp_path / "none")
    assert result.exit_code == 1
    assert "bulletin-qa ingest" in result.output


def test_a_filter_matching_no_issue_says_not_found(seeded):
    _, index = seeded
    result = run("ask", "白漳河多长", "--until", "2020-01-01", "--index", index)
    assert result.exit_code == 0, result.output
    assert result.output.strip() == "没有找到相关内容。"
    chat = run("chat", "--index", index, "--mode", "dense", "--issue", "nope", input="白漳河多长\n")
    assert chat.exit_code == 0, chat.output
    assert "没有找到相关内容。" in chat.output


def test_ingest_says_how_many_articles_each_issue_has(seeded_ingest):
    _, _, result = seeded_ingest
    lines = result.stdout.splitlines()
    assert re.fullmatch(r"000_d59eaba95ec30256: 6 articles, \d+ chunks", lines[0])
    assert re.fullmatch(r"2024-12-29: 4 articles, \d+ chunks", lines[1])
    assert lines[2].startswith("2 added, 0 replaced")
    assert "warning" not in result.stderr


def test_ingest_warns_about_an_issue_split_into_fragments(tmp_path, embedder):
    page = tmp_path / "bad.txt"
    page.write_text(BAD_SPLIT, encoding="utf-8")
    index = tmp_path / "index"
    result = run("ingest", page, "--index", index)
    assert result.exit_code == 0, result.output
    [line] = result.stderr.splitlines()
    assert re.fullmatch(
        rf"warning: {re.escape(str(page))}: (\d+) of \1 articles are under 60 characters: "
        r"the layout may not have been recognised; check with `bulletin-qa show bad`",
        line,
    )

    page.write_text(BAD_SPLIT + "\n\n县里又开会了\n\n本报讯 会议很短。", encoding="utf-8")
    report = json.loads(run("ingest", page, "--index", index, "--json").output)
    assert report["replaced"] == ["bad"] and report["failed"] == []
    [issue] = report["issues"]
    assert issue["issue"] == "bad" and issue["source"] == str(page)
    assert issue["articles"] > 30 and issue["chunks"] >= issue["articles"]
    [warning] = issue["warnings"]
    assert warning.startswith(f"{issue['articles']} of {issue['articles']} articles are under 60")


def test_show_lists_the_articles_of_an_issue(seeded):
    _, index = seeded
    result = run("show", "000_d59eaba95ec30256", "--index", index)
    assert result.exit_code == 0, result.output
    header, table = result.stdout.split("\n\n")
    assert "source: " in header and header.splitlines()[-1].startswith("6 articles, ")
    articles = table.splitlines()
    assert [line.split(".")[0].strip() for line in articles] == ["1", "2", "3", "4", "5", "6"]
    assert "《人勤春来早 项目施工忙》 · 交城县" in articles[3]
    assert "司瑞东" in articles[1]
    assert "（无标题）" in articles[2]


def test_show_json_gives_the_issue_and_its_articles(seeded):
    _, index = seeded
    result = run("show", "2024-12-29", "--json", "--index", index)
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert set(data) == {"issue", "date", "title", "source", "articles"}
    assert (data["issue"], data["date"]) == ("2024-12-29", "2024-12-29")
    assert data["source"].endswith("2024-12-29.txt")
    assert [a["index"] for a in data["articles"]] == [1, 2, 3, 4]
    first = data["articles"][0]
    assert set(first) == {"index", "headline", "section", "author", "page", "chars"}
    assert first["headline"].startswith("炜鑫实业大爱捐赠复康巴士")
    assert first["author"] == "叶泯萱"
    assert all(a["chars"] > 100 for a in data["articles"])


def test_show_an_unknown_issue_or_without_index(seeded, tmp_path):
    result = run("show", "1999-01-01", "--index", seeded[1])
    assert result.exit_code == 1
    assert "'1999-01-01'" in result.output and "bulletin-qa list" in result.output
    missing = run("show", "1999-01-01", "--index", tmp_path / "none")
    assert missing.exit_code == 1
    assert missing.output == run("list", "--index", tmp_path / "none").output


def test_show_does_not_load_the_model(seeded):
    # In a fresh process: this one has torch loaded by the embedder fixture.
    code = (
        "import sys\n"
        "from click.testing import CliRunner\n"
        "from retrieval.cli import cli\n"
        "result = CliRunner().invoke(cli, ['show', '2024-12-29', '--index', sys.argv[1]])\n"
        "assert result.exit_code == 0, result.output\n"
        "assert 'torch' not in sys.modules, 'torch was imported'\n"
    )
    subprocess.run([sys.executable, "-c", code, str(seeded[1])], check=True, cwd=ROOT)


def test_migrate_gives_an_index_that_answers_the_same(seeded, tmp_path):
    _, index = seeded
    copy = tmp_path / "copy"
    result = run("migrate", index, copy, "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert len(report["copied"]) == 2 and report["skipped"] == []
    question = "白漳河河道城区段全长多少米？"
    asked = [json.loads(run("ask", question, "--json", "--index", i).output) for i in (index, copy)]
    assert [h["quote"] for h in asked[0]["hits"]] == [h["quote"] for h in asked[1]["hits"]]
    assert run("check", "--index", copy).exit_code == 0
    again = run("migrate", index, copy)
    assert again.exit_code == 0 and "0 issues copied" in again.output
    same = run("migrate", index, index)
    assert same.exit_code == 1 and "both the source and the destination" in same.output


def test_every_command_works_on_milvus_lite(tmp_path, embedder):
    pytest.importorskip("milvus_lite")
    folder = tmp_path / "bulletins"
    folder.mkdir()
    shutil.copy(SEED, folder)
    index = f"milvus:{tmp_path / 'index.db'}"
    result = run("ingest", folder, "--index", index)
    assert result.exit_code == 0, result.output
    assert "1 added" in result.output
    assert "0 replaced, 1 unchanged" in run("ingest", folder, "--index", index).output
    for mode in ("hybrid", "dense", "lexical"):
        asked = run(
            "ask", "白漳河河道城区段全长多少米？", "--json", "--mode", mode, "--index", index
        )
        assert asked.exit_code == 0, asked.output
        assert "2886米" in json.loads(asked.output)["hits"][0]["quote"]
    listed = run("list", "--json", "--index", index)
    assert [i["issue"] for i in json.loads(listed.output)] == ["000_d59eaba95ec30256"]
    shown = run("show", "000_d59eaba95ec30256", "--index", index)
    assert shown.exit_code == 0 and "人勤春来早" in shown.output
    assert run("check", "--index", index).exit_code == 0
    assert run("rebuild", "--index", index, "-q").exit_code == 0
    assert run("remove", "000_d59eaba95ec30256", "--index", index).exit_code == 0
    assert json.loads(run("list", "--json", "--index", index).output) == []
    bad = run("list", "--index", "milvus:no-suffix")
    assert bad.exit_code == 2 and "milvus:PATH.db" in bad.output
