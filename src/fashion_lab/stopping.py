"""Ctrl-C and SIGTERM stop a run promptly, at any point, and never lose a finished epoch.

While :func:`stop_on_signals` is active, SIGINT and SIGTERM raise ``KeyboardInterrupt`` in the main
thread, so training abandons the current epoch and keeps the finished ones (see
:mod:`fashion_lab.recording`). Python runs a signal handler only between bytecodes, though: while the
main thread is inside one long call into compiled code (XLA compiling a huge network, a giant
allocation), the handler waits, and the process would ignore the signal for minutes. A watchdog thread,
woken by the signal itself (:func:`signal.set_wakeup_fd`), gives the main thread a moment to act; when
it does not, it calls ``on_stuck`` (which records what can be recorded: every run file is written
atomically, so nothing on disk is half-written) and ends the process with exit code 130.

Example:
    >>> request = StopRequest()
    >>> with stop_on_signals(request):
    ...     pass  # training goes here; Ctrl-C raises KeyboardInterrupt inside the block
    >>> request.signum is None
    True
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import sys
import threading
from collections.abc import Callable, Iterator

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)
GRACE_SECONDS = 3.0  # how long the main thread has to take the signal before the watchdog acts
CLEANUP_SECONDS = 10.0  # how long the main thread has, once it took the signal, to finish its cleanup


class StopRequest:
    """Remembers a SIGINT/SIGTERM that arrived during training, and raises ``KeyboardInterrupt`` for it.

    The signal handler raises at once, which abandons the current epoch wherever Python is. But Python
    ignores an exception raised inside a garbage-collector callback (JAX runs one), so the request is
    also remembered, and :meth:`check` raises it at the next epoch boundary: a signal is never lost.

    Example:
        >>> request = StopRequest()
        >>> request.check()  # no signal: nothing happens
    """

    def __init__(self):
        self.signum: int | None = None

    def check(self) -> None:
        """Raise ``KeyboardInterrupt`` when a stop signal arrived and has not been acted on."""
        if self.signum is not None:
            raise KeyboardInterrupt(f"signal {self.signum}")

    def handler(self, signum, frame):
        self.signum = signum
        raise KeyboardInterrupt(f"signal {signum}")


@contextlib.contextmanager
def stop_on_signals(request: StopRequest, *, on_stuck: Callable[[], str | None] | None = None,
                    grace: float = GRACE_SECONDS, cleanup: float = CLEANUP_SECONDS) -> Iterator[StopRequest]:
    """Route SIGINT/SIGTERM to ``request`` inside the block, with a watchdog for a main thread stuck in C.

    Args:
        request: receives the signal (its handler raises ``KeyboardInterrupt``).
        on_stuck: called by the watchdog before it ends the process; may return a line to print
            (what was kept). Defaults to None.
        grace: seconds the main thread has to take the signal. Defaults to 3.
        cleanup: seconds it then has to leave the block. Defaults to 10.

    Outside the main thread (where Python cannot install handlers) the block runs unguarded.
    """
    if threading.current_thread() is not threading.main_thread():
        yield request
        return
    reader, writer = socket.socketpair()
    writer.setblocking(False)
    left = threading.Event()
    previous = {signum: signal.signal(signum, request.handler) for signum in STOP_SIGNALS}
    previous_fd = signal.set_wakeup_fd(writer.fileno(), warn_on_full_buffer=False)
    watchdog = threading.Thread(target=_watch, args=(reader, request, left, on_stuck, grace, cleanup),
                                name="fashion-lab-stop-watchdog", daemon=True)
    watchdog.start()
    try:
        yield request
    finally:
        left.set()
        signal.set_wakeup_fd(previous_fd)
        for signum, handler in previous.items():
            signal.signal(signum, handler)
        writer.close()  # wakes the watchdog, which sees the block has been left
        watchdog.join(timeout=1.0)
        reader.close()


def _watch(reader: socket.socket, request: StopRequest, left: threading.Event,
           on_stuck: Callable[[], str | None] | None, grace: float, cleanup: float) -> None:
    while True:
        try:
            data = reader.recv(1)
        except OSError:
            return
        if not data or left.is_set():
            return
        if data[0] not in STOP_SIGNALS:
            continue
        if left.wait(grace):
            return
        if request.signum is not None and left.wait(cleanup):  # it took the signal: let it finish cleaning up
            return
        note = None
        if on_stuck is not None:
            try:
                note = on_stuck()
            except Exception as e:  # the process ends either way; say what could not be recorded
                note = f"could not record the interruption ({type(e).__name__}: {e})"
        busy = "busy in compiled code" if request.signum is None else "still cleaning up"
        print(f"fashion-lab: stopped by signal {data[0]} while {busy}" + (f"; {note}" if note else ""),
              file=sys.stderr, flush=True)
        os._exit(130)
