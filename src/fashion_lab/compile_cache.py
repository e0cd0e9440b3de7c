"""A persistent cache of XLA's compiled programs, made safe to keep: a second run skips compilation.

Most of a short ``fashion-lab train`` outside its epochs is XLA compiling: the epoch, the evaluation, and
every small eager operation Keras runs while it builds a model. JAX can keep compiled programs on disk
(its "persistent compilation cache"), but its own file store writes entries in place (a killed process
can leave a truncated entry that fails on every later run) and is shared by whatever reads the folder.
:class:`AtomicFileCache` is the store fashion-lab gives JAX instead:

- entries live in the user's cache (``~/.cache/fashion-lab/xla``, or ``FASHION_LAB_CACHE``), in a
  folder keyed by the JAX, jaxlib and Keras versions and by the CPU (model name and instruction-set
  flags), so another CPU or library version never reads an entry it did not write;
- each entry is written to a temporary file and renamed into place, and carries a SHA-256 of its
  payload: a truncated or damaged entry is a miss (deleted, then replaced by the fresh compilation);
- the folder is capped (:data:`MAX_BYTES`; least recently used entries go first);
- when JAX cannot load this machine's entries at all (seen on some AVX-512 CPUs, jax-ml/jax#38445) the
  cache says so once and turns itself off for that folder;
- ``fashion-lab --no-compile-cache ...`` or ``FASHION_LAB_COMPILE_CACHE=0`` turn it off.

Example:
    >>> import tempfile
    >>> cache = AtomicFileCache(tempfile.mkdtemp())
    >>> cache.put("key", b"compiled program")
    >>> cache.get("key"), cache.get("other")
    (b'compiled program', None)
"""

from __future__ import annotations

import hashlib
import os
import platform
import threading
import warnings
from pathlib import Path

from . import _atomic

MAX_BYTES = 512 * 2**20  # the folder's cap; the seed's runs need about 10 MB
MAGIC = b"FLXC1\n"
DIGEST = 32
ENV = "FASHION_LAB_COMPILE_CACHE"
_REJECTED = "rejected.txt"  # written when JAX could not load this folder's entries: the cache stays off
_READ_ERROR = "Error reading persistent compilation cache entry"

_state = {"enabled": None, "folder": None}
_lock = threading.Lock()


def enabled_by_user() -> bool:
    """False when ``FASHION_LAB_COMPILE_CACHE`` says 0/no/off (``--no-compile-cache`` sets it)."""
    return os.environ.get(ENV, "1").strip().lower() not in ("0", "no", "off", "false")


def machine_key() -> str:
    """A short hash of what decides whether a compiled program runs here: library versions and the CPU."""
    from importlib import metadata

    parts = [platform.machine(), platform.system()]
    for dist in ("jax", "jaxlib", "keras"):
        try:
            parts.append(f"{dist}={metadata.version(dist)}")
        except metadata.PackageNotFoundError:
            parts.append(f"{dist}=?")
    try:
        with open("/proc/cpuinfo") as f:
            wanted = {"model name", "flags", "Features", "CPU implementer", "CPU part"}
            seen = {}
            for line in f:
                name, _, value = line.partition(":")
                name = name.strip()
                if name in wanted and name not in seen:
                    seen[name] = value.strip()
        parts += [f"{k}={v}" for k, v in sorted(seen.items())]
    except OSError:
        parts.append(platform.processor())
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()[:16]


def cache_folder() -> Path:
    """This machine's folder: ``<FASHION_LAB_CACHE or ~/.cache/fashion-lab>/xla/<machine key>``."""
    base = os.environ.get("FASHION_LAB_CACHE") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "fashion-lab")
    return Path(base) / "xla" / machine_key()


class AtomicFileCache:
    """JAX's cache interface (``get``/``put``) over one folder: atomic writes, checksummed entries, a size cap.

    Args:
        folder: where the entries live (created).
        max_bytes: the cap; least recently read entries are removed past it. Defaults to :data:`MAX_BYTES`.
    """

    def __init__(self, folder: str | os.PathLike[str], max_bytes: int = MAX_BYTES):
        self._path = Path(folder)  # JAX reads `_path` for its log lines
        self._path.mkdir(parents=True, exist_ok=True)
        self.max_bytes = max_bytes

    def _entry(self, key: str) -> Path:
        if not key or "/" in key or key.startswith("."):
            raise ValueError(f"not a cache key: {key!r}")
        return self._path / f"{key}.xla"

    def get(self, key: str) -> bytes | None:
        path = self._entry(key)
        try:
            data = path.read_bytes()
        except OSError:
            return None
        payload = data[len(MAGIC) + DIGEST:]
        if not data.startswith(MAGIC) or hashlib.sha256(payload).digest() != data[len(MAGIC):len(MAGIC) + DIGEST]:
            path.unlink(missing_ok=True)  # truncated or damaged: a miss, replaced by the next put
            return None
        try:
            os.utime(path)  # the least recently used go first when the folder is full
        except OSError:
            pass
        return payload

    def put(self, key: str, value: bytes) -> None:
        if len(value) > self.max_bytes:
            return
        _atomic.write_bytes(self._entry(key), MAGIC + hashlib.sha256(value).digest() + value)
        self._evict()

    def clear(self) -> None:
        for path in self._path.glob("*.xla"):
            path.unlink(missing_ok=True)

    def _evict(self) -> None:
        entries = []
        for path in self._path.glob("*.xla"):
            try:
                stat = path.stat()
            except OSError:
                continue
            entries.append((stat.st_mtime, stat.st_size, path))
        total = sum(size for _, size, _ in entries)
        for _, size, path in sorted(entries):
            if total <= self.max_bytes:
                break
            path.unlink(missing_ok=True)
            total -= size


def enable() -> Path | None:
    """Give JAX the cache, once per process, before anything compiles; returns its folder, or None when off.

    Off when the user turned it off, when this folder's entries were found unreadable before, or when
    JAX's internals are not the ones this was written for (then JAX compiles as usual).
    """
    with _lock:
        if _state["enabled"] is not None:
            return _state["folder"]
        _state["enabled"] = False
        if not enabled_by_user():
            return None
        folder = cache_folder()
        if (folder / _REJECTED).exists():
            return None
        try:
            import jax
            from jax._src import compilation_cache as jax_cache

            cache = AtomicFileCache(folder)
            jax.config.update("jax_compilation_cache_dir", str(folder))
            jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)
            jax.config.update("jax_persistent_cache_min_entry_size_bytes", -1)
            with jax_cache._cache_initialized_mutex:
                if jax_cache._cache is not None or jax_cache._cache_initialized:
                    return None  # someone else configured JAX's cache in this process: leave it
                jax_cache._cache = cache
                jax_cache._cache_initialized = True
        except (ImportError, AttributeError, OSError) as e:
            warnings.warn(f"compilation cache not used ({type(e).__name__}: {e})", stacklevel=2)
            return None
        _watch_for_unreadable_entries(folder)
        _state.update(enabled=True, folder=folder)
        return folder


def _watch_for_unreadable_entries(folder: Path) -> None:
    """When JAX warns that it could not load an entry, turn the cache off for this folder (once, said once)."""
    original = warnings.showwarning

    def showwarning(message, category, filename, lineno, file=None, line=None):
        if str(message).startswith(_READ_ERROR):
            if not (folder / _REJECTED).exists():
                try:
                    _atomic.write_text(folder / _REJECTED, f"{message}\n")
                except OSError:
                    pass
                original(f"fashion-lab's compilation cache in {folder} cannot be loaded on this machine ({message}); "
                         f"it is turned off here (delete {folder / _REJECTED} to try again).",
                         category, filename, lineno, file, line)
            return
        original(message, category, filename, lineno, file, line)

    warnings.showwarning = showwarning
