"""The web server's batcher: concurrent submissions share calls, each gets its own answer or error."""

from __future__ import annotations

import threading
import time

import pytest

from fashion_lab.web.batching import Batcher


def test_concurrent_items_are_answered_in_shared_calls():
    sizes = []

    def call(items):
        sizes.append(len(items))
        time.sleep(0.02)  # long enough for the other threads to queue behind the first call
        return [item * 2 for item in items]

    batcher = Batcher(call, max_batch=16)
    answers = {}
    threads = [threading.Thread(target=lambda i=i: answers.__setitem__(i, batcher.submit(i))) for i in range(40)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert answers == {i: 2 * i for i in range(40)}
    assert sum(sizes) == 40 and max(sizes) <= 16 and len(sizes) < 40 and batcher.calls == len(sizes)


def test_an_error_reaches_every_waiter_of_its_batch_and_the_batcher_keeps_working():
    def call(items):
        if "bad" in items:
            raise ValueError("bad item")
        return [item.upper() for item in items]

    batcher = Batcher(call)
    with pytest.raises(ValueError, match="bad item"):
        batcher.submit("bad")
    assert batcher.submit("ok") == "OK"


def test_a_call_that_returns_the_wrong_number_of_answers_is_an_error():
    with pytest.raises(RuntimeError, match="returned 0 answers for 1 items"):
        Batcher(lambda items: []).submit(1)
