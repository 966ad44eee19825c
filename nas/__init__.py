"""Weight-sharing NAS study pipeline: super-net vs stand-alone ranking, heuristics, selection."""

from nas import lifeline as _lifeline

_lifeline.arm()  # first thing: a stage command watches its parent before the heavy imports (nas.lifeline)

__version__ = "0.1.0"


def load(artifact: str, rev: str | None = None, variant: str | None = None, repo: str | None = None,
         seed: int = 0):
    """A study artifact ('scores', 'standalone', 'correlation', ...) as a pandas DataFrame, at any git
    revision or DVC experiment `rev`, without checking it out; per-run artifacts ('scores', 'history')
    take the super-net `variant` and `seed`. See nas.artifacts."""
    from nas.artifacts import load as _load

    return _load(artifact, rev=rev, variant=variant, repo=repo, seed=seed)
