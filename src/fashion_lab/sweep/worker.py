"""A sweep worker: one process that claims trials from the study and trains them, until the sweep has its trials.

``fashion-lab sweep`` starts ``--workers K`` of these on its machine, each pinned to its share of the CPU
cores. The pinning happens first thing in :func:`main`, before JAX is imported: XLA on a CPU sizes its
thread pool from the cores the process may use (``OMP_NUM_THREADS`` and ``XLA_FLAGS`` do not limit it), so
two unpinned workers on two cores would each try to use both.

Run by hand (what ``fashion-lab sweep`` runs; the storage URL comes in the environment, so a password
never shows in ``ps``)::

    FASHION_LAB_SWEEP_STORAGE=sqlite:///sweeps/demo/study.db \\
        python -m fashion_lab.sweep.worker sweeps/demo --worker 0 --cpus 0

A worker started by a sweep dies with it (Linux's parent-death signal), so a killed sweep leaves no
worker behind; its unfinished trial is failed and retried when the sweep runs again.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import time
from pathlib import Path

STORAGE_ENV = "FASHION_LAB_SWEEP_STORAGE"
SETTINGS_FILE = "sweep.json"
WAIT_SECONDS = 1.0  # between looks at the study while the last trials run elsewhere


def pin_to_cores(cores: list[int]) -> None:
    """Let this process (and the threads it starts later) run only on ``cores``. Call before importing JAX."""
    if cores and hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, cores)


def die_with_parent(parent: int | None) -> None:
    """Ask Linux to kill this process when its parent dies (a SIGKILLed sweep takes its workers with it)."""
    if parent is None or not sys.platform.startswith("linux"):
        return
    import ctypes

    PR_SET_PDEATHSIG = 1
    try:
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    except OSError:
        return
    if os.getppid() != parent:  # the parent died before the request was in place
        os._exit(1)


def _parse(argv):
    p = argparse.ArgumentParser(prog="python -m fashion_lab.sweep.worker", description=__doc__.split("\n")[0])
    p.add_argument("folder", help="the sweep folder (holds sweep.json)")
    p.add_argument("--worker", type=int, default=0, help="this worker's number on its machine")
    p.add_argument("--cpus", default="", help="comma-separated CPU cores to run on (default: all allowed)")
    p.add_argument("--parent", type=int, help="die when this process (the sweep) dies")
    p.add_argument("--stream", type=int, default=0, help="the sampler's random stream for this worker")
    p.add_argument("--quiet", action="store_true", help="no line per trial")
    return p.parse_args(argv)


def main(argv=None) -> int:
    args = _parse(argv)
    pin_to_cores([int(c) for c in args.cpus.split(",") if c.strip()])  # before JAX starts its threads
    die_with_parent(args.parent)
    from ..errors import FashionLabError, TrainingInterrupted

    url = os.environ.get(STORAGE_ENV)
    try:
        if not url:
            raise FashionLabError(f"{STORAGE_ENV} is not set; start workers with fashion-lab sweep.")
        work(Path(args.folder), url, worker=args.worker, stream=args.stream, verbose=not args.quiet)
    except TrainingInterrupted as e:
        print(f"worker {args.worker}: {e}", file=sys.stderr, flush=True)
        return e.exit_code
    except FashionLabError as e:
        print(f"worker {args.worker}: {e}", file=sys.stderr, flush=True)
        return e.exit_code
    return 0


def read_settings(folder: Path):
    """The sweep's space, settings and study name, from ``sweep.json`` in its folder."""
    from ..runs import read_json
    from .space import SearchSpace
    from .study import SweepSettings

    record = read_json(folder / SETTINGS_FILE)
    return SearchSpace.from_dict(record["space"], source=str(folder / SETTINGS_FILE)), \
        SweepSettings(**record["settings"]), record["study"]


def work(folder: Path, url: str, *, worker: int = 0, stream: int = 0, verbose: bool = True) -> int:
    """Claim and train trials until the study has its trials; returns how many this worker finished."""
    from .._backend import keras
    from ..datasets import open_dataset
    from ..resources import freeze_startup_objects
    from .study import claim_trial, heartbeat, open_study

    space, settings, name = read_settings(folder)
    study, storage = open_study(url, name, settings, space, stream=stream * 1000 + worker)
    base = space.base_config()
    dataset = open_dataset(base.dataset, base.data_dir, verify=base.verify)  # once, for every trial
    keras()  # every trial needs it: its objects stay out of the garbage collection of each trial's clear_session
    freeze_startup_objects()
    done = 0
    while True:
        state, trial = claim_trial(study, storage, url, settings, worker)
        if state == "done":
            return done
        if state == "wait":
            time.sleep(WAIT_SECONDS)
            continue
        with heartbeat(study, storage, trial):
            run_trial(study, storage, trial, space, settings, dataset, folder, worker, verbose)
        done += 1


def _format_params(params: dict) -> str:
    def show(v):
        if isinstance(v, float):
            return f"{v:.4g}"
        return str(list(v)) if isinstance(v, tuple) else str(v)

    return ", ".join(f"{k} {show(v)}" for k, v in params.items())


def run_trial(study, storage, trial, space, settings, dataset, folder: Path, worker: int, verbose: bool = True) -> str:
    """Train one trial into ``folder/runs/trial-NNNN`` (test set held out) and tell the study how it went."""
    from optuna.trial import TrialState

    from .. import _atomic, runs
    from .._backend import keras
    from ..errors import ConfigError, TrainingDiverged, TrainingInterrupted
    from ..training import train
    from .pruning import ReportToTrial

    name = f"trial-{trial.number:04d}"
    params = space.suggest(trial)
    label = f"trial {trial.number} [worker {worker}]: {_format_params(params)}"
    say = (lambda text: print(text, flush=True)) if verbose else (lambda text: None)
    trial.set_user_attr("run", str(Path("runs") / name))

    def fail(reason: str) -> str:
        trial.set_user_attr("failure", reason)
        study.tell(trial, state=TrialState.FAIL)
        say(f"{label} -> failed: {reason}")
        return "fail"

    try:
        config = space.base_config(**params, run_dir=str(folder / "runs" / name), name=name)
    except ConfigError as e:
        return fail(f"these options do not go together: {e}")
    reporter = ReportToTrial(trial, settings.metric)
    keras().utils.clear_session()  # each trial's model starts from a clean graph and name scope
    start = time.perf_counter()
    try:
        run = train(config, callbacks=[reporter], dataset=dataset, verbose=False, test=False)
    except TrainingDiverged:
        return fail("training diverged (loss or weights became NaN or infinite)")
    except TrainingInterrupted:
        fail("interrupted")
        retry = storage.get_heartbeat_stale_trial_callback()
        if retry is not None:  # an interrupted trial is run again when the sweep continues
            retry(study, storage.get_trial(storage.get_trial_id_from_study_id_trial_number(
                storage.get_study_id_from_name(study.study_name), trial.number)))
        raise
    except Exception as e:  # noqa: BLE001 - one broken trial must not stop the sweep; it is recorded as failed
        import traceback

        traceback.print_exc()
        return fail(f"{type(e).__name__}: {e}")
    m = run.metrics
    value = m.get(f"validation_{settings.objective}")
    for key in ("validation_accuracy", "validation_loss", "train_accuracy", "train_loss", "epochs_run",
                "fit_seconds", "params"):
        if m.get(key) is not None:
            trial.set_user_attr(key, m[key])
    trial.set_user_attr("seconds", round(time.perf_counter() - start, 3))
    pruned = reporter.pruned_after is not None and reporter.pruned_after < config.epochs
    _atomic.write_json(run.dir / runs.METRICS, {**m, "sweep": {"study": study.study_name, "trial": trial.number,
                                                                "pruned": pruned}})
    shown = f"{settings.metric} {value:.4f}" if value is not None else "no validation metric"
    if pruned:
        from ..report import write_run_report

        write_run_report(run.dir)  # its findings say it was pruned
        study.tell(trial, state=TrialState.PRUNED)
        say(f"{label} -> pruned after epoch {reporter.pruned_after} ({shown})")
        return "pruned"
    if value is None:
        return fail(f"the run recorded no {settings.metric}")
    study.tell(trial, value)
    say(f"{label} -> {shown} ({m['epochs_run']} epochs, {m['fit_seconds']:.1f} s)")
    return "complete"


if __name__ == "__main__":
    sys.exit(main())
