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

In a space whose nodes use `keep` of their input edges (the DARTS space: 2 of up to 5), operation
selection keeps a real operation on every edge (`none` is not a candidate there: whether an edge is
used is the topology's decision), then *topology selection* follows (`select.perturbation.topology`):
for each node in a random order, the input edge whose removal (every weight of the edge zero) hurts
least is removed, one at a time, until `keep` remain; fine-tuning follows each node, not each removal,
as in the paper's code. `topology: magnitude` keeps instead the edges of largest alpha (DARTS's rule).
One difference from the paper's code: it decides a normal and a reduce edge together before each
fine-tuning, here every choice is its own decision (twice the fine-tuning intervals in the DARTS space).

`nas perturb` runs it per super-net run of a method with architecture weights (darts) and writes the
decision log (`layout.Run.perturbation`: decision, phase (operation | topology), step (the removal
within a topology decision), choice, op, its mixing weight alpha (topology: the edge's strength),
accuracy and loss with that op or edge removed, chosen (operation: the op kept; topology: the edge
removed); decision 0 measures every operation of every edge of the trained super-net before any
decision, for `alpha_vs_damage`, the paper's central evidence); it is resumable after each decision.
The `perturbation` selector reads the log's choices.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from nas import io
from nas import layout as L
from nas.registry import OwnStage
from nas.selection.base import Context, NotApplicable, register_selector
from nas.selection.magnitude import has_alpha
from nas.settings import opt


@dataclass(frozen=True)
class PerturbationSettings:
    """DARTS-PT's perturbation-based selection (Wang et al.), `select.perturbation`; README "DARTS"
    documents each key."""
    criterion: str = opt("accuracy", choices=("accuracy", "loss"), doc="what a removal hurts: valid accuracy or loss")
    tune_epochs: int = opt(5, min=0, doc="fine-tuning epochs between two decisions (the paper: 5)")
    lr_factor: float = opt(0.1, above=0.0, max=1.0, doc="fine-tuning lr = supernet.lr x this (the paper: 1/10)")
    valid_batches: int = opt(0, min=0, doc="validation batches per measurement (0 = the whole split)")
    topology: str = opt("auto", choices=("auto", "perturbation", "magnitude"),
                        doc="spaces whose nodes use some of their input edges (darts): which edges a node keeps, "
                            "chosen by perturbation (DARTS-PT; what auto means there) or by alpha magnitude")

LOG_COLUMNS = ["decision", "phase", "step", "choice", "op", "alpha", "accuracy", "loss", "chosen"]


def accuracy_damage(row: dict) -> tuple[float, float]:
    """How much a removal hurts by `criterion: accuracy`: lower accuracy, then higher loss."""
    return -row["accuracy"], row["loss"]


def loss_damage(row: dict) -> tuple[float, float]:
    """How much a removal hurts by `criterion: loss`: higher loss, then lower accuracy."""
    return row["loss"], -row["accuracy"]


# The removal that hurts most (operation phase) or least (topology phase); ties: the first candidate.
DAMAGE = {"accuracy": accuracy_damage, "loss": loss_damage}


def measure(net, arch, batches) -> tuple[float, float]:
    """(accuracy %, mean loss) of the super-net with mixing `arch` over `batches` [(x, y)]; batch norm
    on batch statistics (train mode), nothing dropped."""
    import torch
    from torch.nn import functional as F

    net.train()
    dropout, net.path_dropout = net.path_dropout, 0.0
    correct = seen = 0
    loss = 0.0
    with torch.no_grad():
        for x, y in batches:
            logits = net(x, arch)
            loss += float(F.cross_entropy(logits, y, reduction="sum"))
            correct += int((logits.argmax(1) == y).sum())
            seen += len(y)
    net.path_dropout = dropout
    return 100.0 * correct / seen, loss / seen


def without(arch, index: int, op: str | None = None):
    """`arch` (a tuple of {op: weight} per choice) with `op`'s weight on choice `index` set to zero, or
    with the whole choice removed (every weight zero) when `op` is None."""
    return tuple(({**pick, op: 0.0} if op is not None else {o: 0.0 for o in pick}) if i == index else pick
                 for i, pick in enumerate(arch))


def decisions(space, seed: int) -> list[tuple[str, object]]:
    """The decisions of a selection, in order: ("operation", choice index) for every choice in a random
    order, then, in a space with input groups, ("topology", group) for every group with more members than it
    keeps, in a random order."""
    choices = space.choices()
    rng = np.random.default_rng(seed)
    plan = [("operation", int(i)) for i in rng.permutation(len(choices))]
    members: dict[str, list] = {}
    for c in choices:
        if c.group is not None:
            members.setdefault(c.group, []).append(c)
    groups = [g for g, m in members.items() if len(m) > m[0].keep]  # a node using all its inputs has nothing to decide
    return plan + [("topology", groups[int(i)]) for i in rng.permutation(len(groups))]


def select(method, net, train, valid, settings, seed: int, state_path, device) -> pd.DataFrame:
    """The decision log of DARTS-PT's selection on `net` (a DARTS super-net, trained by `method`); see
    the module docstring. `state_path` holds the state after each decision."""
    import torch

    space, hp = method.space, method.hp
    choices = space.choices()
    keys = [c.key for c in choices]
    plan = decisions(space, seed)
    tune_total = settings.tune_epochs * (len(plan) - 1)
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

    def row(decision, phase, step, index, op, alpha, arch):
        acc, loss = measure(net, arch, batches)
        return {"decision": decision, "phase": phase, "step": step, "choice": keys[index], "op": op,
                "alpha": alpha, "accuracy": acc, "loss": loss}

    def removals(decision: int, index: int, arch, ops) -> list[dict]:
        return [row(decision, "operation", 0, index, op, float(arch[index][op]), without(arch, index, op)) for op in ops]

    damage = DAMAGE[settings.criterion]

    if start == 0:  # decision 0: every edge measured on the trained super-net, alpha next to the damage
        arch = current()
        log = [{**r, "chosen": False} for index, c in enumerate(choices) for r in removals(0, index, arch, c.candidates)]
    bar = io.Progress(len(plan), "perturb")
    bar.done = start
    for decision in range(start, len(plan)):
        phase, target = plan[decision]
        if phase == "operation":
            c = choices[target]
            # an edge of a node that uses some of its inputs keeps a real operation; topology decides the rest
            ops = [o for o in c.candidates if c.group is None or o != "none"]
            rows = removals(decision + 1, target, current(), ops)
            chosen = max(rows, key=damage)["op"]
            log += [{**r, "chosen": r["op"] == chosen} for r in rows]
            method.fixed[keys[target]] = chosen
            done = dict(choice=keys[target], op=chosen)
        else:
            log += topology(decision + 1, target, settings.topology, row, damage, current, method, net)
            done = dict(node=target)
        if decision < len(plan) - 1:
            for epoch in range(settings.tune_epochs):
                # numbered after the super-net's last epoch: per-epoch schedules (smoothing) stay at their end
                method.train_epoch(method.hp.epochs + epoch + 1, net, x, y, generator, None, (vx, vy))
        io.save_checkpoint({**{n: o.state_dict() for n, o in objects.items()}, "generator": generator.get_state(),
                            "torch_rng": torch.get_rng_state(),
                            "cuda_rng": torch.cuda.get_rng_state_all() if device.type == "cuda" else None,
                            "log": log, "decision": decision + 1, "fixed": method.fixed}, state_path)
        bar.update(**done)
    bar.close()
    return pd.DataFrame(log, columns=LOG_COLUMNS).astype({"decision": "int64", "step": "int64", "chosen": "bool"})


def topology(decision: int, group: str, mode: str, row, damage, current, method, net) -> list[dict]:
    """One topology decision: the input edges of node `group` reduced to its `keep`. By perturbation
    (DARTS-PT's project_edge; `mode` auto or perturbation): remove, one step at a time, the edge whose
    removal hurts least, measuring every remaining edge removed whole; no fine-tuning between the
    steps of one node. By magnitude: DARTS's edge strength (the largest alpha other than `none`).
    Rows: one per remaining edge and step, `chosen` = the edge removed at that step."""
    from nas.selection.magnitude import keep_strongest_edges

    space = method.space
    keys = [c.key for c in space.choices()]
    members = [keys.index(c.key) for c in space.choices() if c.group == group]
    keep = space.choices()[members[0]].keep
    probs = net.arch_weights.export_probs()
    strength = {k: max(p for op, p in ops.items() if op != "none") for k, ops in probs.items()}
    rows = []
    if mode == "magnitude":
        picks = keep_strongest_edges(space, probs, method.fixed, groups={group})
        for index in members:
            removed = picks[keys[index]] == "none"
            rows.append({"decision": decision, "phase": "topology", "step": 0, "choice": keys[index],
                         "op": method.fixed[keys[index]], "alpha": strength[keys[index]], "accuracy": float("nan"),
                         "loss": float("nan"), "chosen": removed})
            if removed:
                method.fixed[keys[index]] = "none"
        return rows
    remaining, step = list(members), 0
    while len(remaining) > keep:
        arch = current()
        candidates = [row(decision, "topology", step, index, method.fixed[keys[index]], strength[keys[index]],
                          without(arch, index)) for index in remaining]
        least = min(candidates, key=damage)
        rows += [{**r, "chosen": r is least} for r in candidates]
        index = keys.index(least["choice"])
        method.fixed[keys[index]] = "none"
        remaining.remove(index)
        step += 1
    return rows


def alpha_vs_damage(log: pd.DataFrame) -> pd.DataFrame:
    """Per choice: Kendall tau between the operations' alpha (mixing weight) and the damage their
    removal does to the trained super-net (decision 0 of the log: lower accuracy = more damage). A tau
    near 1 means alpha tells how much the super-net relies on an operation; DARTS-PT's claim is that
    it does not. NaN where alpha or the accuracies are all equal (fix_alpha)."""
    from scipy import stats

    rows = []
    for choice, g in log[(log["decision"] == 0) & (log["phase"] == "operation")].groupby("choice", sort=False):
        tau = stats.kendalltau(g["alpha"], -g["accuracy"]).statistic if g["alpha"].nunique() > 1 else float("nan")
        strongest = g.loc[g["alpha"].idxmax(), "op"] if g["alpha"].nunique() > 1 else None
        rows.append({"choice": choice, "tau": float(tau), "top_by_alpha": strongest,
                     "top_by_damage": g.loc[g["accuracy"].idxmin(), "op"]})
    return pd.DataFrame(rows, columns=["choice", "tau", "top_by_alpha", "top_by_damage"])


def chosen_architecture(log: pd.DataFrame, space):
    """The architecture a decision log selected: each choice's chosen operation, `none` for the edges
    topology selection removed."""
    chosen = log[log["chosen"]]
    ops = chosen[chosen["phase"] == "operation"]
    picks = dict(zip(ops["choice"], ops["op"]))
    picks.update({key: "none" for key in chosen.loc[chosen["phase"] == "topology", "choice"]})
    return space.from_picks(picks)


# --- the stage and the selector ------------------------------------------------------------------

def perturb(cfg, variant: str = "baseline", seed: int | None = None) -> list[Path]:
    """The `nas perturb` stage: DARTS-PT's perturbation selection on one run's super-net, its decision
    log (resumable after each decision)."""
    import torch

    import hashlib

    from nas import codedeps, data, spaces, supernet
    from nas.settings import fingerprint
    from nas.train import resolve_device, seed_everything

    run, hp = cfg.run(variant, seed)
    method = supernet.method_for(spaces.study_space(cfg.space), hp)
    if not method.architecture_weights:
        raise io.UserError(f"select.methods: perturbation needs a super-net with architecture weights, but variant "
                           f"{variant!r} uses supernet.method {hp.method!r}; methods with them: "
                           f"{', '.join(n for n, m in supernet.METHODS.items() if m.architecture_weights)}")
    torch.set_num_threads(cfg.threads)  # as every torch stage: results depend on the thread count
    device = resolve_device(cfg.device)
    net, _ = supernet.load(run.weights, cfg.space.name)
    train, valid = data.load_split(L.split("train")), data.load_split(L.split("valid"))
    seed_everything(run.seed)
    settings = cfg.select.settings["perturbation"]
    weights = hashlib.sha256(run.weights.read_bytes()).hexdigest()[:16]
    key = fingerprint(hp, settings, run.seed, weights, data.splits_fingerprint(["train", "valid"]), device.type,
                      {"threads": cfg.threads}, codedeps.package_digest())
    state = run.perturbation_progress(key)
    log = select(method, net.to(device), train, valid, settings, run.seed, state, device)
    io.write_parquet(log, run.perturbation)
    state.unlink(missing_ok=True)
    return [run.perturbation]


def check(cfg, settings: PerturbationSettings, space) -> None:
    if settings.topology != "auto" and not any(c.group is not None for c in space.choices()):
        raise io.UserError(f"select.perturbation.topology: {settings.topology!r} selects which input edges a node "
                           f"keeps, but every choice of space {space.name!r} is used (no input groups); leave it at auto")


def log_path(run) -> Path:
    return run.perturbation


@register_selector("perturbation", Settings=PerturbationSettings, applies=has_alpha, check=check,
                   stage=OwnStage("perturb", "DARTS-PT: perturbation-based selection on one DARTS super-net run "
                                  "(resumable)", "run", perturb),
                   reads=("train", "valid"), writes=log_path, schema="perturbation")
def perturbation(context: Context):
    """The architecture `nas perturb` selected for this run (its decision log)."""
    path = context.run.perturbation
    if not path.is_file():
        raise NotApplicable(f"select.methods: perturbation needs a super-net with architecture weights "
                            f"(supernet.method darts); run {context.run.name} has no decision log")
    return chosen_architecture(io.read_parquet(path, L.SCHEMAS["perturbation"]), context.space)
