"""Same-shape models trained together (one compiled program over their stacked states) equal the same
models trained one by one: weights, optimizer state and every epoch of history, each run's own."""

from __future__ import annotations

import json

import numpy as np
import pytest

from fashion_lab import ConfigError, TrainConfig, build_model, train, train_together
from fashion_lab._backend import keras
from fashion_lab.errors import TrainingDiverged
from fashion_lab.training import together_groups

# Tolerance for "the same numbers": on the machines this was measured on, the stacked program gives
# bit-identical results (XLA runs each model's matrix products with the same kernels in the same order);
# a float32 rounding step or two of slack keeps the test about the computation, not about XLA's choice
# of kernel for a batched product on another CPU.
SAME = {"rtol": 1e-5, "atol": 1e-6}
SEEDS, RATES = (3, 4, 4), (1e-3, 3e-3, 1e-3)  # different seeds, different learning rates, and one of each kind


@pytest.fixture(scope="module")
def images():
    rng = np.random.default_rng(0)
    x = rng.random((700, 28, 28), dtype=np.float32)
    y = (x[:, :4, :].mean(axis=(1, 2)) * 30).astype(np.int32) % 10  # learnable enough to move
    return x, y


def _models():
    models = []
    for seed, rate in zip(SEEDS, RATES):
        keras().utils.set_random_seed(seed)
        models.append(build_model((16,), learning_rate=rate))
    return models


def _assert_same_model(ours, theirs):
    for a, b in zip(ours.get_weights(), theirs.get_weights()):
        np.testing.assert_allclose(a, b, **SAME)
    for a, b in zip(ours.optimizer.variables, theirs.optimizer.variables):
        np.testing.assert_allclose(np.asarray(a.value), np.asarray(b.value), **SAME)


def test_fit_many_equals_fit_one_by_one_with_own_split_and_validation(images):
    """Seeds and learning rates differ, each model fits its own subset and is validated on its own rest."""
    from fashion_lab import _fastfit

    x, y = images
    rng = np.random.default_rng(1)
    splits = [np.sort(rng.permutation(len(x))) for _ in SEEDS]
    fit_idx, val_idx = [s[:630] for s in splits], [s[630:] for s in splits]  # 630 = 9 batches of 64 and one of 54
    alone, together = _models(), _models()
    expected = [_fastfit.fit(m, x[f], y[f], epochs=3, batch_size=64, seed=s, validation_data=(x[v], y[v])).history
                for m, s, f, v in zip(alone, SEEDS, fit_idx, val_idx)]
    assert _fastfit.why_not_together(together, x, y, 64, indices=fit_idx) is None
    histories = _fastfit.fit_many(together, x, y, epochs=3, batch_size=64, seeds=SEEDS, indices=fit_idx,
                                  validation_data=[(x, y, v) for v in val_idx])
    for ours, theirs, a, b in zip(histories, expected, together, alone):
        assert sorted(ours.history) == sorted(theirs) == ["accuracy", "loss", "val_accuracy", "val_loss"]
        for key in theirs:
            np.testing.assert_allclose(ours.history[key], theirs[key], **SAME)
        _assert_same_model(a, b)
    assert len({round(h.history["loss"][-1], 6) for h in histories}) == 3  # three different runs, not one thrice


def test_the_images_go_to_the_device_once(images, monkeypatch):
    import jax

    from fashion_lab import _fastfit

    x, y = images
    put = []
    real = jax.device_put
    monkeypatch.setattr(jax, "device_put", lambda value, *a, **k: (put.append(np.shape(value)), real(value, *a, **k))[1])
    _fastfit.fit_many(_models(), x, y, epochs=1, batch_size=64, seeds=SEEDS)
    assert put.count(x.shape) == 1  # one copy of the images for three models


def test_a_stopped_model_ends_where_it_would_alone(images):
    """Models stopped after their first epoch leave the batch (here two of three: the program narrows to the
    one left); the other goes on, and each matches its solo run."""
    from fashion_lab import StopAtLoss, _fastfit

    x, y = images
    alone, together = _models(), _models()

    def stops():  # any loss is below 100: the first two stop after epoch 1
        return [[StopAtLoss(100.0, verbose=False)], [StopAtLoss(100.0, verbose=False)], []]

    expected = [_fastfit.fit(m, x, y, epochs=3, batch_size=64, seed=s, callbacks=c).history
                for m, s, c in zip(alone, SEEDS, stops())]
    histories = _fastfit.fit_many(together, x, y, epochs=3, batch_size=64, seeds=SEEDS, callbacks=stops())
    assert [len(h.history["loss"]) for h in histories] == [len(h["loss"]) for h in expected] == [1, 1, 3]
    for ours, theirs, a, b in zip(histories, expected, together, alone):
        np.testing.assert_allclose(ours.history["loss"], theirs["loss"], **SAME)
        _assert_same_model(a, b)


def test_models_that_cannot_share_a_program_train_one_by_one(images):
    from fashion_lab import _fastfit

    x, y = images

    class PerBatch(keras().callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            pass

    mixed = [build_model((16,)), build_model((8,))]
    assert "differ in architecture" in _fastfit.why_not_together(mixed, x, y, 64)
    assert "per-batch" in _fastfit.why_not_together(_models()[:2], x, y, 64, [[PerBatch()], []])
    histories = _fastfit.fit_many(mixed, x[:200], y[:200], epochs=1, batch_size=64, seeds=[0, 1])
    assert [len(h.history["loss"]) for h in histories] == [1, 1]


def _configs(folder):
    base = TrainConfig(epochs=2, hidden=(16,), validation_split=0.1)
    return [base.replace(seed=seed, learning_rate=rate, run_dir=f"{folder}-{i}") for i, (seed, rate) in enumerate(zip(SEEDS, RATES))]


def test_train_together_writes_each_run_as_train_does(tmp_path, synthetic_fashion, capsys):
    configs = _configs(tmp_path / "together")
    configs[1] = configs[1].replace(stop_at_loss=100.0)  # stops after its first epoch, the others go on
    together = train_together(configs, stack=True)  # stacked even on a CPU, where it is not the default
    out = capsys.readouterr().out
    assert "[run 2/3] run:" in out and "(seed 4, learning rate 0.003)" in out and "[run 3/3] epoch 2/2:" in out
    for config, run in zip(configs, together):
        alone = train(config.replace(run_dir=config.run_dir.replace("together", "alone")), verbose=False)
        for name in ("config.json", "history.csv", "metrics.json", "model.keras", "curves.png", "report.html",
                     "checkpoint.json"):
            assert (run.dir / name).is_file(), name
        assert sorted(run.history) == sorted(alone.history) == ["accuracy", "loss", "val_accuracy", "val_loss"]
        for key, values in alone.history.items():
            np.testing.assert_allclose(run.history[key], values, **SAME)
        for key in ("test_accuracy", "test_loss", "train_accuracy", "train_loss", "validation_loss", "epochs_run",
                    "stopped_early", "params"):
            assert run.metrics[key] == pytest.approx(alone.metrics[key], rel=1e-5), key
        assert run.metrics["trained_together"] == 3 and "trained_together" not in alone.metrics
        recorded = json.loads((run.dir / "config.json").read_text())
        assert recorded["config"]["seed"] == config.seed and recorded["dataset"]["validation"] == 60
        _assert_same_model(run.load_model(), alone.load_model())
    assert [r.metrics["epochs_run"] for r in together] == [2, 1, 2]


def test_a_diverged_run_does_not_stop_the_others(tmp_path, synthetic_fashion):
    configs = _configs(tmp_path / "r")
    configs[0] = configs[0].replace(learning_rate=1e20)
    runs = train_together(configs, verbose=False, raise_diverged=False, stack=True)
    assert runs[0].metrics["failed"] is True and runs[0].metrics["diverged_epoch"] == 1
    assert [r.metrics["epochs_run"] for r in runs[1:]] == [2, 2] and not (runs[0].dir / "model.keras").exists()
    again = [c.replace(run_dir=c.run_dir + "-again") for c in configs]
    with pytest.raises(TrainingDiverged, match="1 of 3 runs diverged .*first: training diverged"):
        train_together(again, verbose=False, stack=True)
    assert (tmp_path / "r-2-again" / "report.html").is_file()  # the others were written before the error


def test_configs_are_grouped_by_program_and_checked(tmp_path):
    base = TrainConfig()
    assert together_groups([base, base.replace(seed=1, learning_rate=0.01, stop_at_accuracy=0.9),
                            base.replace(hidden=(64,)), base.replace(batch_size=64), base.replace(seed=2)]) \
        == [[0, 1, 4], [2], [3]]
    with pytest.raises(ConfigError, match="at least one TrainConfig"):
        train_together([])
    same = str(tmp_path / "run")
    with pytest.raises(ConfigError, match="share the run directory .*run; give each its own"):
        train_together([base.replace(run_dir=same), base.replace(seed=1, run_dir=same)])
    with pytest.raises(ConfigError, match="one list of callbacks per config: 2 configs, 1 lists"):
        train_together([base, base.replace(seed=1)], callbacks=[[]])


def test_on_a_cpu_runs_train_one_after_another_by_default(tmp_path, synthetic_fashion, capsys):
    from fashion_lab.training import stacking_pays

    assert stacking_pays() is False  # the tests run on the CPU backend
    base = TrainConfig(epochs=1, hidden=(16,))
    runs = train_together([base.replace(seed=s, run_dir=str(tmp_path / f"r-{s}")) for s in (0, 1)])
    assert "note: 2 runs of hidden [16] train one after another: on a CPU a stack of them trains slower" \
        in capsys.readouterr().out
    assert all("trained_together" not in r.metrics for r in runs)
