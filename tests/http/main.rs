//! The example server (`examples/server/`) over real HTTP on a loopback port: the README
//! walkthroughs, the token endpoint, the admin endpoints, error handling, discovery and CORS, the
//! stores, and the command line.
//! Every response is checked against `examples/openapi.yaml`.

#[allow(dead_code, unused_imports)]
#[path = "../../examples/server/app.rs"]
mod app;

mod admin;
mod challenges;
#[path = "../common/mod.rs"]
mod common;
mod discovery;
mod errors;
mod federation;
#[path = "../../examples/federation_chain.rs"]
mod federation_chain;
mod flags;
mod limits;
mod logging;
mod openapi;
mod openidconnect;
#[cfg(feature = "postgres")]
mod pg_restart;
mod presets;
mod protection;
#[cfg(feature = "postgres")]
mod replay;
mod server;
#[cfg(feature = "sqlite")]
mod sqlite;
mod token;
mod walkthroughs;

#[test]
fn openapi_description_is_well_formed() {
    let spec = openapi::spec();
    assert_eq!(spec.document()["openapi"], "3.1.0");
    let errors = spec.lint();
    assert!(errors.is_empty(), "{errors:#?}");
}
