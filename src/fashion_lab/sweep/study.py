"""The Optuna side of a sweep: storage, sampler, pruner, and how workers claim trials without losing any.

Every worker process of every machine talks to one Optuna study in one storage (a SQLite file in the
sweep folder, or a PostgreSQL server that many machines reach). A worker claims a trial only while it
holds the study's lock (a file lock for SQLite, a PostgreSQL advisory lock for PostgreSQL), and only
when the trials finished or running are fewer than the ones asked for, so a sweep of N trials finishes
exactly N: none run twice, none are lost.

A trial whose worker dies is failed, not lost: each running trial's worker records a heartbeat, and a
trial whose heartbeat stopped for the grace period (or, on the same machine, whose worker process is
gone) is marked failed and queued again once (Optuna's ``RetryHeartbeatStaleTrialCallback``), with the
same parameters.

Example:
    >>> settings = SweepSettings(trials=4)
    >>> settings.direction, settings.metric
    ('maximize', 'val_accuracy')
    >>> storage_url("sweeps/demo")
    'sqlite:///sweeps/demo/study.db'
"""

from __future__ import annotations

import contextlib
import dataclasses
import fcntl
import hashlib
import os
import socket
import threading
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import ConfigError, RunError

SAMPLERS = ("tpe", "random", "grid")
PRUNERS = ("median", "halving", "none")
OBJECTIVES = ("accuracy", "loss")  # on the validation split
DB_FILE = "study.db"
MAX_RETRY = 1  # a trial whose worker died is run once more, with the same parameters


@dataclass(frozen=True)
class SweepSettings:
    """How a sweep searches: the settings every worker of a study must share (saved in ``sweep.json``).

    Args:
        trials: how many trials to finish (completed or pruned), across all workers and machines.
        sampler: ``tpe`` (default), ``random`` or ``grid``.
        pruner: stop hopeless trials after an epoch: ``median`` (default; below the median of earlier
            trials at that epoch), ``halving`` (successive halving) or ``none``.
        objective: ``accuracy`` (default; validation accuracy, maximised) or ``loss`` (validation loss, minimised).
        seed: the sampler's seed (each worker draws from its own stream). Defaults to 0.
        heartbeat_seconds: how often a running trial says it is alive. Defaults to 5.
        grace_seconds: a running trial silent this long is failed and retried once. Defaults to 30.
    """

    trials: int
    sampler: str = "tpe"
    pruner: str = "median"
    objective: str = "accuracy"
    seed: int = 0
    heartbeat_seconds: int = 5
    grace_seconds: int = 30

    def __post_init__(self) -> None:
        if isinstance(self.trials, bool) or not isinstance(self.trials, int) or self.trials <= 0:
            raise ConfigError(f"--trials must be a positive integer, got {self.trials!r}.")
        for name, value, valid in (("sampler", self.sampler, SAMPLERS), ("pruner", self.pruner, PRUNERS),
                                   ("objective", self.objective, OBJECTIVES)):
            if value not in valid:
                raise ConfigError(f"unknown {name} {value!r}; choose one of: {', '.join(valid)}.")
        if not (isinstance(self.heartbeat_seconds, int) and self.heartbeat_seconds >= 1
                and isinstance(self.grace_seconds, int) and self.grace_seconds > self.heartbeat_seconds):
            raise ConfigError(f"the heartbeat must be a whole number of seconds >= 1 and the grace period longer, "
                              f"got {self.heartbeat_seconds!r} and {self.grace_seconds!r}.")

    @property
    def metric(self) -> str:
        """The history column the trials are judged on: ``val_accuracy`` or ``val_loss``."""
        return f"val_{self.objective}"

    @property
    def direction(self) -> str:
        return "maximize" if self.objective == "accuracy" else "minimize"

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def storage_url(folder: str | os.PathLike[str]) -> str:
    """The default storage: a SQLite file in the sweep folder."""
    return f"sqlite:///{Path(folder) / DB_FILE}"


def shown_url(url: str) -> str:
    """The storage URL with any password replaced by ``***``, for files and messages."""
    from sqlalchemy.engine import make_url

    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:
        return url.split("://", 1)[0] + "://..."


def _optuna():
    try:
        import optuna
    except ImportError:
        raise ConfigError("fashion-lab sweep needs Optuna: pip install 'fashion-lab[sweep]' "
                          "(or make test, which installs it).") from None
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)
    # Heartbeats are recorded here around ask/tell (see heartbeat()), not only by Study.optimize.
    warnings.filterwarnings("ignore", message="Heartbeat of storage is supposed to be used with Study.optimize")
    return optuna


def driver_url(url: str) -> str:
    """``url`` with the PostgreSQL driver this package installs (psycopg 3) when it names none.

    Example:
        >>> driver_url("postgresql://me@db:5432/sweeps")
        'postgresql+psycopg://me@db:5432/sweeps'
    """
    for scheme in ("postgresql://", "postgres://"):
        if url.startswith(scheme):
            return "postgresql+psycopg://" + url[len(scheme):]
    return url


def open_storage(url: str, settings: SweepSettings):
    """Optuna's RDB storage at ``url`` with heartbeats, and failed trials retried once."""
    optuna = _optuna()
    engine: dict[str, Any] = {}
    if url.startswith("sqlite"):
        engine = {"connect_args": {"timeout": 60}}  # workers wait for each other's writes instead of failing
    elif url.startswith(("postgresql", "postgres")):
        engine = {"pool_pre_ping": True}
    for attempt in range(5):
        try:
            return optuna.storages.RDBStorage(
                driver_url(url), engine_kwargs=engine, heartbeat_interval=settings.heartbeat_seconds,
                grace_period=settings.grace_seconds,
                heartbeat_stale_trial_callback=optuna.storages.RetryHeartbeatStaleTrialCallback(max_retry=MAX_RETRY))
        except ImportError as e:
            raise ConfigError(f"storage {shown_url(url)} needs a database driver that is not installed ({e}); for "
                              f"PostgreSQL: pip install 'fashion-lab[sweep]' (psycopg).") from None
        except Exception as e:  # sqlalchemy's errors: a server that does not answer, a wrong password, a bad URL
            # Machines joining a new database at once race to create Optuna's tables; the loser finds them made.
            if type(e).__name__ == "IntegrityError" and attempt < 4:
                time.sleep(0.5 * (attempt + 1))
                continue
            raise ConfigError(f"cannot open the study storage {shown_url(url)}: {type(e).__name__}: "
                              f"{str(e).splitlines()[0] if str(e) else ''}. Check the URL (e.g. "
                              f"postgresql://user:password@host:5432/dbname) and that the server is running.") from None


def make_sampler(settings: SweepSettings, space, stream: int = 0):
    """The sampler: TPE, random, or grid over ``space``; ``stream`` gives each worker its own random draws."""
    optuna = _optuna()
    seed = settings.seed * 1009 + stream
    if settings.sampler == "grid":
        return optuna.samplers.GridSampler(space.grid(), seed=seed)
    if settings.sampler == "random":
        return optuna.samplers.RandomSampler(seed=seed)
    return optuna.samplers.TPESampler(seed=seed)


def make_pruner(settings: SweepSettings):
    optuna = _optuna()
    if settings.pruner == "median":
        return optuna.pruners.MedianPruner(n_startup_trials=3, n_warmup_steps=0)
    if settings.pruner == "halving":
        return optuna.pruners.SuccessiveHalvingPruner()
    return optuna.pruners.NopPruner()


def open_study(url: str, name: str, settings: SweepSettings, space, *, stream: int = 0, create: bool = False):
    """Load study ``name`` (create it when ``create``), with this worker's sampler and the pruner.

    Returns ``(study, storage)``: the storage also serves the heartbeats and the lock.
    """
    optuna = _optuna()
    storage = open_storage(url, settings)
    sampler, pruner = make_sampler(settings, space, stream), make_pruner(settings)
    if create:
        study = optuna.create_study(storage=storage, study_name=name, direction=settings.direction,
                                    sampler=sampler, pruner=pruner, load_if_exists=True)
        stored = study.user_attrs
        mine = {"space": space.fingerprint(), "settings": _shared(settings)}
        if not stored:
            for key, value in mine.items():
                study.set_user_attr(key, value)
        elif stored.get("space") != mine["space"] or stored.get("settings") != mine["settings"]:
            raise ConfigError(
                f"study {name!r} in {shown_url(url)} was started with another search space or other settings "
                f"({_difference(stored, mine)}); run it with the same space and options to continue it, or "
                f"start a new one with --study NEW_NAME.")
        return study, storage
    try:
        return optuna.load_study(study_name=name, storage=storage, sampler=sampler, pruner=pruner), storage
    except KeyError:
        raise RunError(f"study {name!r} does not exist in {shown_url(url)}; start it with fashion-lab sweep.") from None


def _shared(settings: SweepSettings) -> dict[str, Any]:
    """The settings that must agree between the processes and sessions of one study (not the trial count)."""
    return {k: v for k, v in settings.to_dict().items() if k not in ("trials", "heartbeat_seconds", "grace_seconds")}


def _difference(stored: dict, mine: dict) -> str:
    if stored.get("space") != mine["space"]:
        return "the search space differs"
    old, new = stored.get("settings", {}), mine["settings"]
    return ", ".join(f"{k}: {old.get(k)!r} then, {new[k]!r} now" for k in new if old.get(k) != new[k])


# --------------------------------------------------------------------------------------------------
# Claiming trials


def trial_counts(study) -> dict[str, int]:
    """How many of the study's trials are in each state: ``complete``, ``pruned``, ``fail``, ``running``, ``waiting``."""
    counts = {"complete": 0, "pruned": 0, "fail": 0, "running": 0, "waiting": 0}
    for trial in study.get_trials(deepcopy=False):
        name = trial.state.name.lower()
        counts[name] = counts.get(name, 0) + 1
    counts["finished"] = counts["complete"] + counts["pruned"]
    return counts


@contextlib.contextmanager
def study_lock(url: str, name: str, storage):
    """Held while a worker counts the trials and claims one, so two workers never claim the last one both.

    SQLite: a file lock next to the database. PostgreSQL: a session advisory lock on the study's name,
    which every machine's workers share. Other databases: no lock (a sweep may then finish a few trials
    more than asked, never fewer).
    """
    if url.startswith("sqlite:///"):
        path = Path(url[len("sqlite:///"):]).with_suffix(".lock")
        with open(path, "a") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)
    elif url.startswith(("postgresql", "postgres")):
        from sqlalchemy import text

        key = int.from_bytes(hashlib.sha256(f"fashion-lab sweep {name}".encode()).digest()[:8], "big", signed=True)
        with storage.engine.connect() as connection:
            connection.execute(text("SELECT pg_advisory_lock(:key)"), {"key": key})
            try:
                yield
            finally:
                connection.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": key})
    else:
        yield


def process_start(pid: int) -> str | None:
    """When process ``pid`` started (clock ticks since boot), or None when there is no such process.

    With the pid it names one process for good: a pid reused by a later process has another start time.
    """
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return stat.rsplit(")", 1)[1].split()[19]


def worker_identity(worker: int) -> dict[str, Any]:
    """What a claimed trial records about the worker running it (to find it dead later)."""
    pid = os.getpid()
    return {"host": socket.gethostname(), "pid": pid, "pid_start": process_start(pid), "worker": worker,
            "cpus": sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None}


def fail_dead_trials(study, storage, settings: SweepSettings) -> list[int]:
    """Fail the running trials whose worker is gone, and queue each once more; returns their numbers.

    Two checks: Optuna's heartbeat (a trial silent for the grace period, on any machine) and, on this
    machine, a worker process that no longer exists (found at once, without waiting for the grace period).
    """
    optuna = _optuna()
    from optuna.trial import TrialState

    before = {t.number for t in study.get_trials(deepcopy=False, states=(TrialState.FAIL,))}
    optuna.storages.fail_stale_trials(study)
    host = socket.gethostname()
    retry = storage.get_heartbeat_stale_trial_callback()
    for trial in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        attrs = trial.user_attrs
        if attrs.get("host") != host or "pid" not in attrs:
            continue
        if process_start(attrs["pid"]) == attrs.get("pid_start"):
            continue  # still running
        trial_id = storage.get_trial_id_from_study_id_trial_number(
            storage.get_study_id_from_name(study.study_name), trial.number)
        try:
            storage.set_trial_user_attr(trial_id, "failure", f"its worker (pid {attrs['pid']} on {host}) died")
            if not storage.set_trial_state_values(trial_id, state=TrialState.FAIL):
                continue
        except optuna.exceptions.UpdateFinishedTrialError:
            continue  # it finished after all, or another worker failed it first
        retry(study, storage.get_trial(trial_id))
    after = {t.number for t in study.get_trials(deepcopy=False, states=(TrialState.FAIL,))}
    return sorted(after - before)


def claim_trial(study, storage, url: str, settings: SweepSettings, worker: int):
    """Claim the next trial for this worker: ``("run", trial)``, ``("wait", None)`` or ``("done", None)``.

    ``wait``: the trials left are all running elsewhere; one of them may still fail and need a retry.
    """
    with study_lock(url, study.study_name, storage):
        fail_dead_trials(study, storage, settings)
        counts = trial_counts(study)
        if counts["finished"] >= settings.trials:
            return "done", None
        if counts["fail"] >= 2 * settings.trials + 2:
            raise RunError(f"{counts['fail']} trials of study {study.study_name!r} failed (and {counts['finished']} "
                           f"finished); the sweep stops here. See the trials' 'failure' in results.csv.")
        if counts["finished"] + counts["running"] >= settings.trials:
            return "wait", None
        trial = study.ask()
        for key, value in worker_identity(worker).items():
            trial.set_user_attr(key, value)
        trial.set_user_attr("claimed", time.time())
    return "run", trial


@contextlib.contextmanager
def heartbeat(study, storage, trial):
    """While the trial runs, record its heartbeat every ``heartbeat_interval`` seconds on a thread."""
    trial_id = storage.get_trial_id_from_study_id_trial_number(storage.get_study_id_from_name(study.study_name),
                                                               trial.number)
    interval = storage.get_heartbeat_interval()
    stop = threading.Event()

    def beat():
        while True:
            try:
                storage.record_heartbeat(trial_id)
            except Exception:  # a database hiccup: the next beat tries again
                pass
            if stop.wait(interval):
                return

    thread = threading.Thread(target=beat, name="fashion-lab-heartbeat", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()


__all__ = ["DB_FILE", "OBJECTIVES", "PRUNERS", "SAMPLERS", "SweepSettings", "claim_trial", "fail_dead_trials",
           "heartbeat", "open_storage", "open_study", "shown_url", "storage_url", "study_lock", "trial_counts"]
