"""LlamaCppBackend on the tiny embedded SmolLM2-135M, plus the pure-Python text assembly."""

from __future__ import annotations

import math
import threading

import pytest

from adaswitch.backends.base import (
    BackendError,
    CompletionRequest,
    Message,
    ProbeRequest,
    candidate_mass,
    candidate_spellings,
)
from adaswitch.backends.llamacpp import _Output
from adaswitch.chat_template import ChatTemplate
from adaswitch.embedded import EmbeddedModelError, resolve_model

SYSTEM = Message(role="system", content="You solve problems step by step.")
QUESTION = Message(role="user", content="Question: Tom has 3 apples and buys 4 more. How many apples does he have?")


def _lcp(a: list[int], b: list[int]) -> int:
    n = 0
    for x, y in zip(a, b):
        if x != y:
            break
        n += 1
    return n


# -- text assembly (no model) -----------------------------------------------------------------


def test_output_joins_utf8_split_across_tokens():
    out = _Output([], want_logprobs=False)
    for piece in [b"caf", b"\xc3", b"\xa9 \xe2\x82", b"\xac"]:
        assert not out.add(piece)
    out.finish("length")
    assert out.text == "café €"
    assert out.n_tokens == 4


def test_output_stop_string_spanning_tokens_is_cut():
    out = _Output(["\nObservation"], want_logprobs=True)
    pieces = [b"Action 1: calculate[6*7]", b"\nObs", b"ervation 1: 42"]
    stopped = False
    for piece in pieces:
        out.logprobs.append(piece)  # stand-ins: one entry per token
        stopped = out.add(piece)
        if stopped:
            break
    assert stopped and out.finish_reason == "stop"
    assert out.text == "Action 1: calculate[6*7]"
    assert out.logprobs == [b"Action 1: calculate[6*7]"]


def test_output_earliest_of_several_stops_wins():
    out = _Output(["\n\n", "Observation"], want_logprobs=False)
    assert out.add(b"x = 1\n\nObservation")
    assert out.text == "x = 1"


def test_chatml_fallback_and_continue_final():
    template = ChatTemplate(None)
    messages = [QUESTION, Message(role="assistant", content="Thought 1: add")]
    text = template.render(messages, continue_final=True)
    assert text.endswith("<|im_start|>assistant\nThought 1: add")
    fresh = template.render(messages[:1])
    assert text == fresh + "Thought 1: add"
    with pytest.raises(BackendError):
        template.render([QUESTION], continue_final=True)


# -- the real tiny model ----------------------------------------------------------------------


@pytest.fixture(scope="module")
def backend():
    pytest.importorskip("llama_cpp")
    from adaswitch.backends.llamacpp import LlamaCppBackend

    try:
        path = resolve_model("smollm2-135m")
    except EmbeddedModelError as err:
        pytest.skip(str(err))
    b = LlamaCppBackend(path, n_ctx=2048, seed=0)
    yield b
    b.close()



@pytest.mark.realmodel
def test_reports_parameters_and_name(backend):
    assert 100_000_000 < backend.parameters < 200_000_000
    assert backend.name == "SmolLM2-135M-Instruct.Q4_1"


@pytest.mark.realmodel
def test_greedy_is_deterministic(backend):
    req = CompletionRequest(messages=[SYSTEM, QUESTION], max_tokens=24, logprobs=True, top_logprobs=2)
    a = backend.complete(req)
    b = backend.complete(req)
    assert a.text == b.text and a.text
    assert [t.token for t in a.logprobs] == [t.token for t in b.logprobs]
    assert b.recomputed_prompt_tokens == 1


@pytest.mark.realmodel
def test_seeded_sampling_repeats(backend):
    req = CompletionRequest(messages=[SYSTEM, QUESTION], max_tokens=16, temperature=1.0, seed=7)
    assert backend.complete(req).text == backend.complete(req).text


@pytest.mark.realmodel
def test_stop_string_cuts_the_text(backend):
    base = CompletionRequest(messages=[SYSTEM, QUESTION], max_tokens=30)
    full = backend.complete(base).text
    assert len(full) > 8
    stop = full[4:7]
    cut = backend.complete(base.model_copy(update={"stop": [stop], "logprobs": True}))
    assert cut.text == full[: full.index(stop)]
    assert cut.finish_reason == "stop"
    assert len(cut.logprobs) <= cut.completion_tokens


@pytest.mark.realmodel
def test_length_finish(backend):
    c = backend.complete(CompletionRequest(messages=[SYSTEM, QUESTION], max_tokens=3))
    assert c.finish_reason == "length" and c.completion_tokens == 3


@pytest.mark.realmodel
def test_logprobs_and_top(backend):
    c = backend.complete(CompletionRequest(messages=[SYSTEM, QUESTION], max_tokens=8, logprobs=True, top_logprobs=5))
    assert len(c.logprobs) == c.completion_tokens > 0
    for tok in c.logprobs:
        assert tok.logprob <= 0 and 1 <= len(tok.top) <= 5
        assert all(lp <= 0 for lp in tok.top.values())
        assert max(tok.top.values()) >= tok.logprob - 1e-9  # greedy picks the best
    assert "".join(t.token for t in c.logprobs) == c.text


@pytest.mark.realmodel
def test_probe_is_exact_and_agrees_with_top_logprobs(backend):
    """Both reads start from an unrelated cached prompt, so both evaluate the prompt the same way.

    (llama.cpp's kernels depend on the batch size: re-evaluating 1 token or 40 moves these
    probabilities by about 0.01, so the two calls must not see different cache states.)
    """
    messages = [Message(role="user", content="Is Paris the capital of France? Answer Yes or No.")]
    unrelated = CompletionRequest(messages=[Message(role="user", content="Say hi.")], max_tokens=1)
    backend.complete(unrelated)
    probe = backend.probe(ProbeRequest(messages=messages, candidates=["Yes", "No"]))
    assert probe.exact
    assert all(0.0 <= p <= 1.0 for p in probe.probs.values())
    assert sum(probe.probs.values()) <= 1 + 1e-6
    backend.complete(unrelated)
    one = backend.complete(CompletionRequest(messages=messages, max_tokens=1, logprobs=True, top_logprobs=20))
    assert one.recomputed_prompt_tokens == probe.recomputed_prompt_tokens
    top = one.logprobs[0].top
    mass = candidate_mass(top, ["Yes", "No"])
    assert max(mass.values()) > 0.05
    for c in ["Yes", "No"]:
        # The probe also counts first tokens of multi-token spellings ("Y" of "YES").
        firsts = {backend._text(i) for i in backend._first_token_ids(c)}
        assert all(t in firsts for t in top if t in candidate_spellings(c))
        in_top = sum(math.exp(lp) for t, lp in top.items() if t in firsts)
        floor = math.exp(min(top.values()))  # first tokens outside the top 20 are below this
        assert mass[c] - 1e-9 <= in_top - 1e-9 <= probe.probs[c] <= in_top + len(firsts) * floor + 1e-9


@pytest.mark.realmodel
def test_kv_cache_reuse_on_a_growing_trajectory(backend):
    short = [SYSTEM, QUESTION, Message(role="assistant", content="Thought 1: Tom starts with 3 apples.")]
    long = short[:2] + [
        Message(
            role="assistant",
            content="Thought 1: Tom starts with 3 apples.\nAction 1: calculate[3 + 4]\nObservation 1: 7\nThought 2:",
        )
    ]
    backend.complete(CompletionRequest(messages=short, continue_final=True, max_tokens=4))
    second = backend.complete(CompletionRequest(messages=long, continue_final=True, max_tokens=4))
    tokens_short = backend.tokenize_prompt(short, continue_final=True)
    tokens_long = backend.tokenize_prompt(long, continue_final=True)
    new = len(tokens_long) - _lcp(tokens_short, tokens_long)
    assert second.prompt_tokens == len(tokens_long)
    assert second.recomputed_prompt_tokens <= new + 2
    assert second.recomputed_prompt_tokens < second.prompt_tokens / 2


@pytest.mark.realmodel
def test_unrelated_prompt_recomputes_everything(backend):
    first = [SYSTEM, QUESTION]
    other = [Message(role="system", content="Translate to French."), Message(role="user", content="Good morning")]
    backend.complete(CompletionRequest(messages=first, max_tokens=2))
    c = backend.complete(CompletionRequest(messages=other, max_tokens=2))
    shared = _lcp(backend.tokenize_prompt(first), backend.tokenize_prompt(other))
    assert shared <= 3  # only the template's "<|im_start|>system\n"
    assert c.recomputed_prompt_tokens == c.prompt_tokens - shared


@pytest.mark.realmodel
def test_context_overflow(backend):
    huge = Message(role="user", content="apple " * 3000)
    with pytest.raises(BackendError) as info:
        backend.complete(CompletionRequest(messages=[huge], max_tokens=4))
    assert info.value.kind == "context_overflow" and not info.value.retryable
    with pytest.raises(BackendError, match="context_overflow"):
        backend.probe(ProbeRequest(messages=[huge], candidates=["Yes"]))


@pytest.mark.realmodel
def test_max_tokens_shrinks_to_fit(backend):
    from adaswitch.backends.llamacpp import LlamaCppBackend

    small = LlamaCppBackend(resolve_model("smollm2-135m"), n_ctx=256)
    try:
        filler = Message(role="user", content="apple " * 220)
        prompt = len(small.tokenize_prompt([filler]))
        room = small.n_ctx - prompt + 1
        assert 0 < room < 40, prompt
        c = small.complete(CompletionRequest(messages=[filler], max_tokens=200))
        assert 0 < c.completion_tokens <= room
    finally:
        small.close()


@pytest.mark.realmodel
def test_continue_final_rendering(backend):
    partial = "Thought 1: Tom has 3 apples"
    messages = [SYSTEM, QUESTION, Message(role="assistant", content=partial)]
    text = backend.render_prompt(messages, continue_final=True)
    assert text.endswith("<|im_start|>assistant\n" + partial)
    longer = backend.render_prompt(messages[:2] + [Message(role="assistant", content=partial + " and 4 more.")], continue_final=True)
    assert longer.startswith(text)
    c = backend.complete(CompletionRequest(messages=messages, continue_final=True, max_tokens=6))
    assert c.prompt_tokens == len(backend.tokenize_prompt(messages, continue_final=True))


@pytest.mark.realmodel
def test_one_call_at_a_time(backend):
    req = CompletionRequest(messages=[SYSTEM, QUESTION], max_tokens=12)
    expected = backend.complete(req).text
    results: list[str] = []
    threads = [threading.Thread(target=lambda: results.append(backend.complete(req).text)) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == [expected] * 3


@pytest.mark.realmodel
def test_closed_backend_refuses(backend):
    from adaswitch.backends.llamacpp import LlamaCppBackend

    other = LlamaCppBackend(resolve_model("smollm2-135m"), n_ctx=256)
    other.close()
    with pytest.raises(BackendError, match="closed"):
        other.complete(CompletionRequest(messages=[QUESTION], max_tokens=1))


# -- the embedded default pair (minutes) ----------------------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize("name", ["qwen2.5-coder-0.5b", "qwen2.5-coder-1.5b"])
def test_embedded_qwen_generates(name):
    pytest.importorskip("llama_cpp")
    from adaswitch.backends.llamacpp import LlamaCppBackend

    b = LlamaCppBackend(resolve_model(name), n_ctx=1024)
    try:
        c = b.complete(
            CompletionRequest(
                messages=[Message(role="user", content="What is 6 times 7? Reply with the number only.")],
                max_tokens=8,
                logprobs=True,
            )
        )
        assert "42" in c.text
        assert c.completion_tokens >= 1 and all(t.logprob <= 0 for t in c.logprobs)
        probe = b.probe(ProbeRequest(messages=[Message(role="user", content="Is 7 a prime number? Answer Yes or No.")], candidates=["Yes", "No"]))
        assert probe.probs["Yes"] > probe.probs["No"]
    finally:
        b.close()


def test_grammar_makes_even_the_tiny_model_write_a_valid_step(backend):
    from adaswitch.grammar import step_grammar
    from adaswitch.parsing import parse_step
    from adaswitch.prompts import prompts_for

    prompts = prompts_for("math")
    messages = prompts.step_messages("Tom has 3 apples and buys 4 more. How many apples does he have?", "", 1)
    free = backend.complete(CompletionRequest(messages=messages, continue_final=True, max_tokens=60))
    constrained = backend.complete(
        CompletionRequest(messages=messages, continue_final=True, max_tokens=120, grammar=step_grammar("math", 1))
    )
    parsed = parse_step(f"Thought 1:{constrained.text}", "math")
    assert parsed.action is not None and not parsed.repairs, constrained.text
    assert parsed.action.tool in ("calculate", "finish")
    assert constrained.finish_reason == "stop"
    # the grammar ends the step itself: no observation, no second step
    assert "Observation" not in constrained.text and constrained.text.count("Action 1:") == 1
    assert free.text != constrained.text or parse_step(f"Thought 1:{free.text}", "math").action is not None


def test_greedy_decoding_under_a_grammar_that_admits_the_free_choice_changes_nothing(backend):
    messages = [SYSTEM, QUESTION]
    free = backend.complete(CompletionRequest(messages=messages, max_tokens=12))
    anything = backend.complete(CompletionRequest(messages=messages, max_tokens=12, grammar="root ::= [^\\x00]*"))
    assert anything.text == free.text


def test_a_grammar_llama_cpp_cannot_read_is_a_clear_request_error(backend):
    with pytest.raises(BackendError, match="grammar") as info:
        backend.complete(CompletionRequest(messages=[SYSTEM, QUESTION], max_tokens=4, grammar="root ::= ("))
    assert info.value.kind == "invalid_request" and not info.value.retryable


def test_count_tokens_matches_what_a_completion_reports(backend):
    messages = [SYSTEM, QUESTION]
    reply = backend.complete(CompletionRequest(messages=messages, max_tokens=1))
    assert backend.count_tokens(messages) == reply.prompt_tokens and backend.context_size == 2048
