//! archc's own seeded generator: parameter initialisation and every draw a training
//! step makes (data, mask rates, masked rows, recurrence steps). The same seed gives the
//! same numbers on any backend and whatever else runs in the process (burn's NdArray RNG
//! is one global shared by every thread), and its whole state is one `u64`, which a
//! checkpoint stores so that a resumed run draws exactly what the uninterrupted one would.
//! It depends on nothing (the fuzzers compile it alone); drawing parameters is `init.rs`.

/// SplitMix64, with Box-Muller for normals.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rng {
    state: u64,
}

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng {
            state: seed ^ 0x9E37_79B9_7F4A_7C15,
        }
    }

    /// The whole state, for a checkpoint.
    pub fn state(&self) -> u64 {
        self.state
    }

    /// A generator continuing from a [`Rng::state`].
    pub fn from_state(state: u64) -> Self {
        Rng { state }
    }

    pub fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1).
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Uniform in `0..n` (n > 0; the modulo bias is below 2^-40 for the sizes used here).
    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n.max(1) as u64) as usize
    }

    /// A Poisson(lambda) count: Knuth's product method on pieces of lambda <= 16, whose
    /// sum is Poisson(lambda) exactly (and e^-16 stays far from underflow).
    pub fn poisson(&mut self, lambda: f64) -> u64 {
        let mut left = lambda.max(0.0);
        let mut count = 0;
        while left > 0.0 {
            let piece = left.min(16.0);
            left -= piece;
            let limit = (-piece).exp();
            let mut p = self.unit();
            while p > limit {
                count += 1;
                p *= self.unit();
            }
        }
        count
    }

    pub fn normal(&mut self) -> f64 {
        let (u, v) = (self.unit().max(1e-300), self.unit());
        (-2.0 * u.ln()).sqrt() * (2.0 * std::f64::consts::PI * v).cos()
    }
}
