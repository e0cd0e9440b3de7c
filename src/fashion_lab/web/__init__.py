"""``fashion-lab serve``: a local web page and JSON API to try a run's model on photos and drawings.

Three modules, lowest first:

- :mod:`fashion_lab.web.predictor`: the run's model loaded once, answering uploaded bytes and test images
  (no web framework; usable from scripts and benchmarks).
- :mod:`fashion_lab.web.app`: the Starlette application: the page, ``POST /api/predict``, ``GET /api/health``,
  ``GET /api/run``, ``GET /api/test-images``; upload limits and security headers.
- :mod:`fashion_lab.web.server`: binds the socket and runs uvicorn until Ctrl-C.

Nothing here is imported by ``import fashion_lab``; the web stack (the ``serve`` extra) is imported only
when a server is made.

Example:
    >>> from fashion_lab.web.server import serve
    >>> serve("runs/20261127-101500-fashion_mnist-h128", port=8000)  # doctest: +SKIP
    serving runs/20261127-101500-fashion_mnist-h128 (test accuracy 0.8706) at http://127.0.0.1:8000/
"""
