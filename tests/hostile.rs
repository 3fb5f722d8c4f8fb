//! The hostile-input corpus: table-driven cases sent through `oauth_dcr::http::handle`, each with
//! the exact HTTP status and RFC error code the RFCs and issue 6 require.
//!
//! Every case runs against a fresh server holding four clients: `A` (its token rotated once by
//! a read, so it has a current and a rotated-away token), `B`, one whose token expired (`EXPIRED`)
//! and one that was deleted (`DELETED`). `{A}`, `{A_TOKEN}`, … in paths, header values and bodies
//! stand for their identifiers and tokens. Besides status and code, every answer must carry
//! `Cache-Control: no-store`, a 401 must carry `WWW-Authenticate: Bearer …`, an error body must not
//! name a `client_id`, a refused registration must store nothing, and a refused update must leave
//! the client exactly as it was.
//!
//! The signing keys are `tests/hostile/keys/` (see the README there).

mod common;
use common::Bytes;

use std::sync::Arc;

use common::{
    b64, hostile_jwks, hostile_key_file, signer_from_pem, token, ManualClock, EC_X, EC_Y, ENDPOINT,
    ISSUER, REDIRECT, RSA_1024_N, START,
};
use oauth_dcr::policy::ScopePolicy;
use oauth_dcr::statements::{SignedRequests, SoftwareStatements, StaticKeySource};
use oauth_dcr::{MemoryStore, Registrar, RequestContext, ServerPolicy};
use serde_json::{json, Value};
use time::{Duration, OffsetDateTime};

/// The time every case runs at.
const T0: i64 = START;

/// The error codes of the tables.
const IR: &str = "invalid_request";
const IRU: &str = "invalid_redirect_uri";
const ICM: &str = "invalid_client_metadata";
const ISS: &str = "invalid_software_statement";
const USS: &str = "unapproved_software_statement";
const IT: &str = "invalid_token";

// ---------------------------------------------------------------------------------------------
// Keys and JWS
// ---------------------------------------------------------------------------------------------

/// Who signs a hand-built JWS.
#[derive(Clone, Copy)]
enum Sig {
    /// RS256 with the trusted issuer's key.
    Issuer,
    /// RS256 with the attacker's key.
    Attacker,
    /// HS256 / HS512 keyed with the issuer's *public* key PEM (the HS/RS confusion).
    HmacWithPublicPem(&'static str),
    /// No signature at all (`header.payload.`).
    Empty,
    /// These literal signature bytes.
    Bytes(&'static [u8]),
}

fn sign(input: &str, sig: Sig) -> String {
    use josekit::jws::{HS256, HS512};
    let bytes = match sig {
        Sig::Issuer => signer_from_pem("RS256", &hostile_key_file("issuer.pem"))
            .sign(input.as_bytes())
            .unwrap(),
        Sig::Attacker => signer_from_pem("RS256", &hostile_key_file("attacker.pem"))
            .sign(input.as_bytes())
            .unwrap(),
        Sig::HmacWithPublicPem(alg) => {
            let secret = hostile_key_file("issuer.pub.pem");
            match alg {
                "HS256" => HS256
                    .signer_from_bytes(&secret)
                    .unwrap()
                    .sign(input.as_bytes()),
                _ => HS512
                    .signer_from_bytes(&secret)
                    .unwrap()
                    .sign(input.as_bytes()),
            }
            .unwrap()
        }
        Sig::Empty => Vec::new(),
        Sig::Bytes(b) => b.to_vec(),
    };
    b64(&bytes)
}

/// A compact JWS from raw header and payload text (so they can hold duplicates or non-JSON).
fn jws_raw(header: &str, payload: &str, sig: Sig) -> String {
    let input = format!("{}.{}", b64(header.as_bytes()), b64(payload.as_bytes()));
    let signature = sign(&input, sig);
    format!("{input}.{signature}")
}

fn jws(header: &Value, payload: &Value, sig: Sig) -> String {
    jws_raw(&header.to_string(), &payload.to_string(), sig)
}

fn issuer_header() -> Value {
    json!({"alg": "RS256", "kid": "issuer-rs256", "typ": "JWT"})
}

/// The claims of a statement the trusted directory would sign, valid at `T0`.
fn claims() -> Value {
    json!({
        "iss": ISSUER,
        "iat": T0,
        "exp": T0 + 3600,
        "software_id": "4NRB1-0XZABZI9E6-5SM3R",
        "client_name": "Directory App",
        "redirect_uris": [REDIRECT],
    })
}

fn with(mut value: Value, key: &str, member: Value) -> Value {
    value[key] = member;
    value
}

fn without(mut value: Value, key: &str) -> Value {
    value.as_object_mut().unwrap().remove(key);
    value
}

/// A registration body carrying `statement` as its `software_statement`.
fn statement_body(statement: impl Into<Value>) -> String {
    json!({"redirect_uris": [REDIRECT], "software_statement": statement.into()}).to_string()
}

fn valid_statement() -> String {
    jws(&issuer_header(), &claims(), Sig::Issuer)
}

// ---------------------------------------------------------------------------------------------
// The server under attack
// ---------------------------------------------------------------------------------------------

fn t0() -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp(T0).unwrap()
}

struct Fixture {
    registrar: Registrar,
    store: Arc<MemoryStore>,
    vars: Vec<(&'static str, String)>,
}

impl Fixture {
    async fn new() -> Self {
        let mut policy = ServerPolicy::new(ENDPOINT);
        policy.scope = ScopePolicy::reject_outside(["openid", "profile", "email", "read", "write"]);
        // A rotated-away token is refused without side effects here; reuse detection, which
        // revokes the current token on purpose, has its own tests in tests/lifecycle.rs.
        policy.detect_token_reuse = false;
        let store = Arc::new(MemoryStore::new());
        let clock = Arc::new(ManualClock::starting(t0() - Duration::days(31)));
        let statements =
            StaticKeySource::new().with_issuer(ISSUER, hostile_jwks("issuer.jwk.json"));
        let requests = StaticKeySource::new().with_any_issuer(hostile_jwks("issuer.jwk.json"));
        let registrar = Registrar::new(policy, store.clone())
            .with_clock(clock.clone())
            .with_software_statements(SoftwareStatements::new(Arc::new(statements)))
            .with_signed_requests(SignedRequests::new(Arc::new(requests)));
        let body = json!({"redirect_uris": [REDIRECT]}).to_string();
        let register = || async {
            let client = registrar
                .register_bytes(body.as_bytes(), &RequestContext::new())
                .await
                .unwrap();
            let token = token(&client);
            (client, token)
        };
        // Registered 31 days before T0: its token (30-day lifetime) has expired by T0.
        let (expired, expired_token) = register().await;
        clock.set(t0());
        let (a, a_old_token) = register().await;
        let a_secret = a.client_secret.as_ref().unwrap().secret().to_owned();
        let read = registrar
            .read(&a.client_id, Some(&a_old_token))
            .await
            .unwrap();
        let a_token = token(&read);
        let (b, b_token) = register().await;
        let (deleted, deleted_token) = register().await;
        registrar
            .delete(&deleted.client_id, Some(&deleted_token))
            .await
            .unwrap();
        let mut mutated = a_token.clone().into_bytes();
        mutated[10] = if mutated[10] == b'A' { b'B' } else { b'A' };
        let vars = vec![
            ("{A_TOKEN_MUTATED}", String::from_utf8(mutated).unwrap()),
            ("{A_TOKEN_PREFIX}", a_token[..20].to_owned()),
            (
                "{A_TOKEN_HASH}",
                b64(oauth_dcr::store::SecretHash::of(&a_token).as_bytes()),
            ),
            ("{A_OLD_TOKEN}", a_old_token),
            ("{A_TOKEN}", a_token),
            ("{A_SECRET}", a_secret),
            ("{B_TOKEN}", b_token),
            ("{EXPIRED_TOKEN}", expired_token),
            ("{DELETED_TOKEN}", deleted_token),
            ("{EXPIRED}", expired.client_id),
            ("{DELETED}", deleted.client_id),
            ("{A}", a.client_id),
            ("{B}", b.client_id),
        ];
        Self {
            registrar,
            store,
            vars,
        }
    }

    fn fill(&self, text: &str) -> String {
        self.vars
            .iter()
            .fold(text.to_owned(), |t, (name, value)| t.replace(name, value))
    }

    fn var(&self, name: &str) -> &str {
        &self.vars.iter().find(|(n, _)| *n == name).unwrap().1
    }
}

// ---------------------------------------------------------------------------------------------
// Cases
// ---------------------------------------------------------------------------------------------

struct Case {
    name: String,
    method: &'static str,
    path: String,
    headers: Vec<(&'static str, String)>,
    body: Vec<u8>,
    status: u16,
    code: Option<&'static str>,
    absent: Vec<String>,
}

impl Case {
    fn new(name: &str, method: &'static str, path: &str) -> Self {
        Self {
            name: name.to_owned(),
            method,
            path: path.to_owned(),
            headers: Vec::new(),
            body: Vec::new(),
            status: 0,
            code: None,
            absent: Vec::new(),
        }
    }

    fn header(mut self, name: &'static str, value: impl Into<String>) -> Self {
        self.headers.push((name, value.into()));
        self
    }

    fn body(mut self, body: impl Into<Vec<u8>>) -> Self {
        self.body = body.into();
        self
    }

    fn json(self, body: impl Into<Vec<u8>>) -> Self {
        self.header("content-type", "application/json").body(body)
    }

    /// The expected refusal.
    fn refused(mut self, status: u16, code: &'static str) -> Self {
        self.status = status;
        self.code = Some(code);
        self
    }

    /// The expected success.
    fn ok(mut self, status: u16) -> Self {
        self.status = status;
        self
    }

    /// A string the response body must not contain.
    fn absent(mut self, text: impl Into<String>) -> Self {
        self.absent.push(text.into());
        self
    }
}

/// A registration (`POST /register`) with a JSON body.
fn register(name: &str, body: impl Into<Vec<u8>>) -> Case {
    Case::new(name, "POST", "/register").json(body)
}

/// A registration with these redirect URIs (a web client unless `extra` says otherwise).
fn redirect(name: &str, uris: &[&str], extra: Value) -> Case {
    let mut body = json!({ "redirect_uris": uris });
    for (k, v) in extra.as_object().unwrap() {
        body[k] = v.clone();
    }
    register(name, body.to_string())
}

fn native(name: &str, uri: &str) -> Case {
    redirect(name, &[uri], json!({"application_type": "native"}))
}

/// An update of client `A` with its current token.
fn update(name: &str, body: Value) -> Case {
    Case::new(name, "PUT", "/register/{A}")
        .header("authorization", "Bearer {A_TOKEN}")
        .json(body.to_string())
}

/// A read of `path` with this `Authorization` header (none when `None`).
fn read(name: &str, path: &str, authorization: Option<&str>) -> Case {
    let case = Case::new(name, "GET", path);
    match authorization {
        Some(value) => case.header("authorization", value),
        None => case,
    }
}

/// Every redirect URI attack: web, native, and the other URI members.
fn redirect_uri_attacks() -> Vec<Case> {
    [
        web_redirect_uri_attacks(),
        native_redirect_uri_attacks(),
        other_uri_attacks(),
    ]
    .into_iter()
    .flatten()
    .collect()
}

fn web_redirect_uri_attacks() -> Vec<Case> {
    let web = |name: &str, uri: &str| redirect(name, &[uri], json!({})).refused(400, IRU);
    let long = format!("https://app.example/{}", "a".repeat(3000));
    let many: Vec<String> = (0..21)
        .map(|i| format!("https://app.example/cb{i}"))
        .collect();
    let many: Vec<&str> = many.iter().map(String::as_str).collect();
    vec![
        web("fragment", "https://app.example/cb#frag"),
        web("empty fragment", "https://app.example/cb#"),
        web("userinfo user:pass", "https://user:pass@app.example/cb"),
        web(
            "userinfo host confusion",
            "https://app.example@evil.example/cb",
        ),
        web("empty userinfo", "https://@app.example/cb"),
        web("javascript scheme", "javascript:alert(1)"),
        web("JavaScript mixed case", "JavaScript:alert(document.domain)"),
        web(
            "javascript with a comment",
            "javascript://app.example/%0aalert(1)",
        ),
        web(
            "data scheme",
            "data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==",
        ),
        web("file scheme", "file:///etc/passwd"),
        web("vbscript scheme", "vbscript:msgbox(1)"),
        web("view-source scheme", "view-source:https://app.example/cb"),
        web("about scheme", "about:blank"),
        web("relative path", "/cb"),
        web("scheme-relative", "//evil.example/cb"),
        web("bare host", "app.example/cb"),
        web("wildcard host", "https://*.app.example/cb"),
        web("wildcard path", "https://app.example/*"),
        web("unicode look-alike host", "https://аpple.com/cb"),
        web("fullwidth dot host", "https://app\u{3002}example/cb"),
        web("uppercase host", "https://APP.example/cb"),
        web("uppercase scheme", "HTTPS://app.example/cb"),
        web("default port spelled out", "https://app.example:443/cb"),
        web("percent-encoded host", "https://app%2eexample/cb"),
        web(
            "percent-encoded dot segments",
            "https://app.example/%2e%2e/admin",
        ),
        web("dot segments", "https://app.example/a/../admin"),
        web(
            "backslash authority trick",
            "https://app.example\\@evil.example/cb",
        ),
        web("leading space", " https://app.example/cb"),
        web("trailing newline", "https://app.example/cb\n"),
        web(
            "CRLF injection",
            "https://app.example/cb\r\nLocation: https://evil.example",
        ),
        web("tab in host", "https://app.ex\tample/cb"),
        web("NUL byte", "https://app.example/cb\u{0}"),
        web("empty string", ""),
        web("overlong URI", &long),
        web("web client http", "http://app.example/cb"),
        web("web client loopback http", "http://127.0.0.1/cb"),
        web("web client private-use scheme", "com.example.app:/cb"),
        redirect("more than 20 redirect URIs", &many, json!({})).refused(400, IRU),
    ]
}

fn native_redirect_uri_attacks() -> Vec<Case> {
    vec![
        native("native https localhost", "https://localhost/cb").refused(400, IRU),
        native("native http localhost", "http://localhost/cb").refused(400, IRU),
        native(
            "native localhost prefix",
            "http://localhost.evil.example/cb",
        )
        .refused(400, IRU),
        native("native loopback prefix", "http://127.0.0.1.nip.io/cb").refused(400, IRU),
        native("native decimal IPv4", "http://2130706433/cb").refused(400, IRU),
        native("native hex IPv4", "http://0x7f.1/cb").refused(400, IRU),
        native("native short IPv4", "http://127.1/cb").refused(400, IRU),
        native(
            "native localhost userinfo",
            "http://localhost@evil.example/cb",
        )
        .refused(400, IRU),
        native("native http non-loopback", "http://example.com/cb").refused(400, IRU),
        native("native scheme without a dot", "myapp:/cb").refused(400, IRU),
        native("native javascript scheme", "javascript:alert(1)").refused(400, IRU),
        native("native loopback IPv4 accepted", "http://127.0.0.1:51004/cb").ok(201),
        native("native loopback IPv6 accepted", "http://[::1]:8080/cb").ok(201),
        native(
            "native reverse-DNS scheme accepted",
            "com.example.app:/oauth2redirect",
        )
        .ok(201),
        register("no redirect_uris for the code grant", "{}").refused(400, IRU),
        register("empty redirect_uris", r#"{"redirect_uris":[]}"#).refused(400, IRU),
    ]
}

/// URI members other than `redirect_uris` follow their own rules (`invalid_client_metadata`).
fn other_uri_attacks() -> Vec<Case> {
    vec![
        redirect(
            "post_logout_redirect_uris javascript",
            &[REDIRECT],
            json!({"post_logout_redirect_uris": ["javascript:alert(1)"]}),
        )
        .refused(400, ICM),
        redirect(
            "logo_uri javascript",
            &[REDIRECT],
            json!({"logo_uri": "javascript:alert(1)"}),
        )
        .refused(400, ICM),
        redirect(
            "client_uri data",
            &[REDIRECT],
            json!({"client_uri": "data:text/html,x"}),
        )
        .refused(400, ICM),
        redirect(
            "jwks_uri http",
            &[REDIRECT],
            json!({"jwks_uri": "http://169.254.169.254/keys"}),
        )
        .refused(400, ICM),
        redirect(
            "sector_identifier_uri file",
            &[REDIRECT],
            json!({"sector_identifier_uri": "file:///etc/passwd"}),
        )
        .refused(400, ICM),
        redirect(
            "initiate_login_uri http",
            &[REDIRECT],
            json!({"initiate_login_uri": "http://app.example/login"}),
        )
        .refused(400, ICM),
        redirect(
            "tos_uri userinfo",
            &[REDIRECT],
            json!({"tos_uri": "https://user@app.example/tos"}),
        )
        .refused(400, ICM),
    ]
}

/// Every attack on a software statement's or a signed body's JWS.
fn jws_attacks() -> Vec<Case> {
    [
        jws_algorithm_attacks(),
        jws_signature_attacks(),
        jws_header_attacks(),
        jws_kid_attacks(),
        jws_type_attacks(),
        jws_claim_attacks(),
        jws_encoding_attacks(),
        signed_request_attacks(),
    ]
    .into_iter()
    .flatten()
    .collect()
}

/// A registration carrying `statement`, refused with `code`.
fn statement_case(name: &str, statement: String, code: &'static str) -> Case {
    register(name, statement_body(statement)).refused(400, code)
}

/// The attacker's public key as a JWK.
fn attacker_jwk() -> Value {
    serde_json::from_slice(&hostile_key_file("attacker.jwk.json")).unwrap()
}

/// A statement too long for any JSON string the parser accepts.
fn oversized_statement() -> String {
    jws(
        &issuer_header(),
        &with(claims(), "padding", json!("x".repeat(20_000))),
        Sig::Issuer,
    )
}

/// A signed registration request (`application/jwt`).
fn signed_request(name: &str, payload: Value, sig: Sig, header: Value) -> Case {
    Case::new(name, "POST", "/register")
        .header("content-type", "application/jwt")
        .body(jws(&header, &payload, sig))
}

/// A valid statement, and statements whose `alg` is none or an HMAC keyed with the public key.
fn jws_algorithm_attacks() -> Vec<Case> {
    let mass = with(
        with(claims(), "client_id", json!("stolen-client-id-1337")),
        "registration_access_token",
        json!("chosen-token-1337"),
    );
    vec![
        register(
            "valid statement accepted",
            statement_body(valid_statement()),
        )
        .ok(201),
        register(
            "statement claims cannot set server-owned members",
            statement_body(jws(&issuer_header(), &mass, Sig::Issuer)),
        )
        .ok(201)
        .absent("stolen-client-id-1337")
        .absent("chosen-token-1337"),
        statement_case(
            "alg none, empty signature",
            jws(&json!({"alg": "none"}), &claims(), Sig::Empty),
            ISS,
        ),
        statement_case(
            "alg None with a signature",
            jws(
                &json!({"alg": "None", "kid": "issuer-rs256"}),
                &claims(),
                Sig::Bytes(b"sig"),
            ),
            ISS,
        ),
        statement_case(
            "alg NONE signed by the issuer",
            jws(
                &json!({"alg": "NONE", "kid": "issuer-rs256"}),
                &claims(),
                Sig::Issuer,
            ),
            ISS,
        ),
        statement_case(
            "alg nOnE, empty signature",
            jws(&json!({"alg": "nOnE"}), &claims(), Sig::Empty),
            ISS,
        ),
        statement_case(
            "HS256 keyed with the issuer's public key",
            jws(
                &json!({"alg": "HS256", "kid": "issuer-rs256"}),
                &claims(),
                Sig::HmacWithPublicPem("HS256"),
            ),
            ISS,
        ),
        statement_case(
            "HS512 keyed with the issuer's public key, no kid",
            jws(
                &json!({"alg": "HS512"}),
                &claims(),
                Sig::HmacWithPublicPem("HS512"),
            ),
            ISS,
        ),
    ]
}

/// Statements whose signature was stripped, cut, transplanted, or no longer covers the payload.
fn jws_signature_attacks() -> Vec<Case> {
    let other_payload = with(claims(), "client_name", json!("Other App"));
    let transplanted = {
        let a = valid_statement();
        let b = jws(&issuer_header(), &other_payload, Sig::Issuer);
        let (a_input, _) = a.rsplit_once('.').unwrap();
        let (_, b_sig) = b.rsplit_once('.').unwrap();
        format!("{a_input}.{b_sig}")
    };
    let tampered = {
        let original = valid_statement();
        let mut parts: Vec<String> = original.split('.').map(str::to_owned).collect();
        parts[1] = b64(with(claims(), "client_name", json!("Tampered"))
            .to_string()
            .as_bytes());
        parts.join(".")
    };
    let stripped = {
        let s = valid_statement();
        format!("{}.", s.rsplit_once('.').unwrap().0)
    };
    let two_parts = valid_statement().rsplit_once('.').unwrap().0.to_owned();
    vec![
        statement_case("stripped signature", stripped, ISS),
        statement_case("two parts only", two_parts, ISS),
        statement_case(
            "signature transplanted from another statement",
            transplanted,
            ISS,
        ),
        statement_case("payload tampered after signing", tampered, ISS),
    ]
}

/// `crit`, `b64`, and keys or key URLs carried in the header.
fn jws_header_attacks() -> Vec<Case> {
    let attacker_jwk = attacker_jwk();
    vec![
        statement_case(
            "crit naming a registered claim",
            jws(
                &with(issuer_header(), "crit", json!(["exp"])),
                &claims(),
                Sig::Issuer,
            ),
            ISS,
        ),
        statement_case(
            "crit that is not an array",
            jws(
                &with(issuer_header(), "crit", json!("b64")),
                &claims(),
                Sig::Issuer,
            ),
            ISS,
        ),
        statement_case(
            "crit empty array",
            jws(
                &with(issuer_header(), "crit", json!([])),
                &claims(),
                Sig::Issuer,
            ),
            ISS,
        ),
        statement_case(
            "b64 false with crit",
            jws(
                &with(
                    with(issuer_header(), "b64", json!(false)),
                    "crit",
                    json!(["b64"]),
                ),
                &claims(),
                Sig::Issuer,
            ),
            ISS,
        ),
        statement_case(
            "embedded jwk signed by the attacker",
            jws(
                &json!({"alg": "RS256", "jwk": attacker_jwk}),
                &claims(),
                Sig::Attacker,
            ),
            ISS,
        ),
        statement_case(
            "embedded jwk under the issuer's kid",
            jws(
                &json!({"alg": "RS256", "kid": "issuer-rs256", "jwk": attacker_jwk}),
                &claims(),
                Sig::Attacker,
            ),
            ISS,
        ),
        statement_case(
            "jku pointing at the attacker",
            jws(
                &with(
                    issuer_header(),
                    "jku",
                    json!("https://evil.example/jwks.json"),
                ),
                &claims(),
                Sig::Attacker,
            ),
            ISS,
        ),
        statement_case(
            "x5u pointing at the attacker",
            jws(
                &with(
                    issuer_header(),
                    "x5u",
                    json!("https://evil.example/cert.pem"),
                ),
                &claims(),
                Sig::Attacker,
            ),
            ISS,
        ),
        statement_case(
            "x5c with the attacker's key",
            jws(
                &with(
                    issuer_header(),
                    "x5c",
                    json!([b64(hostile_key_file("attacker.pub.pem"))]),
                ),
                &claims(),
                Sig::Attacker,
            ),
            ISS,
        ),
    ]
}

/// `kid`s the trusted issuer does not have, and the attacker's own key.
fn jws_kid_attacks() -> Vec<Case> {
    vec![
        // A kid the trusted issuer does not have: the signature does not verify with the
        // issuer's keys, an invalid statement (RFC 7591 §3.2.2; issue 14, B9). These expected
        // `unapproved_software_statement` before.
        statement_case(
            "kid path traversal",
            jws(
                &with(issuer_header(), "kid", json!("../../../../../../dev/null")),
                &claims(),
                Sig::Issuer,
            ),
            ISS,
        ),
        statement_case(
            "kid path to the attacker key",
            jws(
                &with(
                    issuer_header(),
                    "kid",
                    json!("issuer-rs256/../attacker-rs256"),
                ),
                &claims(),
                Sig::Attacker,
            ),
            ISS,
        ),
        statement_case(
            "kid with a NUL suffix",
            jws(
                &with(issuer_header(), "kid", json!("issuer-rs256\u{0}")),
                &claims(),
                Sig::Issuer,
            ),
            ISS,
        ),
        statement_case(
            "kid SQL injection",
            jws(
                &with(issuer_header(), "kid", json!("x' OR '1'='1")),
                &claims(),
                Sig::Attacker,
            ),
            ISS,
        ),
        statement_case(
            "kid empty",
            jws(
                &with(issuer_header(), "kid", json!("")),
                &claims(),
                Sig::Issuer,
            ),
            ISS,
        ),
        statement_case(
            "kid not a string",
            jws(
                &with(issuer_header(), "kid", json!(42)),
                &claims(),
                Sig::Issuer,
            ),
            ISS,
        ),
        statement_case(
            "the attacker's key under the attacker's kid",
            jws(
                &with(issuer_header(), "kid", json!("attacker-rs256")),
                &claims(),
                Sig::Attacker,
            ),
            ISS,
        ),
        statement_case(
            "the attacker's signature without a kid",
            jws(&json!({"alg": "RS256"}), &claims(), Sig::Attacker),
            ISS,
        ),
    ]
}

/// Nested tokens and `typ`s of other kinds of token.
fn jws_type_attacks() -> Vec<Case> {
    let inner = valid_statement();
    vec![
        statement_case(
            "nested JWT by cty",
            jws(
                &with(issuer_header(), "cty", json!("JWT")),
                &json!({"jwt": inner}),
                Sig::Issuer,
            ),
            ISS,
        ),
        statement_case(
            "nested JWS as the payload",
            jws_raw(
                &issuer_header().to_string(),
                &Value::String(inner).to_string(),
                Sig::Issuer,
            ),
            ISS,
        ),
        statement_case(
            "typ of an access token",
            jws(
                &with(issuer_header(), "typ", json!("at+jwt")),
                &claims(),
                Sig::Issuer,
            ),
            ISS,
        ),
        statement_case(
            "typ of a security event token",
            jws(
                &with(issuer_header(), "typ", json!("secevent+jwt")),
                &claims(),
                Sig::Issuer,
            ),
            ISS,
        ),
        statement_case(
            "typ not a string",
            jws(
                &with(issuer_header(), "typ", json!(1)),
                &claims(),
                Sig::Issuer,
            ),
            ISS,
        ),
    ]
}

/// Time claims out of range, no issuer, an untrusted issuer.
fn jws_claim_attacks() -> Vec<Case> {
    vec![
        statement_case(
            "expired",
            jws(
                &issuer_header(),
                &with(claims(), "exp", json!(T0 - 3600)),
                Sig::Issuer,
            ),
            ISS,
        ),
        statement_case(
            "not yet valid",
            jws(
                &issuer_header(),
                &with(claims(), "nbf", json!(T0 + 3600)),
                Sig::Issuer,
            ),
            ISS,
        ),
        statement_case(
            "issued in the future",
            jws(
                &issuer_header(),
                &with(claims(), "iat", json!(T0 + 3600)),
                Sig::Issuer,
            ),
            ISS,
        ),
        statement_case(
            "exp not a number",
            jws(
                &issuer_header(),
                &with(claims(), "exp", json!("9999999999")),
                Sig::Issuer,
            ),
            ISS,
        ),
        statement_case(
            "no iss",
            jws(&issuer_header(), &without(claims(), "iss"), Sig::Issuer),
            ISS,
        ),
        statement_case(
            "untrusted issuer, its own key",
            jws(
                &json!({"alg": "RS256", "kid": "attacker-rs256"}),
                &with(claims(), "iss", json!("https://evil.example")),
                Sig::Attacker,
            ),
            USS,
        ),
        statement_case(
            "untrusted issuer, the issuer's key",
            jws(
                &issuer_header(),
                &with(claims(), "iss", json!("https://evil.example")),
                Sig::Issuer,
            ),
            USS,
        ),
    ]
}

/// Oversized, mis-encoded, duplicated, JWE-shaped or non-string statements.
fn jws_encoding_attacks() -> Vec<Case> {
    let padded = {
        let s = valid_statement();
        let parts: Vec<&str> = s.split('.').collect();
        format!("{}==.{}.{}", parts[0], parts[1], parts[2])
    };
    let standard_b64 = {
        use base64::engine::general_purpose::STANDARD;
        use base64::Engine as _;
        // 35 bytes: its standard encoding ends in `=`.
        let header = r#"{"alg":"RS256","kid":"issuer-rs256"}"#;
        let input = format!(
            "{}.{}",
            STANDARD.encode(header),
            STANDARD.encode(claims().to_string())
        );
        format!(
            "{input}.{}",
            sign(&input, Sig::Issuer)
                .replace('-', "+")
                .replace('_', "/")
        )
    };
    let dup_payload = format!(
        r#"{{"iss":"https://evil.example","iss":"{ISSUER}","iat":{T0},"exp":{},"client_name":"Dup"}}"#,
        T0 + 3600
    );
    vec![
        // The statement is longer than any JSON string the parser accepts (16 KiB): a structural
        // refusal before any base64 decoding.
        register("oversized statement", statement_body(oversized_statement()))
            .refused(400, "invalid_request"),
        statement_case("padded base64url", padded, ISS),
        statement_case("standard base64 alphabet", standard_b64, ISS),
        statement_case(
            "duplicate iss in the payload",
            jws_raw(&issuer_header().to_string(), &dup_payload, Sig::Issuer),
            ISS,
        ),
        statement_case(
            "duplicate alg in the header",
            jws_raw(
                r#"{"alg":"none","alg":"RS256","kid":"issuer-rs256"}"#,
                &claims().to_string(),
                Sig::Issuer,
            ),
            ISS,
        ),
        statement_case(
            "alg with a trailing space",
            jws(
                &with(issuer_header(), "alg", json!("RS256 ")),
                &claims(),
                Sig::Issuer,
            ),
            ISS,
        ),
        statement_case(
            "JWE-shaped, five parts",
            format!(
                "{}.e30.e30.e30.e30",
                b64(br#"{"alg":"RSA-OAEP","enc":"A256GCM"}"#)
            ),
            ISS,
        ),
        statement_case("not a JWS", "hello".to_owned(), ISS),
        statement_case("empty statement", String::new(), ISS),
        register("statement is a number", statement_body(42)).refused(400, ISS),
        register(
            "statement is an object",
            statement_body(json!({"iss": ISSUER})),
        )
        .refused(400, ISS),
    ]
}

/// Signed request bodies: accepted, unsigned, forged, expired, oversized, with an embedded key.
fn signed_request_attacks() -> Vec<Case> {
    let request_claims = json!({
        "iss": "https://client.example.net",
        "iat": T0,
        "exp": T0 + 300,
        "redirect_uris": [REDIRECT],
    });
    vec![
        signed_request(
            "signed request accepted",
            request_claims.clone(),
            Sig::Issuer,
            issuer_header(),
        )
        .ok(201),
        signed_request(
            "signed request alg none",
            request_claims.clone(),
            Sig::Empty,
            json!({"alg": "none"}),
        )
        .refused(400, "invalid_request"),
        signed_request(
            "signed request with the attacker's signature",
            request_claims.clone(),
            Sig::Attacker,
            issuer_header(),
        )
        .refused(400, "invalid_request"),
        signed_request(
            "signed request expired",
            with(request_claims.clone(), "exp", json!(T0 - 600)),
            Sig::Issuer,
            issuer_header(),
        )
        .refused(400, "invalid_request"),
        Case::new("oversized signed request", "POST", "/register")
            .header("content-type", "application/jwt")
            .body(oversized_statement())
            .refused(400, "invalid_request"),
        signed_request(
            "signed request with an embedded jwk",
            request_claims,
            Sig::Issuer,
            with(issuer_header(), "jwk", attacker_jwk()),
        )
        .refused(400, "invalid_request"),
    ]
}

/// Members the server owns, set by the client on registration and on update.
fn mass_assignment() -> Vec<Case> {
    [register_mass_assignment(), update_mass_assignment()]
        .into_iter()
        .flatten()
        .collect()
}

/// Server-owned and privileged members in a registration: accepted, never echoed.
fn register_mass_assignment() -> Vec<Case> {
    let reg = |name: &str, member: &str, value: Value, shown: &str| {
        let body = json!({"redirect_uris": [REDIRECT], member: value});
        register(name, body.to_string()).ok(201).absent(shown)
    };
    vec![
        reg(
            "register chooses client_id",
            "client_id",
            json!("chosen-id-1337"),
            "chosen-id-1337",
        ),
        reg(
            "register chooses client_secret",
            "client_secret",
            json!("chosen-secret-1337"),
            "chosen-secret-1337",
        ),
        reg(
            "register chooses registration_access_token",
            "registration_access_token",
            json!("chosen-rat-1337"),
            "chosen-rat-1337",
        ),
        reg(
            "register chooses registration_client_uri",
            "registration_client_uri",
            json!("https://evil.example/register/x"),
            "evil.example",
        ),
        reg(
            "register chooses client_id_issued_at",
            "client_id_issued_at",
            json!(1),
            r#""client_id_issued_at":1,"#,
        ),
        reg(
            "register chooses client_secret_expires_at",
            "client_secret_expires_at",
            json!(4_102_444_800_i64),
            "4102444800",
        ),
        reg(
            "register chooses registration_access_token_expires_in",
            "registration_access_token_expires_in",
            json!(999_999_999),
            "999999999",
        ),
        reg(
            "register sets skip_consent",
            "skip_consent",
            json!(true),
            "skip_consent",
        ),
        reg("register sets trusted", "trusted", json!(true), "trusted"),
        reg(
            "register sets is_admin",
            "is_admin",
            json!(true),
            "is_admin",
        ),
        reg(
            "register sets first_party",
            "first_party",
            json!(true),
            "first_party",
        ),
        reg(
            "register sets internal metadata",
            "metadata",
            json!({"role": "admin"}),
            "\"role\"",
        ),
        reg(
            "register sets service_account_enabled",
            "service_account_enabled",
            json!(true),
            "service_account_enabled",
        ),
    ]
}

fn update_mass_assignment() -> Vec<Case> {
    let upd = |name: &str, member: &str, value: Value| {
        let body = json!({"client_id": "{A}", "redirect_uris": [REDIRECT], member: value});
        update(name, body).refused(400, IR)
    };
    // RFC 7592 §2.2 puts "MUST NOT include" on the client: a server-owned member in an update
    // (a client sending back what it read) is ignored, never assigned (issue 14, A1).
    let ignored = |name: &str, member: &str, value: Value, shown: &str| {
        let body = json!({"client_id": "{A}", "redirect_uris": [REDIRECT], member: value});
        update(name, body).ok(200).absent(shown)
    };
    vec![
        ignored(
            "update sets registration_access_token",
            "registration_access_token",
            json!("chosen-rat-1337"),
            "chosen-rat-1337",
        ),
        ignored(
            "update sets registration_client_uri",
            "registration_client_uri",
            json!("https://evil.example/register/x"),
            "evil.example",
        ),
        ignored(
            "update sets client_id_issued_at",
            "client_id_issued_at",
            json!(1),
            r#""client_id_issued_at":1,"#,
        ),
        ignored(
            "update sets client_secret_expires_at",
            "client_secret_expires_at",
            json!(1),
            r#""client_secret_expires_at":1,"#,
        ),
        ignored(
            "update sets registration_access_token_expires_in",
            "registration_access_token_expires_in",
            json!(999_999_999),
            "999999999",
        ),
        upd(
            "update chooses a new client_secret",
            "client_secret",
            json!("chosen-secret-1337"),
        ),
        update(
            "update renames the client to another client_id",
            json!({"client_id": "{B}", "redirect_uris": [REDIRECT]}),
        )
        .refused(400, IR),
        update(
            "update without client_id",
            json!({"redirect_uris": [REDIRECT]}),
        )
        .refused(400, IR),
        update(
            "update with a numeric client_id",
            json!({"client_id": 42, "redirect_uris": [REDIRECT]}),
        )
        .refused(400, IR),
        update(
            "update sets skip_consent",
            json!({"client_id": "{A}", "redirect_uris": [REDIRECT], "skip_consent": true}),
        )
        .ok(200)
        .absent("skip_consent"),
        update(
            "update with the current client_secret",
            json!({"client_id": "{A}", "client_secret": "{A_SECRET}", "redirect_uris": [REDIRECT]}),
        )
        .ok(200),
    ]
}

/// Metadata that would give a client more than it may have, on registration and on update.
fn privilege_escalation() -> Vec<Case> {
    [
        escalation_by_grants_and_scopes(),
        escalation_by_authentication_and_keys(),
        escalation_on_update(),
    ]
    .into_iter()
    .flatten()
    .collect()
}

/// A registration with these members beside a redirect URI, refused as invalid metadata.
fn escalating(name: &str, extra: Value) -> Case {
    let mut body = json!({"redirect_uris": [REDIRECT]});
    for (k, v) in extra.as_object().unwrap() {
        body[k] = v.clone();
    }
    register(name, body.to_string()).refused(400, ICM)
}

fn escalation_by_grants_and_scopes() -> Vec<Case> {
    vec![
        escalating("password grant", json!({"grant_types": ["password"]})),
        escalating(
            "password grant beside the code grant",
            json!({"grant_types": ["authorization_code", "password"]}),
        ),
        escalating(
            "implicit grant",
            json!({"grant_types": ["implicit"], "response_types": ["token"]}),
        ),
        escalating("token response type", json!({"response_types": ["token"]})),
        escalating(
            "hybrid response type",
            json!({"response_types": ["code id_token"], "grant_types": ["authorization_code", "implicit"]}),
        ),
        escalating(
            "jwt-bearer grant",
            json!({"grant_types": ["urn:ietf:params:oauth:grant-type:jwt-bearer"]}),
        ),
        escalating(
            "token-exchange grant",
            json!({"grant_types": ["urn:ietf:params:oauth:grant-type:token-exchange"]}),
        ),
        escalating(
            "scope outside the allowed set",
            json!({"scope": "openid admin"}),
        ),
        escalating(
            "scope with a control character",
            json!({"scope": "openid\u{7}admin"}),
        ),
        escalating("scope with a quote", json!({"scope": "openid \"admin\""})),
    ]
}

fn escalation_by_authentication_and_keys() -> Vec<Case> {
    let ec = json!({"kty": "EC", "crv": "P-256", "x": EC_X, "y": EC_Y});
    vec![
        escalating(
            "auth method none with client_credentials",
            json!({"grant_types": ["client_credentials"], "token_endpoint_auth_method": "none"}),
        ),
        escalating(
            "client_secret_jwt with signing alg none",
            json!({"token_endpoint_auth_method": "client_secret_jwt", "token_endpoint_auth_signing_alg": "none"}),
        ),
        escalating(
            "private_key_jwt with an HMAC signing alg",
            json!({"token_endpoint_auth_method": "private_key_jwt", "jwks": {"keys": [ec]}, "token_endpoint_auth_signing_alg": "HS256"}),
        ),
        escalating(
            "private_key_jwt without keys",
            json!({"token_endpoint_auth_method": "private_key_jwt"}),
        ),
        escalating(
            "unknown auth method",
            json!({"token_endpoint_auth_method": "trust_me"}),
        ),
        escalating(
            "unknown application_type",
            json!({"application_type": "service"}),
        ),
        escalating(
            "unsupported pairwise subject",
            json!({"subject_type": "pairwise"}),
        ),
        escalating(
            "jwks with a private RSA key",
            json!({"jwks": {"keys": [{"kty": "RSA", "n": "0vx7", "e": "AQAB", "d": "X4cT"}]}}),
        ),
        escalating(
            "jwks with a symmetric key",
            json!({"jwks": {"keys": [{"kty": "oct", "k": "GawgguFyGrWKav7AX4VKUg"}]}}),
        ),
        escalating(
            "jwks and jwks_uri together",
            json!({"jwks": {"keys": [ec]}, "jwks_uri": "https://app.example/jwks.json"}),
        ),
        escalating(
            "id_token signing alg none with an id_token response",
            json!({"id_token_signed_response_alg": "none", "response_types": ["code id_token"], "grant_types": ["authorization_code", "implicit"]}),
        ),
        escalating(
            "userinfo signing alg none",
            json!({"userinfo_signed_response_alg": "none"}),
        ),
    ]
}

fn escalation_on_update() -> Vec<Case> {
    vec![
        update(
            "update adds the password grant",
            json!({"client_id": "{A}", "redirect_uris": [REDIRECT],
                "grant_types": ["authorization_code", "password"]}),
        )
        .refused(400, ICM),
        update(
            "update widens the scope",
            json!({"client_id": "{A}", "redirect_uris": [REDIRECT], "scope": "openid admin"}),
        )
        .refused(400, ICM),
        update(
            "update drops authentication for client_credentials",
            json!({"client_id": "{A}", "grant_types": ["client_credentials"],
                "token_endpoint_auth_method": "none"}),
        )
        .refused(400, ICM),
        update(
            "update adds a javascript redirect URI",
            json!({"client_id": "{A}", "redirect_uris": ["javascript:alert(1)"]}),
        )
        .refused(400, "invalid_redirect_uri"),
    ]
}

/// Issue 14, items 13 to 18: the rules on what a client may be hold on registration, update,
/// software statements and signed bodies alike.
fn addresses_keys_and_characters() -> Vec<Case> {
    const ICM: &str = "invalid_client_metadata";
    const IRU: &str = "invalid_redirect_uri";
    let reg = |name: &str, extra: Value| {
        let mut body = json!({"redirect_uris": [REDIRECT]});
        for (k, v) in extra.as_object().unwrap() {
            body[k] = v.clone();
        }
        register(name, body.to_string())
    };
    let upd = |name: &str, extra: Value| {
        let mut body = json!({"client_id": "{A}", "redirect_uris": [REDIRECT]});
        for (k, v) in extra.as_object().unwrap() {
            body[k] = v.clone();
        }
        update(name, body)
    };
    let asserted = |name: &str, extra: Value| {
        let mut payload = claims();
        for (k, v) in extra.as_object().unwrap() {
            payload[k] = v.clone();
        }
        register(
            name,
            statement_body(jws(&issuer_header(), &payload, Sig::Issuer)),
        )
    };
    let signed = |name: &str, extra: Value| {
        let mut payload = json!({
            "iss": "https://client.example.net",
            "iat": T0,
            "exp": T0 + 300,
            "jti": name,
            "redirect_uris": [REDIRECT],
        });
        for (k, v) in extra.as_object().unwrap() {
            payload[k] = v.clone();
        }
        Case::new(name, "POST", "/register")
            .header("content-type", "application/jwt")
            .body(jws(&issuer_header(), &payload, Sig::Issuer))
    };
    let weak_rsa = json!({"kty": "RSA", "kid": "weak", "e": "AQAB", "n": RSA_1024_N});
    let bad_curve = json!({"kty": "EC", "crv": "P-999", "x": "AA", "y": "AA"});
    vec![
        reg("jwks_uri on the cloud metadata address", json!({"jwks_uri": "https://169.254.169.254/latest/meta-data/"})).refused(400, ICM),
        reg("sector_identifier_uri on loopback", json!({"sector_identifier_uri": "https://127.0.0.1/sector"})).refused(400, ICM),
        reg("request_uris on a private address", json!({"request_uris": ["https://192.168.0.1/r"]})).refused(400, ICM),
        reg("jwks_uri on localhost with a trailing dot", json!({"jwks_uri": "https://localhost./jwks"})).refused(400, ICM),
        upd("update moves backchannel_logout_uri to a private address", json!({"backchannel_logout_uri": "https://10.0.0.1/logout"})).refused(400, ICM),
        asserted("statement asserts jwks_uri on the metadata address", json!({"jwks_uri": "https://169.254.169.254/latest/meta-data/"})).refused(400, ICM),
        signed("signed body with jwks_uri on loopback", json!({"jwks_uri": "https://[::1]/jwks"})).refused(400, ICM),
        reg("web redirect on localhost with a trailing dot", json!({"redirect_uris": ["https://localhost./cb"]})).refused(400, IRU),
        reg("web redirect on 127.0.0.2", json!({"redirect_uris": ["https://127.0.0.2/cb"]})).refused(400, IRU),
        reg("web redirect on 0.0.0.0", json!({"redirect_uris": ["https://0.0.0.0/cb"]})).refused(400, IRU),
        reg("web redirect on IPv4-mapped loopback", json!({"redirect_uris": ["https://[::ffff:7f00:1]/cb"]})).refused(400, IRU),
        upd("update moves the redirect to [::]", json!({"redirect_uris": ["https://[::]/cb"]})).refused(400, IRU),
        reg("jwks with an unknown curve", json!({"jwks": {"keys": [bad_curve]}})).refused(400, ICM),
        reg("jwks with a 1024-bit RSA key", json!({"jwks": {"keys": [weak_rsa]}})).refused(400, ICM),
        upd("update adds a 1024-bit RSA key", json!({"jwks": {"keys": [weak_rsa]}})).refused(400, ICM),
        asserted("statement asserts a 1024-bit RSA key", json!({"jwks": {"keys": [weak_rsa]}})).refused(400, ICM),
        reg("private_key_jwt with an empty key set", json!({"token_endpoint_auth_method": "private_key_jwt", "jwks": {"keys": []}})).refused(400, ICM),
        reg("non-canonical response types", json!({"response_types": [" code ", "code code"]})).refused(400, ICM),
        reg("NUL in the subject DN", json!({"token_endpoint_auth_method": "tls_client_auth", "tls_client_auth_subject_dn": "CN=a\u{0}"})).refused(400, ICM),
        upd("update puts NUL in a SAN", json!({"token_endpoint_auth_method": "tls_client_auth", "tls_client_auth_san_dns": "a.example\u{0}"})).refused(400, ICM),
        reg("NUL inside a jwks string", json!({"jwks": {"keys": [{"kty": "OKP", "crv": "Ed25519", "x": "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo", "kid": "\u{0}"}]}})).refused(400, ICM),
        signed("signed body with NUL in software_version", json!({"software_version": "1\u{0}"})).refused(400, ICM),
        reg("right-to-left override in a tagged client_name", json!({"client_name#en": "Good Bank\u{202e}"})).refused(400, ICM),
        asserted("statement asserts an isolate in client_name", json!({"client_name": "\u{2066}Good Bank\u{2069}"})).refused(400, ICM),
        reg("contact that is not an address", json!({"contacts": ["call me maybe"]})).refused(400, ICM),
        upd("update adds a contact with two @", json!({"contacts": ["a@b@c.example"]})).refused(400, ICM),
        asserted("statement asserts a contact without a domain", json!({"contacts": ["ops@"]})).refused(400, ICM),
    ]
}

fn type_confusion() -> Vec<Case> {
    const ICM: &str = "invalid_client_metadata";
    const IR: &str = "invalid_request";
    let member = |name: &str, key: &str, value: Value| {
        let mut body = json!({"redirect_uris": [REDIRECT]});
        body[key] = value;
        register(name, body.to_string()).refused(400, ICM)
    };
    let body = |name: &str, bytes: &[u8]| register(name, bytes.to_vec()).refused(400, IR);
    vec![
        register("redirect_uris null", r#"{"redirect_uris":null}"#)
            .refused(400, "invalid_redirect_uri"),
        register("redirect_uris a string", r#"{"redirect_uris":"https://app.example/cb"}"#)
            .refused(400, ICM),
        register("redirect_uris numbers", r#"{"redirect_uris":[42]}"#).refused(400, ICM),
        register(
            "redirect_uris an object",
            r#"{"redirect_uris":{"0":"https://app.example/cb"}}"#,
        )
        .refused(400, ICM),
        register("redirect_uris nested arrays", r#"{"redirect_uris":[["https://app.example/cb"]]}"#)
            .refused(400, ICM),
        member("client_name a number", "client_name", json!(42)),
        member("client_name a boolean", "client_name", json!(true)),
        member("client_name an array", "client_name", json!(["App"])),
        member("client_name an object", "client_name", json!({"en": "App"})),
        member("client_name#fr a number", "client_name#fr", json!(42)),
        member("grant_types a string", "grant_types", json!("authorization_code")),
        member("grant_types an object", "grant_types", json!({"0": "password"})),
        member("response_types numbers", "response_types", json!([1])),
        member("scope an array", "scope", json!(["openid"])),
        member("contacts a string", "contacts", json!("admin@app.example")),
        member("contacts numbers", "contacts", json!([1, 2])),
        member("default_max_age a string", "default_max_age", json!("3600")),
        member("default_max_age negative", "default_max_age", json!(-1)),
        member("default_max_age fractional", "default_max_age", json!(1.5)),
        member("require_auth_time a string", "require_auth_time", json!("yes")),
        member("jwks a string", "jwks", json!("keys")),
        member("application_type a number", "application_type", json!(1)),
        member("client_name empty", "client_name", json!("")),
        member("client_name with a NUL", "client_name", json!("App\u{0}")),
        register(
            "null members mean absent",
            json!({"redirect_uris": [REDIRECT], "client_name": null, "token_endpoint_auth_method": null}).to_string(),
        )
        .ok(201),
        body("body null", b"null"),
        body("body an array", b"[]"),
        body("body a string", br#""{}""#),
        body("body a number", b"42"),
        body("body empty", b""),
        body("body invalid UTF-8", b"{\"client_name\":\"\xff\xfe\"}"),
        body("body with trailing garbage", br#"{"redirect_uris":["https://app.example/cb"]}x"#),
        body("two bodies", br#"{"redirect_uris":["https://app.example/cb"]}{}"#),
        body("lone surrogate escape", br#"{"client_name":"\ud800"}"#),
        body("number out of range", br#"{"default_max_age":1e400}"#),
        body("single quotes", br#"{'redirect_uris':['https://app.example/cb']}"#),
        body("comments", b"{/* */\"redirect_uris\":[\"https://app.example/cb\"]}"),
    ]
}

fn structure_attacks() -> Vec<Case> {
    const IR: &str = "invalid_request";
    let body = |name: &str, text: String| register(name, text).refused(400, IR);
    let ones = vec!["1"; 10_000].join(",");
    let strings = vec![r#""a""#; 10_000].join(",");
    let members: Vec<String> = (0..300).map(|i| format!(r#""x{i}":1"#)).collect();
    vec![
        body(
            "duplicate redirect_uris",
            r#"{"redirect_uris":["https://app.example/cb"],"redirect_uris":["https://evil.example/cb"]}"#.to_owned(),
        ),
        body(
            "duplicate member spelled with an escape",
            r#"{"redirect_uris":["https://app.example/cb"],"client_name":"A","client\u005fname":"B"}"#.to_owned(),
        ),
        body(
            "duplicate member inside jwks",
            r#"{"redirect_uris":["https://app.example/cb"],"jwks":{"keys":[{"kty":"EC","kty":"RSA"}]}}"#.to_owned(),
        ),
        body(
            "duplicate grant_types",
            r#"{"redirect_uris":["https://app.example/cb"],"grant_types":["authorization_code"],"grant_types":["password"]}"#.to_owned(),
        ),
        register("body over 64 KiB", format!(r#"{{"client_name":"{}"}}"#, "a".repeat(64 * 1024)))
            .refused(413, IR),
        register("body of 1 MiB", vec![b' '; 1024 * 1024]).refused(413, IR),
        body("string over 16 KiB", format!(r#"{{"redirect_uris":["{REDIRECT}"],"client_name":"{}"}}"#, "a".repeat(20_000))),
        body("member name over 16 KiB", format!(r#"{{"{}":1}}"#, "a".repeat(20_000))),
        body("10,000-element redirect_uris", format!(r#"{{"redirect_uris":[{ones}]}}"#)),
        body("10,000-element contacts", format!(r#"{{"redirect_uris":["{REDIRECT}"],"contacts":[{strings}]}}"#)),
        body("300 members", format!("{{{}}}", members.join(","))),
        body("arrays nested 10,000 deep", format!(r#"{{"a":{}{}}}"#, "[".repeat(10_000), "]".repeat(10_000))),
        body(
            "objects nested 5,000 deep",
            format!("{}1{}", r#"{"a":"#.repeat(5_000), "}".repeat(5_000)),
        ),
        body("unclosed nesting 20,000 deep", "[".repeat(20_000)),
        body("jwks nested 17 deep", format!(r#"{{"redirect_uris":["{REDIRECT}"],"jwks":{}1{}}}"#, "[".repeat(17), "]".repeat(17))),
        Case::new("form-encoded body", "POST", "/register")
            .header("content-type", "application/x-www-form-urlencoded")
            .body("redirect_uris=https%3A%2F%2Fapp.example%2Fcb")
            .refused(415, IR),
        Case::new("no content type", "POST", "/register")
            .body(format!(r#"{{"redirect_uris":["{REDIRECT}"]}}"#))
            .refused(415, IR),
    ]
}

/// Registration access tokens: how they are presented, and which ones are refused.
fn token_handling() -> Vec<Case> {
    [token_presentation(), token_identity()]
        .into_iter()
        .flatten()
        .collect()
}

/// The path of client `A`.
const A_PATH: &str = "/register/{A}";

/// A read of `A` with a bad bearer token: 401 `invalid_token`.
fn bad_token(name: &str, authorization: Option<&str>) -> Case {
    read(name, A_PATH, authorization).refused(401, IT)
}

/// A read of `A` without bearer credentials. RFC 6750 §3.1: no credentials (or an unsupported
/// scheme) get a bare `Bearer` challenge and the body `invalid_request`.
fn anonymous(name: &str, authorization: Option<&str>) -> Case {
    read(name, A_PATH, authorization).refused(401, IR)
}

/// The `Authorization` header: schemes, spacing, and what may follow the token.
fn token_presentation() -> Vec<Case> {
    vec![
        read("current token accepted", A_PATH, Some("Bearer {A_TOKEN}")).ok(200),
        read("lowercase bearer", A_PATH, Some("bearer {A_TOKEN}")).ok(200),
        read("uppercase BEARER", A_PATH, Some("BEARER {A_TOKEN}")).ok(200),
        read("two spaces after Bearer", A_PATH, Some("Bearer  {A_TOKEN}")).ok(200),
        anonymous("missing Authorization", None),
        bad_token("Bearer without a token", Some("Bearer")),
        bad_token("Bearer with an empty token", Some("Bearer ")),
        anonymous(
            "Basic credentials",
            Some("Basic czZCaGRSa3F0MzpnWDFmQmF0M2JW"),
        ),
        anonymous("client secret as Basic", Some("Basic {A_SECRET}")),
        bad_token("token with trailing garbage", Some("Bearer {A_TOKEN} x")),
        bad_token("token with a comma", Some("Bearer {A_TOKEN},")),
        bad_token(
            "token with markup",
            Some("Bearer <script>alert(1)</script>"),
        ),
        bad_token("tab after Bearer", Some("Bearer\t{A_TOKEN}")),
        bad_token("no space after Bearer", Some("Bearer{A_TOKEN}")),
        anonymous("MAC scheme", Some("MAC {A_TOKEN}")),
        anonymous("token without a scheme", Some("{A_TOKEN}")),
    ]
}

/// Tokens that are not the client's current one, wherever they are presented.
fn token_identity() -> Vec<Case> {
    vec![
        bad_token("one character changed", Some("Bearer {A_TOKEN_MUTATED}")),
        bad_token("token prefix", Some("Bearer {A_TOKEN_PREFIX}")),
        bad_token(
            "the stored hash instead of the token",
            Some("Bearer {A_TOKEN_HASH}"),
        ),
        bad_token("client secret as the token", Some("Bearer {A_SECRET}")),
        bad_token("rotated-away token", Some("Bearer {A_OLD_TOKEN}")),
        bad_token("another client's token", Some("Bearer {B_TOKEN}")),
        read(
            "two Authorization headers",
            A_PATH,
            Some("Bearer {A_TOKEN}"),
        )
        .header("authorization", "Bearer {B_TOKEN}")
        .refused(401, IT),
        read(
            "token in the query string",
            "/register/{A}?access_token={A_TOKEN}",
            None,
        )
        .refused(401, IR),
        Case::new("token in a form body", "DELETE", A_PATH)
            .header("content-type", "application/x-www-form-urlencoded")
            .body("access_token={A_TOKEN}")
            .refused(401, IR),
        read(
            "expired token",
            "/register/{EXPIRED}",
            Some("Bearer {EXPIRED_TOKEN}"),
        )
        .refused(401, IT),
        read(
            "deleted client's token",
            "/register/{DELETED}",
            Some("Bearer {DELETED_TOKEN}"),
        )
        .refused(401, IT),
        read(
            "unknown client with a valid token",
            "/register/no-such-client",
            Some("Bearer {A_TOKEN}"),
        )
        .refused(401, IT),
        read(
            "unknown client without a token",
            "/register/no-such-client",
            None,
        )
        .refused(401, IR),
        Case::new("update with another client's token", "PUT", A_PATH)
            .header("authorization", "Bearer {B_TOKEN}")
            .json(json!({"client_id": "{A}", "redirect_uris": [REDIRECT]}).to_string())
            .refused(401, IT),
        Case::new("update with the rotated-away token", "PUT", A_PATH)
            .header("authorization", "Bearer {A_OLD_TOKEN}")
            .json(json!({"client_id": "{A}", "redirect_uris": [REDIRECT]}).to_string())
            .refused(401, IT),
        Case::new("delete with the rotated-away token", "DELETE", A_PATH)
            .header("authorization", "Bearer {A_OLD_TOKEN}")
            .refused(401, IT),
        Case::new(
            "delete with the expired token",
            "DELETE",
            "/register/{EXPIRED}",
        )
        .header("authorization", "Bearer {EXPIRED_TOKEN}")
        .refused(401, IT),
        Case::new("delete without a token", "DELETE", A_PATH).refused(401, IR),
        Case::new("delete with the current token", "DELETE", A_PATH)
            .header("authorization", "Bearer {A_TOKEN}")
            .ok(204),
    ]
}

// ---------------------------------------------------------------------------------------------
// The runner
// ---------------------------------------------------------------------------------------------

/// Runs one case on a fresh server; returns what went wrong, if anything.
async fn run(case: &Case) -> Vec<String> {
    let fx = Fixture::new().await;
    let mut problems = Vec::new();
    let path = fx.fill(&case.path);
    let mut builder = http::Request::builder()
        .method(case.method)
        .uri(path.as_str());
    for (name, value) in &case.headers {
        builder = builder.header(*name, fx.fill(value));
    }
    let body = match std::str::from_utf8(&case.body) {
        Ok(text) => fx.fill(text).into_bytes(),
        Err(_) => case.body.clone(),
    };
    let request = builder.body(body).expect("a well-formed test request");
    let a = fx.var("{A}").to_owned();
    let a_before = record(&fx.store, &a).await;
    let clients_before = fx.store.len();

    let response = oauth_dcr::http::handle(&fx.registrar, request, &RequestContext::new()).await;

    let status = response.status().as_u16();
    let text = String::from_utf8_lossy(response.body()).into_owned();
    if status != case.status {
        problems.push(format!(
            "status {status}, expected {} ({text})",
            case.status
        ));
    }
    if response
        .headers()
        .get("cache-control")
        .map(|v| v.as_bytes())
        != Some(b"no-store")
    {
        problems.push("no Cache-Control: no-store".to_owned());
    }
    for shown in &case.absent {
        if text.contains(shown.as_str()) {
            problems.push(format!("the response shows `{shown}`: {text}"));
        }
    }
    if let Some(code) = case.code {
        let json: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
        if json["error"] != code {
            problems.push(format!("error {}, expected {code}", json["error"]));
        }
        if json.get("client_id").is_some() {
            problems.push("an error body names a client_id".to_owned());
        }
        if status == 401 {
            let challenge = response.headers().get("www-authenticate");
            if !challenge.is_some_and(|v| v.as_bytes().starts_with(b"Bearer")) {
                problems.push(format!("401 without a Bearer challenge: {challenge:?}"));
            }
            // RFC 6750 §3.1: an error code in the challenge exactly when a token was presented.
            let coded = challenge.is_some_and(|v| v.as_bytes().windows(6).any(|w| w == b"error="));
            if coded != (code == "invalid_token") {
                problems.push(format!("401 {code} with the challenge {challenge:?}"));
            }
        }
        if case.method == "POST" && fx.store.len() != clients_before {
            problems.push("a refused registration stored a client".to_owned());
        }
        if case.method == "PUT" && record(&fx.store, &a).await != a_before {
            problems.push("a refused update changed the client".to_owned());
        }
    }
    problems
}

async fn record(store: &MemoryStore, id: &str) -> Option<oauth_dcr::ClientRecord> {
    oauth_dcr::ClientStore::get(store, id).await.unwrap()
}

async fn run_table(cases: Vec<Case>) {
    let mut failures = Vec::new();
    for case in &cases {
        assert!(case.status != 0, "{}: no expectation", case.name);
        let problems = run(case).await;
        if !problems.is_empty() {
            failures.push(format!("{}: {}", case.name, problems.join("; ")));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} cases failed:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
}

#[tokio::test]
async fn redirect_uri_attacks_are_refused() {
    run_table(redirect_uri_attacks()).await;
}

#[tokio::test]
async fn jws_attacks_are_refused() {
    run_table(jws_attacks()).await;
}

#[tokio::test]
async fn server_owned_members_cannot_be_assigned() {
    run_table(mass_assignment()).await;
}

#[tokio::test]
async fn metadata_cannot_escalate_privileges() {
    run_table(privilege_escalation()).await;
}

#[tokio::test]
async fn wrong_types_are_refused_by_field() {
    run_table(type_confusion()).await;
}

#[tokio::test]
async fn duplicate_huge_and_deep_bodies_are_refused() {
    run_table(structure_attacks()).await;
}

#[tokio::test]
async fn server_called_addresses_weak_keys_controls_and_bad_contacts_are_refused_on_every_path() {
    run_table(addresses_keys_and_characters()).await;
}

#[tokio::test]
async fn registration_tokens_are_handled_strictly() {
    run_table(token_handling()).await;
}

#[test]
fn the_corpus_has_at_least_80_cases_with_unique_names() {
    let all: Vec<Case> = [
        redirect_uri_attacks(),
        jws_attacks(),
        mass_assignment(),
        privilege_escalation(),
        type_confusion(),
        structure_attacks(),
        token_handling(),
        addresses_keys_and_characters(),
    ]
    .into_iter()
    .flatten()
    .collect();
    assert!(all.len() >= 80, "{} cases", all.len());
    let mut names: Vec<&str> = all.iter().map(|c| c.name.as_str()).collect();
    names.sort_unstable();
    let before = names.len();
    names.dedup();
    assert_eq!(names.len(), before, "duplicate case names");
}

/// RFC 7592 §2.1: a valid token presented for another client is revoked at once.
#[tokio::test]
async fn a_token_presented_for_another_client_is_revoked() {
    let fx = Fixture::new().await;
    let request = http::Request::get(fx.fill("/register/{A}"))
        .header("authorization", fx.fill("Bearer {B_TOKEN}"))
        .body(Vec::new())
        .unwrap();
    let response = oauth_dcr::http::handle(&fx.registrar, request, &RequestContext::new()).await;
    assert_eq!(response.status(), 401);
    let b = fx.var("{B}").to_owned();
    let token = fx.var("{B_TOKEN}").to_owned();
    let err = fx.registrar.read(&b, Some(&token)).await.unwrap_err();
    assert_eq!(err.status(), 401);
}
