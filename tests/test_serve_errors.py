"""fashion-lab serve and export: user mistakes found before any server starts or file is written, and the
page's offline guarantees (fast: no model is trained here)."""

from __future__ import annotations

import base64
import hashlib
import json
import re
import socket
import subprocess
import sys

import numpy as np
import pytest

from fashion_lab.cli import main
from fashion_lab.export import compare
from fashion_lab.web.app import content_security_policy, page_html
from fashion_lab.web.predictor import safe_filename


@pytest.mark.parametrize("damage", ["missing", "no-config", "bad-config", "no-model"])
def test_serve_refuses_a_missing_or_damaged_run_before_starting(tmp_path, capsys, damage):
    run = tmp_path / "run"
    if damage != "missing":
        run.mkdir()
    if damage == "bad-config":
        (run / "config.json").write_text("{")
    if damage == "no-model":
        (run / "config.json").write_text(json.dumps({"config": {"epochs": 1}}))
    assert main(["serve", str(run), "--port", "0"]) == 2
    err = capsys.readouterr().err
    expected = {"missing": "does not exist", "no-config": "is not a run directory", "bad-config": "is damaged",
                "no-model": "has no model.keras"}[damage]
    assert err.startswith("fashion-lab serve: error: ") and expected in err and "Traceback" not in err


def test_serve_refuses_a_port_in_use(tmp_path, capsys):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        assert main(["serve", str(tmp_path), "--port", str(port)]) == 2
    assert f"port {port} on 127.0.0.1 is already in use; choose another with --port" in capsys.readouterr().err


def test_serve_and_export_check_their_options(capsys):
    with pytest.raises(SystemExit) as e:
        main(["serve", "runs/x", "--port", "70000"])
    assert e.value.code == 2 and "must be a whole number from 0 to 65535" in capsys.readouterr().err
    with pytest.raises(SystemExit) as e:
        main(["export", "runs/x", "--format", "tflite"])
    assert e.value.code == 2 and "invalid choice: 'tflite'" in capsys.readouterr().err


def test_export_refuses_a_missing_run(tmp_path, capsys):
    assert main(["export", str(tmp_path / "nope")]) == 2
    assert "does not exist" in capsys.readouterr().err and not (tmp_path / "nope").exists()


def test_the_cli_starts_without_the_web_or_onnx_stack():
    code = ("import sys, fashion_lab.cli; fashion_lab.cli.build_parser(); "
            "print(sorted(m for m in ('starlette', 'uvicorn', 'onnx', 'onnxruntime', 'jax2onnx', 'keras') if m in sys.modules))")
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip() == "[]"


def test_uploaded_names_never_become_paths():
    assert safe_filename("../../etc/passwd") == "passwd"
    assert safe_filename("C:\\Users\\me\\my shoe (1).JPG") == "my_shoe_1_.JPG"
    assert safe_filename("..") == safe_filename(None) == safe_filename("/") == "upload"
    assert len(safe_filename("a" * 500 + ".png")) == 100


def test_the_page_loads_nothing_from_anywhere_and_its_policy_allows_only_its_own_code():
    page = page_html()
    assert not re.search(r"""(src|href)=["'](https?:)?//""", page) and "@import" not in page and "url(" not in page
    assert "http://" not in page and "https://" not in page
    policy = content_security_policy(page)
    [script] = re.findall(r"<script>(.*?)</script>", page, flags=re.S)
    digest = base64.b64encode(hashlib.sha256(script.encode()).digest()).decode()
    assert f"script-src 'sha256-{digest}';" in policy
    assert "default-src 'none'" in policy and "connect-src 'self'" in policy and "unsafe" not in policy


def test_compare_counts_real_disagreements_not_near_ties():
    keras = np.array([[0.7, 0.2, 0.1], [0.5, 0.49999, 0.00001], [0.1, 0.6, 0.3]])
    onnx = np.array([[0.7, 0.2, 0.1], [0.49998, 0.50001, 0.00001], [0.1, 0.3, 0.6]])
    difference, identical, disagreements = compare(keras, onnx)
    assert difference == pytest.approx(0.3) and identical == 1 and disagreements == 1


@pytest.mark.parametrize("command", ["serve", "export"])
def test_a_missing_extra_is_named_with_how_to_install_it(tmp_path, capsys, monkeypatch, command):
    from fashion_lab import extras

    extra = {"serve": "serve", "export": "onnx"}[command]
    monkeypatch.setitem(extras.EXTRAS, extra, (*extras.EXTRAS[extra], "no_such_module"))
    assert main([command, str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert f"fashion-lab {command} needs no-such-module, which is not installed; " in err
    assert f"pip install 'fashion-lab[{extra}]'" in err
