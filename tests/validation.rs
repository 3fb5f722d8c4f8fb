//! Validation of registration requests: every refusal with its exact HTTP status, error code and
//! the refused member named in `error_description`, nothing stored, and `validate()` agreeing
//! with `register()`. Cases are tables; every row is checked and all failing rows are reported
//! together.

mod common;
use common::Bytes;

use common::{policy, web_client, Reply, Server, EC_X, EC_Y, RSA_1024_N};
use oauth_dcr::policy::ScopePolicy;
use oauth_dcr::{
    AuthMethod, GrantType, JoseAlgorithm, RedirectUri, RegistrationError, ResponseType,
    ServerPolicy, SubjectType,
};
use serde_json::{json, Value};

const BAD_REQUEST: u16 = 400;

/// Registers `body` on a fresh server with `policy` and describes every way the refusal differs
/// from the expected one: status, error code, `field` named in the violations, `needle` in
/// `error_description` (each skipped when empty), something stored, `validate()` disagreeing.
async fn refusal_problems(
    policy: &ServerPolicy,
    body: &[u8],
    status: u16,
    code: &str,
    (field, needle): (&str, &str),
) -> Option<String> {
    let server = Server::with_policy(policy.clone());
    let shown: String = String::from_utf8_lossy(body).chars().take(160).collect();
    let Err(err) = server.register_bytes(body).await else {
        return Some(format!("{shown}: accepted"));
    };
    let mut problems = Vec::new();
    if let RegistrationError::InvalidMetadata(violations) = &err {
        if !field.is_empty() && !violations.names(field) {
            let named: Vec<&str> = violations.iter().map(|v| v.field.as_str()).collect();
            problems.push(format!("violations name {named:?}, not `{field}`"));
        }
    }
    let reply = Reply::of(err);
    if reply.status.as_u16() != status {
        problems.push(format!("status {} instead of {status}", reply.status));
    }
    if reply.error() != code {
        problems.push(format!("error `{}` instead of `{code}`", reply.error()));
    }
    if !needle.is_empty() && !reply.description().contains(needle) {
        problems.push(format!(
            "error_description does not name `{needle}`: {:?}",
            reply.description()
        ));
    }
    if reply.header("cache-control") != Some("no-store") {
        problems.push("no Cache-Control: no-store".to_owned());
    }
    if !server.store.is_empty() {
        problems.push(format!("{} client(s) stored", server.store.len()));
    }
    match server.registrar.validate_bytes(body) {
        Ok(_) => problems.push("validate() accepts it".to_owned()),
        Err(e) => {
            let dry = Reply::of(e);
            if dry.status != reply.status || dry.json != reply.json {
                problems.push(format!("validate() answers differently: {}", dry.json));
            }
        }
    }
    (!problems.is_empty()).then(|| format!("{shown}: {}", problems.join("; ")))
}

/// Asserts that every body is refused with `status` and `code`, and that `field` is named both
/// in the violations and in `error_description`.
async fn assert_refused<B: AsRef<[u8]>>(
    policy: &ServerPolicy,
    bodies: impl IntoIterator<Item = B>,
    status: u16,
    code: &str,
    field: &str,
) {
    assert_refused_naming(policy, bodies, status, code, (field, field)).await;
}

/// As [`assert_refused`], with the violation's field and the text `error_description` must
/// contain given separately.
async fn assert_refused_naming<B: AsRef<[u8]>>(
    policy: &ServerPolicy,
    bodies: impl IntoIterator<Item = B>,
    status: u16,
    code: &str,
    field_and_needle: (&str, &str),
) {
    let mut failures = Vec::new();
    for body in bodies {
        let problem = refusal_problems(policy, body.as_ref(), status, code, field_and_needle).await;
        failures.extend(problem);
    }
    assert!(failures.is_empty(), "\n{}\n", failures.join("\n"));
}

/// Asserts that every body registers.
async fn assert_accepted<B: AsRef<[u8]>>(
    policy: &ServerPolicy,
    bodies: impl IntoIterator<Item = B>,
) {
    let mut failures = Vec::new();
    for body in bodies {
        let server = Server::with_policy(policy.clone());
        if let Err(e) = server.register_bytes(body.as_ref()).await {
            failures.push(format!("{}: {e}", String::from_utf8_lossy(body.as_ref())));
        }
    }
    assert!(failures.is_empty(), "\n{}\n", failures.join("\n"));
}

fn bytes(value: Value) -> Vec<u8> {
    serde_json::to_vec(&value).unwrap()
}

/// `web_client()` with `members` added.
fn web_with(members: Value) -> Vec<u8> {
    let mut body = web_client();
    for (k, v) in members.as_object().unwrap() {
        body[k] = v.clone();
    }
    bytes(body)
}

fn redirect(application_type: &str, uri: &str) -> Vec<u8> {
    bytes(json!({ "application_type": application_type, "redirect_uris": [uri] }))
}

fn post_logout(application_type: &str, uri: &str) -> Vec<u8> {
    let redirect = if application_type == "native" {
        "http://127.0.0.1/cb"
    } else {
        "https://app.example/cb"
    };
    bytes(json!({
        "application_type": application_type,
        "redirect_uris": [redirect],
        "post_logout_redirect_uris": [uri],
    }))
}

/// A policy that also supports the implicit grant and the hybrid response types.
fn implicit_policy() -> ServerPolicy {
    let mut policy = policy();
    policy.grant_types_supported.push(GrantType::Implicit);
    for r in ["token", "id_token", "code id_token", "id_token token"] {
        policy.response_types_supported.push(ResponseType::new(r));
    }
    policy
}

// ---- the request body ----

#[tokio::test]
async fn a_body_that_is_not_one_json_object_is_invalid_request() {
    let bodies: [&[u8]; 14] = [
        b"[]",
        br#"["https://app.example/cb"]"#,
        br#""redirect_uris""#,
        b"1",
        b"null",
        b"true",
        b"",
        b"   ",
        b"{",
        br#"{"redirect_uris":["https://app.example/cb"]"#,
        br#"{"redirect_uris":["https://app.example/cb"]} x"#,
        br#"{"redirect_uris":["https://app.example/cb"]}{"client_name":"b"}"#,
        br#"{'redirect_uris':['https://app.example/cb']}"#,
        br#"{"redirect_uris":["https://app.example/cb"],}"#,
    ];
    assert_refused(&policy(), bodies, BAD_REQUEST, "invalid_request", "").await;
}

#[tokio::test]
async fn invalid_utf8_is_invalid_request() {
    let bodies: [&[u8]; 4] = [
        b"{\"redirect_uris\":[\"https://app.example/cb\"],\"client_name\":\"\xff\"}",
        b"\xff{\"redirect_uris\":[\"https://app.example/cb\"]}",
        b"{\"redirect_uris\":[\"https://app.example/cb\"],\"client_name\xc3\x28\":\"x\"}",
        // A lone surrogate escape is not a Unicode scalar value.
        br#"{"redirect_uris":["https://app.example/cb"],"client_name":"\ud800"}"#,
    ];
    assert_refused(&policy(), bodies, BAD_REQUEST, "invalid_request", "").await;
}

#[tokio::test]
async fn a_body_over_64_kib_is_413_invalid_request() {
    let limit = 64 * 1024;
    let json = br#"{"redirect_uris":["https://app.example/cb"]}"#;
    let padded = |len: usize| {
        let mut body = json.to_vec();
        body.resize(len, b' ');
        body
    };
    assert_refused(
        &policy(),
        [padded(limit + 1), padded(4 * limit)],
        413,
        "invalid_request",
        "",
    )
    .await;
    // Exactly at the limit is still accepted.
    assert_accepted(&policy(), [padded(limit)]).await;
}

#[tokio::test]
async fn duplicate_members_are_invalid_request_at_any_depth() {
    let cases: [(&[u8], &str); 4] = [
        (
            br#"{"redirect_uris":["https://app.example/cb"],"client_name":"a","client_name":"b"}"#,
            "client_name",
        ),
        (
            br#"{"redirect_uris":["https://app.example/cb"],"redirect_uris":["https://evil.example/cb"]}"#,
            "redirect_uris",
        ),
        // The same name spelled with an escape is the same member.
        (
            br#"{"redirect_uris":["https://app.example/cb"],"client_name":"a","client\u005fname":"b"}"#,
            "client_name",
        ),
        (
            br#"{"redirect_uris":["https://app.example/cb"],"token_endpoint_auth_method":"private_key_jwt","jwks":{"keys":[{"kty":"RSA","kty":"EC","n":"0vx7","e":"AQAB"}]}}"#,
            "kty",
        ),
    ];
    for (body, member) in cases {
        assert_refused(&policy(), [body], BAD_REQUEST, "invalid_request", member).await;
    }
    let unknown = br#"{"redirect_uris":["https://app.example/cb"],"x":1,"x":2}"#;
    assert_refused(&policy(), [unknown], BAD_REQUEST, "invalid_request", "").await;
}

#[tokio::test]
async fn deep_nesting_long_arrays_long_strings_and_many_members_are_invalid_request() {
    let deep = format!("{}{}", "[".repeat(40), "]".repeat(40));
    // 10,000 short elements: over the array limit, under the size limit.
    let many_contacts = vec!["c"; 10_000];
    let many_uris = vec!["u"; 10_000];
    let long_name = "x".repeat(20_000);
    let mut many_members = web_client();
    for i in 0..300 {
        many_members[format!("m{i}")] = json!(i);
    }
    let bodies = [
        web_with(json!({ "jwks": { "keys": serde_json::from_str::<Value>(&deep).unwrap() } })),
        web_with(json!({ "contacts": many_contacts })),
        bytes(json!({ "redirect_uris": many_uris })),
        web_with(json!({ "client_name": long_name })),
        web_with(json!({ long_name.clone(): "x" })),
        bytes(many_members),
    ];
    assert_refused(&policy(), bodies, BAD_REQUEST, "invalid_request", "").await;
}

#[tokio::test]
async fn wrong_json_types_are_invalid_client_metadata_naming_the_member() {
    let cases = [
        ("redirect_uris", json!("https://app.example/cb")),
        ("redirect_uris", json!([1])),
        ("grant_types", json!("authorization_code")),
        ("grant_types", json!([null])),
        ("response_types", json!("code")),
        ("token_endpoint_auth_method", json!(1)),
        ("application_type", json!(["web"])),
        ("client_name", json!(5)),
        ("client_uri", json!({"href": "https://app.example"})),
        ("scope", json!(["openid", "profile"])),
        ("contacts", json!("ops@app.example")),
        ("contacts", json!([1])),
        ("default_max_age", json!(-1)),
        ("default_max_age", json!("60")),
        ("default_max_age", json!(1.5)),
        ("require_auth_time", json!("true")),
        ("jwks", json!("not a key set")),
        ("client_name#fr", json!(5)),
    ];
    for (field, value) in cases {
        let mut body = web_client();
        if field == "redirect_uris" {
            body = json!({ "grant_types": ["client_credentials"] });
        }
        body[field] = value;
        assert_refused(
            &policy(),
            [bytes(body)],
            BAD_REQUEST,
            "invalid_client_metadata",
            field,
        )
        .await;
    }
}

#[tokio::test]
async fn null_means_absent() {
    let server = Server::new();
    let body = web_with(json!({
        "client_name": null,
        "grant_types": null,
        "response_types": null,
        "token_endpoint_auth_method": null,
        "logo_uri": null,
        "jwks": null,
        "scope": null,
        "client_name#fr": null,
        "client_id": null,
        "software_statement": null,
    }));
    let response = server.register_bytes(&body).await.unwrap();
    let reply = Reply::of(response);
    for member in ["client_name", "logo_uri", "jwks", "scope", "client_name#fr"] {
        assert!(reply.json.get(member).is_none(), "{member}: {}", reply.json);
    }
    assert_eq!(reply.json["grant_types"], json!(["authorization_code"]));
    assert_eq!(reply.json["response_types"], json!(["code"]));
    assert_eq!(
        reply.json["token_endpoint_auth_method"],
        "client_secret_basic"
    );
}

#[tokio::test]
async fn several_violations_are_reported_together_in_one_error() {
    let server = Server::new();
    let body = bytes(json!({
        "redirect_uris": ["https://app.example/cb#fragment", "javascript:alert(1)"],
        "logo_uri": "http://app.example/logo.png",
        "grant_types": ["authorization_code", "password"],
        "scope": "read\\write",
        "jwks_uri": "https://app.example/jwks.json",
        "jwks": {"keys": []},
    }));
    let err = server.refuse_bytes(&body).await;
    let RegistrationError::InvalidMetadata(violations) = &err else {
        panic!("expected InvalidMetadata, got {err:?}");
    };
    let fields: Vec<&str> = violations.iter().map(|v| v.field.as_str()).collect();
    assert_eq!(
        fields.iter().filter(|f| **f == "redirect_uris").count(),
        2,
        "one violation per refused URI: {fields:?}"
    );
    for field in ["logo_uri", "grant_types", "scope", "jwks"] {
        assert!(violations.names(field), "{field} not in {fields:?}");
    }
    // The first problem decides the code: redirect URIs are checked first.
    assert_eq!(violations.code().as_str(), "invalid_redirect_uri");
    let reply = Reply::of(err);
    assert_eq!(reply.status, 400);
    assert_eq!(reply.error(), "invalid_redirect_uri");
    for needle in [
        "#fragment",
        "javascript:alert(1)",
        "logo_uri",
        "password",
        "scope",
        "jwks",
    ] {
        assert!(
            reply.description().contains(needle),
            "{needle}: {}",
            reply.description()
        );
    }
    assert!(server.store.is_empty());
}

#[tokio::test]
async fn a_bad_redirect_uri_decides_the_code_even_next_to_a_wrongly_typed_member() {
    let server = Server::new();
    let body = bytes(json!({
        "redirect_uris": ["https://app.example/cb#fragment"],
        "client_name": 5,
    }));
    let err = server.refuse_bytes(&body).await;
    let RegistrationError::InvalidMetadata(violations) = &err else {
        panic!("expected InvalidMetadata, got {err:?}");
    };
    assert!(violations.names("redirect_uris") && violations.names("client_name"));
    let reply = Reply::of(err);
    assert_eq!(reply.status, 400);
    assert_eq!(reply.error(), "invalid_redirect_uri", "{}", reply.json);
    assert!(server.store.is_empty());
}

// ---- redirect URIs ----

const DANGEROUS: [&str; 14] = [
    "javascript:alert(1)",
    "JavaScript:alert(1)",
    "JAVASCRIPT://app.example/%0aalert(1)",
    "data:text/html,<script>alert(1)</script>",
    "DATA:text/html;base64,PHNjcmlwdD4=",
    "vbscript:msgbox(1)",
    "VBScript:msgbox(1)",
    "file:///etc/passwd",
    "FILE:///etc/passwd",
    "blob:https://app.example/0b1c2d3e",
    "Blob:https://app.example/0b1c2d3e",
    "about:blank",
    "ABOUT:blank",
    "aBoUt:blank",
];

#[tokio::test]
async fn dangerous_schemes_are_refused_in_any_letter_case() {
    for app in ["web", "native"] {
        let bodies = DANGEROUS.map(|uri| redirect(app, uri));
        assert_refused(
            &policy(),
            bodies,
            BAD_REQUEST,
            "invalid_redirect_uri",
            "redirect_uris",
        )
        .await;
    }
}

#[tokio::test]
async fn web_redirect_uris_that_are_refused() {
    let refused = [
        // fragments
        "https://app.example/cb#frag",
        "https://app.example/cb#",
        // userinfo
        "https://user@app.example/cb",
        "https://user:pass@app.example/cb",
        "https://@app.example/cb",
        "https://app.example@evil.example/cb",
        // wildcards
        "https://*.app.example/cb",
        "https://app.example/*",
        "https://app.example/cb/*/x",
        // whitespace and control characters
        " https://app.example/cb",
        "https://app.example/cb ",
        "https://app.example/c b",
        "https://app.example/cb\n",
        "https://app.example/cb\r\n",
        "https://app.example/\tcb",
        "https://app.example/cb\u{0}",
        "https://app.example/cb\u{7f}",
        "https://app.example/cb\u{85}",
        "https://app.example/cb\u{2028}",
        // relative or not absolute
        "/cb",
        "cb",
        "//app.example/cb",
        "app.example/cb",
        "",
        // not canonical
        "HTTPS://app.example/cb",
        "https://APP.example/cb",
        "https://app.example:443/cb",
        "https://app.example/a/../cb",
        "https://app.example/./cb",
        "https://app.example/%2e%2e/cb",
        "https://app.example\\cb",
        "https://аpple.com/cb",
        "https:app.example/cb",
        // web clients: https only, never loopback
        "http://app.example/cb",
        "http://127.0.0.1/cb",
        "http://[::1]/cb",
        "https://127.0.0.1/cb",
        "https://[::1]/cb",
        "https://localhost/cb",
        "https://app.localhost/cb",
        "http://localhost/cb",
        // private-use schemes are for native clients
        "com.example.app:/oauth2redirect",
    ];
    let bodies = refused.map(|uri| redirect("web", uri));
    assert_refused(
        &policy(),
        bodies,
        BAD_REQUEST,
        "invalid_redirect_uri",
        "redirect_uris",
    )
    .await;
}

#[tokio::test]
async fn web_redirect_uris_that_are_accepted() {
    let accepted = [
        "https://app.example/cb",
        "https://tmp.com",
        "https://app.example:8443/cb",
        "https://app.example/cb?client=1&x=y",
        "https://xn--pple-43d.com/cb",
        "https://app.example/%C3%A9",
    ];
    assert_accepted(&policy(), accepted.map(|uri| redirect("web", uri))).await;
}

#[tokio::test]
async fn native_clients_may_use_http_on_loopback_ip_literals_with_any_port() {
    let accepted = [
        "http://127.0.0.1/cb",
        "http://127.0.0.1",
        "http://127.0.0.1:1/cb",
        "http://127.0.0.1:51004/oauth2redirect",
        "http://127.0.0.1:65535/cb",
        "http://[::1]/cb",
        "http://[::1]:8080/cb",
        // RFC 8252 §7.1 private-use scheme, §7.2 claimed https
        "com.example.app:/oauth2redirect",
        "com.example.app:/",
        "https://app.example/cb",
    ];
    assert_accepted(&policy(), accepted.map(|uri| redirect("native", uri))).await;
}

#[tokio::test]
async fn native_redirect_uris_that_are_refused() {
    let refused = [
        // localhost needs the policy's permission
        "http://localhost/cb",
        "http://localhost:3000/cb",
        // look-alikes of loopback
        "http://localhost.evil.example/cb",
        "http://127.0.0.1.nip.io/cb",
        "http://2130706433/cb",
        "http://0x7f000001/cb",
        "http://0x7f.1/cb",
        "http://127.1/cb",
        "http://017700000001/cb",
        "http://127.0.0.2/cb",
        "http://[::ffff:7f00:1]/cb",
        "http://[0:0:0:0:0:0:0:1]/cb",
        "http://localhost@evil.example/cb",
        "http://127.0.0.1@evil.example/cb",
        "http://evil.example#@127.0.0.1/cb",
        // plain http elsewhere
        "http://app.example/cb",
        "http://10.0.0.1/cb",
        // https to loopback
        "https://localhost/cb",
        "https://127.0.0.1/cb",
        "https://[::1]/cb",
        // private-use schemes: reverse domain form with a dot
        "myapp:/cb",
        "myapp://cb",
        "Com.Example.App:/cb",
        // fragments and wildcards for natives too
        "http://127.0.0.1/cb#x",
        "com.example.app:/cb#x",
        "http://127.0.0.1/*",
    ];
    let bodies = refused.map(|uri| redirect("native", uri));
    assert_refused(
        &policy(),
        bodies,
        BAD_REQUEST,
        "invalid_redirect_uri",
        "redirect_uris",
    )
    .await;
}

#[tokio::test]
async fn localhost_is_allowed_only_by_policy_and_only_for_native_clients() {
    let mut allowing = policy();
    allowing.redirect.allow_localhost = true;
    assert_accepted(
        &allowing,
        [
            redirect("native", "http://localhost/cb"),
            redirect("native", "http://localhost:3000/cb"),
        ],
    )
    .await;
    let refused = [
        redirect("web", "http://localhost/cb"),
        redirect("web", "https://localhost/cb"),
        redirect("native", "http://localhost.evil.example/cb"),
        redirect("native", "http://localhost@evil.example/cb"),
        redirect("native", "https://localhost/cb"),
    ];
    assert_refused(
        &allowing,
        refused,
        BAD_REQUEST,
        "invalid_redirect_uri",
        "redirect_uris",
    )
    .await;
}

#[tokio::test]
async fn web_loopback_http_only_with_the_dangerous_development_switch() {
    let mut development = policy();
    development.redirect.dangerously_allow_http_loopback_for_web = true;
    assert_accepted(&development, [redirect("web", "http://127.0.0.1:8080/cb")]).await;
    assert_refused(
        &development,
        [
            redirect("web", "http://app.example/cb"),
            redirect("web", "http://127.0.0.1.nip.io/cb"),
        ],
        BAD_REQUEST,
        "invalid_redirect_uri",
        "redirect_uris",
    )
    .await;
}

#[tokio::test]
async fn redirect_uris_are_capped_in_count_and_length() {
    let uris = |n: usize| -> Vec<String> {
        (0..n)
            .map(|i| format!("https://app.example/cb{i}"))
            .collect()
    };
    assert_accepted(&policy(), [bytes(json!({ "redirect_uris": uris(20) }))]).await;
    assert_refused(
        &policy(),
        [bytes(json!({ "redirect_uris": uris(21) }))],
        BAD_REQUEST,
        "invalid_redirect_uri",
        "redirect_uris",
    )
    .await;

    let base = "https://app.example/";
    let long = |len: usize| format!("{base}{}", "a".repeat(len - base.len()));
    assert_accepted(&policy(), [redirect("web", &long(2048))]).await;
    assert_refused(
        &policy(),
        [redirect("web", &long(2049))],
        BAD_REQUEST,
        "invalid_redirect_uri",
        "redirect_uris",
    )
    .await;

    let mut strict = policy();
    strict.redirect.max_uris = 2;
    strict.redirect.max_uri_len = 64;
    assert_refused(
        &strict,
        [
            bytes(json!({ "redirect_uris": uris(3) })),
            redirect("web", &long(65)),
        ],
        BAD_REQUEST,
        "invalid_redirect_uri",
        "redirect_uris",
    )
    .await;
}

#[tokio::test]
async fn redirect_uris_are_required_for_the_code_and_implicit_grants() {
    let bodies = [
        bytes(json!({})),
        bytes(json!({ "client_name": "App" })),
        bytes(json!({ "redirect_uris": [] })),
        bytes(json!({ "grant_types": ["authorization_code"] })),
        bytes(json!({ "grant_types": ["authorization_code", "client_credentials"] })),
        bytes(json!({ "response_types": ["code"] })),
    ];
    assert_refused(
        &policy(),
        bodies,
        BAD_REQUEST,
        "invalid_redirect_uri",
        "redirect_uris",
    )
    .await;
    assert_refused(
        &implicit_policy(),
        [bytes(
            json!({ "grant_types": ["implicit"], "response_types": ["token"] }),
        )],
        BAD_REQUEST,
        "invalid_redirect_uri",
        "redirect_uris",
    )
    .await;
    // Grants that never redirect need none.
    assert_accepted(
        &policy(),
        [
            bytes(json!({ "grant_types": ["client_credentials"] })),
            bytes(json!({ "grant_types": ["client_credentials", "refresh_token"] })),
        ],
    )
    .await;
}

#[test]
fn registered_redirect_uris_match_byte_for_byte_except_the_loopback_port() {
    let web = RedirectUri::new("https://app.example/cb");
    assert!(web.matches("https://app.example/cb"));
    for other in [
        "https://app.example/cb/",
        "https://APP.example/cb",
        "https://app.example/CB",
        "https://app.example/cb?x=1",
        "https://app.example:443/cb",
        "https://app.example:8443/cb",
        "https://app.example/cb#x",
        "http://app.example/cb",
    ] {
        assert!(!web.matches(other), "{other}");
    }
    // RFC 8252 §7.3: any port on a loopback IP literal.
    let loopback = RedirectUri::new("http://127.0.0.1/cb");
    assert!(loopback.matches("http://127.0.0.1:51004/cb"));
    assert!(!loopback.matches("http://127.0.0.1:51004/cb2"));
    assert!(!loopback.matches("http://localhost:51004/cb"));
    let v6 = RedirectUri::new("http://[::1]:8080/cb");
    assert!(v6.matches("http://[::1]:9090/cb"));
}

#[tokio::test]
async fn post_logout_redirect_uris_follow_the_same_rules() {
    let refused_web = [
        "https://app.example/logout#x",
        "https://user@app.example/logout",
        "https://*.app.example/logout",
        "https://app.example/log out",
        "http://app.example/logout",
        "https://127.0.0.1/logout",
        "HTTPS://app.example/logout",
        "/logout",
        "com.example.app:/logout",
        "javascript:alert(1)",
        "JavaScript:alert(1)",
        "data:text/html,x",
    ];
    let refused_native = [
        "http://localhost/logout",
        "http://localhost.evil.example/logout",
        "http://2130706433/logout",
        "myapp:/logout",
        "vbscript:msgbox(1)",
    ];
    let bodies = refused_web
        .iter()
        .map(|uri| post_logout("web", uri))
        .chain(refused_native.iter().map(|uri| post_logout("native", uri)));
    assert_refused(
        &policy(),
        bodies,
        BAD_REQUEST,
        "invalid_client_metadata",
        "post_logout_redirect_uris",
    )
    .await;
    assert_accepted(
        &policy(),
        [
            post_logout("web", "https://app.example/logged-out"),
            post_logout("native", "http://127.0.0.1:4000/logged-out"),
            post_logout("native", "com.example.app:/logged-out"),
        ],
    )
    .await;
}

// ---- grant types and response types ----

#[tokio::test]
async fn unsupported_grant_types_are_refused() {
    let bodies = [
        web_with(json!({ "grant_types": ["password"] })),
        web_with(json!({ "grant_types": ["authorization_code", "password"] })),
        web_with(json!({ "grant_types": ["implicit"], "response_types": ["token"] })),
        web_with(json!({ "grant_types": ["urn:example:custom-grant"] })),
    ];
    assert_refused(
        &policy(),
        bodies,
        BAD_REQUEST,
        "invalid_client_metadata",
        "grant_types",
    )
    .await;
}

#[tokio::test]
async fn unsupported_response_types_are_refused() {
    let mut code_and_implicit = policy();
    code_and_implicit
        .grant_types_supported
        .push(GrantType::Implicit);
    let bodies = [
        web_with(
            json!({ "grant_types": ["authorization_code", "implicit"], "response_types": ["code", "token"] }),
        ),
        web_with(
            json!({ "grant_types": ["authorization_code", "implicit"], "response_types": ["code id_token"] }),
        ),
        web_with(json!({ "response_types": ["code", "none"] })),
    ];
    assert_refused(
        &code_and_implicit,
        bodies,
        BAD_REQUEST,
        "invalid_client_metadata",
        "response_types",
    )
    .await;
}

#[tokio::test]
async fn inconsistent_grant_and_response_types_are_refused() {
    // RFC 7591 §2.1: authorization_code goes with code, implicit with token / id_token.
    let response_side = [
        web_with(json!({ "grant_types": ["authorization_code"], "response_types": ["token"] })),
        web_with(
            json!({ "grant_types": ["authorization_code"], "response_types": ["code", "id_token"] }),
        ),
        web_with(json!({ "grant_types": ["client_credentials"], "response_types": ["code"] })),
        web_with(json!({ "grant_types": ["implicit"], "response_types": ["code"] })),
    ];
    assert_refused(
        &implicit_policy(),
        response_side,
        BAD_REQUEST,
        "invalid_client_metadata",
        "response_types",
    )
    .await;
    let grant_side = [
        web_with(
            json!({ "grant_types": ["authorization_code", "implicit"], "response_types": ["code"] }),
        ),
        web_with(
            json!({ "grant_types": ["authorization_code", "refresh_token"], "response_types": ["token"], "token_endpoint_auth_method": "none" }),
        ),
    ];
    assert_refused(
        &implicit_policy(),
        grant_side,
        BAD_REQUEST,
        "invalid_client_metadata",
        "grant_types",
    )
    .await;
}

#[tokio::test]
async fn consistent_grant_and_response_types_are_accepted() {
    assert_accepted(
        &implicit_policy(),
        [
            web_with(json!({ "grant_types": ["authorization_code", "refresh_token"] })),
            web_with(json!({ "grant_types": ["authorization_code"], "response_types": ["code"] })),
            web_with(json!({ "grant_types": ["implicit"], "response_types": ["token"] })),
            web_with(json!({ "grant_types": ["authorization_code", "implicit"], "response_types": ["code id_token"] })),
            web_with(json!({ "grant_types": ["authorization_code", "implicit"], "response_types": ["id_token code"] })),
            web_with(json!({ "response_types": ["code", "id_token token"] })),
        ],
    )
    .await;
}

// ---- token endpoint authentication ----

#[tokio::test]
async fn token_endpoint_auth_method_rules() {
    let rsa = json!({"kty": "RSA", "n": "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw", "e": "AQAB"});
    let cases = [
        // unsupported
        json!({ "token_endpoint_auth_method": "client_secret_magic" }),
        json!({ "token_endpoint_auth_method": "CLIENT_SECRET_BASIC" }),
        // a public client cannot use client_credentials
        json!({ "grant_types": ["client_credentials"], "token_endpoint_auth_method": "none" }),
        json!({ "grant_types": ["authorization_code", "client_credentials"], "token_endpoint_auth_method": "none" }),
        // key-based methods need keys
        json!({ "token_endpoint_auth_method": "private_key_jwt" }),
        json!({ "token_endpoint_auth_method": "self_signed_tls_client_auth" }),
    ];
    assert_refused(
        &policy(),
        cases.map(web_with),
        BAD_REQUEST,
        "invalid_client_metadata",
        "token_endpoint_auth_method",
    )
    .await;

    // tls_client_auth needs exactly one subject member: the description names the subject
    // members.
    let cases = [
        json!({ "token_endpoint_auth_method": "tls_client_auth" }),
        json!({ "token_endpoint_auth_method": "tls_client_auth",
                "tls_client_auth_subject_dn": "CN=app.example",
                "tls_client_auth_san_dns": "app.example" }),
        json!({ "token_endpoint_auth_method": "tls_client_auth",
                "tls_client_auth_san_uri": "https://app.example",
                "tls_client_auth_san_email": "ops@app.example" }),
    ];
    assert_refused_naming(
        &policy(),
        cases.map(web_with),
        BAD_REQUEST,
        "invalid_client_metadata",
        ("token_endpoint_auth_method", "tls_client_auth_subject_dn"),
    )
    .await;

    let mut no_public = policy();
    no_public
        .token_endpoint_auth_methods_supported
        .retain(|m| *m != AuthMethod::None);
    assert_refused(
        &no_public,
        [web_with(json!({ "token_endpoint_auth_method": "none" }))],
        BAD_REQUEST,
        "invalid_client_metadata",
        "token_endpoint_auth_method",
    )
    .await;

    assert_accepted(
        &policy(),
        [
            web_with(json!({ "token_endpoint_auth_method": "private_key_jwt", "jwks": {"keys": [rsa]} })),
            web_with(json!({ "token_endpoint_auth_method": "private_key_jwt", "jwks_uri": "https://app.example/jwks.json" })),
            web_with(json!({ "token_endpoint_auth_method": "tls_client_auth", "tls_client_auth_san_dns": "app.example" })),
            web_with(json!({ "token_endpoint_auth_method": "none" })),
        ],
    )
    .await;
}

#[tokio::test]
async fn jwks_must_hold_public_keys_and_never_come_with_jwks_uri() {
    let public_rsa = json!({"kty": "RSA", "n": "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw", "e": "AQAB"});
    let mut private_rsa = public_rsa.clone();
    private_rsa["d"] = json!("X4cTteJY_gn4FYPsXB8rdXix5vwsg1FLN5E3EaG6RJoVH-HLLKD9M7dx5oo7GURknchnrRweUkC7hT5fJLM0WbFAKNLWY2vv7B6NqXSzUvxT0_YSfqijwp3RTzlBaCxWp4doFk5N2o8Gy_nHNKroADIkJ46pRUohsXywbReAdYaMwFs9tv8d_cPVY3i07a3t8MN6TNwm0dSawm9v47UiCl3Sk5ZiG7xojPLu4sbg1U2jx4IBTNBznbJSzFHK66jT8bgkuqsk0GjskDJk19Z4qwjwbsnn4j2WBii3RL-Us2lGVkY8fkFzme1z0HbIkfz0Y6mqnOYtqc0X4jfcKoAC8Q");
    let cases = [
        json!({ "jwks_uri": "https://app.example/jwks.json", "jwks": {"keys": [public_rsa]} }),
        json!({ "jwks": {"keys": [private_rsa]} }),
        json!({ "jwks": {"keys": [{"kty": "EC", "crv": "P-256",
            "x": "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU",
            "y": "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0",
            "d": "jpsQnnGQmL-YBIffH1136cspYG6-0iY7X1fCE9-E9LI"}]} }),
        json!({ "jwks": {"keys": [{"kty": "OKP", "crv": "Ed25519",
            "x": "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo",
            "d": "nWGxne_9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A"}]} }),
        json!({ "jwks": {"keys": [{"kty": "oct", "k": "GawgguFyGrWKav7AX4VKUg"}]} }),
        json!({ "jwks": {"keys": [{"kty": "RSA", "n": "0vx7"}]} }),
        json!({ "jwks": [] }),
        json!({ "jwks": {"keys": "none"} }),
    ];
    assert_refused(
        &policy(),
        cases.map(web_with),
        BAD_REQUEST,
        "invalid_client_metadata",
        "jwks",
    )
    .await;
    assert_accepted(
        &policy(),
        [web_with(json!({ "jwks": {"keys": [public_rsa]} }))],
    )
    .await;
}

// ---- the other URI members ----

const URI_FIELDS: [&str; 9] = [
    "client_uri",
    "logo_uri",
    "tos_uri",
    "policy_uri",
    "jwks_uri",
    "sector_identifier_uri",
    "initiate_login_uri",
    "frontchannel_logout_uri",
    "backchannel_logout_uri",
];

const BAD_WEB_URIS: [&str; 11] = [
    "http://app.example/x",
    "javascript:alert(1)",
    "JavaScript:alert(1)",
    "data:image/svg+xml,<svg onload=alert(1)>",
    "file:///etc/passwd",
    "about:blank",
    "/relative",
    "app.example/x",
    "https://user@app.example/x",
    "https://app.example/x y",
    "HTTPS://app.example/x",
];

#[tokio::test]
async fn other_uri_members_must_be_absolute_https_without_dangerous_schemes() {
    for field in URI_FIELDS {
        let bodies = BAD_WEB_URIS
            .iter()
            .chain(&["https://app.example/x#fragment"])
            .map(|uri| web_with(json!({ field: uri })));
        assert_refused(
            &policy(),
            bodies,
            BAD_REQUEST,
            "invalid_client_metadata",
            field,
        )
        .await;
    }
    let bodies = BAD_WEB_URIS
        .iter()
        .map(|uri| web_with(json!({ "request_uris": [uri] })));
    assert_refused(
        &policy(),
        bodies,
        BAD_REQUEST,
        "invalid_client_metadata",
        "request_uris",
    )
    .await;
    let bodies = BAD_WEB_URIS
        .iter()
        .map(|uri| web_with(json!({ "logo_uri#fr": uri })));
    assert_refused(
        &policy(),
        bodies,
        BAD_REQUEST,
        "invalid_client_metadata",
        "logo_uri#fr",
    )
    .await;
}

#[tokio::test]
async fn other_uri_members_accept_https() {
    let mut members = serde_json::Map::new();
    for field in URI_FIELDS {
        members.insert(
            field.to_owned(),
            json!(format!("https://app.example/{field}")),
        );
    }
    // OIDC Registration §2: a request_uri may carry a fragment with a hash of its content.
    members.insert(
        "request_uris".to_owned(),
        json!(["https://app.example/request.jwt#GkurKxf5T0Y-mnPFCHqWOMiZi4VS138cQO_V7PZHAdM"]),
    );
    assert_accepted(&policy(), [web_with(Value::Object(members))]).await;
}

#[tokio::test]
async fn http_metadata_uris_only_with_the_dangerous_development_switch() {
    let mut development = policy();
    development.dangerously_allow_http_metadata_uris = true;
    assert_accepted(
        &development,
        [web_with(json!({ "logo_uri": "http://app.example/logo.png", "client_uri": "http://app.example" }))],
    )
    .await;
    // Relaxing https never lets a dangerous scheme through.
    let bodies = DANGEROUS
        .iter()
        .map(|uri| web_with(json!({ "logo_uri": uri })));
    assert_refused(
        &development,
        bodies,
        BAD_REQUEST,
        "invalid_client_metadata",
        "logo_uri",
    )
    .await;
}

// ---- scope ----

#[tokio::test]
async fn scope_tokens_must_use_the_rfc_6749_characters() {
    // The syntax rule alone: a policy that takes any scope (the default declares its scopes).
    let mut any = policy();
    any.scope = ScopePolicy::Any;
    let bodies = [
        "openid \"quoted\"",
        "read\\write",
        "réad",
        "openid\tprofile",
        "openid\nprofile",
    ]
    .map(|scope| web_with(json!({ "scope": scope })));
    assert_refused(
        &any,
        bodies,
        BAD_REQUEST,
        "invalid_client_metadata",
        "scope",
    )
    .await;
    assert_accepted(
        &any,
        [web_with(json!({ "scope": "openid profile https://api.example/read urn:x:y!#$%&'()*+,-./:;<=>?@[]^_`{|}~" }))],
    )
    .await;
}

#[tokio::test]
async fn scope_policy_narrow_removes_what_it_does_not_allow() {
    let mut narrow = policy();
    narrow.scope = ScopePolicy::narrow_to(["openid", "profile"]);
    let server = Server::with_policy(narrow);
    let response = server
        .register_bytes(&web_with(json!({ "scope": "openid admin profile" })))
        .await
        .unwrap();
    assert_eq!(Reply::of(response.clone()).json["scope"], "openid profile");
    let stored = server.record(&response.client_id).await;
    assert_eq!(
        stored
            .metadata
            .scope
            .map(|s| s.as_str().to_owned())
            .as_deref(),
        Some("openid profile")
    );
}

#[tokio::test]
async fn scope_policy_reject_refuses_what_it_does_not_allow() {
    let mut reject = policy();
    reject.scope = ScopePolicy::reject_outside(["openid", "profile"]);
    assert_refused(
        &reject,
        [web_with(json!({ "scope": "openid admin" }))],
        BAD_REQUEST,
        "invalid_client_metadata",
        "scope",
    )
    .await;
    let server = Server::with_policy(reject.clone());
    let err = server
        .refuse_bytes(&web_with(json!({ "scope": "openid admin" })))
        .await;
    assert!(Reply::of(err).description().contains("admin"));
    assert_accepted(&reject, [web_with(json!({ "scope": "profile openid" }))]).await;
}

// ---- JOSE algorithms ----

#[tokio::test]
async fn jose_algorithms_must_be_supported() {
    let cases = [
        ("id_token_signed_response_alg", "HS256"),
        ("id_token_signed_response_alg", "none"),
        ("id_token_signed_response_alg", "rs256"),
        ("userinfo_signed_response_alg", "none"),
        ("request_object_signing_alg", "HS512"),
        ("token_endpoint_auth_signing_alg", "none"),
        ("authorization_signed_response_alg", "RS1"),
        ("introspection_signed_response_alg", "none"),
        ("id_token_encrypted_response_alg", "RSA1_5"),
        ("userinfo_encrypted_response_alg", "dir"),
        ("request_object_encryption_alg", "A128KW"),
        ("authorization_encrypted_response_alg", "RSA1_5"),
        ("introspection_encrypted_response_alg", "RSA1_5"),
    ];
    for (field, alg) in cases {
        assert_refused(
            &policy(),
            [web_with(json!({ field: alg }))],
            BAD_REQUEST,
            "invalid_client_metadata",
            field,
        )
        .await;
    }
    let enc_cases = [
        ("id_token_encrypted_response", "A1024GCM"),
        ("userinfo_encrypted_response", "A128CBC+HS256"),
        ("request_object_encryption", "none"),
        ("authorization_encrypted_response", "A192CBC"),
        ("introspection_encrypted_response", "XC20P"),
    ];
    for (prefix, enc) in enc_cases {
        let alg_field = format!("{prefix}_alg");
        let enc_field = format!("{prefix}_enc");
        assert_refused(
            &policy(),
            [web_with(
                json!({ alg_field: "RSA-OAEP-256", enc_field.clone(): enc }),
            )],
            BAD_REQUEST,
            "invalid_client_metadata",
            &enc_field,
        )
        .await;
        // enc without alg
        assert_refused(
            &policy(),
            [web_with(json!({ enc_field.clone(): "A128GCM" }))],
            BAD_REQUEST,
            "invalid_client_metadata",
            &enc_field,
        )
        .await;
    }
}

#[tokio::test]
async fn supported_jose_algorithms_are_accepted() {
    assert_accepted(
        &policy(),
        [web_with(json!({
            "id_token_signed_response_alg": "PS256",
            "userinfo_signed_response_alg": "ES256",
            "request_object_signing_alg": "EdDSA",
            "token_endpoint_auth_method": "private_key_jwt",
            "jwks_uri": "https://app.example/jwks.json",
            "token_endpoint_auth_signing_alg": "PS256",
            "id_token_encrypted_response_alg": "RSA-OAEP-256",
            "id_token_encrypted_response_enc": "A256GCM",
            "authorization_signed_response_alg": "ES256",
            "introspection_signed_response_alg": "RS256",
        }))],
    )
    .await;
}

#[tokio::test]
async fn id_token_alg_none_is_refused_when_a_response_type_returns_an_id_token() {
    // A policy that supports `none` for ID tokens, so that only the response-type rule applies.
    let mut allows_none = implicit_policy();
    allows_none
        .jose
        .id_token_signing
        .push(JoseAlgorithm::from("none"));
    let with_id_token = [
        json!({ "grant_types": ["authorization_code", "implicit"], "response_types": ["code id_token"] }),
        json!({ "grant_types": ["implicit"], "response_types": ["id_token"] }),
        json!({ "grant_types": ["implicit"], "response_types": ["id_token token"] }),
    ];
    let bodies = with_id_token.map(|mut body| {
        body["redirect_uris"] = json!(["https://app.example/cb"]);
        body["id_token_signed_response_alg"] = json!("none");
        bytes(body)
    });
    assert_refused(
        &allows_none,
        bodies,
        BAD_REQUEST,
        "invalid_client_metadata",
        "id_token_signed_response_alg",
    )
    .await;
    // The code flow returns ID tokens from the token endpoint only: `none` is allowed there.
    assert_accepted(
        &allows_none,
        [web_with(
            json!({ "response_types": ["code"], "id_token_signed_response_alg": "none" }),
        )],
    )
    .await;
}

// ---- subject types ----

#[tokio::test]
async fn subject_type_must_be_supported() {
    assert_refused(
        &policy(),
        [
            web_with(json!({ "subject_type": "pairwise" })),
            web_with(json!({ "subject_type": "anonymous" })),
        ],
        BAD_REQUEST,
        "invalid_client_metadata",
        "subject_type",
    )
    .await;
}

#[tokio::test]
async fn pairwise_with_redirect_uris_on_several_hosts_needs_a_sector_identifier_uri() {
    let mut pairwise = policy();
    pairwise.subject_types_supported.push(SubjectType::Pairwise);
    let two_hosts = json!(["https://app.example/cb", "https://other.example/cb"]);
    assert_refused(
        &pairwise,
        [bytes(
            json!({ "subject_type": "pairwise", "redirect_uris": two_hosts }),
        )],
        BAD_REQUEST,
        "invalid_client_metadata",
        "sector_identifier_uri",
    )
    .await;
    assert_accepted(
        &pairwise,
        [
            bytes(json!({
                "subject_type": "pairwise",
                "redirect_uris": two_hosts,
                "sector_identifier_uri": "https://app.example/sector.json",
            })),
            bytes(json!({
                "subject_type": "pairwise",
                "redirect_uris": ["https://app.example/cb", "https://app.example/cb2"],
            })),
        ],
    )
    .await;
}

// ---- other members ----

#[tokio::test]
async fn malformed_language_tags_are_refused() {
    for field in [
        "client_name#ja_JP",
        "client_name#toolongsubtag",
        "logo_uri#1en",
        "client_name#en-",
    ] {
        assert_refused(
            &policy(),
            [web_with(json!({ field: "x" }))],
            BAD_REQUEST,
            "invalid_client_metadata",
            field,
        )
        .await;
    }
}

#[tokio::test]
async fn application_type_must_be_supported() {
    assert_refused(
        &policy(),
        [web_with(json!({ "application_type": "desktop" }))],
        BAD_REQUEST,
        "invalid_client_metadata",
        "application_type",
    )
    .await;
}

#[tokio::test]
async fn human_readable_text_has_no_control_characters_and_is_not_empty() {
    for (field, value) in [
        ("client_name", json!("")),
        ("client_name", json!("App\u{0}")),
        ("client_name", json!("App\u{1b}[31m")),
        ("client_name#fr", json!("Appli\n")),
        ("software_id", json!(" ")),
        (
            "contacts",
            json!(["ops@app.example\r\nBcc: x@evil.example"]),
        ),
    ] {
        assert_refused(
            &policy(),
            [web_with(json!({ field: value }))],
            BAD_REQUEST,
            "invalid_client_metadata",
            field,
        )
        .await;
    }
}

// ---- issue 14: every rule on registration and on update ----

/// Registers a valid web client on a fresh server with `policy`, then sends an update carrying
/// `members` over a valid body, and describes how the answer differs from a 400 `code` naming
/// `field` that leaves the stored client exactly as it was.
async fn update_problems(
    policy: &ServerPolicy,
    members: &Value,
    code: &str,
    field: &str,
) -> Option<String> {
    let server = Server::with_policy(policy.clone());
    let client = server.register(&web_client()).await;
    let before = server.record(&client.client_id).await;
    let mut body =
        json!({ "client_id": client.client_id, "redirect_uris": ["https://app.example/cb"] });
    for (k, v) in members.as_object().unwrap() {
        body[k] = v.clone();
    }
    let shown: String = members.to_string().chars().take(160).collect();
    let Err(err) = server
        .update(&client.client_id, Some(&common::token(&client)), &body)
        .await
    else {
        return Some(format!("update {shown}: accepted"));
    };
    let mut problems = Vec::new();
    if let RegistrationError::InvalidMetadata(violations) = &err {
        if !violations.names(field) {
            let named: Vec<&str> = violations.iter().map(|v| v.field.as_str()).collect();
            problems.push(format!("violations name {named:?}, not `{field}`"));
        }
    }
    let reply = Reply::of(err);
    if reply.status.as_u16() != BAD_REQUEST || reply.error() != code {
        problems.push(format!(
            "{} `{}` instead of 400 `{code}`",
            reply.status,
            reply.error()
        ));
    }
    if !reply.description().contains(field) {
        problems.push(format!(
            "error_description does not name `{field}`: {:?}",
            reply.description()
        ));
    }
    if server.record(&client.client_id).await != before {
        problems.push("the stored client changed".to_owned());
    }
    (!problems.is_empty()).then(|| format!("update {shown}: {}", problems.join("; ")))
}

/// Asserts that each set of `members`, added to a valid web client, is refused with `code`
/// naming `field` both on registration (nothing stored, `validate()` agreeing) and on update
/// (the client unchanged).
async fn assert_refused_on_both(
    policy: &ServerPolicy,
    cases: impl IntoIterator<Item = Value>,
    code: &str,
    field: &str,
) {
    let mut failures = Vec::new();
    for members in cases {
        let body = web_with(members.clone());
        failures.extend(refusal_problems(policy, &body, BAD_REQUEST, code, (field, field)).await);
        failures.extend(update_problems(policy, &members, code, field).await);
    }
    assert!(failures.is_empty(), "\n{}\n", failures.join("\n"));
}

/// Non-public and loopback hosts, each as a canonical URL host.
const PRIVATE_HOSTS: [&str; 14] = [
    "169.254.169.254",
    "10.0.0.1",
    "127.0.0.1",
    "127.0.0.2",
    "192.168.0.1",
    "100.64.0.1",
    "0.0.0.0",
    "[::1]",
    "[::]",
    "[fd00::1]",
    "[::ffff:a9fe:a9fe]",
    "localhost",
    "localhost.",
    "api.localhost",
];

#[tokio::test]
async fn urls_the_server_calls_must_not_point_at_private_or_loopback_hosts() {
    for field in [
        "jwks_uri",
        "sector_identifier_uri",
        "backchannel_logout_uri",
    ] {
        let cases = PRIVATE_HOSTS
            .iter()
            .map(|host| json!({ field: format!("https://{host}/latest/meta-data/") }));
        assert_refused_on_both(&policy(), cases, "invalid_client_metadata", field).await;
    }
    let cases = PRIVATE_HOSTS.iter().map(
        |host| json!({ "request_uris": ["https://app.example/r", format!("https://{host}/r")] }),
    );
    assert_refused_on_both(&policy(), cases, "invalid_client_metadata", "request_uris").await;
    assert_accepted(
        &policy(),
        [
            web_with(json!({ "jwks_uri": "https://93.184.216.34/jwks.json" })),
            web_with(json!({ "backchannel_logout_uri": "https://[2606:4700::1111]/logout" })),
            web_with(json!({ "request_uris": ["https://app.example/r#abc"] })),
            web_with(json!({ "sector_identifier_uri": "https://localhost.app.example/s" })),
            // Shown to the user, never called by the server.
            web_with(json!({ "client_uri": "https://10.0.0.1/" })),
        ],
    )
    .await;
}

#[tokio::test]
async fn loopback_and_unspecified_look_alikes_are_refused_for_web_clients() {
    let uris = [
        "https://localhost./cb",
        "https://app.localhost./cb",
        "https://127.0.0.2/cb",
        "https://127.255.255.254/cb",
        "https://0.0.0.0/cb",
        "https://[::ffff:7f00:1]/cb",
        "https://[::]/cb",
        "https://[::1]/cb",
        "https://[::ffff:0:0]/cb",
    ];
    let cases = uris.iter().map(|uri| json!({ "redirect_uris": [uri] }));
    assert_refused_on_both(&policy(), cases, "invalid_redirect_uri", "redirect_uris").await;
    let native = uris
        .iter()
        .map(|uri| json!({ "application_type": "native", "redirect_uris": [uri] }));
    assert_refused_on_both(&policy(), native, "invalid_redirect_uri", "redirect_uris").await;
    // The RFC 8252 loopback redirects of native clients stay accepted.
    assert_accepted(
        &policy(),
        [
            redirect("native", "http://127.0.0.1:51004/cb"),
            redirect("native", "http://[::1]:8080/cb"),
            redirect("web", "https://localhost.app.example/cb"),
        ],
    )
    .await;
}

#[tokio::test]
async fn every_client_key_is_parsed_and_weak_or_malformed_keys_are_refused() {
    let bad_keys = [
        json!({"kty": "EC", "crv": "P-999", "x": "AA", "y": "AA"}),
        json!({"kty": "EC", "crv": "P-192", "x": EC_X, "y": EC_Y}),
        json!({"kty": "EC", "crv": "P-256", "x": EC_X, "y": EC_Y.replacen('x', "y", 1)}),
        json!({"kty": "EC", "crv": "P-256", "x": "AA", "y": "AA"}),
        json!({"kty": "EC", "crv": "P-384", "x": EC_X, "y": EC_Y}),
        json!({"kty": "RSA", "n": RSA_1024_N, "e": "AQAB"}),
        json!({"kty": "RSA", "n": "0vx7", "e": "AQAB"}),
        json!({"kty": "OKP", "crv": "Ed25519", "x": "AA"}),
        json!({"kty": "OKP", "crv": "Ed999", "x": "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}),
        json!({"kty": "EC", "crv": "P-256", "x": "not base64!", "y": EC_Y}),
    ];
    let cases = bad_keys
        .iter()
        .map(|key| json!({ "jwks": {"keys": [{"kty": "EC", "crv": "P-256", "x": EC_X, "y": EC_Y}, key]} }));
    assert_refused_on_both(&policy(), cases, "invalid_client_metadata", "jwks").await;
    // The refusal names the key by index and `kid`.
    let weak = json!({ "jwks": {"keys": [{"kty": "RSA", "kid": "old-1024", "n": RSA_1024_N, "e": "AQAB"}]} });
    let err = Server::new().refuse_bytes(&web_with(weak)).await;
    let reply = Reply::of(err);
    for needle in ["key 0", "old-1024", "1024"] {
        assert!(
            reply.description().contains(needle),
            "{needle}: {}",
            reply.description()
        );
    }
    assert_accepted(
        &policy(),
        [
            web_with(json!({ "jwks": {"keys": [{"kty": "EC", "crv": "P-256", "x": EC_X, "y": EC_Y, "use": "sig", "alg": "ES256", "kid": "1"}]} })),
            web_with(json!({ "jwks": {"keys": [{"kty": "OKP", "crv": "Ed25519", "x": "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}]} })),
            web_with(json!({ "jwks": {"keys": [{"kty": "OKP", "crv": "X25519", "use": "enc", "x": "hSDwCYkwp1R0i33ctD73Wg2_Og0mOBr066SpjqqbTmo"}]} })),
            // An empty set is harmless when nothing needs the client's keys.
            web_with(json!({ "jwks": {"keys": []} })),
        ],
    )
    .await;
}

#[tokio::test]
async fn a_key_set_without_a_usable_key_is_refused_where_keys_are_needed() {
    let empty = json!({"keys": []});
    let enc_only =
        json!({"keys": [{"kty": "EC", "crv": "P-256", "use": "enc", "x": EC_X, "y": EC_Y}]});
    let sig_only =
        json!({"keys": [{"kty": "EC", "crv": "P-256", "use": "sig", "x": EC_X, "y": EC_Y}]});
    let cases = [
        json!({ "token_endpoint_auth_method": "private_key_jwt", "jwks": empty }),
        json!({ "token_endpoint_auth_method": "private_key_jwt", "jwks": enc_only }),
        json!({ "token_endpoint_auth_method": "self_signed_tls_client_auth", "jwks": empty }),
        json!({ "request_object_signing_alg": "ES256", "jwks": empty }),
        json!({ "id_token_encrypted_response_alg": "ECDH-ES", "jwks": empty }),
        json!({ "userinfo_encrypted_response_alg": "RSA-OAEP", "jwks": sig_only }),
    ];
    assert_refused_on_both(&policy(), cases, "invalid_client_metadata", "jwks").await;
    assert_accepted(
        &policy(),
        [
            web_with(json!({ "token_endpoint_auth_method": "private_key_jwt", "jwks": sig_only })),
            web_with(json!({ "id_token_encrypted_response_alg": "ECDH-ES", "jwks": enc_only })),
        ],
    )
    .await;
}

#[tokio::test]
async fn malformed_response_types_are_refused_and_reordered_ones_stored_as_the_server_spells_them()
{
    let cases = [
        json!({ "response_types": [" code "] }),
        json!({ "response_types": ["code code"] }),
        json!({ "response_types": ["code", "code  id_token"] }),
        json!({ "response_types": [""] }),
    ];
    assert_refused_on_both(
        &implicit_policy(),
        cases,
        "invalid_client_metadata",
        "response_types",
    )
    .await;
    let server = Server::with_policy(implicit_policy());
    let client = server
        .register(&json!({
            "redirect_uris": ["https://app.example/cb"],
            "grant_types": ["authorization_code", "implicit"],
            "response_types": ["id_token code", "code id_token", "code"],
        }))
        .await;
    let stored = server.record(&client.client_id).await;
    let types: Vec<&str> = stored
        .metadata
        .response_types
        .iter()
        .flatten()
        .map(ResponseType::as_str)
        .collect();
    assert_eq!(types, ["code id_token", "code"]);
}

#[tokio::test]
async fn control_characters_are_refused_in_every_string_member() {
    let mut policy = policy();
    policy
        .accepted_extensions
        .insert("example_extension".to_owned());
    let mtls = |member: &str, value: &str| json!({ "token_endpoint_auth_method": "tls_client_auth", member: value });
    let cases = [
        (
            "tls_client_auth_subject_dn",
            mtls("tls_client_auth_subject_dn", "CN=app\u{0},O=Evil"),
        ),
        (
            "tls_client_auth_san_dns",
            mtls("tls_client_auth_san_dns", "app.example\u{0}"),
        ),
        (
            "tls_client_auth_san_uri",
            mtls("tls_client_auth_san_uri", "https://app.example/\u{1}"),
        ),
        (
            "tls_client_auth_san_ip",
            mtls("tls_client_auth_san_ip", "192.0.2.1\u{0}"),
        ),
        (
            "tls_client_auth_san_email",
            mtls("tls_client_auth_san_email", "a@app.example\u{7f}"),
        ),
        (
            "example_extension",
            json!({ "example_extension": {"nested": ["ok", "bad\u{0}"]} }),
        ),
        (
            "example_extension",
            json!({ "example_extension": {"bad\u{0}key": 1} }),
        ),
        (
            "jwks",
            json!({ "jwks": {"keys": [{"kty": "EC", "crv": "P-256", "x": EC_X, "y": EC_Y, "kid": "k\u{0}"}]} }),
        ),
        (
            "default_acr_values",
            json!({ "default_acr_values": ["urn:acr\u{1b}"] }),
        ),
        (
            "authorization_details_types",
            json!({ "authorization_details_types": ["payment\u{0}"] }),
        ),
        (
            "software_version",
            json!({ "software_version": "1.0\u{7f}" }),
        ),
        ("client_name", json!({ "client_name": "App\u{7f}" })),
        ("client_name#en", json!({ "client_name#en": "App\u{0}" })),
    ];
    for (field, members) in cases {
        assert_refused_on_both(&policy, [members], "invalid_client_metadata", field).await;
    }
}

#[tokio::test]
async fn bidirectional_overrides_are_refused_in_display_members() {
    let cases = [
        (
            "client_name",
            json!({ "client_name": "Good Bank\u{202e}knaB liveE" }),
        ),
        (
            "client_name",
            json!({ "client_name": "\u{2066}Evil\u{2069}" }),
        ),
        (
            "client_name#en",
            json!({ "client_name#en": "Good\u{202a} Bank" }),
        ),
        ("client_name#ar", json!({ "client_name#ar": "\u{2067}x" })),
        (
            "logo_uri#en",
            json!({ "logo_uri#en": "https://app.example/\u{202e}gnp.exe" }),
        ),
        (
            "tos_uri",
            json!({ "tos_uri": "https://app.example/\u{2068}tos" }),
        ),
    ];
    for (field, members) in cases {
        assert_refused_on_both(&policy(), [members], "invalid_client_metadata", field).await;
    }
    // Right-to-left text itself is welcome.
    assert_accepted(
        &policy(),
        [web_with(
            json!({ "client_name": "بنك جيد", "client_name#he": "בנק" }),
        )],
    )
    .await;
}

#[tokio::test]
async fn contacts_must_be_plausible_email_addresses() {
    let long = format!("{}@app.example", "a".repeat(250));
    let bad = [
        "not-an-email",
        "ops@",
        "@app.example",
        "ops@@app.example",
        "ops@app@example",
        "ops @app.example",
        "Ops <ops@app.example>",
        "ops@app..example",
        "ops@.app.example",
        long.as_str(),
    ];
    let cases = bad
        .iter()
        .map(|c| json!({ "contacts": ["ok@app.example", c] }));
    assert_refused_on_both(&policy(), cases, "invalid_client_metadata", "contacts").await;
    assert_accepted(
        &policy(),
        [web_with(json!({ "contacts": ["ops@app.example", "first.last+dcr@sub.app.example", "o'brien@xn--bcher-kva.example"] }))],
    )
    .await;
}

#[tokio::test]
async fn without_declared_scopes_only_the_openid_standard_scopes_are_granted() {
    let default = ServerPolicy::new(common::ENDPOINT);
    let cases = [
        json!({ "scope": "admin" }),
        json!({ "scope": "openid admin" }),
        json!({ "scope": "openid profile write:everything" }),
    ];
    assert_refused_on_both(&default, cases, "invalid_client_metadata", "scope").await;
    let standard = "openid profile email address phone offline_access";
    let server = Server::with_policy(default.clone());
    let client = server
        .register(&json!({ "redirect_uris": ["https://app.example/cb"], "scope": standard }))
        .await;
    assert_eq!(Reply::of(client).json["scope"], standard);
    // Discovery advertises exactly what registration accepts.
    let discovery = oauth_dcr::discovery::discovery_metadata(&default);
    let mut advertised: Vec<&str> = discovery["scopes_supported"]
        .as_array()
        .expect("scopes_supported")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    advertised.sort_unstable();
    let mut expected: Vec<&str> = standard.split(' ').collect();
    expected.sort_unstable();
    assert_eq!(advertised, expected);
}

#[tokio::test]
async fn language_tagged_display_uris_must_be_on_a_redirect_host_too() {
    let mut same_host = policy();
    same_host.require_same_host_display_uris = true;
    for field in [
        "logo_uri#en",
        "tos_uri#fr",
        "policy_uri#ja-Jpan-JP",
        "client_uri#de",
    ] {
        let cases = [json!({ field: "https://evil.example/x" })];
        assert_refused_on_both(&same_host, cases, "invalid_client_metadata", field).await;
    }
    assert_accepted(
        &same_host,
        [web_with(
            json!({ "logo_uri#en": "https://app.example/logo-en.png" }),
        )],
    )
    .await;
}

#[tokio::test]
async fn private_addresses_only_with_the_dangerous_development_switch() {
    let mut development = policy();
    development.dangerously_allow_private_addresses = true;
    let bodies = [
        web_with(json!({ "jwks_uri": "https://127.0.0.1:8443/jwks.json" })),
        web_with(json!({ "sector_identifier_uri": "https://localhost/sector.json" })),
        web_with(json!({ "request_uris": ["https://10.0.0.1/r"] })),
        web_with(json!({ "backchannel_logout_uri": "https://192.168.0.1/logout" })),
    ];
    assert_accepted(&development, bodies.clone()).await;
    assert_refused_naming(
        &policy(),
        bodies,
        BAD_REQUEST,
        "invalid_client_metadata",
        ("", "the server would call it"),
    )
    .await;
    // The switch is about addresses only: https is still required.
    assert_refused(
        &development,
        [web_with(
            json!({ "jwks_uri": "http://127.0.0.1/jwks.json" }),
        )],
        BAD_REQUEST,
        "invalid_client_metadata",
        "jwks_uri",
    )
    .await;
}

#[tokio::test]
async fn an_accepted_ciba_notification_endpoint_must_be_public_https() {
    let mut ciba = policy();
    ciba.accepted_extensions
        .insert("backchannel_client_notification_endpoint".to_owned());
    let field = "backchannel_client_notification_endpoint";
    let cases = [
        json!({ field: "https://169.254.169.254/notify" }),
        json!({ field: "https://localhost/notify" }),
        json!({ field: "http://app.example/notify" }),
        json!({ field: 7 }),
    ];
    assert_refused_on_both(&ciba, cases, "invalid_client_metadata", field).await;
    assert_accepted(
        &ciba,
        [web_with(json!({ field: "https://app.example/notify" }))],
    )
    .await;
}
