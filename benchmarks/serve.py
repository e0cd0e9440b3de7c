"""Benchmark: requests per second and p50/p95 latency of ``POST /api/predict`` for a 400x400 JPEG.

It starts ``fashion-lab serve RUN_DIR --port 0`` (access log off), sends a few warm-up requests, then for
each number of concurrent clients (default 1 and 8) sends ``--requests`` uploads, each client on its own
keep-alive connection, and measures every request's latency from send to the parsed JSON answer. The
clients run on the same machine as the server, so they share its cores; the load average before and after
is recorded beside the numbers. The picture is test image 0 (an ankle boot) as a phone photo would show it:
dark on white, 400x400, JPEG quality 90.

    .venv/bin/fashion-lab train --run-dir runs/seed            # the seed's model, if you have none
    nice -n 0 .venv/bin/python benchmarks/serve.py runs/seed   # writes benchmarks/results/serve.json
    .venv/bin/python benchmarks/serve.py runs/seed --requests 50 --clients 1 4   # quicker
"""

from __future__ import annotations

import argparse
import http.client
import io
import json
import os
import platform
import re
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path
from urllib.parse import urlsplit

from fashion_lab import _atomic, open_dataset

FASHION_LAB = str(Path(sys.executable).parent / "fashion-lab")
BOUNDARY = "fashionlabbenchmark"


def photo_jpeg(size: int = 400) -> bytes:
    """Test image 0 as a photo: dark garment on white, ``size`` x ``size``, JPEG quality 90."""
    from PIL import Image

    image = open_dataset("fashion_mnist").x_test[0]
    buffer = io.BytesIO()
    Image.fromarray(255 - image).resize((size, size), Image.Resampling.BICUBIC).save(buffer, "JPEG", quality=90)
    return buffer.getvalue()


def multipart(data: bytes, name: str = "photo.jpg") -> bytes:
    return (f"--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"image\"; filename=\"{name}\"\r\n"
            f"Content-Type: image/jpeg\r\n\r\n").encode() + data + f"\r\n--{BOUNDARY}--\r\n".encode()


def start_server(run_dir: str) -> tuple[subprocess.Popen, str]:
    process = subprocess.Popen([FASHION_LAB, "serve", run_dir, "--port", "0", "--no-access-log"],
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    lines = []
    for line in process.stdout:
        lines.append(line)
        match = re.search(r" at (http://\S+)", line)
        if match:
            threading.Thread(target=lambda: [None for _ in process.stdout], daemon=True).start()  # keep it drained
            return process, match.group(1)
    raise SystemExit("fashion-lab serve did not start:\n" + "".join(lines))


def client(url: str, body: bytes, count: int, latencies: list[float], errors: list[str]) -> None:
    """Send ``count`` uploads on one keep-alive connection, appending each latency in seconds."""
    parts = urlsplit(url)
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=60)
    headers = {"Content-Type": f"multipart/form-data; boundary={BOUNDARY}"}
    try:
        for _ in range(count):
            started = time.perf_counter()
            connection.request("POST", "/api/predict", body=body, headers=headers)
            response = connection.getresponse()
            answer = json.loads(response.read())
            latencies.append(time.perf_counter() - started)
            if response.status != 200:
                errors.append(f"{response.status}: {answer}")
    finally:
        connection.close()


def measure(url: str, body: bytes, clients: int, requests: int) -> dict:
    """``requests`` uploads spread over ``clients`` concurrent connections: throughput and latency percentiles."""
    latencies: list[float] = []
    errors: list[str] = []
    shares = [requests // clients + (i < requests % clients) for i in range(clients)]
    threads = [threading.Thread(target=client, args=(url, body, n, latencies, errors)) for n in shares]
    started = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    seconds = time.perf_counter() - started
    if errors:
        raise SystemExit(f"{len(errors)} requests failed, e.g. {errors[0]}")
    cuts = statistics.quantiles(latencies, n=100, method="inclusive")
    return {"clients": clients, "requests": len(latencies), "seconds": round(seconds, 3),
            "requests_per_second": round(len(latencies) / seconds, 1),
            "p50_ms": round(cuts[49] * 1000, 1), "p95_ms": round(cuts[94] * 1000, 1)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("run_dir", help="a folder made by fashion-lab train")
    parser.add_argument("--requests", type=int, default=400, help="uploads per setting (default: 400)")
    parser.add_argument("--clients", type=int, nargs="+", default=[1, 8], help="concurrent clients (default: 1 8)")
    parser.add_argument("--out", default=str(Path(__file__).parent / "results" / "serve.json"),
                        help="where to write the results (default: benchmarks/results/serve.json)")
    args = parser.parse_args(argv)

    body = multipart(photo_jpeg())
    load_before = os.getloadavg()
    process, url = start_server(args.run_dir)
    try:
        measure(url, body, 2, 20)  # warm-up: connections, threads, caches
        rows = [measure(url, body, clients, args.requests) for clients in args.clients]
    finally:
        process.terminate()
        process.wait(timeout=30)
    load_after = os.getloadavg()
    result = {
        "what": "POST /api/predict, one 400x400 JPEG (test image 0 as a photo), clients on the same machine",
        "command": " ".join([Path(sys.argv[0]).as_posix(), *sys.argv[1:]]) if argv is None else " ".join(argv),
        "jpeg_bytes": len(body), "rows": rows, "cpus": os.cpu_count(), "machine": platform.machine(),
        "python": platform.python_version(), "load_average_before": [round(x, 2) for x in load_before],
        "load_average_after": [round(x, 2) for x in load_after],
    }
    _atomic.write_json(args.out, result)
    print(f"{'clients':>7} {'requests':>8} {'req/s':>7} {'p50 ms':>7} {'p95 ms':>7}")
    for row in rows:
        print(f"{row['clients']:>7} {row['requests']:>8} {row['requests_per_second']:>7} {row['p50_ms']:>7} {row['p95_ms']:>7}")
    print(f"load average before {load_before[0]:.2f}, after {load_after[0]:.2f} ({os.cpu_count()} CPUs); wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
