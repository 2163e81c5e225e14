"""An in-process GGUF model through llama-cpp-python, with its own token loop.

The loop keeps the KV cache of the previous call and evaluates only the tokens after the longest
common prefix, so a trajectory that grows at its end costs only its new tokens. Sampling, stop
strings and log-probabilities are done here on the raw logits of the last position, which keeps
the per-token Python work to an argmax unless log-probabilities or temperature ask for more.
"""

from __future__ import annotations

import codecs
import ctypes
import os
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

from adaswitch.backends.base import (
    Backend,
    BackendError,
    Completion,
    CompletionRequest,
    FinishReason,
    HiddenState,
    HiddenStateRequest,
    Message,
    ProbeRequest,
    ProbeResult,
    TokenLogprob,
    candidate_spellings,
)
from adaswitch.backends.llamacpp_grammar import GrammarConstraint, GrammarError
from adaswitch.chat_template import ChatTemplate


class LlamaCppBackend(Backend):
    """A GGUF model run in this process; one call at a time."""

    in_process = True
    honours_grammar = True

    def __init__(
        self,
        model_path: str | Path,
        *,
        n_ctx: int = 4096,
        n_threads: int | None = None,
        seed: int = 0,
        name: str | None = None,
        extra_buffers: bool | None = None,
        lora_path: str | Path | None = None,
    ):
        """Load a GGUF file, with the LoRA adapter (GGUF) ``lora_path`` applied when given.

        ``n_threads`` defaults to the CPUs this process may run on. ``extra_buffers`` lets
        llama.cpp repack weights into its accelerated layouts; by default it is off when the
        library was built with AMX kernels, which crash on machines (VMs) that advertise AMX but
        cannot run it.
        """
        import llama_cpp

        self._lib = llama_cpp
        threads = n_threads or len(os.sched_getaffinity(0))
        if extra_buffers is None:
            extra_buffers = "AMX_INT8 = 1" not in llama_cpp.llama_print_system_info().decode()
        try:
            with _model_params(llama_cpp, use_extra_bufts=extra_buffers):
                self._llm = llama_cpp.Llama(
                    model_path=str(model_path),
                    n_ctx=n_ctx,
                    n_threads=threads,
                    n_threads_batch=threads,
                    seed=seed,
                    logits_all=False,
                    verbose=False,
                    lora_path=str(lora_path) if lora_path is not None else None,
                )
        except (ValueError, RuntimeError) as err:
            raise BackendError("load_failed", f"{model_path}: {err}", retryable=False) from err
        self.name = name or Path(model_path).stem
        self.model_file = Path(model_path)
        self.adapter_file = Path(lora_path) if lora_path is not None else None
        self.parameters = int(llama_cpp.llama_model_n_params(self._llm.model))
        # the hidden state is per token only without pooling (the default for generative models)
        pooled = llama_cpp.llama_pooling_type(self._llm.ctx) != llama_cpp.LLAMA_POOLING_TYPE_NONE
        self.hidden_size = None if pooled else int(self._llm.n_embd())
        self._vocab = self._llm._model.vocab
        self._n_vocab = self._llm.n_vocab()
        self._n_ctx = min(self._llm.n_ctx(), len(self._llm.input_ids))
        self._rng = np.random.default_rng(seed)
        self._lock = threading.Lock()
        self._pieces: dict[int, bytes] = {}
        self._eog: dict[int, bool] = {}
        self._first_tokens: dict[str, set[int]] = {}
        self._piece_buf = ctypes.create_string_buffer(256)
        self.template = self._load_template()

    # -- public API -------------------------------------------------------------------------

    @property
    def n_ctx(self) -> int:
        return self._n_ctx

    @property
    def context_size(self) -> int:  # type: ignore[override]
        return self._n_ctx

    def count_tokens(self, messages: list[Message], *, continue_final: bool = False) -> int:
        return len(self.tokenize_prompt(messages, continue_final=continue_final))

    def render_prompt(self, messages: list[Message], *, continue_final: bool = False) -> str:
        """The prompt text this backend feeds the model for a conversation."""
        return self.template.render(messages, continue_final=continue_final)

    def tokenize_prompt(self, messages: list[Message], *, continue_final: bool = False) -> list[int]:
        """Prompt tokens, special tokens parsed, BOS added when the model wants one."""
        text = self.render_prompt(messages, continue_final=continue_final)
        return self._tokenize(text)

    def complete(self, request: CompletionRequest) -> Completion:
        with self._lock:
            start = time.perf_counter()
            tokens = self.tokenize_prompt(request.messages, continue_final=request.continue_final)
            self._check_fits(tokens)
            recomputed, _ = self._prefill(tokens)
            budget = min(request.max_tokens, self._n_ctx - len(tokens) + 1)
            rng = self._rng if request.seed is None else np.random.default_rng(request.seed)
            out = self._generate(request, budget, rng)
            return Completion(
                text=out.text,
                prompt_tokens=len(tokens),
                completion_tokens=out.n_tokens,
                recomputed_prompt_tokens=recomputed,
                finish_reason=out.finish_reason,
                latency_s=time.perf_counter() - start,
                logprobs=out.logprobs,
            )

    def probe(self, request: ProbeRequest) -> ProbeResult:
        """Exact candidate probabilities from one softmax over the whole vocabulary."""
        with self._lock:
            start = time.perf_counter()
            tokens = self.tokenize_prompt(request.messages, continue_final=request.continue_final)
            self._check_fits(tokens)
            recomputed, _ = self._prefill(tokens)
            probs = _softmax(self._last_logits())
            result = {c: float(sum(probs[i] for i in self._first_token_ids(c))) for c in request.candidates}
            return ProbeResult(
                probs=result,
                prompt_tokens=len(tokens),
                recomputed_prompt_tokens=recomputed,
                latency_s=time.perf_counter() - start,
                exact=True,
            )

    def hidden_state(self, request: HiddenStateRequest) -> HiddenState:
        """The final hidden state (after the output norm) at the prompt's last token.

        Read on the same context as generation, so the KV cache of the previous call is reused:
        only the prompt's last token is decoded with embeddings switched on.
        """
        if self.hidden_size is None:
            return super().hidden_state(request)
        with self._lock:
            start = time.perf_counter()
            tokens = self.tokenize_prompt(request.messages, continue_final=request.continue_final)
            self._check_fits(tokens)
            recomputed, vector = self._prefill(tokens, hidden=True)
            return HiddenState(
                vector=vector,
                prompt_tokens=len(tokens),
                recomputed_prompt_tokens=recomputed,
                latency_s=time.perf_counter() - start,
            )

    def close(self) -> None:
        with self._lock:
            llm, self._llm = self._llm, None
            if llm is not None:
                llm.close()

    # -- prompt -----------------------------------------------------------------------------

    def _load_template(self) -> ChatTemplate:
        llm = self._llm
        model = llm._model
        bos, eos = llm.token_bos(), llm.token_eos()
        return ChatTemplate(
            llm.metadata.get("tokenizer.chat_template"),
            bos_token=model.token_get_text(bos) if bos >= 0 else "",
            eos_token=model.token_get_text(eos) if eos >= 0 else "",
        )

    def _tokenize(self, text: str) -> list[int]:
        llm = self._require_model()
        add_bos = bool(self._lib.llama_vocab_get_add_bos(self._vocab))
        if add_bos and text.startswith(self.template.bos_token or "\0"):
            add_bos = False
        return llm.tokenize(text.encode("utf-8"), add_bos=add_bos, special=True)

    def _check_fits(self, tokens: list[int]) -> None:
        if not tokens:
            raise BackendError("invalid_request", "empty prompt", retryable=False)
        if len(tokens) > self._n_ctx:
            raise BackendError(
                "context_overflow",
                f"prompt has {len(tokens)} tokens, context holds {self._n_ctx}",
                retryable=False,
            )

    # -- KV cache ---------------------------------------------------------------------------

    def _prefill(self, tokens: list[int], *, hidden: bool = False) -> tuple[int, np.ndarray | None]:
        """Evaluate the prompt after its longest cached prefix; return how many tokens ran and,
        with ``hidden``, the last token's hidden state.

        At least the last token always runs, so its logits (and hidden state) are fresh.
        """
        llm = self._require_model()
        keep = min(self._cached_prefix(tokens), len(tokens) - 1)
        if keep < llm.n_tokens and not llm._ctx.kv_cache_seq_rm(-1, keep, -1):
            keep = 0
            llm.reset()
        llm.n_tokens = keep
        vector = None
        if hidden:
            self._eval(tokens[keep:-1])
            vector = self._eval_hidden(tokens[-1])
        else:
            self._eval(tokens[keep:])
        return len(tokens) - keep, vector

    def _eval_hidden(self, token: int) -> np.ndarray:
        """Decode one token with embeddings on; return a copy of its hidden state.

        With pooling off, llama.cpp then stores the output-norm result of every output token; the
        logits are computed as well, and the KV cache, ``n_tokens`` and ``input_ids`` advance as
        for any decode. Embeddings are switched off again for generation.
        """
        lib, ctx = self._lib, self._llm.ctx
        lib.llama_set_embeddings(ctx, True)
        try:
            self._eval([token])
            ptr = lib.llama_get_embeddings_ith(ctx, -1)
            if not ptr:
                raise BackendError("decode_failed", "llama.cpp returned no hidden state", retryable=False)
            return np.ctypeslib.as_array(ptr, shape=(self.hidden_size,)).copy()
        finally:
            lib.llama_set_embeddings(ctx, False)

    def _cached_prefix(self, tokens: list[int]) -> int:
        llm = self._require_model()
        n = min(llm.n_tokens, len(tokens))
        if n == 0:
            return 0
        differ = np.flatnonzero(llm.input_ids[:n] != np.asarray(tokens[:n], dtype=np.intc))
        return int(differ[0]) if differ.size else n

    def _eval(self, tokens: list[int]) -> None:
        llm = self._require_model()
        try:
            llm.eval(tokens)
        except RuntimeError as err:
            llm.reset()
            raise BackendError("decode_failed", str(err), retryable=False) from err

    def _last_logits(self) -> np.ndarray:
        """A view of the last position's logits (valid until the next decode)."""
        ptr = self._lib.llama_get_logits_ith(self._llm.ctx, -1)
        return np.ctypeslib.as_array(ptr, shape=(self._n_vocab,))

    # -- generation -------------------------------------------------------------------------

    def _generate(self, request: CompletionRequest, budget: int, rng: np.random.Generator) -> _Output:
        if request.grammar is None:
            return self._generate_free(request, budget, rng)
        try:
            constraint = GrammarConstraint(self._lib, self._vocab, self._n_vocab, request.grammar)
        except GrammarError as err:
            raise BackendError("invalid_request", str(err), retryable=False) from err
        with constraint:
            return self._generate_free(request, budget, rng, constraint)

    def _generate_free(
        self,
        request: CompletionRequest,
        budget: int,
        rng: np.random.Generator,
        constraint: GrammarConstraint | None = None,
    ) -> _Output:
        out = _Output(request.stop, want_logprobs=request.logprobs)
        temperature = request.temperature
        token = -1
        for step in range(max(budget, 0)):
            if step:
                self._eval([token])
            logits = self._last_logits()
            token = self._pick(logits, temperature, rng, constraint)
            if self._is_eog(token):
                out.finish("stop")
                return out
            if constraint is not None:
                constraint.accept(token)
            if request.logprobs:
                out.logprobs.append(self._token_logprob(logits, token, request.top_logprobs))
            if out.add(self._piece(token)):
                return out
        out.finish("length")
        return out

    def _pick(
        self, logits: np.ndarray, temperature: float, rng: np.random.Generator, constraint: GrammarConstraint | None
    ) -> int:
        """The next token: greedy or sampled, within the grammar when there is one.

        Greedy decoding under a grammar checks the unconstrained choice first and masks the whole
        vocabulary only when the grammar rejects it; sampling always draws from the masked logits.
        """
        if constraint is None:
            return int(logits.argmax()) if temperature <= 0 else _sample(logits, temperature, rng)
        if temperature <= 0:
            token = int(logits.argmax())
            if constraint.allows(token):
                return token
        masked = constraint.mask(logits)
        if not np.isfinite(masked).any():
            raise BackendError("decode_failed", "the grammar admits no next token", retryable=False)
        return int(masked.argmax()) if temperature <= 0 else _sample(masked, temperature, rng)

    def _token_logprob(self, logits: np.ndarray, token: int, top_k: int) -> TokenLogprob:
        """The model's own log-probabilities (temperature 1), whatever temperature sampled."""
        logprobs = _log_softmax(logits)
        top: dict[str, float] = {}
        if top_k > 0:
            k = min(top_k, self._n_vocab)
            best = np.argpartition(logprobs, -k)[-k:]
            for i in best[np.argsort(-logprobs[best], kind="stable")]:
                top.setdefault(self._text(int(i)), float(logprobs[i]))
        return TokenLogprob(token=self._text(token), logprob=float(logprobs[token]), top=top)

    # -- vocabulary -------------------------------------------------------------------------

    def _piece(self, token: int) -> bytes:
        """The bytes a token adds to the text (control tokens add none); cached."""
        piece = self._pieces.get(token)
        if piece is None:
            buf = self._piece_buf
            n = self._lib.llama_token_to_piece(self._vocab, token, buf, len(buf), 0, False)
            if n < 0:
                buf = ctypes.create_string_buffer(-n)
                n = self._lib.llama_token_to_piece(self._vocab, token, buf, len(buf), 0, False)
            piece = self._pieces[token] = buf.raw[:n]
        return piece

    def _text(self, token: int) -> str:
        return self._piece(token).decode("utf-8", errors="replace")

    def _is_eog(self, token: int) -> bool:
        eog = self._eog.get(token)
        if eog is None:
            eog = self._eog[token] = bool(self._lib.llama_vocab_is_eog(self._vocab, token))
        return eog

    def _first_token_ids(self, candidate: str) -> set[int]:
        """The tokens that spell a candidate answer (with or without a leading space, in any
        case); cached.

        Only spellings that are one token count: the first piece of a split spelling (SmolLM2
        splits " RIGHT" into " R" + "IGHT") starts many other words. A candidate no spelling of
        which is one token is read from the first pieces of all its spellings.
        """
        ids = self._first_tokens.get(candidate)
        if ids is None:
            llm = self._require_model()
            whole: set[int] = set()
            first: set[int] = set()
            for spelling in candidate_spellings(candidate):
                toks = llm.tokenize(spelling.encode("utf-8"), add_bos=False, special=False)
                if toks:
                    first.add(toks[0])
                    if len(toks) == 1:
                        whole.add(toks[0])
            ids = self._first_tokens[candidate] = whole or first
        return ids

    def _require_model(self) -> Any:
        if self._llm is None:
            raise BackendError("closed", f"backend {self.name} is closed", retryable=False)
        return self._llm


_PARAMS_LOCK = threading.Lock()


@contextmanager
def _model_params(llama_cpp: Any, **fields: Any) -> Iterator[None]:
    """Set model-load fields that ``Llama()`` does not expose, while one model loads.

    ``Llama.__init__`` starts from ``llama_cpp.llama_cpp.llama_model_default_params()``; the
    function is swapped for one that applies ``fields`` and restored afterwards.
    """
    module = llama_cpp.llama_cpp
    with _PARAMS_LOCK:
        original = module.llama_model_default_params

        def patched() -> Any:
            params = original()
            for key, value in fields.items():
                setattr(params, key, value)
            return params

        module.llama_model_default_params = patched
        try:
            yield
        finally:
            module.llama_model_default_params = original


class _Output:
    """Generated text built token by token: UTF-8 reassembly, stop strings, log-probabilities."""

    def __init__(self, stop: list[str], *, want_logprobs: bool):
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self._stops = [s for s in stop if s]
        self._hold = max((len(s) for s in self._stops), default=1) - 1
        self._starts: list[int] = []
        self.text = ""
        self.n_tokens = 0
        self.finish_reason: FinishReason = "length"
        self.logprobs: list[TokenLogprob] | None = [] if want_logprobs else None

    def add(self, piece: bytes) -> bool:
        """Append one token's bytes; True when a stop string ended the text."""
        self.n_tokens += 1
        self._starts.append(len(self.text))
        new = self._decoder.decode(piece)
        if not new:
            return False
        self.text += new
        return bool(self._stops) and self._check_stop(len(new))

    def _check_stop(self, n_new: int) -> bool:
        """Look for a stop string that ends inside the newest characters; cut the text there."""
        offset = max(len(self.text) - n_new - self._hold, 0)
        hits = [i for i in (self.text.find(s, offset) for s in self._stops) if i >= 0]
        if not hits:
            return False
        cut = min(hits)
        self.text = self.text[:cut]
        self.finish_reason = "stop"
        if self.logprobs is not None:
            del self.logprobs[sum(1 for s in self._starts if s < cut) :]
        return True

    def finish(self, reason: FinishReason) -> None:
        self.text += self._decoder.decode(b"", final=True)
        self.finish_reason = reason


def _sample(logits: np.ndarray, temperature: float, rng: np.random.Generator) -> int:
    """Draw a token from softmax(logits / temperature)."""
    z = logits.astype(np.float64) / temperature
    z -= z.max()
    cumulative = np.cumsum(np.exp(z))
    index = int(np.searchsorted(cumulative, rng.random() * cumulative[-1], side="right"))
    return min(index, len(cumulative) - 1)


def _log_softmax(logits: np.ndarray) -> np.ndarray:
    z = logits.astype(np.float64)
    z -= z.max()
    return z - np.log(np.exp(z).sum())


def _softmax(logits: np.ndarray) -> np.ndarray:
    z = logits.astype(np.float64)
    p = np.exp(z - z.max())
    return p / p.sum()
