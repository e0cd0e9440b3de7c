"""Run a sweep: create or continue the study, start the local workers, wait for them, write the results.

The same call on any number of machines, all given one ``storage`` (PostgreSQL), joins one study: each
machine's workers claim trials from it until the study has ``trials`` finished ones, then each machine
writes the results it can see. Run again after a crash, Ctrl-C or ``kill -9``, the same call continues:
finished trials are kept, the trials that were running are failed and queued once more.

Example:
    >>> from fashion_lab.sweep import SweepSettings, load_space, run_sweep
    >>> result = run_sweep(load_space("space.toml"), SweepSettings(trials=20), workers=2)  # doctest: +SKIP
    >>> result["best"]["options"], result["test"]["test_accuracy"]  # doctest: +SKIP
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from .. import _atomic
from ..errors import ConfigError, RunError, TrainingInterrupted
from .space import SearchSpace
from .study import SweepSettings, open_study, shown_url, storage_url, trial_counts
from .worker import SETTINGS_FILE, STORAGE_ENV

SWEEPS_ROOT = "sweeps"


def core_shares(workers: int, cores: list[int] | None = None) -> list[list[int]]:
    """Split the cores this process may use between ``workers``: contiguous shares, or one core each, shared
    round-robin, when there are more workers than cores.

    Example:
        >>> core_shares(2, [0, 1, 2, 3]), core_shares(3, [0, 1])
        ([[0, 1], [2, 3]], [[0], [1], [0]])
    """
    cores = sorted(cores if cores is not None else os.sched_getaffinity(0))
    if workers >= len(cores):
        return [[cores[i % len(cores)]] for i in range(workers)]
    return [cores[i * len(cores) // workers:(i + 1) * len(cores) // workers] for i in range(workers)]


def sweep_folder(study: str, out: str | os.PathLike[str] | None = None) -> Path:
    """Where a sweep writes: ``out``, else ``sweeps/<study>`` (the same for the same command, so it can continue)."""
    return Path(out) if out is not None else Path(SWEEPS_ROOT) / study


def _prepare_folder(folder: Path, url: str, default_storage: bool) -> None:
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise RunError(f"cannot create the sweep folder {folder}: {e.strerror or e}; choose another with --out.") from None
    if not os.access(folder, os.W_OK):
        raise RunError(f"the sweep folder {folder} is not writable; choose another with --out.")
    trials = folder / "runs"
    if default_storage and not (folder / "study.db").exists() and trials.is_dir() and any(trials.iterdir()):
        raise RunError(f"{folder} holds trial runs but no study.db, so they cannot be continued; move them away "
                       f"or choose another --out.")


def run_sweep(space: SearchSpace, settings: SweepSettings, *, study: str | None = None,
              out: str | os.PathLike[str] | None = None, storage: str | None = None, workers: int = 1,
              verbose: bool = True) -> dict[str, Any]:
    """Run (or continue) a sweep and write its folder; returns the results (as in ``results.json``).

    Args:
        space: what to search (:func:`~fashion_lab.sweep.load_space`).
        settings: trials, sampler, pruner, objective, seed (:class:`~fashion_lab.sweep.SweepSettings`).
        study: the study's name. Defaults to the space file's name without its extension.
        out: the sweep folder. Defaults to ``sweeps/<study>``.
        storage: an Optuna storage URL shared by every worker (``postgresql://user:pw@host/db``). Defaults to
            the SQLite file ``<folder>/study.db``.
        workers: worker processes to start on this machine, each pinned to its share of the cores. Defaults to 1.
        verbose: print one line per trial and the findings. Defaults to True.
    """
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
        raise ConfigError(f"--workers must be a positive integer, got {workers!r}.")
    name = study or (Path(space.source).stem if space.source else "sweep")
    folder = sweep_folder(name, out)
    url = storage or storage_url(folder)
    _prepare_folder(folder, url, default_storage=storage is None)
    if settings.sampler == "grid" and settings.trials > space.grid_size():
        raise ConfigError(f"the grid has {space.grid_size()} points, fewer than --trials {settings.trials}; "
                          f"pass --trials {space.grid_size()} or fewer, or widen the grid.")
    say = (lambda *a: print(*a, flush=True)) if verbose else (lambda *a: None)
    optuna_study, _ = open_study(url, name, settings, space, create=True)
    previous = _read_record(folder)
    session = previous.get("session", 0) + 1
    _atomic.write_json(folder / SETTINGS_FILE, {
        "study": name, "storage": shown_url(url), "space": space.to_dict(), "settings": settings.to_dict(),
        "session": session, "workers": workers})
    counts = trial_counts(optuna_study)
    start = time.perf_counter()
    if counts["finished"] < settings.trials:
        say(f"sweep {name}: {counts['finished']} of {settings.trials} trials finished"
            + (f", continuing (session {session})" if counts["finished"] or counts["running"] or counts["fail"] else "")
            + f"; {workers} worker{'s' if workers != 1 else ''}; storage {shown_url(url)}; writing {folder}")
        for line in space.describe():
            say(f"  {line}")
        _run_workers(folder, url, workers, session, verbose)
        counts = trial_counts(optuna_study)
        if counts["finished"] < settings.trials:
            raise RunError(f"the workers stopped with {counts['finished']} of {settings.trials} trials finished "
                           f"(see their messages above); run the same command again to continue.")
    else:
        say(f"sweep {name}: all {settings.trials} trials already finished; writing the results again")
    from .results import write_results

    elapsed = previous.get("elapsed_seconds", 0.0) + time.perf_counter() - start
    data = write_results(folder, optuna_study, space, settings, workers=workers, elapsed=elapsed, storage=shown_url(url))
    _atomic.write_json(folder / SETTINGS_FILE, {**_read_record(folder), "elapsed_seconds": round(elapsed, 2)})
    for finding in data["findings"]:
        say(f"finding: {finding}")
    say(f"report: {folder / 'report.html'}")
    return data


def _read_record(folder: Path) -> dict[str, Any]:
    from ..runs import read_json

    path = folder / SETTINGS_FILE
    return read_json(path) if path.is_file() else {}


def _run_workers(folder: Path, url: str, workers: int, session: int, verbose: bool) -> None:
    """Start the workers (each pinned to its cores), wait for them; Ctrl-C or SIGTERM stops them all."""
    env = {**os.environ, STORAGE_ENV: url}
    procs = []
    for i, cores in enumerate(core_shares(workers)):
        command = [sys.executable, "-m", "fashion_lab.sweep.worker", str(folder), "--worker", str(i),
                   "--cpus", ",".join(map(str, cores)), "--parent", str(os.getpid()), "--stream", str(session),
                   *([] if verbose else ["--quiet"])]
        procs.append(subprocess.Popen(command, env=env))

    def stop(signum, frame):
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, stop)
    try:
        codes = [p.wait() for p in procs]
    except KeyboardInterrupt:
        for p in procs:
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)  # each worker keeps its finished epochs and fails its trial for a retry
        for p in procs:
            try:
                p.wait(timeout=60)
            except subprocess.TimeoutExpired:
                p.kill()
        raise TrainingInterrupted(f"sweep interrupted; finished trials are kept in {folder}. Continue with the same "
                                  f"command: the interrupted trials run again.") from None
    finally:
        signal.signal(signal.SIGTERM, previous)
    failed = [(i, c) for i, c in enumerate(codes) if c != 0]
    if failed and len(failed) == len(codes):
        raise RunError(f"every worker stopped with an error (exit codes {[c for _, c in failed]}); see their messages above.")


__all__ = ["core_shares", "run_sweep", "sweep_folder"]
