"""A GBNF grammar applied to a token loop through llama.cpp's own grammar sampler.

The constraint checks the token the loop would pick first (one candidate: cheap) and only when the
grammar rejects it masks the whole vocabulary and picks again, as llama.cpp's own samplers do. The
model's log-probabilities are read before masking, so a signal built on them sees the model's own
confidence, not the grammar's.
"""

from __future__ import annotations

import ctypes
from typing import Any

import numpy as np

_TOKEN_DATA = np.dtype([("id", np.int32), ("logit", np.float32), ("p", np.float32)], align=True)


class GrammarError(ValueError):
    """llama.cpp could not parse a grammar."""


class GrammarConstraint:
    """The state of one grammar over one vocabulary, advanced token by token."""

    def __init__(self, lib: Any, vocab: Any, n_vocab: int, grammar: str, root: str = "root"):
        self._lib = lib
        sampler = lib.llama_sampler_init_grammar(vocab, grammar.encode("utf-8"), root.encode("utf-8"))
        if not sampler:
            raise GrammarError("llama.cpp rejected the grammar (see its log for the line)")
        self._sampler = sampler
        self._all = np.zeros(n_vocab, dtype=_TOKEN_DATA)
        self._all["id"] = np.arange(n_vocab, dtype=np.int32)
        self._one = np.zeros(1, dtype=_TOKEN_DATA)
        self._all_array = self._array(self._all)
        self._one_array = self._array(self._one)

    def _array(self, data: np.ndarray) -> Any:
        pointer = data.ctypes.data_as(self._lib.llama_token_data_p)
        return self._lib.llama_token_data_array(data=pointer, size=len(data), selected=-1, sorted=False)

    def allows(self, token: int) -> bool:
        """Whether the grammar admits ``token`` next."""
        self._one[0] = (token, 0.0, 0.0)
        self._one_array.size = 1
        self._one_array.selected = -1
        self._lib.llama_sampler_apply(self._sampler, ctypes.byref(self._one_array))
        return bool(np.isfinite(self._one["logit"][0]))

    def mask(self, logits: np.ndarray) -> np.ndarray:
        """``logits`` with every token the grammar rejects set to minus infinity (a new array)."""
        self._all["logit"] = logits
        self._all_array.size = len(self._all)
        self._all_array.selected = -1
        self._lib.llama_sampler_apply(self._sampler, ctypes.byref(self._all_array))
        return self._all["logit"].copy()

    def accept(self, token: int) -> None:
        """Advance the grammar past ``token``."""
        self._lib.llama_sampler_accept(self._sampler, token)

    def close(self) -> None:
        sampler, self._sampler = self._sampler, None
        if sampler:
            self._lib.llama_sampler_free(sampler)

    def __enter__(self) -> GrammarConstraint:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
