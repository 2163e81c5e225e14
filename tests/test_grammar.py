"""The step grammar: what it admits parses, and every tool accepts it.

Strings the grammar admits are drawn by llama.cpp's own grammar engine: a random walk over the
SmolLM2 vocabulary (loaded without weights) that picks, at each position, a random token among
those the grammar allows. Hypothesis chooses the walk's seed, the family, the index and the answer
type.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from adaswitch.actions import ToolResult
from adaswitch.documents import Document
from adaswitch.grammar import MAX_QUERY_CHARS, MAX_THOUGHT_CHARS, answer_type_for, step_grammar
from adaswitch.parsing import parse_step, render_step
from adaswitch.scoring import extract_number
from adaswitch.tools import math_toolbox, qa_toolbox
from adaswitch.tools.search import KnowledgeBase

MAX_WALK_TOKENS = 400


def _text(walked: bytes) -> str | None:
    """The walked bytes as text; None when they are not UTF-8. A random walk can pick byte-level
    tokens that split a multi-byte character in ways no model writes and llama.cpp's grammar does not
    check byte by byte (seen once in many thousand walks: 0xf4 then a non-continuation byte); the
    backend's decoder would replace such bytes, and the property is about readable steps."""
    try:
        return walked.decode("utf-8")
    except UnicodeDecodeError:
        return None


class Vocabulary:
    """SmolLM2's vocabulary (no weights), with helpers to walk and check a grammar over it."""

    def __init__(self) -> None:
        llama_cpp = pytest.importorskip("llama_cpp")
        from adaswitch.embedded import EmbeddedModelError, resolve_model

        try:
            path = resolve_model("smollm2-135m")
        except EmbeddedModelError as err:
            pytest.skip(str(err))
        self.lib = llama_cpp
        self.llm = llama_cpp.Llama(model_path=str(path), vocab_only=True, verbose=False)
        self.vocab = self.llm._model.vocab
        self.n_vocab = self.llm.n_vocab()
        self.eog = np.array([bool(llama_cpp.llama_vocab_is_eog(self.vocab, t)) for t in range(self.n_vocab)])

    def constraint(self, grammar: str):  # noqa: ANN201 - the constraint type of the backend
        from adaswitch.backends.llamacpp_grammar import GrammarConstraint

        return GrammarConstraint(self.lib, self.vocab, self.n_vocab, grammar)

    def piece(self, token: int) -> bytes:
        return self.llm.detokenize([token])

    def walk(self, grammar: str, seed: int) -> str | None:
        """A random string the grammar admits, or None when the walk did not end in time."""
        rng = np.random.default_rng(seed)
        out = b""
        with self.constraint(grammar) as constraint:
            for _ in range(MAX_WALK_TOKENS):
                # random logits, with a bias towards short tokens so that walks end
                masked = constraint.mask(rng.standard_normal(self.n_vocab).astype(np.float32))
                ok = np.isfinite(masked)
                assert ok.any(), "the grammar admits no next token"
                if (ok & self.eog).any() and rng.random() < 0.5:
                    return _text(out)
                choices = np.flatnonzero(ok & ~self.eog)
                if not choices.size:
                    return _text(out)
                token = int(rng.choice(choices))
                constraint.accept(token)
                out += self.piece(token)
        return None

    def admits(self, grammar: str, text: str) -> bool:
        """Whether the grammar admits ``text`` as a whole (fed token by token, then end of text)."""
        tokens = self.llm.tokenize(text.encode("utf-8"), add_bos=False, special=False)
        with self.constraint(grammar) as constraint:
            for token in tokens:
                if not constraint.allows(token):
                    return False
                constraint.accept(token)
            eos = self.llm.token_eos()
            return constraint.allows(eos)


@pytest.fixture(scope="module")
def vocabulary() -> Vocabulary:
    return Vocabulary()


KNOWLEDGE = [
    Document(title="Blue Harbor", text="Blue Harbor is a 1987 drama film directed by Anna Lind."),
    Document(title="Anna Lind", text="Anna Lind (born 1950 in Gothenburg) is a film director."),
]


def _check_math(step_text: str, index: int, answer_type: str) -> None:
    parsed = parse_step(step_text, "math")
    assert parsed.action is not None, (step_text, parsed.error)
    assert not parsed.repairs, (step_text, parsed.repairs)
    assert len(parsed.thought) <= MAX_THOUGHT_CHARS
    if parsed.action.tool == "calculate":
        result = math_toolbox().run(parsed.action)
        # only the value can be refused (a compound divisor that is zero, a root of a negative
        # number, a result too large), never the expression's form or size
        assert result.ok or _refuses_value(result.text), (parsed.action.argument, result.text)
    else:
        assert parsed.action.tool == "finish"
        if answer_type == "number":
            assert extract_number(parsed.action.argument).ok, parsed.action.argument
        else:
            assert "[" not in parsed.action.argument and "\n" not in parsed.action.argument
    _check_round_trip(parsed, index, "math")


def _refuses_value(message: str) -> bool:
    return any(word in message for word in ("zero", "negative", "not real", "too large"))


def _check_qa(step_text: str, index: int, answer_type: str) -> None:
    parsed = parse_step(step_text, "qa")
    assert parsed.action is not None, (step_text, parsed.error)
    assert not parsed.repairs, (step_text, parsed.repairs)
    if parsed.action.tool == "search":
        assert 1 <= len(parsed.action.argument) <= MAX_QUERY_CHARS
        result = qa_toolbox(KnowledgeBase.from_documents(KNOWLEDGE)).run(parsed.action)
        assert isinstance(result, ToolResult) and result.ok, result.text
    else:
        assert parsed.action.tool == "finish"
        if answer_type == "yesno":
            assert parsed.action.argument in ("yes", "no")
    _check_round_trip(parsed, index, "qa")


def _check_round_trip(parsed, index: int, family: str) -> None:  # noqa: ANN001
    """The step, rendered in canonical form, parses back to the same thought and action."""
    again = parse_step(render_step(index, parsed.thought, parsed.action), family)
    assert (again.thought, again.action) == (parsed.thought, parsed.action)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    seed=st.integers(0, 2**32 - 1),
    family_and_type=st.sampled_from(
        [("math", "number"), ("math", "latex"), ("qa", "phrase"), ("qa", "yesno")]
    ),
    index=st.integers(1, 12),
)
def test_every_admitted_step_parses_and_its_tool_accepts_it(vocabulary, seed, family_and_type, index):
    family, answer_type = family_and_type
    text = vocabulary.walk(step_grammar(family, index, answer_type), seed)
    assume(text is not None)
    step_text = f"Thought {index}:{text}"
    (_check_math if family == "math" else _check_qa)(step_text, index, answer_type)


@pytest.mark.parametrize(
    ("family", "answer_type", "body", "admitted"),
    [
        ("math", None, " Half of 48.\nAction 2: calculate[48 / 2]", True),
        ("math", None, " Total.\nAction 2: calculate[(48 + 24) * 2 - 3.5]", True),
        ("math", None, " Root.\nAction 2: calculate[sqrt(16) + max(2, 3) ** 2]", True),
        ("math", None, " Done.\nAction 2: finish[72]", True),
        ("math", None, " Done.\nAction 2: finish[-4.5]", True),
        ("math", None, " Done.\nAction 2: finish[seventy-two]", False),
        ("math", None, " Divide.\nAction 2: calculate[48 / 0]", False),
        ("math", None, " Oops.\nAction 2: calculate[48 * ]", False),
        ("math", None, " Solve.\nAction 2: solve[x + 2 = 5]", False),
        ("math", None, " Wrong index.\nAction 3: finish[72]", False),
        ("math", None, " Two lines\nmore.\nAction 2: finish[72]", False),
        ("math", None, " Search.\nAction 2: search[Natalia]", False),
        ("math", "latex", " Done.\nAction 2: finish[\\frac{1}{2}]", True),
        ("math", "latex", " Done.\nAction 2: finish[\\frac{1}{2]", False),
        ("qa", None, " Who?\nAction 2: search[Blue Harbor director]", True),
        ("qa", None, " Done.\nAction 2: finish[Gothenburg]", True),
        ("qa", None, " Count.\nAction 2: calculate[1 + 1]", False),
        ("qa", None, " Long.\nAction 2: search[" + "a" * (MAX_QUERY_CHARS + 1) + "]", False),
        ("qa", "yesno", " Done.\nAction 2: finish[yes]", True),
        ("qa", "yesno", " Done.\nAction 2: finish[maybe]", False),
    ],
)
def test_grammar_admits_valid_steps_and_rejects_others(vocabulary, family, answer_type, body, admitted):
    assert vocabulary.admits(step_grammar(family, 2, answer_type), body) is admitted


def test_the_largest_expression_the_grammar_admits_is_within_the_calculators_size_limits(vocabulary):
    atom0 = "123456789.123456 ** 9"
    sum0 = " + ".join([" * ".join([atom0] * 4)] * 4)
    atom1 = f"sqrt({sum0}) ** 9"
    expression = "-" + " + ".join([" * ".join([atom1] * 4)] * 5)
    assert vocabulary.admits(step_grammar("math", 1), f" Big.\nAction 1: calculate[{expression}]")
    assert not vocabulary.admits(step_grammar("math", 1), f" Bigger.\nAction 1: calculate[{expression} + 1]")
    result = math_toolbox().run(parse_step(f"Thought 1: Big.\nAction 1: calculate[{expression}]", "math").action)
    assert result.ok or _refuses_value(result.text), result.text


def test_answer_type_defaults_and_unknown_values():
    assert answer_type_for("math") == "number"
    assert answer_type_for("qa") == "phrase"
    assert answer_type_for("qa", "yesno") == "yesno"
    with pytest.raises(ValueError, match="answer type"):
        answer_type_for("math", "essay")
    with pytest.raises(ValueError, match="family"):
        step_grammar("poetry", 1)
