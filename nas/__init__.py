"""Weight-sharing NAS study pipeline: super-net vs stand-alone ranking, heuristics, selection."""

__version__ = "0.1.0"
