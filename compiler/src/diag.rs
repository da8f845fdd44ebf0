//! Diagnostics as data. Each variant carries spans and facts, never prose; `render`
//! is the one place that turns them into messages, labels and help. Each variant has
//! a stable code (`archc explain CODE`), and the lint-controlled ones a lint name.

use crate::span::Span;

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Warning,
    Error,
}

/// One finding, with the severity it ends up with after lint levels are applied.
#[derive(Clone, Debug)]
pub struct Diagnostic {
    pub error: Error,
    pub severity: Severity,
}

#[derive(Clone, Debug, PartialEq)]
pub enum Error {
    // ---- A00xx: reading the file ----
    Syntax {
        at: Span,
        expected: Vec<String>,
        found: Option<String>,
        /// A bracket left open at the end of the text (often the real cause).
        unclosed: Option<Span>,
    },
    InvalidUtf8 {
        at: Span,
    },
    /// `what`: what is too deep or too long ("brackets nested", ...).
    TooDeep {
        at: Span,
        limit: usize,
        what: &'static str,
    },
    NameTooLong {
        at: Span,
        len: usize,
        limit: usize,
    },
    NumberTooLarge {
        at: Span,
        digits: usize,
    },
    /// An IR document that is not YAML of the IR's shape (`first`: where a repeated key
    /// first appears).
    IrMalformed {
        at: Span,
        reason: String,
        first: Option<Span>,
    },
    /// An IR document written for another IR schema.
    IrSchema {
        at: Span,
        found: String,
        expected: u32,
    },
    /// A value of an IR document (`field`, a path like `nodes[3].width`) that its layers
    /// do not give.
    IrInconsistent {
        at: Span,
        field: String,
        reason: String,
    },

    // ---- A01xx: names and items ----
    UnknownName {
        at: Span,
        name: String,
        what: &'static str,
        suggestion: Option<String>,
    },
    Duplicate {
        at: Span,
        first: Span,
        name: String,
        what: &'static str,
    },
    UnknownKey {
        at: Span,
        key: String,
        item: String,
        expected: Vec<&'static str>,
        suggestion: Option<String>,
    },
    MissingKey {
        at: Span,
        key: &'static str,
        item: String,
        example: &'static str,
    },
    WrongType {
        at: Span,
        expected: String,
        found: String,
    },
    UnknownOption {
        at: Span,
        found: String,
        what: &'static str,
        choices: Vec<&'static str>,
        suggestion: Option<String>,
    },
    UnusedStem {
        at: Span,
        name: String,
    },
    /// A stem the trunk does not read, in a model with a trunk (`from`: the trunk's list).
    StemNotMerged {
        at: Span,
        name: String,
        from: Option<Span>,
    },
    UnusedHead {
        at: Span,
        name: String,
    },
    UnusedBlock {
        at: Span,
        name: String,
    },
    /// A layer or alias (`what`) whose output nothing reads.
    UnusedLayer {
        at: Span,
        name: String,
        what: &'static str,
    },
    /// `item`: the item the attribute sits on (`None` at file level).
    UnknownLint {
        at: Span,
        name: String,
        suggestion: Option<String>,
        item: Option<String>,
    },
    MissingBlockArg {
        at: Span,
        block: String,
        arg: String,
    },
    MultipleTrunks {
        at: Span,
        first: Span,
    },
    /// A model without a stem (nothing comes in) or without a head (nothing comes out).
    EmptyModel {
        at: Span,
        no_stem: bool,
        no_head: bool,
        /// `at` is the trunk, whose output no head reads.
        at_trunk: bool,
    },

    // ---- A02xx: evaluating expressions ----
    Overflow {
        at: Span,
        op: &'static str,
    },
    DivisionByZero {
        at: Span,
    },
    InexactDivision {
        at: Span,
        lhs: i64,
        rhs: i64,
    },
    /// `zero_ok`: 0 is fine (a loss weight), negative is not.
    NotPositive {
        at: Span,
        what: String,
        value: String,
        zero_ok: bool,
    },
    ParamCycle {
        at: Span,
        name: String,
        chain: Vec<String>,
    },
    /// A number outside the range its meaning allows (`allowed` says which, and why).
    OutOfRange {
        at: Span,
        what: String,
        value: String,
        allowed: String,
    },
    /// `scale`: the name is a scale (`--smoke`, `--scale`), not a parameter.
    BadOverride {
        name: String,
        reason: String,
        suggestion: Option<String>,
        scale: bool,
    },

    // ---- A03xx: width flow ----
    WidthMismatch {
        producer: Span,
        producer_name: String,
        producer_width: u64,
        consumer: Span,
        consumer_name: String,
        consumer_width: u64,
    },
    HeadsDoNotDivide {
        at: Span,
        heads: u64,
        width: u64,
    },
    KvHeadsDoNotDivide {
        at: Span,
        kv_heads: u64,
        heads: u64,
    },
    HeadDimMismatch {
        at: Span,
        heads: u64,
        head_dim: u64,
        width: u64,
    },
    TiedShapeMismatch {
        at: Span,
        embedding: Span,
        embedding_name: String,
        embedding_shape: [u64; 2],
        projection_shape: [u64; 2],
    },
    /// Learned positions with fewer rows than the stem's sequence holds.
    PositionsTooShort {
        at: Span,
        stem: String,
        max_len: u64,
        rows: u64,
    },

    // ---- A04xx: graph structure and loops ----
    Cycle {
        at: Span,
        members: Vec<String>,
        spans: Vec<Span>,
    },
    LoopNotBackward {
        at: Span,
        source: String,
        target: String,
    },
    LoopSteps {
        at: Span,
        steps: i64,
        max: i64,
    },
    BadPort {
        at: Span,
        path: String,
        reason: String,
    },
    GateNotText {
        at: Span,
        head: String,
        head_span: Span,
        kind: String,
    },
    /// An entropy gate whose head reads `reads`, which the loop (source `source`) does not
    /// update: between passes it would be stale or not yet computed.
    GateOutsideLoop {
        at: Span,
        loop_name: String,
        head: String,
        reads: String,
        source: String,
    },
    /// Two loops whose segments share layers.
    LoopsOverlap {
        at: Span,
        name: String,
        other: Span,
        other_name: String,
    },

    // ---- A05xx: masks ----
    MaskUnknownModality {
        at: Span,
        modality: String,
        suggestion: Option<String>,
    },
    RateOutOfRange {
        at: Span,
        value: f64,
    },
    FutureTokenLeak {
        mask: Span,
        /// `bidirectional` or `scales`.
        region: &'static str,
        modality: String,
        head: Span,
        head_name: String,
        objective: Span,
        objective_name: &'static str,
        /// The target is a `next_scale` stem (it predicts each position's own code).
        next_scale: bool,
    },
    BadScales {
        at: Span,
        reason: String,
    },
    /// A `next_scale` stem whose rows no first scales of a `scales` mask cover exactly
    /// (`scales`: the mask's sides and span, when there is one).
    NextScaleWithoutScales {
        at: Span,
        stem: String,
        rows: u64,
        scales: Option<(Vec<u64>, Span)>,
    },

    // ---- A06xx: heads and objectives ----
    NoObjective {
        at: Span,
        head: String,
        kind: String,
    },
    /// `target` is empty when none was written; `found_kind` is set when the target is a
    /// stem of another kind; `candidates` when several stems would fit.
    TargetWithoutStem {
        at: Span,
        target: String,
        needs: &'static str,
        found_kind: Option<&'static str>,
        candidates: Vec<String>,
        suggestion: Option<String>,
    },
    ObjectiveMismatch {
        at: Span,
        objective: String,
        head_kind: String,
        expected: Vec<&'static str>,
    },

    // ---- A07xx: the output-latent rule ----
    /// `allowed`: the span of the `allow(output_latent_sharing)` that lets it through.
    OutputLatentShared {
        text_head: Span,
        text_head_name: String,
        consumer: Span,
        consumer_name: String,
        /// The item the consumer belongs to (its lint attributes apply first).
        consumer_item: String,
        /// The text head already owns blocks (so the fix is to read before them).
        text_head_has_blocks: bool,
        value: Span,
        value_name: String,
        allowed: Option<Span>,
    },

    // ---- A08xx: resources ----
    TooManyParams {
        at: Span,
        params: u128,
        bytes: u128,
        limit_bytes: u128,
    },
    TooManyBlocks {
        at: Span,
        count: u128,
        limit: u64,
    },

    /// An error already reported elsewhere (a parameter that failed to evaluate, read
    /// again). Never rendered: `resolve` drops it.
    Poisoned,
}

/// Defines [`Code`] from the one list of codes: each has an explain page,
/// `explain/CODE.md`, built into the binary, so a code without a page does not build, and
/// [`Error::code`] matches every variant to one of these, so a variant without a listed
/// code does not build either.
macro_rules! codes {
    ($($code:ident),* $(,)?) => {
        /// A diagnostic's stable code (`archc explain CODE`).
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum Code {
            $($code,)*
            /// An error already reported elsewhere ([`Error::Poisoned`]): never rendered,
            /// so it has no page.
            Internal,
        }

        impl Code {
            /// Every code that can be rendered, in order.
            pub const ALL: &'static [Code] = &[$(Code::$code),*];

            pub fn as_str(self) -> &'static str {
                match self {
                    $(Code::$code => stringify!($code),)*
                    Code::Internal => "A0000",
                }
            }

            /// Its explain page (`compiler/src/explain/CODE.md`).
            pub fn page(self) -> Option<&'static str> {
                match self {
                    $(Code::$code => Some(include_str!(concat!("explain/", stringify!($code), ".md"))),)*
                    Code::Internal => None,
                }
            }
        }
    };
}

codes!(
    A0001, A0002, A0003, A0004, A0005, A0006, A0007, A0008, A0101, A0102, A0103, A0104, A0105,
    A0106, A0107, A0108, A0109, A0110, A0111, A0112, A0113, A0114, A0201, A0202, A0203, A0204,
    A0205, A0206, A0207, A0301, A0302, A0303, A0304, A0305, A0306, A0401, A0402, A0403, A0404,
    A0405, A0406, A0407, A0501, A0502, A0503, A0504, A0505, A0601, A0602, A0603, A0701, A0702,
    A0801, A0802,
);

impl std::fmt::Display for Code {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl PartialEq<&str> for Code {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

/// Lints: checks whose level a file may change with `allow`, `warn` or `deny`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Lint {
    OutputLatentSharing,
    UnusedStem,
    UnusedHead,
    UnusedBlock,
    UnusedLayer,
    UnknownLint,
}

pub const LINTS: &[(Lint, &str, Severity)] = &[
    (
        Lint::OutputLatentSharing,
        "output_latent_sharing",
        Severity::Error,
    ),
    (Lint::UnusedStem, "unused_stem", Severity::Warning),
    (Lint::UnusedHead, "unused_head", Severity::Warning),
    (Lint::UnusedBlock, "unused_block", Severity::Warning),
    (Lint::UnusedLayer, "unused_layer", Severity::Warning),
    (Lint::UnknownLint, "unknown_lint", Severity::Warning),
];

impl Lint {
    pub fn name(self) -> &'static str {
        LINTS.iter().find(|l| l.0 == self).map_or("", |l| l.1)
    }
    pub fn default_severity(self) -> Severity {
        LINTS
            .iter()
            .find(|l| l.0 == self)
            .map_or(Severity::Error, |l| l.2)
    }
    pub fn from_name(name: &str) -> Option<Lint> {
        LINTS.iter().find(|l| l.1 == name).map(|l| l.0)
    }
}

impl Error {
    pub fn code(&self) -> Code {
        use Error::*;
        match self {
            Syntax { .. } => Code::A0001,
            InvalidUtf8 { .. } => Code::A0002,
            TooDeep { .. } => Code::A0003,
            NumberTooLarge { .. } => Code::A0004,
            NameTooLong { .. } => Code::A0005,
            IrMalformed { .. } => Code::A0006,
            IrSchema { .. } => Code::A0007,
            IrInconsistent { .. } => Code::A0008,
            UnknownName { .. } => Code::A0101,
            Duplicate { .. } => Code::A0102,
            UnknownKey { .. } => Code::A0103,
            MissingKey { .. } => Code::A0104,
            WrongType { .. } => Code::A0105,
            UnknownOption { .. } => Code::A0106,
            UnusedStem { .. } => Code::A0107,
            UnusedHead { .. } => Code::A0108,
            UnusedBlock { .. } => Code::A0109,
            UnknownLint { .. } => Code::A0110,
            MissingBlockArg { .. } => Code::A0104,
            MultipleTrunks { .. } => Code::A0111,
            EmptyModel { .. } => Code::A0112,
            StemNotMerged { .. } => Code::A0113,
            UnusedLayer { .. } => Code::A0114,
            Overflow { .. } => Code::A0201,
            DivisionByZero { .. } => Code::A0202,
            InexactDivision { .. } => Code::A0203,
            NotPositive { .. } => Code::A0204,
            ParamCycle { .. } => Code::A0205,
            BadOverride { .. } => Code::A0206,
            OutOfRange { .. } => Code::A0207,
            WidthMismatch { .. } => Code::A0301,
            HeadsDoNotDivide { .. } => Code::A0302,
            KvHeadsDoNotDivide { .. } => Code::A0303,
            HeadDimMismatch { .. } => Code::A0304,
            TiedShapeMismatch { .. } => Code::A0305,
            PositionsTooShort { .. } => Code::A0306,
            Cycle { .. } => Code::A0401,
            LoopNotBackward { .. } => Code::A0402,
            LoopSteps { .. } => Code::A0403,
            BadPort { .. } => Code::A0404,
            GateNotText { .. } => Code::A0405,
            GateOutsideLoop { .. } => Code::A0406,
            LoopsOverlap { .. } => Code::A0407,
            MaskUnknownModality { .. } => Code::A0501,
            RateOutOfRange { .. } => Code::A0502,
            FutureTokenLeak { .. } => Code::A0503,
            BadScales { .. } => Code::A0504,
            NextScaleWithoutScales { .. } => Code::A0505,
            NoObjective { .. } => Code::A0601,
            TargetWithoutStem { .. } => Code::A0602,
            ObjectiveMismatch { .. } => Code::A0603,
            OutputLatentShared { allowed: None, .. } => Code::A0701,
            OutputLatentShared {
                allowed: Some(_), ..
            } => Code::A0702,
            TooManyParams { .. } => Code::A0801,
            TooManyBlocks { .. } => Code::A0802,
            Poisoned => Code::Internal,
        }
    }

    /// The lint that controls this diagnostic's level, if any.
    pub fn lint(&self) -> Option<Lint> {
        match self {
            Error::OutputLatentShared { .. } => Some(Lint::OutputLatentSharing),
            Error::UnusedStem { .. } => Some(Lint::UnusedStem),
            Error::UnusedHead { .. } => Some(Lint::UnusedHead),
            Error::UnusedBlock { .. } => Some(Lint::UnusedBlock),
            Error::UnusedLayer { .. } => Some(Lint::UnusedLayer),
            Error::UnknownLint { .. } => Some(Lint::UnknownLint),
            _ => None,
        }
    }

    /// The severity before any `allow`/`warn`/`deny`.
    pub fn default_severity(&self) -> Severity {
        match self {
            // An allowed sharing is still reported, as a warning that names the allow.
            Error::OutputLatentShared {
                allowed: Some(_), ..
            } => Severity::Warning,
            e => e.lint().map_or(Severity::Error, Lint::default_severity),
        }
    }

    /// Where the diagnostic points first (used for ordering and for the JSON output).
    pub fn primary_span(&self) -> Span {
        use Error::*;
        match self {
            Syntax { at, .. }
            | InvalidUtf8 { at }
            | TooDeep { at, .. }
            | NumberTooLarge { at, .. }
            | NameTooLong { at, .. } => *at,
            IrMalformed { at, .. } | IrSchema { at, .. } | IrInconsistent { at, .. } => *at,
            UnknownName { at, .. }
            | Duplicate { at, .. }
            | UnknownKey { at, .. }
            | MissingKey { at, .. } => *at,
            WrongType { at, .. }
            | UnknownOption { at, .. }
            | UnusedStem { at, .. }
            | UnusedHead { at, .. } => *at,
            UnusedBlock { at, .. }
            | UnknownLint { at, .. }
            | MissingBlockArg { at, .. }
            | MultipleTrunks { at, .. }
            | EmptyModel { at, .. }
            | StemNotMerged { at, .. }
            | UnusedLayer { at, .. } => *at,
            Overflow { at, .. }
            | DivisionByZero { at }
            | InexactDivision { at, .. }
            | NotPositive { at, .. } => *at,
            ParamCycle { at, .. } | OutOfRange { at, .. } | PositionsTooShort { at, .. } => *at,
            BadOverride { .. } => Span::default(),
            WidthMismatch { consumer, .. } => *consumer,
            HeadsDoNotDivide { at, .. }
            | KvHeadsDoNotDivide { at, .. }
            | HeadDimMismatch { at, .. } => *at,
            TiedShapeMismatch { at, .. }
            | Cycle { at, .. }
            | LoopNotBackward { at, .. }
            | LoopSteps { at, .. } => *at,
            BadPort { at, .. } | GateNotText { at, .. } | MaskUnknownModality { at, .. } => *at,
            GateOutsideLoop { at, .. } | LoopsOverlap { at, .. } => *at,
            RateOutOfRange { at, .. } | BadScales { at, .. } | NoObjective { at, .. } => *at,
            NextScaleWithoutScales { at, .. } => *at,
            FutureTokenLeak { mask, .. } => *mask,
            TargetWithoutStem { at, .. }
            | ObjectiveMismatch { at, .. }
            | TooManyParams { at, .. } => *at,
            TooManyBlocks { at, .. } => *at,
            Poisoned => Span::default(),
            OutputLatentShared { consumer, .. } => *consumer,
        }
    }
}
