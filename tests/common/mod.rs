//! Fixtures shared by the integration tests, one of each: the manual clock, the test keys, the
//! typical bodies, a registrar over a `MemoryStore` with the manual clock (and its builders for
//! statements, presets and any configuration), hand-built JWS, a host's initial access tokens, a
//! hook, an event recorder, fetchers from memory, a store that fails on demand, and readers for
//! the `http::Response` that results and errors convert into.
//!
//! Each test binary declares `mod common;` (`tests/http/` through `#[path]`) and uses its own
//! subset; the allowances below are for the parts a binary does not use.

#![allow(dead_code, unreachable_pub, unused_imports)]

mod bodies;
mod clock;
mod events;
mod federation;
mod fetchers;
mod hooks;
mod jws;
mod keys;
mod reply;
mod requests;
mod run;
mod server;
mod stores;
mod tokens;

pub use bodies::*;
pub use clock::*;
pub use events::*;
pub use federation::*;
pub use fetchers::*;
pub use hooks::*;
pub use jws::*;
pub use keys::*;
pub use reply::*;
pub use requests::*;
pub use run::*;
pub use server::*;
pub use stores::*;
pub use tokens::*;
