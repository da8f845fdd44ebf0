//! `graph_to_torch`: the checked graph as a PyTorch project — `model.py` (the layers of
//! `torch_lib.py`, one `nn.Module` per stem, trunk, head, layer and loop, and a `Model`
//! whose forward is the graph's plan written out), `train.py` (one process or `torchrun`
//! with DDP or FSDP2), `requirements.txt` and a README. Parameter names equal the `.arch`
//! paths, so safetensors files move between this model, the runtime and `archc train`.

use super::names::{class, comment, node_vars, py_attr_ok, py_str};
use super::{GenError, GenFile};
use crate::graph::{graph_to_plan, ArchGraph, ExecPlan, LoopPlan, NodeKind, Owner};
use crate::model::{
    Act, Inject, MlpKind, NormKind, ObjectiveKind, Placement, Positions, Projection, Region,
    RegressionLoss, StemKind, Steps,
};
use petgraph::stable_graph::NodeIndex;
use std::collections::{BTreeMap, HashMap};
use std::fmt::Write;

const LIB: &str = include_str!("torch_lib.py");
const TRAIN: &str = include_str!("torch_train.py");

pub fn graph_to_torch(g: &ArchGraph) -> Result<Vec<GenFile>, GenError> {
    let plan = graph_to_plan(g)
        .ok_or_else(|| GenError::Unsupported("the graph's data edges have a cycle".into()))?;
    let e = Emitter::new(g, &plan)?;
    let model = e.model_py()?;
    Ok(vec![
        GenFile {
            path: "model.py".into(),
            text: model,
        },
        GenFile {
            path: "train.py".into(),
            text: TRAIN.to_string(),
        },
        GenFile {
            path: "requirements.txt".into(),
            text: "torch>=2.5\nsafetensors>=0.4\nnumpy\n".into(),
        },
        GenFile {
            path: "README.md".into(),
            text: readme(&g.name),
        },
    ])
}

/// A top-level item and its modules: (the rest of each path, the module's constructor).
type Item = (String, Vec<(Vec<String>, String)>);

struct Emitter<'a> {
    g: &'a ArchGraph,
    plan: &'a ExecPlan,
    vars: HashMap<NodeIndex, String>,
}

fn py_bool(b: bool) -> &'static str {
    if b {
        "True"
    } else {
        "False"
    }
}

fn act(a: Act) -> &'static str {
    match a {
        Act::Gelu => "gelu",
        Act::Relu => "relu",
        Act::Silu => "silu",
        Act::Tanh => "tanh",
    }
}

fn norm_args(n: &crate::model::Norm) -> String {
    let (rms, bias) = match n.kind {
        NormKind::Rmsnorm => (true, false),
        NormKind::Layernorm { bias } => (false, bias),
    };
    format!("{}, {}, {:?}", py_bool(rms), py_bool(bias), n.eps)
}

/// The Python expression that reaches a module or parameter by its `.arch` path.
fn access(path: &str) -> String {
    let mut out = String::from("self");
    for seg in path.split('.') {
        if !seg.is_empty() && seg.bytes().all(|b| b.is_ascii_digit()) {
            let _ = write!(out, "[{seg}]");
        } else if py_attr_ok(seg) {
            let _ = write!(out, ".{seg}");
        } else {
            let _ = write!(out, "._modules[{}]", py_str(seg));
        }
    }
    out
}

impl<'a> Emitter<'a> {
    fn new(g: &'a ArchGraph, plan: &'a ExecPlan) -> Result<Self, GenError> {
        let vars = node_vars(g, plan);
        Ok(Emitter { g, plan, vars })
    }

    fn node(&self, n: NodeIndex) -> &crate::graph::Node {
        &self.g.graph[n]
    }

    /// The modality an embedding node reads the ids of.
    fn embedded_modality(&self, n: NodeIndex) -> Option<&str> {
        let (src, _) = *self.g.data_inputs(n).first()?;
        match &self.node(src).kind {
            NodeKind::Input { modality, .. } => Some(modality),
            _ => None,
        }
    }

    /// The constructor of a node's module, if it has parameters.
    fn ctor(&self, n: NodeIndex) -> Option<String> {
        let node = self.node(n);
        let linear =
            |i: u64, o: u64, bias: bool| format!("nn.Linear({i}, {o}, bias={})", py_bool(bias));
        Some(match &node.kind {
            NodeKind::Embedding(e) if e.next_scale => {
                let sides = self
                    .embedded_modality(n)
                    .and_then(|m| self.g.next_scale_sides(m))?;
                let sides: Vec<String> = sides.iter().map(u64::to_string).collect();
                format!("NextScale({}, {}, [{}])", e.vocab, e.dim, sides.join(", "))
            }
            NodeKind::Embedding(e) => format!("nn.Embedding({}, {})", e.vocab, e.dim),
            NodeKind::Positions { max_len, dim } => format!("Positions({max_len}, {dim})"),
            NodeKind::Adapter { input, mlp } | NodeKind::Mlp { input, mlp } => {
                let mut w = *input;
                let layers: Vec<String> = (0..mlp.layers)
                    .map(|i| {
                        let out = if i + 1 == mlp.layers {
                            mlp.out
                        } else {
                            mlp.hidden
                        };
                        let l = linear(w, out, mlp.bias);
                        w = out;
                        l
                    })
                    .collect();
                format!("nn.ModuleList([{}])", layers.join(", "))
            }
            NodeKind::Block(b) => {
                let a = &b.attention;
                let theta = match a.positions {
                    Positions::Rope { theta } => theta,
                    Positions::None => 0.0,
                };
                let kind = match b.mlp.kind {
                    MlpKind::Gelu => "gelu",
                    MlpKind::GeluTanh => "gelu_tanh",
                    MlpKind::Relu => "relu",
                    MlpKind::Swiglu => "swiglu",
                };
                let placement = match b.placement {
                    Placement::Pre => "pre",
                    Placement::Post => "post",
                    Placement::ResPost => "res_post",
                    Placement::Sandwich => "sandwich",
                };
                let qk = if a.qk_norm {
                    format!("({})", norm_args(&b.norm))
                } else {
                    "None".into()
                };
                format!(
                    "Block({}, norm=({}), placement={}, attention=dict(heads={}, kv_heads={}, head_dim={}, bias={}, qk_norm={qk}, theta={theta:?}), mlp=dict(hidden={}, kind={}, bias={}))",
                    b.width,
                    norm_args(&b.norm),
                    py_str(placement),
                    a.heads,
                    a.kv_heads,
                    a.head_dim,
                    py_bool(a.bias),
                    b.mlp.hidden,
                    py_str(kind),
                    py_bool(b.mlp.bias)
                )
            }
            NodeKind::Norm(spec) => format!("Norm({}, {})", node.width, norm_args(spec)),
            NodeKind::Linear { input, out, bias } => linear(*input, *out, *bias),
            NodeKind::Projection {
                input,
                out,
                projection,
            } => match projection {
                Projection::Linear { bias } => linear(*input, *out, *bias),
                Projection::Mlp { hidden, .. } => format!(
                    "nn.ModuleList([{}, {}])",
                    linear(*input, *hidden, true),
                    linear(*hidden, *out, true)
                ),
                Projection::Tied { .. } | Projection::None => return None,
            },
            NodeKind::Objective { target, objective } => match objective.kind {
                ObjectiveKind::Diffusion {
                    layers,
                    width,
                    steps,
                } => {
                    let z = self
                        .g
                        .data_inputs(n)
                        .first()
                        .map_or(0, |(s, _)| self.g.graph[*s].width);
                    let d = crate::analyze::token_dim(self.g, target.as_deref());
                    format!("DiffusionMLP({d}, {z}, {width}, {layers}, {steps})")
                }
                _ => return None,
            },
            NodeKind::Loop {
                inject: Inject::ConcatLinear,
                width,
                ..
            } => linear(2 * width, *width, false),
            _ => return None,
        })
    }

    /// The modules by top-level item: (item, [(rest of the path, constructor)]).
    fn tree(&self) -> Result<Vec<Item>, GenError> {
        let mut items: Vec<Item> = Vec::new();
        let mut push = |path: &str, ctor: String| {
            let mut segs: Vec<String> = path.split('.').map(String::from).collect();
            let item = segs.remove(0);
            match items.iter_mut().find(|(i, _)| *i == item) {
                Some((_, v)) => v.push((segs, ctor)),
                None => items.push((item, vec![(segs, ctor)])),
            }
        };
        for &n in &self.plan.order {
            if let Some((_, modality)) = self.plan.mask_points.iter().find(|(p, _)| *p == n) {
                push(
                    &format!("{modality}.mask_token"),
                    format!(
                        "nn.Parameter(torch.empty({}).normal_(0.0, 0.02))",
                        self.node(n).width
                    ),
                );
            }
            if let Some(c) = self.ctor(n) {
                push(&self.node(n).path, c);
            }
        }
        for (item, members) in &items {
            for (rest, _) in members {
                let ok = match rest.as_slice() {
                    [] => members.len() == 1,
                    [_] => true,
                    [_, i] => i.bytes().all(|b| b.is_ascii_digit()),
                    _ => false,
                };
                if !ok {
                    return Err(GenError::Unsupported(format!(
                        "the parameter path `{item}.{}` has a shape the generator does not lay out",
                        rest.join(".")
                    )));
                }
            }
        }
        Ok(items)
    }

    fn model_py(&self) -> Result<String, GenError> {
        let g = self.g;
        let mut out = String::new();
        let _ = writeln!(
            out,
            "# model.py for `{}`, generated by archc from the checked graph: regenerate with\n# `archc gen torch`, do not edit. What each layer computes: archc's docs/semantics.md.\n",
            comment(&g.name)
        );
        out.push_str(LIB);
        out.push_str("\n\n# ---- The model ------------------------------------------------------------------\n\n");
        self.constants(&mut out);
        let items = self.tree()?;
        let mut fields = Vec::new();
        for (item, members) in &items {
            if members.len() == 1 && members[0].0.is_empty() {
                fields.push((item.clone(), members[0].1.clone()));
                continue;
            }
            let kind = self.g.item_kind(item);
            let cls = if item == kind {
                class(kind, "")
            } else {
                class(kind, item)
            };
            let _ = writeln!(out, "\nclass {cls}(nn.Module):");
            let _ = writeln!(
                out,
                "    \"\"\"{} `{}`.\"\"\"\n",
                self.g.item_kind(item),
                comment(item)
            );
            out.push_str("    def __init__(self):\n        super().__init__()\n");
            let mut lists: BTreeMap<String, Vec<(usize, String)>> = BTreeMap::new();
            for (rest, ctor) in members {
                match rest.as_slice() {
                    [name] => {
                        if name == "mask_token" {
                            let _ = writeln!(
                                out,
                                "        self.mask_token = {ctor}  # {}.mask_token",
                                comment(item)
                            );
                        } else if py_attr_ok(name) {
                            let _ = writeln!(
                                out,
                                "        self.{name} = {ctor}  # {}.{name}",
                                comment(item)
                            );
                        } else {
                            let _ = writeln!(
                                out,
                                "        self._modules[{}] = {ctor}  # a name nn.Module reserves",
                                py_str(name)
                            );
                        }
                    }
                    [name, i] => {
                        lists
                            .entry(name.clone())
                            .or_default()
                            .push((i.parse().unwrap_or(usize::MAX), ctor.clone()));
                    }
                    _ => {}
                }
            }
            for (name, mut entries) in lists {
                entries.sort();
                if entries.iter().enumerate().any(|(k, (i, _))| *i != k) {
                    return Err(GenError::Unsupported(format!(
                        "`{item}.{name}` is not numbered 0, 1, 2, ..."
                    )));
                }
                let all_same = entries.iter().all(|(_, c)| *c == entries[0].1);
                let list = if all_same {
                    format!(
                        "nn.ModuleList([{} for _ in range({})])",
                        entries[0].1,
                        entries.len()
                    )
                } else {
                    let v: Vec<&str> = entries.iter().map(|(_, c)| c.as_str()).collect();
                    format!(
                        "nn.ModuleList([\n            {},\n        ])",
                        v.join(",\n            ")
                    )
                };
                let at = format!("{}.{name}.0..{}", comment(item), entries.len() - 1);
                if py_attr_ok(&name) {
                    let _ = writeln!(out, "        self.{name} = {list}  # {at}");
                } else {
                    let _ = writeln!(
                        out,
                        "        self._modules[{}] = {list}  # {at}",
                        py_str(&name)
                    );
                }
            }
            out.push('\n');
            fields.push((item.clone(), format!("{cls}()")));
        }
        out.push_str("\n\nclass Model(nn.Module):\n");
        let _ = writeln!(
            out,
            "    \"\"\"`{}`: forward(batch) -> (per-head outputs, per-loop passes).\"\"\"\n",
            comment(&g.name)
        );
        out.push_str("    def __init__(self):\n        super().__init__()\n");
        for (item, ctor) in &fields {
            if py_attr_ok(item) {
                let _ = writeln!(out, "        self.{item} = {ctor}");
            } else {
                let _ = writeln!(
                    out,
                    "        self._modules[{}] = {ctor}  # a name nn.Module reserves",
                    py_str(item)
                );
            }
        }
        out.push_str("        self.flex = True  # FlexAttention on CUDA when available\n");
        out.push_str("        for m in self.modules():  # the runtime's initialisation\n");
        out.push_str("            if isinstance(m, nn.Embedding):\n                nn.init.normal_(m.weight, 0.0, 0.02)\n\n");
        self.forward(&mut out)?;
        Ok(out)
    }

    fn constants(&self, out: &mut String) {
        let g = self.g;
        let masks: Vec<String> = g
            .masks
            .iter()
            .filter_map(|m| {
                let (kind, arg) = match &m.region {
                    Region::Bidirectional => ("bidirectional", "None".to_string()),
                    Region::Prefix { len } => ("prefix", len.to_string()),
                    Region::Scales { sides } => (
                        "scales",
                        format!(
                            "[{}]",
                            sides
                                .iter()
                                .map(|s| s.to_string())
                                .collect::<Vec<_>>()
                                .join(", ")
                        ),
                    ),
                    Region::Mntp { causal } => ("mntp", format!("{causal:?}")),
                    Region::Causal | Region::MaskTokens { .. } => return None,
                };
                Some(format!(
                    "({}, {}, {arg})",
                    py_str(&m.modality),
                    py_str(kind)
                ))
            })
            .collect();
        let _ = writeln!(
            out,
            "# Attention regions beyond causal: (modality, kind, argument).\nMASKS = [{}]\n",
            masks.join(", ")
        );
        let mask_tokens: Vec<String> = g
            .masks
            .iter()
            .filter_map(|m| match m.region {
                Region::MaskTokens { min_rate, max_rate } => Some(format!(
                    "{}: ({min_rate:?}, {max_rate:?})",
                    py_str(&m.modality)
                )),
                _ => None,
            })
            .collect();
        let _ = writeln!(
            out,
            "# `mask_tokens` modalities and their rate range.\nMASK_TOKENS = {{{}}}\n",
            mask_tokens.join(", ")
        );
        let mut stems = Vec::new();
        for n in g.graph.node_weights() {
            if let NodeKind::Input { modality, stem } = &n.kind {
                let s = match stem {
                    StemKind::Tokens { vocab, max_len } => format!(
                        "dict(name={}, kind=\"tokens\", vocab={vocab}, max_len={max_len})",
                        py_str(modality)
                    ),
                    StemKind::Codes { codebook, rows } => format!(
                        "dict(name={}, kind=\"codes\", vocab={codebook}, rows={rows})",
                        py_str(modality)
                    ),
                    StemKind::Features { dim, rows, .. } => format!(
                        "dict(name={}, kind=\"features\", dim={dim}, rows={rows})",
                        py_str(modality)
                    ),
                };
                stems.push(s);
            }
        }
        let _ = writeln!(
            out,
            "# The stems (inputs).\nSTEMS = [\n    {},\n]\n",
            stems.join(",\n    ")
        );
        let mut heads = Vec::new();
        for &n in &self.plan.order {
            let (NodeKind::Objective { target, objective }, Owner::Head(h)) =
                (&self.node(n).kind, &self.node(n).owner)
            else {
                continue;
            };
            let (shift, loss) = match objective.kind {
                ObjectiveKind::MaskedRegression { shift, loss } => (
                    shift,
                    match loss {
                        RegressionLoss::Mse => "mse",
                        RegressionLoss::Cosine => "cosine",
                    },
                ),
                ObjectiveKind::NextToken | ObjectiveKind::VqCe => (
                    self.g.target_shift(target.as_deref().unwrap_or_default()),
                    "mse",
                ),
                _ => (0, "mse"),
            };
            heads.push(format!(
                "dict(head={}, objective={}, target={}, weight={:?}, z_loss={:?}, shift={shift}, loss={}, skip={})",
                py_str(h),
                py_str(objective.kind.name()),
                target.as_deref().map_or("None".to_string(), py_str),
                objective.weight,
                objective.z_loss,
                py_str(loss),
                self.g.prefix_skip(target.as_deref().unwrap_or_default())
            ));
        }
        let _ = writeln!(
            out,
            "# The trained heads and their objectives.\nHEADS = [\n    {},\n]\n",
            heads.join(",\n    ")
        );
        let loops: Vec<String> = self
            .plan
            .loops
            .iter()
            .filter_map(|l| match l.steps {
                Steps::Sampled { mean, .. } => {
                    Some(format!("{}: {mean}", py_str(&self.node(l.node).path)))
                }
                _ => None,
            })
            .collect();
        let _ = writeln!(out, "# `sampled` loops and their mean passes (training draws the passes per step).\nSAMPLED_LOOPS = {{{}}}\n", loops.join(", "));
        let domains = self.plan.block_domains(self.g);
        let d: Vec<String> = domains.iter().map(|x| py_str(x)).collect();
        let _ = writeln!(
            out,
            "# The position domains blocks attend over.\nDOMAINS = [{}]\n",
            d.join(", ")
        );
    }

    /// `src`'s value read over the positions of `rows`.
    fn read(&self, src: NodeIndex, rows: &str) -> Result<String, GenError> {
        let from = &self.node(src).rows;
        let v = &self.vars[&src];
        if from == rows {
            Ok(v.clone())
        } else if from == "S" {
            Ok(format!("gather({v}, layout, {})", py_str(rows)))
        } else {
            Err(GenError::Unsupported(format!(
                "`{}` holds `{from}` positions, but `{rows}` are read",
                self.node(src).path
            )))
        }
    }

    fn input(&self, n: NodeIndex) -> Result<String, GenError> {
        let (src, _) = self.g.data_inputs(n).first().copied().ok_or_else(|| {
            GenError::Unsupported(format!("`{}` has no input", self.node(n).path))
        })?;
        self.read(src, &self.node(n).rows)
    }

    /// The statements computing node `n`.
    fn stmt(&self, n: NodeIndex, lines: &mut Vec<String>) -> Result<(), GenError> {
        let node = self.node(n);
        let v = &self.vars[&n];
        let at = access(&node.path);
        let shape = format!(
            "  # [b, n_{}, {}]",
            comment(node.rows.trim_start_matches("S_")),
            node.width
        );
        let line = match &node.kind {
            NodeKind::Input { modality, stem } => match stem {
                StemKind::Features { .. } => format!("{v} = features[{}]{shape}", py_str(modality)),
                _ => return Ok(()),
            },
            NodeKind::Embedding(_) => {
                let (src, _) = self.g.data_inputs(n)[0];
                let NodeKind::Input { modality, .. } = &self.node(src).kind else {
                    return Err(GenError::Unsupported(format!(
                        "`{}` reads something other than ids",
                        node.path
                    )));
                };
                format!("{v} = {at}(ids[{}]){shape}", py_str(modality))
            }
            NodeKind::Positions { .. } => format!("{v} = {at}({}){shape}", self.input(n)?),
            NodeKind::Adapter { mlp, .. } | NodeKind::Mlp { mlp, .. } => {
                format!(
                    "{v} = stack({at}, {}, {}){shape}",
                    py_str(act(mlp.act)),
                    self.input(n)?
                )
            }
            NodeKind::Merge { .. } => {
                let mut parts = Vec::new();
                for (src, _) in self.g.data_inputs(n) {
                    let Owner::Stem(stem) = &self.node(src).owner else {
                        return Err(GenError::Unsupported(format!(
                            "the trunk reads `{}`, which is not a stem",
                            self.node(src).path
                        )));
                    };
                    parts.push(format!(
                        "{}: {}",
                        py_str(stem),
                        self.read(src, &self.node(src).rows)?
                    ));
                }
                format!("{v} = merge({{{}}}, layout){shape}", parts.join(", "))
            }
            NodeKind::Alias => format!("{v} = {}", self.input(n)?),
            NodeKind::Block(_) => format!(
                "{v} = {at}({}, masks[{}]){shape}",
                self.input(n)?,
                py_str(&node.rows)
            ),
            NodeKind::Norm(_) | NodeKind::Linear { .. } => {
                format!("{v} = {at}({}){shape}", self.input(n)?)
            }
            NodeKind::Projection { projection, .. } => {
                let x = self.input(n)?;
                let y = match projection {
                    Projection::Tied { .. } => {
                        let emb = self.g.tied_embedding(n).ok_or_else(|| {
                            GenError::Unsupported(format!("`{}` is tied to nothing", node.path))
                        })?;
                        format!("{x} @ {}.weight.t()", access(&self.node(emb).path))
                    }
                    Projection::Mlp { act: a, .. } => {
                        format!("{at}[1](ACTS[{}]({at}[0]({x})))", py_str(act(*a)))
                    }
                    Projection::Linear { .. } => format!("{at}({x})"),
                    Projection::None => x,
                };
                lines.push(format!("{v} = {y}{shape}"));
                if let Owner::Head(h) = &node.owner {
                    lines.push(format!("heads[{}] = {v}", py_str(h)));
                }
                return Ok(());
            }
            NodeKind::Objective { objective, .. } => {
                if let (Owner::Head(h), ObjectiveKind::Diffusion { .. }) =
                    (&node.owner, &objective.kind)
                {
                    let x = self.input(n)?;
                    lines.push(format!(
                        "heads.setdefault({}, {x})  # a diffusion head outputs its latent",
                        py_str(h)
                    ));
                }
                return Ok(());
            }
            NodeKind::Loop { .. } => return Ok(()),
        };
        lines.push(line);
        if let Some((_, modality)) = self.plan.mask_points.iter().find(|(p, _)| *p == n) {
            let m = py_str(modality);
            lines.push(format!(
                "if {m} in masked:  # rows replaced by the learned mask token"
            ));
            lines.push(format!(
                "    {v} = torch.where(masked[{m}][..., None], {}.mask_token.expand_as({v}), {v})",
                access(modality)
            ));
        }
        Ok(())
    }

    fn forward(&self, out: &mut String) -> Result<(), GenError> {
        out.push_str("    def forward(self, batch):\n");
        out.push_str("        \"\"\"batch: layout [(stem, n)], ids {stem: [b, n] long}, features {stem: [b, n, dim]},\n        masked {stem: [b, n] bool}, steps {loop: passes} (docs/runtime.md).\"\"\"\n");
        out.push_str("        layout = batch[\"layout\"]\n        ids, features = batch.get(\"ids\", {}), batch.get(\"features\", {})\n        masked, drawn = batch.get(\"masked\", {}), batch.get(\"steps\", {})\n");
        out.push_str("        device = next(self.parameters()).device\n");
        out.push_str("        masks = attention_masks(layout, DOMAINS, MASKS, device, self.flex and device.type == \"cuda\", masked)\n");
        out.push_str("        heads, steps = {}, {}\n");
        let mut lines = Vec::new();
        for &n in &self.plan.order {
            self.stmt(n, &mut lines)?;
            for l in self.plan.loops.iter().filter(|l| l.source == n) {
                self.repeat(l, &mut lines)?;
            }
        }
        for l in lines {
            let _ = writeln!(out, "        {l}");
        }
        out.push_str("        return heads, steps\n");
        Ok(())
    }

    fn repeat(&self, l: &LoopPlan, lines: &mut Vec<String>) -> Result<(), GenError> {
        let g = self.g;
        let name = py_str(&self.node(l.node).path);
        let target = &self.vars[&l.target];
        let (passes, keep, desc) = match &l.steps {
            Steps::Fixed { n } => (n.to_string(), n.to_string(), format!("fixed({n})")),
            Steps::Sampled { mean, backprop } => (
                format!("max(1, drawn.get({name}, {mean}))"),
                backprop.to_string(),
                format!("sampled(mean {mean}, backprop {backprop})"),
            ),
            Steps::Entropy { max, .. } => (
                max.to_string(),
                max.to_string(),
                format!("entropy, at most {max}"),
            ),
        };
        lines.push(format!(
            "# loop `{}`: {} -> {}, {desc}: the layers between run again",
            comment(&self.node(l.node).path),
            comment(&self.node(l.source).path),
            comment(&self.node(l.target).path)
        ));
        lines.push(format!("original, passes, done = {target}, {passes}, 1"));
        lines.push("while done < passes:".into());
        let mut body = Vec::new();
        if let Steps::Entropy {
            head, threshold, ..
        } = &l.steps
        {
            // The gate: the head's layers on the current values, its mean entropy.
            let chain = self.plan.head_layers(self.g, head);
            let mut gate = Vec::new();
            for n in chain {
                self.stmt(n, &mut gate)?;
            }
            body.push(format!(
                "# the gate: head `{}` on the current values",
                comment(head)
            ));
            body.extend(gate);
            body.push(format!(
                "if entropy(heads[{}]) <= {threshold:?}:",
                py_str(head)
            ));
            body.push("    break".into());
        }
        body.push(format!(
            "state = {}",
            self.read(l.source, &self.node(l.target).rows)?
        ));
        body.push(format!("if passes - done > {keep} - 1:  # truncated backprop: no gradient through earlier passes"));
        body.push("    state = state.detach()".into());
        if l.shift > 0 {
            body.push(format!("state = shifted(state, original, {})", l.shift));
        }
        body.push(match l.inject {
            Inject::Add => format!("{target} = original + state"),
            Inject::Replace => format!("{target} = state"),
            Inject::ConcatLinear => format!(
                "{target} = {}(torch.cat([state, original], dim=-1))",
                access(&self.node(l.node).path)
            ),
        });
        for &n in &l.segment {
            self.stmt(n, &mut body)?;
        }
        body.push("done += 1".into());
        lines.extend(body.into_iter().map(|b| format!("    {b}")));
        lines.push(format!("steps[{name}] = done"));
        let _ = g;
        Ok(())
    }
}

fn readme(name: &str) -> String {
    format!(
        "# `{}` in PyTorch\n\nGenerated by `archc gen torch` from the checked graph; regenerate rather than edit.\n\n\
         | file | what |\n| --- | --- |\n| `model.py` | the model: `Model()(batch)` -> (outputs per head, passes per loop); parameter names equal the `.arch` paths |\n\
         | `train.py` | training: `python train.py --data shards.safetensors`, or `torchrun --nproc-per-node N train.py --parallel ddp\\|fsdp ...` |\n\
         | `requirements.txt` | `pip install -r requirements.txt` |\n\n\
         Weights: `train.py --init W.safetensors` loads a file written by `archc train` (its `model.safetensors`) and\n\
         `--out DIR` writes `DIR/model.safetensors`, which `archc run --weights` and `archc sample` read.\n\
         Data: the multimodal shard format of archc's docs/data.md (`archc data` writes the built-in task as shards).\n",
        comment(name)
    )
}
