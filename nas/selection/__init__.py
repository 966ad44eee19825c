"""Selection methods: which architecture each method picks from a trained super-net run.

A new method is one module here with a function decorated by `@register_selector("name")` (it takes
a `Context` and returns an architecture), plus one import line below. `select.methods` names the
methods a study runs.
"""

from nas.selection.base import (BASELINES, NEEDS_SUPERNET, SELECTORS, Context, NotApplicable,  # noqa: F401
                                number_picks, outside_pool, pick,
                                register_selector, run_table, selection_summary, selection_table)
from nas.selection import pool  # noqa: F401,E402  (registers 'supernet')
from nas.selection import magnitude  # noqa: F401,E402  (registers 'magnitude')
from nas.selection import perturbation  # noqa: F401,E402  (registers 'perturbation'; `nas perturb`)
