"""The toolbox: dispatch of an agent's action to a tool, without ever raising."""

from __future__ import annotations

import subprocess
import sys

from adaswitch.actions import Action, ToolResult
from adaswitch.documents import Document
from adaswitch.tools import KnowledgeBase, Toolbox, math_toolbox, qa_toolbox


def test_math_toolbox_runs_calculate() -> None:
    tools = math_toolbox()
    assert tools.names == ("calculate",)
    assert tools.run(Action(tool="calculate", argument="3 * (4 + 5)")) == ToolResult(text="27")
    failed = tools.run(Action(tool="calculate", argument="1/0"))
    assert not failed.ok and "division by zero" in failed.text


def test_tool_names_are_matched_case_insensitively() -> None:
    assert math_toolbox().run(Action(tool="Calculate", argument="2+2")).text == "4"


def test_qa_toolbox_runs_search() -> None:
    kb = KnowledgeBase.from_documents([Document(title="Owl", text="Owls hunt at night.")])
    tools = qa_toolbox(kb)
    assert tools.names == ("search",)
    assert tools.run(Action(tool="search", argument="owls")).text == "[Owl] Owls hunt at night."


def test_unknown_tool_names_the_available_ones() -> None:
    result = math_toolbox().run(Action(tool="search", argument="x"))
    assert not result.ok
    assert "search" in result.text and "calculate" in result.text


def test_finish_is_not_a_tool() -> None:
    assert not math_toolbox().run(Action(tool="finish", argument="42")).ok
    assert "finish" not in math_toolbox()


def test_tool_exceptions_become_failed_results() -> None:
    def broken(argument: str) -> ToolResult:
        raise RuntimeError(f"boom on {argument}")

    result = Toolbox({"broken": broken}).run(Action(tool="broken", argument="x"))
    assert not result.ok
    assert "RuntimeError" in result.text and "boom on x" in result.text


def test_tool_return_values_are_checked() -> None:
    tools = Toolbox({"text": lambda a: a.upper(), "bad": lambda a: 42})  # type: ignore[dict-item]
    assert tools.run(Action(tool="text", argument="hi")) == ToolResult(text="HI")
    assert not tools.run(Action(tool="bad", argument="hi")).ok


def test_toolbox_is_a_mapping() -> None:
    tools = math_toolbox()
    assert list(tools) == ["calculate"]
    assert len(tools) == 1
    assert tools["calculate"]("1+1").text == "2"


def test_importing_tools_stays_light() -> None:
    code = "import sys, adaswitch.tools; assert 'bm25s' not in sys.modules, 'bm25s imported'"
    subprocess.run([sys.executable, "-c", code], check=True)
