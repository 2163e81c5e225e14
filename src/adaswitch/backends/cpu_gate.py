"""One model server at a time on shared CPUs: a gate for the requests of managed llama.cpp servers."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager


class CpuGate:
    """Lets the requests of one server at a time compute, when several servers share the CPUs.

    Two llama.cpp servers computing at once on the same cores oversubscribe them: their threads
    wait for each other at every barrier of the graph, and on 2 cores both fall to a tenth of their
    speed (measured: 43.7 and 22.0 tokens/s alone, 1.8 and 1.7 together). Each managed server's
    requests pass this gate: any number of requests to the same server run together (one batch),
    while requests to another server wait until they have drained. A server with waiting requests
    gets the next turn, and all its requests that waited go in together, so neither starves and
    each turn is a batch.
    """

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._owner: object | None = None
        self._last: object | None = None
        self._running = 0
        self._admit = 0
        """Requests of the current owner still to be let in because they waited when its turn began."""
        self._waiting: dict[object, int] = {}

    @contextmanager
    def hold(self, owner: object) -> Iterator[None]:
        """Run the block as one of ``owner``'s requests."""
        with self._cond:
            self._waiting[owner] = self._waiting.get(owner, 0) + 1
            while not self._may_enter(owner):
                self._cond.wait()
            if not self._running:
                self._admit = self._waiting[owner]  # every request that waited for this turn
            self._admit = max(self._admit - 1, 0)
            self._waiting[owner] -= 1
            self._owner, self._running = owner, self._running + 1
        try:
            yield
        finally:
            with self._cond:
                self._running -= 1
                if self._running == 0:
                    self._last, self._owner = self._owner, None
                self._cond.notify_all()

    def _may_enter(self, owner: object) -> bool:
        others_wait = any(n > 0 for o, n in self._waiting.items() if o is not owner)
        if self._running:
            return self._owner is owner and (self._admit > 0 or not others_wait)
        return not others_wait or self._last is not owner
