"""Run the Python that a paragraph step writes, so that its output is real rather than invented.

Both embedded models are coder models: in the paragraph format they often solve a question by
writing a ```python block and then, unasked, a ```output block with a number they made up. With
``EngineSettings.run_code`` the engine stops a step where its output block would begin, runs the
program here and writes the real output in its place (:func:`program_before_output`,
:func:`run_program`).

The program never runs in this process. A child Python (``python -m adaswitch.tools.python_runner``)
reads the blocks as JSON on its standard input and interprets them with asteval, a restricted
interpreter of Python statements built on :mod:`ast` (no attribute access to dunder names, no file
or process access; math functions built in; only the arithmetic modules of the standard library in
:data:`IMPORTABLE` can be imported), under limits on CPU time and memory
and a wall-clock timeout. Every complete python block of the trajectory so far runs, in order, as
cells of one notebook; the output shown is the last block's: what it printed, else the value of
its last expression, else the error it raised (``NameError: ...``).
"""

from __future__ import annotations

import ast
import importlib
import io
import json
import re
import subprocess
import sys
from types import ModuleType, SimpleNamespace
from typing import TYPE_CHECKING

from adaswitch.actions import ToolResult

if TYPE_CHECKING:
    from asteval import Interpreter

OUTPUT_FENCE = "```output"
"""Where a model begins the output of the code it wrote; generation stops there when code runs."""
_PYTHON_BLOCK = re.compile(r"```(?:python|py)[ \t]*\n(.*?)\n?```", re.DOTALL)
TIMEOUT_S = 5.0
CPU_SECONDS = 4
MEMORY_BYTES = 1 << 30
MAX_OUTPUT_CHARS = 400
IMPORTABLE = ("math", "cmath", "fractions", "decimal", "statistics", "itertools", "collections", "datetime")
"""The modules a program may import: arithmetic and counting, no file, process or attribute access
(``operator`` is left out: its ``attrgetter`` would reach the dunder names asteval refuses). sympy is
left out too: it evaluates strings with Python's own ``eval``."""


def program_before_output(trajectory: str, step_text: str) -> list[str] | None:
    """The python blocks to run when ``step_text`` ends right after the closing fence of a python
    block (what comes next is its output): every complete block of ``trajectory + step_text``, in
    order. None when the step does not end so."""
    text = (trajectory + step_text).rstrip()
    blocks = list(_PYTHON_BLOCK.finditer(text))
    if not blocks or blocks[-1].end() != len(text):
        return None
    return [match.group(1) for match in blocks]


def run_program(blocks: list[str], timeout_s: float = TIMEOUT_S) -> ToolResult:
    """Run ``blocks`` in a child process (see the module docstring): the last block's output, or
    why it gave none (``ok`` False)."""
    try:
        done = subprocess.run(
            [sys.executable, "-m", "adaswitch.tools.python_runner"], input=json.dumps(blocks),
            capture_output=True, text=True, timeout=timeout_s, check=False,
        )
    except subprocess.TimeoutExpired:
        return ToolResult(text=f"TimeoutError: the program ran longer than {timeout_s:g} s", ok=False)
    if done.returncode != 0:
        reason = done.stderr.strip().splitlines()[-1:] or [f"exit status {done.returncode}"]
        return ToolResult(text=f"Error: the program stopped ({reason[0][:200]})", ok=False)
    try:
        reply = json.loads(done.stdout)
    except json.JSONDecodeError:
        return ToolResult(text="Error: the program's output could not be read", ok=False)
    return ToolResult(text=str(reply["text"]), ok=bool(reply["ok"]))


def output_block(result: ToolResult) -> str:
    """The output block written after the code, as the models write one themselves."""
    return f"\n{OUTPUT_FENCE}\n{result.text}\n```"


def _limit_this_process() -> None:
    """The child's limits, set by the child itself (a ``preexec_fn`` is unsafe in the engine's
    threaded runner)."""
    import resource

    resource.setrlimit(resource.RLIMIT_CPU, (CPU_SECONDS, CPU_SECONDS))
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_BYTES, MEMORY_BYTES))


def interpret(blocks: list[str]) -> ToolResult:
    """Interpret ``blocks`` with asteval in this process (the child's side of :func:`run_program`)."""
    from asteval import Interpreter

    printed = io.StringIO()
    interpreter = Interpreter(writer=io.StringIO(), err_writer=io.StringIO(), use_numpy=False)
    _allow_importable(interpreter)
    value = None
    for n, block in enumerate(blocks):
        last = n == len(blocks) - 1
        if last:
            interpreter.writer = printed
        value = interpreter(block, show_errors=False)
        if interpreter.error:
            name, message = interpreter.error[0].get_error()
            interpreter.error = []
            if last:
                return ToolResult(text=_clip(_error_line(name, message)), ok=False)
    text = printed.getvalue().strip()
    if not text and value is not None:
        text = repr(value)
    return ToolResult(text=_clip(text))


def _allow_importable(interpreter: Interpreter) -> None:
    """Let ``interpreter`` run ``import m [as n]`` and ``from m import x [as y]`` for the modules of
    :data:`IMPORTABLE` only, any other import raising an ImportError that names them. What a program
    gets is not the module but a namespace of its public names that are not modules themselves, so no
    chain of attributes leads from it to another module (``fractions.re.enum`` holds ``builtins``)."""

    def public(name: str, node: ast.AST) -> SimpleNamespace | None:
        if name not in IMPORTABLE:
            interpreter.raise_exception(
                node, exc=ImportError, msg=f"no module {name!r} here; importable: {', '.join(IMPORTABLE)}")
            return None
        module = importlib.import_module(name)
        return SimpleNamespace(**{key: value for key, value in vars(module).items()
                                  if not key.startswith("_") and not isinstance(value, ModuleType)})

    def on_import(node: ast.Import) -> None:
        for alias in node.names:
            namespace = public(alias.name, node)
            if namespace is None:
                return
            interpreter.symtable[alias.asname or alias.name] = namespace

    def on_importfrom(node: ast.ImportFrom) -> None:
        namespace = public("." * node.level + (node.module or ""), node)
        if namespace is None:
            return
        for alias in node.names:
            if not hasattr(namespace, alias.name):
                interpreter.raise_exception(node, exc=ImportError, msg=f"cannot import name {alias.name!r} from {node.module!r}")
                return
            interpreter.symtable[alias.asname or alias.name] = getattr(namespace, alias.name)

    interpreter.node_handlers["import"] = on_import
    interpreter.node_handlers["importfrom"] = on_importfrom


def _error_line(name: str, message: str) -> str:
    """``Name: what went wrong``, as the last line of a Python traceback reads."""
    lines = [line.strip() for line in message.strip().splitlines() if line.strip()]
    last = lines[-1] if lines else ""
    if last.startswith(f"{name}:"):
        last = last[len(name) + 1:].strip()
    return f"{name}: {last}" if last else name


def _clip(text: str) -> str:
    return text if len(text) <= MAX_OUTPUT_CHARS else text[:MAX_OUTPUT_CHARS] + " ..."


def _main() -> None:
    _limit_this_process()
    blocks = json.loads(sys.stdin.read())
    result = interpret([str(b) for b in blocks])
    sys.stdout.write(json.dumps({"text": result.text, "ok": result.ok}))


if __name__ == "__main__":
    _main()
