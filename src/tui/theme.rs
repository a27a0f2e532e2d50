//! The live view's colours and emphasis, in one place.

use ratatui::style::{Color, Modifier, Style};

/// Every style the view draws with.
pub struct Theme {
    /// Column titles and the keys of the key line.
    pub title: Style,
    /// `PAUSED` in the header.
    pub paused: Style,
    /// The verdict's badge: ALERT, TOO FEW, OK.
    pub alert: Style,
    pub too_few: Style,
    pub likely: Style,
    pub ok: Style,
    /// A row above the threshold.
    pub alert_row: Style,
    /// The selected row.
    pub selected: Style,
    /// The border of the pane that has the selection.
    pub active: Style,
    /// The failure-rate sparkline, above the threshold and not.
    pub spark_alert: Style,
    pub spark_ok: Style,
    /// A line saying what does not fit.
    pub more: Style,
}

/// The theme.
pub const THEME: Theme = Theme {
    title: Style::new().add_modifier(Modifier::BOLD),
    paused: Style::new().fg(Color::Yellow).add_modifier(Modifier::BOLD),
    alert: Style::new()
        .fg(Color::White)
        .bg(Color::Red)
        .add_modifier(Modifier::BOLD),
    too_few: Style::new().fg(Color::Black).bg(Color::Yellow),
    likely: Style::new()
        .fg(Color::Black)
        .bg(Color::LightRed)
        .add_modifier(Modifier::BOLD),
    ok: Style::new().fg(Color::Black).bg(Color::Green),
    alert_row: Style::new().fg(Color::Red),
    selected: Style::new().add_modifier(Modifier::REVERSED),
    active: Style::new().fg(Color::Cyan),
    spark_alert: Style::new().fg(Color::Red),
    spark_ok: Style::new().fg(Color::Green),
    more: Style::new().fg(Color::Yellow),
};
