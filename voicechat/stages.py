"""Work on a thread of its own that takes items from one pipe and hands results to the next.

A stage owns its thread, its end marker and its failure: `start_stage(work, inbox, outbox)`
runs `work` on each item until the inbox is closed, puts what it yields in the outbox, and
closes the outbox however it ends, so the stage after it always ends too. A stage whose work
fails reports it once and drains the rest of its inbox unread, so the stage before it never
waits on a full pipe. (huggingface/speech-to-speech's handlers work this way.)
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable, Iterable, Iterator
from typing import Generic, TypeVar

log = logging.getLogger(__name__)

T = TypeVar("T")
U = TypeVar("U")


class _End:
    """The marker a closed pipe hands out last."""


_END = _End()


class Pipe(Generic[T]):
    """A queue that ends: `put` items, `close()`, and iterating yields them until the close.

    maxsize: items it holds before `put` waits (1: the stage before it works one item ahead).
    """

    def __init__(self, maxsize: int = 0) -> None:
        self._queue: queue.Queue[T | _End] = queue.Queue(maxsize)

    def put(self, item: T) -> None:
        """Hand on `item` (waits while the pipe is full)."""
        self._queue.put(item)

    def close(self) -> None:
        """No more items will come."""
        self._queue.put(_END)

    def __iter__(self) -> Iterator[T]:
        while not isinstance(item := self._queue.get(), _End):
            yield item


def start_stage(
    name: str,
    work: Callable[[T], Iterable[U]],
    inbox: Pipe[T],
    outbox: Pipe[U] | None = None,
    on_error: Callable[[Exception], None] = lambda _: None,
    on_end: Callable[[], None] = lambda: None,
) -> threading.Thread:
    """Start a daemon thread `name` that runs `work` on every item of `inbox` and puts what it
    yields in `outbox` (dropped when None).

    on_error: told the exception when `work` raises; the stage then reads its inbox to the
    end without working. on_end: runs once the inbox is closed, before the outbox is.
    """

    def run() -> None:
        try:
            items = iter(inbox)
            try:
                for item in items:
                    for result in work(item):
                        if outbox is not None:
                            outbox.put(result)
                on_end()
            except Exception as e:
                log.debug("%s failed", name, exc_info=True)
                on_error(e)
                for _ in items:
                    pass
        finally:
            if outbox is not None:
                outbox.close()

    thread = threading.Thread(target=run, name=name, daemon=True)
    thread.start()
    return thread
