"""Model backends and the spec strings that select them.

A spec names a backend and its model:
- ``fake`` or ``fake:SCRIPT.json``: the scripted fake backend;
- ``llama:NAME_OR_PATH``, an embedded model name (``qwen2.5-coder-0.5b``) or a path to a ``.gguf``
  file: llama.cpp in process;
- ``server:NAME_OR_PATH``: the same model behind a ``llama-server`` started here (many requests
  decoded in one batch), or ``server:http://HOST:PORT`` for a llama.cpp server already running;
- ``openai:MODEL``: any OpenAI-compatible endpoint (base URL and key from :class:`EndpointOptions`).
Backends are imported lazily, so selecting the fake backend never imports llama.cpp or openai.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from adaswitch.backends.base import Backend

if TYPE_CHECKING:
    from adaswitch.backends.cpu_gate import CpuGate


@dataclass(frozen=True)
class EndpointOptions:
    base_url: str | None = None
    api_key: str | None = None
    timeout_s: float = 60.0
    prefix_mode: str = "fold"
    n_ctx: int = 4096
    n_threads: int | None = None
    grammar_field: str | None = None
    parallel: int = 8
    """Slots of a managed llama.cpp server: requests decoded together."""
    """How an OpenAI-compatible endpoint takes a step grammar: ``grammar`` (llama.cpp's server),
    ``guided_grammar`` (vLLM), or None (it takes none; steps are read leniently)."""


def make_backend(spec: str, options: EndpointOptions | None = None, gate: "CpuGate | None" = None) -> Backend:
    """The backend ``spec`` names. Servers started here (``server:MODEL``) for the same CPUs should
    share one ``gate``, so that one computes at a time."""
    options = options or EndpointOptions()
    kind, _, target = spec.partition(":")
    if kind == "fake":
        from adaswitch.backends.fake import FakeBackend

        return FakeBackend.from_file(target) if target else FakeBackend()
    if kind == "openai":
        if not target:
            raise ValueError("openai backend needs a model name: openai:MODEL")
        from adaswitch.backends.openai_compat import OpenAIBackend

        return OpenAIBackend(
            target,
            base_url=options.base_url,
            api_key=options.api_key,
            timeout_s=options.timeout_s,
            prefix_mode=options.prefix_mode,  # type: ignore[arg-type]
            grammar_field=options.grammar_field,  # type: ignore[arg-type]
        )
    if kind == "llama":
        return _llama(target, options)
    if kind == "server":
        return _server(target, options, gate)
    if not target:
        return _llama(spec, options)
    raise ValueError(f"unknown backend {kind!r} in {spec!r}; expected fake, llama, server, openai or an embedded model name")


def _llama(name_or_path: str, options: EndpointOptions) -> Backend:
    from adaswitch.backends.llamacpp import LlamaCppBackend

    path, name, adapter = _model_file(name_or_path)
    backend = LlamaCppBackend(path, n_ctx=options.n_ctx, n_threads=options.n_threads, name=name, lora_path=adapter)
    return _styled(backend)


def _server(target: str, options: EndpointOptions, gate: "CpuGate | None") -> Backend:
    from adaswitch.backends.llama_server import LlamaServerBackend
    from adaswitch.backends.llama_server_process import ServerSettings

    if not target:
        raise ValueError("server backend needs a model or a URL: server:NAME_OR_PATH or server:http://HOST:PORT")
    if target.startswith(("http://", "https://")):
        return LlamaServerBackend(base_url=target, timeout_s=max(options.timeout_s, 900.0))
    path, name, adapter = _model_file(target)
    settings = ServerSettings(parallel=options.parallel, n_ctx=options.n_ctx, threads=options.n_threads)
    backend = LlamaServerBackend(model_path=path, settings=settings, name=name, gate=gate, lora_path=adapter)
    return _styled(backend)


def prompt_style_of(path: Path | None) -> str:
    """The prompt style a model file is served with: its registry manifest's ``prompt`` when it is a
    model trained here (:mod:`adaswitch.trained_models`), else ``few-shot``."""
    from adaswitch.trained_models import manifest_beside

    manifest = manifest_beside(path) if path is not None else None
    return str(manifest.get("prompt") or "few-shot") if manifest else "few-shot"


def _styled(backend: Backend) -> Backend:
    """``backend`` with the prompt style of the model it runs (the adapter's, when it has one)."""
    backend.prompt_style = prompt_style_of(backend.adapter_file or backend.model_file)
    return backend


def _model_file(name_or_path: str) -> tuple[Path, str, Path | None]:
    """The GGUF file, model name and LoRA adapter file (None for a plain model) of an embedded or
    trained model's name, or of a ``.gguf`` path."""
    path = Path(name_or_path).expanduser()
    adapter = None
    if path.suffix != ".gguf":
        from adaswitch.embedded import resolve_with_adapter

        path, adapter = resolve_with_adapter(name_or_path)
        name = name_or_path
    else:
        if not path.is_file():
            raise FileNotFoundError(f"model file not found: {path}")
        name = path.stem
    return path, name, adapter
