"""Perturbation-based architecture selection (DARTS-PT, Wang et al.): `select.methods: [..., perturbation]`.

The magnitude of an operation's architecture weight need not tell how much the super-net relies on it.
DARTS-PT asks the super-net instead, one decision at a time:

  1. pick an undecided choice (edge) at random (seeded by the study's seed and the run);
  2. for each of its operations, *remove* it — its mixing weight set to zero, the others unchanged (no
     renormalisation) — and measure the super-net on the valid split (`select.perturbation.criterion`:
     accuracy or loss; batch norm on batch statistics, as in the paper's code, no dropout);
  3. fix the edge to the operation whose removal hurts most;
  4. fine-tune the super-net `tune_epochs` epochs (DARTS training with the decided edges fixed; alpha
     keeps training on the others unless `fix_alpha`), with SGD at supernet.lr × `lr_factor` on a cosine
     schedule over all the fine-tuning, as the paper's code resets its optimiser at a tenth of the lr.

`nas perturb` runs it per super-net run of a method with architecture weights (darts) and writes the
decision log (`layout.Run.perturbation`: decision, choice, op, its mixing weight alpha, accuracy and
loss with that op removed, chosen; decision 0 measures every edge of the trained super-net before any
decision, for `alpha_vs_damage`, the paper's central evidence); it is resumable after each decision. The `perturbation` selector reads the log's choices.
Topology selection (DARTS space: two inputs per node) needs a space with input groups; none of the
registered spaces has them yet.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import torch
from torch.nn import functional as F

from nas import io
from nas.selection.base import Context, NotApplicable, register_selector

LOG_COLUMNS = ["decision", "choice", "op", "alpha", "accuracy", "loss", "chosen"]


@torch.no_grad()
def measure(net, arch, batches) -> tuple[float, float]:
    """(accuracy %, mean loss) of the super-net with mixing `arch` over `batches` [(x, y)]; batch norm
    on batch statistics (train mode), nothing dropped."""
    net.train()
    dropout, net.path_dropout = net.path_dropout, 0.0
    correct = seen = 0
    loss = 0.0
    for x, y in batches:
        logits = net(x, arch)
        loss += float(F.cross_entropy(logits, y, reduction="sum"))
        correct += int((logits.argmax(1) == y).sum())
        seen += len(y)
    net.path_dropout = dropout
    return 100.0 * correct / seen, loss / seen


def without(arch, index: int, op: str):
    """`arch` (a tuple of {op: weight} per choice) with `op`'s weight on choice `index` set to zero."""
    return tuple({**pick, op: 0.0} if i == index else pick for i, pick in enumerate(arch))


def select(method, net, train, valid, settings, seed: int, state_path, device) -> pd.DataFrame:
    """The decision log of DARTS-PT's operation selection on `net` (a DARTS super-net, trained by
    `method`); see the module docstring. `state_path` holds the state after each decision."""
    space, hp = method.space, method.hp
    keys = [c.key for c in space.choices()]
    order = np.random.default_rng(seed).permutation(len(keys)).tolist()  # the random edge of each decision
    tune_total = settings.tune_epochs * (len(keys) - 1)
    x, y = train.x.to(device), train.y.to(device)
    vx, vy = valid.x.to(device), valid.y.to(device)
    steps = max(1, len(y) // hp.batch_size)
    tune_hp = dataclasses.replace(hp, lr=hp.lr * settings.lr_factor, epochs=max(1, tune_total))
    method.fixed = {}
    method.optimizers(net, tune_hp, steps, seed)
    generator = torch.Generator().manual_seed(seed)
    perm = torch.randperm(len(vy), generator=torch.Generator().manual_seed(seed + 1))
    size = hp.batch_size
    chunks = [perm[i:i + size] for i in range(0, len(vy), size)]
    chunks = chunks[:settings.valid_batches] if settings.valid_batches else chunks
    batches = [(vx[c.to(device)], vy[c.to(device)]) for c in chunks]
    log, start = [], 0
    objects = {"model": net, "optimizer": method.optimizer, "scheduler": method.scheduler,
               "alpha_optimizer": method.alpha_optimizer, "noise": method.noise}
    if state_path.exists():
        state = io.restore(state_path, objects, generator)
        try:
            log, start, method.fixed = list(state["log"]), int(state["decision"]), dict(state["fixed"])
        except (KeyError, TypeError, ValueError) as exc:
            raise io.progress_error(io.UserError(f"{state_path}: not a perturbation state of this run "
                                                 f"({io._first_line(exc)})")) from None
    def current():
        with torch.no_grad():
            return tuple({op: (w.detach() if torch.is_tensor(w) else w) for op, w in pick.items()}
                         for pick in method.mixing(net))

    def removals(decision: int, index: int, arch) -> list[dict]:
        rows = []
        for op in space.choices()[index].candidates:
            acc, loss = measure(net, without(arch, index, op), batches)
            rows.append({"decision": decision, "choice": keys[index], "op": op, "alpha": float(arch[index][op]),
                         "accuracy": acc, "loss": loss})
        return rows

    if start == 0:  # decision 0: every edge measured on the trained super-net, alpha next to the damage
        arch = current()
        log = [{**r, "chosen": False} for index in range(len(keys)) for r in removals(0, index, arch)]
    bar = io.Progress(len(keys), "perturb")
    bar.done = start
    for decision in range(start, len(keys)):
        index = order[decision]
        rows = removals(decision + 1, index, current())
        hurt = (lambda r: (r["accuracy"], -r["loss"])) if settings.criterion == "accuracy" else \
            (lambda r: (-r["loss"], r["accuracy"]))
        chosen = min(rows, key=hurt)["op"]  # its removal hurts most; ties: the first operation
        log += [{**r, "chosen": r["op"] == chosen} for r in rows]
        method.fixed[keys[index]] = chosen
        if decision < len(keys) - 1:
            for epoch in range(settings.tune_epochs):
                method.train_epoch(epoch + 1, net, x, y, generator, None, (vx, vy))
        io.save_checkpoint({**{n: o.state_dict() for n, o in objects.items()}, "generator": generator.get_state(),
                            "torch_rng": torch.get_rng_state(),
                            "cuda_rng": torch.cuda.get_rng_state_all() if device.type == "cuda" else None,
                            "log": log, "decision": decision + 1, "fixed": method.fixed}, state_path)
        bar.update(choice=keys[index], op=chosen)
    bar.close()
    return pd.DataFrame(log, columns=LOG_COLUMNS).astype({"decision": "int64", "chosen": "bool"})


def alpha_vs_damage(log: pd.DataFrame) -> pd.DataFrame:
    """Per choice: Kendall tau between the operations' alpha (mixing weight) and the damage their
    removal does to the trained super-net (decision 0 of the log: lower accuracy = more damage). A tau
    near 1 means alpha tells how much the super-net relies on an operation; DARTS-PT's claim is that
    it does not. NaN where alpha or the accuracies are all equal (fix_alpha)."""
    from scipy import stats

    rows = []
    for choice, g in log[log["decision"] == 0].groupby("choice", sort=False):
        tau = stats.kendalltau(g["alpha"], -g["accuracy"]).statistic if g["alpha"].nunique() > 1 else float("nan")
        strongest = g.loc[g["alpha"].idxmax(), "op"] if g["alpha"].nunique() > 1 else None
        rows.append({"choice": choice, "tau": float(tau), "top_by_alpha": strongest,
                     "top_by_damage": g.loc[g["accuracy"].idxmin(), "op"]})
    return pd.DataFrame(rows, columns=["choice", "tau", "top_by_alpha", "top_by_damage"])


def chosen_architecture(log: pd.DataFrame, space):
    """The architecture a decision log selected: each choice's chosen operation."""
    picks = dict(zip(log.loc[log["chosen"], "choice"], log.loc[log["chosen"], "op"]))
    return space.from_picks(picks)


@register_selector("perturbation")
def perturbation(context: Context):
    """The architecture `nas perturb` selected for this run (its decision log)."""
    path = context.run.perturbation
    if not path.is_file():
        raise NotApplicable(f"select.methods: perturbation needs a super-net with architecture weights "
                            f"(supernet.method darts); run {context.run.name} has no decision log")
    from nas import layout as L
    return chosen_architecture(io.read_parquet(path, L.SCHEMAS["perturbation"]), context.space)
