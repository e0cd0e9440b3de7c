"""The web application: one offline page and a small JSON API over a :class:`RunPredictor`.

Routes:

- ``GET /``: the page (one HTML file, its script and style inline, nothing from any other host; the
  Content-Security-Policy forbids the browser from fetching anything but this server).
- ``POST /api/predict?top=N``: multipart form with the picture in the field ``image``. 200 with the fields
  of one entry of ``fashion-lab predict --json`` plus ``model_input`` (the 28x28 the model saw); 400 with
  ``{"source", "error"}`` when the picture cannot be read (the same message as ``fashion-lab predict``);
  413 when the request is over the upload limit; other 4xx as ``{"error": message}``.
- ``GET /api/health``: ``{"status": "ok", "run": ...}`` for scripts.
- ``GET /api/run``: the served run's config, classes and metrics.
- ``GET /api/test-images`` and ``GET /api/test-images/{index}?top=N``: test images to try, and their
  predictions with the true label.

Example:
    >>> app = create_app(RunPredictor("runs/20261127-101500-fashion_mnist-h128"))  # doctest: +SKIP
    >>> import uvicorn; uvicorn.run(app, port=8000)  # doctest: +SKIP
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import re
from importlib import resources

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile
from starlette.exceptions import HTTPException
from starlette.formparsers import MultiPartException, MultiPartParser
from starlette.requests import ClientDisconnect, Request
from starlette.responses import HTMLResponse, JSONResponse
from starlette.routing import Route

from .predictor import RunPredictor, answer

MAX_UPLOAD_BYTES = 10 * 1024 * 1024  # a phone photo is 2-6 MB; larger requests get 413 before they are parsed
DRAIN_BYTES = 16 * 1024 * 1024  # an upload up to this much over the limit is read (and dropped) before the 413
FIELD = "image"


def page_html() -> str:
    """The page, as shipped in ``fashion_lab/web/page.html``."""
    return resources.files(__package__).joinpath("page.html").read_text(encoding="utf-8")


def content_security_policy(page: str) -> str:
    """A policy that lets the page run only its own inline script and style and talk only to this server."""

    def hashes(tag: str) -> str:
        blocks = re.findall(rf"<{tag}>(.*?)</{tag}>", page, flags=re.S)
        return " ".join(f"'sha256-{base64.b64encode(hashlib.sha256(b.encode()).digest()).decode()}'" for b in blocks)

    return (f"default-src 'none'; script-src {hashes('script')}; style-src {hashes('style')}; "
            "img-src 'self' data: blob:; connect-src 'self'; form-action 'none'; base-uri 'none'; "
            "frame-ancestors 'none'")


def error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status)


def create_app(predictor: RunPredictor, *, max_upload_bytes: int = MAX_UPLOAD_BYTES) -> Starlette:
    """The Starlette app serving ``predictor``; the predictor's temporary folder is removed at shutdown.

    Args:
        predictor: the loaded run.
        max_upload_bytes: requests to ``/api/predict`` larger than this get 413. Defaults to 10 MiB.
    """
    page = page_html()
    headers = {"Content-Security-Policy": content_security_policy(page), "X-Content-Type-Options": "nosniff",
               "Referrer-Policy": "no-referrer", "Cache-Control": "no-store"}
    limit_mb = f"{max_upload_bytes / 2**20:g} MB"
    num_classes = len(predictor.classes)

    def top_of(request: Request) -> int | JSONResponse:
        text = request.query_params.get("top", "3")
        if not text.isdigit() or not 1 <= int(text) <= num_classes:
            return error(400, f"top must be a whole number from 1 to {num_classes}, got {text!r}")
        return int(text)

    async def index(request: Request) -> HTMLResponse:
        return HTMLResponse(page, headers=headers)

    async def health(request: Request) -> JSONResponse:
        return JSONResponse({"status": "ok", "run": predictor.run.dir.name}, headers=headers)

    async def run_info(request: Request) -> JSONResponse:
        return JSONResponse(predictor.summary(), headers=headers)

    async def test_images(request: Request) -> JSONResponse:
        return JSONResponse({"images": predictor.test_image_samples(), "note": predictor.test_images_error},
                            headers=headers)

    async def test_image(request: Request) -> JSONResponse:
        top = top_of(request)
        if isinstance(top, JSONResponse):
            return top
        try:
            prediction = await run_in_threadpool(predictor.predict_test_image, request.path_params["index"], top=top)
        except IndexError as e:
            return error(404, str(e))
        return JSONResponse(answer(prediction), headers=headers)

    async def predict(request: Request) -> JSONResponse:
        top = top_of(request)
        if isinstance(top, JSONResponse):
            return top
        chunks = request.stream()

        async def too_big(received: int) -> JSONResponse:
            # Read and drop the rest of a moderately large body first: a client still sending it would
            # otherwise hit a closed connection instead of reading this answer.
            with contextlib.suppress(ClientDisconnect):
                async for chunk in chunks:
                    received += len(chunk)
                    if received > max_upload_bytes + DRAIN_BYTES:
                        break
            return error(413, f"the upload is over the limit of {limit_mb}; scale the picture down "
                              f"(or start fashion-lab serve with a larger --max-upload-mb)")

        declared = request.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > max_upload_bytes:
            # Refused before it is parsed; a very large one before a byte of it is read.
            if int(declared) > max_upload_bytes + DRAIN_BYTES:
                return error(413, f"the upload ({int(declared) / 2**20:.0f} MB) is over the limit of {limit_mb}")
            return await too_big(0)
        example = f"for example: curl -F image=@shoe.jpg {request.base_url}api/predict"
        if not request.headers.get("content-type", "").startswith("multipart/form-data"):
            return error(400, f"send the picture as multipart/form-data in the field '{FIELD}'; {example}")
        body = bytearray()
        try:
            async for chunk in chunks:  # a chunked upload has no length: count it as it comes
                body += chunk
                if len(body) > max_upload_bytes:
                    return await too_big(len(body))
        except ClientDisconnect:
            return error(400, "the upload stopped before its end (the client disconnected)")

        async def stream():
            yield bytes(body)

        parser = MultiPartParser(request.headers, stream(), max_files=1, max_fields=10, max_part_size=max_upload_bytes)
        parser.spool_max_size = max_upload_bytes + 1  # keep the upload in memory: nothing on disk but our temp folder
        try:
            form = await parser.parse()
        except MultiPartException as e:
            return error(400, f"the upload is not a valid multipart form ({e}); {example}")
        try:
            upload = form.get(FIELD)
            if not isinstance(upload, UploadFile):
                return error(400, f"no file in the field '{FIELD}' (fields sent: {', '.join(form.keys()) or 'none'}); {example}")
            data = await upload.read()
        finally:
            await form.close()
        prediction = await run_in_threadpool(predictor.predict_bytes, data, upload.filename, top=top)
        return JSONResponse(answer(prediction), status_code=400 if prediction.error else 200, headers=headers)

    @contextlib.asynccontextmanager
    async def lifespan(app):
        try:
            yield
        finally:
            predictor.close()

    async def http_error(request: Request, exc: HTTPException) -> JSONResponse:
        routes = "GET /, POST /api/predict, GET /api/health, GET /api/run, GET /api/test-images[/N]"
        return error(exc.status_code, f"{request.method} {request.url.path}: {exc.detail}; this server has {routes}")

    return Starlette(exception_handlers={HTTPException: http_error}, routes=[
        Route("/", index),
        Route("/api/health", health),
        Route("/api/run", run_info),
        Route("/api/test-images", test_images),
        Route("/api/test-images/{index:int}", test_image),
        Route("/api/predict", predict, methods=["POST"]),
    ], lifespan=lifespan)
