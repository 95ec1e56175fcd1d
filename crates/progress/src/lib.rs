//! Progress of a long command (`cityserve import`, `export`, `demo`, `migrate`, `rollups rebuild`): a bar with items/s and the
//! time left on a terminal, plain lines every few seconds otherwise (logs of a scheduled job).
//! One type, so every long command looks and logs the same.
use indicatif::{ProgressBar, ProgressStyle};
use std::io::IsTerminal;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// How often a plain progress line is printed when stderr is not a terminal.
const PLAIN_EVERY: Duration = Duration::from_secs(5);

/// Reports items done out of a total.
pub struct Progress {
    bar: Option<ProgressBar>,
    label: String,
    unit: &'static str,
    total: Option<u64>,
    done: u64,
    started: Instant,
    last_line: Instant,
}

impl Progress {
    /// Progress of `total` items of `label` (a file name, "demo city"), counted in `unit`
    /// ("rows", "contacts").
    pub fn new(label: &str, total: u64, unit: &'static str) -> Progress {
        let bar = std::io::stderr().is_terminal().then(|| {
            let bar = ProgressBar::new(total);
            let template = format!("{{msg}} [{{bar:30}}] {{pos}}/{{len}} {unit}, {{per_sec}}, {{eta}} left");
            let style = ProgressStyle::with_template(&template).unwrap_or_else(|_| ProgressStyle::default_bar());
            bar.set_style(style.progress_chars("=> "));
            bar.set_message(label.to_owned());
            bar
        });
        let now = Instant::now();
        Progress { bar, label: label.to_owned(), unit, total: Some(total), done: 0, started: now, last_line: now }
    }

    /// Progress of a count whose total is not known ahead (an export streams until the server
    /// says it is done): items and items/s, no bar and no time left.
    pub fn counting(label: &str, unit: &'static str) -> Progress {
        let bar = std::io::stderr().is_terminal().then(|| {
            let bar = ProgressBar::new_spinner();
            let template = format!("{{spinner}} {{msg}} {{pos}} {unit}, {{per_sec}}");
            let style = ProgressStyle::with_template(&template).unwrap_or_else(|_| ProgressStyle::default_spinner());
            bar.set_style(style);
            bar.set_message(label.to_owned());
            bar.enable_steady_tick(Duration::from_millis(200));
            bar
        });
        let now = Instant::now();
        Progress { bar, label: label.to_owned(), unit, total: None, done: 0, started: now, last_line: now }
    }

    /// `n` more items are done.
    pub fn advance(&mut self, n: u64) {
        self.done += n;
        match &self.bar {
            Some(bar) => bar.inc(n),
            None if self.last_line.elapsed() >= PLAIN_EVERY => {
                self.last_line = Instant::now();
                eprintln!("{}", self.line());
            }
            None => {}
        }
    }

    /// Items done so far.
    pub fn done(&self) -> u64 {
        self.done
    }

    fn line(&self) -> String {
        let secs = self.started.elapsed().as_secs_f64().max(0.001);
        let rate = self.done as f64 / secs;
        let unit = self.unit;
        let Some(total) = self.total else {
            return format!("{}: {} {unit}, {rate:.0} {unit}/s", self.label, self.done);
        };
        let left = if rate > 0.0 { (total.saturating_sub(self.done)) as f64 / rate } else { 0.0 };
        format!("{}: {}/{total} {unit}, {rate:.0} {unit}/s, {left:.0} s left", self.label, self.done)
    }

    /// Ends the bar (the summary follows on stdout).
    pub fn finish(self) {
        if let Some(bar) = self.bar {
            bar.finish_and_clear();
        }
    }
}

/// Runs `work` while a display follows `count` (items done so far, which `work` advances) up to
/// `total`, five times a second; ends the display when `work` ends, whatever its outcome.
pub async fn follow<T>(
    label: &str,
    total: u64,
    unit: &'static str,
    count: &AtomicU64,
    work: impl Future<Output = T>,
) -> T {
    follow_with(Progress::new(label, total, unit), count, work).await
}

/// [`follow`] with `progress` as the display (e.g. [`Progress::counting`] when the total is not
/// known ahead).
pub async fn follow_with<T>(mut progress: Progress, count: &AtomicU64, work: impl Future<Output = T>) -> T {
    let mut tick = tokio::time::interval(Duration::from_millis(200));
    let mut work = std::pin::pin!(work);
    loop {
        tokio::select! {
            out = &mut work => {
                progress.advance(count.load(Ordering::Relaxed).saturating_sub(progress.done));
                progress.finish();
                return out;
            }
            _ = tick.tick() => progress.advance(count.load(Ordering::Relaxed).saturating_sub(progress.done)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_plain_line_says_the_rate_and_the_time_left() {
        let mut p = Progress::new("demo city", 100, "contacts");
        p.bar = None;
        p.started = Instant::now() - Duration::from_secs(10);
        p.advance(50);
        let line = p.line();
        assert!(line.starts_with("demo city: 50/100 contacts, 5 contacts/s, "), "{line}");
        assert!(line.ends_with(" s left"), "{line}");
        assert_eq!(p.done(), 50);
    }

    #[test]
    fn a_count_without_a_total_says_the_rate_only() {
        let mut p = Progress::counting("export", "rows");
        p.bar = None;
        p.started = Instant::now() - Duration::from_secs(4);
        p.advance(20);
        assert_eq!(p.line(), "export: 20 rows, 5 rows/s");
    }

    #[tokio::test]
    async fn following_ends_with_the_work_and_returns_its_outcome() {
        let count = AtomicU64::new(0);
        let out = follow("job", 3, "items", &count, async {
            for _ in 0..3 {
                count.fetch_add(1, Ordering::Relaxed);
                tokio::task::yield_now().await;
            }
            "done"
        })
        .await;
        assert_eq!(out, "done");
    }
}
