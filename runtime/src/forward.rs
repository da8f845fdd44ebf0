//! The forward pass over a [`Batch`]: nodes in topological order, each value held over the
//! positions of its domain (`S` the whole sequence, `S_m` modality m's positions).

use crate::apply::{apply, source, Pass};
use crate::batch::{index, Batch};
use crate::model::{ArchModel, LoopPlan, Plan, Unsupported};
use archc::graph::Owner;
use archc::model::{Inject, Steps};
use archc_nn::layers::{entropy, shifted, Block};
use burn::tensor::{backend::Backend, Bool, Tensor};
use petgraph::stable_graph::NodeIndex;
use std::collections::HashMap;

pub use archc_nn::train::Output;

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
        let (batch, regions) = (self.batch, &self.plan.regions);
        self.masks
            .entry(rows.to_string())
            .or_insert_with(|| batch.mask(rows, regions, device))
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

    fn read_input(&self, n: NodeIndex) -> Result<Tensor<B, 3>, Unsupported> {
        self.read(source(self.plan, n)?, &self.plan.graph.graph[n].rows)
    }

    fn node(&mut self, n: NodeIndex) -> Result<(), Unsupported> {
        if let Some(v) = apply(self, n)? {
            self.values.insert(n, v);
        }
        Ok(())
    }

    /// The trunk's input: each stem's rows placed at its segments' positions.
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
            state = shifted(state, original.clone(), l.shift);
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
        Ok(entropy(logits) > threshold)
    }
}

impl<'a, B: Backend> Pass<'a, B> for Run<'a, B> {
    fn plan(&self) -> &'a Plan {
        self.plan
    }
    fn model(&self) -> &'a ArchModel<B> {
        self.model
    }
    fn batch(&self) -> &Batch<B> {
        self.batch
    }
    fn partial(&self) -> bool {
        false
    }
    fn input(&self, n: NodeIndex) -> Result<Option<Tensor<B, 3>>, Unsupported> {
        self.read_input(n).map(Some)
    }
    fn start(&self, _rows: &str) -> usize {
        0
    }
    fn block(
        &mut self,
        n: NodeIndex,
        block: &Block<B>,
        x: Tensor<B, 3>,
    ) -> Result<Tensor<B, 3>, Unsupported> {
        let plan = self.plan;
        let mask = self.mask(&plan.graph.graph[n].rows, &x.device());
        Ok(block.forward(x, mask))
    }
    fn merge(&self, n: NodeIndex) -> Result<Tensor<B, 3>, Unsupported> {
        self.merge_stems(n)
    }
    fn heads(&mut self) -> &mut HashMap<String, Tensor<B, 3>> {
        &mut self.heads
    }
}
