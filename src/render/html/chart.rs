//! The page's charts as SVG, drawn with plotters' SVG backend: the failure
//! rate heatmap (a row per function, a column per interval), its colour
//! scale, and log2 histograms (latency with p50/p99, payload sizes with the
//! min-size line). Colours get darker as the rate rises, on both sides of
//! the threshold (blue below, orange to brown above), so that the order
//! survives greyscale; `too few` cells are grey with a hatch and alerts
//! carry a ring, so neither depends on colour alone.

use plotters::coord::types::RangedCoordf64;
use plotters::coord::Shift;
use plotters::element::DashedPathElement;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use super::escape;

/// A drawing error (plotters' own), as text for the page.
type Drawn = Result<(), String>;

fn failed<E: std::fmt::Debug>(e: E) -> String {
    format!("{e:?}")
}

/// Colours of the rate below the threshold, from 0 to the threshold.
const BELOW: [(u8, u8, u8); 4] = [
    (0xf7, 0xfb, 0xff),
    (0xde, 0xeb, 0xf7),
    (0xc6, 0xdb, 0xef),
    (0x9e, 0xca, 0xe1),
];
/// Colours above the threshold, from it to 100 times it.
const ABOVE: [(u8, u8, u8); 5] = [
    (0xfd, 0xae, 0x6b),
    (0xf1, 0x69, 0x13),
    (0xd9, 0x48, 0x01),
    (0xa6, 0x36, 0x03),
    (0x7f, 0x27, 0x04),
];
/// Cells with too few eligible payloads for a verdict, and their hatch.
pub const TOO_FEW: RGBColor = RGBColor(0xbd, 0xbd, 0xbd);
const HATCH: RGBColor = RGBColor(0x52, 0x52, 0x52);
const INK: RGBColor = RGBColor(0x1f, 0x1f, 0x1f);
const BAR: RGBColor = RGBColor(0x4e, 0x79, 0xa7);
/// Rates this many times the threshold and more get the darkest colour.
const TOP: f64 = 100.0;
/// The threshold used when it is 0 (every failure alerts).
const TINY: f64 = 1e-6;

fn ramp(stops: &[(u8, u8, u8)], p: f64) -> RGBColor {
    let p = p.clamp(0.0, 1.0) * (stops.len() - 1) as f64;
    let i = (p.floor() as usize).min(stops.len() - 2);
    let f = p - i as f64;
    let mix = |a: u8, b: u8| (f64::from(a) + (f64::from(b) - f64::from(a)) * f).round() as u8;
    let (a, b) = (stops[i], stops[i + 1]);
    RGBColor(mix(a.0, b.0), mix(a.1, b.1), mix(a.2, b.2))
}

/// The colour of failure rate `rate` against `threshold`.
pub fn rate_colour(rate: f64, threshold: f64) -> RGBColor {
    let t = threshold.max(TINY);
    if rate <= threshold {
        ramp(&BELOW, rate / t)
    } else {
        ramp(&ABOVE, (rate / t).log10() / TOP.log10())
    }
}

/// The colour of a `too few` cell of rate `rate`: its colour greyed
/// (mostly grey), under the hatch.
pub fn few_colour(rate: f64, threshold: f64) -> RGBColor {
    let c = rate_colour(rate, threshold);
    let mix = |a: u8, g: u8| ((f64::from(a) * 0.35) + (f64::from(g) * 0.65)).round() as u8;
    RGBColor(
        mix(c.0, TOO_FEW.0),
        mix(c.1, TOO_FEW.1),
        mix(c.2, TOO_FEW.2),
    )
}

/// A rate as a short percentage for the scale: `0.3%`, `3%`, `30%`.
fn short_pct(rate: f64) -> String {
    let p = rate * 100.0;
    if p == 0.0 {
        return "0%".into();
    }
    let decimals = (2 - p.log10().floor() as i32).max(0) as usize;
    let s = format!("{p:.decimals$}");
    let s = if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.')
    } else {
        &s
    };
    format!("{s}%")
}

/// `#rrggbb`.
pub fn hex(c: RGBColor) -> String {
    format!("#{:02x}{:02x}{:02x}", c.0, c.1, c.2)
}

/// An SVG from plotters made an accessible image: `role="img"`, its title
/// (`id`), and sized by the page's style.
fn finish(svg: String, id: &str, title: &str) -> String {
    let svg = svg.replacen(
        "<svg ",
        &format!("<svg role=\"img\" aria-labelledby=\"{id}\" class=\"chart\" "),
        1,
    );
    match svg.find('>') {
        Some(end) => format!(
            "{}\n<title id=\"{id}\">{}</title>{}",
            &svg[..=end],
            escape(title),
            &svg[end + 1..]
        ),
        None => svg,
    }
}

/// A chart `width` x `height` drawn by `draw`, or a line saying why not.
fn svg(
    width: u32,
    height: u32,
    id: &str,
    title: &str,
    draw: impl FnOnce(&DrawingArea<SVGBackend<'_>, Shift>) -> Drawn,
) -> String {
    let mut s = String::new();
    // plotters computes its axes with checked arithmetic in debug builds:
    // a chart it cannot draw is a line on the page, not a lost report.
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let root = SVGBackend::with_string(&mut s, (width, height)).into_drawing_area();
        root.fill(&WHITE)
            .map_err(failed)
            .and_then(|()| draw(&root))
            .and_then(|()| root.present().map_err(failed))
    }))
    .unwrap_or_else(|_| Err("plotters panicked".to_string()));
    match result {
        Ok(()) => finish(s, id, title),
        Err(e) => format!(
            "<p class=\"error\">{}: the chart could not be drawn ({})</p>",
            escape(title),
            escape(&e)
        ),
    }
}

fn font(size: f64) -> TextStyle<'static> {
    // plotters' SVG writes size / 1.24 as the font size.
    ("sans-serif", size * 1.24).into_font().color(&INK)
}

/// One heatmap row: its label, and each column's cell.
pub struct Row {
    pub label: String,
    pub cells: Vec<Option<Cell>>,
}

/// One cell: a rate, with or without a verdict.
#[derive(Debug, Clone, Copy)]
pub struct Cell {
    pub rate: f64,
    pub too_few: bool,
    pub alert: bool,
}

/// Room for a row's label, in SVG units.
const LABEL_ROOM: u32 = 250;
const ROW_HEIGHT: u32 = 24;
/// The width of the charts that span the page.
pub const WIDE: u32 = 960;

/// A chart's plotting area and its coordinates.
type Plot<'a, 'b> = ChartContext<'a, SVGBackend<'b>, Cartesian2d<RangedCoordf64, RangedCoordf64>>;

/// Writes `text` at pixel `at` of `root`, anchored by `h` and `v`.
fn label(
    root: &DrawingArea<SVGBackend<'_>, Shift>,
    text: &str,
    at: (i32, i32),
    size: f64,
    (h, v): (HPos, VPos),
) -> Drawn {
    root.draw(&Text::new(
        text.to_string(),
        at,
        font(size).pos(Pos::new(h, v)),
    ))
    .map_err(failed)
}

/// The failure-rate heatmap: `rows` top down, `times` the columns' labels.
pub fn heatmap(id: &str, title: &str, rows: &[Row], times: &[String], threshold: f64) -> String {
    let n = times.len().max(1);
    let height = ROW_HEIGHT * rows.len().max(1) as u32 + 64;
    svg(WIDE, height, id, title, |root| {
        let mut chart = ChartBuilder::on(root)
            .margin(8)
            // Room for the last column's time, centred under it.
            .margin_right(36)
            .x_label_area_size(40)
            .y_label_area_size(LABEL_ROOM)
            .build_cartesian_2d(0f64..n as f64, 0f64..rows.len().max(1) as f64)
            .map_err(failed)?;
        chart
            .configure_mesh()
            .disable_mesh()
            .x_labels(0)
            .y_labels(0)
            .axis_style(INK)
            .x_desc("interval end (UTC)")
            .axis_desc_style(font(12.0))
            .draw()
            .map_err(failed)?;
        heatmap_cells(root, &chart, rows, threshold)?;
        // The labels, at the centres plotters computes: each row's (rows
        // are drawn top down), and one column's in every few, about 12.
        for (i, row) in rows.iter().enumerate() {
            let y = (rows.len() - i) as f64 - 0.5;
            let (px, py) = chart.backend_coord(&(0.0, y));
            let text = super::fit(&row.label, 36);
            label(root, &text, (px - 8, py), 12.0, (HPos::Right, VPos::Center))?;
        }
        for (i, time) in times.iter().enumerate().step_by(n.div_ceil(12)) {
            let (px, py) = chart.backend_coord(&(i as f64 + 0.5, 0.0));
            label(root, time, (px, py + 6), 11.0, (HPos::Center, VPos::Top))?;
        }
        Ok(())
    })
}

/// The heatmap's cells: by rate, greyed and hatched with too few eligible,
/// ringed in ALERT.
fn heatmap_cells(
    root: &DrawingArea<SVGBackend<'_>, Shift>,
    chart: &Plot<'_, '_>,
    rows: &[Row],
    threshold: f64,
) -> Drawn {
    let area = chart.plotting_area();
    for (r, row) in rows.iter().enumerate() {
        let y = (rows.len() - 1 - r) as f64;
        for (c, v) in row.cells.iter().enumerate() {
            let Some(v) = v else { continue };
            let (a, b) = ((c as f64, y), (c as f64 + 1.0, y + 1.0));
            let fill = if v.too_few {
                few_colour(v.rate, threshold)
            } else {
                rate_colour(v.rate, threshold)
            };
            let mut rect = Rectangle::new([a, b], fill.filled());
            rect.set_margin(1, 1, 1, 1);
            area.draw(&rect).map_err(failed)?;
            if v.too_few {
                hatch(root, chart.backend_coord(&a), chart.backend_coord(&b))?;
            } else if v.alert {
                let centre = ((a.0 + b.0) / 2.0, (a.1 + b.1) / 2.0);
                area.draw(&Circle::new(centre, 3, WHITE.filled()))
                    .map_err(failed)?;
                area.draw(&Circle::new(centre, 3, INK.stroke_width(1)))
                    .map_err(failed)?;
            }
        }
    }
    Ok(())
}

/// Steep strokes about 8 pixels apart over the cell from `bottom_left` to
/// `top_right` (pixels), one at least.
fn hatch(
    root: &DrawingArea<SVGBackend<'_>, Shift>,
    (left, bottom): (i32, i32),
    (right, top): (i32, i32),
) -> Drawn {
    let (left, right, top, bottom) = (left + 2, right - 2, top + 2, bottom - 2);
    let rise = (bottom - top).max(1);
    let run = (rise / 2).min(right - left).max(1);
    let mut x = left;
    loop {
        root.draw(&PathElement::new(
            vec![(x, bottom), (x + run, top)],
            HATCH.stroke_width(1),
        ))
        .map_err(failed)?;
        x += 8;
        if x + run > right {
            return Ok(());
        }
    }
}

/// The heatmap's colour scale: 0 to the threshold, then to 100 times it,
/// with the threshold marked.
pub fn scale(id: &str, threshold: f64) -> String {
    let title = format!(
        "Colour scale: light blue at 0 to darker blue at the threshold ({}), then orange to dark \
         brown from the threshold to {} times it and above",
        super::pct(threshold),
        TOP
    );
    let t = threshold.max(TINY);
    // Position 0..0.5: 0..threshold; 0.5..1: threshold..TOP x.
    let rate_at = |p: f64| {
        if p <= 0.5 {
            t * p * 2.0
        } else {
            t * TOP.powf((p - 0.5) * 2.0)
        }
    };
    let colour_at = |p: f64| {
        if p <= 0.5 {
            ramp(&BELOW, p * 2.0)
        } else {
            ramp(&ABOVE, (p - 0.5) * 2.0)
        }
    };
    svg(WIDE / 2, 64, id, &title, |root| {
        let mut chart = ChartBuilder::on(root)
            .margin(6)
            .margin_left(36)
            .margin_right(36)
            .x_label_area_size(24)
            .build_cartesian_2d(0f64..1.0, 0f64..1.0)
            .map_err(failed)?;
        let steps = 100;
        let step = |i: u32| f64::from(i) / f64::from(steps);
        chart
            .draw_series((0..steps).map(|i| {
                let colour = colour_at(step(i) + 0.5 / f64::from(steps));
                Rectangle::new([(step(i), 0.0), (step(i + 1), 1.0)], colour.filled())
            }))
            .map_err(failed)?;
        chart
            .draw_series(std::iter::once(PathElement::new(
                vec![(0.5, -0.15), (0.5, 1.0)],
                INK.stroke_width(3),
            )))
            .map_err(failed)?;
        for (p, prefix) in [(0.0, ""), (0.5, "threshold "), (0.75, ""), (1.0, "≥ ")] {
            let (px, py) = chart.backend_coord(&(p, 0.0));
            let text = format!("{prefix}{}", short_pct(rate_at(p)));
            label(root, &text, (px, py + 4), 11.0, (HPos::Center, VPos::Top))?;
        }
        Ok(())
    })
}

/// A log2 bucket's place on a histogram's axis: its lower bound's bit
/// length (0 for the empty payloads' bucket `0..=0`).
fn slot(min: u64) -> u32 {
    64 - min.leading_zeros()
}

/// Where value `v` falls on the axis of [`slot`]s: in its bucket, by its
/// log2 fraction.
pub fn position(v: u64) -> f64 {
    if v == 0 {
        return 0.5;
    }
    let s = slot(v);
    let low = 1u64 << (s - 1);
    f64::from(s) + (v as f64 / low as f64).log2()
}

/// A vertical line on a histogram: where, its label, dashed or not.
pub struct Marker {
    pub at: u64,
    pub label: String,
    pub dashed: bool,
}

/// A log2 histogram of `buckets` (min, count), every bucket between the
/// first and the last drawn; `unit` labels a bucket's lower bound.
pub fn histogram(
    id: &str,
    title: &str,
    x_desc: &str,
    buckets: &[(u64, u64)],
    markers: &[Marker],
    unit: &dyn Fn(u64) -> String,
) -> String {
    let places = buckets
        .iter()
        .map(|b| slot(b.0))
        .chain(markers.iter().map(|m| position(m.at).floor() as u32));
    let (lo, hi) = places.fold((u32::MAX, 0), |(lo, hi), s| (lo.min(s), hi.max(s)));
    let lo = lo.min(hi);
    let top = buckets.iter().map(|b| b.1).max().unwrap_or(0).max(1) as f64;
    // Room above the bars for the markers' labels.
    let ymax = (top * 1.25).max(2.0);
    svg(WIDE / 2, 260, id, title, |root| {
        let mut chart = ChartBuilder::on(root)
            .margin(8)
            .margin_right(20)
            .x_label_area_size(44)
            .y_label_area_size(64)
            .build_cartesian_2d(f64::from(lo)..f64::from(hi + 1), 0f64..ymax)
            .map_err(failed)?;
        chart
            .configure_mesh()
            .disable_x_mesh()
            .light_line_style(TRANSPARENT)
            .bold_line_style(RGBColor(0xdd, 0xdd, 0xdd))
            .x_labels(0)
            .y_labels(5)
            // Whole counts only.
            .y_label_formatter(&|v: &f64| {
                if (v - v.round()).abs() < 1e-6 {
                    format!("{v:.0}")
                } else {
                    String::new()
                }
            })
            .y_desc("count")
            .x_desc(x_desc)
            .axis_style(INK)
            .label_style(font(12.0))
            .axis_desc_style(font(12.0))
            .draw()
            .map_err(failed)?;
        chart
            .draw_series(buckets.iter().map(|&(min, count)| {
                let s = f64::from(slot(min));
                let mut r = Rectangle::new([(s, 0.0), (s + 1.0, count as f64)], BAR.filled());
                r.set_margin(0, 0, 1, 1);
                r
            }))
            .map_err(failed)?;
        // Bucket bounds under the axis, every few (about 7).
        for s in (lo..=hi + 1).step_by((hi + 2 - lo).div_ceil(7) as usize) {
            let bound = if s == 0 { 0 } else { 1u64 << (s - 1) };
            let (px, py) = chart.backend_coord(&(f64::from(s), 0.0));
            label(
                root,
                &unit(bound),
                (px, py + 6),
                11.0,
                (HPos::Center, VPos::Top),
            )?;
        }
        for (i, m) in markers.iter().enumerate() {
            marker(root, &chart, m, i, f64::from(lo + hi + 1) / 2.0)?;
        }
        Ok(())
    })
}

/// Draws the `i`th marker over a histogram whose middle is at `middle`:
/// its line, its label stacked from the top beside it (on the left of a
/// line past the middle).
fn marker(
    root: &DrawingArea<SVGBackend<'_>, Shift>,
    chart: &Plot<'_, '_>,
    m: &Marker,
    i: usize,
    middle: f64,
) -> Drawn {
    let x = position(m.at);
    let ymax = chart.y_range().end;
    let (bottom, top) = (
        chart.backend_coord(&(x, 0.0)),
        chart.backend_coord(&(x, ymax)),
    );
    let style = INK.stroke_width(2);
    if m.dashed {
        root.draw(&DashedPathElement::new(vec![bottom, top], 6, 4, style))
    } else {
        root.draw(&PathElement::new(vec![bottom, top], style))
    }
    .map_err(failed)?;
    let right = x > middle;
    let (dx, h) = if right {
        (-5, HPos::Right)
    } else {
        (5, HPos::Left)
    };
    let at = (top.0 + dx, top.1 + 4 + 16 * i as i32);
    label(root, &m.label, at, 12.0, (h, VPos::Top))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Relative luminance (what greyscale keeps).
    fn luminance(c: RGBColor) -> f64 {
        let lin = |v: u8| {
            let v = f64::from(v) / 255.0;
            if v <= 0.04045 {
                v / 12.92
            } else {
                ((v + 0.055) / 1.055).powf(2.4)
            }
        };
        0.2126 * lin(c.0) + 0.7152 * lin(c.1) + 0.0722 * lin(c.2)
    }

    #[test]
    fn higher_rates_are_darker_in_greyscale_too() {
        let threshold = 0.003;
        let mut last = f64::INFINITY;
        for i in 0..=2000 {
            // 0 to 150 times the threshold.
            let rate = threshold * 150.0 * f64::from(i) / 2000.0;
            let l = luminance(rate_colour(rate, threshold));
            assert!(l <= last + 1e-12, "rate {rate}: {l} after {last}");
            last = l;
        }
        // The threshold is a visible step, not only a change of hue.
        let below = luminance(rate_colour(threshold, threshold));
        let above = luminance(rate_colour(threshold * 1.0001, threshold));
        assert!(below > above, "{below} {above}");
        assert_eq!(hex(rate_colour(0.0, threshold)), "#f7fbff");
        assert_eq!(hex(rate_colour(1.0, threshold)), "#7f2704");
        assert_eq!(hex(rate_colour(0.5, 0.0)), "#7f2704", "threshold 0");
    }

    #[test]
    fn too_few_is_greyed_and_the_scale_short() {
        let t = 0.003;
        assert_eq!(hex(few_colour(0.0, t)), "#d1d3d4");
        // Greyed, it still darkens with the rate.
        assert!(luminance(few_colour(0.05, t)) < luminance(few_colour(0.001, t)));
        assert_eq!(short_pct(0.0), "0%");
        assert_eq!(short_pct(0.003), "0.3%");
        assert_eq!(short_pct(0.03), "3%");
        assert_eq!(short_pct(0.3), "30%");
        assert_eq!(short_pct(0.0001234), "0.0123%");
    }

    #[test]
    fn positions_fall_in_their_buckets() {
        assert_eq!(position(0), 0.5);
        assert_eq!(position(1), 1.0);
        assert_eq!(position(1024), 11.0);
        assert!((position(1536) - 11.585).abs() < 1e-3);
        assert!(position(2047) < 12.0);
        assert_eq!(slot(0), 0);
        assert_eq!(slot(4096), 13);
    }

    #[test]
    fn charts_are_titled_images() {
        let svg = histogram(
            "h1",
            "Latency of <f>",
            "latency",
            &[(1024, 3), (4096, 5)],
            &[Marker {
                at: 3000,
                label: "p50 3.00us".into(),
                dashed: false,
            }],
            &|v| v.to_string(),
        );
        assert!(
            svg.starts_with("<svg role=\"img\" aria-labelledby=\"h1\" class=\"chart\" "),
            "{svg}"
        );
        assert!(svg.contains("<title id=\"h1\">Latency of &lt;f&gt;</title>"));
        assert!(svg.contains("p50 3.00us"));
        assert_eq!(svg.matches("fill=\"#4E79A7\"").count(), 2, "{svg}");
    }
}
