//! A run's optimisation settings: given by flags, or by their defaults, once, when the
//! run starts; stored in every checkpoint (`state.json`'s `settings`, the generated
//! crate's keys and spelling); and taken from the checkpoint when the run resumes. A flag
//! given again on resume must say what the run already uses; one left out keeps it. So
//! `--resume --steps 400` continues a run, and a refusal names only a flag the user gave.

use crate::checkpoint::Loaded;
use crate::optim::AdamWConfig;
use crate::train::TrainConfig;
use std::collections::BTreeMap;

/// The flags as given (`None`: not on the command line).
#[derive(Clone, Debug, Default)]
pub struct Given {
    pub batch: Option<usize>,
    pub seq: Option<usize>,
    pub accum: Option<usize>,
    pub lr: Option<f64>,
    pub min_lr: Option<f64>,
    pub warmup: Option<u64>,
    pub horizon: Option<u64>,
    pub clip: Option<f64>,
    pub weight_decay: Option<f64>,
    pub beta1: Option<f64>,
    pub beta2: Option<f64>,
    pub eps: Option<f64>,
}

impl Given {
    /// Refuses a value no run can take: naming each flag as the command line spells it.
    pub fn check(&self, steps: u64) -> Result<(), String> {
        let zero = |v: Option<usize>| v == Some(0);
        if steps == 0
            || zero(self.batch)
            || zero(self.accum)
            || zero(self.seq)
            || self.horizon == Some(0)
        {
            return Err("--steps, --batch, --accum, --seq and --horizon must be at least 1".into());
        }
        for (name, v) in [("--lr", self.lr), ("--eps", self.eps)] {
            if let Some(v) = v.filter(|v| !(v.is_finite() && *v > 0.0)) {
                return Err(format!("{name} must be a positive number, not {v}"));
            }
        }
        for (name, v) in [
            ("--clip", self.clip),
            ("--weight-decay", self.weight_decay),
            ("--min-lr", self.min_lr),
        ] {
            if let Some(v) = v.filter(|v| !(v.is_finite() && *v >= 0.0)) {
                return Err(format!("{name} must be a number >= 0, not {v}"));
            }
        }
        for (name, v) in [("--beta1", self.beta1), ("--beta2", self.beta2)] {
            if let Some(v) = v.filter(|v| !(0.0..1.0).contains(v)) {
                return Err(format!("{name} must be in [0, 1), not {v}"));
            }
        }
        Ok(())
    }
}

/// Resolved settings.
#[derive(Clone, Debug, PartialEq)]
pub struct Settings {
    pub batch: usize,
    pub seq: Option<usize>,
    pub accum: usize,
    pub lr: f64,
    pub min_lr: f64,
    pub warmup: u64,
    /// The schedule's length: warmup, cosine to `min_lr` at this step, `min_lr` after.
    pub horizon: u64,
    pub clip: f64,
    pub weight_decay: f64,
    pub beta1: f64,
    pub beta2: f64,
    pub eps: f64,
}

impl Settings {
    /// A new run's settings: each flag, or its default (`horizon`: the run's `steps`;
    /// `warmup`: a tenth of the horizon, at most 100; `min_lr`: a tenth of `lr`).
    pub fn new(g: &Given, steps: u64) -> Settings {
        let lr = g.lr.unwrap_or(1e-3);
        let horizon = g.horizon.unwrap_or(steps);
        Settings {
            batch: g.batch.unwrap_or(8),
            seq: g.seq,
            accum: g.accum.unwrap_or(1),
            lr,
            min_lr: g.min_lr.unwrap_or(lr / 10.0),
            warmup: g.warmup.unwrap_or((horizon / 10).min(100)),
            horizon,
            clip: g.clip.unwrap_or(1.0),
            weight_decay: g.weight_decay.unwrap_or(1e-2),
            beta1: g.beta1.unwrap_or(0.9),
            beta2: g.beta2.unwrap_or(0.999),
            eps: g.eps.unwrap_or(1e-8),
        }
    }

    /// The settings as a checkpoint stores them.
    pub fn to_map(&self) -> BTreeMap<String, String> {
        BTreeMap::from([
            ("batch".into(), self.batch.to_string()),
            ("seq".into(), format!("{:?}", self.seq)),
            ("accum".into(), self.accum.to_string()),
            ("lr".into(), self.lr.to_string()),
            ("min_lr".into(), self.min_lr.to_string()),
            ("warmup".into(), self.warmup.to_string()),
            ("horizon".into(), self.horizon.to_string()),
            ("clip".into(), self.clip.to_string()),
            ("weight_decay".into(), self.weight_decay.to_string()),
            ("betas".into(), format!("{} {}", self.beta1, self.beta2)),
            ("eps".into(), self.eps.to_string()),
        ])
    }

    /// The settings a checkpoint stores. A checkpoint written before the horizon was
    /// stored ran its schedule over the `--steps` it was started with, which it does not
    /// record: `horizon` is then None.
    pub fn from_map(m: &BTreeMap<String, String>) -> Result<(Settings, bool), String> {
        fn get<T: std::str::FromStr>(m: &BTreeMap<String, String>, k: &str) -> Result<T, String> {
            let v = m
                .get(k)
                .ok_or_else(|| format!("its settings have no `{k}`"))?;
            v.parse()
                .map_err(|_| format!("its setting `{k}` is `{v}`, which this build cannot read"))
        }
        let seq = match m.get("seq").map(String::as_str) {
            None | Some("None") => None,
            Some(s) => Some(
                s.strip_prefix("Some(")
                    .and_then(|s| s.strip_suffix(')'))
                    .and_then(|s| s.parse().ok())
                    .ok_or_else(|| {
                        format!("its setting `seq` is `{s}`, which this build cannot read")
                    })?,
            ),
        };
        let betas: String = get(m, "betas")?;
        let (b1, b2) = betas
            .split_once(' ')
            .and_then(|(a, b)| Some((a.parse().ok()?, b.parse().ok()?)))
            .ok_or_else(|| {
                format!("its setting `betas` is `{betas}`, which this build cannot read")
            })?;
        let horizon = m.get("horizon").and_then(|h| h.parse().ok());
        Ok((
            Settings {
                batch: get(m, "batch")?,
                seq,
                accum: get(m, "accum")?,
                lr: get(m, "lr")?,
                min_lr: get(m, "min_lr")?,
                warmup: get(m, "warmup")?,
                horizon: horizon.unwrap_or(0),
                clip: get(m, "clip")?,
                weight_decay: get(m, "weight_decay")?,
                beta1: b1,
                beta2: b2,
                eps: get(m, "eps")?,
            },
            horizon.is_some(),
        ))
    }

    /// A resumed run's settings: the checkpoint's, each flag given checked against them.
    /// `steps` is the run's new end. Err names every given flag that differs.
    pub fn resumed(
        g: &Given,
        stored: &BTreeMap<String, String>,
        steps: u64,
    ) -> Result<Settings, String> {
        let (mut s, has_horizon) = Settings::from_map(stored)?;
        if !has_horizon {
            // Written before the horizon was stored: its schedule ran to the `--steps` it
            // was started with, unknown here; the new end (or --horizon) stands in for it.
            s.horizon = g.horizon.unwrap_or(steps);
        }
        let mut differ = Vec::new();
        let mut check = |flag: &str, given: Option<String>, ours: String| {
            if let Some(v) = given.filter(|v| *v != ours) {
                differ.push(format!("{flag} {v} (the run's is {ours})"));
            }
        };
        check(
            "--batch",
            g.batch.map(|v| v.to_string()),
            s.batch.to_string(),
        );
        check(
            "--seq",
            g.seq.map(|v| v.to_string()),
            s.seq
                .map_or("none (the stem's max_len)".into(), |v| v.to_string()),
        );
        check(
            "--accum",
            g.accum.map(|v| v.to_string()),
            s.accum.to_string(),
        );
        check("--lr", g.lr.map(|v| v.to_string()), s.lr.to_string());
        check(
            "--min-lr",
            g.min_lr.map(|v| v.to_string()),
            s.min_lr.to_string(),
        );
        check(
            "--warmup",
            g.warmup.map(|v| v.to_string()),
            s.warmup.to_string(),
        );
        if has_horizon {
            check(
                "--horizon",
                g.horizon.map(|v| v.to_string()),
                s.horizon.to_string(),
            );
        }
        check("--clip", g.clip.map(|v| v.to_string()), s.clip.to_string());
        check(
            "--weight-decay",
            g.weight_decay.map(|v| v.to_string()),
            s.weight_decay.to_string(),
        );
        check(
            "--beta1",
            g.beta1.map(|v| v.to_string()),
            s.beta1.to_string(),
        );
        check(
            "--beta2",
            g.beta2.map(|v| v.to_string()),
            s.beta2.to_string(),
        );
        check("--eps", g.eps.map(|v| v.to_string()), s.eps.to_string());
        if differ.is_empty() {
            Ok(s)
        } else {
            Err(differ.join(", "))
        }
    }
}

impl Settings {
    /// The run's plan for the log: "steps 1 to 200, batch 8 x 1 micro-batch(es), ...",
    /// from step `at` (taken) to `steps`, in `dir`.
    pub fn describe(&self, at: u64, steps: u64, dir: &std::path::Path) -> String {
        format!(
            "steps {} to {steps}, batch {} x {} micro-batch(es), lr {} (warmup {}, cosine to {} at step {}); run directory {}",
            at + 1,
            self.batch,
            self.accum,
            self.lr,
            self.warmup,
            self.min_lr,
            self.horizon,
            dir.display()
        )
    }

    /// A note when the run (from step `at` to `steps`) goes past the schedule's horizon.
    pub fn past_horizon(&self, at: u64, steps: u64) -> Option<String> {
        (steps > self.horizon).then(|| {
            format!(
                "steps {} to {steps} lie past the schedule's horizon (step {}): they train at its final learning rate {} (start a run with --horizon {steps} to plan a schedule that long)",
                (self.horizon + 1).max(at + 1),
                self.horizon,
                self.min_lr,
            )
        })
    }

    /// The trainer's configuration.
    pub fn config(&self) -> TrainConfig {
        TrainConfig {
            horizon: self.horizon,
            accum: self.accum,
            adamw: AdamWConfig {
                lr: self.lr,
                beta1: self.beta1,
                beta2: self.beta2,
                eps: self.eps,
                weight_decay: self.weight_decay,
            },
            min_lr: self.min_lr,
            warmup: self.warmup,
            clip: self.clip,
        }
    }
}

/// What a resumed run continues with: the checkpoint's settings, data and seed. A flag
/// given again (`data`, `seed`, `given`) must agree with them (the refusal names it), and
/// `steps`, the run's new end, must go further than the checkpoint.
pub fn resumable(
    given: &Given,
    data: Option<&str>,
    seed: Option<u64>,
    steps: u64,
    c: &Loaded,
) -> Result<(Settings, String, u64), String> {
    let at = c.path.display();
    let mut differ = Vec::new();
    if let Some(d) = data.filter(|d| *d != c.state.data) {
        differ.push(format!("--data {d} (the run's is {})", c.state.data));
    }
    if let Some(s) = seed.filter(|s| *s != c.state.seed) {
        differ.push(format!("--seed {s} (the run's is {})", c.state.seed));
    }
    let settings = match Settings::resumed(given, &c.state.settings, steps) {
        Ok(s) => Some(s),
        Err(e) if e.starts_with("--") => {
            differ.push(e);
            None
        }
        Err(e) => return Err(format!("checkpoint `{at}`: {e}")),
    };
    let settings = match settings {
        Some(s) if differ.is_empty() => s,
        _ => {
            return Err(format!(
                "checkpoint `{at}` continues a run with other settings than the flags given: {}; leave those flags out to keep the run's",
                differ.join(", ")
            ))
        }
    };
    if c.state.step >= steps {
        return Err(format!(
            "checkpoint `{at}` is already at step {} of --steps {steps}; raise --steps to train further",
            c.state.step
        ));
    }
    Ok((settings, c.state.data.clone(), c.state.seed))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn derived_defaults_follow_the_horizon_and_come_back_from_a_checkpoint() {
        let s = Settings::new(&Given::default(), 200);
        assert_eq!((s.horizon, s.warmup, s.min_lr), (200, 20, 1e-4));
        let m = s.to_map();
        // Resuming with a longer run changes nothing already decided.
        let r = Settings::resumed(&Given::default(), &m, 400).unwrap();
        assert_eq!(r, s);
        // Flags given again with the run's values are fine; other values are named.
        let same = Given {
            warmup: Some(20),
            lr: Some(1e-3),
            ..Given::default()
        };
        assert_eq!(Settings::resumed(&same, &m, 400).unwrap(), s);
        let other = Given {
            warmup: Some(40),
            batch: Some(16),
            ..Given::default()
        };
        let e = Settings::resumed(&other, &m, 400).unwrap_err();
        assert_eq!(
            e,
            "--batch 16 (the run's is 8), --warmup 40 (the run's is 20)"
        );
    }

    #[test]
    fn a_checkpoint_without_a_horizon_takes_the_new_end() {
        let mut m = Settings::new(&Given::default(), 200).to_map();
        m.remove("horizon");
        let r = Settings::resumed(&Given::default(), &m, 400).unwrap();
        assert_eq!((r.horizon, r.warmup), (400, 20));
        m.insert("seq".into(), "Some(64)".into());
        assert_eq!(Settings::from_map(&m).unwrap().0.seq, Some(64));
    }
}
