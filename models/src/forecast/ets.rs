//! Exponential smoothing: simple ([`Ses`]), damped-trend Holt ([`DampedHolt`]) and additive
//! Holt-Winters ([`HoltWinters`]), each a streaming [`Forecaster`] updated in O(1) time with
//! O(1) memory (O(m) for the seasonal model of period m).
//!
//! Source: Hyndman & Athanasopoulos, *Forecasting: Principles and Practice*, 3rd ed., ch. 8
//! (the component form of each method); the damped trend is Gardner & McKenzie (1985).
//!
//! ## Formulas (component form, FPP3 §8.1–8.3)
//!
//! With level ℓ, trend b, seasonal s of period m, smoothing weights α, β, γ and damping φ:
//!
//! - **SES**: ℓ_t = α y_t + (1 − α) ℓ_{t−1}; ŷ_{T+h} = ℓ_T.
//! - **Damped Holt**: ℓ_t = α y_t + (1 − α)(ℓ_{t−1} + φ b_{t−1});
//!   b_t = β (ℓ_t − ℓ_{t−1}) + (1 − β) φ b_{t−1}; ŷ_{T+h} = ℓ_T + φ_h b_T with
//!   φ_h = φ + φ² + … + φ^h = φ (1 − φ^h) / (1 − φ) (and φ_h = h when φ = 1, Holt's linear
//!   trend).
//! - **Additive Holt-Winters** (damped when φ < 1):
//!   ℓ_t = α (y_t − s_{t−m}) + (1 − α)(ℓ_{t−1} + φ b_{t−1});
//!   b_t = β (ℓ_t − ℓ_{t−1}) + (1 − β) φ b_{t−1};
//!   s_t = γ (y_t − ℓ_{t−1} − φ b_{t−1}) + (1 − γ) s_{t−m};
//!   ŷ_{T+h} = ℓ_T + φ_h b_T + s_{T+h−m(k+1)}, k = ⌊(h − 1)/m⌋.
//!
//! ## How they are computed
//!
//! The code uses the algebraically equal error-correction form: with the one-step error
//! ε_t = y_t − (ℓ_{t−1} + φ b_{t−1} + s_{t−m}) (s = 0 without a season),
//! ℓ_t = ℓ_{t−1} + φ b_{t−1} + α ε_t, b_t = φ b_{t−1} + α β ε_t, s_t = s_{t−m} + γ ε_t.
//! (Expanding the component form gives these; e.g. β(ℓ_t − ℓ_{t−1}) + (1 − β) φ b_{t−1}
//! = φ b_{t−1} + β (ℓ_t − ℓ_{t−1} − φ b_{t−1}) = φ b_{t−1} + β α ε_t.) The gain: a series
//! the model already fits has ε = 0 exactly, so a constant series is forecast exactly, with
//! no rounding drift.
//!
//! ## Initialisation (chosen here, simple and streaming)
//!
//! - SES: ℓ_1 = y_1; forecasts from the first observation on.
//! - Damped Holt: the line through the first two observations, ℓ_2 = y_2, b_2 = y_2 − y_1;
//!   forecasts from the second observation on, the recursions from the third.
//! - Holt-Winters: after the first full season, ℓ_m = mean(y_1 … y_m), b_m = 0 and
//!   s_i = y_i − ℓ_m for i = 1 … m; forecasts from the m-th observation on. The mean is
//!   kept incrementally (mean_k = mean_{k−1} + (y_k − mean_{k−1})/k), which is exact for a
//!   constant season.
//!
//! ## Parameters
//!
//! α ∈ (0, 1], β ∈ [0, 1], φ ∈ (0, 1], γ ∈ [0, 1 − α] (FPP3's usual restriction on γ),
//! season m ≥ 2. The constructors refuse anything else, NaN included, with
//! [`InvalidParameter`].

use std::fmt;

use super::Forecaster;

/// A model parameter outside its admissible range.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct InvalidParameter {
    /// The parameter's name (`alpha`, `season`, …).
    pub name: &'static str,
    /// The value refused.
    pub value: f64,
    /// The admissible range, as text (`(0, 1]`, …).
    pub range: &'static str,
}

impl fmt::Display for InvalidParameter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} = {} is outside {}", self.name, self.value, self.range)
    }
}

impl std::error::Error for InvalidParameter {}

/// `value` if `ok`, else the error naming it.
pub(crate) fn check(name: &'static str, value: f64, range: &'static str, ok: bool) -> Result<f64, InvalidParameter> {
    if ok { Ok(value) } else { Err(InvalidParameter { name, value, range }) }
}

/// A weight in (0, 1] (α, φ).
fn in_open_unit(name: &'static str, value: f64) -> Result<f64, InvalidParameter> {
    check(name, value, "(0, 1]", value > 0.0 && value <= 1.0)
}

/// A weight in [0, 1] (β).
fn in_closed_unit(name: &'static str, value: f64) -> Result<f64, InvalidParameter> {
    check(name, value, "[0, 1]", (0.0..=1.0).contains(&value))
}

/// φ_h = φ + φ² + … + φ^h = φ (1 − φ^h) / (1 − φ), or h when φ = 1.
fn damped_sum(phi: f64, h: usize) -> f64 {
    if phi == 1.0 { h as f64 } else { phi * (1.0 - phi.powi(i32::try_from(h).unwrap_or(i32::MAX))) / (1.0 - phi) }
}

/// The level-and-trend weights shared by [`DampedHolt`] and [`HoltWinters`].
#[derive(Debug, Clone, Copy, PartialEq)]
struct Smoothing {
    alpha: f64,
    beta: f64,
    phi: f64,
}

impl Smoothing {
    fn new(alpha: f64, beta: f64, phi: f64) -> Result<Self, InvalidParameter> {
        Ok(Self {
            alpha: in_open_unit("alpha", alpha)?,
            beta: in_closed_unit("beta", beta)?,
            phi: in_open_unit("phi", phi)?,
        })
    }
}

impl fmt::Display for Smoothing {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "α={}, β={}, φ={}", self.alpha, self.beta, self.phi)
    }
}

/// Level ℓ and trend b.
#[derive(Debug, Clone, Copy, PartialEq)]
struct LevelTrend {
    level: f64,
    trend: f64,
}

impl LevelTrend {
    /// ℓ + φ b: the level expected at the next step.
    fn next_level(&self, phi: f64) -> f64 {
        self.level + phi * self.trend
    }

    /// ℓ_t = ℓ_{t−1} + φ b_{t−1} + α ε; b_t = φ b_{t−1} + α β ε.
    fn correct(&mut self, eps: f64, p: &Smoothing) {
        self.level = self.next_level(p.phi) + p.alpha * eps;
        self.trend = p.phi * self.trend + p.alpha * p.beta * eps;
    }

    /// ℓ_T + φ_h b_T.
    fn ahead(&self, phi: f64, h: usize) -> f64 {
        self.level + damped_sum(phi, h) * self.trend
    }
}

/// Simple exponential smoothing: a level only, the forecast flat at every horizon.
#[derive(Debug, Clone, PartialEq)]
pub struct Ses {
    alpha: f64,
    level: Option<f64>,
}

impl Ses {
    /// SES with weight α ∈ (0, 1] on the newest observation.
    pub fn new(alpha: f64) -> Result<Self, InvalidParameter> {
        Ok(Self { alpha: in_open_unit("alpha", alpha)?, level: None })
    }
}

impl Forecaster for Ses {
    fn name(&self) -> &'static str {
        "ses"
    }

    fn observe(&mut self, y: f64) {
        self.level = Some(match self.level {
            None => y,
            Some(level) => level + self.alpha * (y - level),
        });
    }

    fn forecast(&self, h: usize) -> Option<f64> {
        self.level.filter(|_| h > 0)
    }

    fn touch(&self, _ahead: usize) -> u64 {
        self.level.map_or(0, f64::to_bits)
    }
}

impl fmt::Display for Ses {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ses(α={})", self.alpha)
    }
}

/// Holt's linear trend with damping φ (φ = 1: undamped).
#[derive(Debug, Clone, PartialEq)]
pub struct DampedHolt {
    params: Smoothing,
    first: Option<f64>,
    state: Option<LevelTrend>,
}

impl DampedHolt {
    /// Damped Holt with level weight α ∈ (0, 1], trend weight β ∈ [0, 1] and damping
    /// φ ∈ (0, 1].
    pub fn new(alpha: f64, beta: f64, phi: f64) -> Result<Self, InvalidParameter> {
        Ok(Self { params: Smoothing::new(alpha, beta, phi)?, first: None, state: None })
    }
}

impl Forecaster for DampedHolt {
    fn name(&self) -> &'static str {
        "damped_holt"
    }

    fn observe(&mut self, y: f64) {
        match (&mut self.state, self.first) {
            (Some(state), _) => state.correct(y - state.next_level(self.params.phi), &self.params),
            (None, Some(y1)) => self.state = Some(LevelTrend { level: y, trend: y - y1 }),
            (None, None) => self.first = Some(y),
        }
    }

    fn forecast(&self, h: usize) -> Option<f64> {
        self.state.filter(|_| h > 0).map(|s| s.ahead(self.params.phi, h))
    }
}

impl fmt::Display for DampedHolt {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "damped-holt({})", self.params)
    }
}

/// Additive Holt-Winters with period m and (optionally, φ < 1) damped trend.
#[derive(Debug, Clone, PartialEq)]
pub struct HoltWinters {
    params: Smoothing,
    gamma: f64,
    season: usize,
    /// Until the first season is complete, its observations; then the m seasonal terms,
    /// `seasonal[next]` being s_{t−m} for the next observation t.
    seasonal: Vec<f64>,
    next: usize,
    /// Running mean of the first season (the initial level).
    mean: f64,
    state: Option<LevelTrend>,
}

impl HoltWinters {
    /// Additive Holt-Winters: weights α ∈ (0, 1], β ∈ [0, 1], γ ∈ [0, 1 − α], damping
    /// φ ∈ (0, 1] (1 for the undamped method) and period `season` ≥ 2 steps.
    pub fn new(alpha: f64, beta: f64, gamma: f64, phi: f64, season: usize) -> Result<Self, InvalidParameter> {
        let params = Smoothing::new(alpha, beta, phi)?;
        let gamma = check("gamma", gamma, "[0, 1 − alpha]", gamma >= 0.0 && gamma <= 1.0 - alpha)?;
        check("season", season as f64, "≥ 2", season >= 2)?;
        Ok(Self { params, gamma, season, seasonal: Vec::with_capacity(season), next: 0, mean: 0.0, state: None })
    }

    /// The period m, in steps.
    pub fn season(&self) -> usize {
        self.season
    }

    /// Collects the first season; at its end, sets ℓ = mean, b = 0, s_i = y_i − ℓ.
    fn warm_up(&mut self, y: f64) {
        self.seasonal.push(y);
        self.mean += (y - self.mean) / self.seasonal.len() as f64;
        if self.seasonal.len() == self.season {
            self.seasonal.iter_mut().for_each(|s| *s -= self.mean);
            self.state = Some(LevelTrend { level: self.mean, trend: 0.0 });
        }
    }
}

impl Forecaster for HoltWinters {
    fn name(&self) -> &'static str {
        "holt_winters"
    }

    fn observe(&mut self, y: f64) {
        let Some(state) = &mut self.state else {
            return self.warm_up(y);
        };
        let s = &mut self.seasonal[self.next];
        let eps = y - state.next_level(self.params.phi) - *s;
        state.correct(eps, &self.params);
        *s += self.gamma * eps;
        self.next = (self.next + 1) % self.season;
    }

    /// ℓ_T + φ_h b_T + s_{T+h−m(k+1)}: that seasonal term is the newest one of the phase of
    /// T + h, which sits h − 1 places (mod m) after the next one to be used.
    fn forecast(&self, h: usize) -> Option<f64> {
        let state = self.state.filter(|_| h > 0)?;
        let m = self.season;
        Some(state.ahead(self.params.phi, h) + self.seasonal[(self.next + (h - 1) % m) % m])
    }
}

impl fmt::Display for HoltWinters {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "holt-winters(m={}, {}, γ={})", self.season, self.params, self.gamma)
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use proptest::prelude::*;

    use super::*;

    /// Feeds `ys` to `model`, in order.
    pub(crate) fn feed(model: &mut dyn Forecaster, ys: &[f64]) {
        ys.iter().for_each(|&y| model.observe(y));
    }

    /// Each model's parameters, drawn from their admissible ranges: (α, β, γ, φ, m).
    pub(crate) fn params() -> impl Strategy<Value = (f64, f64, f64, f64, usize)> {
        (0.01..=1.0f64, 0.0..=1.0f64, 0.0..=1.0f64, prop_oneof![Just(1.0), 0.5..1.0f64], 2..=12usize)
            .prop_map(|(alpha, beta, gamma_share, phi, m)| (alpha, beta, gamma_share * (1.0 - alpha), phi, m))
    }

    /// The three models with the parameters `params` draws.
    fn models((alpha, beta, gamma, phi, m): (f64, f64, f64, f64, usize)) -> Vec<Box<dyn Forecaster>> {
        vec![
            Box::new(Ses::new(alpha).unwrap()),
            Box::new(DampedHolt::new(alpha, beta, phi).unwrap()),
            Box::new(HoltWinters::new(alpha, beta, gamma, phi, m).unwrap()),
        ]
    }

    /// After `n` observations of `c`, every forecast to `horizons` steps is `c`, exactly.
    pub(crate) fn forecasts_constant(model: &mut dyn Forecaster, c: f64, n: usize, horizons: usize) {
        feed(model, &vec![c; n]);
        for h in 1..=horizons {
            assert_eq!(model.forecast(h), Some(c), "{} at h = {h}", model.name());
        }
    }

    /// Every forecast to `horizons` steps, after each observation of `ys`, is finite.
    pub(crate) fn forecasts_finite(model: &mut dyn Forecaster, ys: &[f64], horizons: usize) {
        for &y in ys {
            model.observe(y);
            for h in 1..=horizons {
                if let Some(f) = model.forecast(h) {
                    assert!(f.is_finite(), "{}: {f} at h = {h}", model.name());
                }
            }
        }
    }

    #[test]
    fn ses_by_hand() {
        // α = 0.5: ℓ_1 = y_1 = 1; ℓ_2 = 0.5·2 + 0.5·1 = 1.5; ℓ_3 = 0.5·3 + 0.5·1.5 = 2.25;
        // ℓ_4 = 0.5·4 + 0.5·2.25 = 3.125; the forecast is ℓ_4 at every horizon.
        let mut ses = Ses::new(0.5).unwrap();
        assert_eq!(ses.forecast(1), None);
        for (y, level) in [(1.0, 1.0), (2.0, 1.5), (3.0, 2.25), (4.0, 3.125)] {
            ses.observe(y);
            assert_eq!(ses.forecast(1), Some(level));
        }
        assert_eq!(ses.forecast(7), Some(3.125));
        assert_eq!(ses.forecast(0), None);
    }

    #[test]
    fn damped_holt_by_hand() {
        // α = β = φ = 0.5 on [1, 3, 5]. Initialisation: ℓ_2 = 3, b_2 = 3 − 1 = 2, so
        // ŷ_3 = 3 + 0.5·2 = 4 and ŷ_4 = 3 + (0.5 + 0.25)·2 = 4.5.
        // Then y_3 = 5: ℓ_3 = 0.5·5 + 0.5·(3 + 0.5·2) = 2.5 + 2 = 4.5;
        // b_3 = 0.5·(4.5 − 3) + 0.5·0.5·2 = 0.75 + 0.5 = 1.25;
        // ŷ_{3+1} = 4.5 + 0.5·1.25 = 5.125; ŷ_{3+2} = 4.5 + 0.75·1.25 = 5.4375;
        // ŷ_{3+3} = 4.5 + 0.875·1.25 = 5.59375 (φ_3 = 0.5(1 − 0.125)/0.5 = 0.875).
        let mut holt = DampedHolt::new(0.5, 0.5, 0.5).unwrap();
        holt.observe(1.0);
        assert_eq!(holt.forecast(1), None);
        holt.observe(3.0);
        assert_eq!((holt.forecast(1), holt.forecast(2)), (Some(4.0), Some(4.5)));
        holt.observe(5.0);
        assert_eq!([holt.forecast(1), holt.forecast(2), holt.forecast(3)], [Some(5.125), Some(5.4375), Some(5.59375)]);
    }

    #[test]
    fn undamped_holt_by_hand() {
        // α = β = 0.5, φ = 1 on [1, 3, 5]: ℓ_2 = 3, b_2 = 2; ℓ_3 = 0.5·5 + 0.5·(3 + 2) = 5;
        // b_3 = 0.5·(5 − 3) + 0.5·2 = 2; ŷ_{3+3} = 5 + 3·2 = 11 (φ_h = h).
        let mut holt = DampedHolt::new(0.5, 0.5, 1.0).unwrap();
        feed(&mut holt, &[1.0, 3.0, 5.0]);
        assert_eq!(holt.forecast(3), Some(11.0));
    }

    #[test]
    fn holt_winters_by_hand_season_2() {
        // m = 2, α = β = γ = 0.5, φ = 1 on [1, 3, 2]. After season 1: ℓ_2 = (1 + 3)/2 = 2,
        // b_2 = 0, s_1 = 1 − 2 = −1, s_2 = 3 − 2 = 1; ŷ_3 = 2 + s_1 = 1, ŷ_4 = 2 + s_2 = 3.
        // y_3 = 2: ℓ_3 = 0.5·(2 − (−1)) + 0.5·(2 + 0) = 2.5; b_3 = 0.5·(2.5 − 2) + 0.5·0 = 0.25;
        // s_3 = 0.5·(2 − 2 − 0) + 0.5·(−1) = −0.5.
        // ŷ_4 = 2.5 + 0.25 + s_2 = 3.75; ŷ_5 = 2.5 + 2·0.25 + s_3 = 2.5;
        // ŷ_6 (h = 3, k = 1, s_{6−4} = s_2) = 2.5 + 3·0.25 + 1 = 4.25.
        let mut hw = HoltWinters::new(0.5, 0.5, 0.5, 1.0, 2).unwrap();
        hw.observe(1.0);
        assert_eq!(hw.forecast(1), None);
        hw.observe(3.0);
        assert_eq!((hw.forecast(1), hw.forecast(2)), (Some(1.0), Some(3.0)));
        hw.observe(2.0);
        assert_eq!([hw.forecast(1), hw.forecast(2), hw.forecast(3)], [Some(3.75), Some(2.5), Some(4.25)]);
    }

    #[test]
    fn damped_holt_winters_by_hand_season_3() {
        // m = 3, α = β = γ = φ = 0.5 on [1, 2, 6, 2, 3]. After season 1: ℓ_3 = 3, b_3 = 0,
        // s_1..s_3 = −2, −1, 3.
        // y_4 = 2: ℓ_4 = 0.5·(2 + 2) + 0.5·3 = 3.5; b_4 = 0.5·0.5 + 0 = 0.25;
        // s_4 = 0.5·(2 − 3) + 0.5·(−2) = −1.5.
        // y_5 = 3: ℓ_5 = 0.5·(3 + 1) + 0.5·(3.5 + 0.5·0.25) = 2 + 1.8125 = 3.8125;
        // b_5 = 0.5·(3.8125 − 3.5) + 0.5·0.5·0.25 = 0.15625 + 0.0625 = 0.21875;
        // s_5 = 0.5·(3 − 3.5 − 0.125) + 0.5·(−1) = −0.8125.
        // ŷ_6 = 3.8125 + 0.5·0.21875 + s_3 = 3.8125 + 0.109375 + 3 = 6.921875;
        // ŷ_7 = 3.8125 + 0.75·0.21875 + s_4 = 3.8125 + 0.1640625 − 1.5 = 2.4765625;
        // ŷ_8 = 3.8125 + 0.875·0.21875 + s_5 = 3.8125 + 0.19140625 − 0.8125 = 3.19140625;
        // ŷ_9 (h = 4, k = 1, s_{9−6} = s_3) = 3.8125 + 0.9375·0.21875 + 3 = 7.017578125.
        let mut hw = HoltWinters::new(0.5, 0.5, 0.5, 0.5, 3).unwrap();
        feed(&mut hw, &[1.0, 2.0, 6.0, 2.0, 3.0]);
        let ahead: Vec<_> = (1..=4).map(|h| hw.forecast(h)).collect();
        assert_eq!(ahead, [Some(6.921875), Some(2.4765625), Some(3.19140625), Some(7.017578125)]);
    }

    #[test]
    fn parameters_out_of_range_are_refused() {
        assert_eq!(Ses::new(0.0).unwrap_err().name, "alpha");
        assert_eq!(Ses::new(f64::NAN).unwrap_err().name, "alpha");
        assert_eq!(DampedHolt::new(0.5, 1.5, 0.9).unwrap_err().name, "beta");
        assert_eq!(DampedHolt::new(0.5, 0.1, 1.1).unwrap_err().name, "phi");
        assert_eq!(HoltWinters::new(0.8, 0.1, 0.3, 1.0, 24).unwrap_err().name, "gamma");
        assert_eq!(HoltWinters::new(0.5, 0.1, 0.3, 1.0, 1).unwrap_err().to_string(), "season = 1 is outside ≥ 2");
    }

    #[test]
    fn labels_name_the_parameters() {
        assert_eq!(Ses::new(0.3).unwrap().to_string(), "ses(α=0.3)");
        assert_eq!(
            HoltWinters::new(0.1, 0.1, 0.1, 0.9, 24).unwrap().to_string(),
            "holt-winters(m=24, α=0.1, β=0.1, φ=0.9, γ=0.1)"
        );
    }

    #[test]
    fn seasonal_state_stays_one_season_long() {
        let mut hw = HoltWinters::new(0.3, 0.1, 0.3, 0.9, 24).unwrap();
        feed(&mut hw, &[1.0; 24]);
        let capacity = hw.seasonal.capacity();
        feed(&mut hw, &(0..10_000).map(|i| f64::from(i % 97)).collect::<Vec<_>>());
        assert_eq!((hw.seasonal.len(), hw.seasonal.capacity()), (24, capacity));
    }

    proptest! {
        #[test]
        fn a_constant_series_is_forecast_exactly(p in params(), c in -1e6..1e6f64, extra in 0..30usize) {
            for mut model in models(p) {
                forecasts_constant(model.as_mut(), c, p.4 + extra, 3 * p.4);
            }
        }

        #[test]
        fn forecasts_of_bounded_inputs_are_finite(p in params(), ys in prop::collection::vec(-1e6..1e6f64, 0..400)) {
            for mut model in models(p) {
                forecasts_finite(model.as_mut(), &ys, 2 * p.4);
            }
        }
    }
}
