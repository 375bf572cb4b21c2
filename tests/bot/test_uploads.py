"""Safe names for files sent to the bot, saving without overwriting, and the notice claims."""

from __future__ import annotations

from bot.notices import Subscriptions
from bot.uploads import STEM_BYTES, accepted, safe_name, save


def test_names_from_users_lose_directories_control_characters_and_length():
    assert safe_name("../../x.txt") == "x.txt"
    assert safe_name("..\\..\\evil\\2024-03-01_01.PNG") == "2024-03-01_01.png"
    assert safe_name("a\x00b\x1b\u202ec\n.txt") == "abc.txt"
    assert safe_name(".hidden.txt") == "hidden.txt"  # a hidden file would not be ingested
    long = safe_name("长" * 300 + ".pdf")
    assert long.endswith(".pdf") and len(long.removesuffix(".pdf").encode()) <= STEM_BYTES
    assert safe_name("...") == "upload"


def test_only_issue_files_are_accepted():
    assert accepted("2024-03-01.txt") and accepted("p.TIF") and accepted("x.pdf")
    assert not accepted("setup.exe") and not accepted("README.md") and not accepted(None)


def test_saving_never_overwrites_another_file(tmp_path):
    first = save(tmp_path, "../x.txt", b"one")
    assert first.path == tmp_path / "x.txt" and not first.unchanged
    assert save(tmp_path, "x.txt", b"one").unchanged
    other = save(tmp_path, "x.txt", b"two")
    assert other.path == tmp_path / "x-2.txt" and not other.unchanged
    assert (tmp_path / "x.txt").read_bytes() == b"one"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["x-2.txt", "x.txt"]


def test_each_issue_is_claimed_once_and_the_first_look_claims_silently(tmp_path):
    one, two = Subscriptions(tmp_path / "s.sqlite3"), Subscriptions(tmp_path / "s.sqlite3")
    assert one.claim(["a", "b"]) == []  # already indexed at the first look: not news
    assert one.claim(["a", "b", "c"]) == ["c"]
    assert two.claim(["a", "b", "c"]) == []
    assert one.add(5) and not two.add(5) and two.chats() == [5]
    assert two.remove(5) and one.chats() == []
