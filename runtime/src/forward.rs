//! The forward pass over a [`Batch`]: nodes in topological order, each value held over the
//! positions of its domain (`S` the whole sequence, `S_m` modality m's positions).

use crate::batch::{index, Batch};
use crate::model::{ArchModel, LoopPlan, Plan, Unsupported};
use archc::graph::{NodeKind, Owner};
use archc::model::{Act, Inject, Projection, Steps};
use burn::tensor::activation::{gelu, relu, silu, softmax};
use burn::tensor::{backend::Backend, Bool, Tensor, TensorData};
use petgraph::stable_graph::NodeIndex;
use std::collections::HashMap;

/// What one forward pass produced.
pub struct Output<B: Backend> {
    /// Each head's projection output over its positions, `[b, n, out]`.
    pub heads: HashMap<String, Tensor<B, 3>>,
    /// Per loop: how many passes it made.
    pub loop_steps: HashMap<String, usize>,
}

pub(crate) fn act<B: Backend>(a: Act, x: Tensor<B, 3>) -> Tensor<B, 3> {
    match a {
        Act::Gelu => gelu(x),
        Act::Relu => relu(x),
        Act::Silu => silu(x),
        Act::Tanh => x.tanh(),
    }
}

struct Run<'a, B: Backend> {
    model: &'a ArchModel<B>,
    plan: &'a Plan,
    batch: &'a Batch<B>,
    values: HashMap<NodeIndex, Tensor<B, 3>>,
    heads: HashMap<String, Tensor<B, 3>>,
    /// The batch's attention mask per domain, built once per pass over the batch (every
    /// block of a domain, and every loop pass, shares it).
    masks: HashMap<String, Tensor<B, 3, Bool>>,
}

impl<B: Backend> ArchModel<B> {
    pub fn forward_batch(&self, plan: &Plan, batch: &Batch<B>) -> Result<Output<B>, Unsupported> {
        let mut run = Run {
            model: self,
            plan,
            batch,
            values: HashMap::new(),
            heads: HashMap::new(),
            masks: HashMap::new(),
        };
        let mut loop_steps = HashMap::new();
        for &n in &plan.order {
            run.node(n)?;
            for l in plan.loops.iter().filter(|l| l.source == n) {
                let steps = run.repeat(l)?;
                loop_steps.insert(plan.graph.graph[l.node].path.clone(), steps);
            }
        }
        Ok(Output {
            heads: run.heads,
            loop_steps,
        })
    }
}

impl<B: Backend> Run<'_, B> {
    /// The attention mask over the positions of `rows` (`Batch::mask`), built once.
    fn mask(&mut self, rows: &str, device: &B::Device) -> Tensor<B, 3, Bool> {
        let (batch, g) = (self.batch, &self.plan.graph);
        self.masks
            .entry(rows.to_string())
            .or_insert_with(|| batch.mask(g, rows, device))
            .clone()
    }

    /// The value of `src` over the positions of `rows`.
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
            // Gather a modality's positions from the whole sequence.
            let idx = self.batch.positions(rows);
            let device = v.device();
            return Ok(v.select(1, index::<B>(&idx, &device)));
        }
        Err(Unsupported(format!(
            "`{}` holds `{from}` positions, but `{rows}` are read",
            g.graph[src].path
        )))
    }

    fn input(&self, n: NodeIndex) -> Result<Tensor<B, 3>, Unsupported> {
        let g = &self.plan.graph;
        let (src, _) = g
            .data_inputs(n)
            .first()
            .copied()
            .ok_or_else(|| Unsupported(format!("`{}` has no input", g.graph[n].path)))?;
        self.read(src, &g.graph[n].rows)
    }

    fn node(&mut self, n: NodeIndex) -> Result<(), Unsupported> {
        let (plan, model) = (self.plan, self.model);
        let g = &plan.graph;
        let node = &g.graph[n];
        let m = &model.nodes[plan.slot[&n]];
        let out = match &node.kind {
            NodeKind::Input { modality, stem } => match stem {
                archc::model::StemKind::Features { .. } => self
                    .batch
                    .features
                    .get(modality)
                    .cloned()
                    .ok_or_else(|| Unsupported(format!("no features given for `{modality}`")))?,
                _ => return Ok(()),
            },
            NodeKind::Embedding(_) => {
                let (src, _) = g.data_inputs(n)[0];
                let NodeKind::Input { modality, .. } = &g.graph[src].kind else {
                    return Err(Unsupported(format!(
                        "`{}` reads something other than ids",
                        node.path
                    )));
                };
                let ids = self
                    .batch
                    .ids
                    .get(modality)
                    .ok_or_else(|| Unsupported(format!("no ids given for `{modality}`")))?;
                let table = m.table.as_ref().expect("an embedding has a table").val();
                let [b, s] = ids.dims();
                let d = table.dims()[1];
                let x = table
                    .select(0, ids.clone().reshape([b * s]))
                    .reshape([b, s, d]); // [b, s, d]
                match (&m.start, g.next_scale_sides(modality)) {
                    (Some(start), Some(sides)) => next_scale(x, start.val(), &sides)?,
                    _ => x,
                }
            }
            NodeKind::Positions { .. } => {
                let x = self.input(n)?;
                let [b, s, d] = x.dims();
                let table = m.table.as_ref().expect("positions have a table").val();
                if s > table.dims()[0] {
                    return Err(Unsupported(format!(
                        "{s} positions are more than `{}` has ({})",
                        node.path,
                        table.dims()[0]
                    )));
                }
                x + table.narrow(0, 0, s).unsqueeze::<3>().expand([b, s, d])
            }
            NodeKind::Adapter { mlp, .. } | NodeKind::Mlp { mlp, .. } => {
                let mut x = self.input(n)?;
                for (i, l) in m.linears.iter().enumerate() {
                    x = l.forward(x);
                    if i + 1 < m.linears.len() {
                        x = act(mlp.act, x);
                    }
                }
                x
            }
            NodeKind::Merge { .. } => self.merge(n)?,
            NodeKind::Alias => self.input(n)?,
            NodeKind::Block(_) => {
                let x = self.input(n)?;
                let mask = self.mask(&node.rows, &x.device());
                m.block.as_ref().expect("a block module").forward(x, mask)
            }
            NodeKind::Norm(_) => m
                .norm
                .as_ref()
                .expect("a norm module")
                .forward(self.input(n)?),
            NodeKind::Linear { .. } => m.linears[0].forward(self.input(n)?),
            NodeKind::Projection { projection, .. } => {
                let x = self.input(n)?;
                let y = match projection {
                    Projection::Tied { .. } => {
                        let emb = g.tied_embedding(n).ok_or_else(|| {
                            Unsupported(format!("`{}` is tied to nothing", node.path))
                        })?;
                        let table = self.model.nodes[self.plan.slot[&emb]]
                            .table
                            .as_ref()
                            .expect("an embedding")
                            .val(); // [vocab, d]
                        x.matmul(table.transpose().unsqueeze::<3>()) // [b, n, vocab]
                    }
                    Projection::Mlp { act: a, .. } => {
                        m.linears[1].forward(act(*a, m.linears[0].forward(x)))
                    }
                    Projection::Linear { .. } => m.linears[0].forward(x),
                    Projection::None => x,
                };
                if let Owner::Head(h) = &node.owner {
                    self.heads.insert(h.clone(), y.clone());
                }
                y
            }
            // A diffusion head's objective reads its latent: its "output" is that latent.
            NodeKind::Objective { .. } => {
                if let Owner::Head(h) = &node.owner {
                    if !self.heads.contains_key(h) {
                        let x = self.input(n)?;
                        self.heads.insert(h.clone(), x);
                    }
                }
                return Ok(());
            }
            NodeKind::Loop { .. } => return Ok(()),
        };
        let out = match (self.plan.mask_points.get(&n), &m.mask_token) {
            (Some(modality), Some(token)) => match self.batch.masked.get(modality) {
                Some(mask) => {
                    let [b, s, d] = out.dims();
                    let token = token.val().unsqueeze::<3>().expand([b, s, d]);
                    out.mask_where(mask.clone().unsqueeze_dim::<3>(2).expand([b, s, d]), token)
                }
                None => out,
            },
            _ => out,
        };
        self.values.insert(n, out);
        Ok(())
    }

    /// The trunk's input: each stem's rows placed at its segments' positions.
    fn merge(&self, n: NodeIndex) -> Result<Tensor<B, 3>, Unsupported> {
        let g = &self.plan.graph;
        let mut by_stem: HashMap<String, (Tensor<B, 3>, usize)> = HashMap::new();
        for (src, _) in g.data_inputs(n) {
            let Owner::Stem(stem) = &g.graph[src].owner else {
                return Err(Unsupported(format!(
                    "the trunk reads `{}`, which is not a stem",
                    g.graph[src].path
                )));
            };
            by_stem.insert(stem.clone(), (self.read(src, &g.graph[src].rows)?, 0));
        }
        let mut parts = Vec::new();
        for (stem, len) in &self.batch.layout {
            let (v, used) = by_stem.get_mut(stem).ok_or_else(|| {
                Unsupported(format!(
                    "the batch has `{stem}` segments, but the trunk does not read that stem"
                ))
            })?;
            parts.push(v.clone().narrow(1, *used, *len));
            *used += len;
        }
        Ok(Tensor::cat(parts, 1))
    }

    /// Runs a loop's segment again until its steps are done. Returns the passes made.
    fn repeat(&mut self, l: &LoopPlan) -> Result<usize, Unsupported> {
        let g = &self.plan.graph;
        let original = self.values.get(&l.target).cloned().ok_or_else(|| {
            Unsupported(format!(
                "loop target `{}` has no value",
                g.graph[l.target].path
            ))
        })?;
        let (passes, keep_grad) = match &l.steps {
            Steps::Fixed { n } => (*n as usize, *n as usize),
            // Forward at the mean; gradients through the last `backprop` passes (Huginn).
            // In training the batch carries the passes drawn for this step.
            Steps::Sampled { mean, backprop } => {
                let path = &g.graph[l.node].path;
                let passes = self.batch.steps.get(path).copied();
                (passes.unwrap_or(*mean as usize).max(1), *backprop as usize)
            }
            Steps::Entropy { max, .. } => (*max as usize, *max as usize),
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
            let mut state = self.read(l.source, &g.graph[l.target].rows)?;
            if passes - done > keep_grad.saturating_sub(1) {
                state = state.detach();
            }
            // Shifted loops feed position t from t - shift; the first positions keep their value.
            let n = state.dims()[1];
            if l.shift > 0 && n > 0 {
                let k = l.shift.min(n);
                let mut parts = vec![original.clone().narrow(1, 0, k)];
                if n > k {
                    parts.push(state.narrow(1, 0, n - k));
                }
                state = Tensor::cat(parts, 1);
            }
            let injected = match l.inject {
                Inject::Add => original.clone() + state,
                Inject::Replace => state,
                Inject::ConcatLinear => {
                    let adapter = &self.model.nodes[self.plan.slot[&l.node]].linears[0];
                    adapter.forward(Tensor::cat(vec![state, original.clone()], 2))
                }
            };
            self.values.insert(l.target, injected);
            for &n in &l.segment {
                self.node(n)?;
            }
            done += 1;
        }
        Ok(done)
    }

    /// Whether the gate head's mean next-token entropy (nats) over its positions is still
    /// above the threshold, computed on the current values.
    fn gate_open(&mut self, head: &str, threshold: f64) -> Result<bool, Unsupported> {
        let g = &self.plan.graph;
        let chain = archc::graph::head_layers(g, &self.plan.order, head);
        for &n in &chain {
            self.node(n)?;
        }
        let logits = self
            .heads
            .get(head)
            .cloned()
            .ok_or_else(|| Unsupported(format!("gate head `{head}` has no output")))?;
        let p = softmax(logits, 2);
        let entropy = p
            .clone()
            .mul(p.clamp_min(1e-30).log())
            .sum_dim(2)
            .neg()
            .mean();
        let h: f32 = burn::tensor::ElementConversion::elem(entropy.into_scalar());
        Ok(f64::from(h) > threshold)
    }
}

/// A `next_scale` stem's input (archc::next_scale): position r is fed Σ M[r, c]·x[c], and
/// the first scale's rows the `start` vector. `x`: `[b, L, d]` embedded codes.
pub fn next_scale<B: Backend>(
    x: Tensor<B, 3>,
    start: Tensor<B, 1>,
    sides: &[u64],
) -> Result<Tensor<B, 3>, Unsupported> {
    let [b, l, d] = x.dims();
    let rows: u64 = sides.iter().map(|s| s * s).sum();
    if rows != l as u64 {
        return Err(Unsupported(format!(
            "a `next_scale` stem's scales cover {rows} rows, and the batch gives {l}"
        )));
    }
    let device = x.device();
    let m = Tensor::<B, 2>::from_data(
        TensorData::new(archc::next_scale::next_scale_matrix(sides), [l, l]),
        &device,
    ); // [L, L]
    let first = archc::next_scale::first_scale_rows(sides);
    let is_first: Vec<f32> = (0..l).map(|r| if r < first { 1.0 } else { 0.0 }).collect();
    let is_first =
        Tensor::<B, 1>::from_data(TensorData::new(is_first, [l]), &device).reshape([1, l, 1]); // [1, L, 1]
    let fed = m.unsqueeze::<3>().expand([b, l, l]).matmul(x); // [b, L, d]
    Ok(fed + is_first.expand([b, l, d]) * start.reshape([1, 1, d]).expand([b, l, d]))
}
