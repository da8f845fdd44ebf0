//! What each layer is, as plain data: the lowered form of archc's checked graph that the
//! layers are built from (archc's runtime lowers its IR to these; a generated crate writes
//! them out as literals). What each computes is archc's docs/semantics.md.

/// LayerNorm (biased variance, eps inside the root, with or without a bias) or RMSNorm,
/// over the last dimension.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum NormKind {
    Rms,
    Layer { bias: bool },
}

#[derive(Clone, Copy, Debug, PartialEq)]
pub struct NormSpec {
    pub kind: NormKind,
    pub eps: f64,
}

/// An activation between the layers of an MLP stack or a projection.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Act {
    Gelu,
    Relu,
    Silu,
    Tanh,
}

/// A block's MLP: `down(act(up(x)))`, or `down(silu(gate(x)) * up(x))` for SwiGLU.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum MlpKind {
    Gelu,
    /// GELU with the tanh approximation (GPT-2's `gelu_new`).
    GeluTanh,
    Relu,
    Swiglu,
}

#[derive(Clone, Copy, Debug, PartialEq)]
pub struct MlpSpec {
    pub kind: MlpKind,
    pub hidden: usize,
    pub bias: bool,
}

/// Where a block's norms sit.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Placement {
    /// `x = x + f(norm(x))`
    Pre,
    /// `x = norm(x + f(x))`
    Post,
    /// `x = x + norm(f(x))` (Chameleon's swin norm)
    ResPost,
    /// `x = x + post(f(pre(x)))`
    Sandwich,
}

/// A block's attention: heads, kv heads (grouped-query when fewer), the width of a head,
/// biases on q, k, v and o, a per-head norm of q and k, and the RoPE base.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct AttentionSpec {
    pub heads: usize,
    pub kv_heads: usize,
    pub head_dim: usize,
    pub bias: bool,
    pub qk_norm: Option<NormSpec>,
    /// `None`: no rotary positions.
    pub rope_theta: Option<f64>,
}

#[derive(Clone, Copy, Debug, PartialEq)]
pub struct BlockSpec {
    pub width: usize,
    pub norm: NormSpec,
    pub placement: Placement,
    pub attention: AttentionSpec,
    pub mlp: MlpSpec,
}

/// A stack of linear maps `input -> hidden -> ... -> out` with `act` between them (an
/// adapter, a stem or head MLP).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct StackSpec {
    pub input: usize,
    pub hidden: usize,
    pub out: usize,
    pub layers: usize,
    pub bias: bool,
    pub act: Act,
}
