"""Super-net methods: how a weight-sharing network is built over a search space and trained.

`base.py` holds what every method shares (the `Method` lifecycle, the resumable epoch loop, the
checkpoint schema, landmarks); each method is one module registered with `@register_method`:

    spos.py   single-path one-shot with the heuristics of Yu et al. (the default, `supernet.method: spos`)
    darts.py  first-order DARTS: mixed operations, alpha on the valid split (`supernet.method: darts`)

A new method is one module here with a `Method` subclass, plus one import line below.
"""

from nas.supernet.base import (HISTORY_COLUMNS, METHODS, DenseScores, Method, checkpoint, checkpoint_meta,  # noqa: F401
                               choose_landmarks, get_method, landmark_ids, load, method_for, register_method,
                               training_subset, weights)
from nas.supernet import spos  # noqa: F401,E402  (registers 'spos')
from nas.supernet import darts  # noqa: F401,E402  (registers 'darts')
from nas.supernet.spos import (SAMPLERS, PlasticityLoss, fairnas_sampler, landmark_loss,  # noqa: F401,E402
                               one_shot_path, random_nas_sampler, train_epoch, uniform_sampler)


def build(space, hp, channels: int, cells: int, data, training: bool = True):
    """The super-net of variant settings `hp` over `space` (its method's choice modules)."""
    return method_for(space, hp).build(channels, cells, data, training)


def train(net, hp, space, train_data, seed: int, device, state_path, augment=None, on_epoch=None,
          landmarks=None, valid=None, dense=None):
    """Train `net` with its variant's method for hp.epochs, resumably; returns the history."""
    from nas.supernet.base import train as run

    return run(method_for(space, hp), net, train_data, seed, device, state_path, augment, on_epoch, landmarks, valid,
               dense)
