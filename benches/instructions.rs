//! Instructions per operation, for `valgrind --tool=callgrind`: wall-clock time on a shared
//! machine moves with its neighbours, instruction counts do not.
//!
//! ```text
//! cargo bench --no-run --bench instructions
//! valgrind --tool=callgrind --callgrind-out-file=/dev/null target/release/deps/instructions-* read 0
//! valgrind --tool=callgrind --callgrind-out-file=/dev/null target/release/deps/instructions-* read 10000
//! ```
//!
//! The difference of the two totals over 10,000 is one operation's count: setup (a store of
//! 1,000 clients, the runtime) is the same in both.

use std::hint::black_box;
use std::sync::Arc;

use oauth_dcr::{MemoryStore, Registrar, RegistrationRequest, RequestContext, ServerPolicy};

const BODY: &[u8] = br#"{"redirect_uris":["https://app.example.com/callback","https://app.example.com/callback2"],"client_name":"Example App","grant_types":["authorization_code","refresh_token"],"response_types":["code"],"token_endpoint_auth_method":"client_secret_basic","scope":"openid profile email","contacts":["dev@app.example.com"]}"#;

fn req(body: &[u8]) -> RegistrationRequest {
    RegistrationRequest::from_json(body, &oauth_dcr::RequestLimits::default()).expect("valid")
}

fn token(r: &oauth_dcr::RegistrationResponse) -> String {
    r.registration_access_token
        .as_ref()
        .expect("token")
        .secret()
        .to_owned()
}

fn main() {
    let mut args = std::env::args().skip(1);
    let op = args.next().unwrap_or_default();
    let n: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(0);
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime");
    let reg = Registrar::new(
        ServerPolicy::new("https://as.example/register"),
        Arc::new(MemoryStore::new()),
    );
    let ctx = RequestContext::new();
    rt.block_on(async {
        let mut clients = Vec::new();
        for _ in 0..1000 {
            let c = reg.register(req(BODY), &ctx).await.expect("register");
            clients.push((c.client_id.clone(), token(&c)));
        }
        let updates: Vec<Vec<u8>> = clients
            .iter()
            .map(|(id, _)| {
                let mut body: serde_json::Value = serde_json::from_slice(BODY).expect("json");
                body["client_id"] = id.clone().into();
                serde_json::to_vec(&body).expect("json")
            })
            .collect();
        for i in 0..n {
            let k = i % 1000;
            match op.as_str() {
                "register" => {
                    black_box(
                        reg.register(req(BODY), &ctx)
                            .await
                            .expect("register")
                            .to_json(),
                    );
                }
                "validate" => {
                    black_box(oauth_dcr::validate(reg.policy(), &req(BODY)).expect("valid"));
                }
                "read" => {
                    let r = reg
                        .read(&clients[k].0, Some(&clients[k].1))
                        .await
                        .expect("read");
                    black_box(r.to_json());
                    clients[k].1 = token(&r);
                }
                "update" => {
                    let r = reg
                        .update(&clients[k].0, Some(&clients[k].1), req(&updates[k]), &ctx)
                        .await
                        .expect("update");
                    black_box(r.to_json());
                    clients[k].1 = token(&r);
                }
                _ => {}
            }
        }
    });
}
