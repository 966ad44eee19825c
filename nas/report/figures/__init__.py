"""The report's figures, one module per group; each function returns a matplotlib figure (or None when
there is nothing to draw) and nas.report.page saves it with `common.save_figure`.
  common.py      pyplot on the Agg backend, imported on first use; saving; panels, colours, error bars
  overview.py    the headline (tau of every run), super-net vs stand-alone scatter and rank scatter,
                 training curves, stand-alone seed vs seed
  alpha.py       DARTS: architecture weights over the epochs, alpha against removal damage
  bias.py        operation bias: each operation under the stand-alone and the super-net rankings
  heuristics.py  the heuristics' effects against the baseline
  stability.py   ranking stability over time, ranks across seeds, the degree of sharing, interference
"""
