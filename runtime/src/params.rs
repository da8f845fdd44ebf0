//! Every parameter of an [`ArchModel`], visited by its `.arch` name (docs/runtime.md), nodes
//! in the plan's order; the layers' own walks are `archc_nn::params`.

use crate::model::{ArchModel, Plan};
use archc::graph::NodeKind;
use archc_nn::params::{block, diffusion, linear, norm};
pub use archc_nn::params::{ParamVisitor, Parameters};
use burn::tensor::backend::Backend;

/// A model with the plan that names its parameters: what the optimizer walks.
#[derive(Clone)]
pub struct Named<'a, B: Backend> {
    pub model: ArchModel<B>,
    pub plan: &'a Plan,
}

impl<B: Backend> Parameters<B> for Named<'_, B> {
    fn visit_params<V: ParamVisitor<B>>(&mut self, v: &mut V) -> Result<(), V::Error> {
        visit_params(&mut self.model, self.plan, v)
    }
}

/// Visits every parameter of `model`, nodes in the plan's order.
pub fn visit_params<B: Backend, V: ParamVisitor<B>>(
    model: &mut ArchModel<B>,
    plan: &Plan,
    v: &mut V,
) -> Result<(), V::Error> {
    for &n in &plan.order {
        let node = &plan.graph.graph[n];
        let m = &mut model.nodes[plan.slot[&n]];
        let path = &node.path;
        if let (Some(t), Some(modality)) = (&mut m.mask_token, plan.mask_points.get(&n)) {
            v.visit(&format!("{modality}.mask_token"), t, false)?;
        }
        if let Some(t) = &mut m.table {
            v.visit(&format!("{path}.weight"), t, false)?;
        }
        if let Some(t) = &mut m.start {
            v.visit(&format!("{path}.start"), t, false)?;
        }
        if let Some(b) = &mut m.block {
            block(v, path, b)?;
        }
        if let Some(nm) = &mut m.norm {
            norm(v, path, nm)?;
        }
        if let Some(d) = &mut m.diffusion {
            diffusion(v, path, d)?;
        }
        let many = m.linears.len() > 1
            || matches!(node.kind, NodeKind::Adapter { .. } | NodeKind::Mlp { .. });
        for (i, l) in m.linears.iter_mut().enumerate() {
            let name = if many {
                format!("{path}.{i}")
            } else {
                path.clone()
            };
            linear(v, &name, l)?;
        }
    }
    Ok(())
}
