//! The resolved model: every name looked up, every expression evaluated, every size a
//! positive integer. Produced by `resolve`, consumed by `graph`. The layer specs here
//! are also the payloads of the checked graph's nodes, so they serialise (without spans).

use crate::ast::LintLevel;
use crate::diag::Lint;
use crate::eval::Value;
use crate::span::Span;
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum NormKind {
    Layernorm { bias: bool },
    Rmsnorm,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Norm {
    #[serde(flatten)]
    pub kind: NormKind,
    pub eps: f64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Placement {
    Pre,
    Post,
    ResPost,
    Sandwich,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Positions {
    Rope { theta: f64 },
    None,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Attention {
    pub heads: u64,
    pub kv_heads: u64,
    pub head_dim: u64,
    pub positions: Positions,
    pub qk_norm: bool,
    pub bias: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MlpKind {
    /// Exact GELU, x·Φ(x).
    Gelu,
    /// The tanh approximation (GPT-2's `gelu_new`).
    GeluTanh,
    Swiglu,
    Relu,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Mlp {
    pub kind: MlpKind,
    pub hidden: u64,
    pub bias: bool,
}

/// One transformer block, fully evaluated.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct BlockSpec {
    /// The `block` definition it instantiates.
    pub def: String,
    pub width: u64,
    pub norm: Norm,
    pub placement: Placement,
    pub attention: Attention,
    pub mlp: Mlp,
    pub dropout: f64,
    #[serde(default)]
    pub frozen: bool,
    /// The span of the instantiation (`llama x 32`); the definition's is `def_span`.
    #[serde(skip)]
    pub span: Span,
    #[serde(skip)]
    pub def_span: Span,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Act {
    Gelu,
    Relu,
    Silu,
    Tanh,
}

/// An n-layer MLP (`layers` linear maps with `act` between them).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MlpStack {
    pub layers: u64,
    pub hidden: u64,
    pub out: u64,
    pub act: Act,
    pub bias: bool,
    #[serde(default)]
    pub frozen: bool,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Embedding {
    pub vocab: u64,
    pub dim: u64,
    #[serde(default)]
    pub frozen: bool,
    /// `next_scale(dim = d)`: VAR's teacher-forced next-scale input. Position p of scale k
    /// is fed the embeddings of scales < k (each upsampled to the finest scale, summed,
    /// then area-downsampled to scale k), and scale 0 a learned `start` vector; so the
    /// head predicts code p itself. The scales are the modality's `scales(...)` mask.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub next_scale: bool,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum StemKind {
    Tokens { vocab: u64, max_len: u64 },
    Features { dim: u64, rows: u64, frozen: bool },
    Codes { codebook: u64, rows: u64 },
}

impl StemKind {
    pub fn name(&self) -> &'static str {
        match self {
            StemKind::Tokens { .. } => "tokens",
            StemKind::Features { .. } => "features",
            StemKind::Codes { .. } => "codes",
        }
    }
}

/// A reference to a port, resolved in `graph`.
#[derive(Clone, Debug, PartialEq)]
pub struct PortRef {
    pub path: Vec<String>,
    pub span: Span,
}

impl PortRef {
    pub fn text(&self) -> String {
        self.path.join(".")
    }
}

#[derive(Clone, Debug)]
pub struct Stem {
    pub name: String,
    pub span: Span,
    pub kind: StemKind,
    pub embed: Option<(Embedding, Span)>,
    pub positions: Option<(u64, Span)>,
    pub adapter: Option<(MlpStack, Span)>,
    pub blocks: Vec<BlockSpec>,
}

#[derive(Clone, Debug)]
pub struct Trunk {
    pub name: String,
    pub span: Span,
    /// Stems (or ports) feeding the trunk, with spans; `None` = every stem.
    pub from: Option<Vec<PortRef>>,
    pub blocks: Vec<BlockSpec>,
    /// A final norm after the last block, shared by every head that reads `trunk.out`.
    pub norm: Option<(Norm, Span)>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum HeadKind {
    Text,
    Codes,
    Features,
    Diffusion,
    Classifier { classes: u64 },
}

impl HeadKind {
    pub fn name(&self) -> &'static str {
        match self {
            HeadKind::Text => "text",
            HeadKind::Codes => "codes",
            HeadKind::Features => "features",
            HeadKind::Diffusion => "diffusion",
            HeadKind::Classifier { .. } => "classifier",
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Projection {
    Linear {
        bias: bool,
    },
    /// Shares the embedding matrix of a stem.
    Tied {
        stem: String,
    },
    Mlp {
        hidden: u64,
        act: Act,
    },
    None,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RegressionLoss {
    Mse,
    Cosine,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ObjectiveKind {
    NextToken,
    VqCe,
    MaskedRegression { shift: u64, loss: RegressionLoss },
    Diffusion { layers: u64, width: u64, steps: u64 },
    Classify,
}

impl ObjectiveKind {
    pub fn name(&self) -> &'static str {
        match self {
            ObjectiveKind::NextToken => "next_token",
            ObjectiveKind::VqCe => "vq_ce",
            ObjectiveKind::MaskedRegression { .. } => "masked_regression",
            ObjectiveKind::Diffusion { .. } => "diffusion",
            ObjectiveKind::Classify => "classify",
        }
    }
    /// Objectives that predict the next position of their target autoregressively.
    pub fn is_next_position(&self) -> bool {
        matches!(self, ObjectiveKind::NextToken | ObjectiveKind::VqCe)
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Objective {
    #[serde(flatten)]
    pub kind: ObjectiveKind,
    pub weight: f64,
    pub z_loss: f64,
    #[serde(skip)]
    pub span: Span,
}

#[derive(Clone, Debug)]
pub struct Head {
    pub name: String,
    pub span: Span,
    pub kind: HeadKind,
    pub target: Option<(String, Span)>,
    pub from: PortRef,
    pub blocks: Vec<BlockSpec>,
    pub norm: Option<(Norm, Span)>,
    pub projection: (Projection, Span),
    pub objective: Option<Objective>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum LayerKind {
    Linear { out: u64, bias: bool },
    Norm(Norm),
    Mlp(MlpStack),
    Block(BlockSpec),
}

#[derive(Clone, Debug)]
pub struct Layer {
    pub name: String,
    pub span: Span,
    pub kind: LayerKind,
    pub from: PortRef,
}

#[derive(Clone, Debug)]
pub struct Alias {
    pub name: String,
    pub span: Span,
    pub target: PortRef,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Steps {
    Fixed {
        n: u64,
    },
    /// Huginn: the number of steps is drawn per batch with this mean; gradients flow
    /// through the last `backprop` steps only.
    Sampled {
        mean: u64,
        backprop: u64,
    },
    /// Loop while `head`'s output entropy (nats) is above `threshold`, at most `max` times.
    Entropy {
        head: String,
        threshold: f64,
        max: u64,
    },
}

impl Steps {
    /// Steps taken for effective-depth counting: fixed n, the sampled mean, or the max.
    pub fn nominal(&self) -> u64 {
        match self {
            Steps::Fixed { n } => *n,
            Steps::Sampled { mean, .. } => *mean,
            Steps::Entropy { max, .. } => *max,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Inject {
    Add,
    Replace,
    ConcatLinear,
}

#[derive(Clone, Debug)]
pub struct Loop {
    pub name: String,
    pub span: Span,
    pub from: PortRef,
    pub to: PortRef,
    pub steps: Steps,
    pub steps_span: Span,
    pub gate_span: Span,
    pub inject: Inject,
    /// Position t receives the source's value at t - shift (0: in place).
    pub shift: u64,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Region {
    Causal,
    Bidirectional,
    Prefix {
        len: u64,
    },
    MaskTokens {
        min_rate: f64,
        max_rate: f64,
    },
    Scales {
        sides: Vec<u64>,
    },
    /// GPT-BERT's masked next-token prediction, with its `mask_tokens`: the first
    /// round(b · causal) examples of a training batch are left unmasked and causal; an
    /// example with masked rows attends both ways within the modality's spans and is
    /// scored by `next_token`/`vq_ce` only where the predicted row is masked.
    Mntp {
        causal: f64,
    },
}

impl Region {
    pub fn name(&self) -> &'static str {
        match self {
            Region::Causal => "causal",
            Region::Bidirectional => "bidirectional",
            Region::Prefix { .. } => "prefix",
            Region::MaskTokens { .. } => "mask_tokens",
            Region::Scales { .. } => "scales",
            Region::Mntp { .. } => "mntp",
        }
    }
}

#[derive(Clone, Debug)]
pub struct Mask {
    pub modality: String,
    pub modality_span: Span,
    pub region: Region,
    pub span: Span,
}

/// A lint level set by an attribute: recorded in the checked graph.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct LintAttr {
    pub lint: Lint,
    pub level: LintLevel,
    /// `None` for the whole file, else the item's name.
    pub item: Option<String>,
    pub span: Span,
}

#[derive(Clone, Debug)]
pub struct Param {
    pub name: String,
    pub value: Value,
    pub overridden: bool,
    pub span: Span,
}

#[derive(Clone, Debug, Default)]
pub struct Model {
    pub name: String,
    pub params: Vec<Param>,
    pub stems: Vec<Stem>,
    pub trunk: Option<Trunk>,
    pub heads: Vec<Head>,
    pub layers: Vec<Layer>,
    pub aliases: Vec<Alias>,
    pub loops: Vec<Loop>,
    pub masks: Vec<Mask>,
    pub lints: Vec<LintAttr>,
}

impl Model {
    /// The last attribute setting `lint` on the item called `item`.
    pub fn item_lint(&self, lint: Lint, item: &str) -> Option<&LintAttr> {
        self.lints
            .iter()
            .rev()
            .find(|a| a.lint == lint && a.item.as_deref() == Some(item))
    }

    /// The last file-level (`#![...]`) attribute setting `lint`.
    pub fn file_lint(&self, lint: Lint) -> Option<&LintAttr> {
        self.lints
            .iter()
            .rev()
            .find(|a| a.lint == lint && a.item.is_none())
    }
}
