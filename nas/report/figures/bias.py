"""Operation bias: does the super-net favour some operations more than stand-alone training does?"""

from __future__ import annotations

import numpy as np
import pandas as pd

from nas.report.figures.common import pyplot
from nas.report.tables import split_run


def operation_bias(archs: pd.DataFrame, truth: pd.DataFrame, scores: dict[str, pd.DataFrame], operations) -> pd.DataFrame:
    """operation, source (stand-alone or a variant), percentile: the mean percentile (100 = best) of
    the architectures that use an operation, under the stand-alone ranking and under each variant's
    super-net scores (averaged over its seeds). An operation the super-net favours more than stand-alone
    training does sits right of its stand-alone bar. `operations(arch_string)`: its operations."""
    ops = {int(a): operations(s) for a, s in zip(archs["arch_id"], archs["arch"])}

    def percentile(values: pd.Series) -> pd.Series:
        return 100.0 * (values.rank(method="average") - 1) / max(len(values) - 1, 1)

    def mean_by_op(pct: pd.Series, source: str) -> list[dict]:
        rows: dict[str, list[float]] = {}
        for arch_id, p in pct.items():
            for op in set(ops.get(int(arch_id), [])):
                rows.setdefault(op, []).append(float(p))
        return [{"operation": op, "source": source, "percentile": float(np.mean(v))} for op, v in sorted(rows.items())]

    out = mean_by_op(percentile(truth.set_index("arch_id")["accuracy"]), "stand-alone")
    per_variant: dict[str, list[pd.Series]] = {}
    for run, s in scores.items():
        per_variant.setdefault(split_run(run)[0], []).append(percentile(s.set_index("arch_id")["accuracy"]))
    for variant, pcts in sorted(per_variant.items()):
        out += mean_by_op(pd.concat(pcts, axis=1).mean(axis=1), variant)
    return pd.DataFrame(out, columns=["operation", "source", "percentile"])


def operation_bias_figure(bias: pd.DataFrame):
    ops = list(dict.fromkeys(bias["operation"]))
    sources = list(dict.fromkeys(bias["source"]))
    fig, ax = pyplot().subplots(figsize=(7.5, 1.2 + 0.5 * max(len(ops), 1)), layout="constrained")
    height = 0.8 / max(len(sources), 1)
    for n, source in enumerate(sources):
        d = bias[bias["source"] == source].set_index("operation").reindex(ops)
        ax.barh(np.arange(len(ops)) + n * height, d["percentile"], height=height,
                color="black" if source == "stand-alone" else f"C{n % 10}", alpha=0.75, label=source)
    ax.set_yticks(np.arange(len(ops)) + 0.4 - height / 2, labels=ops)
    ax.axvline(50, color="grey", ls="--", lw=1)
    ax.invert_yaxis()
    ax.set_xlabel("mean percentile of the architectures using the operation (100 = best)")
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1))
    ax.grid(axis="x", alpha=0.3)
    return fig
