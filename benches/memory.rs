//! Resident memory per stored client in `MemoryStore`: registers N typical clients through the
//! registrar and reports the growth of the process's resident set divided by N.
//!
//! ```text
//! cargo bench --bench memory -- 1000000
//! ```

use std::sync::Arc;

use oauth_dcr::{MemoryStore, Registrar, RequestContext, ServerPolicy};

/// Resident set size in bytes, from /proc/self/statm (Linux).
fn rss() -> Option<u64> {
    let statm = std::fs::read_to_string("/proc/self/statm").ok()?;
    let pages: u64 = statm.split_whitespace().nth(1)?.parse().ok()?;
    Some(pages * 4096)
}

fn main() {
    // `cargo bench` passes `--bench`; the first numeric argument is N.
    let n: usize = std::env::args()
        .filter_map(|a| a.parse().ok())
        .next()
        .unwrap_or(1_000_000);
    let store = Arc::new(MemoryStore::new());
    let registrar = Registrar::new(
        ServerPolicy::new("https://as.example/register"),
        store.clone(),
    );
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime");
    let before = rss().unwrap_or(0);
    runtime.block_on(async {
        for i in 0..n {
            let body = format!(
                r#"{{"redirect_uris":["https://client{i}.example.org/callback"],"client_name":"Client {i}","grant_types":["authorization_code","refresh_token"],"scope":"openid profile"}}"#
            );
            registrar
                .register(req(body.as_bytes()), &RequestContext::new())
                .await
                .expect("register");
        }
    });
    let after = rss().unwrap_or(0);
    let per_client = after.saturating_sub(before) as f64 / n as f64;
    println!(
        "{n} clients: resident set grew by {:.1} MiB, {per_client:.0} bytes per client (store holds {})",
        after.saturating_sub(before) as f64 / 1048576.0,
        store.len()
    );
}

/// A JSON request body as the registrar takes it, read within the default limits (the work of
/// the `http` adapter, counted in every operation as before).
fn req(body: &[u8]) -> oauth_dcr::RegistrationRequest {
    oauth_dcr::RegistrationRequest::from_json(body, &oauth_dcr::RequestLimits::default())
        .expect("a valid body")
}
