"""Redaction of configurable patterns (e-mail addresses, phone numbers, ...) from text sent to a model.

A :class:`Redactor` replaces every match of its patterns with a placeholder naming the pattern, such
as ``[EMAIL]``. It is attached to the cloud model, so personal data in a question or trajectory
never leaves the machine; the trace counts the replacements and the bytes actually sent.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from adaswitch.backends.base import Message

BUILTIN_PATTERNS: dict[str, str] = {
    "email": r"[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}",
    "phone": r"(?<![\w.])\+?\d{1,3}?[ .-]?\(?\d{2,4}\)?[ .-]\d{3,4}[ .-]\d{3,4}(?![\w.])",
    "ipv4": r"(?<![\d.])(?:\d{1,3}\.){3}\d{1,3}(?![\d.])",
    "iban": r"\b[A-Z]{2}\d{2}(?: ?[A-Z0-9]{4}){3,7}(?: ?[A-Z0-9]{1,3})?\b",
    "card": r"(?<!\d)(?:\d[ -]?){13,16}(?!\d)",
}


@dataclass
class Redactor:
    patterns: dict[str, re.Pattern[str]] = field(default_factory=dict)

    @classmethod
    def from_names(cls, names: list[str], extra: dict[str, str] | None = None) -> "Redactor":
        """Built-in patterns by name, plus custom ones as {label: regex}."""
        compiled: dict[str, re.Pattern[str]] = {}
        for name in names:
            if name not in BUILTIN_PATTERNS:
                raise ValueError(f"unknown redaction pattern {name!r}; built-in: {', '.join(BUILTIN_PATTERNS)}")
            compiled[name] = re.compile(BUILTIN_PATTERNS[name])
        for label, regex in (extra or {}).items():
            try:
                compiled[label] = re.compile(regex)
            except re.error as error:
                raise ValueError(f"redaction pattern {label!r} is not a valid regular expression: {error}") from None
        return cls(compiled)

    def redact(self, text: str) -> tuple[str, int]:
        count = 0
        for label, pattern in self.patterns.items():
            text, n = pattern.subn(f"[{label.upper()}]", text)
            count += n
        return text, count

    def redact_messages(self, messages: list[Message]) -> tuple[list[Message], int]:
        out, total = [], 0
        for message in messages:
            text, n = self.redact(message.content)
            out.append(message if n == 0 else message.model_copy(update={"content": text}))
            total += n
        return out, total
