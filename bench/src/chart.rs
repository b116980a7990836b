//! The chart of the latest run: median bars with p95 whiskers per part, drawn with
//! plotters' bitmap backend. Text is rendered with ab_glyph from a TrueType file found on
//! the system (Debian's fonts-dejavu-core, which scripts/bench.sh installs), so no
//! fontconfig or freetype is needed.

use std::path::Path;

use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::FontStyle;

use crate::harness::ToolResult;
use crate::Results;

const FONT_CANDIDATES: &[&str] = &[
    "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/TTF/DejaVuSans.ttf",
    "/usr/share/fonts/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/truetype/liberation/LiberationSans-Regular.ttf",
];

fn load_font() -> Result<(), String> {
    let explicit = std::env::var("NUCLEUS_BENCH_FONT").ok();
    let path = explicit
        .iter()
        .map(String::as_str)
        .chain(FONT_CANDIDATES.iter().copied())
        .find(|p| Path::new(p).is_file())
        .ok_or("no TrueType font found (apt-get install fonts-dejavu-core, or set NUCLEUS_BENCH_FONT)")?;
    let bytes = std::fs::read(path).map_err(|e| format!("{path}: {e}"))?;
    // plotters keeps fonts for the life of the process.
    let bytes: &'static [u8] = Box::leak(bytes.into_boxed_slice());
    plotters::style::register_font("sans-serif", FontStyle::Normal, bytes).map_err(|_| format!("{path}: not a usable font"))
}

/// One bar: label, median, p95 (or NaN), role.
struct Bar {
    label: String,
    value: f64,
    whisker: f64,
    role: &'static str,
}

fn colour(role: &str) -> RGBColor {
    match role {
        "nucleus" => RGBColor(0x1f, 0x77, 0xb4),
        "peer" => RGBColor(0xff, 0x7f, 0x0e),
        _ => RGBColor(0x99, 0x99, 0x99),
    }
}

type Area<'a> = DrawingArea<BitMapBackend<'a>, Shift>;

fn panel(area: &Area<'_>, title: &str, unit: &str, bars: &[Bar]) -> Result<(), String> {
    if bars.is_empty() {
        return Ok(());
    }
    let err = |e: DrawingAreaErrorKind<_>| format!("drawing: {e:?}");
    let max = bars.iter().map(|b| if b.whisker.is_finite() { b.whisker.max(b.value) } else { b.value }).fold(0.0, f64::max);
    let n = bars.len();
    let mut chart = ChartBuilder::on(area)
        .caption(title, ("sans-serif", 20))
        .margin(12)
        .x_label_area_size(36)
        .y_label_area_size(360)
        .build_cartesian_2d(0.0..max * 1.22, (0..n - 1).into_segmented())
        .map_err(err)?;
    chart
        .configure_mesh()
        .disable_y_mesh()
        .light_line_style(WHITE)
        .x_labels(8)
        .y_labels(n)
        .y_label_style(("sans-serif", 14))
        .x_label_style(("sans-serif", 13))
        .y_label_formatter(&|v| match v {
            SegmentValue::CenterOf(i) if *i < n => bars[n - 1 - *i].label.clone(),
            _ => String::new(),
        })
        .x_desc(unit)
        .axis_desc_style(("sans-serif", 14))
        .draw()
        .map_err(err)?;
    chart
        .draw_series(bars.iter().rev().enumerate().map(|(i, b)| {
            let mut r = Rectangle::new(
                [(0.0, SegmentValue::Exact(i)), (b.value, SegmentValue::Exact(i + 1))],
                colour(b.role).filled(),
            );
            r.set_margin(5, 5, 0, 0);
            r
        }))
        .map_err(err)?;
    chart
        .draw_series(bars.iter().rev().enumerate().filter(|(_, b)| b.whisker.is_finite()).map(|(i, b)| {
            PathElement::new(
                vec![(b.value, SegmentValue::CenterOf(i)), (b.whisker, SegmentValue::CenterOf(i))],
                BLACK.stroke_width(2),
            )
        }))
        .map_err(err)?;
    chart
        .draw_series(bars.iter().rev().enumerate().map(|(i, b)| {
            let x = if b.whisker.is_finite() { b.whisker.max(b.value) } else { b.value };
            let text = if b.value >= 100.0 { format!("{:.0}", b.value) } else if b.value >= 10.0 { format!("{:.1}", b.value) } else { format!("{:.2}", b.value) };
            Text::new(format!(" {text}"), (x, SegmentValue::CenterOf(i)), ("sans-serif", 14).into_font().color(&BLACK))
        }))
        .map_err(err)?;
    Ok(())
}

fn group_bars(r: &Results, key: &str) -> Vec<Bar> {
    r.groups.iter().filter(|g| g.key == key).flat_map(|g| g.tools.iter()).filter_map(|t| bar(t, t.ratio_to_reference)).collect()
}

fn bar(t: &ToolResult, ratio: Option<f64>) -> Option<Bar> {
    let s = t.summary.as_ref()?;
    let label = match ratio {
        Some(q) => format!("{} ({q:.2})", t.name),
        None => t.name.clone(),
    };
    Some(Bar { label, value: s.median, whisker: s.p95, role: t.role })
}

/// The cycle, with the warm-pool run (the first tool of the pool part) beside it. That
/// one's ratios are against its own pair, so its bar shows none.
fn cycle_bars(r: &Results) -> Vec<Bar> {
    let pooled = r.groups.iter().filter(|g| g.key == "pool").filter_map(|g| bar(g.tools.first()?, None));
    group_bars(r, "cycle").into_iter().chain(pooled).collect()
}

/// Both paces of the limits comparison, each bar named with its pace.
fn limits_bars(r: &Results) -> Vec<Bar> {
    let mut bars = Vec::new();
    for (key, pace) in [("limits", "back to back"), ("limits-one-shot", "one-shot")] {
        for t in r.groups.iter().filter(|g| g.key == key).flat_map(|g| g.tools.iter()) {
            let named = ToolResult { name: format!("{}, {pace}", t.name), ..t.clone() };
            bars.extend(bar(&named, t.ratio_to_reference));
        }
    }
    bars
}

pub fn draw(r: &Results, path: &Path) -> Result<(), String> {
    load_font()?;
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    }
    let root = BitMapBackend::new(path, (1600, 1750)).into_drawing_area();
    let err = |e: DrawingAreaErrorKind<_>| format!("drawing: {e:?}");
    root.fill(&WHITE).map_err(err)?;
    let mut subtitle = String::from("bars: median, whiskers: p95; (x.xx) = nucleus ÷ tool, paired run by run");
    if let Some(d) = &r.density {
        subtitle.push_str(&format!(
            "   |   density: {} idle sandboxes, {:.2} MiB host memory each, all destroyed in {:.2} s",
            d.held,
            d.per_sandbox_kib_system / 1024.0,
            d.destroy_seconds
        ));
    }
    let (head, body) = root.split_vertically(70);
    head.draw(&Text::new("nucleus vs bubblewrap / crun / runc (equal isolation)", (20, 10), ("sans-serif", 26)))
        .map_err(err)?;
    head.draw(&Text::new(subtitle, (20, 44), ("sans-serif", 15))).map_err(err)?;
    let panels = body.split_evenly((3, 2));
    panel(&panels[0], "Cycle: create, start, /bin/true, destroy (back to back)", "ms", &cycle_bars(r))?;
    let idle = r.groups.iter().find(|g| g.key == "cycle-one-shot").map_or(0, |g| g.idle_ms);
    let one_shot = format!("The same cycle, one-shot (each run after {idle} ms idle)");
    panel(&panels[1], &one_shot, "ms", &group_bars(r, "cycle-one-shot"))?;
    panel(&panels[2], "Cycle: python3 -c pass", "ms", &group_bars(r, "python"))?;
    panel(&panels[3], "Exec in a running sandbox vs host spawn+wait", "ms", &group_bars(r, "exec"))?;
    panel(&panels[4], "Cycle with memory/pids/cpu limits vs crun", "ms", &limits_bars(r))?;
    let mut tp: Vec<Bar> = r
        .throughput
        .iter()
        .map(|(n, x)| Bar {
            label: n.clone(),
            value: x.per_second,
            whisker: f64::NAN,
            role: if n == "nucleus" { "nucleus" } else { "peer" },
        })
        .collect();
    if tp.is_empty() {
        tp = group_bars(r, "layers");
        panel(&panels[5], "Layers switched off in turn", "ms", &tp)?;
    } else {
        panel(&panels[5], "Throughput: full cycles/s, 2 workers (higher is better)", "cycles/s", &tp)?;
    }
    root.present().map_err(|e| format!("writing {}: {e:?}", path.display()))?;
    Ok(())
}
