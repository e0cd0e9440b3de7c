"""Gather requests that arrive together into one call: one model call for eight uploads instead of eight.

Predicting one image costs about as much as predicting a few thousand (the shared prediction path
runs a fixed-size, once-compiled chunk of 2,048 images), so a server that answers concurrent uploads
one by one wastes nearly all of its model time. :class:`Batcher` lets the first waiting thread run the
call for everything queued at that moment while the others wait for their own answer; with one client
at a time it adds nothing but a lock.

Example:
    >>> batcher = Batcher(lambda items: [x * 2 for x in items])
    >>> batcher.submit(21)
    42
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from typing import Generic, TypeVar

Item = TypeVar("Item")
Answer = TypeVar("Answer")


class _Slot:
    __slots__ = ("item", "answer", "error", "finished")

    def __init__(self, item):
        self.item, self.answer, self.error, self.finished = item, None, None, False


class Batcher(Generic[Item, Answer]):
    """Run ``call(items) -> answers`` (one answer per item, in order) on batches of concurrently submitted items.

    One batch runs at a time. A submitting thread waits while a batch runs; when none runs and its item
    is still waiting, it takes everything queued (up to ``max_batch``) and runs that batch itself.

    Args:
        call: the batched function.
        max_batch: the most items per call. Defaults to 64.
    """

    def __init__(self, call: Callable[[Sequence[Item]], Sequence[Answer]], *, max_batch: int = 64):
        self.call = call
        self.max_batch = max_batch
        self._cond = threading.Condition()
        self._queue: list[_Slot] = []
        self._running = False
        self.calls = 0  # how many batched calls were made (for tests and benchmarks)

    def submit(self, item: Item) -> Answer:
        """Queue ``item`` and return its answer (or raise the error its batch raised)."""
        slot = _Slot(item)
        with self._cond:
            self._queue.append(slot)
            while not slot.finished:
                if self._running:
                    self._cond.wait()
                    continue
                batch, self._queue = self._queue[:self.max_batch], self._queue[self.max_batch:]
                self._running = True
                self._cond.release()  # run the call without holding the lock, so others can queue
                try:
                    self._run(batch)
                finally:
                    self._cond.acquire()
                    self._running = False
                    for done in batch:
                        done.finished = True
                    self._cond.notify_all()
        if slot.error is not None:
            raise slot.error
        return slot.answer

    def _run(self, batch: list[_Slot]) -> None:
        try:
            answers = list(self.call([slot.item for slot in batch]))
            if len(answers) != len(batch):
                raise RuntimeError(f"batched call returned {len(answers)} answers for {len(batch)} items")
        except Exception as e:  # every waiter of this batch gets the error; none hangs
            for slot in batch:
                slot.error = e
            return
        self.calls += 1
        for slot, answer in zip(batch, answers):
            slot.answer = answer
