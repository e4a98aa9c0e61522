//! `eval --plot`: one landmark's x and y over time (truth and each method) and an error-vs-jitter
//! scatter per method, as a PNG. Drawn with plotters' bitmap backend; text is rendered with
//! ab_glyph from a TrueType font found on the system (fonts-dejavu-core on Debian), so no
//! fontconfig/freetype is needed.

use std::path::{Path, PathBuf};

use anyhow::{Context, anyhow};
use plotters::chart::SeriesLabelStyle;
use plotters::coord::CoordTranslate;
use plotters::prelude::*;

const WIDTH: u32 = 1600;
const HEIGHT: u32 = 1000;
const FONT: &str = "sans-serif";

/// Where a sans-serif TrueType font is looked for.
const FONT_FILES: &[&str] = &[
    "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/truetype/liberation/LiberationSans-Regular.ttf",
    "/usr/share/fonts/truetype/liberation2/LiberationSans-Regular.ttf",
    "/usr/share/fonts/TTF/DejaVuSans.ttf",
    "/usr/share/fonts/dejavu/DejaVuSans.ttf",
];

/// One method's curve: the landmark per frame (`None` without a face) and (NME %, jitter %) per frame.
pub struct PlotSeries {
    pub name: &'static str,
    pub points: Vec<Option<[f32; 2]>>,
    pub scatter: Vec<(f32, f32)>,
}

fn colour(name: &str) -> RGBColor {
    match name {
        "raw" => RGBColor(214, 39, 40),
        "one-euro" => RGBColor(31, 119, 180),
        "stabilizer" => RGBColor(44, 160, 44),
        "pose-residual" => RGBColor(255, 127, 14),
        _ => RGBColor(148, 103, 189),
    }
}

fn register_font() -> anyhow::Result<()> {
    static FONT_BYTES: std::sync::OnceLock<Option<&'static [u8]>> = std::sync::OnceLock::new();
    let bytes = FONT_BYTES.get_or_init(|| {
        let file = std::env::var_os("STEADYFACE_PLOT_FONT")
            .map(PathBuf::from)
            .into_iter()
            .chain(FONT_FILES.iter().map(PathBuf::from))
            .find(|p| p.is_file())?;
        std::fs::read(file).ok().map(|b| &*Box::leak(b.into_boxed_slice()))
    });
    let bytes = bytes.with_context(|| {
        format!(
            "--plot needs a TrueType font and none was found (looked in {}); install fonts-dejavu-core \
             (`make setup` does) or set STEADYFACE_PLOT_FONT to a .ttf file",
            FONT_FILES.join(", ")
        )
    })?;
    plotters::style::register_font(FONT, FontStyle::Normal, bytes)
        .map_err(|_| anyhow!("the plot font is not a valid TrueType font"))
}

fn range(values: impl Iterator<Item = f32>) -> std::ops::Range<f32> {
    let (lo, hi) = values.filter(|v| v.is_finite()).fold((f32::MAX, f32::MIN), |(lo, hi), v| (lo.min(v), hi.max(v)));
    if lo > hi {
        return 0.0..1.0;
    }
    let pad = ((hi - lo) * 0.05).max(0.5);
    lo - pad..hi + pad
}

/// Writes the figure to `out` (PNG, written beside it and renamed).
pub fn write(
    out: &Path,
    sequence: &str,
    landmark: usize,
    truth: Option<&[[f32; 2]]>,
    series: &[PlotSeries],
) -> anyhow::Result<()> {
    save(out, |rgb| draw(rgb, sequence, landmark, truth, series))
}

/// Draws a WIDTH x HEIGHT figure with `paint` and writes it to `out` as PNG ([`steadyface::output`]).
fn save(out: &Path, paint: impl FnOnce(&mut [u8]) -> DrawResult) -> anyhow::Result<()> {
    register_font()?;
    let mut rgb = vec![0u8; (WIDTH * HEIGHT * 3) as usize];
    paint(&mut rgb).map_err(|e| anyhow!("drawing the plot: {e}"))?;
    let mut png = Vec::new();
    image::ImageEncoder::write_image(
        image::codecs::png::PngEncoder::new(&mut png),
        &rgb,
        WIDTH,
        HEIGHT,
        image::ExtendedColorType::Rgb8,
    )
    .context("encoding the plot")?;
    steadyface::output::write(out, &png)?;
    Ok(())
}

type DrawResult = Result<(), Box<dyn std::error::Error>>;

/// The legend box every chart here uses.
fn legend<'a, 'b, DB: DrawingBackend + 'a, CT: CoordTranslate>(
    chart: &'b mut ChartContext<'a, DB, CT>,
) -> SeriesLabelStyle<'a, 'b, DB, CT> {
    let mut style = chart.configure_series_labels();
    style.label_font((FONT, 16)).background_style(WHITE.mix(0.85)).border_style(BLACK);
    style
}

fn draw(
    rgb: &mut [u8],
    sequence: &str,
    landmark: usize,
    truth: Option<&[[f32; 2]]>,
    series: &[PlotSeries],
) -> DrawResult {
    let root = BitMapBackend::with_buffer(rgb, (WIDTH, HEIGHT)).into_drawing_area();
    root.fill(&WHITE)?;
    let root = root.titled(&format!("{sequence}: landmark {landmark} and error vs jitter"), (FONT, 30))?;
    let (top, bottom) = root.split_vertically((HEIGHT - 40) / 2);
    let (x_area, y_area) = top.split_horizontally(WIDTH / 2);
    let frames = series.iter().map(|s| s.points.len()).chain(truth.map(<[_]>::len)).max().unwrap_or(1);
    for (axis, area) in [(0usize, &x_area), (1usize, &y_area)] {
        let values = truth
            .into_iter()
            .flatten()
            .map(|p| p[axis])
            .chain(series.iter().flat_map(|s| s.points.iter().flatten().map(|p| p[axis])));
        let mut chart = ChartBuilder::on(area)
            .caption(format!("{} over time", ["x", "y"][axis]), (FONT, 22))
            .margin(12)
            .x_label_area_size(40)
            .y_label_area_size(60)
            .build_cartesian_2d(0f32..frames as f32, range(values))?;
        chart
            .configure_mesh()
            .x_desc("frame")
            .y_desc(format!("{} (px)", ["x", "y"][axis]))
            .label_style((FONT, 15))
            .draw()?;
        if let Some(truth) = truth {
            chart
                .draw_series(LineSeries::new(
                    truth.iter().enumerate().map(|(t, p)| (t as f32, p[axis])),
                    BLACK.stroke_width(2),
                ))?
                .label("ground truth")
                .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], BLACK.stroke_width(2)));
        }
        for s in series {
            let c = colour(s.name);
            let line = s.points.iter().enumerate().filter_map(|(t, p)| p.map(|p| (t as f32, p[axis])));
            chart
                .draw_series(LineSeries::new(line, c.stroke_width(2)))?
                .label(s.name)
                .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], c.stroke_width(2)));
        }
        legend(&mut chart).position(SeriesLabelPosition::UpperLeft).draw()?;
    }

    let mut chart = ChartBuilder::on(&bottom)
        .caption(
            if truth.is_some() {
                "per frame: error (NME, % IOD) vs jitter (change of the error to the next frame, % IOD)"
            } else {
                "no ground truth: error and jitter need gt.jsonl"
            },
            (FONT, 22),
        )
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(60)
        .build_cartesian_2d(
            range(series.iter().flat_map(|s| s.scatter.iter().map(|p| p.0))),
            range(series.iter().flat_map(|s| s.scatter.iter().map(|p| p.1))),
        )?;
    chart.configure_mesh().x_desc("NME 68 (% IOD)").y_desc("jitter (% IOD)").label_style((FONT, 15)).draw()?;
    for s in series {
        let c = colour(s.name);
        chart
            .draw_series(s.scatter.iter().map(|&(e, j)| Circle::new((e, j), 3, c.mix(0.6).filled())))?
            .label(s.name)
            .legend(move |(x, y)| Circle::new((x + 10, y), 4, c.filled()));
    }
    legend(&mut chart).position(SeriesLabelPosition::UpperRight).draw()?;
    root.present()?;
    Ok(())
}

/// `finetune`'s loss curve from its CSV log: the training loss per step (and its running mean),
/// and the held-out jitter of backbone vs stabilizer at each validation.
pub fn loss_curve(out: &Path, log_csv: &Path) -> anyhow::Result<()> {
    let text = std::fs::read_to_string(log_csv).with_context(|| format!("{}", log_csv.display()))?;
    let mut loss = Vec::new();
    let mut val = Vec::new();
    for (n, line) in text.lines().enumerate().skip(1) {
        let cols: Vec<&str> = line.split(',').collect();
        let num = |i: usize| cols.get(i).and_then(|v| v.parse::<f32>().ok());
        let (Some(step), Some(l)) = (num(0), num(1)) else {
            anyhow::bail!("{}:{}: not a log line", log_csv.display(), n + 1);
        };
        loss.push((step, l));
        if let (Some(raw), Some(stab)) = (num(9), num(10)) {
            val.push((step, raw, stab));
        }
    }
    // Running mean over 50 steps: single batches vary a lot.
    let smooth: Vec<(f32, f32)> = (0..loss.len())
        .map(|i| {
            let w = &loss[i.saturating_sub(49)..=i];
            (loss[i].0, w.iter().map(|p| p.1).sum::<f32>() / w.len() as f32)
        })
        .collect();
    save(out, |rgb| {
        let root = BitMapBackend::with_buffer(rgb, (WIDTH, HEIGHT)).into_drawing_area();
        root.fill(&WHITE)?;
        let (top, bottom) = root.split_vertically(HEIGHT / 2);
        let steps = loss.last().map_or(1.0, |p| p.0.max(1.0));
        let mut chart = ChartBuilder::on(&top)
            .caption("training loss (Jitter loss + gamma * SBR)", (FONT, 24))
            .margin(12)
            .x_label_area_size(40)
            .y_label_area_size(70)
            .build_cartesian_2d(0f32..steps, 0f32..loss.iter().map(|p| p.1).fold(0.0, f32::max).max(1e-6))?;
        chart.configure_mesh().x_desc("step").y_desc("loss").label_style((FONT, 15)).draw()?;
        let grey = RGBColor(170, 170, 170);
        chart
            .draw_series(LineSeries::new(loss.iter().copied(), grey.stroke_width(1)))?
            .label("per batch")
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], grey));
        chart
            .draw_series(LineSeries::new(smooth.iter().copied(), BLACK.stroke_width(2)))?
            .label("running mean (50 steps)")
            .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], BLACK.stroke_width(2)));
        legend(&mut chart).draw()?;
        let top_nmj = val.iter().map(|v| v.1.max(v.2)).fold(0.0, f32::max).max(1e-3) * 1.1;
        let mut chart = ChartBuilder::on(&bottom)
            .caption("held-out jitter (NMJ, % IOD, heatmap level)", (FONT, 24))
            .margin(12)
            .x_label_area_size(40)
            .y_label_area_size(70)
            .build_cartesian_2d(0f32..steps, 0f32..top_nmj)?;
        chart.configure_mesh().x_desc("step").y_desc("NMJ %").label_style((FONT, 15)).draw()?;
        for (name, pick) in [("raw", 1usize), ("stabilizer", 2)] {
            let c = colour(name);
            let points = val.iter().map(move |v| (v.0, if pick == 1 { v.1 } else { v.2 }));
            chart
                .draw_series(LineSeries::new(points.clone(), c.stroke_width(2)))?
                .label(if pick == 1 { "backbone alone" } else { "stabilized" })
                .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], c.stroke_width(2)));
            chart.draw_series(points.map(|p| Circle::new(p, 4, c.filled())))?;
        }
        legend(&mut chart).draw()?;
        root.present()?;
        Ok(())
    })
}
