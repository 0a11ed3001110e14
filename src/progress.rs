//! The progress bar of the long-running commands (`replay`, `simulate`, `evaluate`): one
//! line, `N/M <what>`, the rate and the time left; hidden when asked (tests, scripts).

/// A bar of `steps` steps, each one `what` (`"steps"`, `"pods placed"`, …); hidden when
/// `hidden`.
pub fn bar(steps: u64, what: &str, hidden: bool) -> indicatif::ProgressBar {
    if hidden {
        return indicatif::ProgressBar::hidden();
    }
    let bar = indicatif::ProgressBar::new(steps);
    let template = format!("{{bar:40}} {{pos}}/{{len}} {what}, {{per_sec}}, eta {{eta}}");
    let style =
        indicatif::ProgressStyle::with_template(&template).unwrap_or_else(|_| indicatif::ProgressStyle::default_bar());
    bar.set_style(style);
    bar
}
