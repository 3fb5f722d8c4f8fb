//! Key sets built on many threads at once, as the first in the process.
//!
//! OpenSSL 3.0 fails to decode an RSA-PSS public key on threads that decode one at the same
//! moment as another, the first time the process decodes one, and keeps failing on those threads
//! afterwards. A server whose workers meet their first PS256 statement together would refuse it
//! on all but one of them, for as long as they run. This test is alone in its binary, and its
//! statement was signed ahead of time (`tests/data/keys/issuer-ps256-statement.jwt`: signing
//! would decode the private key here first), so that its decodes are the process's first.

mod common;

use std::sync::{Arc, Barrier};

use common::*;
use oauth_dcr::{MemoryStore, Registrar, RequestContext, ServerPolicy};

#[test]
fn ps256_statements_verify_on_every_thread_when_all_start_together() {
    let statement = String::from_utf8(key_file("issuer-ps256-statement.jwt")).unwrap();
    let body = body_with(statement.trim()).to_string();
    let threads = 8;
    let start = Arc::new(Barrier::new(threads));
    let workers: Vec<_> = (0..threads)
        .map(|_| {
            let (start, body) = (start.clone(), body.clone());
            std::thread::spawn(move || {
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .build()
                    .unwrap();
                start.wait();
                // A fresh key set each time, so that each registration builds its verifier.
                (0..20)
                    .filter_map(|_| {
                        let registrar = Registrar::new(
                            ServerPolicy::new(ENDPOINT),
                            Arc::new(MemoryStore::new()),
                        )
                        .with_software_statements(trusting_issuer());
                        runtime
                            .block_on(
                                registrar.register_bytes(body.as_bytes(), &RequestContext::new()),
                            )
                            .err()
                            .map(|e| e.to_string())
                    })
                    .collect::<Vec<_>>()
            })
        })
        .collect();
    let refused: Vec<String> = workers
        .into_iter()
        .flat_map(|w| w.join().unwrap())
        .collect();
    assert!(
        refused.is_empty(),
        "{} of {} registrations refused, first: {:?}",
        refused.len(),
        threads * 20,
        refused.first()
    );
}
