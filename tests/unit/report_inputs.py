"""The small synthetic inputs of a report (two variants, two seeds, 12 architectures, 5 epochs) that
the report's tests (test_report_*.py) build."""

from __future__ import annotations

import numpy as np
import pandas as pd

N_ARCHS, EPOCHS = 12, 5


def correlation_rows(variant: str, rng) -> list[dict]:
    rows = []
    for metric, k in [("kendall_tau", None), ("sparse_kendall_tau", None), ("spearman", None), ("pearson", None),
                      ("precision_at_k", 3), ("topk_percentile", 3)]:
        value = rng.uniform(0.3, 0.8) if metric != "topk_percentile" else rng.uniform(60, 95)
        rows.append({"variant": variant, "metric": metric, "k": k, "value": value,
                     "ci_low": value - 0.1, "ci_high": value + 0.1})
    return rows


def make_inputs(variants=("baseline", "fairnas"), seeds=(0, 1)) -> dict:
    rng = np.random.default_rng(0)
    ids = np.arange(N_ARCHS, dtype="int64")
    names = [f"arch-{i}" for i in ids]
    archs = pd.DataFrame({"arch_id": ids, "arch": names, "canonical": names,
                          "params": rng.integers(1000, 9000, N_ARCHS), "flops": rng.integers(10**5, 10**6, N_ARCHS)})
    base = rng.uniform(80, 90, N_ARCHS)
    standalone = pd.DataFrame([
        {"arch_id": i, "arch": names[i], "seed": s, "train_accuracy": base[i] + 5,
         "valid_accuracy": base[i] + rng.normal(0, 0.5), "valid_loss": 0.5,
         "test_accuracy": base[i] + rng.normal(0, 0.5), "test_loss": 0.5}
        for i in ids for s in seeds])
    truth = standalone.groupby("arch_id", as_index=False)["test_accuracy"].mean().rename(
        columns={"test_accuracy": "accuracy"})
    truth.insert(1, "arch", names)
    scores = {v: pd.DataFrame({"arch_id": ids, "accuracy": base - 20 + rng.normal(0, 2, N_ARCHS),
                               "loss": rng.uniform(1, 2, N_ARCHS)}) for v in variants}
    histories = {v: pd.DataFrame({"epoch": np.arange(EPOCHS, dtype="int64"), "lr": np.linspace(0.1, 0.0, EPOCHS),
                                  "train_loss": np.linspace(2, 1, EPOCHS), "train_accuracy": np.linspace(20, 60, EPOCHS)})
                 for v in variants}
    rows = [r for v in variants for r in correlation_rows(v, rng)]
    if len(seeds) >= 2:
        rows.append({"variant": "standalone", "metric": "seed_to_seed_kendall_tau", "k": None, "value": 0.871,
                     "ci_low": 0.8, "ci_high": 0.93})
        rows.append({"variant": "standalone", "metric": "perfect_ranker_kendall_tau", "k": None, "value": 0.93,
                     "ci_low": 0.9, "ci_high": 0.96})
    correlation = pd.DataFrame(rows).astype({"k": "Int64"})
    best = truth["accuracy"].max()
    sel = []
    for v in variants:
        pick = int(scores[v]["accuracy"].idxmax())
        acc = truth["accuracy"].iloc[pick]
        sel += [{"variant": v, "method": "supernet", "arch_id": pick, "arch": names[pick], "accuracy": acc,
                 "percentile": 100 * (truth["accuracy"] < acc).sum() / (N_ARCHS - 1), "regret": best - acc},
                {"variant": v, "method": "oracle", "arch_id": int(truth["accuracy"].idxmax()),
                 "arch": names[int(truth["accuracy"].idxmax())], "accuracy": best, "percentile": 100.0, "regret": 0.0},
                {"variant": v, "method": "random", "arch_id": pd.NA, "arch": pd.NA,
                 "accuracy": truth["accuracy"].mean(), "percentile": 50.0, "regret": best - truth["accuracy"].mean()}]
    selection = pd.DataFrame(sel).astype({"arch_id": "Int64", "arch": "string"})
    params = {"sample": {"archs": N_ARCHS}, "variants": {v: {"lr": 0.1} for v in variants}, "topk": (3,)}
    return dict(archs=archs, truth=truth, standalone=standalone, scores=scores, histories=histories,
                correlation=correlation, selection=selection, params=params, truth_split="test")
