//! The typical registration bodies and the names every test server shares.

use serde_json::{json, Value};

/// The registration endpoint of every test server.
pub const ENDPOINT: &str = "https://as.example/register";

/// The trusted directory that signs software statements.
pub const ISSUER: &str = "https://directory.example";

/// The redirect URI of the test clients.
pub const REDIRECT: &str = "https://app.example/cb";

/// The `software_id` of the directory's statements.
pub const SOFTWARE_ID: &str = "4NRB1-0XZABZI9E6-5SM3R";

/// An MCP client's Client ID Metadata Document as coding agents publish it (and as the MCP
/// specification's own example has it): no `application_type`, `localhost` and `127.0.0.1`
/// loopback redirects.
pub const MCP_DOCUMENT: &str = include_str!("../data/mcp-client-metadata-document.json");

/// A web client with one redirect URI: the smallest valid registration.
pub fn web_client() -> Value {
    json!({ "redirect_uris": [REDIRECT] })
}

/// A web client with one redirect URI and the name `App`.
pub fn named_web_client() -> Value {
    json!({ "redirect_uris": [REDIRECT], "client_name": "App" })
}

/// A body whose only redirect URI is refused (`invalid_redirect_uri`).
pub fn bad_redirect() -> Value {
    json!({ "redirect_uris": ["javascript:alert(1)"] })
}

/// A registration body carrying a statement, with self-asserted members that differ from it.
pub fn body_with(statement: &str) -> Value {
    json!({
        "redirect_uris": ["https://app.example/body"],
        "client_name": "A",
        "software_statement": statement,
    })
}

/// Reads a file of `tests/data/`.
pub fn data(name: &str) -> Vec<u8> {
    let path = data_path(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// The path of a file of `tests/data/`.
pub fn data_path(name: &str) -> String {
    format!("{}/tests/data/{name}", env!("CARGO_MANIFEST_DIR"))
}

/// A file of `tests/data/` parsed as JSON.
pub fn data_json(name: &str) -> Value {
    serde_json::from_slice(&data(name)).unwrap()
}
