"""A model's Jinja chat template, rendered the way Hugging Face renders it.

One renderer serves inference (the llama.cpp backend) and training (the fine-tuning records), so a
trained prompt is byte-for-byte the prompt the model sees when it runs.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from adaswitch.backends.base import BackendError, Message

CHATML_TEMPLATE = (
    "{% for message in messages %}"
    "{{ '<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)
"""Used when a GGUF file carries no ``tokenizer.chat_template``."""


class ChatTemplate:
    """A model's Jinja chat template, rendered in a sandbox the way Hugging Face does."""

    def __init__(self, source: str | None, *, bos_token: str = "", eos_token: str = ""):
        import jinja2.ext
        from jinja2.sandbox import ImmutableSandboxedEnvironment

        env = ImmutableSandboxedEnvironment(
            loader=jinja2.BaseLoader(),
            trim_blocks=True,
            lstrip_blocks=True,
            extensions=[jinja2.ext.loopcontrols],
        )
        env.filters["tojson"] = _tojson
        self.source = source or CHATML_TEMPLATE
        try:
            self._template = env.from_string(self.source)
        except jinja2.TemplateError as err:
            raise BackendError("template_error", f"chat template does not compile: {err}", retryable=False) from err
        self.bos_token = bos_token
        self.eos_token = eos_token

    def render(self, messages: list[Message], *, continue_final: bool = False) -> str:
        """Prompt text for a new assistant turn, or continuing the final assistant message.

        A continued message is appended verbatim after the generation prompt of the turns before
        it, with no end-of-turn marker, so that a longer partial message renders to a longer text
        with the same beginning.
        """
        if not continue_final:
            return self._render(messages, add_generation_prompt=True)
        if not messages or messages[-1].role != "assistant":
            raise BackendError(
                "invalid_request", "continue_final needs a final assistant message", retryable=False
            )
        return self._render(messages[:-1], add_generation_prompt=True) + messages[-1].content

    def _render(self, messages: list[Message], *, add_generation_prompt: bool) -> str:
        try:
            return self._template.render(
                messages=[{"role": m.role, "content": m.content} for m in messages],
                add_generation_prompt=add_generation_prompt,
                bos_token=self.bos_token,
                eos_token=self.eos_token,
                raise_exception=_raise_exception,
                strftime_now=_strftime_now,
            )
        except BackendError:
            raise
        except Exception as err:  # jinja errors and the template's own raise_exception
            raise BackendError("template_error", str(err), retryable=False) from err


def _raise_exception(message: str) -> None:
    raise ValueError(message)


def _strftime_now(fmt: str) -> str:
    return datetime.now().strftime(fmt)


def _tojson(value: Any, ensure_ascii: bool = False, indent: int | None = None, **kwargs: Any) -> str:
    return json.dumps(value, ensure_ascii=ensure_ascii, indent=indent, **kwargs)
