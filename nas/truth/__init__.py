"""Ground-truth sources: where the stand-alone accuracy an architecture is measured against comes from.

`base.py` holds the `Source` interface and the registry; each source is one module registered with
`@register_source`:

    train.py   every architecture trained from scratch, per seed, in shards (`standalone.source: train`)
    table.py   one accuracy per architecture read from a Parquet or CSV file (`standalone.source: table`)
    benchmark.py  a benchmark's own records (NAS-Bench-201 .pth, NATS-Bench folder, NDS JSON), imported
               once (`standalone.source: benchmark`); benchfiles.py reads those files safely

A new source is one module here with a `Source` subclass, plus one import line below;
`tests/unit/test_truth_conformance.py` runs every registered source through the interface.
"""

from nas.truth.base import SOURCES, Source, get_source, register_source, source_for  # noqa: F401
from nas.truth import train  # noqa: F401,E402  (registers 'train')
from nas.truth import table  # noqa: F401,E402  (registers 'table')
from nas.truth import benchmark  # noqa: F401,E402  (registers 'benchmark')
