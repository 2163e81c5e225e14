"""The ``search`` tool: BM25 over one question's own paragraphs (its knowledge base).

``bm25s`` is imported only when the first search builds the index, so importing this module is cheap.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from adaswitch.actions import ToolResult
from adaswitch.documents import Document

NO_MATCH = "no matching paragraph"
_WORD = re.compile(r"\w+")
_TITLE_LINE = re.compile(r"^\s*title\s*:\s*(.*?)\s*$", re.IGNORECASE)
_BLANK_LINE = re.compile(r"\n\s*\n")


class _Bm25Index:
    """A bm25s retriever over title + text of each document."""

    def __init__(self, documents: list[Document]) -> None:
        import bm25s  # heavy-ish: imported on first use only

        self._bm25s = bm25s
        corpus = [f"{doc.title} {doc.text}" for doc in documents]
        tokens = bm25s.tokenize(corpus, lower=True, stopwords="en", show_progress=False)
        self._retriever = bm25s.BM25()
        self._retriever.index(tokens, show_progress=False)

    def scores(self, query: str) -> list[float] | None:
        """BM25 score of every document, or None when no query word is in the index."""
        tokenized = self._bm25s.tokenize(
            [query], lower=True, stopwords="en", return_ids=False, show_progress=False
        )
        vocabulary = self._retriever.vocab_dict
        known = [token for token in tokenized[0] if token and token in vocabulary]
        if not known:
            return None
        return [float(score) for score in self._retriever.get_scores(known)]


def _words(text: str) -> set[str]:
    return set(_WORD.findall(text.casefold()))


def _overlap_scores(query: str, documents: list[Document]) -> list[float]:
    """Fallback ranking: how many distinct query words each document contains."""
    query_words = _words(query)
    return [float(len(query_words & _words(f"{doc.title} {doc.text}"))) for doc in documents]


def _truncate(text: str, budget: int) -> str:
    text = " ".join(text.split())
    if len(text) <= budget:
        return text
    return text[: max(budget - 3, 0)].rstrip() + "..."


class KnowledgeBase:
    """The paragraphs of one question, searchable with BM25. Build one per question."""

    def __init__(self, documents: Iterable[Document]) -> None:
        self._documents = list(documents)
        self._index: _Bm25Index | None = None

    @classmethod
    def from_documents(cls, documents: Iterable[Document | Mapping[str, Any]]) -> KnowledgeBase:
        """Build from documents (or ``{"title", "text"}`` mappings)."""
        return cls(doc if isinstance(doc, Document) else Document.model_validate(doc) for doc in documents)

    @classmethod
    def from_file(cls, path: str | Path) -> KnowledgeBase:
        """Load a JSON file (see :func:`documents_from_json`) or plain text paragraphs."""
        path = Path(path)
        content = path.read_text(encoding="utf-8")
        if path.suffix.lower() == ".json" or content.lstrip()[:1] in ("[", "{"):
            try:
                data = json.loads(content)
            except json.JSONDecodeError as exc:
                if path.suffix.lower() == ".json":
                    raise ValueError(f"{path}: invalid JSON ({exc})") from None
            else:
                return cls(documents_from_json(data))
        return cls(documents_from_text(content))

    @property
    def documents(self) -> tuple[Document, ...]:
        return tuple(self._documents)

    def __len__(self) -> int:
        return len(self._documents)

    def _scores(self, query: str) -> list[float]:
        if self._index is None:
            self._index = _Bm25Index(self._documents)
        scores = self._index.scores(query)
        return scores if scores is not None else _overlap_scores(query, self._documents)

    def rank(self, query: str) -> list[int]:
        """Indices of matching documents, best first: exact title matches, then by score."""
        wanted = query.strip().casefold()
        titled = [i for i, doc in enumerate(self._documents) if doc.title.strip().casefold() == wanted]
        scores = self._scores(query)
        rest = (i for i, score in enumerate(scores) if score > 0 and i not in set(titled))
        return titled + sorted(rest, key=lambda i: -scores[i])

    def search(self, query: str, k: int = 2, max_chars_per_doc: int = 600) -> ToolResult:
        """The top ``k`` paragraphs for ``query``, one per line, each cut to ``max_chars_per_doc``."""
        if not query or not query.strip():
            return ToolResult(ok=False, text="search error: empty query")
        if not self._documents:
            return ToolResult(ok=False, text="search error: the knowledge base is empty")
        ranked = self.rank(query)[: max(k, 1)]
        if not ranked:
            return ToolResult(text=f"{NO_MATCH} for {query.strip()!r}")
        return ToolResult(
            text="\n".join(_truncate(self._documents[i].render(), max_chars_per_doc) for i in ranked)
        )


# ---------------------------------------------------------------- loaders


def _join(sentences: Any) -> str:
    if isinstance(sentences, str):
        return sentences.strip()
    if isinstance(sentences, list) and all(isinstance(s, str) for s in sentences):
        return " ".join(s.strip() for s in sentences if s.strip())
    raise ValueError(f"expected text or a list of sentences, got {type(sentences).__name__}")


def _document_from_item(item: Any) -> Document:
    if isinstance(item, Mapping) and "text" in item:
        return Document(title=str(item.get("title") or ""), text=_join(item["text"]))
    if isinstance(item, (list, tuple)) and len(item) == 2 and isinstance(item[0], str):
        return Document(title=item[0], text=_join(item[1]))
    if isinstance(item, str):
        return Document(title="", text=item.strip())
    raise ValueError(f"cannot read a paragraph from {str(item)[:80]!r}")


def documents_from_json(data: Any) -> list[Document]:
    """Paragraphs from parsed JSON in one of three layouts.

    A list of ``{"title", "text"}`` objects; HotpotQA's ``[[title, [sentences...]], ...]``; or a
    ``{title: text or [sentences]}`` mapping.
    """
    if isinstance(data, Mapping):
        return [Document(title=str(title), text=_join(text)) for title, text in data.items()]
    if isinstance(data, list):
        return [_document_from_item(item) for item in data]
    raise ValueError(f"expected a JSON list or object, got {type(data).__name__}")


def documents_from_text(content: str) -> list[Document]:
    """Paragraphs separated by blank lines; a first line ``Title: X`` names its paragraph."""
    documents = []
    for block in _BLANK_LINE.split(content.replace("\r\n", "\n")):
        lines = [line.strip() for line in block.strip().splitlines()]
        if not lines:
            continue
        match = _TITLE_LINE.match(lines[0])
        title = match.group(1) if match else ""
        body = " ".join(line for line in (lines[1:] if match else lines) if line)
        documents.append(Document(title=title, text=body))
    return documents
