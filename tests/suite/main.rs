//! The integration suite: one test binary (saves build time on two cores).

mod common;
mod costs;
mod counts;
mod diff;
mod models;
mod registry;
mod robustness;
mod ui;
