"""What every super-net method shares: the method lifecycle, the resumable epoch loop, the checkpoint
schema of `weights.pt`, and the choice of landmark architectures.

A super-net *method* (single-path one-shot, DARTS, partial sharing, ...) is a subclass of `Method`
registered with `@register_method`. Its lifecycle, after NASLib's optimizers:

    build(...)          the super-net: `space.build_supernet(net, choice)` of the run's one
                        `NetworkSettings` value with the method's choice module (NNI's mutation hook:
                        `choice(c, candidates)` wraps each choice of the space), via `assemble`
    setup(net, ...)     optimizers and the method's own state, before the first epoch
    train_epoch(...)    one epoch; a validation batch per step is at hand for methods that need one
    checkpointables()   {name: object with state_dict/load_state_dict}: what a resumed run restores
    export_probs()      what the method learned about the choices (architecture weights), or None
    check(...)          config checks of the method's own keys (a classmethod)
    Settings            a frozen dataclass of the keys only this method has (fields made with
                        `nas.settings.opt`): written under `supernet.<name>`, overridden per variant,
                        read as `self.hp.settings`; None (the default) for a method without its own keys

`train` runs the epochs: after each one it saves the declared checkpointables, the batch generator,
the CPU and CUDA random states and the history, so a killed run resumes from the last finished epoch
and ends with the same bytes as an uninterrupted one.
"""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Callable, TYPE_CHECKING

import numpy as np
import pandas as pd

from nas import io
from nas.registry import Registry
from nas.data import Tensors
from nas.spaces.base import ChoiceFactory, NetworkSettings, SearchSpace, single_path

if TYPE_CHECKING:  # annotations only: torch is imported where it runs, so importing this module does not load it
    import torch

HISTORY_COLUMNS = ["epoch", "lr", "train_loss", "train_accuracy", "passes"]


class Method:
    """A super-net method. Subclasses set `name` and implement `setup` and `train_epoch`."""

    name: str = ""
    choice: ChoiceFactory = staticmethod(single_path)
    needs_valid: bool = False  # whether train_epoch reads validation batches
    Settings: type | None = None  # the method's own keys (supernet.<name>), see the module docstring
    architecture_weights: bool = False  # whether the network holds alpha (`net.arch_weights`) to select from
    passes_per_epoch: int = 1  # data passes per epoch (partial sharing's per_group compute makes more)
    after_step: Callable[[], None] | None = None  # set by `train` for dense scoring; methods call it per step

    def __init__(self, space: SearchSpace, hp):
        self.space, self.hp = space, hp

    def build(self, channels: int, cells: int, data: Tensors, training: bool = True):
        """The super-net of the variant for `data` (`NetworkSettings.of`: hp.channels/cells override the
        space section's `channels`/`cells`). Dropout exists only in a network built for training;
        scoring never drops anything."""
        return self.assemble(self.space, NetworkSettings.of(self.hp, channels, cells, data, training=training),
                             self.hp)

    @classmethod
    def assemble(cls, space: SearchSpace, net: NetworkSettings, sharing_hp=None):
        """The super-net `net` over `space` with this method's choice modules: partially shared when
        `sharing_hp` (the variant's settings, or a checkpoint's sharing keys) asks for it, then `adapt`ed.
        Building for training (`build`) and loading a checkpoint (`load`) both come here."""
        from nas.supernet import sharing

        def make():
            return space.build_supernet(net, cls.choice)
        partial = sharing_hp is not None and sharing.is_partial(sharing_hp)
        return cls.adapt(sharing.build(make, space, sharing_hp, net.cells) if partial else make(), space)

    @classmethod
    def adapt(cls, net, space: SearchSpace):
        """Add what the method keeps inside the network (DARTS: its architecture weights, so that
        `weights.pt` holds them); called when building and when loading a checkpoint."""
        return net

    def setup(self, net, steps_per_epoch: int, seed: int, landmarks=None) -> None:
        raise NotImplementedError

    def train_epoch(self, epoch: int, net, x, y, generator: torch.Generator, augment=None,
                    valid: tuple[torch.Tensor, torch.Tensor] | None = None) -> dict:
        """One epoch; returns {lr, train_loss, train_accuracy, passes}."""
        raise NotImplementedError

    def checkpointables(self) -> dict:
        return {}

    def export_probs(self) -> dict | None:
        return None

    @classmethod
    def check(cls, where: Callable[[str], str], hp, space: SearchSpace, sample_archs: int, topk) -> None:
        """Raise a UserError for settings of this method that do not apply; `where(key)` names the key
        as the user wrote it (supernet.KEY or supernet.variants.NAME.KEY)."""


METHODS = Registry("method", "supernet.method")  # name -> Method subclass
register_method = METHODS.register  # class decorator: add a method under its `name`
get_method = METHODS.lookup


def method_for(space: SearchSpace, hp) -> Method:
    return get_method(hp.method)(space, hp)


# --- the resumable epoch loop ---------------------------------------------------------------------

def training_subset(n: int, fraction: float, seed: int) -> np.ndarray:
    """Low fidelity: the indices of a fixed random `fraction` of the n training samples."""
    keep = max(2, int(round(n * fraction)))
    return np.sort(np.random.default_rng(seed).permutation(n)[:keep])


def train(method: Method, net, train_data: Tensors, seed: int, device: torch.device, state_path: Path,
          augment=None, on_epoch=None, landmarks: list[tuple[tuple, float]] | None = None,
          valid: Tensors | None = None, dense: DenseScores | None = None) -> pd.DataFrame:
    """Train `net` in place for hp.epochs with `method`; return the per-epoch history. `state_path`
    holds the resumable state; `on_epoch(epoch, net)` is called after each epoch (to keep chosen
    epochs). `landmarks`: (architecture, stand-alone accuracy) pairs, for methods that use them.
    `dense`: scores the pool after each of the run's last steps (its rows are part of the state)."""
    import torch

    hp = method.hp
    x, y = train_data.x, train_data.y
    if hp.train_fraction < 1.0:
        idx = torch.from_numpy(training_subset(len(y), hp.train_fraction, seed))
        x, y = x[idx], y[idx]
    x, y = x.to(device), y.to(device)
    net.to(device)
    val = (valid.x.to(device), valid.y.to(device)) if method.needs_valid and valid is not None else None
    generator = torch.Generator().manual_seed(seed)
    steps_per_epoch = max(1, len(y) // hp.batch_size)
    method.setup(net, steps_per_epoch, seed, landmarks)
    state_objects = {"model": net, **method.checkpointables()}
    if dense is not None:
        dense.start(net, hp.epochs * steps_per_epoch * method.passes_per_epoch)
        method.after_step = dense.after_step
    history, start = [], 0
    if state_path.exists():
        state = io.restore(state_path, state_objects, generator)
        try:
            history, start = list(state["history"]), int(state["epoch"])
            if dense is not None:
                dense.resume(start * steps_per_epoch * method.passes_per_epoch, state["dense"])
        except (KeyError, TypeError, ValueError) as exc:
            raise io.progress_error(io.UserError(f"{state_path}: not a resume state of this run "
                                                 f"({io._first_line(exc)})")) from None
    bar = io.Progress(hp.epochs, "train-supernet")
    bar.done = start
    for epoch in range(start + 1, hp.epochs + 1):
        row = method.train_epoch(epoch, net, x, y, generator, augment, val)
        history.append({"epoch": epoch, **row})
        if on_epoch is not None:
            on_epoch(epoch, net)
        io.save_checkpoint({**{name: obj.state_dict() for name, obj in state_objects.items()},
                            "generator": generator.get_state(), "torch_rng": torch.get_rng_state(),
                            "cuda_rng": torch.cuda.get_rng_state_all() if device.type == "cuda" else None,
                            "history": history, "epoch": epoch,
                            "dense": dense.rows if dense is not None else None}, state_path)
        bar.update(epoch=epoch, loss=row["train_loss"], acc=row["train_accuracy"])
    bar.close()
    # A method may report more per epoch (DARTS: alpha); those columns follow the shared ones.
    extra = [k for k in (history[0] if history else {}) if k not in HISTORY_COLUMNS]
    return pd.DataFrame(history, columns=HISTORY_COLUMNS + extra).astype({"epoch": "int64", "passes": "int64"})


class DenseScores:
    """Scores of every pool architecture after each of the last `steps` optimiser steps of a run
    (Zhang et al. validate every child after every mini-batch near the end of training, to show the
    ranking moving from step to step). Each architecture is scored on one fixed validation batch in
    eval mode: the batch-norm statistics, the dropout and the random streams of training are left
    untouched, so a run with dense scoring trains exactly as one without."""

    COLUMNS = ["step", "arch_id", "accuracy", "loss"]

    def __init__(self, archs: list[tuple[int, tuple]], batch: tuple[torch.Tensor, torch.Tensor], steps: int):
        self.archs, self.batch, self.steps = archs, batch, steps
        self.rows: list[dict] = []
        self.step, self.first, self.net = 0, 1, None

    def start(self, net, total: int) -> None:
        if self.steps > total:
            raise io.UserError(f"supernet.dense_steps: {self.steps} is more than the {total} optimiser steps this "
                               f"run makes (epochs x steps per epoch x data passes); expected at most {total}")
        self.net, self.first = net, total - self.steps + 1

    def resume(self, step: int, rows: list[dict]) -> None:
        self.step, self.rows = step, list(rows)

    def after_step(self) -> None:
        import torch

        self.step += 1
        if self.step < self.first:
            return
        net, (x, y) = self.net, self.batch
        net.eval()
        with torch.no_grad():
            for arch_id, arch in self.archs:
                logits = net(x, arch)
                self.rows.append({"step": self.step, "arch_id": arch_id,
                                  "accuracy": 100.0 * float((logits.argmax(1) == y).sum()) / len(y),
                                  "loss": float(torch.nn.functional.cross_entropy(logits, y))})
        net.train()

    def frame(self) -> pd.DataFrame:
        return pd.DataFrame(self.rows, columns=self.COLUMNS).astype({"step": "int64", "arch_id": "int64",
                                                                     "accuracy": "float64", "loss": "float64"})


def weights(net) -> dict:
    """The weights as a plain state dict on the CPU (what `weights.pt` holds)."""
    return {k: v.detach().cpu() for k, v in net.state_dict().items()}


# --- checkpoints ----------------------------------------------------------------------------------
# `weights.pt` and the epoch checkpoints hold the weights and the metadata that rebuilds the network
# they belong to; `checkpoint` writes that schema and `load` reads it back, in this one place.

def checkpoint_meta(space_cfg, hp, data: Tensors, landmark_ids: list[int], variant: str,
                    seed: int) -> dict:
    """What rebuilds the super-net of a run for scoring: its space, then its `NetworkSettings` (size,
    input, batch-norm form; `NetworkSettings.to_meta`, flat keys), then the run's own keys."""
    net = NetworkSettings.of(hp, space_cfg.channels, space_cfg.cells, data)
    return {"space": space_cfg.name, **net.to_meta(), "landmarks": landmark_ids, "method": hp.method,
            "variant": variant, "seed": seed, **sharing_meta(hp)}


SHARING_KEYS = ("prefix_shared", "groups", "partition", "partition_seed", "partition_edges")


def sharing_meta(hp) -> dict:
    """The degree of sharing of a partially shared super-net ({} for full sharing): it rebuilds the
    same groups when the checkpoint is loaded."""
    from nas.supernet import sharing

    return {"sharing": {k: getattr(hp, k) for k in SHARING_KEYS}} if sharing.is_partial(hp) else {}


def checkpoint(net, meta: dict, epoch: int) -> dict:
    return {**meta, "epoch": epoch, "model": weights(net)}


def load(path: Path, space_name: str):
    """The super-net of a checkpoint (built for scoring: no dropout) and its metadata."""
    from nas.spaces import get_space

    ckpt = io.load_checkpoint(path)
    if not isinstance(ckpt, dict):
        raise io.UserError(f"{path}: not a super-net checkpoint of this project (holds a {type(ckpt).__name__}, "
                           "not a dict)")
    try:
        if ckpt["space"] != space_name:
            raise io.UserError(f"{path}: super-net of space {ckpt['space']!r}, but space.name is {space_name!r}")
        space = get_space(space_name)
        method = get_method(ckpt.get("method", "spos"))
        shared = SimpleNamespace(**ckpt["sharing"]) if "sharing" in ckpt else None
        net = method.assemble(space, NetworkSettings.from_meta(ckpt), shared)
        net.load_state_dict(ckpt["model"])
    except (KeyError, TypeError, ValueError, IndexError, RuntimeError) as exc:
        raise io.UserError(f"{path}: not a super-net checkpoint of this project ({io._first_line(exc)})") from None
    return net, {k: v for k, v in ckpt.items() if k != "model"}


def landmark_ids(arch_ids: list[int], count: int, seed: int) -> list[int]:
    """`count` landmark architectures: a fixed random subset of the sampled pool (sorted ids)."""
    if count > len(arch_ids):
        raise io.UserError(f"supernet.landmarks: {count} is more than the {len(arch_ids)} sampled archs")
    picked = np.random.default_rng(seed).permutation(len(arch_ids))[:count]
    return sorted(int(arch_ids[i]) for i in picked)


def choose_landmarks(inputs: tuple[pd.DataFrame, pd.DataFrame], count: int, seed: int, space
                     ) -> tuple[list[int], list[tuple[tuple, float]]]:
    """The landmark architectures (ids, and (arch, stand-alone valid accuracy) pairs): a fixed random
    set of the sampled pool, the same for every variant and seed. `inputs`: the pool (arch_id, arch)
    and the stand-alone results. Valid accuracy, so the test split stays unread by super-net training."""
    from nas import layout, standalone

    archs, results = inputs
    truth = standalone.mean_over_seeds(results, "valid").set_index("arch_id")["accuracy"]
    ids = landmark_ids(archs["arch_id"].tolist(), count, seed)
    missing = [i for i in ids if i not in truth.index]
    if missing:
        raise io.UserError(f"supernet.landmarks: {layout.STANDALONE} has no accuracy for landmark arch_id(s) "
                           f"{', '.join(map(str, missing[:5]))}; rerun merge-standalone")
    by_id = dict(zip(archs["arch_id"], archs["arch"]))
    return ids, [(space.parse(by_id[i]), float(truth[i])) for i in ids]
