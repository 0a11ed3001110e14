"""statsforecast's cross-validation on the panel `ironspider evaluate forecasts` wrote
(`OUT/panel.csv`), with the same windows (h=12, step_size=12, n_windows=48), written in the
columns of `forecasts.csv` so that `ironspider evaluate forecasts --with FILE` scores it with
the very code that scores IronSpider's models.

Usage: python statsforecast_cv.py PANEL.csv OUT.csv [MODEL ...]
(models: Naive, SeasonalNaive, AutoETS, AutoTheta; default Naive SeasonalNaive).
"""

import sys
import time

import pandas as pd

H, STEP, WINDOWS, SEASON, FREQ = 12, 12, 48, 288, 300


def models(names):
    """statsforecast models by name, with the daily season where they take one."""
    from statsforecast.models import AutoETS, AutoTheta, Naive, SeasonalNaive

    known = {
        "Naive": lambda: Naive(),
        "SeasonalNaive": lambda: SeasonalNaive(season_length=SEASON),
        "AutoETS": lambda: AutoETS(season_length=SEASON),
        "AutoTheta": lambda: AutoTheta(season_length=SEASON),
    }
    unknown = [n for n in names if n not in known]
    if unknown:
        raise SystemExit(f"unknown models {unknown}; known: {sorted(known)}")
    return [known[n]() for n in names]


def cross_validation(panel_csv, names, n_jobs=1):
    """The cross-validation frame and the seconds it took."""
    from statsforecast import StatsForecast

    panel = pd.read_csv(panel_csv, dtype={"unique_id": str, "ds": "int64", "y": "float64"})
    forecaster = StatsForecast(models=models(names), freq=FREQ, n_jobs=n_jobs)
    started = time.perf_counter()
    cv = forecaster.cross_validation(df=panel, h=H, step_size=STEP, n_windows=WINDOWS, level=[80])
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
    if len(argv) < 3:
        raise SystemExit(__doc__)
    names = argv[3:] or ["Naive", "SeasonalNaive"]
    cv, seconds = cross_validation(argv[1], names)
    to_forecasts_csv(cv, names).to_csv(argv[2], index=False, float_format="%.17g", na_rep="")
    print(f"statsforecast {', '.join(names)}: {seconds:.1f} s for {cv['unique_id'].nunique()} series")


if __name__ == "__main__":
    main(sys.argv)
