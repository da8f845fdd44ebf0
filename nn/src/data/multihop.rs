//! One sequence of the synthetic multi-hop task (docs/data.md): a random function `f`
//! over N entities, a query `(x, k)` and its answer `f^k(x)`, spelled as text, as image
//! codes and as image feature rows. synthetic.rs lays the pieces out into batches.

use crate::rng::Rng;

// Id 0 is reserved for padding; the task's text is exactly as long as it needs, so it
// never appears.
/// `→` between an entity and its image under `f`.
pub(super) const ARROW: i64 = 1;
/// `?` opening the query.
pub(super) const QUERY: i64 = 2;
/// `=` before the answer.
pub(super) const ANSWER: i64 = 3;
/// End of the task's text.
pub(super) const END: i64 = 4;
/// Ids below this are the specials above; entities follow, then hop counts.
pub(super) const SPECIALS: u64 = 5;
/// The seed of the fixed `P` vectors (position of an entity's image row).
const P_SEED: u64 = 0xA5C0_0001_0000_0001;
/// The seed of the fixed `Q` vectors (the entity a row maps to).
const Q_SEED: u64 = 0xA5C0_0001_0000_0002;

/// The text's token map for N entities and H hops: specials `0..5`, entity `i` at
/// `5 + i`, hop count `k` (1..=H) at `5 + N + k - 1`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Vocab {
    pub entities: usize,
    pub hops: usize,
}

impl Vocab {
    /// The id of entity `i`.
    pub fn entity(self, i: usize) -> i64 {
        (SPECIALS as usize + i) as i64
    }

    /// The id of hop count `k` (1..=H).
    pub fn hop(self, k: usize) -> i64 {
        (SPECIALS as usize + self.entities + k - 1) as i64
    }

    /// Ids the task uses: the smallest vocab that holds them.
    pub fn size(self) -> u64 {
        SPECIALS + self.entities as u64 + self.hops as u64
    }
}

/// The code of image row `i` whose entity maps to `j = f(i)`: `i * N + j` when the
/// codebook holds N^2 codes (the code tells both), else `j mod codebook`.
pub(super) fn code(i: usize, j: usize, n: usize, codebook: u64) -> i64 {
    let both = (n as u64).checked_mul(n as u64);
    if both.is_some_and(|b| b <= codebook) {
        (i * n + j) as i64
    } else {
        (j as u64 % codebook.max(1)) as i64
    }
}

/// The fixed vectors of a features stem `dim` wide: `P[i]` marks row i, `Q[j]` the
/// entity j it maps to. Random directions of length sqrt(dim / 2) drawn from fixed seeds
/// (the same in every batch and run), so `P[i] + Q[j]` has components of variance ~1.
#[derive(Clone, Debug, PartialEq)]
pub(super) struct Table {
    pub dim: usize,
    /// `[n, dim]`
    pub p: Vec<f32>,
    /// `[n, dim]`
    pub q: Vec<f32>,
}

impl Table {
    /// The first `n` vectors of each kind (vector i never depends on `n`).
    pub fn new(n: usize, dim: usize) -> Table {
        Table {
            dim,
            p: directions(P_SEED, n, dim),
            q: directions(Q_SEED, n, dim),
        }
    }
}

/// `n` random directions `dim` wide, each of length sqrt(dim / 2): `[n, dim]`.
fn directions(seed: u64, n: usize, dim: usize) -> Vec<f32> {
    let mut rng = Rng::new(seed);
    let mut out = Vec::with_capacity(n * dim);
    for _ in 0..n {
        let v: Vec<f64> = (0..dim).map(|_| rng.normal()).collect();
        let norm = v.iter().map(|x| x * x).sum::<f64>().sqrt();
        let scale = if norm > 0.0 {
            (dim as f64 / 2.0).sqrt() / norm
        } else {
            0.0
        };
        out.extend(v.iter().map(|x| (x * scale) as f32));
    }
    out
}

/// How a query is spelled: `? k x y` (the answer right after the entity asked about, the
/// default) or `? x k = y` (the first form of the task).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Form {
    Direct,
    Equals,
}

impl Form {
    /// Ids per query, its answer included.
    pub fn len(self) -> usize {
        match self {
            Form::Direct => 4,
            Form::Equals => 5,
        }
    }
}

/// One sequence's draw.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct Task {
    /// `f[i]`: the entity i maps to.
    pub f: Vec<usize>,
    /// The order the text lists the facts in (a permutation of the entities).
    pub order: Vec<usize>,
    /// The queries `(x, k)`: an entity and a hop count, 1..=H.
    pub queries: Vec<(usize, usize)>,
}

impl Task {
    /// Draws f (N uniform entities), the facts' order (Fisher-Yates, when `shuffled`; in
    /// entity order otherwise, drawing nothing), then each query's x and k, in that order
    /// from `rng`.
    pub fn draw(rng: &mut Rng, n: usize, hops: usize, queries: usize, shuffled: bool) -> Task {
        let f = (0..n).map(|_| rng.below(n)).collect();
        let mut order: Vec<usize> = (0..n).collect();
        if shuffled {
            for i in (1..n).rev() {
                order.swap(i, rng.below(i + 1));
            }
        }
        let queries = (0..queries)
            .map(|_| {
                let x = rng.below(n);
                (x, 1 + rng.below(hops))
            })
            .collect();
        Task { f, order, queries }
    }

    /// `f^k(x)`.
    pub fn answer(&self, (x, k): (usize, usize)) -> usize {
        (0..k).fold(x, |e, _| self.f[e])
    }

    /// Each query without its answer (`? k x` or `? x k`): 3 ids each.
    pub fn query(&self, v: Vocab, form: Form, out: &mut Vec<i64>) {
        for &(x, k) in &self.queries {
            match form {
                Form::Direct => out.extend([QUERY, v.hop(k), v.entity(x)]),
                Form::Equals => out.extend([QUERY, v.entity(x), v.hop(k)]),
            }
        }
    }

    /// The facts `a → f(a)` in `order`, each query with its answer (`? k x y`, or
    /// `? x k = y`), end: 3N + Q·len + 1 ids.
    pub fn text(&self, v: Vocab, form: Form, out: &mut Vec<i64>) {
        for &a in &self.order {
            out.extend([v.entity(a), ARROW, v.entity(self.f[a])]);
        }
        for &(x, k) in &self.queries {
            let y = v.entity(self.answer((x, k)));
            match form {
                Form::Direct => out.extend([QUERY, v.hop(k), v.entity(x), y]),
                Form::Equals => out.extend([QUERY, v.entity(x), v.hop(k), ANSWER, y]),
            }
        }
        out.push(END);
    }

    /// Positions of `text` (as [`Task::text`] spells it, either form) whose next id is a
    /// query's answer: the entity asked about (`? k x`), or the `=` (`? x k =`).
    pub fn answer_positions(text: &[i64]) -> Vec<usize> {
        (0..text.len())
            .filter(|&q| text[q] == QUERY)
            .filter_map(|q| {
                let p = if text.get(q + 3) == Some(&ANSWER) {
                    q + 3
                } else {
                    q + 2
                };
                (p + 1 < text.len()).then_some(p)
            })
            .collect()
    }

    /// `rows` codes: row r shows entity `i = r mod N` as `code(i, f(i))`.
    pub fn codes(&self, rows: usize, codebook: u64, out: &mut Vec<i64>) {
        let n = self.f.len();
        out.extend((0..rows).map(|r| code(r % n, self.f[r % n], n, codebook)));
    }

    /// `rows` feature rows `[rows, dim]`: row r shows entity `i = r mod N` as
    /// `P[i] + Q[f(i)]`, plus noise of standard deviation `noise` drawn from `rng`.
    pub fn features(&self, rows: usize, t: &Table, noise: f32, rng: &mut Rng, out: &mut Vec<f32>) {
        let n = self.f.len();
        let start = out.len();
        for r in 0..rows {
            let (i, j) = (r % n, self.f[r % n]);
            let p = &t.p[i * t.dim..(i + 1) * t.dim];
            let q = &t.q[j * t.dim..(j + 1) * t.dim];
            out.extend(p.iter().zip(q).map(|(a, b)| a + b));
        }
        if noise > 0.0 {
            add_noise(&mut out[start..], noise, rng);
        }
    }
}

/// Adds uniform noise of standard deviation `sd` to every value, two values per draw of
/// `rng` (24 bits from each half of it): cheap enough for thousands of rows a batch.
fn add_noise(values: &mut [f32], sd: f32, rng: &mut Rng) {
    // Uniform on [-half, half] has standard deviation half / sqrt(3).
    let half = sd * 3f32.sqrt();
    for pair in values.chunks_mut(2) {
        let u = rng.next_u64();
        for (v, bits) in pair.iter_mut().zip([u >> 40, (u >> 8) & 0xFF_FFFF]) {
            let unit = bits as f32 / (1u32 << 24) as f32; // [0, 1)
            *v += half * (2.0 * unit - 1.0);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_token_map_is_dense_and_disjoint() {
        let v = Vocab {
            entities: 4,
            hops: 3,
        };
        assert_eq!(v.entity(0), 5);
        assert_eq!(v.entity(3), 8);
        assert_eq!((v.hop(1), v.hop(3)), (9, 11));
        assert_eq!(v.size(), 12);
        assert!([ARROW, QUERY, ANSWER, END]
            .iter()
            .all(|&s| 0 < s && s < v.entity(0)));
    }

    #[test]
    fn codes_tell_both_entities_when_the_codebook_allows() {
        assert_eq!(code(2, 3, 4, 16), 11);
        assert_eq!(code(2, 3, 4, 15), 3);
        assert_eq!(code(2, 3, 4, 2), 1);
    }

    #[test]
    fn tables_are_fixed_and_scaled() {
        let (a, b) = (Table::new(3, 8), Table::new(5, 8));
        assert_eq!(a.p[..], b.p[..24]);
        assert_eq!(a.q[..], b.q[..24]);
        assert_ne!(a.p, a.q[..]);
        let norm: f32 = a.p[..8].iter().map(|x| x * x).sum::<f32>().sqrt();
        assert!((norm - 2.0).abs() < 1e-4, "{norm}");
    }

    #[test]
    fn the_text_spells_the_task() {
        let t = Task {
            f: vec![1, 2, 0],
            order: vec![2, 0, 1],
            queries: vec![(0, 2)],
        };
        let v = Vocab {
            entities: 3,
            hops: 2,
        };
        let mut out = Vec::new();
        t.text(v, Form::Equals, &mut out);
        // 2→0, 0→1, 1→2, ? 0 2, = f(f(0)) = 2, end
        let want = [7, 1, 5, 5, 1, 6, 6, 1, 7, 2, 5, 9, 3, 7, 4];
        assert_eq!(out, want);
        assert_eq!(Task::answer_positions(&out), [12]);
        // Two queries: each `? x k = y`, then one end.
        let t = Task {
            queries: vec![(0, 2), (2, 1)],
            ..t
        };
        let mut out = Vec::new();
        t.text(v, Form::Equals, &mut out);
        let want = [7, 1, 5, 5, 1, 6, 6, 1, 7, 2, 5, 9, 3, 7, 2, 7, 8, 3, 5, 4];
        assert_eq!(out, want);
        assert_eq!(Task::answer_positions(&out), [12, 17]);
        let mut echo = Vec::new();
        t.query(v, Form::Equals, &mut echo);
        assert_eq!(echo, [2, 5, 9, 2, 7, 8]);
        // The direct form: `? k x y`, the answer after the entity asked about.
        let mut out = Vec::new();
        t.text(v, Form::Direct, &mut out);
        let want = [7, 1, 5, 5, 1, 6, 6, 1, 7, 2, 9, 5, 7, 2, 8, 7, 5, 4];
        assert_eq!(out, want);
        assert_eq!(Task::answer_positions(&out), [11, 15]);
        let mut echo = Vec::new();
        t.query(v, Form::Direct, &mut echo);
        assert_eq!(echo, [2, 9, 5, 2, 8, 7]);
    }

    #[test]
    fn noise_has_the_asked_spread() {
        let mut values = vec![1.0f32; 20_000];
        add_noise(&mut values, 0.1, &mut Rng::new(1));
        let mean = values.iter().sum::<f32>() / 20_000.0;
        let var = values.iter().map(|v| (v - mean).powi(2)).sum::<f32>() / 20_000.0;
        assert!((mean - 1.0).abs() < 0.005, "{mean}");
        assert!((var.sqrt() - 0.1).abs() < 0.005, "{var}");
        assert!(values.iter().all(|v| (v - 1.0).abs() <= 0.1 * 3f32.sqrt()));
    }

    #[test]
    fn repeated_rows_show_the_same_entity() {
        let mut rng = Rng::new(3);
        let t = Task::draw(&mut rng, 4, 3, 1, true);
        let mut codes = Vec::new();
        t.codes(10, 100, &mut codes);
        assert_eq!(codes[..4], codes[4..8]);
        let mut rows = Vec::new();
        t.features(10, &Table::new(4, 6), 0.0, &mut rng, &mut rows);
        assert_eq!(rows.len(), 60);
        assert_eq!(rows[..24], rows[24..48]);
    }
}
