//! Per-step metrics in DIR (`metrics.csv` or `metrics.jsonl`), one line per step, flushed
//! as it is written. A resumed run first cuts the file back to the checkpoint's step, so
//! the file always holds each step once, in order.

use crate::draws::DrawSpec;
use crate::objectives::HeadSpec;
use crate::train::StepReport;
use std::collections::BTreeMap;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MetricsFormat {
    Csv,
    Jsonl,
}

impl MetricsFormat {
    pub fn file(self) -> &'static str {
        match self {
            MetricsFormat::Csv => "metrics.csv",
            MetricsFormat::Jsonl => "metrics.jsonl",
        }
    }
}

impl std::str::FromStr for MetricsFormat {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "csv" => Ok(MetricsFormat::Csv),
            "jsonl" => Ok(MetricsFormat::Jsonl),
            other => Err(format!("`{other}` is not csv or jsonl")),
        }
    }
}

/// The columns besides step, loss and timing: heads, mask rates and loop passes.
#[derive(Clone, Debug)]
pub struct Columns {
    pub heads: Vec<String>,
    pub rates: Vec<String>,
    pub loops: Vec<String>,
}

impl Columns {
    /// A model's: its trained heads, its `mask_tokens` modalities and its loops.
    pub fn of(heads: &[HeadSpec], draws: &DrawSpec, loops: Vec<String>) -> Columns {
        Columns {
            heads: heads.iter().map(|h| h.head.clone()).collect(),
            rates: draws
                .mask_tokens
                .iter()
                .map(|m| m.modality.clone())
                .collect(),
            loops,
        }
    }
}

pub struct Metrics {
    pub path: PathBuf,
    format: MetricsFormat,
    cols: Columns,
    file: File,
}

impl Metrics {
    fn header(cols: &Columns) -> String {
        let mut h = vec!["step".to_string(), "loss".to_string()];
        h.extend(cols.heads.iter().map(|x| format!("loss.{x}")));
        h.extend(["lr", "grad_norm", "tokens", "tokens_per_s", "elapsed_s"].map(String::from));
        h.extend(cols.rates.iter().map(|x| format!("mask_rate.{x}")));
        h.extend(cols.loops.iter().map(|x| format!("passes.{x}")));
        h.join(",")
    }

    /// A new metrics file (an old one is replaced).
    pub fn create(dir: &Path, format: MetricsFormat, cols: Columns) -> io::Result<Self> {
        let path = dir.join(format.file());
        let mut file = File::create(&path)?;
        if format == MetricsFormat::Csv {
            writeln!(file, "{}", Self::header(&cols))?;
        }
        Ok(Metrics {
            path,
            format,
            cols,
            file,
        })
    }

    /// The existing file cut back to the well-formed lines of steps <= `upto` (written
    /// beside it and renamed over it), then opened for appending; with a note naming the
    /// steps before `upto` that have no line (a file cut short or edited), which stay
    /// missing.
    pub fn resume(
        dir: &Path,
        format: MetricsFormat,
        cols: Columns,
        upto: u64,
    ) -> io::Result<(Self, Option<String>)> {
        let path = dir.join(format.file());
        let old = fs::read_to_string(&path).unwrap_or_default();
        let header = Self::header(&cols);
        let cells = header.split(',').count();
        let mut kept = String::new();
        if format == MetricsFormat::Csv {
            kept.push_str(&header);
            kept.push('\n');
        }
        let mut seen = std::collections::BTreeSet::new();
        for line in old.lines() {
            let whole = format == MetricsFormat::Jsonl || line.split(',').count() == cells;
            match step_of(line, format) {
                Some(s) if whole && s >= 1 && s <= upto && seen.insert(s) => {
                    kept.push_str(line);
                    kept.push('\n');
                }
                _ => {}
            }
        }
        let tmp = dir.join(format!(".{}.tmp", format.file()));
        fs::write(&tmp, kept)?;
        fs::rename(&tmp, &path)?;
        let file = OpenOptions::new().append(true).open(&path)?;
        let missing = gaps(&seen, upto);
        let note = (!missing.is_empty()).then(|| {
            format!(
                "`{}` has no line for step(s) {} of the {upto} before the checkpoint (cut short or edited since): they stay missing; the run continues from step {}",
                path.display(),
                missing.join(", "),
                upto + 1
            )
        });
        Ok((
            Metrics {
                path,
                format,
                cols,
                file,
            },
            note,
        ))
    }

    /// A new file, or (`resume_at`, a resumed run's step) the old one cut back to it.
    pub fn open(
        dir: &Path,
        format: MetricsFormat,
        cols: Columns,
        resume_at: Option<u64>,
    ) -> io::Result<(Self, Option<String>)> {
        match resume_at {
            Some(step) => Self::resume(dir, format, cols, step),
            None => Self::create(dir, format, cols).map(|m| (m, None)),
        }
    }

    pub fn write(&mut self, r: &StepReport, tokens_per_s: f64, elapsed: f64) -> io::Result<()> {
        let line = match self.format {
            MetricsFormat::Csv => {
                let mut v = vec![r.step.to_string(), num(r.total)];
                v.extend(
                    self.cols
                        .heads
                        .iter()
                        .map(|h| r.losses.get(h).map_or(String::new(), |l| num(*l))),
                );
                v.extend([
                    num(r.lr),
                    num(r.grad_norm),
                    r.tokens.to_string(),
                    format!("{tokens_per_s:.1}"),
                    format!("{elapsed:.3}"),
                ]);
                v.extend(
                    self.cols
                        .rates
                        .iter()
                        .map(|m| r.drawn.rates.get(m).map_or(String::new(), |x| num(*x))),
                );
                v.extend(
                    self.cols
                        .loops
                        .iter()
                        .map(|l| r.loop_steps.get(l).map_or(String::new(), |x| x.to_string())),
                );
                v.join(",")
            }
            MetricsFormat::Jsonl => serde_json::json!({
                "step": r.step,
                "loss": r.total,
                "heads": r.losses,
                "lr": r.lr,
                "grad_norm": r.grad_norm,
                "tokens": r.tokens,
                "tokens_per_s": tokens_per_s,
                "elapsed_s": elapsed,
                "mask_rates": r.drawn.rates,
                "passes": r.loop_steps,
            })
            .to_string(),
        };
        writeln!(self.file, "{line}")?;
        self.file.flush()
    }
}

/// The steps of 1..=upto not in `seen`, as ranges: `1-3`, `7`.
fn gaps(seen: &std::collections::BTreeSet<u64>, upto: u64) -> Vec<String> {
    let mut out = Vec::new();
    let mut next = 1;
    for s in seen.iter().copied().chain([upto + 1]) {
        if s > next {
            let last = s - 1;
            out.push(if last == next {
                next.to_string()
            } else {
                format!("{next}-{last}")
            });
        }
        next = s + 1;
    }
    out
}

/// Full precision, no exponent surprises for spreadsheets.
fn num(x: f64) -> String {
    format!("{x}")
}

fn step_of(line: &str, format: MetricsFormat) -> Option<u64> {
    match format {
        MetricsFormat::Csv => line.split(',').next()?.parse().ok(),
        MetricsFormat::Jsonl => serde_json::from_str::<serde_json::Value>(line)
            .ok()?
            .get("step")?
            .as_u64(),
    }
}

/// The losses of a metrics file, by series (`total` and each head), for the plot.
pub fn read_losses(path: &Path, format: MetricsFormat) -> BTreeMap<String, Vec<(u64, f64)>> {
    let mut out: BTreeMap<String, Vec<(u64, f64)>> = BTreeMap::new();
    let text = fs::read_to_string(path).unwrap_or_default();
    let mut lines = text.lines();
    match format {
        MetricsFormat::Csv => {
            let Some(header) = lines.next() else {
                return out;
            };
            let names: Vec<&str> = header.split(',').collect();
            for line in lines {
                let cells: Vec<&str> = line.split(',').collect();
                let Some(step) = cells.first().and_then(|s| s.parse().ok()) else {
                    continue;
                };
                for (name, cell) in names.iter().zip(&cells) {
                    let series = match *name {
                        "loss" => "total",
                        n => match n.strip_prefix("loss.") {
                            Some(h) => h,
                            None => continue,
                        },
                    };
                    if let Ok(v) = cell.parse::<f64>() {
                        out.entry(series.to_string()).or_default().push((step, v));
                    }
                }
            }
        }
        MetricsFormat::Jsonl => {
            for line in lines {
                let Ok(v) = serde_json::from_str::<serde_json::Value>(line) else {
                    continue;
                };
                let Some(step) = v.get("step").and_then(|s| s.as_u64()) else {
                    continue;
                };
                if let Some(l) = v.get("loss").and_then(|l| l.as_f64()) {
                    out.entry("total".into()).or_default().push((step, l));
                }
                if let Some(heads) = v.get("heads").and_then(|h| h.as_object()) {
                    for (h, l) in heads {
                        if let Some(l) = l.as_f64() {
                            out.entry(h.clone()).or_default().push((step, l));
                        }
                    }
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::gaps;

    #[test]
    fn gaps_are_the_missing_runs() {
        let seen = [4, 5, 6, 8, 11].into_iter().collect();
        assert_eq!(gaps(&seen, 12), ["1-3", "7", "9-10", "12"]);
        assert!(gaps(&(1..=5).collect(), 5).is_empty());
        assert_eq!(gaps(&Default::default(), 2), ["1-2"]);
    }
}
