"""Differentiable architecture search, first order (DARTS, Liu et al.): `supernet.method: darts`.

Every choice of the space is a *mixed operation*: the softmax of that choice's architecture weights
(alpha) mixes the outputs of all its candidates. One set of alphas per choice key is shared by every
cell (as in the NAS-Bench-201 code's DARTS). Each training step alternates, as first-order DARTS does:

  alpha step   on a batch of the `valid` split (DARTS's second half of its training data; the test
               split stays untouched): Adam on alpha, weights fixed;
  weight step  on a batch of the `train` split: SGD with the `supernet` section's schedule on the
               network weights, alpha fixed (gradients never reach alpha here), gradients clipped.

Settings (`supernet.darts`, `DartsSettings`; DARTS's published defaults): alpha Adam lr 3e-4, betas
(0.5, 0.999), weight decay 1e-3; gradient clipping at 5. `fix_alpha: true` skips the alpha steps, so
alpha stays at zero and the network trains as a uniform one-shot model (DARTS-PT reports that
perturbation selection works even then). `smoothing: eps` is SDARTS-RS's random smoothing (Chen & Hsieh,
"Stabilizing differentiable architecture search via perturbation-based regularization"): during each
weight step the mixing weights (the softmax of alpha) are perturbed by uniform noise in [-a, a] and
clipped to [0, 1], no renormalisation, with the amplitude a rising linearly over the epochs from
`smoothing_start` (0.03) to eps, as the SDARTS code schedules it (`0.03 + (eps - 0.03) * epoch /
epochs`; its default eps, also DARTS-PT's for its SDARTS-RS super-nets, is 0.3). Off by default.

The alphas live in the network as `net.arch_weights` (`ArchWeights`, nas/supernet/modules.py), so `weights.pt` carries them and
a selection method reads them from the loaded super-net. A child is scored as in SPOS: each choice
runs only the child's operation with the shared weights. The history gains, per epoch, the softmax of
every choice's alpha (columns `alpha[<choice>][<op>]`) and `param_free_edges`, the number of choices
whose strongest operation is parameter-free. Resume state: both optimisers, the schedule, the
smoothing noise generator (alpha itself is in the model's state).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from dataclasses import dataclass


from nas import io
from nas.settings import opt
from nas.spaces.base import Choice, SearchSpace
from nas.supernet.base import Method, register_method

if TYPE_CHECKING:  # annotations only: torch is imported where it runs, so importing this module does not load it
    from torch import nn


@dataclass(frozen=True)
class DartsSettings:
    alpha_lr: float = opt(3e-4, above=0.0, doc="Adam learning rate of alpha")
    alpha_beta1: float = opt(0.5, min=0.0, below=1.0)
    alpha_beta2: float = opt(0.999, min=0.0, below=1.0)
    alpha_weight_decay: float = opt(1e-3, min=0.0)
    grad_clip: float = opt(5.0, min=0.0, doc="clip the weights' gradient norm (0 = off)")
    fix_alpha: bool = opt(False, doc="never step alpha: a uniform one-shot super-net")
    smoothing: float = opt(0.0, min=0.0, below=1.0,
                           doc="SDARTS-RS: uniform noise amplitude on the mixing weights at the last epoch (0 = off)")
    smoothing_start: float = opt(0.03, min=0.0, below=1.0,
                                 doc="SDARTS-RS: the amplitude at epoch 0, rising linearly to `smoothing`")

    def smoothing_at(self, epoch: int, epochs: int) -> float:
        """SDARTS-RS's schedule for 1-based `epoch` of `epochs`: start + (smoothing - start) * (epoch - 1)
        / epochs, as SDARTS's 0-based loop computes it, held at `smoothing` past the last epoch (the
        fine-tuning of a selection); 0 when smoothing is off."""
        if self.smoothing == 0:
            return 0.0
        return self.smoothing_start + (self.smoothing - self.smoothing_start) * min((epoch - 1) / epochs, 1.0)
    init_scale: float = opt(1e-3, min=0.0, doc="alpha starts as init_scale * N(0, 1), seeded by the run")


def mixed(choice: Choice, candidates: dict) -> nn.Module:
    from nas.supernet.modules import MixedChoice

    return MixedChoice(candidates)


class _Noise:
    """The smoothing noise's generator, with the state_dict interface of a resumable object."""

    def __init__(self, seed: int):
        import torch

        self.generator = torch.Generator().manual_seed(seed)

    def state_dict(self):
        return {"state": self.generator.get_state()}

    def load_state_dict(self, state):
        self.generator.set_state(state["state"])


@register_method
class DARTS(Method):
    """First-order DARTS over any space: mixed operations, alternating alpha and weight steps."""

    name = "darts"
    choice = staticmethod(mixed)
    needs_valid = True
    Settings = DartsSettings
    architecture_weights = True

    @classmethod
    def adapt(cls, net, space: SearchSpace):
        from nas.supernet.modules import ArchWeights

        net.arch_weights = ArchWeights(space.choices())
        return net

    def setup(self, net, steps_per_epoch: int, seed: int, landmarks=None) -> None:
        import torch

        s = self.hp.settings
        with torch.no_grad():  # DARTS's initialisation: small random logits (exactly uniform with fix_alpha)
            g = torch.Generator().manual_seed(seed)
            for a in net.arch_weights.alpha:
                a.copy_(torch.zeros(a.shape) if s.fix_alpha else s.init_scale * torch.randn(a.shape, generator=g))
        self.optimizers(net, self.hp, steps_per_epoch, seed)

    def optimizers(self, net, hp, steps_per_epoch: int, seed: int) -> None:
        """SGD on the weights with `hp`'s schedule, Adam on alpha, the smoothing noise; alpha itself is
        left as it is (fine-tuning a trained super-net starts here too, with its own lr and epochs)."""
        from nas.train import Adam, make_optimizer

        s = self.hp.settings
        self.net = net
        self.fixed: dict[str, str] = getattr(self, "fixed", {})
        self.weights = [p for n, p in net.named_parameters() if not n.startswith("arch_weights.")]
        self.optimizer, self.scheduler = make_optimizer(net, hp, steps_per_epoch, params=self.weights)
        self.alpha_optimizer = Adam(net.arch_weights.parameters(), lr=s.alpha_lr,
                                     betas=(s.alpha_beta1, s.alpha_beta2),
                                     weight_decay=s.alpha_weight_decay)
        self.noise = _Noise(seed + 1)

    def checkpointables(self) -> dict:
        return {"optimizer": self.optimizer, "scheduler": self.scheduler, "alpha_optimizer": self.alpha_optimizer,
                "noise": self.noise}

    def mixing(self, net, smoothing: float = 0.0):
        """The architecture whose every choice is {op: mixing weight} (softmax of alpha, optionally
        smoothed; a choice in `self.fixed` is its one operation), in the space's format."""
        import torch

        probs = net.arch_weights.probs()
        if smoothing > 0:
            probs = [(p.detach() + (torch.rand(p.shape, generator=self.noise.generator) * 2 - 1).to(p.device)
                      * smoothing).clamp(0, 1) for p in probs]
        picks = {k: dict(zip(ops, p)) for k, ops, p in zip(net.arch_weights.keys, net.arch_weights.candidates, probs)}
        for key, op in getattr(self, "fixed", {}).items():  # decided by a selection (DARTS-PT): one operation
            picks[key] = {o: (1.0 if o == op else 0.0) for o in picks[key]}
        return self.space.from_picks(picks)

    def train_epoch(self, epoch, net, x, y, generator, augment=None, valid=None) -> dict:
        import torch
        from torch import nn
        from torch.nn import functional as F

        from nas.train import batch_indices

        s = self.hp.settings
        if valid is None and not s.fix_alpha:
            raise io.UserError("supernet.method darts: alpha steps need the valid split")
        net.train()
        net.path_dropout = self.hp.path_dropout
        lr = self.optimizer.param_groups[0]["lr"]
        loss_sum = torch.zeros((), dtype=torch.float64, device=x.device)
        correct = torch.zeros((), dtype=torch.int64, device=x.device)
        seen = passes = 0
        amplitude = s.smoothing_at(epoch, self.hp.epochs)
        valid_batches = [] if s.fix_alpha else batch_indices(len(valid[1]), self.hp.batch_size, generator)
        for step, idx in enumerate(batch_indices(len(y), self.hp.batch_size, generator)):
            if not s.fix_alpha:  # alpha step on a validation batch
                vidx = valid_batches[step % len(valid_batches)].to(x.device)
                self.alpha_optimizer.zero_grad(set_to_none=True)
                # gradients of alpha only: the weights' would be discarded by the weight step anyway
                F.cross_entropy(net(valid[0][vidx], self.mixing(net)), valid[1][vidx]).backward(
                    inputs=list(net.arch_weights.parameters()))
                self.alpha_optimizer.step()
                passes += 1
            idx = idx.to(x.device)
            xb, yb = x[idx], y[idx]
            if augment is not None:
                xb = augment(xb, generator)
            self.optimizer.zero_grad(set_to_none=True)
            with torch.no_grad():
                arch = self.mixing(net, amplitude)
            arch = tuple({k: v.detach() if torch.is_tensor(v) else v for k, v in pick.items()}
                         for pick in arch)  # alpha gets no gradient from training batches
            logits = net(xb, arch)
            loss = F.cross_entropy(logits, yb)
            loss.backward()
            if s.grad_clip > 0:
                nn.utils.clip_grad_norm_(self.weights, s.grad_clip)
            self.optimizer.step()
            self.scheduler.step()
            net.arch_weights.zero_grad(set_to_none=True)
            loss_sum += loss.detach().double() * len(yb)
            correct += (logits.argmax(1) == yb).sum()
            seen += len(yb)
            passes += 1
        row = {"lr": lr, "train_loss": loss_sum.item() / seen, "train_accuracy": 100.0 * correct.item() / seen,
               "passes": passes}
        probs = net.arch_weights.export_probs()
        for key, ops in probs.items():
            for op, p in ops.items():
                row[f"alpha[{key}][{op}]"] = p
        row["param_free_edges"] = sum(max(ops, key=ops.get) in self.space.parameter_free for ops in probs.values())
        return row

    def export_probs(self) -> dict | None:
        return self.net.arch_weights.export_probs()

    @classmethod
    def check(cls, where, hp, space: SearchSpace, sample_archs: int, topk) -> None:
        for key, off in (("landmarks", 0), ("wpl_weight", 0.0), ("warmup_epochs", 0), ("dense_steps", 0)):
            if getattr(hp, key) != off:
                raise io.UserError(f"{where(key)}: {getattr(hp, key)!r} is a single-path heuristic; "
                                   f"supernet.method darts does not use it (leave it at {off})")
        # Sampling picks the single path a step trains; DARTS trains the mixture of every path, so a
        # sampling rule written for a DARTS variant would be silently ignored: refused where it is
        # written in the variant itself, or beside `method: darts` in the section. Set in the section
        # for a variant that makes itself DARTS, it is meant for the single-path variants beside it.
        def in_variant(key):
            return where(key).startswith("supernet.variants.")
        if hp.sampling != "random_nas" and (in_variant("sampling") or not in_variant("method")):
            raise io.UserError(f"{where('sampling')}: {hp.sampling} chooses the single path a step trains; "
                               "supernet.method darts trains every operation of every edge at once and would "
                               "ignore it (leave it at random_nas, the default, for a DARTS variant)")
        if hp.op_on != "edge" or hp.kernel_mapping:
            raise io.UserError(f"{where('op_on' if hp.op_on != 'edge' else 'kernel_mapping')}: DARTS mixes the "
                               "operations of each edge; node-wise choices and kernel mapping are single-path forms")
