"""The forecasting backtest's protocol held equal with statsforecast's: IronSpider's naive
and seasonal naive models, backtested by `ironspider evaluate forecasts` on the Bitbrains
panel, give per series the same MASE (to 1e-9) as statsforecast's Naive and
SeasonalNaive(288) run by `cross_validation(h=12, step_size=12, n_windows=48)` on the panel
IronSpider wrote, both scored by the same code (`--with`). The same for naive against Naive
on the GenAI pods' panel (`--layout genai`: `cross_validation(h=12, step_size=12,
n_windows=30)` on the 57 s grid, MASE on the in-sample naive scale)."""

from __future__ import annotations

import csv
import subprocess
from pathlib import Path

from harness import binary_path
from statsforecast_cv import cross_validation, to_forecasts_csv

DATASETS = Path(__file__).resolve().parents[2].parent / "shared" / "datasets"
BITBRAINS = DATASETS / "bitbrains-rnd" / "2013-7"
GENAI = DATASETS / "alibaba-genai-v2026"
PAIRS = {"naive": "Naive", "snaive": "SeasonalNaive"}


def evaluate(out: Path, pairs: dict, *extra: str, data: Path = BITBRAINS) -> None:
    """`ironspider evaluate forecasts` on `data` (the Bitbrains month by default) into `out`."""
    command = [str(binary_path()), "evaluate", "forecasts", str(data), "--out", str(out),
               "--models", ",".join(pairs), "--quiet", *extra]
    done = subprocess.run(command, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr


def both_scored(tmp_path: Path, pairs: dict, count: int, *extra: str, data: Path = BITBRAINS,
                layout: str = "bitbrains") -> None:
    """IronSpider's models and statsforecast's (`pairs`) on the same panel, scored by the same
    code: every one of the `count` series' MASE equal to 1e-9."""
    evaluate(tmp_path / "first", pairs, *extra, data=data)
    cv, _ = cross_validation(tmp_path / "first" / "panel.csv", list(pairs.values()), layout=layout)
    theirs = tmp_path / "statsforecast.csv"
    to_forecasts_csv(cv, list(pairs.values())).to_csv(theirs, index=False, float_format="%.17g", na_rep="")
    evaluate(tmp_path / "both", pairs, *extra, "--with", str(theirs), data=data)
    with open(tmp_path / "both" / "errors.csv", newline="") as errors:
        mase = {(row["series"], row["model"]): row["mase"] for row in csv.DictReader(errors)}
    for ours, name in pairs.items():
        series = [s for (s, m) in mase if m == ours]
        assert len(series) == count, f"{ours}: {len(series)} series"
        for s in series:
            a, b = mase[(s, ours)], mase[(s, name)]
            if a == "" or b == "":
                assert a == b, f"series {s}: {ours} {a!r} against {name} {b!r}"
            else:
                assert abs(float(a) - float(b)) <= 1e-9, f"series {s}: {ours} {a} against {name} {b}"


def test_naive_and_seasonal_naive_match_statsforecast_per_series(tmp_path):
    both_scored(tmp_path, PAIRS, 99)


def test_naive_matches_statsforecast_per_pod_on_the_genai_layout(tmp_path):
    both_scored(tmp_path, {"naive": "Naive"}, 93, "--layout", "genai", data=GENAI, layout="genai")
