"""Tools that agents' actions call: ``calculate`` for math, ``search`` for multi-hop QA.

``finish`` is not a tool; the engine handles it. Importing this package does not import ``bm25s``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping

from adaswitch.actions import Action, ToolResult
from adaswitch.tools.calculator import CalculatorError, calculate, calculate_value
from adaswitch.tools.search import KnowledgeBase

Tool = Callable[[str], ToolResult]

__all__ = [
    "CalculatorError",
    "KnowledgeBase",
    "Tool",
    "Toolbox",
    "calculate",
    "calculate_value",
    "math_toolbox",
    "qa_toolbox",
]


class Toolbox(Mapping[str, Tool]):
    """Tools by name. :meth:`run` executes an action and never raises."""

    def __init__(self, tools: Mapping[str, Tool]) -> None:
        self._tools = dict(tools)

    def __getitem__(self, name: str) -> Tool:
        return self._tools[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._tools)

    def __len__(self) -> int:
        return len(self._tools)

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(self._tools)

    def _lookup(self, name: str) -> Tool | None:
        if name in self._tools:
            return self._tools[name]
        folded = {key.casefold(): tool for key, tool in self._tools.items()}
        return folded.get(name.strip().casefold())

    def run(self, action: Action) -> ToolResult:
        """Call the tool that ``action`` names; failures come back as ``ok=False`` results."""
        tool = self._lookup(action.tool)
        if tool is None:
            available = ", ".join(self.names) or "none"
            return ToolResult(ok=False, text=f"unknown tool {action.tool!r}; available tools: {available}")
        try:
            result = tool(action.argument)
        except Exception as exc:  # a tool bug becomes an observation, not a crash of the episode
            return ToolResult(ok=False, text=f"{action.tool} failed: {type(exc).__name__}: {exc}")
        if isinstance(result, str):
            return ToolResult(text=result)
        if not isinstance(result, ToolResult):
            return ToolResult(ok=False, text=f"{action.tool} returned {type(result).__name__}, not a result")
        return result


def math_toolbox() -> Toolbox:
    """The tools of math tasks: ``calculate``."""
    return Toolbox({"calculate": calculate})


def qa_toolbox(kb: KnowledgeBase) -> Toolbox:
    """The tools of multi-hop QA over one question's knowledge base: ``search``."""
    return Toolbox({"search": kb.search})
