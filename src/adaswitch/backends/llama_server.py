"""A GGUF model behind llama.cpp's own server, many requests decoded in one batch.

The in-process backend runs one request at a time; this one sends each request to ``llama-server``
(:mod:`adaswitch.backends.llama_server_process` starts one on 127.0.0.1, or any running server is
named by URL), which decodes the requests of all its slots together. Many questions solved at once
(the runner's ``--workers``) then share each forward pass: on a 2-core CPU the 0.5B generates
several times the tokens per second in total (``benchmarks/throughput.py``).

It speaks the server's native ``/completion`` endpoint with a raw prompt, rendered by the same chat
template code as the in-process backend (:mod:`adaswitch.chat_template`, the template read from the
server's ``/props``), so both backends feed the model the same text: greedy replies agree up to the
rounding of batched arithmetic. Sampling is plain temperature sampling as in process (the server's
top-k, top-p and min-p are switched off). Log-probabilities are the model's own (before the grammar
and the temperature), with the top-k alternatives; a probe reads the top 50 of the next token, which
holds the candidate words whenever they matter (``exact`` is false). Hidden states cannot be read
through the server: the hidden-state probe needs the in-process backend.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import httpx

from adaswitch.backends.base import (
    Backend,
    BackendError,
    Completion,
    CompletionRequest,
    FinishReason,
    Message,
    ProbeRequest,
    ProbeResult,
    TokenLogprob,
    candidate_mass,
)
from adaswitch.backends.cpu_gate import CpuGate
from adaswitch.backends.llama_server_process import LlamaServerProcess, ServerSettings
from adaswitch.backends.openai_compat import decode_body, error_text, logprob_value
from adaswitch.chat_template import ChatTemplate

PROBE_TOP_K = 50
"""Alternatives read for a probe's next token."""


class LlamaServerBackend(Backend):
    """One model served by ``llama-server``: started here for a model file, or reached at a URL."""

    honours_grammar = True

    def __init__(
        self,
        *,
        model_path: str | Path | None = None,
        base_url: str | None = None,
        binary: str | Path | None = None,
        settings: ServerSettings | None = None,
        name: str | None = None,
        timeout_s: float = 900.0,
        gate: CpuGate | None = None,
        lora_path: str | Path | None = None,
    ):
        """Give ``model_path`` to start a server for that file (``binary`` defaults to the built
        one, :func:`adaswitch.backends.llama_server_build.llama_server_binary`), or ``base_url`` to
        use a server already running. Servers started here that share the CPUs share a ``gate``, so
        that one computes at a time (:class:`adaswitch.backends.cpu_gate.CpuGate`). A started server
        applies the LoRA adapter ``lora_path`` (GGUF) when given."""
        if (model_path is None) == (base_url is None):
            raise ValueError("give exactly one of model_path (start a server) or base_url (use a running one)")
        if lora_path is not None and model_path is None:
            raise ValueError("a LoRA adapter is applied by a server started here (model_path), not a running one")
        self._process: LlamaServerProcess | None = None
        if model_path is not None:
            from adaswitch.backends.llama_server_build import llama_server_binary

            self.model_file = Path(model_path)
            self.adapter_file = Path(lora_path) if lora_path is not None else None
            self._process = LlamaServerProcess(Path(binary) if binary else llama_server_binary(), self.model_file,
                                               settings or ServerSettings(), self.adapter_file)
            self._process.start()
            base_url = self._process.base_url
        assert base_url is not None
        self.base_url = base_url.rstrip("/")
        self.timeout_s = timeout_s
        self._gate = gate
        self._client = httpx.Client(base_url=self.base_url, timeout=timeout_s,
                                    limits=httpx.Limits(max_connections=256, max_keepalive_connections=64))
        try:
            props = self._get("/props")
            self.template = ChatTemplate(props.get("chat_template") or None, bos_token=props.get("bos_token") or "",
                                         eos_token=props.get("eos_token") or "")
            self.slots = int(props.get("total_slots") or 1)
            served = str((props.get("model_path") or ""))
        except BaseException:
            self.close()
            raise
        self.name = name or (self.model_file.stem if self.model_file else Path(served).stem or "llama-server")

    # -- public API -------------------------------------------------------------------------

    def identity_settings(self) -> dict[str, Any]:
        settings: dict[str, Any] = {"runtime": "llama-server", "sampling": "temperature only"}
        if self._process is None:
            settings["base_url"] = self.base_url
        return settings

    def render_prompt(self, messages: list[Message], *, continue_final: bool = False) -> str:
        """The prompt text sent to the server for a conversation."""
        return self.template.render(messages, continue_final=continue_final)

    def complete(self, request: CompletionRequest) -> Completion:
        prompt = self.render_prompt(request.messages, continue_final=request.continue_final)
        body: dict[str, Any] = {
            "prompt": prompt,
            "n_predict": request.max_tokens,
            "temperature": request.temperature,
            "top_k": 0,
            "top_p": 1.0,
            "min_p": 0.0,
            "repeat_penalty": 1.0,
            "cache_prompt": True,
            "stream": False,
        }
        if request.stop:
            body["stop"] = [s for s in request.stop if s]
        if request.seed is not None:
            body["seed"] = request.seed
        if request.grammar is not None:
            body["grammar"] = request.grammar
        if request.logprobs:
            body["n_probs"] = max(request.top_logprobs, 1)
        start = time.perf_counter()
        data = self._post("/completion", body)
        latency = time.perf_counter() - start
        return self._completion(request, data, latency)

    def probe(self, request: ProbeRequest) -> ProbeResult:
        prompt = self.render_prompt(request.messages, continue_final=request.continue_final)
        start = time.perf_counter()
        data = self._post("/completion", {"prompt": prompt, "n_predict": 1, "temperature": 0.0,
                                          "n_probs": PROBE_TOP_K, "cache_prompt": True, "stream": False})
        probabilities = data.get("completion_probabilities") or []
        if not probabilities:
            raise BackendError("bad_response", "the server returned no probabilities", retryable=True)
        top = {t["token"]: float(t["logprob"]) for t in probabilities[0].get("top_logprobs") or []}
        prompt_tokens, recomputed = _prompt_counts(data)
        return ProbeResult(probs=candidate_mass(top, request.candidates), prompt_tokens=prompt_tokens,
                           recomputed_prompt_tokens=recomputed, latency_s=time.perf_counter() - start, exact=False)

    def close(self) -> None:
        client = getattr(self, "_client", None)
        if client is not None:
            client.close()
        if self._process is not None:
            self._process.remove_log()
            self._process = None

    # -- wire -------------------------------------------------------------------------------

    def _get(self, path: str) -> dict[str, Any]:
        return decode_body(self._call("GET", path, None).content)

    def _post(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        return decode_body(self._call("POST", path, body).content)

    def _call(self, method: str, path: str, body: dict[str, Any] | None) -> httpx.Response:
        try:
            if self._gate is None:
                response = self._client.request(method, path, json=body)
            else:
                with self._gate.hold(self):
                    response = self._client.request(method, path, json=body)
        except httpx.TimeoutException:
            raise BackendError("timeout", f"no response from {self.base_url} after {self.timeout_s:g} s",
                               retryable=True) from None
        except httpx.TransportError as err:
            raise self._transport_error(err) from None
        if response.status_code >= 400:
            message = f"HTTP {response.status_code}: {error_text(response.content)}"
            if response.status_code in (400, 422):
                raise BackendError("invalid_request", message, retryable=False)
            raise BackendError("server_error", message, retryable=response.status_code >= 500)
        return response

    def _transport_error(self, err: httpx.TransportError) -> BackendError:
        code = self._process.exit_code() if self._process is not None else None
        if code is not None:
            return BackendError("server_died", f"llama-server exited ({code}):\n{self._process.log_tail()}",
                                retryable=False)
        return BackendError("connection", f"{type(err).__name__}: {err}", retryable=True)

    def _completion(self, request: CompletionRequest, data: dict[str, Any], latency: float) -> Completion:
        text = data.get("content")
        if not isinstance(text, str):
            raise BackendError("bad_response", "the server's reply has no content", retryable=True)
        stop_type = data.get("stop_type")
        finish: FinishReason = "length" if stop_type == "limit" else "stop"
        prompt_tokens, recomputed = _prompt_counts(data)
        logprobs = None
        if request.logprobs:
            logprobs = [_token_logprob(item, request.top_logprobs) for item in data.get("completion_probabilities") or []]
        return Completion(
            text=text,
            prompt_tokens=prompt_tokens,
            completion_tokens=int(data.get("tokens_predicted") or 0),
            recomputed_prompt_tokens=recomputed,
            finish_reason=finish,
            latency_s=latency,
            logprobs=logprobs,
        )


def _prompt_counts(data: dict[str, Any]) -> tuple[int, int]:
    """Prompt tokens, and how many of them the server computed (the rest came from its cache)."""
    prompt = int(data.get("tokens_evaluated") or 0)
    timings = data.get("timings") if isinstance(data.get("timings"), dict) else {}
    recomputed = int(timings.get("prompt_n", prompt)) if timings else prompt
    return prompt, recomputed


def _token_logprob(item: dict[str, Any], top_k: int) -> TokenLogprob:
    top = {t["token"]: logprob_value(t.get("logprob")) for t in (item.get("top_logprobs") or [])[:top_k]} if top_k else {}
    return TokenLogprob(token=item["token"], logprob=logprob_value(item.get("logprob")), top=top)
