"""Selection methods: which architecture each method picks from a trained super-net run.

A new method is one module here with a function decorated by `@register_selector("name")` (it takes
a `Context` and returns an architecture), plus one import line below. `select.methods` names the
methods a study runs.
"""

from nas.selection.base import (BASELINES, NEEDS_SUPERNET, SELECTORS, Context, number_picks, outside_pool, pick,  # noqa: F401
                                register_selector, run_table, selection_table)
from nas.selection import pool  # noqa: F401,E402  (registers 'supernet')
