//! The chart: per variant, the warm latency distribution (p1, p25–p75, p50, p99) and every
//! cold start, on log scales side by side, as a PNG.
//!
//! plotters draws the shapes and encodes the PNG; its own text needs a system font, so the
//! labels are drawn pixel by pixel from font8x8's bitmap glyphs instead.

use std::path::Path;

use font8x8::UnicodeFonts as _;
use plotters::prelude::*;

use crate::report::Figures;

const ROW: i32 = 30;
const TOP: i32 = 70;
const LABEL_WIDTH: i32 = 380;
const PANEL_WIDTH: i32 = 560;
const GAP: i32 = 90;
const BOTTOM: i32 = 60;

type Area<'a> = DrawingArea<BitMapBackend<'a>, plotters::coord::Shift>;

/// Writes the chart of `figures` to `path`.
pub fn draw(figures: &[Figures], path: &Path) -> Result<(), Box<dyn std::error::Error>> {
    let rows: Vec<&Figures> = figures.iter().filter(|f| f.error.is_none()).collect();
    let width = (LABEL_WIDTH + 2 * PANEL_WIDTH + GAP + 80) as u32;
    let height = (TOP + ROW * rows.len() as i32 + BOTTOM) as u32;
    let area = BitMapBackend::new(path, (width, height)).into_drawing_area();
    area.fill(&WHITE)?;

    let latency = LogAxis::covering(
        rows.iter()
            .flat_map(|f| [f.warm_latency_us.quantile(0.01), f.warm_latency_us.p99]),
        LABEL_WIDTH,
    );
    let cold = LogAxis::covering(
        rows.iter()
            .flat_map(|f| f.cold_start_ms.samples.iter().copied()),
        LABEL_WIDTH + PANEL_WIDTH + GAP,
    );
    text(
        &area,
        10,
        10,
        "Cruddur Lambda benchmarks (issue 6)",
        2,
        &BLACK,
    );
    text(
        &area,
        LABEL_WIDTH,
        40,
        "warm latency, us: p1-p99 line, p25-p75 box, p50 bar",
        1,
        &BLACK,
    );
    text(
        &area,
        cold.left,
        40,
        "cold start (spawn -> first response), ms: every start",
        1,
        &BLACK,
    );
    let bottom = TOP + ROW * rows.len() as i32;
    latency.draw(&area, TOP, bottom, "us")?;
    cold.draw(&area, TOP, bottom, "ms")?;

    let box_color = RGBColor(120, 160, 220);
    let dark = RGBColor(20, 40, 120);
    let dot = RGBColor(200, 80, 40);
    for (i, f) in rows.iter().enumerate() {
        let y = TOP + ROW * i as i32 + ROW / 2;
        text(&area, 10, y - 4, &f.name, 1, &BLACK);
        let d = &f.warm_latency_us;
        if !d.samples.is_empty() {
            let (p1, p25, p50, p75, p99) = (
                latency.x(d.quantile(0.01)),
                latency.x(d.quantile(0.25)),
                latency.x(d.p50),
                latency.x(d.quantile(0.75)),
                latency.x(d.p99),
            );
            area.draw(&PathElement::new(vec![(p1, y), (p99, y)], dark))?;
            area.draw(&Rectangle::new(
                [(p25, y - 7), (p75.max(p25 + 1), y + 7)],
                box_color.filled(),
            ))?;
            area.draw(&Rectangle::new(
                [(p50 - 1, y - 9), (p50 + 1, y + 9)],
                dark.filled(),
            ))?;
            area.draw(&PathElement::new(vec![(p99, y - 5), (p99, y + 5)], dark))?;
        }
        for &start in &f.cold_start_ms.samples {
            area.draw(&Circle::new((cold.x(start), y), 3, dot.filled()))?;
        }
    }
    area.present()?;
    Ok(())
}

/// A log10 axis over whole decades, `PANEL_WIDTH` pixels wide from `left`.
struct LogAxis {
    left: i32,
    low: f64,
    high: f64,
}

impl LogAxis {
    fn covering(values: impl Iterator<Item = f64>, left: i32) -> Self {
        let (mut low, mut high) = (f64::INFINITY, f64::NEG_INFINITY);
        for v in values.filter(|v| v.is_finite() && *v > 0.0) {
            low = low.min(v);
            high = high.max(v);
        }
        if !low.is_finite() {
            (low, high) = (1.0, 10.0);
        }
        Self {
            left,
            low: low.log10().floor(),
            high: high.log10().ceil().max(low.log10().floor() + 1.0),
        }
    }

    fn x(&self, value: f64) -> i32 {
        let fraction = (value.max(1e-9).log10() - self.low) / (self.high - self.low);
        self.left + (fraction.clamp(0.0, 1.0) * PANEL_WIDTH as f64) as i32
    }

    fn draw(
        &self,
        area: &Area<'_>,
        top: i32,
        bottom: i32,
        unit: &str,
    ) -> Result<(), Box<dyn std::error::Error>> {
        let grey = RGBColor(200, 200, 200);
        area.draw(&PathElement::new(
            vec![(self.left, bottom), (self.left + PANEL_WIDTH, bottom)],
            BLACK,
        ))?;
        let mut decade = self.low;
        while decade <= self.high {
            let value = 10f64.powf(decade);
            let x = self.x(value);
            area.draw(&PathElement::new(vec![(x, top), (x, bottom)], grey))?;
            let label = match value {
                v if v >= 1e6 => format!("{:.0}M {unit}", v / 1e6),
                v if v >= 1e3 => format!("{:.0}k {unit}", v / 1e3),
                v if v >= 1.0 => format!("{v:.0} {unit}"),
                v => format!("{v} {unit}"),
            };
            text(area, x - 8, bottom + 8, &label, 1, &BLACK);
            decade += 1.0;
        }
        Ok(())
    }
}

/// Draws `line` with font8x8's 8×8 glyphs, each pixel `scale` pixels wide.
fn text(area: &Area<'_>, x: i32, y: i32, line: &str, scale: i32, color: &RGBColor) {
    for (i, c) in line.chars().enumerate() {
        let Some(glyph) = font8x8::BASIC_FONTS.get(c) else {
            continue;
        };
        let left = x + i as i32 * 8 * scale;
        for (row, bits) in glyph.iter().enumerate() {
            for col in 0..8 {
                if bits & (1 << col) != 0 {
                    for dy in 0..scale {
                        for dx in 0..scale {
                            let _ = area.draw_pixel(
                                (left + col * scale + dx, y + row as i32 * scale + dy),
                                color,
                            );
                        }
                    }
                }
            }
        }
    }
}
