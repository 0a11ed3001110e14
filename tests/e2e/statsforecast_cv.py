"""statsforecast's cross-validation on the panel `ironspider evaluate forecasts` wrote
(`OUT/panel.csv`), with the same windows as the layout's protocol, written in the columns of
`forecasts.csv` so that `ironspider evaluate forecasts --with FILE` scores it with the very
code that scores IronSpider's models.

Layouts (`models/src/backtest.rs`): `bitbrains` (h=12, step_size=12, n_windows=48, season
288, 300 s grid) and `genai` (h=12, step_size=12, n_windows=30, season 1, 57 s grid).

Usage: python statsforecast_cv.py [--layout genai] PANEL.csv OUT.csv [MODEL ...]
(models: Naive, SeasonalNaive, AutoETS, AutoTheta, AutoARIMA; default Naive SeasonalNaive).
"""

import sys
import time

import pandas as pd

# Per layout: horizon, steps between origins, origins, season, grid step in seconds.
PROTOCOLS = {
    "bitbrains": {"h": 12, "step_size": 12, "n_windows": 48, "season": 288, "freq": 300},
    "genai": {"h": 12, "step_size": 12, "n_windows": 30, "season": 1, "freq": 57},
}


def models(names, season):
    """statsforecast models by name, with the layout's season where they take one."""
    from statsforecast.models import AutoARIMA, AutoETS, AutoTheta, Naive, SeasonalNaive

    known = {
        "Naive": lambda: Naive(),
        "SeasonalNaive": lambda: SeasonalNaive(season_length=season),
        "AutoETS": lambda: AutoETS(season_length=season),
        "AutoTheta": lambda: AutoTheta(season_length=season),
        "AutoARIMA": lambda: AutoARIMA(season_length=season),
    }
    unknown = [n for n in names if n not in known]
    if unknown:
        raise SystemExit(f"unknown models {unknown}; known: {sorted(known)}")
    return [known[n]() for n in names]


def cross_validation(panel_csv, names, n_jobs=1, layout="bitbrains"):
    """The cross-validation frame and the seconds it took."""
    from statsforecast import StatsForecast

    p = PROTOCOLS[layout]
    panel = pd.read_csv(panel_csv, dtype={"unique_id": str, "ds": "int64", "y": "float64"})
    forecaster = StatsForecast(models=models(names, p["season"]), freq=p["freq"], n_jobs=n_jobs)
    started = time.perf_counter()
    cv = forecaster.cross_validation(df=panel, h=p["h"], step_size=p["step_size"], n_windows=p["n_windows"],
                                     level=[80])
    return cv, time.perf_counter() - started


def to_forecasts_csv(cv, names):
    """The frame in the columns of `forecasts.csv`, one row per model, origin and target."""
    cv = cv.reset_index() if "unique_id" not in cv.columns else cv
    rows = []
    for name in names:
        lo, hi = f"{name}-lo-80", f"{name}-hi-80"
        part = pd.DataFrame({
            "series": cv["unique_id"].astype(str),
            "model": name,
            "origin": cv["cutoff"].astype("int64"),
            "target": cv["ds"].astype("int64"),
            "p10": cv[lo] if lo in cv.columns else float("nan"),
            "p50": cv[name],
            "p90": cv[hi] if hi in cv.columns else float("nan"),
        })
        rows.append(part)
    return pd.concat(rows, ignore_index=True)


def main(argv):
    layout = "bitbrains"
    if len(argv) > 2 and argv[1] == "--layout":
        layout, argv = argv[2], argv[:1] + argv[3:]
    if len(argv) < 3 or layout not in PROTOCOLS:
        raise SystemExit(__doc__)
    names = argv[3:] or ["Naive", "SeasonalNaive"]
    cv, seconds = cross_validation(argv[1], names, layout=layout)
    to_forecasts_csv(cv, names).to_csv(argv[2], index=False, float_format="%.17g", na_rep="")
    print(f"statsforecast {', '.join(names)}: {seconds:.1f} s for {cv['unique_id'].nunique()} series")


if __name__ == "__main__":
    main(sys.argv)
