"""Weight-sharing NAS study pipeline: super-net vs stand-alone ranking, heuristics, selection."""

from nas import lifeline as _lifeline

_lifeline.arm()  # first thing: a stage command watches its parent before the heavy imports (nas.lifeline)

import os  # noqa: E402

# PyTorch's CPU threads are OpenMP threads, which by default spin while they wait for each other: with
# `threads: 2` and any other busy process on a 2-core machine, a waiting thread spins on the core the
# working one needs, and a super-net stage runs 8-20x slower than on one thread. Passive waiting
# sleeps instead; it changes no arithmetic (same bytes for a given `threads`). It must be set before
# OpenMP starts, so here, before anything imports torch; a value the user set is kept.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

__version__ = "0.1.0"


def load(artifact: str, rev: str | None = None, variant: str | None = None, repo: str | None = None,
         seed: int = 0, study: str | None = None):
    """A study artifact ('scores', 'standalone', 'correlation', ...) as a pandas DataFrame, at any git
    revision or DVC experiment `rev`, without checking it out; per-run artifacts ('scores', 'history')
    take the super-net `variant` and `seed`; `study` names a study of studies/ (None: the default
    study). See nas.artifacts."""
    from nas.artifacts import load as _load

    return _load(artifact, rev=rev, variant=variant, repo=repo, seed=seed, study=study)
