//! A small local OpenID Federation for the README's walkthrough: a trust anchor, an intermediate
//! and a client with new ES256 federation keys, the server's own federation key, and the
//! client's trust chains to send: one that registers, and three the server must refuse.
//!
//! ```sh
//! cargo run --example federation_chain -- DIR SERVER_ENTITY_ID
//! ```
//!
//! Writes into DIR:
//! - `op.jwk`: the server's federation signing key (`--federation-key`);
//! - `ta.jwks`: the trust anchor's public keys (`--trust-anchor https://ta.fed.example=DIR/ta.jwks`);
//! - `chain.json`: the client's trust chain, valid for an hour, addressed to SERVER_ENTITY_ID;
//!   the anchor adds its helpdesk to every client's `contacts` and allows only
//!   `client_secret_basic` and `private_key_jwt`;
//! - `chain-bad-signature.json`: the same chain, the anchor's statement signed by another key;
//! - `chain-expired.json`: the same chain, the intermediate's statement expired;
//! - `chain-policy.json`: a client whose `token_endpoint_auth_method` the anchor's policy refuses.

use std::path::Path;
use std::sync::Arc;

use josekit::jws::ES256;
use oauth_dcr::federation::response::{entity_statement, JwkSigner};
use serde_json::{json, Value};

/// The entities of the walkthrough's federation.
pub(crate) const ANCHOR: &str = "https://ta.fed.example";
pub(crate) const INTERMEDIATE: &str = "https://int.fed.example";
pub(crate) const CLIENT: &str = "https://rp.fed.example";

struct Entity {
    id: &'static str,
    signer: Arc<JwkSigner>,
    jwks: Value,
    private: String,
}

fn entity(id: &'static str) -> Result<Entity, String> {
    let pair = ES256.generate_key_pair().map_err(|e| e.to_string())?;
    let mut private = pair.to_jwk_key_pair();
    private.set_key_id(format!("{id}#1"));
    let signer = JwkSigner::from_jwk(private.to_string().as_bytes()).map_err(|e| e.to_string())?;
    let jwks = json!({ "keys": [signer.public_jwk()] });
    Ok(Entity {
        id,
        signer: Arc::new(signer),
        jwks,
        private: private.to_string(),
    })
}

/// `by`'s statement about `subject`, valid from a minute before `now` for `lifetime` seconds,
/// with `extra` claims.
async fn statement(
    by: &Entity,
    subject: &Entity,
    now: i64,
    lifetime: i64,
    extra: Value,
) -> Result<String, String> {
    let mut claims = json!({
        "iss": by.id, "sub": subject.id, "iat": now - 60, "exp": now + lifetime,
        "jwks": subject.jwks,
    });
    for (k, v) in extra.as_object().into_iter().flatten() {
        claims[k] = v.clone();
    }
    let claims = claims.as_object().cloned().unwrap_or_default();
    entity_statement(by.signer.as_ref(), &claims)
        .await
        .map_err(|e| e.to_string())
}

/// Writes the federation's files into `dir` for a server whose entity identifier is `server`,
/// at the Unix time `now`.
pub(crate) async fn make(dir: &Path, server: &str, now: i64) -> Result<(), String> {
    let anchor = entity(ANCHOR)?;
    let intermediate = entity(INTERMEDIATE)?;
    let client = entity(CLIENT)?;
    let op = entity("https://op.fed.example")?;
    let impostor = entity(ANCHOR)?;
    let configuration = |method: &str| {
        json!({
            "aud": server,
            "authority_hints": [INTERMEDIATE],
            "metadata": { "openid_relying_party": {
                "client_name": "Federated RP",
                "redirect_uris": ["https://rp.fed.example/callback"],
                "token_endpoint_auth_method": method,
            }},
        })
    };
    let policy = json!({ "metadata_policy": { "openid_relying_party": {
        "contacts": { "add": ["helpdesk@ta.fed.example"] },
        "token_endpoint_auth_method": {
            "one_of": ["client_secret_basic", "private_key_jwt"],
            "essential": true
        }
    }}});
    let good = statement(
        &client,
        &client,
        now,
        3600,
        configuration("client_secret_basic"),
    )
    .await?;
    let policy_refused = statement(
        &client,
        &client,
        now,
        3600,
        configuration("client_secret_post"),
    )
    .await?;
    let below = statement(&intermediate, &client, now, 3600, json!({})).await?;
    let expired = statement(&intermediate, &client, now - 7200, 3600, json!({})).await?;
    let top = statement(&anchor, &intermediate, now, 3600, policy.clone()).await?;
    let forged = statement(&impostor, &intermediate, now, 3600, policy).await?;

    let write = |name: &str, contents: String| {
        std::fs::write(dir.join(name), contents).map_err(|e| format!("{name}: {e}"))
    };
    let chain = |statements: [&String; 3]| json!(statements).to_string();
    std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    write("op.jwk", op.private.clone())?;
    write("ta.jwks", anchor.jwks.to_string())?;
    write("chain.json", chain([&good, &below, &top]))?;
    write("chain-bad-signature.json", chain([&good, &below, &forged]))?;
    write("chain-expired.json", chain([&good, &expired, &top]))?;
    write("chain-policy.json", chain([&policy_refused, &below, &top]))?;
    Ok(())
}

#[allow(dead_code)]
fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [dir, server] = args.as_slice() else {
        eprintln!("usage: cargo run --example federation_chain -- DIR SERVER_ENTITY_ID");
        std::process::exit(2);
    };
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX));
    let made = tokio::runtime::Builder::new_current_thread()
        .build()
        .map_err(|e| e.to_string())
        .and_then(|runtime| runtime.block_on(make(Path::new(dir), server, now)));
    if let Err(e) = made {
        eprintln!("federation_chain: {e}");
        std::process::exit(1);
    }
    println!(
        "wrote {dir}/op.jwk, {dir}/ta.jwks and the client's chains; run the server with\n  \
         cargo run --example server -- --federation-entity-id {server} \\\n    \
         --federation-key {dir}/op.jwk --trust-anchor {ANCHOR}={dir}/ta.jwks"
    );
}
