"""Run the web app: check the run and the address first, then uvicorn until Ctrl-C.

Everything that can be the user's mistake is found before the server starts, as a typed error
(exit code 2 from the CLI): a missing or damaged run folder, a model the safe loader refuses, a port
in use, an unknown host, or the ``serve`` extra not installed.

Example:
    >>> serve("runs/20261127-101500-fashion_mnist-h128", host="127.0.0.1", port=0)  # doctest: +SKIP
    serving runs/20261127-101500-fashion_mnist-h128 (test accuracy 0.8706) at http://127.0.0.1:41823/
"""

from __future__ import annotations

import errno
import logging
import os
import socket
from collections.abc import Callable

from ..errors import ConfigError
from ..extras import require_extra

DEFAULT_HOST = "127.0.0.1"  # this machine only; --host 0.0.0.0 opens it to the network
DEFAULT_PORT = 8000
LOCAL_HOSTS = ("127.0.0.1", "localhost", "::1")


def bind(host: str, port: int) -> socket.socket:
    """A listening socket on ``host``:``port`` (port 0: any free port).

    Raises:
        ConfigError: the port is in use or not allowed, or the host is not an address of this machine.
    """
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror as e:
        raise ConfigError(f"--host {host!r} is not a known host name or address ({e.strerror}); "
                          f"use {DEFAULT_HOST} (this machine only) or 0.0.0.0 (every network interface)") from None
    family, _, _, _, address = infos[0]
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
        sock.listen(128)
    except OSError as e:
        sock.close()
        if e.errno == errno.EADDRINUSE:
            raise ConfigError(f"port {port} on {host} is already in use; choose another with --port "
                              f"(--port 0 picks a free one)") from None
        if e.errno == errno.EACCES:
            raise ConfigError(f"port {port} needs administrator rights; choose one from 1024 up with --port") from None
        raise ConfigError(f"cannot listen on {host}:{port} ({e.strerror}); choose another --host or --port") from None
    sock.set_inheritable(True)
    return sock


def url_of(sock: socket.socket) -> str:
    """The page's address for a bound socket (IPv6 hosts in brackets)."""
    host, port = sock.getsockname()[:2]
    return f"http://[{host}]:{port}/" if ":" in host else f"http://{host}:{port}/"


def serve(run_dir: str | os.PathLike[str], host: str = DEFAULT_HOST, port: int = DEFAULT_PORT, *,
          max_upload_mb: float = 10.0, access_log: bool = True, say: Callable[[str], None] | None = None) -> None:
    """Serve a run's model at ``http://host:port/`` until Ctrl-C (or SIGTERM); then clean up and return.

    Args:
        run_dir: a folder made by ``fashion-lab train``.
        host: the address to listen on. Defaults to 127.0.0.1 (this machine only).
        port: the port; 0 picks a free one (the address is printed). Defaults to 8000.
        max_upload_mb: uploads larger than this get 413. Defaults to 10.
        access_log: print one line per request. Defaults to True.
        say: where the start and stop lines go. Defaults to printing to stdout.

    Raises:
        DependencyError: the ``serve`` extra is not installed.
        RunError, ModelError: the run folder is missing or damaged, or its model is refused.
        ConfigError: the host or port cannot be used.
    """
    say = say or (lambda line: print(line, flush=True))
    require_extra("serve", "fashion-lab serve")
    from .predictor import RunPredictor

    sock = bind(host, port)  # a port in use is found before the model is loaded
    try:
        predictor = RunPredictor(run_dir)
    except BaseException:
        sock.close()
        raise
    import uvicorn

    from .app import create_app

    app = create_app(predictor, max_upload_bytes=int(max_upload_mb * 2**20))
    config = uvicorn.Config(app, log_level="warning", access_log=access_log, timeout_graceful_shutdown=5)
    if access_log:  # one line per request, without uvicorn's start-up chatter
        logging.getLogger("uvicorn.access").setLevel(logging.INFO)
    server = uvicorn.Server(config)
    accuracy = predictor.run.metrics.get("test_accuracy")
    about = f" (test accuracy {accuracy:.4f})" if isinstance(accuracy, (int, float)) else ""
    say(f"serving {run_dir}{about} at {url_of(sock)}")
    if host not in LOCAL_HOSTS:
        say(f"note: --host {host} makes the page reachable from other machines on the network")
    say("press Ctrl-C to stop")
    try:
        server.run(sockets=[sock])
    except KeyboardInterrupt:  # uvicorn shut down cleanly, then re-raised the Ctrl-C it caught
        pass
    finally:
        sock.close()
        predictor.close()
    say("stopped")
