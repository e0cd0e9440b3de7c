"""fashion-lab's compilation cache: entries written atomically, damaged ones replaced, shared safely, capped."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from fashion_lab.compile_cache import MAGIC, AtomicFileCache, machine_key

EXE = str(Path(sys.executable).parent / "fashion-lab")


def test_round_trip_and_a_damaged_entry_is_a_miss_that_gets_replaced(tmp_path):
    cache = AtomicFileCache(tmp_path)
    cache.put("k1", b"program one" * 100)
    assert cache.get("k1") == b"program one" * 100
    entry = tmp_path / "k1.xla"
    entry.write_bytes(entry.read_bytes()[:50])  # truncated, as a killed writer of an in-place store leaves it
    assert cache.get("k1") is None and not entry.exists()
    cache.put("k1", b"program one, compiled again")
    assert cache.get("k1") == b"program one, compiled again"
    entry.write_bytes(MAGIC + b"\0" * 32 + b"garbage")  # right header, wrong checksum
    assert cache.get("k1") is None
    assert not list(tmp_path.glob(".*tmp*")), "no temporary files are left behind"


def test_the_folder_is_capped_least_recently_used_first(tmp_path):
    cache = AtomicFileCache(tmp_path, max_bytes=3 * 1100)
    for i in range(3):
        cache.put(f"k{i}", bytes(1000))
        os.utime(tmp_path / f"k{i}.xla", (1000 + i, 1000 + i))
    cache.get("k0")  # read again: now the most recently used
    cache.put("k3", bytes(1000))
    assert cache.get("k1") is None  # the least recently used went
    assert all(cache.get(k) is not None for k in ("k0", "k2", "k3"))


def test_keys_that_are_not_file_names_are_refused(tmp_path):
    with pytest.raises(ValueError):
        AtomicFileCache(tmp_path).put("../escape", b"x")


_WRITER = r'''
import sys
from fashion_lab.compile_cache import AtomicFileCache
cache = AtomicFileCache(sys.argv[1])
for round in range(40):
    for key in range(20):
        cache.put(f"key{key}", (sys.argv[2] * 5000).encode() + bytes([round]))
'''


def test_two_processes_filling_the_cache_at_once_leave_only_whole_entries(tmp_path):
    writers = [subprocess.Popen([sys.executable, "-c", _WRITER, str(tmp_path), tag]) for tag in "ab"]
    for w in writers:
        assert w.wait(timeout=300) == 0
    cache = AtomicFileCache(tmp_path)
    for key in range(20):
        value = cache.get(f"key{key}")
        assert value is not None and value[:5000] in (b"a" * 5000, b"b" * 5000) and len(value) == 5001


def _train(tmp_path, data_dir, cache_dir, *extra):
    env = {**os.environ, "FASHION_LAB_CACHE": str(cache_dir)}
    return subprocess.run([EXE, *extra, "train", "--data-dir", str(data_dir), "--no-verify", "--epochs", "1",
                           "--hidden", "16", "--quiet", "--run-dir", str(tmp_path / f"run{len(list(tmp_path.iterdir()))}")],
                          env=env, capture_output=True, text=True, timeout=600)


def test_a_run_with_damaged_entries_still_works_and_repairs_them(tmp_path, synthetic_dir):
    cache_dir, runs_dir = tmp_path / "cache", tmp_path / "runs"
    runs_dir.mkdir()
    first = _train(runs_dir, synthetic_dir, cache_dir)
    assert first.returncode == 0, first.stderr
    folder = cache_dir / "xla" / machine_key()
    entries = sorted(folder.glob("*.xla"))
    assert entries, "the first run filled the cache"
    for entry in entries:
        entry.write_bytes(entry.read_bytes()[: len(entry.read_bytes()) // 2])
    second = _train(runs_dir, synthetic_dir, cache_dir)
    assert second.returncode == 0, second.stderr
    assert "Error reading persistent compilation cache" not in second.stderr
    cache = AtomicFileCache(folder)
    assert all(cache.get(e.name[:-4]) is not None for e in entries), "damaged entries were compiled again and replaced"
    third = _train(runs_dir, synthetic_dir, cache_dir)
    assert third.returncode == 0 and third.stdout.split("test accuracy")[1][:8] == first.stdout.split("test accuracy")[1][:8]


def test_no_compile_cache_writes_nothing(tmp_path, synthetic_dir):
    cache_dir, runs_dir = tmp_path / "cache", tmp_path / "runs"
    runs_dir.mkdir()
    done = _train(runs_dir, synthetic_dir, cache_dir, "--no-compile-cache")
    assert done.returncode == 0, done.stderr
    assert not list(cache_dir.glob("xla/*/*.xla"))


def test_a_folder_whose_entries_jax_could_not_load_stays_off(tmp_path):
    code = ("from fashion_lab import compile_cache as c; import os; "
            "f = c.cache_folder(); f.mkdir(parents=True); (f / 'rejected.txt').write_text('x'); "
            "print(c.enable())")
    env = {**os.environ, "FASHION_LAB_CACHE": str(tmp_path)}
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    assert done.stdout.strip() == "None"


def test_when_jax_cannot_load_this_machines_entries_the_cache_turns_itself_off_once(tmp_path):
    """jax-ml/jax#38445: on some CPUs every entry is rejected with a warning; say it once, then stay off."""
    code = ("import warnings; from fashion_lab import compile_cache as c; folder = c.enable(); "
            "[warnings.warn('Error reading persistent compilation cache entry for jit_f: XlaRuntimeError: bad') "
            " for _ in range(3)]; print(folder is not None, (folder / 'rejected.txt').exists())")
    env = {**os.environ, "FASHION_LAB_CACHE": str(tmp_path)}
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    assert done.stdout.split() == ["True", "True"], done.stderr
    assert done.stderr.count("cannot be loaded on this machine") == 1
