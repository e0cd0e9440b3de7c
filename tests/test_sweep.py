"""Sweeps: the search space file, 2 local workers, 2 workers on a real PostgreSQL server, a killed sweep resumed.

The sweeps train the synthetic dataset (600 images) for one epoch per trial; every worker is a real
process that imports JAX, so these tests take seconds each, not milliseconds.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from fashion_lab import runs
from fashion_lab.errors import ConfigError
from fashion_lab.sweep import SearchSpace, SweepSettings, load_space, run_sweep
from fashion_lab.sweep.runner import core_shares

def _pg_tool(name: str) -> str | None:
    """A PostgreSQL program: Debian keeps them in /usr/lib/postgresql/<version>/bin (newest first), else PATH."""
    for folder in sorted(Path("/usr/lib/postgresql").glob("*/bin"), key=lambda p: int(p.parent.name) if p.parent.name.isdigit() else 0,
                         reverse=True):
        if (folder / name).is_file():
            return str(folder / name)
    return shutil.which(name)


# CI sets FASHION_LAB_REQUIRE_POSTGRES=1 so a missing PostgreSQL fails there instead of skipping.
REQUIRE_POSTGRES = bool(os.environ.get("FASHION_LAB_REQUIRE_POSTGRES"))
HAVE_POSTGRES = all(_pg_tool(n) for n in ("initdb", "pg_ctl", "createdb"))


def write_space(path: Path, data_dir: Path, extra_fixed: str = "", params: str | None = None) -> Path:
    path.write_text(f"""
[fixed]
epochs = 1
hidden = [16]
data_dir = "{data_dir}"
verify = false
{extra_fixed}

[params]
{params or 'learning_rate = { low = 1e-3, high = 3e-2, log = true }'}
""")
    return path


def finished_study(folder: Path, name: str, url: str | None = None):
    import optuna

    return optuna.load_study(study_name=name, storage=url or f"sqlite:///{folder / 'study.db'}")


def check_sweep(folder: Path, study, trials: int, workers: int, *, every_run_here: bool = True) -> None:
    """What a user checks: N trials finished, none run twice or lost, each a run directory, the best one complete."""
    from optuna.trial import TrialState

    finished = study.get_trials(states=(TrialState.COMPLETE, TrialState.PRUNED))
    assert len(finished) == trials
    assert not study.get_trials(states=(TrialState.RUNNING, TrialState.WAITING))
    numbers = [t.number for t in finished]
    assert len(set(numbers)) == trials
    dirs = [t.user_attrs["run"] for t in finished]
    assert len(set(dirs)) == trials
    assert all((folder / d / runs.METRICS).is_file() for d in dirs) or not every_run_here
    # every trial was trained on its worker's share of the cores
    shares = core_shares(workers)
    for t in finished:
        assert t.user_attrs["cpus"] == shares[t.user_attrs["worker"]]
    best = study.best_trial
    best_dir = folder / best.user_attrs["run"]
    for name in (runs.CONFIG, runs.HISTORY, runs.METRICS, runs.MODEL, runs.CURVES, runs.REPORT, runs.EVALUATION,
                 runs.CONFUSION):
        assert (best_dir / name).is_file(), name
    assert list((best_dir / "tensorboard" / "train").glob("events.out.tfevents.*"))
    metrics = json.loads((best_dir / runs.METRICS).read_text())
    assert 0 <= metrics["test_accuracy"] <= 1 and "test_held_out" not in metrics
    for t in finished:
        if t.number != best.number and (folder / t.user_attrs["run"]).is_dir():  # only the best trial saw the test set
            other = json.loads((folder / t.user_attrs["run"] / runs.METRICS).read_text())
            assert other["test_held_out"] is True and "test_accuracy" not in other
    results = json.loads((folder / "results.json").read_text())
    assert results["best"]["trial"] == best.number and results["test"]["trial"] == best.number
    lines = (folder / "results.csv").read_text().splitlines()
    assert lines[0].startswith("trial,state,value,learning_rate")
    assert sum(1 for line in lines[1:] if ",COMPLETE," in line or ",PRUNED," in line) == trials
    for plot in ("optimization_history.png", "parallel_coordinate.png"):
        assert (folder / plot).stat().st_size > 1000
    report = (folder / "report.html").read_text()
    assert "Best trial" in report and f"{results['test']['test_accuracy']:.4f}" in report


# --------------------------------------------------------------------------------------------------
# The search space


def test_space_from_toml_and_yaml_reads_the_same(tmp_path):
    (tmp_path / "s.toml").write_text("""
[fixed]
epochs = 3
[params]
hidden = { low = 32, high = 1024, log = true, layers = [1, 2] }
learning_rate = { low = 1e-4, high = 1e-2, log = true }
batch_size = { choices = [32, 64, 128] }
""")
    (tmp_path / "s.yaml").write_text("""
fixed: {epochs: 3}
params:
  hidden: {low: 32, high: 1024, log: true, layers: [1, 2]}
  learning_rate: {low: 1.0e-4, high: 1.0e-2, log: true}
  batch_size: {choices: [32, 64, 128]}
""")
    a, b = load_space(tmp_path / "s.toml"), load_space(tmp_path / "s.yaml")
    assert a.to_dict() == b.to_dict() and a.fingerprint() == b.fingerprint()
    assert a.base_config().validation_split == 0.1  # trials are compared on validation images by default


def test_space_suggests_valid_train_configs():
    import optuna

    space = SearchSpace.from_dict({"fixed": {"epochs": 2}, "params": {
        "hidden": {"low": 32, "high": 1024, "log": True, "layers": [1, 3]},
        "learning_rate": {"low": 1e-4, "high": 1e-2, "log": True},
        "batch_size": {"choices": [32, 64]}, "normalize": {"choices": [True, False]},
        "early_stopping": {"low": 1, "high": 3}}})
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    for _ in range(20):
        options = space.suggest(study.ask())
        config = space.base_config(**options)
        assert 1 <= len(config.hidden) <= 3 and all(32 <= h <= 1024 for h in config.hidden)
        assert 1e-4 <= config.learning_rate <= 1e-2 and config.batch_size in (32, 64)
        assert config.epochs == 2 and config.validation_split == 0.1


@pytest.mark.parametrize("params, message", [
    ({"learning_rate": {"low": -1, "high": 0.1}}, "learning rate must be a number > 0"),
    ({"epochs": {"low": 0, "high": 3}}, "epochs must be a positive integer, got 0"),
    ({"hiden": {"low": 1, "high": 3}}, "hiden is not a train option"),
    ({"run_dir": {"choices": ["a"]}}, "set by the sweep"),
    ({"dataset": {"choices": ["mnist", "fashion_mnist"]}}, "cannot be searched"),
    ({"learning_rate": 0.01}, "put it under [fixed]"),
    ({"learning_rate": {"low": 0.1, "high": 0.01}}, "needs low < high"),
    ({"normalize": {"low": 0, "high": 1}}, "choices = [true, false]"),
    ({"batch_size": {"low": 8.5, "high": 64}}, "must be a whole number"),
    ({"hidden": {"low": 8, "high": 64, "layers": 0}}, "layers must be a number of layers >= 1"),
], ids=["validator", "int-validator", "typo", "set-by-sweep", "dataset", "bare-value", "order", "bool-range",
        "int-float", "layers"])
def test_space_mistakes_are_explained(params, message):
    with pytest.raises(ConfigError) as e:
        SearchSpace.from_dict({"params": params})
    assert message in str(e.value)


def test_grid_needs_points_and_enough_of_them(tmp_path):
    space = SearchSpace.from_dict({"params": {"learning_rate": {"low": 1e-4, "high": 1e-2, "log": True}}})
    with pytest.raises(ConfigError, match="grid sampler needs points"):
        space.grid()
    grid = SearchSpace.from_dict({"params": {"hidden": {"choices": [[16], [32, 16]]},
                                             "batch_size": {"low": 32, "high": 96, "step": 32}}})
    assert grid.grid() == {"hidden": ["16", "32x16"], "batch_size": [32, 64, 96]} and grid.grid_size() == 6
    with pytest.raises(ConfigError, match="grid has 6 points, fewer than --trials 7"):
        run_sweep(grid, SweepSettings(trials=7, sampler="grid"), out=tmp_path / "g")


def test_settings_choose_sampler_pruner_and_direction():
    import optuna

    from fashion_lab.sweep.study import make_pruner, make_sampler

    space = SearchSpace.from_dict({"params": {"batch_size": {"choices": [32, 64]}}})
    assert isinstance(make_sampler(SweepSettings(trials=2), space), optuna.samplers.TPESampler)
    assert isinstance(make_sampler(SweepSettings(trials=2, sampler="random"), space), optuna.samplers.RandomSampler)
    assert isinstance(make_sampler(SweepSettings(trials=2, sampler="grid"), space), optuna.samplers.GridSampler)
    assert isinstance(make_pruner(SweepSettings(trials=2, pruner="halving")), optuna.pruners.SuccessiveHalvingPruner)
    loss = SweepSettings(trials=2, objective="loss")
    assert (loss.direction, loss.metric) == ("minimize", "val_loss")
    with pytest.raises(ConfigError, match="unknown sampler 'cmaes'; choose one of: tpe, random, grid"):
        SweepSettings(trials=2, sampler="cmaes")


def test_pruning_callback_reports_each_epoch_and_stops_a_hopeless_trial():
    import optuna

    from fashion_lab import build_model
    from fashion_lab.sweep.pruning import ReportToTrial

    study = optuna.create_study(direction="maximize", pruner=optuna.pruners.ThresholdPruner(lower=0.8))
    trial = study.ask()
    callback = ReportToTrial(trial, "val_accuracy")
    callback.set_model(build_model(hidden=[4]))
    callback.on_train_begin()
    callback.on_epoch_end(0, {"val_accuracy": 0.9})
    assert callback.pruned_after is None and not callback.model.stop_training
    callback.on_epoch_end(1, {"val_accuracy": 0.5})  # below the threshold: pruned after epoch 2
    assert callback.pruned_after == 2 and callback.model.stop_training
    assert study.trials[0].intermediate_values == {1: 0.9, 2: 0.5}


def test_core_shares_split_the_machine():
    assert core_shares(2, [0, 1]) == [[0], [1]]
    assert core_shares(2, [0, 1, 2, 3, 4]) == [[0, 1], [2, 3, 4]]
    assert core_shares(1, [3, 5]) == [[3, 5]]


# --------------------------------------------------------------------------------------------------
# Real sweeps


def test_sweep_with_two_local_workers(tmp_path, synthetic_dir):
    space = load_space(write_space(tmp_path / "tiny.toml", synthetic_dir))
    folder = tmp_path / "sweep"
    data = run_sweep(space, SweepSettings(trials=4, pruner="none"), out=folder, workers=2, verbose=False)
    study = finished_study(folder, "tiny")
    check_sweep(folder, study, trials=4, workers=2)
    assert data["counts"] == {"COMPLETE": 4}
    # fashion-lab report rebuilds the sweep's page from results.json
    from fashion_lab.rebuild import write_report

    (folder / "report.html").unlink()
    assert write_report(folder) == folder / "report.html" and "Best trial" in (folder / "report.html").read_text()
    # another space under the same study name is refused, not mixed in
    other = load_space(write_space(tmp_path / "tiny.toml", synthetic_dir, params="learning_rate = { low = 1e-4, high = 1e-3 }"))
    with pytest.raises(ConfigError, match="another search space"):
        run_sweep(other, SweepSettings(trials=4, pruner="none"), out=folder, verbose=False)


def _sweep_process(space: Path, folder: Path, trials: int, workers: int, storage: str | None = None):
    """The sweep as a user starts it: ``fashion-lab sweep ...`` in its own process (the same command each time)."""
    command = [sys.executable, "-m", "fashion_lab.cli", "sweep", "--space", str(space), "--trials", str(trials),
               "--workers", str(workers), "--out", str(folder), "--pruner", "none"]
    return subprocess.Popen([*command, *(["--storage", storage] if storage else [])], stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)


def test_killed_sweep_resumes_with_the_same_command(tmp_path, synthetic_dir):
    """SIGKILL of the sweep and of one worker mid-trial; the same command fails that trial, retries it once and
    finishes the requested number."""
    import optuna
    from optuna.trial import TrialState

    space = write_space(tmp_path / "slow.toml", synthetic_dir, extra_fixed="epochs = 40", params=(
        "learning_rate = { low = 1e-3, high = 3e-2, log = true }")).read_text().replace("epochs = 1\n", "")
    (tmp_path / "slow.toml").write_text(space)
    folder = tmp_path / "sweep"
    proc = _sweep_process(tmp_path / "slow.toml", folder, trials=3, workers=2)
    victim = None
    deadline = time.time() + 120
    while time.time() < deadline and victim is None and proc.poll() is None:
        time.sleep(0.5)
        if not (folder / "study.db").exists():
            continue
        try:
            running = optuna.load_study(study_name="slow", storage=f"sqlite:///{folder / 'study.db'}").get_trials(
                states=(TrialState.RUNNING,))
        except Exception:
            continue
        for t in running:  # mid-run: some epochs on disk
            history = folder / t.user_attrs.get("run", "-") / runs.HISTORY
            if history.is_file() and len(history.read_text().splitlines()) > 1:
                victim = t
    assert victim is not None, proc.communicate()[0] if proc.poll() is not None else "no trial started"
    os.kill(proc.pid, signal.SIGKILL)
    os.kill(victim.user_attrs["pid"], signal.SIGKILL)
    proc.wait()
    time.sleep(0.5)  # the other worker follows its parent (parent-death signal)
    rerun = _sweep_process(tmp_path / "slow.toml", folder, trials=3, workers=2)
    output = rerun.communicate(timeout=240)[0]
    assert rerun.returncode == 0, output
    study = finished_study(folder, "slow")
    check_sweep(folder, study, trials=3, workers=2)
    killed = study.trials[victim.number]
    assert killed.state == TrialState.FAIL  # not lost silently
    retries = [t for t in study.trials if t.system_attrs.get("failed_trial") == victim.number]
    assert len(retries) == 1 and retries[0].params == killed.params
    assert retries[0].state in (TrialState.COMPLETE, TrialState.PRUNED)


# --------------------------------------------------------------------------------------------------
# PostgreSQL: a throwaway cluster


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def postgres_url():
    """A PostgreSQL server of its own: initdb into a temporary folder, start on a free port, create a database;
    stopped and removed afterwards. As root, the server runs as the 'postgres' (or 'nobody') user, because
    initdb refuses root."""
    if not HAVE_POSTGRES:
        if REQUIRE_POSTGRES:
            pytest.fail("FASHION_LAB_REQUIRE_POSTGRES is set but PostgreSQL is not installed (apt-get install postgresql)")
        pytest.skip("PostgreSQL is not installed (apt-get install postgresql)")
    base = Path(tempfile.mkdtemp(prefix="fashion-lab-pg-"))
    prefix: list[str] = []
    if os.geteuid() == 0:
        import pwd

        user = next((u for u in ("postgres", "nobody") if _has_user(u)), None)
        assert user, "running as root needs a 'postgres' or 'nobody' user to run the server"
        entry = pwd.getpwnam(user)
        os.chown(base, entry.pw_uid, entry.pw_gid)
        base.chmod(0o700)
        prefix = ["runuser", "-u", user, "--"]
    data, port = base / "data", _free_port()
    run = lambda *cmd: subprocess.run([*prefix, *cmd], check=True, capture_output=True, text=True, cwd=base)  # noqa: E731
    run(_pg_tool("initdb"), "-D", str(data), "-U", "sweeper", "-A", "trust", "--no-sync")
    run(_pg_tool("pg_ctl"), "-D", str(data), "-l", str(base / "log"), "-w", "-o",
        f"-p {port} -k {base} -c listen_addresses=127.0.0.1 -c fsync=off", "start")
    try:
        run(_pg_tool("createdb"), "-h", "127.0.0.1", "-p", str(port), "-U", "sweeper", "sweeps")
        yield f"postgresql://sweeper@127.0.0.1:{port}/sweeps"
    finally:
        subprocess.run([*prefix, _pg_tool("pg_ctl"), "-D", str(data), "-m", "immediate", "stop"], capture_output=True,
                       cwd=base)
        shutil.rmtree(base, ignore_errors=True)


def _has_user(name: str) -> bool:
    import pwd

    try:
        pwd.getpwnam(name)
        return True
    except KeyError:
        return False


@pytest.mark.postgres
def test_two_workers_share_a_postgresql_study(tmp_path, synthetic_dir, postgres_url):
    """Two machines in miniature: two sweep commands with the same storage, one worker each, one study."""
    space = write_space(tmp_path / "shared.toml", synthetic_dir)
    a, b = tmp_path / "machine-a", tmp_path / "machine-b"
    procs = [_sweep_process(space, folder, trials=3, workers=1, storage=postgres_url) for folder in (a, b)]
    outputs = [p.communicate(timeout=240)[0] for p in procs]
    assert [p.returncode for p in procs] == [0, 0], "\n".join(outputs)
    from sqlalchemy.engine import make_url  # noqa: F401 - psycopg is the driver (postgresql+psycopg)
    from fashion_lab.sweep.study import driver_url

    study = finished_study(a, "shared", driver_url(postgres_url))
    from optuna.trial import TrialState

    finished = study.get_trials(states=(TrialState.COMPLETE, TrialState.PRUNED))
    assert len(finished) == 3 and len({t.number for t in finished}) == 3 and len(study.trials) == 3
    # each trial's run directory is on the machine that ran it, and nowhere else
    for t in finished:
        here = [f for f in (a, b) if (f / t.user_attrs["run"] / runs.METRICS).is_file()]
        assert len(here) == 1
    best_home = next(f for f in (a, b) if (f / study.best_trial.user_attrs["run"] / runs.MODEL).is_file())
    check_sweep(best_home, study, trials=3, workers=1, every_run_here=False)
