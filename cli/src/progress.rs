//! `finetune`'s progress on the terminal: a bar per phase, or with `--quiet` a log line now and
//! then.

use indicatif::{ProgressBar, ProgressStyle};
use steadyface_train::run::Progress;

/// Steps between log lines with `--quiet`.
const QUIET_EVERY: u64 = 100;

pub struct Terminal {
    quiet: bool,
    bar: ProgressBar,
}

impl Terminal {
    pub fn new(quiet: bool) -> Self {
        Terminal { quiet, bar: ProgressBar::hidden() }
    }
}

impl Progress for Terminal {
    fn start(&mut self, phase: &str, len: u64) {
        if self.quiet {
            return;
        }
        let style = ProgressStyle::with_template("{prefix:>12} [{bar:30}] {pos}/{len} {msg} (ETA {eta})")
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> ");
        self.bar = ProgressBar::new(len).with_style(style).with_prefix(phase.to_string());
    }

    fn at(&mut self, position: u64, status: &str) {
        if !self.quiet {
            self.bar.set_position(position);
            self.bar.set_message(status.to_string());
        } else if !status.is_empty() && position.is_multiple_of(QUIET_EVERY) {
            eprintln!("step {position}: {status}");
        }
    }

    fn say(&mut self, line: &str) {
        if self.quiet || self.bar.is_hidden() {
            eprintln!("{line}");
        } else {
            self.bar.println(line);
        }
    }

    fn finish(&mut self) {
        self.bar.finish_and_clear();
        self.bar = ProgressBar::hidden();
    }
}
