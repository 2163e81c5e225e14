"""The python a paragraph step writes: which blocks run, and what a run shows."""

from __future__ import annotations

from adaswitch.tools.python_runner import output_block, program_before_output, run_program


def test_a_step_that_ends_with_a_python_block_runs_every_block_so_far():
    trajectory = "First the petunias.\n\n```python\ngeraniums = 90\n\n"  # a blank line split the block
    step = "petunias = geraniums - 40\nprint(geraniums + petunias)\n```\n"
    assert program_before_output(trajectory, step) == ["geraniums = 90\n\npetunias = geraniums - 40\n"
                                                       "print(geraniums + petunias)"]
    earlier = "```python\nx = 2\n```\n```output\n\n```\n\n"
    assert program_before_output(earlier, "```py\nprint(x * 3)\n```") == ["x = 2", "print(x * 3)"]
    assert program_before_output("", "So the total is 140.") is None
    assert program_before_output("", "```python\nprint(1)\n```\nSo it prints 1.") is None
    assert program_before_output("", "```python\nprint(1)\n") is None  # not closed yet


def test_a_run_shows_what_the_last_block_printed_or_its_last_value():
    assert run_program(["g = 90\np = g - 40", "print(g + p)"]).text == "140"
    assert run_program(["x = 3\nx * 7"]).text == "21"
    assert run_program(["def twice(n):\n    return 2 * n\nprint(f'Total: {twice(21)}')"]).text == "Total: 42"
    assert run_program(["print(1)", "print(2)"]).text == "2"  # earlier cells ran, their output was shown then
    assert output_block(run_program(["print(round(7 / 3, 2))"])) == "\n```output\n2.33\n```"


def test_a_program_that_fails_or_reaches_outside_shows_the_error_and_harms_nothing(tmp_path):
    failed = run_program(["print(y)"])
    assert not failed.ok and failed.text == "NameError: name 'y' is not defined"
    assert run_program(["print(1 / 0)"]).text == "ZeroDivisionError: division by zero"
    assert "Import" in run_program([f"import os\nos.remove('{tmp_path}')"]).text and tmp_path.exists()
    assert not run_program(["print(().__class__.__bases__)"]).ok
    assert not run_program(["a = 10 ** 10 ** 10"]).ok
    slow = run_program(["while True:\n    pass"], timeout_s=1)
    assert not slow.ok and slow.text.startswith("TimeoutError")


def test_a_program_imports_the_arithmetic_modules_and_nothing_else(tmp_path):
    assert run_program(["import math\nprint(math.floor(7 / 2) + math.sqrt(16))"]).text == "7.0"
    assert run_program(["from fractions import Fraction as F\nprint(F(1, 3) + F(1, 6))"]).text == "1/2"
    assert run_program(["from collections import Counter\nprint(Counter('abca')['a'])"]).text == "2"
    refused = run_program(["from sympy import symbols, solve\nx = symbols('x')"])
    assert not refused.ok and refused.text.startswith("ImportError: no module 'sympy' here; importable: math")
    assert not run_program([f"import shutil\nshutil.rmtree('{tmp_path}')"]).ok and tmp_path.exists()
    assert not run_program(["import os.path"]).ok
    assert not run_program(["from . import python_runner"]).ok
    assert not run_program(["import statistics\nprint(statistics.sys)"]).ok  # a module it holds stays out of reach
    # what an import gives holds no module, so no chain of attributes reaches builtins or operator
    assert not run_program(["import fractions\nfractions.re.enum.bltns.open('/etc/hostname')"]).ok
    assert not run_program(["import fractions\nfractions.operator.attrgetter('__class__')"]).ok
    assert not run_program(["from math import nothing"]).ok
