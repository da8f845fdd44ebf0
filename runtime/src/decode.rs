//! Incremental decoding with a KV cache (docs/semantics.md, "Decoding"). [`Decoder::extend`]
//! appends positions — a whole prompt, then one token at a time — and computes only them:
//! every block attends over its cached keys and values plus the new ones. Loops re-run
//! their segment on the new positions; a block's cache is kept per loop pass, so pass k
//! of a new token attends to pass k of earlier ones, which makes decoding equal to the full
//! forward for fixed and sampled loops. An entropy-gated loop is gated per call: on the
//! new positions' mean entropy (one token's, when decoding), so each token loops as long
//! as its own prediction is uncertain; an earlier token that stopped sooner is seen at its
//! last pass. Shifted loops (COCONUT) read earlier positions' states and are refused here.

use crate::apply::{apply, source, Pass};
use crate::batch::{index, Batch};
use crate::model::{ArchModel, LoopPlan, Plan, Unsupported};
use archc::graph::{NodeKind, Owner};
use archc::model::{Inject, Steps};
use archc_nn::layers::{entropy, Block};
use burn::tensor::{backend::Backend, Tensor};
use petgraph::stable_graph::NodeIndex;
use std::collections::HashMap;

type Kv<B> = (Tensor<B, 4>, Tensor<B, 4>);

/// What one [`Decoder::extend`] computed.
pub struct Step<B: Backend> {
    /// Each head's output over its new positions, `[b, n_new, out]`.
    pub heads: HashMap<String, Tensor<B, 3>>,
    /// Passes each loop made.
    pub loop_steps: HashMap<String, usize>,
}

pub struct Decoder<'a, B: Backend> {
    model: &'a ArchModel<B>,
    plan: &'a Plan,
    /// Every position so far: (stem, length) segments.
    pub layout: Vec<(String, usize)>,
    batch: usize,
    /// Per block node and loop pass: keys and values of every earlier position.
    cache: HashMap<(NodeIndex, usize), Kv<B>>,
}

impl<'a, B: Backend> Decoder<'a, B> {
    /// A decoder with nothing seen yet. Refuses models with shifted loops.
    pub fn new(model: &'a ArchModel<B>, plan: &'a Plan, batch: usize) -> Result<Self, Unsupported> {
        if let Some(l) = plan.loops.iter().find(|l| l.shift > 0) {
            return Err(Unsupported(format!(
                "loop `{}` is shifted (each position reads the one before it), which the cached decoder does not do",
                plan.graph.graph[l.node].path
            )));
        }
        if let Some(n) =
            plan.graph.graph.node_indices().find(
                |&n| matches!(&plan.graph.graph[n].kind, NodeKind::Embedding(e) if e.next_scale),
            )
        {
            return Err(Unsupported(format!(
                "`{}` is a `next_scale` stem, generated a scale at a time from the scales before; the cached decoder appends one position at a time",
                plan.graph.graph[n].path
            )));
        }
        Ok(Decoder {
            model,
            plan,
            layout: Vec::new(),
            batch,
            cache: HashMap::new(),
        })
    }

    /// Appends `new`'s positions (its layout after the current one; a segment of the same
    /// stem as the last one continues it) and computes them.
    pub fn extend(&mut self, new: &Batch<B>) -> Result<Step<B>, Unsupported> {
        let old_len: usize = self.layout.iter().map(|s| s.1).sum();
        let mut full = self.layout.clone();
        for (stem, n) in &new.layout {
            match full.last_mut() {
                Some((s, len)) if s == stem => *len += n,
                _ => full.push((stem.clone(), *n)),
            }
        }
        let view = Batch::<B>::new(full.clone());
        let mut run = Run {
            model: self.model,
            plan: self.plan,
            new,
            view,
            old_len,
            b: self.batch,
            values: HashMap::new(),
            heads: HashMap::new(),
            cache: &self.cache,
            pending: HashMap::new(),
            pass: 0,
        };
        let mut loop_steps = HashMap::new();
        for &n in &self.plan.order {
            run.node(n)?;
            for l in self.plan.loops.iter().filter(|l| l.source == n) {
                let steps = run.repeat(l)?;
                loop_steps.insert(self.plan.graph.graph[l.node].path.clone(), steps);
            }
        }
        let (heads, pending) = (run.heads, run.pending);
        self.commit(pending);
        self.layout = full;
        Ok(Step { heads, loop_steps })
    }

    /// Appends the new positions' keys and values: pass k gets the new positions' pass
    /// min(k, last) values; a pass seen for the first time starts from the pass before it.
    fn commit(&mut self, pending: HashMap<(NodeIndex, usize), Kv<B>>) {
        let mut last: HashMap<NodeIndex, usize> = HashMap::new();
        for (n, p) in pending.keys() {
            let e = last.entry(*n).or_insert(0);
            *e = (*e).max(*p);
        }
        for (&n, &top) in &last {
            let known = (0..)
                .take_while(|k| self.cache.contains_key(&(n, *k)))
                .count();
            let mut prev: Option<Kv<B>> = None;
            for k in 0..known.max(top + 1) {
                let past = self.cache.remove(&(n, k)).or_else(|| prev.clone());
                let (nk, nv) = pending[&(n, k.min(top))].clone();
                let joined = match past.clone() {
                    Some((pk, pv)) => (Tensor::cat(vec![pk, nk], 2), Tensor::cat(vec![pv, nv], 2)),
                    None => (nk, nv),
                };
                prev = past;
                self.cache.insert((n, k), joined);
            }
        }
    }
}

struct Run<'a, 'c, B: Backend> {
    model: &'a ArchModel<B>,
    plan: &'a Plan,
    new: &'c Batch<B>,
    /// The whole layout (old and new positions), for masks and domains.
    view: Batch<B>,
    old_len: usize,
    b: usize,
    /// Each node's value over the new positions of its domain.
    values: HashMap<NodeIndex, Tensor<B, 3>>,
    heads: HashMap<String, Tensor<B, 3>>,
    cache: &'c HashMap<(NodeIndex, usize), Kv<B>>,
    pending: HashMap<(NodeIndex, usize), Kv<B>>,
    pass: usize,
}

impl<B: Backend> Run<'_, '_, B> {
    /// (new positions of a domain as sequence positions, how many old ones it has).
    fn domain(&self, rows: &str) -> (Vec<usize>, usize) {
        let all = self.view.positions(rows);
        let old = all.iter().filter(|&&p| p < self.old_len).count();
        (all[old..].to_vec(), old)
    }

    fn read(&self, src: NodeIndex, rows: &str) -> Result<Tensor<B, 3>, Unsupported> {
        let g = &self.plan.graph;
        let v = self
            .values
            .get(&src)
            .cloned()
            .ok_or_else(|| Unsupported(format!("`{}` has no value yet", g.graph[src].path)))?;
        let from = g.graph[src].rows.as_str();
        if from == rows {
            return Ok(v);
        }
        if from == "S" {
            let (all, _) = self.domain("S");
            let (want, _) = self.domain(rows);
            let idx: Vec<usize> = want
                .iter()
                .filter_map(|p| all.iter().position(|q| q == p))
                .collect();
            let device = v.device();
            return Ok(v.select(1, index::<B>(&idx, &device)));
        }
        Err(Unsupported(format!(
            "`{}` holds `{from}` positions, but `{rows}` are read",
            g.graph[src].path
        )))
    }

    fn read_input(&self, n: NodeIndex) -> Result<Tensor<B, 3>, Unsupported> {
        self.read(source(self.plan, n)?, &self.plan.graph.graph[n].rows)
    }

    fn node(&mut self, n: NodeIndex) -> Result<(), Unsupported> {
        if let Some(v) = apply(self, n)? {
            self.values.insert(n, v);
        }
        Ok(())
    }

    /// Block `n` over the new positions: attending over its cached keys and values of
    /// this loop pass (or the latest pass it has) and the new ones, which wait in
    /// `pending` until the call ends.
    fn cached_block(&mut self, n: NodeIndex, block: &Block<B>, x: Tensor<B, 3>) -> Tensor<B, 3> {
        let plan = self.plan;
        let rows = &plan.graph.graph[n].rows;
        let (_, start) = self.domain(rows);
        let device = x.device();
        let full = self.view.mask_for(rows, &plan.regions, self.b, &device); // [b, t, t]
        let t = full.dims()[1];
        let mask = full.narrow(1, start, t - start); // [b, s, t]
        let past = (0..=self.pass)
            .rev()
            .find_map(|k| self.cache.get(&(n, k)))
            .cloned();
        let mut kv = None;
        let y = block.forward_with(x, |a, h| {
            let (o, new) = a.forward_cached(h, mask, start, past);
            kv = Some(new);
            o
        });
        if let Some(kv) = kv {
            self.pending.insert((n, self.pass), kv);
        }
        y
    }

    /// Whether `n`'s input has new positions this call.
    fn has_input(&self, n: NodeIndex) -> bool {
        let g = &self.plan.graph;
        g.data_inputs(n).first().is_some_and(|(src, _)| {
            self.values.contains_key(src) && !self.domain(&g.graph[n].rows).0.is_empty()
        })
    }

    /// The trunk's input over the new positions: each stem's new rows at its new segments.
    fn merge_stems(&self, n: NodeIndex) -> Result<Tensor<B, 3>, Unsupported> {
        let g = &self.plan.graph;
        let mut by_stem: HashMap<String, (Tensor<B, 3>, usize)> = HashMap::new();
        for (src, _) in g.data_inputs(n) {
            let Owner::Stem(stem) = &g.graph[src].owner else {
                return Err(Unsupported(format!(
                    "the trunk reads `{}`, which is not a stem",
                    g.graph[src].path
                )));
            };
            if self.values.contains_key(&src) {
                by_stem.insert(stem.clone(), (self.read(src, &g.graph[src].rows)?, 0));
            }
        }
        let mut parts = Vec::new();
        for (stem, len) in &self.new.layout {
            let (v, used) = by_stem.get_mut(stem).ok_or_else(|| {
                Unsupported(format!(
                    "the new positions have `{stem}` segments, but the trunk does not read that stem"
                ))
            })?;
            parts.push(v.clone().narrow(1, *used, *len));
            *used += len;
        }
        Ok(Tensor::cat(parts, 1))
    }

    fn repeat(&mut self, l: &LoopPlan) -> Result<usize, Unsupported> {
        let g = &self.plan.graph;
        let Some(original) = self.values.get(&l.target).cloned() else {
            return Ok(1); // no new positions in the loop's domain
        };
        let passes = match &l.steps {
            Steps::Fixed { n } => *n as usize,
            Steps::Sampled { mean, .. } => *mean as usize,
            Steps::Entropy { max, .. } => *max as usize,
        };
        let mut done = 1;
        while done < passes {
            if let Steps::Entropy {
                head, threshold, ..
            } = &l.steps
            {
                if !self.gate_open(head, *threshold)? {
                    break;
                }
            }
            let state = self.read(l.source, &g.graph[l.target].rows)?;
            let injected = match l.inject {
                Inject::Add => original.clone() + state,
                Inject::Replace => state,
                Inject::ConcatLinear => {
                    let adapter = &self.model.nodes[self.plan.slot[&l.node]].linears[0];
                    adapter.forward(Tensor::cat(vec![state, original.clone()], 2))
                }
            };
            self.values.insert(l.target, injected);
            self.pass += 1;
            for &n in &l.segment {
                self.node(n)?;
            }
            done += 1;
        }
        self.pass = 0;
        Ok(done)
    }

    /// Whether the gate head's mean next-token entropy over the new positions is above
    /// the threshold.
    fn gate_open(&mut self, head: &str, threshold: f64) -> Result<bool, Unsupported> {
        let g = &self.plan.graph;
        let chain = archc::graph::head_layers(g, &self.plan.order, head);
        // The head's own blocks run at pass 0 of their caches: their keys and values are
        // replaced by the final pass's when the head runs again after the loop.
        let pass = self.pass;
        self.pass = 0;
        let pending = self.pending.clone();
        for &n in &chain {
            self.node(n)?;
        }
        self.pending = pending;
        self.pass = pass;
        let Some(logits) = self.heads.get(head).cloned() else {
            return Ok(false); // the gate head has no new positions
        };
        Ok(entropy(logits) > threshold)
    }
}

impl<'a, B: Backend> Pass<'a, B> for Run<'a, '_, B> {
    fn plan(&self) -> &'a Plan {
        self.plan
    }
    fn model(&self) -> &'a ArchModel<B> {
        self.model
    }
    fn batch(&self) -> &Batch<B> {
        self.new
    }
    fn partial(&self) -> bool {
        true
    }
    fn input(&self, n: NodeIndex) -> Result<Option<Tensor<B, 3>>, Unsupported> {
        if self.has_input(n) {
            self.read_input(n).map(Some)
        } else {
            Ok(None)
        }
    }
    fn start(&self, rows: &str) -> usize {
        self.domain(rows).1
    }
    fn block(
        &mut self,
        n: NodeIndex,
        block: &Block<B>,
        x: Tensor<B, 3>,
    ) -> Result<Tensor<B, 3>, Unsupported> {
        Ok(self.cached_block(n, block, x))
    }
    fn merge(&self, n: NodeIndex) -> Result<Tensor<B, 3>, Unsupported> {
        self.merge_stems(n)
    }
    fn heads(&mut self) -> &mut HashMap<String, Tensor<B, 3>> {
        &mut self.heads
    }
}
