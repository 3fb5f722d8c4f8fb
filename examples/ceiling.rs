//! The throughput ceiling for `benches/load.sh`: the same server stack as the example server
//! (axum on tokio, loopback), a handler that parses the JSON body and answers a fixed 201
//! document the size of a registration response. Nothing real can be faster on this stack.
//!
//! ```text
//! cargo run --release --example ceiling -- 127.0.0.1:8081
//! ```

use axum::body::Bytes;
use axum::http::{header, StatusCode};
use axum::response::IntoResponse;
use axum::routing::post;
use axum::Router;

/// The example server's allocator: the same stack.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// A registration response of typical size, fixed.
const RESPONSE: &str = r#"{"client_id":"0b9b9f1e-5d6c-4b8a-9f0e-2d3c4b5a6978","client_secret":"mNNWoe8nX1cQ2v3b4n5m6k7j8h9g0f1d2s3a4p5o6i7","client_id_issued_at":1795327791,"client_secret_expires_at":0,"registration_access_token":"BAVq8so6Y7t8r9e0w1q2a3s4d5f6g7h8j9k0l1z2x3c","registration_client_uri":"http://127.0.0.1:8080/register/0b9b9f1e-5d6c-4b8a-9f0e-2d3c4b5a6978","registration_access_token_expires_in":2592000,"redirect_uris":["https://client.example.org/cb/0/1"],"token_endpoint_auth_method":"client_secret_basic","grant_types":["authorization_code"],"response_types":["code"],"client_name":"bench-0-1","application_type":"web"}"#;

async fn register(body: Bytes) -> impl IntoResponse {
    match serde_json::from_slice::<serde_json::Value>(&body) {
        Ok(_) => (
            StatusCode::CREATED,
            [
                (header::CONTENT_TYPE, "application/json"),
                (header::CACHE_CONTROL, "no-store"),
                (header::PRAGMA, "no-cache"),
            ],
            RESPONSE,
        )
            .into_response(),
        Err(_) => StatusCode::BAD_REQUEST.into_response(),
    }
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:8081".to_owned());
    let app = Router::new().route("/register", post(register));
    let listener = tokio::net::TcpListener::bind(&addr).await?;
    println!("ceiling handler listening on http://{addr}");
    axum::serve(listener, app).await
}
