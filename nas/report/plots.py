"""The CSVs `dvc plots` draws (every run in one file, one row per point) and the page template
`dvc plots show` / `dvc plots diff` write into, with Vega inlined: offline."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from nas.io import atomic_path, require_columns


SCATTER_COLUMNS = ["variant", "arch_id", "standalone_accuracy", "supernet_accuracy"]
CURVE_COLUMNS = ["variant", "epoch", "lr", "train_loss", "train_accuracy"]
CSV_FLOAT = "%.6g"


def scatter_frame(truth: pd.DataFrame, scores: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """variant, arch_id, standalone_accuracy, supernet_accuracy; one row per (variant, scored arch)."""
    require_columns(truth, ["arch_id", "accuracy"], "truth")
    standalone = truth[["arch_id", "accuracy"]].rename(columns={"accuracy": "standalone_accuracy"})
    parts = []
    for variant in sorted(scores):
        s = scores[variant]
        require_columns(s, ["arch_id", "accuracy"], f"scores[{variant}]")
        s = s[["arch_id", "accuracy"]].rename(columns={"accuracy": "supernet_accuracy"})
        # inner join: an architecture needs both numbers to be a point
        parts.append(s.merge(standalone, on="arch_id", how="inner").assign(variant=variant))
    if not parts:
        return pd.DataFrame({"variant": pd.Series(dtype="str"), "arch_id": pd.Series(dtype="int64"),
                             "standalone_accuracy": pd.Series(dtype="float64"),
                             "supernet_accuracy": pd.Series(dtype="float64")})
    df = pd.concat(parts, ignore_index=True)[SCATTER_COLUMNS]
    df = df.astype({"variant": "str", "arch_id": "int64", "standalone_accuracy": "float64",
                    "supernet_accuracy": "float64"})
    return df.sort_values(["variant", "arch_id"], kind="stable").reset_index(drop=True)


def curves_frame(histories: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """variant, epoch, lr, train_loss, train_accuracy; the super-net's training history per variant."""
    parts = []
    for variant in sorted(histories):
        h = histories[variant]
        require_columns(h, CURVE_COLUMNS[1:], f"histories[{variant}]")
        parts.append(h[CURVE_COLUMNS[1:]].assign(variant=variant))
    if not parts:
        return pd.DataFrame({"variant": pd.Series(dtype="str"), "epoch": pd.Series(dtype="int64"),
                             **{c: pd.Series(dtype="float64") for c in CURVE_COLUMNS[2:]}})
    df = pd.concat(parts, ignore_index=True)[CURVE_COLUMNS]
    df = df.astype({"variant": "str", "epoch": "int64", "lr": "float64", "train_loss": "float64",
                    "train_accuracy": "float64"})
    return df.sort_values(["variant", "epoch"], kind="stable").reset_index(drop=True)


def write_csv(df: pd.DataFrame, path: Path) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(df.to_csv(index=False, float_format=CSV_FLOAT, lineterminator="\n"), encoding="utf-8")


def heuristics_effect_frame(table: pd.DataFrame, metric: str = "sparse_kendall_tau") -> pd.DataFrame:
    """The rows `dvc plots` draws as the heuristics bar chart: each variant's mean and difference."""
    return table[table["metric"] == metric][["variant", "mean", "ci_low", "ci_high", "interval", "diff", "diff_ci_low",
                                             "diff_ci_high", "diff_interval", "p_value", "p_holm", "detectable"]]


PLOTS_PAGE = """<!DOCTYPE html>
<html>
<head>
<meta charset="utf-8">
<title>nas-study plots</title>
<script>
{bundle}
</script>
<style>body{{font-family:sans-serif}} table{{border-spacing:15px}}</style>
</head>
<body>
{{plot_divs}}
</body>
</html>
"""


def plots_page() -> str:
    """DVC's HTML template with Vega, Vega-Lite and Vega-Embed inlined (from the vl-convert-python
    package), so `dvc plots show` works offline: DVC's own template loads them from a CDN. It has no
    {scripts} placeholder, so DVC's CDN script tags are left out."""
    import vl_convert

    bundle = vl_convert.javascript_bundle()
    if "{plot_divs}" in bundle or "{scripts}" in bundle:  # DVC fills placeholders by plain replacement
        raise RuntimeError("the Vega bundle contains a DVC template placeholder")
    return PLOTS_PAGE.format(bundle=bundle.replace("</script", "<\\/script"))
