//! Proptest strategies shared by `tests/properties.rs` and `tests/fuzz_stable.rs`: arbitrary JSON
//! values biased towards client metadata, member names, URIs and language tags.

// Each test binary uses its own subset of these strategies.
#![allow(dead_code, unreachable_pub)]

use proptest::prelude::*;
use serde_json::{Map, Value};

/// Every metadata member the crate knows, the server-owned ones, and a few it does not.
pub const MEMBERS: &[&str] = &[
    "redirect_uris",
    "token_endpoint_auth_method",
    "grant_types",
    "response_types",
    "client_name",
    "client_uri",
    "logo_uri",
    "scope",
    "contacts",
    "tos_uri",
    "policy_uri",
    "jwks_uri",
    "jwks",
    "software_id",
    "software_version",
    "software_statement",
    "application_type",
    "sector_identifier_uri",
    "subject_type",
    "id_token_signed_response_alg",
    "id_token_encrypted_response_alg",
    "id_token_encrypted_response_enc",
    "userinfo_signed_response_alg",
    "request_object_signing_alg",
    "token_endpoint_auth_signing_alg",
    "default_max_age",
    "require_auth_time",
    "default_acr_values",
    "initiate_login_uri",
    "request_uris",
    "post_logout_redirect_uris",
    "frontchannel_logout_uri",
    "backchannel_logout_uri",
    "tls_client_auth_subject_dn",
    "tls_client_auth_san_dns",
    "tls_client_certificate_bound_access_tokens",
    "dpop_bound_access_tokens",
    "require_pushed_authorization_requests",
    "authorization_details_types",
    "authorization_signed_response_alg",
    "introspection_encrypted_response_alg",
    "client_id",
    "client_secret",
    "registration_access_token",
    "registration_client_uri",
    "client_id_issued_at",
    "client_secret_expires_at",
    "client_name#ja-Jpan-JP",
    "logo_uri#fr",
    "client_name#",
    "example_extension_parameter",
    "skip_consent",
    "x",
];

/// Strings that mean something to a registration server.
pub const INTERESTING: &[&str] = &[
    "https://app.example/cb",
    "https://app.example/cb#x",
    "http://127.0.0.1:8080/cb",
    "http://localhost/cb",
    "com.example.app:/cb",
    "javascript:alert(1)",
    "https://user@app.example/cb",
    "https://*.app.example/cb",
    "/relative",
    "",
    "authorization_code",
    "implicit",
    "password",
    "client_credentials",
    "refresh_token",
    "code",
    "token",
    "code id_token",
    "none",
    "client_secret_basic",
    "client_secret_jwt",
    "private_key_jwt",
    "tls_client_auth",
    "web",
    "native",
    "pairwise",
    "RS256",
    "HS256",
    "A128CBC-HS256",
    "openid profile",
    "\u{0}",
    "\u{202e}",
];

fn leaf() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        // Floats with a short exact decimal form: `tests/properties.rs` tests long ones apart.
        any::<i32>().prop_map(|i| Value::from(f64::from(i) / 4.0)),
        ".{0,24}".prop_map(Value::String),
        prop::sample::select(INTERESTING).prop_map(Value::from),
    ]
}

/// A member name: a known one most of the time.
pub fn member_name() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => prop::sample::select(MEMBERS).prop_map(str::to_owned),
        1 => ".{0,12}",
    ]
}

/// Any JSON value, nested up to `depth` levels.
pub fn json(depth: u32) -> impl Strategy<Value = Value> {
    leaf().prop_recursive(depth, 48, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::vec((member_name(), inner), 0..6)
                .prop_map(|members| Value::Object(members.into_iter().collect())),
        ]
    })
}

/// A JSON object of metadata members with arbitrary values.
pub fn metadata_object() -> impl Strategy<Value = Map<String, Value>> {
    prop::collection::vec((member_name(), json(3)), 0..10)
        .prop_map(|members| members.into_iter().collect())
}

/// A well-formed BCP 47 language tag (as the crate recognises them).
pub fn language_tag() -> impl Strategy<Value = String> {
    prop_oneof![
        prop::sample::select(
            &[
                "fr",
                "ja-Jpan-JP",
                "de-CH-1996",
                "x-private",
                "en-US",
                "zh-Hant"
            ][..]
        )
        .prop_map(str::to_owned),
        "[a-zA-Z]{1,8}(-[a-zA-Z0-9]{1,8}){0,3}",
    ]
}

/// Text a consent screen may show: non-blank, no control characters.
pub fn display_text() -> impl Strategy<Value = String> {
    // No control characters (refused in every member) and no bidirectional override or isolate
    // characters (refused in display members).
    "[^\\p{Cc}\\x{202A}-\\x{202E}\\x{2066}-\\x{2069}]{1,32}"
        .prop_filter("not blank", |s| !s.trim().is_empty())
}

/// A compact-JWS-like string: three (sometimes two or four) base64url segments of JSON-ish
/// headers and payloads, or raw segments.
pub fn compact_jws() -> impl Strategy<Value = String> {
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use base64::Engine as _;
    let header = prop_oneof![
        (
            prop::sample::select(
                &["none", "None", "RS256", "PS256", "ES256", "EdDSA", "HS256", ""][..]
            ),
            prop::option::of(".{0,12}"),
            prop::option::of(json(1)),
        )
            .prop_map(|(alg, kid, extra)| {
                let mut h = serde_json::json!({ "alg": alg });
                if let Some(kid) = kid {
                    h["kid"] = kid.into();
                }
                if let Some(extra) = extra {
                    h["crit"] = extra;
                }
                h.to_string()
            }),
        json(2).prop_map(|v| v.to_string()),
        ".{0,16}",
    ];
    let payload = prop_oneof![
        (
            metadata_object(),
            prop::option::of(".{0,30}"),
            any::<Option<i64>>()
        )
            .prop_map(|(mut m, iss, exp)| {
                if let Some(iss) = iss {
                    m.insert("iss".into(), iss.into());
                }
                if let Some(exp) = exp {
                    m.insert("exp".into(), exp.into());
                }
                Value::Object(m).to_string()
            }),
        ".{0,16}",
    ];
    let signature = prop::collection::vec(any::<u8>(), 0..80);
    (header, payload, signature, 0..6u8, ".{0,4}").prop_map(|(h, p, s, shape, raw)| {
        let h = URL_SAFE_NO_PAD.encode(h);
        let p = URL_SAFE_NO_PAD.encode(p);
        let s = URL_SAFE_NO_PAD.encode(s);
        match shape {
            0 => format!("{h}.{p}"),
            1 => format!("{h}.{p}.{s}.{raw}"),
            2 => format!("{h}.{p}."),
            3 => format!("{h}.{raw}.{s}"),
            _ => format!("{h}.{p}.{s}"),
        }
    })
}
