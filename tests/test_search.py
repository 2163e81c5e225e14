"""The search tool: BM25 over a question's own paragraphs, and the file formats it loads."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from adaswitch.documents import Document
from adaswitch.tools.search import KnowledgeBase, documents_from_json, documents_from_text

CORPUS = [
    Document(title="Marie Curie", text="Marie Curie was a physicist and chemist born in Warsaw in 1867."),
    Document(title="Pierre Curie", text="Pierre Curie was a French physicist. He was born in Paris in 1859."),
    Document(title="Warsaw", text="Warsaw is the capital and largest city of Poland."),
    Document(title="Paris", text="Paris is the capital of France, on the river Seine."),
]


@pytest.fixture
def kb() -> KnowledgeBase:
    return KnowledgeBase.from_documents(CORPUS)


def lines(text: str) -> list[str]:
    return text.splitlines()


def test_top_k_rendered_one_per_line(kb: KnowledgeBase) -> None:
    result = kb.search("Where was Marie Curie born?")
    assert result.ok
    assert len(lines(result.text)) == 2
    assert lines(result.text)[0] == CORPUS[0].render()
    assert kb.search("Where was Marie Curie born?", k=1).text == CORPUS[0].render()


def test_exact_title_comes_first(kb: KnowledgeBase) -> None:
    # "Paris" also occurs in Pierre Curie's paragraph; the titled paragraph must lead.
    assert lines(kb.search("paris").text)[0] == CORPUS[3].render()
    assert lines(kb.search("  Warsaw ").text)[0] == CORPUS[2].render()


def test_zero_score_documents_are_not_returned(kb: KnowledgeBase) -> None:
    result = kb.search("Seine river", k=4)
    assert lines(result.text) == [CORPUS[3].render()]


def test_no_match(kb: KnowledgeBase) -> None:
    result = kb.search("zebra quantum")
    assert result.ok
    assert "no matching paragraph" in result.text


def test_stopword_only_query_falls_back_to_overlap(kb: KnowledgeBase) -> None:
    result = kb.search("the of and", k=4)
    assert result.ok
    assert lines(result.text)  # "the"/"of"/"and" occur in the capitals' paragraphs
    assert all(line in {doc.render() for doc in CORPUS} for line in lines(result.text))


def test_single_letter_query_does_not_crash(kb: KnowledgeBase) -> None:
    assert kb.search("a").ok


def test_truncation(kb: KnowledgeBase) -> None:
    result = kb.search("Marie Curie", k=1, max_chars_per_doc=20)
    assert len(result.text) <= 20
    assert result.text.endswith("...")


def test_empty_query_and_empty_knowledge_base(kb: KnowledgeBase) -> None:
    assert not kb.search("").ok
    assert not kb.search("   ").ok
    empty = KnowledgeBase.from_documents([])
    result = empty.search("Marie Curie")
    assert not result.ok
    assert "empty" in result.text


def test_tiny_corpus_and_duplicate_titles() -> None:
    single = KnowledgeBase.from_documents([Document(title="Only", text="A single paragraph about owls.")])
    assert single.search("owls").text == "[Only] A single paragraph about owls."
    twins = KnowledgeBase.from_documents(
        [
            Document(title="Mercury", text="Mercury is a planet."),
            Document(title="Mercury", text="Mercury is a chemical element."),
            Document(title="Venus", text="Venus is a planet."),
        ]
    )
    assert lines(twins.search("Mercury", k=3).text)[:2] == [
        "[Mercury] Mercury is a planet.",
        "[Mercury] Mercury is a chemical element.",
    ]


def test_non_ascii_text() -> None:
    kb = KnowledgeBase.from_documents(
        [
            Document(title="Zürich", text="Zürich liegt am Zürichsee in der Schweiz."),
            Document(title="Łódź", text="Łódź is a city in central Poland."),
            Document(title="東京", text="東京は日本の首都です。"),
        ]
    )
    assert lines(kb.search("Zürichsee").text)[0].startswith("[Zürich]")
    assert lines(kb.search("łódź").text)[0].startswith("[Łódź]")
    assert lines(kb.search("東京").text)[0].startswith("[東京]")


def test_mappings_accepted_by_from_documents() -> None:
    kb = KnowledgeBase.from_documents([{"title": "A", "text": "alpha beta"}])
    assert kb.documents == (Document(title="A", text="alpha beta"),)
    assert len(kb) == 1


def test_importing_search_does_not_import_bm25s() -> None:
    code = "import sys, adaswitch.tools.search; assert 'bm25s' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)


def test_search_prints_nothing(kb: KnowledgeBase, capfd: pytest.CaptureFixture[str]) -> None:
    kb.search("Marie Curie")
    out, err = capfd.readouterr()
    assert out == "" and err == ""


# ---------------------------------------------------------------- file formats


def _assert_curies(kb: KnowledgeBase) -> None:
    assert [doc.title for doc in kb.documents] == ["Marie Curie", "Pierre Curie"]
    assert lines(kb.search("born in Warsaw", k=1).text)[0].startswith("[Marie Curie]")


def test_load_list_of_objects(tmp_path: Path) -> None:
    path = tmp_path / "kb.json"
    path.write_text(json.dumps([doc.model_dump() for doc in CORPUS[:2]]), encoding="utf-8")
    _assert_curies(KnowledgeBase.from_file(path))


def test_load_hotpotqa_context(tmp_path: Path) -> None:
    context = [
        ["Marie Curie", ["Marie Curie was a physicist.", " She was born in Warsaw."]],
        ["Pierre Curie", ["Pierre Curie was a French physicist."]],
    ]
    path = tmp_path / "context.json"
    path.write_text(json.dumps(context), encoding="utf-8")
    kb = KnowledgeBase.from_file(path)
    _assert_curies(kb)
    assert kb.documents[0].text == "Marie Curie was a physicist. She was born in Warsaw."


def test_load_title_mapping(tmp_path: Path) -> None:
    path = tmp_path / "facts.json"
    mapping = {"Marie Curie": ["Born in Warsaw.", "A physicist."], "Pierre Curie": "Born in Paris."}
    path.write_text(json.dumps(mapping), encoding="utf-8")
    _assert_curies(KnowledgeBase.from_file(path))


def test_load_plain_text(tmp_path: Path) -> None:
    path = tmp_path / "kb.txt"
    path.write_text(
        "Title: Marie Curie\nMarie Curie was born\nin Warsaw.\n\n"
        "Title: Pierre Curie\nPierre Curie was born in Paris.\n\n\n"
        "An untitled paragraph about owls.\n",
        encoding="utf-8",
    )
    kb = KnowledgeBase.from_file(path)
    assert kb.documents == (
        Document(title="Marie Curie", text="Marie Curie was born in Warsaw."),
        Document(title="Pierre Curie", text="Pierre Curie was born in Paris."),
        Document(title="", text="An untitled paragraph about owls."),
    )
    assert kb.search("owls").text == "An untitled paragraph about owls."


def test_bad_files_raise_value_error(tmp_path: Path) -> None:
    broken = tmp_path / "broken.json"
    broken.write_text("[{", encoding="utf-8")
    with pytest.raises(ValueError):
        KnowledgeBase.from_file(broken)
    with pytest.raises(ValueError):
        documents_from_json(42)
    with pytest.raises(ValueError):
        documents_from_json([{"title": "A", "text": 3}])


def test_text_loader_skips_blank_blocks() -> None:
    assert documents_from_text("\n\n  \n\n") == []
