//! The loss curve as SVG: one line per head (and the weighted total), step on x, loss on a
//! log scale on y (losses of different heads differ by orders of magnitude).

use std::collections::BTreeMap;
use std::fmt::Write;

const W: f64 = 720.0;
const H: f64 = 420.0;
const LEFT: f64 = 64.0;
const RIGHT: f64 = 150.0;
const TOP: f64 = 36.0;
const BOTTOM: f64 = 44.0;
const COLORS: [&str; 8] = [
    "#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#17becf",
];

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// `series`: name -> (step, loss) points. Non-positive or non-finite losses are skipped
/// (a log axis cannot place them).
pub fn loss_svg(title: &str, series: &BTreeMap<String, Vec<(u64, f64)>>) -> String {
    loss_svg_over(title, "step", series)
}

/// [`loss_svg`] with another x axis (`xlabel`: what the points' first value counts).
pub fn loss_svg_over(
    title: &str,
    xlabel: &str,
    series: &BTreeMap<String, Vec<(u64, f64)>>,
) -> String {
    let pts = || {
        series
            .values()
            .flatten()
            .filter(|(_, l)| l.is_finite() && *l > 0.0)
    };
    let (s0, s1) = pts().fold((u64::MAX, 0), |(a, b), (s, _)| (a.min(*s), b.max(*s)));
    let (l0, l1) = pts().fold((f64::MAX, f64::MIN), |(a, b), (_, l)| {
        (a.min(*l), b.max(*l))
    });
    let mut out = String::new();
    let _ = writeln!(
        out,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" viewBox="0 0 {W} {H}" font-family="sans-serif" font-size="12">"#
    );
    let _ = writeln!(out, r#"<rect width="{W}" height="{H}" fill="white"/>"#);
    let _ = writeln!(
        out,
        r#"<text x="{LEFT}" y="22" font-size="14">{}</text>"#,
        esc(title)
    );
    if s0 > s1 {
        let _ = writeln!(
            out,
            r#"<text x="{LEFT}" y="{}">no finite losses</text></svg>"#,
            H / 2.0
        );
        return out;
    }
    let (ly0, ly1) = (
        l0.log10().floor(),
        l1.log10().ceil().max(l0.log10().floor() + 1.0),
    );
    let span = (s1 - s0).max(1) as f64;
    let x = |s: u64| LEFT + (s - s0) as f64 / span * (W - LEFT - RIGHT);
    let y = |l: f64| TOP + (ly1 - l.log10()) / (ly1 - ly0) * (H - TOP - BOTTOM);
    // Axes and decade gridlines.
    let (xl, xr, yt, yb) = (LEFT, W - RIGHT, TOP, H - BOTTOM);
    let _ = writeln!(
        out,
        r#"<path d="M{xl} {yt}V{yb}H{xr}" fill="none" stroke="black"/>"#
    );
    let mut e = ly0;
    while e <= ly1 + 1e-9 {
        for m in [1.0, 2.0, 5.0] {
            let v = m * 10f64.powf(e);
            if v.log10() > ly1 + 1e-9 {
                break;
            }
            let yy = y(v);
            let _ = writeln!(
                out,
                r##"<path d="M{xl} {yy:.1}H{xr}" stroke="#ddd"/><text x="{}" y="{:.1}" text-anchor="end">{}</text>"##,
                xl - 6.0,
                yy + 4.0,
                fmt_num(v)
            );
        }
        e += 1.0;
    }
    for i in 0..=4 {
        let s = s0 + ((s1 - s0) as f64 * i as f64 / 4.0).round() as u64;
        let _ = writeln!(
            out,
            r#"<text x="{:.1}" y="{}" text-anchor="middle">{s}</text>"#,
            x(s),
            yb + 18.0
        );
    }
    let _ = writeln!(
        out,
        r#"<text x="{:.1}" y="{}" text-anchor="middle">{}</text>"#,
        (xl + xr) / 2.0,
        H - 6.0,
        esc(xlabel)
    );
    for (i, (name, points)) in series.iter().enumerate() {
        let color = COLORS[i % COLORS.len()];
        let mut d = String::new();
        for (s, l) in points.iter().filter(|(_, l)| l.is_finite() && *l > 0.0) {
            let _ = write!(
                d,
                "{}{:.1} {:.1}",
                if d.is_empty() { "M" } else { "L" },
                x(*s),
                y(*l)
            );
        }
        let _ = writeln!(
            out,
            r#"<path d="{d}" fill="none" stroke="{color}" stroke-width="1.5"/>"#
        );
        let ly = TOP + 16.0 * i as f64 + 8.0;
        let _ = writeln!(
            out,
            r#"<path d="M{} {ly}h18" stroke="{color}" stroke-width="2"/><text x="{}" y="{}">{}</text>"#,
            xr + 12.0,
            xr + 36.0,
            ly + 4.0,
            esc(name)
        );
    }
    out.push_str("</svg>\n");
    out
}

fn fmt_num(v: f64) -> String {
    if (1e-3..1e4).contains(&v) {
        let s = format!("{v:.3}");
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        format!("{v:.0e}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn draws_one_path_per_series_with_escaped_names() {
        let s = BTreeMap::from([
            ("lm".to_string(), vec![(1, 5.0), (2, 3.0), (3, 2.0)]),
            ("a<b".to_string(), vec![(1, 0.5), (2, f64::NAN), (3, 0.1)]),
        ]);
        let svg = loss_svg("t & u", &s);
        assert_eq!(svg.matches("stroke-width=\"1.5\"").count(), 2);
        assert!(svg.contains("a&lt;b") && svg.contains("t &amp; u"));
        assert!(!svg.contains("NaN"));
        assert!(svg.contains(">0.1<") && svg.contains(">5<"));
    }

    #[test]
    fn no_points_is_said_not_drawn() {
        let svg = loss_svg("x", &BTreeMap::new());
        assert!(svg.contains("no finite losses"));
    }
}
