//! `archc-nn`'s manifest and sources, embedded in the compiler so that `archc gen rust`
//! ships the crate inside the project it writes (as `nn/`): the generated crate builds
//! offline, depends on no archc crate, and runs the very layers archc's runtime runs.

macro_rules! vendored {
    ($($path:literal),* $(,)?) => {
        &[$(($path, include_str!(concat!("../../../nn/", $path)))),*]
    };
}

/// (path under `nn/`, text), every file of the crate.
pub const NN: &[(&str, &str)] = vendored![
    "Cargo.toml",
    "src/batch.rs",
    "src/checkpoint.rs",
    "src/data/error.rs",
    "src/data/mod.rs",
    "src/data/multihop.rs",
    "src/data/shard_check.rs",
    "src/data/shards.rs",
    "src/data/shards_tests.rs",
    "src/data/synthetic.rs",
    "src/data/synthetic_tests.rs",
    "src/data/text.rs",
    "src/data/text_tests.rs",
    "src/diffusion.rs",
    "src/draws.rs",
    "src/init.rs",
    "src/layers/attention.rs",
    "src/layers/block.rs",
    "src/layers/mlp.rs",
    "src/layers/mod.rs",
    "src/layers/norm.rs",
    "src/layers/ops.rs",
    "src/lib.rs",
    "src/metrics.rs",
    "src/next_scale.rs",
    "src/objectives.rs",
    "src/optim.rs",
    "src/params.rs",
    "src/rng.rs",
    "src/settings.rs",
    "src/spec.rs",
    "src/train.rs",
    "src/weights.rs",
];

#[cfg(test)]
mod tests {
    /// Every file of nn/ is shipped (a new module left out would not build there).
    #[test]
    fn every_file_of_the_nn_crate_is_vendored() {
        fn walk(dir: &std::path::Path, root: &std::path::Path, out: &mut Vec<String>) {
            for e in std::fs::read_dir(dir).unwrap() {
                let p = e.unwrap().path();
                if p.is_dir() {
                    walk(&p, root, out);
                } else {
                    out.push(
                        p.strip_prefix(root)
                            .unwrap()
                            .to_string_lossy()
                            .replace('\\', "/"),
                    );
                }
            }
        }
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../nn");
        let mut files = Vec::new();
        walk(&root, &root, &mut files);
        files.sort();
        let listed: Vec<String> = super::NN.iter().map(|(p, _)| p.to_string()).collect();
        assert_eq!(files, listed);
    }
}
