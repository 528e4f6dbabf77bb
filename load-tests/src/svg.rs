//! A small line chart written as SVG by hand: categorical x axis, one
//! polyline per series, optional logarithmic y axis. Enough to look at a
//! latency curve without a plotting library.

use std::fmt::Write as _;

/// One line of the chart.
pub struct Series {
    /// Legend text.
    pub name: String,
    /// Colour, e.g. `#1f77b4`.
    pub colour: &'static str,
    /// One y value per x label; `None` leaves a gap.
    pub values: Vec<Option<f64>>,
}

/// Colours for up to six series.
pub const COLOURS: [&str; 6] = [
    "#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b",
];

const W: f64 = 760.0;
const H: f64 = 420.0;
const LEFT: f64 = 70.0;
const RIGHT: f64 = 180.0;
const TOP: f64 = 40.0;
const BOTTOM: f64 = 60.0;

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// The chart as an SVG document. With `log_y`, values ≤ 0 are drawn at the
/// bottom; `threshold` draws a dashed horizontal line (e.g. a target).
pub fn line_chart(
    title: &str,
    x_label: &str,
    y_label: &str,
    x: &[String],
    series: &[Series],
    log_y: bool,
    threshold: Option<(f64, &str)>,
) -> String {
    let values = series
        .iter()
        .flat_map(|s| s.values.iter().flatten().copied())
        .chain(threshold.map(|t| t.0));
    let (mut lo, mut hi) = (f64::MAX, f64::MIN);
    for v in values.filter(|v| !log_y || *v > 0.0) {
        lo = lo.min(v);
        hi = hi.max(v);
    }
    if lo > hi {
        (lo, hi) = (1.0, 10.0);
    }
    let (lo, hi) = if log_y {
        (
            10f64.powf(lo.log10().floor()),
            10f64.powf(hi.log10().ceil().max(lo.log10().floor() + 1.0)),
        )
    } else {
        (0.0, if hi <= 0.0 { 1.0 } else { hi * 1.1 })
    };
    let plot_w = W - LEFT - RIGHT;
    let plot_h = H - TOP - BOTTOM;
    let y_of = |v: f64| {
        let f = if log_y {
            (v.max(lo).log10() - lo.log10()) / (hi.log10() - lo.log10())
        } else {
            (v - lo) / (hi - lo)
        };
        TOP + plot_h * (1.0 - f.clamp(0.0, 1.0))
    };
    let x_of = |i: usize| {
        if x.len() <= 1 {
            LEFT + plot_w / 2.0
        } else {
            LEFT + plot_w * i as f64 / (x.len() - 1) as f64
        }
    };
    let mut out = String::new();
    let _ = writeln!(
        out,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" viewBox="0 0 {W} {H}" font-family="sans-serif" font-size="12">"#
    );
    let _ = writeln!(out, r#"<rect width="{W}" height="{H}" fill="white"/>"#);
    let _ = writeln!(
        out,
        r#"<text x="{}" y="22" text-anchor="middle" font-size="15">{}</text>"#,
        LEFT + plot_w / 2.0,
        escape(title)
    );
    // Y grid and labels.
    let ticks: Vec<f64> = if log_y {
        let mut t = Vec::new();
        let mut v = lo;
        while v <= hi * 1.0001 {
            t.push(v);
            v *= 10.0;
        }
        t
    } else {
        (0..=5)
            .map(|i| lo + (hi - lo) * f64::from(i) / 5.0)
            .collect()
    };
    for t in ticks {
        let y = y_of(t);
        let _ = writeln!(
            out,
            r##"<line x1="{LEFT}" y1="{y:.1}" x2="{}" y2="{y:.1}" stroke="#ddd"/><text x="{}" y="{:.1}" text-anchor="end">{}</text>"##,
            LEFT + plot_w,
            LEFT - 6.0,
            y + 4.0,
            format_tick(t)
        );
    }
    for (i, label) in x.iter().enumerate() {
        let _ = writeln!(
            out,
            r#"<text x="{:.1}" y="{}" text-anchor="middle">{}</text>"#,
            x_of(i),
            TOP + plot_h + 18.0,
            escape(label)
        );
    }
    let _ = writeln!(
        out,
        r##"<rect x="{LEFT}" y="{TOP}" width="{plot_w}" height="{plot_h}" fill="none" stroke="#444"/>"##
    );
    let _ = writeln!(
        out,
        r#"<text x="{}" y="{}" text-anchor="middle">{}</text>"#,
        LEFT + plot_w / 2.0,
        H - 15.0,
        escape(x_label)
    );
    let _ = writeln!(
        out,
        r#"<text transform="translate(18 {}) rotate(-90)" text-anchor="middle">{}</text>"#,
        TOP + plot_h / 2.0,
        escape(y_label)
    );
    if let Some((value, label)) = threshold {
        let y = y_of(value);
        let _ = writeln!(
            out,
            r##"<line x1="{LEFT}" y1="{y:.1}" x2="{}" y2="{y:.1}" stroke="#888" stroke-dasharray="6 4"/><text x="{}" y="{:.1}" fill="#666">{}</text>"##,
            LEFT + plot_w,
            LEFT + 4.0,
            y - 4.0,
            escape(label)
        );
    }
    for (k, s) in series.iter().enumerate() {
        let mut path = String::new();
        let mut pen_down = false;
        for (i, v) in s.values.iter().enumerate() {
            match v {
                Some(v) => {
                    let _ = write!(
                        path,
                        "{}{:.1},{:.1} ",
                        if pen_down { "L" } else { "M" },
                        x_of(i),
                        y_of(*v)
                    );
                    pen_down = true;
                    let _ = writeln!(
                        out,
                        r#"<circle cx="{:.1}" cy="{:.1}" r="3" fill="{}"/>"#,
                        x_of(i),
                        y_of(*v),
                        s.colour
                    );
                }
                None => pen_down = false,
            }
        }
        let _ = writeln!(
            out,
            r#"<path d="{}" fill="none" stroke="{}" stroke-width="2"/>"#,
            path.trim_end(),
            s.colour
        );
        let ly = TOP + 10.0 + 20.0 * k as f64;
        let lx = LEFT + plot_w + 12.0;
        let _ = writeln!(
            out,
            r#"<line x1="{lx}" y1="{ly}" x2="{}" y2="{ly}" stroke="{}" stroke-width="3"/><text x="{}" y="{}">{}</text>"#,
            lx + 18.0,
            s.colour,
            lx + 24.0,
            ly + 4.0,
            escape(&s.name)
        );
    }
    out.push_str("</svg>\n");
    out
}

fn format_tick(v: f64) -> String {
    if v >= 100.0 || v == v.trunc() {
        format!("{v:.0}")
    } else if v >= 1.0 {
        format!("{v:.1}")
    } else {
        format!("{v}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn draws_every_series_and_label() {
        let svg = line_chart(
            "t <1>",
            "x",
            "ms",
            &["a".into(), "b".into(), "c".into()],
            &[Series {
                name: "edge".into(),
                colour: COLOURS[0],
                values: vec![Some(1.0), None, Some(100.0)],
            }],
            true,
            Some((20.0, "target")),
        );
        assert!(svg.starts_with("<svg"));
        assert!(svg.contains("t &lt;1&gt;"));
        assert_eq!(svg.matches("<circle").count(), 2);
        assert!(svg.contains(">edge<"));
        assert!(svg.contains("stroke-dasharray"));
    }
}
