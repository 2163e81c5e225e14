"""The ``calculate`` tool: exact rational arithmetic over a whitelisted expression syntax.

Model text is never evaluated by Python. It is tidied (thousands separators, currency signs,
percent, ``x``/``×``/``^``, a trailing ``= 12``), parsed with :func:`ast.parse`, checked against a
whitelist and size bounds, then walked node by node with :class:`fractions.Fraction`.
"""

from __future__ import annotations

import ast
import math
import re
from collections.abc import Callable
from fractions import Fraction

from adaswitch.actions import ToolResult

MAX_CHARS = 8_000  # covers the step grammar's largest expression (adaswitch.grammar)
MAX_NODES = 1_500
MAX_LITERAL_DIGITS = 1000
MAX_EXPONENT = 10_000
MAX_BITS = 100_000
MAX_ROUND_DIGITS = 1000
MAX_PLAIN_DIGITS = 1000  # longer results are shown in scientific notation
DECIMALS = 10
_FLOAT_LOG2_LIMIT = 1000  # approximate (float) results only below 2**1000 in magnitude

FUNCTIONS = ("sqrt", "abs", "round", "min", "max", "floor", "ceil")


class CalculatorError(ValueError):
    """An expression the calculator refuses or cannot compute; the message says why."""


# ---------------------------------------------------------------- normalisation

_QUOTES = "`'\"“”‘’"
_SYMBOLS = {"×": "*", "·": "*", "⋅": "*", "∗": "*", "÷": "/", "∕": "/", "−": "-", "–": "-",
            "^": "**", "²": "**2", "³": "**3"}
_CURRENCY = re.compile(r"[$€£]")
_MATH_PREFIX = re.compile(r"\bmath\.(?=[a-z]+\s*\()", re.IGNORECASE)
_ROOT = re.compile(r"√\s*(\d+(?:\.\d+)?|(?=\())")
_PERCENT_OF = re.compile(r"%\s*of\b", re.IGNORECASE)
_PERCENT = re.compile(r"(\d+(?:\.\d+)?|\.\d+)\s*%(?!\s*[\w.(])")
_TIMES_X = re.compile(r"(?<=[\d)])\s*[xX]\s*(?=[\d(.])")
_IMPLICIT_TIMES = re.compile(r"(?<=[\d)])\s*(?=\()")
_THOUSANDS = re.compile(r"(?<![\w.,])\d{1,3}(?:,\d{3})+(?![\w,])")
_CALL_OPEN = re.compile(r"[A-Za-z_]\w*\s*\(")
_UNIT_WORD = re.compile(r"(?<=\d)\s*([A-Za-z]{2,})\b(?!\s*\()")
_PERCENT_WORD = re.compile(r"(?<=\d)\s*per\s?cent\b", re.IGNORECASE)
_WORD_OPERATORS = {"times": "*", "multiplied by": "*", "divided by": "/", "plus": "+", "minus": "-",
                   "mod": "%"}
_WORD_OPERATOR = re.compile(
    r"(?<=[\d)])\s+(" + "|".join(_WORD_OPERATORS) + r")\s+(?=[\d(.])", re.IGNORECASE
)


def _strip_wrapping(text: str) -> str:
    """Remove surrounding whitespace, backticks and quotes."""
    previous = None
    while previous != text:
        previous = text
        text = text.strip().strip(_QUOTES)
    return text


def _drop_result_claim(text: str) -> str:
    """Keep the computation of ``3*4 = 12`` (or ``total = 3*4``); drop the claimed result."""
    parts = re.split(r"=|≈", text)
    if len(parts) == 1:
        return text
    if re.search(r"\d", parts[0]):
        return parts[0]
    return parts[1] if len(parts) == 2 else text


def _call_paren_mask(text: str) -> list[bool]:
    """For each character: is its innermost enclosing parenthesis a function call's?"""
    call_opens = {m.end() - 1 for m in _CALL_OPEN.finditer(text)}
    stack: list[bool] = []
    mask = []
    for i, char in enumerate(text):
        if char == "(":
            stack.append(i in call_opens)
        elif char == ")" and stack:
            stack.pop()
        mask.append(bool(stack) and stack[-1])
    return mask


def _drop_thousands_separators(text: str) -> str:
    """``1,000,000`` -> ``1000000``, except inside a call's parentheses where commas split arguments."""
    mask = _call_paren_mask(text)
    return _THOUSANDS.sub(lambda m: m.group() if mask[m.start()] else m.group().replace(",", ""), text)


def _drop_unit_word(match: re.Match[str]) -> str:
    word = match.group(1).lower()
    return match.group() if word in FUNCTIONS or word in _WORD_OPERATORS else ""


def normalize(expression: str) -> str:
    """Rewrite what models commonly write (``$1,200 × 15%``) as plain Python arithmetic."""
    text = _drop_result_claim(_strip_wrapping(expression))
    for symbol, replacement in _SYMBOLS.items():
        text = text.replace(symbol, replacement)
    text = _CURRENCY.sub("", text)
    text = _MATH_PREFIX.sub("", text)
    text = _ROOT.sub(lambda m: f"sqrt({m.group(1)})" if m.group(1) else "sqrt", text)
    text = _drop_thousands_separators(text)
    text = _PERCENT_WORD.sub("%", text)
    text = _PERCENT_OF.sub("% *", text)
    text = _PERCENT.sub(r"(\1/100)", text)
    text = _TIMES_X.sub("*", text)
    text = _WORD_OPERATOR.sub(lambda m: f" {_WORD_OPERATORS[m.group(1).lower()]} ", text)
    text = _UNIT_WORD.sub(_drop_unit_word, text)
    text = _IMPLICIT_TIMES.sub("*", text)
    return text.strip()


# ---------------------------------------------------------------- parsing and checks

_ALLOWED_NODES = (ast.Expression, ast.Constant, ast.BinOp, ast.UnaryOp, ast.Call, ast.Name,
                  ast.operator, ast.unaryop, ast.expr_context)
_BINOPS = (ast.Add, ast.Sub, ast.Mult, ast.Div, ast.FloorDiv, ast.Mod, ast.Pow)
_UNARYOPS = (ast.UAdd, ast.USub)
_FLOAT_LITERAL = re.compile(r"(\d*)\.?(\d*)(?:[eE]([-+]?\d+))?")


def _parse(text: str) -> ast.Expression:
    if not text:
        raise CalculatorError("empty expression")
    if len(text) > 2 * MAX_CHARS:  # normalising (``5%`` -> ``(5/100)``) may lengthen it a little
        raise CalculatorError(f"expression longer than {MAX_CHARS} characters")
    try:
        tree = ast.parse(text, mode="eval")
    except SyntaxError as exc:
        raise CalculatorError(f"not an arithmetic expression ({exc.msg}): {text[:80]!r}") from None
    except (RecursionError, MemoryError, ValueError, OverflowError):
        raise CalculatorError("expression too deeply nested or too large") from None
    _check_tree(tree)
    return tree


def _check_tree(tree: ast.Expression) -> None:
    """Reject anything outside the whitelist, and trees that are too large, before computing."""
    count = 0
    function_names = {id(node.func) for node in ast.walk(tree) if isinstance(node, ast.Call)}
    for node in ast.walk(tree):
        if not isinstance(node, _ALLOWED_NODES):
            raise CalculatorError(f"unsupported syntax: {type(node).__name__}")
        if isinstance(node, ast.operator) and not isinstance(node, _BINOPS):
            raise CalculatorError(f"unsupported operator: {type(node).__name__}")
        if isinstance(node, ast.unaryop) and not isinstance(node, _UNARYOPS):
            raise CalculatorError(f"unsupported operator: {type(node).__name__}")
        if isinstance(node, ast.Call):
            _check_call(node)
        if isinstance(node, ast.Name) and id(node) not in function_names:
            raise CalculatorError(f"unknown name {node.id!r}: only numbers and {', '.join(FUNCTIONS)}")
        if not isinstance(node, (ast.operator, ast.unaryop, ast.expr_context)):
            count += 1
        if count > MAX_NODES:
            raise CalculatorError(f"expression has more than {MAX_NODES} parts")


def _check_call(node: ast.Call) -> None:
    if not isinstance(node.func, ast.Name):
        raise CalculatorError(f"unsupported call of a {type(node.func).__name__}")
    if node.func.id.lower() not in FUNCTIONS:
        raise CalculatorError(f"unknown function {node.func.id!r}; allowed: {', '.join(FUNCTIONS)}")
    if node.keywords:
        raise CalculatorError("keyword arguments are not supported")


# ---------------------------------------------------------------- exact arithmetic


def _bits(x: Fraction) -> int:
    return x.numerator.bit_length() + x.denominator.bit_length()


def _check_size(bits: int, what: str) -> None:
    if bits > MAX_BITS:
        raise CalculatorError(f"{what} would be too large (about {bits} bits; limit {MAX_BITS})")


def _literal(node: ast.Constant, source: str) -> Fraction:
    value = node.value
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise CalculatorError(f"unsupported literal {value!r}")
    if isinstance(value, int):
        if abs(value) >= 10**MAX_LITERAL_DIGITS:
            raise CalculatorError(f"number literal longer than {MAX_LITERAL_DIGITS} digits")
        return Fraction(value)
    return _float_literal(ast.get_source_segment(source, node) or repr(value))


def _float_literal(segment: str) -> Fraction:
    """Read a decimal literal from its source text, so that ``0.1`` is exactly 1/10."""
    segment = segment.replace("_", "")
    match = _FLOAT_LITERAL.fullmatch(segment)
    if match is None:
        raise CalculatorError(f"unreadable number {segment!r}")
    digits = len(match.group(1)) + len(match.group(2))
    exponent = abs(int(match.group(3) or 0))
    if digits > MAX_LITERAL_DIGITS or exponent > MAX_LITERAL_DIGITS:
        raise CalculatorError(f"number literal {segment[:40]!r} is too large or too precise")
    return Fraction(segment)


def _binop(op: ast.operator, left: Fraction, right: Fraction) -> Fraction:
    if isinstance(op, ast.Pow):
        return power(left, right)
    if isinstance(op, (ast.Mult, ast.Div)):
        _check_size(_bits(left) + _bits(right), "product")
    if isinstance(op, ast.Add):
        return left + right
    if isinstance(op, ast.Sub):
        return left - right
    if isinstance(op, ast.Mult):
        return left * right
    if right == 0:
        raise CalculatorError("division by zero")
    if isinstance(op, ast.Div):
        return left / right
    if isinstance(op, ast.FloorDiv):
        return Fraction(left // right)
    return left % right


def _iroot(n: int, k: int) -> int:
    """Largest integer r with r**k <= n, for n >= 0 and k >= 1."""
    if n < 2 or k == 1:
        return n
    if k == 2:
        return math.isqrt(n)
    x = 1 << -(-n.bit_length() // k)  # an upper bound on the root
    while True:
        y = ((k - 1) * x + n // x ** (k - 1)) // k
        if y >= x:
            return x
        x = y


def _exact_root(x: Fraction, k: int) -> Fraction | None:
    """The rational k-th root of x >= 0, or None when it is irrational."""
    num, den = _iroot(x.numerator, k), _iroot(x.denominator, k)
    if num**k == x.numerator and den**k == x.denominator:
        return Fraction(num, den)
    return None


def _log2_abs(x: Fraction) -> float:
    return math.log2(abs(x.numerator)) - math.log2(x.denominator)


def power(base: Fraction, exponent: Fraction) -> Fraction:
    """``base ** exponent``: exact where the result is rational, bounded in size."""
    if exponent == 0 or base == 1:
        return Fraction(1)
    if base == 0 and exponent > 0:
        return Fraction(0)
    if base == 0:
        raise CalculatorError("zero raised to a negative power (division by zero)")
    if base == -1 and exponent.denominator == 1:
        return Fraction(-1 if exponent.numerator % 2 else 1)
    if abs(exponent) > MAX_EXPONENT:
        raise CalculatorError(f"exponent {_short(exponent)} is larger than {MAX_EXPONENT}")
    _check_size(math.ceil(_bits(base) * abs(exponent)), "power")
    if exponent.denominator == 1:
        return base ** exponent.numerator
    return _fractional_power(base, exponent)


def _fractional_power(base: Fraction, exponent: Fraction) -> Fraction:
    p, q = exponent.numerator, exponent.denominator
    if base < 0 and q % 2 == 0:
        raise CalculatorError("even root of a negative number is not real")
    sign = -1 if base < 0 else 1
    if q <= max(base.numerator.bit_length(), base.denominator.bit_length(), 1):
        root = _exact_root(abs(base), q)
        if root is not None:
            return (sign * root) ** p
    return sign * _approximate_power(abs(base), exponent)


def _approximate_power(base: Fraction, exponent: Fraction) -> Fraction:
    """A float approximation of ``base ** exponent`` (base > 0) whose magnitude fits a float."""
    log2_base = _log2_abs(base)
    magnitude = log2_base * float(exponent)
    if abs(magnitude) > _FLOAT_LOG2_LIMIT:
        raise CalculatorError("irrational power too large to approximate")
    if abs(log2_base) <= _FLOAT_LOG2_LIMIT:
        return Fraction(math.pow(float(base), float(exponent)))
    return Fraction(2.0**magnitude)


def _sqrt(x: Fraction) -> Fraction:
    if x < 0:
        raise CalculatorError("square root of a negative number")
    exact = _exact_root(x, 2)
    if exact is not None:
        return exact
    shift = max(0, 64 + (x.denominator.bit_length() - x.numerator.bit_length()) // 2 + 1)
    return Fraction(math.isqrt((x.numerator << (2 * shift)) // x.denominator), 1 << shift)


def _round(x: Fraction, digits: Fraction = Fraction(0)) -> Fraction:
    """Round half away from zero (``round(2.345, 2)`` is 2.35, ``round(2.5)`` is 3)."""
    if digits.denominator != 1 or abs(digits) > MAX_ROUND_DIGITS:
        raise CalculatorError(f"round digits must be an integer of at most {MAX_ROUND_DIGITS}")
    scale = Fraction(10) ** int(digits)
    magnitude = math.floor(abs(x) * scale + Fraction(1, 2))
    return (magnitude if x >= 0 else -magnitude) / scale


_ARITY: dict[str, tuple[int, int]] = {
    "sqrt": (1, 1), "abs": (1, 1), "round": (1, 2), "floor": (1, 1), "ceil": (1, 1),
    "min": (1, MAX_NODES), "max": (1, MAX_NODES),
}
_FUNCTIONS: dict[str, Callable[..., Fraction]] = {
    "sqrt": _sqrt,
    "abs": abs,
    "round": _round,
    "floor": lambda x: Fraction(math.floor(x)),
    "ceil": lambda x: Fraction(math.ceil(x)),
    "min": lambda *xs: min(xs),
    "max": lambda *xs: max(xs),
}


def _call(name: str, args: list[Fraction]) -> Fraction:
    low, high = _ARITY[name]
    if not low <= len(args) <= high:
        raise CalculatorError(f"{name}() does not take {len(args)} argument(s)")
    return _FUNCTIONS[name](*args)


def _evaluate(node: ast.AST, source: str) -> Fraction:
    if isinstance(node, ast.Expression):
        return _evaluate(node.body, source)
    if isinstance(node, ast.Constant):
        return _literal(node, source)
    if isinstance(node, ast.UnaryOp):
        value = _evaluate(node.operand, source)
        return -value if isinstance(node.op, ast.USub) else value
    if isinstance(node, ast.BinOp):
        left, right = _evaluate(node.left, source), _evaluate(node.right, source)
        result = _binop(node.op, left, right)
        _check_size(_bits(result), "result")
        return result
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
        return _call(node.func.id.lower(), [_evaluate(arg, source) for arg in node.args])
    raise CalculatorError(f"unsupported syntax: {type(node).__name__}")


# ---------------------------------------------------------------- output


def _short(x: Fraction) -> str:
    return format_number(x) if _bits(x) < 200 else "(a very large number)"


def _scientific(x: Fraction) -> str:
    """``x`` with 10 significant digits, e.g. ``1.9950631168e+3010``."""
    sign = "-" if x < 0 else ""
    x = abs(x)
    exp10 = math.floor(_log2_abs(x) * math.log10(2))
    while x >= Fraction(10) ** (exp10 + 1):
        exp10 += 1
    while x < Fraction(10) ** exp10:
        exp10 -= 1
    mantissa = round(x / Fraction(10) ** (exp10 - DECIMALS + 1))
    if mantissa >= 10**DECIMALS:
        mantissa //= 10
        exp10 += 1
    digits = str(mantissa).rstrip("0") or "0"
    body = digits[0] + ("." + digits[1:] if len(digits) > 1 else "")
    return f"{sign}{body}e{exp10:+d}"


def format_number(x: Fraction) -> str:
    """Integers as digits, others as a decimal with at most 10 places (trailing zeros dropped)."""
    if x == 0:
        return "0"
    if abs(x) >= Fraction(10) ** MAX_PLAIN_DIGITS or abs(x) < Fraction(1, 10**DECIMALS) / 2:
        return _scientific(x)
    if x.denominator == 1:
        return str(x.numerator)
    scaled = math.floor(abs(x) * 10**DECIMALS + Fraction(1, 2))
    whole, fraction = divmod(scaled, 10**DECIMALS)
    text = f"{whole}.{fraction:0{DECIMALS}d}".rstrip("0").rstrip(".")
    return ("-" if x < 0 else "") + text


# ---------------------------------------------------------------- public API


def calculate_value(expression: str) -> Fraction:
    """Evaluate ``expression`` exactly; raise :class:`CalculatorError` with the reason on failure."""
    if not isinstance(expression, str):
        raise CalculatorError("expression must be text")
    if len(expression.strip()) > MAX_CHARS:
        raise CalculatorError(f"expression longer than {MAX_CHARS} characters")
    try:
        text = normalize(expression)
        return _evaluate(_parse(text), text)
    except CalculatorError:
        raise
    except ZeroDivisionError:
        raise CalculatorError("division by zero") from None
    except (RecursionError, MemoryError, OverflowError, ValueError, ArithmeticError) as exc:
        raise CalculatorError(f"cannot compute ({type(exc).__name__}: {exc})") from None


def calculate(expression: str) -> ToolResult:
    """The ``calculate`` tool: the exact value as text, or ``ok=False`` with the reason."""
    try:
        value = calculate_value(expression)
        return ToolResult(text=format_number(value))
    except CalculatorError as exc:
        return ToolResult(ok=False, text=f"calculate error: {exc}")
    except Exception as exc:  # a bug here must not reach the agent loop as an exception
        return ToolResult(ok=False, text=f"calculate error: {type(exc).__name__}: {exc}")
