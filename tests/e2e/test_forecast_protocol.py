"""The forecasting backtest's protocol held equal with statsforecast's: IronSpider's naive
and seasonal naive models, backtested by `ironspider evaluate forecasts` on the Bitbrains
panel, give per series the same MASE (to 1e-9) as statsforecast's Naive and
SeasonalNaive(288) run by `cross_validation(h=12, step_size=12, n_windows=48)` on the panel
IronSpider wrote, both scored by the same code (`--with`)."""

from __future__ import annotations

import csv
import subprocess
from pathlib import Path

from harness import binary_path
from statsforecast_cv import cross_validation, to_forecasts_csv

BITBRAINS = Path(__file__).resolve().parents[2].parent / "shared" / "datasets" / "bitbrains-rnd" / "2013-7"
PAIRS = {"naive": "Naive", "snaive": "SeasonalNaive"}


def evaluate(out: Path, *extra: str) -> None:
    """`ironspider evaluate forecasts` on the Bitbrains month into `out`."""
    command = [str(binary_path()), "evaluate", "forecasts", str(BITBRAINS), "--out", str(out),
               "--models", ",".join(PAIRS), "--quiet", *extra]
    done = subprocess.run(command, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr


def test_naive_and_seasonal_naive_match_statsforecast_per_series(tmp_path):
    evaluate(tmp_path / "first")
    cv, _ = cross_validation(tmp_path / "first" / "panel.csv", list(PAIRS.values()))
    theirs = tmp_path / "statsforecast.csv"
    to_forecasts_csv(cv, list(PAIRS.values())).to_csv(theirs, index=False, float_format="%.17g", na_rep="")
    evaluate(tmp_path / "both", "--with", str(theirs))
    with open(tmp_path / "both" / "errors.csv", newline="") as errors:
        mase = {(row["series"], row["model"]): row["mase"] for row in csv.DictReader(errors)}
    for ours, name in PAIRS.items():
        series = [s for (s, m) in mase if m == ours]
        assert len(series) == 99, f"{ours}: {len(series)} series"
        for s in series:
            a, b = mase[(s, ours)], mase[(s, name)]
            if a == "" or b == "":
                assert a == b, f"series {s}: {ours} {a!r} against {name} {b!r}"
            else:
                assert abs(float(a) - float(b)) <= 1e-9, f"series {s}: {ours} {a} against {name} {b}"
