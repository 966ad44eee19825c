"""Labels and number formats: one place, so the summary, the tables, the figures and the tests agree."""

from __future__ import annotations

from nas.metrics_files import is_missing


# One label table and one decimals table for every metric the report and the terminal show. Labels
# are plain text (escaped where they go into HTML); "{k}" takes the k of P@k. Correlations get 3
# decimals because the variants being compared (and the s-KdT caveat, nas.report.page.SKDT_NOTE)
# differ by less than 0.01.
LABELS = {"kendall_tau": "Kendall τ", "sparse_kendall_tau": "s-KdT", "spearman": "Spearman ρ",
          "pearson": "Pearson r", "precision_at_k": "P@{k}", "topk_percentile": "top-{k} percentile",
          "top_share_tau": "τ in top {k}%",
          "selected_accuracy": "selected accuracy (%)", "regret": "regret (points)", "passes": "passes",
          "seconds": "seconds"}
DECIMALS = {"precision_at_k": 2, "topk_percentile": 1, "selected_accuracy": 2, "regret": 2, "passes": 0,
            "seconds": 1}


SUMMARY_DECIMALS = {"accuracy": 2, "regret": 2, "param_free": 1}
SUMMARY_LABELS = {"accuracy": "stand-alone accuracy (%)", "regret": "regret (points)", "param_free": "parameter-free ops"}


STABILITY_LABELS = {
    "tau_truth": "τ vs ground truth", "seed_tau": "seed-to-seed τ", "distinct_top1": "distinct top-1",
    "epoch_consecutive_tau": "τ consecutive epochs", "epoch_top1_changes": "top-1 changes (epochs)",
    "step_consecutive_tau": "τ consecutive steps", "step_top1_changes": "top-1 changes (steps)",
    "passes": "passes", "interference": "interference |Δ loss|"}
STABILITY_DECIMALS = {"distinct_top1": 0, "passes": 0, "epoch_top1_changes": 1, "step_top1_changes": 1,
                      "interference": 4}


def fmt(x, decimals: int = 3, sign: str = "") -> str:
    """`sign="+"` writes the sign of positive numbers too (differences)."""
    return "n/a" if is_missing(x) else f"{float(x):{sign}.{decimals}f}"


def fmt_ci(value, low, high, decimals: int = 3, sign: str = "", kind: str = "t") -> str:
    """'0.623 [0.512, 0.708]' for an interval; '0.623 (range 0.512, 0.708)' for the range of a few
    seeds' values (`kind="range"`, see nas.power.interval); just the value without bounds."""
    if is_missing(value):
        return "n/a"
    if is_missing(low) or is_missing(high) or kind == "none":
        return fmt(value, decimals, sign)
    if kind == "range":
        return f"{fmt(value, decimals, sign)} (range {fmt(low, decimals, sign)}, {fmt(high, decimals, sign)})"
    return f"{fmt(value, decimals, sign)} [{fmt(low, decimals, sign)}, {fmt(high, decimals, sign)}]"


def fmt_p(p) -> str:
    if is_missing(p):
        return "p=n/a"
    return "p<0.001" if p < 0.001 else f"p={p:.3f}" if p < 0.01 else f"p={p:.2f}"


def fmt_test(p, p_holm, detectable, digits: int) -> str:
    """'p=0.03, Holm 0.21, detects ±0.081': a comparison's p-value, its Holm-corrected value within the
    table, and the difference its seeds detect with 80 % power."""
    if is_missing(p):
        return fmt_p(p)
    holm = "Holm n/a" if is_missing(p_holm) else fmt_p(p_holm).replace("p=", "Holm ").replace("p<", "Holm <")
    detects = "" if is_missing(detectable) else f", detects ±{detectable:.{digits}f}"
    return f"{fmt_p(p)}, {holm}{detects}"


def metric_label(metric: str, k) -> str:
    """'Kendall τ', 'P@5', 'name @k' for a metric without a label (plain text)."""
    label = LABELS.get(metric, metric)
    if "{k}" in label:
        return label.format(k="k" if is_missing(k) else int(k))
    return label if is_missing(k) else f"{label} @{int(k)}"


def decimals(metric: str, default: int = 3) -> int:
    return DECIMALS.get(metric, default)
