//! `steadyface track`: video in (a file, a URI, numbered frames), landmarks out (JSON Lines,
//! `steadyface.landmarks/1`), optionally an annotated video.

use std::io::Write;
use std::path::Path;

use anyhow::Context;
use indicatif::{ProgressBar, ProgressStyle};

use crate::element;
use crate::options::ElementArgs;

pub fn track(video: &Path, json: Option<&Path>, overlay: Option<&Path>, args: &ElementArgs) -> anyhow::Result<()> {
    element::init()?;
    let properties = args.properties()?;
    // An output that cannot be written (its folder missing, a folder in its place) fails now,
    // not after every frame has been processed.
    json.map(steadyface::output::Output::create).transpose()?;
    let total = if video.is_dir() {
        steadyface_train::video::numbered_frames(video).ok().map(|f| f.len() as u64)
    } else {
        None
    };
    let frames = steadyface_train::video::frames(video)?;
    let bar = match total {
        Some(n) => ProgressBar::new(n),
        None => ProgressBar::no_length(),
    };
    bar.set_style(
        ProgressStyle::with_template("{spinner} {pos}/{len} frames {per_sec} {elapsed} {wide_bar}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let mut lines = String::new();
    let stdout = std::io::stdout();
    let run = element::run(frames, &properties, overlay, |record| {
        let line = record.to_json().to_line();
        if json.is_some() {
            lines += &line;
            lines.push('\n');
        } else {
            writeln!(stdout.lock(), "{line}").context("writing to standard output")?;
        }
        bar.inc(1);
        Ok(())
    });
    bar.finish_and_clear();
    let run = run.with_context(|| format!("{}", video.display()))?;
    if let Some(path) = json {
        steadyface::output::write(path, lines.as_bytes())?;
    }
    let faces: usize = run.frames.iter().map(|f| f.faces().len()).sum();
    eprintln!(
        "{}: {} frames, {faces} faces, {:.1} frames/s{}{}",
        video.display(),
        run.frames.len(),
        run.frames.len() as f64 / run.seconds.max(1e-9),
        json.map(|p| format!("; landmarks: {}", p.display())).unwrap_or_default(),
        overlay.map(|p| format!("; video: {}", p.display())).unwrap_or_default(),
    );
    Ok(())
}
