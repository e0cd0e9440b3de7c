"""fashion-lab serve: the JSON API and the page, run as a user runs them (a real server on a free port, the
real data's 1-epoch model), and the page in a real headless Chromium."""

from __future__ import annotations

import io
import json
import os
import re
import shutil
import signal
import subprocess
import threading
import urllib.request
import zlib
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from fashion_lab.idx import parse_idx, read_file_bytes
from helpers import REAL_DIR
from trained import FASHION_LAB, one_epoch_run

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--no-first-run"]


def needs_browser(test):
    """Marks ``test`` as a browser test: skipped without Chromium, except in CI, which sets
    FASHION_LAB_REQUIRE_BROWSER=1 so that a missing Chromium fails there instead."""
    skip = pytest.mark.skipif(CHROMIUM is None and not os.environ.get("FASHION_LAB_REQUIRE_BROWSER"),
                              reason="Chromium is not installed (apt-get install chromium)")
    return pytest.mark.browser(skip(test))


pytestmark = pytest.mark.real_data


@dataclass
class Server:
    url: str
    temp: Path  # the server's TMPDIR
    process: subprocess.Popen
    output: list[str] = field(default_factory=list)


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    return one_epoch_run(tmp_path_factory)


@pytest.fixture(scope="module")
def server(trained, tmp_path_factory):
    """``fashion-lab serve RUN --port 0 --max-upload-mb 1`` with its own TMPDIR; its output is collected."""
    run, env = trained
    temp = tmp_path_factory.mktemp("server-tmp")
    process = subprocess.Popen([FASHION_LAB, "serve", str(run), "--port", "0", "--max-upload-mb", "1"],
                               env=dict(env, TMPDIR=str(temp)), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                               text=True)
    output: list[str] = []
    started = threading.Event()

    def read():  # keep the pipe drained for the server's whole life
        for line in process.stdout:
            output.append(line)
            if " at http://" in line:
                started.set()
        started.set()

    threading.Thread(target=read, daemon=True).start()
    started.wait(timeout=180)
    match = re.search(r" at (http://\S+)", "".join(output))
    if not match:
        process.kill()
        pytest.fail("fashion-lab serve did not start:\n" + "".join(output))
    yield Server(match.group(1), temp, process, output)
    if process.poll() is None:
        process.kill()
        process.wait()


@pytest.fixture(scope="module")
def pictures(tmp_path_factory):
    """Image files a user would send: test images as PNG (the first of each class), a 400x400 JPEG photo
    (dark garment on white), a text file, a truncated JPEG and a decompression bomb; and the true labels."""
    folder = tmp_path_factory.mktemp("pictures")
    images = parse_idx(read_file_bytes(REAL_DIR / "t10k-images-idx3-ubyte.gz"))
    labels = parse_idx(read_file_bytes(REAL_DIR / "t10k-labels-idx1-ubyte.gz"))
    truth = {}
    for label in range(10):
        index = int(np.flatnonzero(labels == label)[0])
        Image.fromarray(images[index]).save(folder / f"test-{index}.png")
        truth[f"test-{index}.png"] = label
    photo = Image.fromarray(255 - images[0]).resize((400, 400), Image.Resampling.BICUBIC).convert("RGB")
    photo.save(folder / "photo.jpg", quality=90)
    truth["photo.jpg"] = int(labels[0])
    (folder / "notes.txt").write_text("not a picture\n")
    data = (folder / "photo.jpg").read_bytes()
    (folder / "truncated.jpg").write_bytes(data[:len(data) // 2])
    (folder / "bomb.png").write_bytes(png_bomb(8000, 8000))
    return folder, truth


def png_bomb(width: int, height: int) -> bytes:
    """A real greyscale PNG of ``width`` x ``height`` black pixels: 64 megapixels in about 60 KB."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return len(data).to_bytes(4, "big") + kind + data + zlib.crc32(kind + data).to_bytes(4, "big")

    compressor, row, parts = zlib.compressobj(9), bytes(width + 1), []
    for _ in range(height):
        parts.append(compressor.compress(row))
    parts.append(compressor.flush())
    header = width.to_bytes(4, "big") + height.to_bytes(4, "big") + bytes([8, 0, 0, 0, 0])
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", b"".join(parts)) + chunk(b"IEND", b"")


def post(url: str, name: str, data: bytes, *, chunked: bool = False) -> tuple[int, dict]:
    """POST ``data`` as the multipart field ``image`` named ``name``; returns (status, JSON answer)."""
    boundary = "fashionlabtestboundary"
    body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"image\"; filename=\"{name}\"\r\n"
            f"Content-Type: application/octet-stream\r\n\r\n").encode() + data + f"\r\n--{boundary}--\r\n".encode()
    payload = iter([body[i:i + 65536] for i in range(0, len(body), 65536)]) if chunked else body
    headers = {"Content-Type": f"multipart/form-data; boundary={boundary}"}
    if chunked:
        headers["Transfer-Encoding"] = "chunked"
    request = urllib.request.Request(url + "api/predict", data=payload, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


def get(url: str) -> tuple[int, dict]:
    try:
        with urllib.request.urlopen(url, timeout=60) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


@pytest.fixture(scope="module")
def cli_answers(trained, pictures):
    """What ``fashion-lab predict RUN FILES --json`` says about every picture, by file name (run in the
    pictures' folder, so its messages name the files as the server's do)."""
    run, env = trained
    folder, _ = pictures
    names = sorted(p.name for p in folder.iterdir())
    done = subprocess.run([FASHION_LAB, "predict", str(run), *names, "--json"], cwd=folder, env=env,
                          capture_output=True, text=True, timeout=300)
    return {entry["source"]: entry for entry in json.loads(done.stdout)["predictions"]}


def without_input(answer: dict) -> dict:
    return {k: v for k, v in answer.items() if k != "model_input"}


def test_health_and_run(server):
    assert get(server.url + "api/health") == (200, {"status": "ok", "run": "run"})
    status, info = get(server.url + "api/run")
    assert status == 200 and info["config"]["epochs"] == 1 and 0.7 < info["metrics"]["test_accuracy"] < 1


def test_a_good_picture_gets_the_same_answer_as_predict(server, pictures, cli_answers):
    folder, truth = pictures
    status, answer = post(server.url, "photo.jpg", (folder / "photo.jpg").read_bytes())
    assert status == 200
    assert without_input(answer) == cli_answers["photo.jpg"]
    assert answer["class_name"] == "Ankle boot" and answer["label"] == truth["photo.jpg"]
    seen = np.array(answer["model_input"])
    assert seen.shape == (28, 28) and seen.max() > 200 and seen[0].max() == 0  # a light boot on black


def test_ten_concurrent_requests_are_all_answered_as_predict_answers(server, pictures, cli_answers):
    folder, _ = pictures
    names = sorted(p.name for p in folder.glob("test-*.png"))
    assert len(names) == 10
    with ThreadPoolExecutor(10) as pool:
        results = list(pool.map(lambda n: post(server.url, n, (folder / n).read_bytes()), names))
    for name, (status, answer) in zip(names, results):
        assert status == 200, answer
        assert without_input(answer) == cli_answers[name]
    assert len({answer["class_name"] for _, answer in results}) >= 8  # ten classes, mostly told apart


@pytest.mark.parametrize("name", ["notes.txt", "truncated.jpg", "bomb.png"])
def test_unreadable_pictures_get_400_with_predicts_message(server, pictures, cli_answers, name):
    folder, _ = pictures
    status, answer = post(server.url, name, (folder / name).read_bytes())
    assert status == 400
    assert answer == cli_answers[name] and answer["error"].startswith(name)
    assert {"notes.txt": "is not an image", "truncated.jpg": "truncated", "bomb.png": "megapixels"}[name] in answer["error"]


@pytest.mark.parametrize("chunked", [False, True], ids=["with-length", "chunked"])
@pytest.mark.parametrize("size", [1_200_000, 6_000_000], ids=["1.2MB", "6MB"])
def test_an_upload_over_the_limit_gets_413(server, chunked, size):
    for _ in range(3):  # the answer must reach a client that is still sending, every time
        status, answer = post(server.url, "big.png", os.urandom(size), chunked=chunked)
        assert status == 413 and "over the limit of 1 MB" in answer["error"]


def test_requests_that_are_not_a_picture_upload_get_clear_4xx(server):
    request = urllib.request.Request(server.url + "api/predict", data=b"{}", method="POST",
                                     headers={"Content-Type": "application/json"})
    with pytest.raises(urllib.error.HTTPError) as e:
        urllib.request.urlopen(request, timeout=30)
    assert e.value.code == 400 and "multipart/form-data in the field 'image'" in json.loads(e.value.read())["error"]
    status, answer = get(server.url + "api/test-images/10000")
    assert status == 404 and "test image 10000 does not exist; give an index from 0 to 9999" in answer["error"]
    status, answer = get(server.url + "api/predict")
    assert status == 405 and "GET /api/predict: Method Not Allowed; this server has" in answer["error"]
    status, answer = get(server.url + "api/test-images/0?top=10")
    assert status == 200 and answer["true_class"] == "Ankle boot" and len(answer["top"]) == 10


def test_the_server_still_answers_and_kept_no_upload(server, pictures):
    folder, _ = pictures
    assert get(server.url + "api/health")[0] == 200
    assert post(server.url, "photo.jpg", (folder / "photo.jpg").read_bytes())[0] == 200
    [own] = list(server.temp.iterdir())  # the server's one temporary folder, and nothing in it
    assert own.name.startswith("fashion-lab-serve-") and list(own.iterdir()) == []


@pytest.fixture(scope="module")
def browser_visit(server, pictures, cli_answers, tmp_path_factory):
    """Open the page in headless Chromium, upload a test image's PNG (the first one the one-epoch model gets
    right), draw a stroke, try a test image; record what the page showed and every request it made."""
    assert CHROMIUM, "FASHION_LAB_REQUIRE_BROWSER is set but Chromium is not installed (apt-get install chromium)"
    from playwright.sync_api import sync_playwright

    folder, truth = pictures
    upload = next(n for n in sorted(truth, key=lambda n: int(n[5:-4]) if n.startswith("test-") else -1)
                  if n.startswith("test-") and cli_answers[n]["label"] == truth[n])
    seen: dict = {"requests": [], "uploaded": upload}
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1100, "height": 900})
            page.on("request", lambda r: seen["requests"].append(r.url))
            page.goto(server.url)
            page.wait_for_selector("body[data-ready=yes]", timeout=30_000)
            seen["run"] = page.text_content("#run")
            page.set_input_files("#file", str(folder / upload))
            page.wait_for_selector(f'body[data-source="{upload}"][data-state=answered]', timeout=30_000)
            seen["upload"] = page.text_content("#answer")
            seen["model_input"] = np.asarray(Image.open(io.BytesIO(page.locator("#seen").screenshot())).convert("L"))
            box = page.locator("#canvas").bounding_box()
            page.mouse.move(box["x"] + 140, box["y"] + 40)
            page.mouse.down()
            for step in range(1, 21):
                page.mouse.move(box["x"] + 140, box["y"] + 40 + 10 * step)
            page.mouse.up()
            page.wait_for_selector('body[data-source="drawing.png"][data-state=answered]', timeout=30_000)
            seen["drawing"] = page.text_content("#answer")
            seen["drawing_bars"] = page.locator("#bars .bar").count()
            page.locator("#samples button").first.click()
            page.wait_for_selector('body[data-source*="test["]', timeout=30_000)
            seen["sample_truth"] = page.text_content("#truth")
            page.screenshot(path=str(tmp_path_factory.mktemp("shots") / "page.png"))
        finally:
            browser.close()
    return seen


@needs_browser
def test_page_in_chromium_predicts_an_upload_and_a_drawing(browser_visit, pictures, cli_answers):
    _, truth = pictures
    expected = cli_answers[browser_visit["uploaded"]]
    assert expected["label"] == truth[browser_visit["uploaded"]]  # the model gets this test image right...
    assert browser_visit["upload"].startswith(expected["class_name"] + " ")  # ...and the page shows it
    # The 28x28 the model saw, drawn on the page (enlarged, with rounded corners): the uploaded test image itself,
    # since a 28x28 dataset-style picture is taken as it is.
    folder, _ = pictures
    shown = browser_visit["model_input"]
    assert shown.shape[0] >= 28
    drawn = np.asarray(Image.fromarray(shown).resize((28, 28), Image.Resampling.BOX), np.float64)
    original = np.asarray(Image.open(folder / browser_visit["uploaded"]), np.float64)
    inner = (slice(3, -3), slice(3, -3))  # away from the rounded corners
    assert np.corrcoef(drawn[inner].ravel(), original[inner].ravel())[0, 1] > 0.9
    assert "test accuracy" in browser_visit["run"]
    assert re.fullmatch(r".+ \d+\.\d%", browser_visit["drawing"]) and browser_visit["drawing_bars"] == 5
    assert browser_visit["sample_truth"].startswith("true label: T-shirt/top")


@needs_browser
def test_the_page_makes_no_request_to_any_host_but_the_server(browser_visit, server):
    requests = browser_visit["requests"]
    assert {server.url, server.url + "api/run", server.url + "api/predict?top=5"} <= set(requests)
    foreign = [url for url in requests if not url.startswith((server.url, "blob:" + server.url.rstrip("/"), "data:"))]
    assert foreign == []


def test_ctrl_c_stops_the_server_cleanly_and_removes_its_temporary_folder(server):
    server.process.send_signal(signal.SIGINT)
    assert server.process.wait(timeout=30) == 0
    output = "".join(server.output)
    assert output.rstrip().endswith("stopped") and "Traceback" not in output
    assert list(server.temp.iterdir()) == []
