//! Property tests (proptest) of parsing and validation:
//!
//! - whatever metadata the crate accepts serializes, parses back and validates to the same
//!   result, and validating the validated output changes nothing (defaults are idempotent);
//!   the registered, stored and read-back metadata are that same result;
//! - validation never panics on any JSON value, and every refusal carries an RFC error code and
//!   names at least one field (structural refusals are `invalid_request`);
//! - language-tagged members and accepted extension members survive the round trip unchanged;
//! - whatever a read returns is an update that changes nothing, and an update is refused exactly
//!   when a registration of the same metadata is (RFC 7592 §2.2).

mod arbitrary;
mod common;

use std::sync::Arc;

use common::*;
use oauth_dcr::initial_tokens::InitialAccessGrant;
use oauth_dcr::{
    ClientMetadata, ClientStore, ErrorCode, MemoryStore, Registrar, RegistrationError,
    RegistrationResponse, RequestContext, ServerPolicy,
};
use proptest::prelude::*;
use serde_json::{json, Map, Value};

const EXTENSION: &str = "example_extension_parameter";

fn registrar() -> Registrar {
    let mut policy = ServerPolicy::new(ENDPOINT);
    policy.accepted_extensions.insert(EXTENSION.to_owned());
    Registrar::new(policy, Arc::new(MemoryStore::new()))
}

/// `value` with every control character removed from its strings and member names.
fn without_controls(value: Value) -> Value {
    let clean = |s: String| s.chars().filter(|c| !c.is_control()).collect::<String>();
    match value {
        Value::String(s) => Value::String(clean(s)),
        Value::Array(items) => Value::Array(items.into_iter().map(without_controls).collect()),
        Value::Object(members) => Value::Object(
            members
                .into_iter()
                .map(|(k, v)| (clean(k), without_controls(v)))
                .collect(),
        ),
        other => other,
    }
}

/// Every refusal names an RFC code and, for metadata, at least one field.
fn check_refusal(error: &RegistrationError) -> Result<(), TestCaseError> {
    match error {
        RegistrationError::InvalidMetadata(violations) => {
            let list: Vec<_> = violations.iter().collect();
            prop_assert!(!list.is_empty(), "no violation in {error:?}");
            for v in list {
                prop_assert!(!v.field.is_empty(), "a violation names no field: {v:?}");
                prop_assert!(
                    matches!(
                        v.code,
                        ErrorCode::InvalidClientMetadata | ErrorCode::InvalidRedirectUri
                    ),
                    "a violation with a non-RFC 7591 code: {v:?}"
                );
                prop_assert!(!v.message.is_empty());
            }
            prop_assert_eq!(error.code(), violations.code().clone());
            prop_assert_eq!(error.status().as_u16(), 400);
        }
        RegistrationError::InvalidRequest(_) => {
            prop_assert_eq!(error.code(), ErrorCode::InvalidRequest);
            prop_assert_eq!(error.status().as_u16(), 400);
        }
        RegistrationError::BodyTooLarge { .. } => {
            prop_assert_eq!(error.code(), ErrorCode::InvalidRequest);
            prop_assert_eq!(error.status().as_u16(), 413);
        }
        other => prop_assert!(false, "validation refused with {other:?}"),
    }
    let body = serde_json::to_value(error.response()).unwrap();
    prop_assert!(body["error"].is_string());
    Ok(())
}

/// The round trip of accepted metadata: JSON and back, validated again, registered, stored and
/// read back; all the same.
fn check_round_trip(registrar: &Registrar, accepted: &ClientMetadata) -> Result<(), TestCaseError> {
    let json = serde_json::to_vec(accepted).unwrap();
    let parsed: ClientMetadata = serde_json::from_slice(&json).unwrap();
    prop_assert_eq!(&parsed, accepted);
    let again = registrar.validate_bytes(&json);
    prop_assert!(again.is_ok(), "the validated output is refused: {again:?}");
    let again = again.unwrap();
    prop_assert_eq!(&again, accepted, "validation is not idempotent");
    prop_assert_eq!(serde_json::to_vec(&again).unwrap(), json);

    let (registered, read) = block_on(async {
        let client = registrar
            .register_bytes(
                &serde_json::to_vec(accepted).unwrap(),
                &RequestContext::new(),
            )
            .await
            .unwrap();
        let token = token(&client);
        let read = registrar
            .read(&client.client_id, Some(&token))
            .await
            .unwrap();
        (client, read)
    });
    prop_assert_eq!(&registered.metadata, accepted);
    prop_assert_eq!(&read.metadata, accepted);
    // The response is written by hand: it must be what serde_json writes, byte for byte.
    prop_assert_eq!(
        registered.to_json(),
        serde_json::to_vec(&registered).unwrap()
    );
    prop_assert_eq!(read.to_json(), serde_json::to_vec(&read).unwrap());
    let wire: RegistrationResponse = serde_json::from_slice(&read.to_json()).unwrap();
    prop_assert_eq!(&wire.metadata, accepted);
    Ok(())
}

/// Metadata that is mostly valid: members from pools of good and bad values.
fn plausible_metadata() -> impl Strategy<Value = Map<String, Value>> {
    use arbitrary::{display_text, json, language_tag};
    let uris = prop::sample::subsequence(
        vec![
            "https://app.example/cb",
            "https://app.example/cb2?x=1",
            "https://tmp.com",
            "http://127.0.0.1:8080/cb",
            "com.example.app:/oauth2redirect",
            "https://app.example/cb#frag",
        ],
        0..4,
    );
    let grants = prop::sample::subsequence(
        vec![
            "authorization_code",
            "client_credentials",
            "refresh_token",
            "implicit",
        ],
        0..3,
    );
    let methods = prop::sample::select(vec![
        "client_secret_basic",
        "client_secret_post",
        "client_secret_jwt",
        "none",
        "private_key_jwt",
    ]);
    let scopes =
        prop::sample::subsequence(vec!["openid", "profile", "email", "read", "write"], 1..4);
    let web_uri = prop::sample::select(vec![
        "https://app.example/",
        "https://app.example/logo.png",
        "https://tmp.com/tos",
    ]);
    let ec_jwks = json!({"keys": [{"kty": "EC", "crv": "P-256", "kid": "1",
        "x": "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU",
        "y": "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"}]});
    (
        (
            prop::option::of(uris),
            prop::option::of(prop::sample::select(vec!["web", "native"])),
            prop::option::of(grants),
            prop::option::of(prop::sample::select(vec![
                vec!["code"],
                vec![],
                vec!["token"],
            ])),
            prop::option::of(methods),
            prop::option::of(display_text()),
            prop::collection::vec((language_tag(), display_text()), 0..3),
            prop::collection::vec((language_tag(), web_uri.clone()), 0..2),
        ),
        (
            prop::option::of(scopes),
            prop::option::of(prop::collection::vec("[a-z]{1,8}@example\\.com", 0..3)),
            prop::option::of(web_uri),
            any::<bool>(),
            prop::option::of(any::<u32>()),
            prop::option::of(any::<bool>()),
            prop::option::of(json(3)),
            prop::option::of(json(1)),
        ),
    )
        .prop_map(move |(a, b)| {
            let (uris, app, grants, responses, method, name, names, logos) = a;
            let (scopes, contacts, logo, with_jwks, max_age, auth_time, ext, unknown) = b;
            let mut m = Map::new();
            let mut put = |k: &str, v: Option<Value>| {
                if let Some(v) = v {
                    m.insert(k.to_owned(), v);
                }
            };
            put("redirect_uris", uris.map(|u| json!(u)));
            put("application_type", app.map(Value::from));
            put("grant_types", grants.map(|g| json!(g)));
            put("response_types", responses.map(|r| json!(r)));
            put("token_endpoint_auth_method", method.map(Value::from));
            put("client_name", name.map(Value::from));
            put("scope", scopes.map(|s| s.join(" ").into()));
            put("contacts", contacts.map(|c| json!(c)));
            put("logo_uri", logo.map(Value::from));
            put("jwks", with_jwks.then(|| ec_jwks.clone()));
            put("default_max_age", max_age.map(Value::from));
            put("require_auth_time", auth_time.map(Value::from));
            put(EXTENSION, ext);
            put("x_unknown_member", unknown);
            for (tag, text) in names {
                m.insert(format!("client_name#{tag}"), text.into());
            }
            for (tag, uri) in logos {
                m.insert(format!("logo_uri#{tag}"), uri.into());
            }
            m
        })
}

/// How a response member is typed on the wire.
#[derive(Clone, Copy, Debug)]
enum Kind {
    Text,
    List,
    Flag,
    Count,
    Any,
}

/// Every member a response can carry, with its type, and a few tagged and extension members.
const RESPONSE_MEMBERS: &[(&str, Kind)] = &[
    ("redirect_uris", Kind::List),
    ("token_endpoint_auth_method", Kind::Text),
    ("grant_types", Kind::List),
    ("response_types", Kind::List),
    ("client_name", Kind::Text),
    ("client_uri", Kind::Text),
    ("logo_uri", Kind::Text),
    ("scope", Kind::Text),
    ("contacts", Kind::List),
    ("tos_uri", Kind::Text),
    ("policy_uri", Kind::Text),
    ("jwks_uri", Kind::Text),
    ("jwks", Kind::Any),
    ("software_id", Kind::Text),
    ("software_version", Kind::Text),
    ("application_type", Kind::Text),
    ("sector_identifier_uri", Kind::Text),
    ("subject_type", Kind::Text),
    ("id_token_signed_response_alg", Kind::Text),
    ("userinfo_encrypted_response_enc", Kind::Text),
    ("token_endpoint_auth_signing_alg", Kind::Text),
    ("default_max_age", Kind::Count),
    ("require_auth_time", Kind::Flag),
    ("default_acr_values", Kind::List),
    ("initiate_login_uri", Kind::Text),
    ("request_uris", Kind::List),
    ("post_logout_redirect_uris", Kind::List),
    ("frontchannel_logout_session_required", Kind::Flag),
    ("backchannel_logout_uri", Kind::Text),
    ("tls_client_auth_san_ip", Kind::Text),
    ("dpop_bound_access_tokens", Kind::Flag),
    ("authorization_details_types", Kind::List),
    ("introspection_encrypted_response_enc", Kind::Text),
    ("client_name#fr", Kind::Text),
    ("logo_uri#ja-Jpan-JP", Kind::Text),
    (EXTENSION, Kind::Any),
    ("another_extension", Kind::Any),
];

/// Any string, ASCII control characters, quotes and backslashes included.
fn any_text() -> impl Strategy<Value = String> {
    prop_oneof![
        ".{0,24}",
        "[\\x00-\\x7f]{0,40}",
        prop::sample::select(arbitrary::INTERESTING).prop_map(str::to_owned),
    ]
}

fn member_value(kind: Kind) -> BoxedStrategy<Value> {
    match kind {
        Kind::Text => any_text().prop_map(Value::from).boxed(),
        Kind::List => prop::collection::vec(any_text(), 0..4)
            .prop_map(Value::from)
            .boxed(),
        Kind::Flag => any::<bool>().prop_map(Value::from).boxed(),
        Kind::Count => any::<u64>().prop_map(Value::from).boxed(),
        Kind::Any => arbitrary::json(3)
            .prop_filter("null means absent", |v| !v.is_null())
            .boxed(),
    }
}

/// A client information response as JSON: every server member with any value of its type, and
/// any set of metadata members.
fn response_object() -> impl Strategy<Value = Value> {
    let members = prop::collection::vec(
        prop::sample::select(RESPONSE_MEMBERS)
            .prop_flat_map(|(name, kind)| member_value(kind).prop_map(move |v| (name, v))),
        0..12,
    );
    (
        (any_text(), prop::option::of(any_text()), any::<i64>()),
        (prop::option::of(any::<i64>()), any_text(), any_text()),
        (prop::option::of(any::<i64>()), prop::option::of(any_text())),
        members,
    )
        .prop_map(
            |((id, secret, issued), (expires, token, uri), (token_expires, statement), members)| {
                let mut object = Map::new();
                object.insert("client_id".into(), id.into());
                if let Some(secret) = secret {
                    object.insert("client_secret".into(), secret.into());
                }
                object.insert("client_id_issued_at".into(), issued.into());
                if let Some(expires) = expires {
                    object.insert("client_secret_expires_at".into(), expires.into());
                }
                object.insert("registration_access_token".into(), token.into());
                object.insert("registration_client_uri".into(), uri.into());
                if let Some(expires) = token_expires {
                    object.insert(
                        "registration_access_token_expires_in".into(),
                        expires.into(),
                    );
                }
                if let Some(statement) = statement {
                    object.insert("software_statement".into(), statement.into());
                }
                for (name, value) in members {
                    object.insert(name.to_owned(), value);
                }
                Value::Object(object)
            },
        )
}

proptest! {
    #![proptest_config(proptest_config(256))]

    /// `RegistrationResponse::to_json` writes exactly what serde_json writes for the response,
    /// whatever its members and strings hold.
    #[test]
    fn a_response_is_written_as_serde_json_writes_it(object in response_object()) {
        let response: RegistrationResponse = serde_json::from_value(object.clone())
            .map_err(|e| TestCaseError::fail(format!("{object} does not deserialize: {e}")))?;
        let written = response.to_json();
        let reference = serde_json::to_vec(&response).unwrap();
        prop_assert_eq!(String::from_utf8_lossy(&written), String::from_utf8_lossy(&reference));
        let back: RegistrationResponse = serde_json::from_slice(&written).unwrap();
        prop_assert_eq!(back, response);
    }

    /// Accepted metadata round-trips and validates to itself; refusals are well-formed.
    #[test]
    fn accepted_metadata_round_trips(body in plausible_metadata()) {
        let registrar = registrar();
        let bytes = serde_json::to_vec(&body).unwrap();
        match registrar.validate_bytes(&bytes) {
            Ok(accepted) => {
                check_round_trip(&registrar, &accepted)?;
                // What the client sent and the crate kept is unchanged: tagged members and the
                // accepted extension survive; unknown members are dropped.
                for (key, value) in &body {
                    if let Some((field, tag)) = key.split_once('#') {
                        let kept: Vec<_> = accepted.localized(field).collect();
                        prop_assert!(
                            kept.contains(&(tag, value.as_str().unwrap())),
                            "{key} lost: {kept:?}"
                        );
                    }
                }
                match body.get(EXTENSION) {
                    Some(Value::Null) | None => prop_assert_eq!(accepted.extension(EXTENSION), None),
                    Some(value) => prop_assert_eq!(accepted.extension(EXTENSION), Some(value)),
                }
                prop_assert_eq!(accepted.extension("x_unknown_member"), None);
                let sent_name = body.get("client_name").and_then(Value::as_str);
                prop_assert_eq!(accepted.client_name.as_deref(), sent_name);
            }
            Err(e) => check_refusal(&e)?,
        }
    }

    /// A valid base with any language-tagged names and any extension value without control
    /// characters is accepted, and every one of them comes back from registration, storage and a
    /// read exactly as sent.
    #[test]
    fn language_tags_and_extensions_survive(
        names in prop::collection::btree_map(arbitrary::language_tag(), arbitrary::display_text(), 1..4),
        extension in arbitrary::json(4)
            .prop_map(without_controls)
            .prop_filter("null means absent", |v| !v.is_null()),
    ) {
        let mut body = json!({"redirect_uris": ["https://app.example/cb"], EXTENSION: extension});
        for (tag, name) in &names {
            body[format!("client_name#{tag}")] = name.clone().into();
        }
        let registrar = registrar();
        let accepted = registrar.validate_bytes(body.to_string().as_bytes());
        prop_assert!(accepted.is_ok(), "{body} refused: {accepted:?}");
        let accepted = accepted.unwrap();
        check_round_trip(&registrar, &accepted)?;
        let kept: Vec<(String, String)> = accepted
            .localized("client_name")
            .map(|(t, v)| (t.to_owned(), v.to_owned()))
            .collect();
        let sent: Vec<(String, String)> = names.into_iter().collect();
        prop_assert_eq!(kept, sent);
        prop_assert_eq!(accepted.extension(EXTENSION), Some(&body[EXTENSION]));
    }

    /// An accepted extension with a control character in any string or member name, at any
    /// depth, is refused naming the extension (issue 14: PostgreSQL refuses NUL).
    #[test]
    fn extensions_with_control_characters_are_refused(
        extension in arbitrary::json(4).prop_map(without_controls),
        control in prop::sample::select(vec!['\u{0}', '\u{1b}', '\u{7f}', '\u{85}']),
        as_key in any::<bool>(),
    ) {
        let poisoned = format!("x{control}y");
        let extension = if as_key {
            json!({ poisoned: extension })
        } else {
            json!([extension, poisoned])
        };
        let body = json!({"redirect_uris": ["https://app.example/cb"], EXTENSION: extension});
        let refused = registrar().validate_bytes(body.to_string().as_bytes());
        match refused {
            Err(RegistrationError::InvalidMetadata(violations)) => {
                prop_assert!(violations.names(EXTENSION), "{violations:?}");
            }
            other => prop_assert!(false, "{body} answered {other:?}"),
        }
    }

    /// Validation never panics on any JSON value as the whole body.
    #[test]
    fn any_json_body_is_validated_or_refused(body in arbitrary::json(5)) {
        let registrar = registrar();
        match registrar.validate_bytes(body.to_string().as_bytes()) {
            Ok(accepted) => check_round_trip(&registrar, &accepted)?,
            Err(e) => check_refusal(&e)?,
        }
    }

    /// Validation never panics on any JSON value in any member.
    #[test]
    fn any_member_value_is_validated_or_refused(members in arbitrary::metadata_object()) {
        let registrar = registrar();
        match registrar.validate_bytes(&serde_json::to_vec(&members).unwrap()) {
            Ok(accepted) => check_round_trip(&registrar, &accepted)?,
            Err(e) => check_refusal(&e)?,
        }
    }

    /// One member with a wrong JSON type is refused naming that member.
    #[test]
    fn a_wrong_type_names_its_member(
        member in prop::sample::select(vec![
            "redirect_uris", "grant_types", "response_types", "contacts", "request_uris",
            "default_acr_values", "post_logout_redirect_uris",
        ]),
        value in prop_oneof![
            any::<i64>().prop_map(Value::from),
            any::<bool>().prop_map(Value::from),
            ".{0,10}".prop_map(Value::from),
            Just(json!({"a": 1})),
            Just(json!([1, 2])),
        ],
    ) {
        let body = json!({"redirect_uris": ["https://app.example/cb"], member: value});
        let refused = registrar().validate_bytes(body.to_string().as_bytes());
        prop_assert!(refused.is_err(), "{body} accepted");
        let refused = refused.unwrap_err();
        check_refusal(&refused)?;
        match &refused {
            RegistrationError::InvalidMetadata(v) => prop_assert!(v.names(member), "{refused:?}"),
            other => prop_assert!(false, "{other:?}"),
        }
    }
}

/// Extension values survive "byte-for-byte in meaning" (issue 6), numbers included: a float
/// that needs all 17 significant digits comes back as the same `f64`.
#[test]
fn extension_numbers_survive_exactly() {
    let registrar = registrar();
    for number in [
        1.2702254712336031e63,
        -1.2938534875202387e-15,
        0.1 + 0.2,
        f64::MAX,
    ] {
        let sent = json!([number]);
        let body = json!({"redirect_uris": ["https://app.example/cb"], EXTENSION: sent});
        let accepted = registrar
            .validate_bytes(body.to_string().as_bytes())
            .unwrap();
        assert_eq!(accepted.extension(EXTENSION), Some(&sent), "{number:e}");
    }
}

// ---- updates (issue 14): a read sent back changes nothing; an update meets every rule a
// registration meets ----

/// What a read (or any client information response) says on the wire, minus the four members
/// RFC 7592 §2.2 tells the client to leave out of an update.
fn sent_back(response: &RegistrationResponse) -> Value {
    let mut body: Value = serde_json::from_slice(&response.to_json()).unwrap();
    let map = body.as_object_mut().unwrap();
    for member in [
        "registration_access_token",
        "registration_client_uri",
        "client_secret_expires_at",
        "client_id_issued_at",
    ] {
        map.remove(member);
    }
    body
}

/// An initial-token verifier that knows one token, `partner`, with a restricted grant.
fn partner_token() -> HostTokens {
    let grant = InitialAccessGrant::with_scopes(["register"])
        .subject("partner")
        .allowed_scopes(["openid", "profile", "email"])
        .redirect_hosts(["app.example", "127.0.0.1"]);
    HostTokens::default().with("partner", grant, None)
}

fn partner() -> RequestContext {
    bearer("partner")
}

/// A registrar with every rule that binds a client beyond validation: an initial token with
/// restricted scopes and redirect hosts, one client per `software_id` (`taken` is taken),
/// software statements from the test issuer. It holds the client `taken` and a plain web client
/// (returned) registered with the same token.
fn bound() -> (Server, RegistrationResponse) {
    let mut policy = ServerPolicy::new(ENDPOINT);
    policy.accepted_extensions.insert(EXTENSION.to_owned());
    policy.max_clients_per_software_id = Some(1);
    let fx = Server::build(policy, |r| {
        r.require_initial_token(Arc::new(partner_token()), Some("register"))
            .with_software_statements(trusting_issuer())
    });
    let client = block_on(async {
        let taken = json!({"redirect_uris": ["https://app.example/cb"], "software_id": "taken"});
        fx.register_with(&taken, &partner()).await.unwrap();
        fx.register_with(
            &json!({"redirect_uris": ["https://app.example/cb"]}),
            &partner(),
        )
        .await
        .unwrap()
    });
    (fx, client)
}

/// `plausible_metadata` with a `software_id` (none, quota full, free) and, sometimes, a software
/// statement asserting a name, a `software_id` and a redirect URI.
fn bound_metadata() -> impl Strategy<Value = (Map<String, Value>, Option<&'static str>, bool)> {
    (
        plausible_metadata(),
        prop::option::of(prop::sample::select(vec!["taken", "free"])),
        any::<bool>(),
    )
}

fn with_binding_members(
    mut body: Map<String, Value>,
    software_id: Option<&str>,
    statement: bool,
    now: i64,
) -> Value {
    if let Some(id) = software_id {
        body.insert("software_id".into(), id.into());
    }
    if statement {
        let claims = statement_claims(now);
        body.insert(
            "software_statement".into(),
            issuer_jws("ES256", &claims).into(),
        );
    }
    Value::Object(body)
}

proptest! {
    #![proptest_config(proptest_config(64))]

    /// RFC 7592 §2.2: whatever a read returns, minus the four members the RFC names, is a valid
    /// update, and it changes no metadata.
    #[test]
    fn whatever_a_read_returns_is_an_update_that_changes_nothing(body in plausible_metadata()) {
        let registrar = registrar();
        let bytes = serde_json::to_vec(&body).unwrap();
        if registrar.validate_bytes(&bytes).is_err() {
            return Ok(());
        }
        let outcome = block_on(async {
            let client = registrar.register_bytes(&bytes, &RequestContext::new()).await.unwrap();
            let read = registrar.read(&client.client_id, Some(&token(&client))).await.unwrap();
            let token = token(&read);
            let back = serde_json::to_vec(&sent_back(&read)).unwrap();
            let updated = registrar
                .update_bytes(&client.client_id, Some(&token), &back, &RequestContext::new())
                .await;
            (read, updated)
        });
        let (read, updated) = outcome;
        let updated = updated.map_err(|e| TestCaseError::fail(format!(
            "the send-back of {} is refused: {e}",
            String::from_utf8_lossy(&read.to_json())
        )))?;
        prop_assert_eq!(&updated.metadata, &read.metadata);
        prop_assert_eq!(updated.client_id_issued_at, read.client_id_issued_at);
        prop_assert_eq!(updated.software_statement, read.software_statement);
    }

    /// RFC 7592 §2.2 ("validated in the same way as the registration request"): an update is
    /// refused exactly when a registration of the same metadata is, with the same error code,
    /// by validation, the initial token's restrictions, the `software_id` quota and statement
    /// precedence alike; when both are accepted they store the same metadata, and a refused
    /// update changes nothing.
    #[test]
    fn every_rule_that_refuses_a_registration_refuses_the_same_update(
        (body, software_id, statement) in bound_metadata()
    ) {
        let (registering, _) = bound();
        let (updating, client) = bound();
        let body = with_binding_members(body, software_id, statement, registering.now());
        let (registered, updated, before, after) = block_on(async {
            let registered = registering.register_with(&body, &partner()).await;
            let before = updating.store.get(&client.client_id).await.unwrap();
            let mut update = body.clone();
            update["client_id"] = json!(client.client_id);
            let updated = updating
                .update(&client.client_id, Some(&token(&client)), &update)
                .await;
            let after = updating.store.get(&client.client_id).await.unwrap();
            (registered, updated, before, after)
        });
        match (registered, updated) {
            (Ok(registered), Ok(updated)) => {
                prop_assert_eq!(registered.metadata, updated.metadata, "{}", body);
            }
            (Err(registration), Err(update)) => {
                prop_assert_eq!(registration.code(), update.code(), "{}: {} / {}", body, registration, update);
                prop_assert_eq!(before, after, "a refused update changed the client");
            }
            (registered, updated) => prop_assert!(
                false,
                "{body}: registration {:?}, update {:?}",
                registered.map(|r| r.client_id),
                updated.map(|r| r.client_id)
            ),
        }
    }
}
