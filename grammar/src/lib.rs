//! The pest grammar of `.arch` files (`src/arch.pest`) and its derived parser.
//!
//! This crate is syntax only. The compiler's `parse` pass turns the pest tree into a
//! typed AST with spans; everything semantic happens after that.

use pest_derive::Parser;

/// The derived parser. Entry rules: [`Rule::file`] for a whole file, [`Rule::item`]
/// for one top-level item (used to resume after a syntax error).
#[derive(Parser)]
#[grammar = "arch.pest"]
pub struct ArchParser;

pub use pest;
