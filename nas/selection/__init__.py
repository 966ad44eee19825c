"""Selection methods: which architecture each method picks from a trained super-net run.

A new method is one module here with a function decorated by `@register_selector("name", ...)` (it
takes a `Context` and returns an architecture; the decorator declares what else it has: settings of
its own under `select.<name>`, the super-net methods it applies to, a stage of its own), plus one
import line below. `select.methods` names the methods a study runs; `nas dag`, the Snakefile, the
config check and the report learn everything else from the registry.
`tests/unit/test_selector_conformance.py` runs every registered method on a tiny trained super-net.
"""

from nas.selection.base import (BASELINES, SELECTORS, Context, NotApplicable, Selector,  # noqa: F401
                                get_selector, number_picks, outside_pool, pick,
                                register_selector, run_table, selection_summary, selection_table)
from nas.selection import pool  # noqa: F401,E402  (registers 'supernet')
from nas.selection import magnitude  # noqa: F401,E402  (registers 'magnitude')
from nas.selection import perturbation  # noqa: F401,E402  (registers 'perturbation' and its `nas perturb` stage)
