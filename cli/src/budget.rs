//! Memory guards: before `run`, `train`, `sample` and `compare` allocate anything, the
//! compiler's estimate of what the runtime will hold (`archc::analyze::runtime_footprint`)
//! is held against the memory the system has available now, or `--max-memory`. A job that
//! does not fit is refused with exit 2, saying what it needs, what there is, and which flag
//! shrinks it; it never aborts half way with "memory allocation failed".

use crate::summary::bytes;
use archc::analyze::{runtime_footprint, Footprint, Job, Shape};
use archc::graph::ArchGraph;

#[derive(clap::Args, Clone, Debug, Default)]
pub struct MemoryArgs {
    /// The memory this command may use, e.g. `8GiB`, `512M` or bytes (default: what the
    /// system has available when it starts: MemAvailable, or the cgroup's limit if lower).
    #[arg(long, value_name = "SIZE", value_parser = parse_size)]
    pub max_memory: Option<u128>,
}

/// `8GiB`, `8G`, `1.5 GB`, `512m`, `1e9` or plain bytes. Units are binary (k, M, G and T
/// with or without `iB`/`B`), as for `free -h`.
pub fn parse_size(s: &str) -> Result<u128, String> {
    let t = s.trim();
    let split = t
        .find(|c: char| c.is_ascii_alphabetic() && c != 'e' && c != 'E')
        .unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let unit = unit.trim().to_ascii_lowercase();
    let scale: u128 = match unit.trim_end_matches("ib").trim_end_matches('b') {
        "" => 1,
        "k" => 1 << 10,
        "m" => 1 << 20,
        "g" => 1 << 30,
        "t" => 1 << 40,
        _ => {
            return Err(format!(
                "`{s}` is not a size: use bytes or a unit k, M, G or T (e.g. 8GiB)"
            ))
        }
    };
    let v: f64 = num.trim().parse().map_err(|_| {
        format!("`{s}` is not a size: use bytes or a unit k, M, G or T (e.g. 8GiB)")
    })?;
    if !(v.is_finite() && v > 0.0) {
        return Err(format!("`{s}` is not a size: it must be above 0"));
    }
    Ok((v * scale as f64) as u128)
}

/// The memory available now and where the figure comes from; None where neither
/// /proc/meminfo nor a cgroup limit can be read (then only --max-memory guards).
pub fn available() -> Option<(u128, &'static str)> {
    let meminfo = std::fs::read_to_string("/proc/meminfo").ok().and_then(|m| {
        m.lines()
            .find_map(|l| l.strip_prefix("MemAvailable:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u128>().ok())
            .map(|kb| (kb * 1024, "MemAvailable in /proc/meminfo"))
    });
    let read = |p: &str| {
        std::fs::read_to_string(p)
            .ok()
            .and_then(|v| v.trim().parse::<u128>().ok())
    };
    let cgroup = read("/sys/fs/cgroup/memory.max").map(|max| {
        let used = read("/sys/fs/cgroup/memory.current").unwrap_or(0);
        (max.saturating_sub(used), "the cgroup's memory.max")
    });
    match (meminfo, cgroup) {
        (Some(a), Some(b)) => Some(if b.0 < a.0 { b } else { a }),
        (a, b) => a.or(b),
    }
}

/// The peak resident memory of this process so far (VmHWM), where the system says.
pub fn peak() -> Option<u128> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let kb = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))?
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse::<u128>()
        .ok()?;
    Some(kb * 1024)
}

/// The runtime itself before any model (the binary, burn, the allocator's arenas): the
/// peak of `archc run` on a one-token model is about 11 MiB.
const RUNTIME: u128 = 16 << 20;

/// What shrinks each part, per command.
pub struct Shrink {
    /// For activations and inputs: e.g. "--batch or --seq".
    pub batch: &'static str,
    /// For the KV cache.
    pub cache: &'static str,
}

/// Refuses `job` on `shape` when its estimate exceeds the limit (`--max-memory`, else the
/// memory available); returns the estimate otherwise.
pub fn guard(
    g: &ArchGraph,
    job: Job,
    shape: Shape,
    args: &MemoryArgs,
    shrink: &Shrink,
) -> Result<Footprint, String> {
    let mut need = runtime_footprint(g, job, shape);
    need.inputs += RUNTIME;
    let (limit, source) = match args.max_memory {
        Some(m) => (m, "--max-memory"),
        None => match available() {
            Some((a, source)) => (a, source),
            None => return Ok(need),
        },
    };
    if need.total() <= limit {
        return Ok(need);
    }
    let mut parts = vec![
        (
            "parameters",
            need.parameters,
            "use --smoke, another --scale or a smaller --set",
        ),
        ("activations", need.activations, shrink.batch),
        ("inputs", need.inputs, shrink.batch),
        ("the KV cache", need.kv_cache, shrink.cache),
        (
            "the graph",
            need.graph,
            "a file with fewer layers, aliases or stems",
        ),
    ];
    parts.retain(|p| p.1 > 0);
    parts.sort_by_key(|p| std::cmp::Reverse(p.1));
    let listed: Vec<String> = parts
        .iter()
        .map(|(what, n, _)| format!("{what} {}", bytes(*n)))
        .collect();
    // What to shrink: each part too large on its own, else the largest.
    let mut hints: Vec<&str> = parts.iter().filter(|p| p.1 > limit).map(|p| p.2).collect();
    if hints.is_empty() {
        hints.extend(parts.first().map(|p| p.2));
    }
    hints.dedup();
    let hint = hints.join("; ");
    let anyway = match args.max_memory {
        Some(_) => "or raise --max-memory to try anyway",
        None => "or pass --max-memory SIZE to try anyway",
    };
    let what = match job {
        Job::Forward => "a forward pass of",
        Job::Backward => "a forward and backward pass of",
        Job::Train => "training",
        Job::Sample => "sampling from",
    };
    let there = match args.max_memory {
        Some(_) => "--max-memory allows".to_string(),
        None => format!("the system has available ({source})"),
    };
    Err(format!(
        "{what} `{}` at batch {} x {} rows needs about {} of memory ({}), more than the {} {there}: {hint}, {anyway}",
        g.name,
        shape.batch,
        shape.rows,
        bytes(need.total()),
        listed.join(", "),
        bytes(limit),
    ))
}

/// Above either, a command says what one step costs before it starts: 10^11 FLOPs is
/// seconds per step on a CPU, and 1 GiB is more than any of the smoke scales needs.
const LARGE_FLOPS: u128 = 100_000_000_000;
const LARGE_BYTES: u128 = 1 << 30;

/// What one step of `job` costs (FLOPs, and the memory estimate), when it is large enough
/// to be worth saying before the run starts; `rows` per stem, `steps` for training.
pub fn step_cost(
    g: &ArchGraph,
    job: Job,
    rows: &[(&str, u64)],
    batch: u64,
    need: &archc::analyze::Footprint,
    steps: Option<u64>,
) -> Option<String> {
    let backward = !matches!(job, Job::Forward | Job::Sample);
    let f = archc::analyze::step_flops(g, rows, batch, backward);
    if f < LARGE_FLOPS && need.total() < LARGE_BYTES {
        return None;
    }
    let total: u64 = rows.iter().map(|r| r.1).fold(0, u64::saturating_add);
    let pass = if backward {
        "forward and backward"
    } else {
        "forward"
    };
    let mut line = format!(
        "one step of `{}` (batch {batch} x {total} rows, {pass}) costs about {} and {} of memory",
        g.name,
        crate::summary::flops(f),
        bytes(need.total())
    );
    if let Some(n) = steps {
        line.push_str(&format!(
            "; {n} step{}: {}",
            if n == 1 { "" } else { "s" },
            crate::summary::flops(f.saturating_mul(n as u128))
        ));
    }
    Some(line)
}

#[cfg(test)]
mod tests {
    use super::{parse_size, step_cost};
    use archc::analyze::{runtime_footprint, Job, Shape};

    fn graph(file: &str) -> archc::graph::ArchGraph {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../models")
            .join(file);
        let src = std::fs::read_to_string(path).expect("the model file");
        archc::check_source(&src, &archc::CheckOptions::default())
            .graph
            .expect("it checks")
    }

    /// GPT-2 small (L = 12, d = 768, vocab 50,257, tied head) at batch 4 x 256: forward
    /// FLOPs per token 2 x (12 L d^2 + vocab d) + 4 T d L (Kaplan et al. 2020, Table 1,
    /// plus the attention term over the whole context; docs/costs.md), times 1,024 tokens.
    #[test]
    fn a_large_step_says_its_cost_and_a_small_one_says_nothing() {
        let g = graph("gpt2-small.arch");
        let (l, d, v, t) = (12u128, 768u128, 50_257u128, 256u128);
        let per_token = 2 * (12 * l * d * d + v * d) + 4 * t * d * l;
        assert_eq!(per_token * 4 * t, 262_657_277_952);
        assert_eq!(
            archc::analyze::step_flops(&g, &[("text", 256)], 4, false),
            per_token * 4 * t
        );
        assert_eq!(
            archc::analyze::step_flops(&g, &[("text", 256)], 4, true),
            3 * per_token * 4 * t
        );
        let shape = Shape {
            batch: 4,
            rows: 256,
            inputs: 256,
        };
        let need = runtime_footprint(&g, Job::Forward, shape);
        let line = step_cost(&g, Job::Forward, &[("text", 256)], 4, &need, None).expect("a note");
        assert!(
            line.contains("262.66 GFLOP") && line.contains("batch 4 x 256 rows, forward)"),
            "{line}"
        );
        let need = runtime_footprint(&g, Job::Train, shape);
        let line =
            step_cost(&g, Job::Train, &[("text", 256)], 4, &need, Some(1000)).expect("a note");
        assert!(
            line.contains("787.97 GFLOP") && line.contains("1000 steps: 787.97 TFLOP"),
            "{line}"
        );

        let tiny = graph("gpt2-tiny.arch");
        let shape = Shape {
            batch: 8,
            rows: 64,
            inputs: 64,
        };
        let need = runtime_footprint(&tiny, Job::Train, shape);
        assert_eq!(
            step_cost(&tiny, Job::Train, &[("text", 64)], 8, &need, Some(1000)),
            None
        );
    }

    #[test]
    fn sizes_parse_with_binary_units() {
        assert_eq!(parse_size("123"), Ok(123));
        assert_eq!(parse_size("8GiB"), Ok(8 << 30));
        assert_eq!(parse_size("8G"), Ok(8 << 30));
        assert_eq!(parse_size("1.5 gb"), Ok(3 << 29));
        assert_eq!(parse_size("512m"), Ok(512 << 20));
        assert_eq!(parse_size("1e9"), Ok(1_000_000_000));
        for bad in ["", "0", "-1G", "8X", "G", "nan"] {
            assert!(parse_size(bad).is_err(), "{bad}");
        }
    }
}
