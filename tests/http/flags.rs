//! The example server's command line: what it accepts, what it refuses and what it says.

use crate::app::{Config, StoreChoice};
use crate::common::key_path;

fn error(args: &[&str]) -> String {
    match Config::parse(args.iter().copied()) {
        Ok(config) => panic!("{args:?} was accepted: {config:?}"),
        Err(message) => message,
    }
}

#[test]
fn defaults() {
    let config = Config::parse(Vec::<String>::new()).expect("no flags");
    assert_eq!(config.listen.to_string(), "127.0.0.1:8080");
    assert_eq!(config.issuer, "http://127.0.0.1:8080");
    assert_eq!(
        config.registration_endpoint(),
        "http://127.0.0.1:8080/register"
    );
    assert!(config.rotate_on_read);
    assert!(config.bootstrap.is_none() && config.require_initial_token.is_none());
    assert!(config.allowed_origins.is_empty());
    // Discovery placeholders under the issuer.
    assert_eq!(
        config.authorization_endpoint(),
        "http://127.0.0.1:8080/authorize"
    );
    assert_eq!(config.jwks_uri(), "http://127.0.0.1:8080/jwks");
}

#[test]
fn discovery_endpoint_flags() {
    let config = Config::parse([
        "--issuer",
        "https://as.example",
        "--authorization-endpoint",
        "https://login.example/oauth2/authorize",
        "--jwks-uri=https://login.example/keys",
    ])
    .expect("valid flags");
    assert_eq!(
        config.authorization_endpoint(),
        "https://login.example/oauth2/authorize"
    );
    assert_eq!(config.jwks_uri(), "https://login.example/keys");
    for flag in ["--authorization-endpoint", "--jwks-uri"] {
        for bad in [
            "/authorize",
            "ftp://a.example/x",
            "https://u:p@a.example/x",
            "https://a.example/#f",
        ] {
            assert!(error(&[flag, bad]).contains(flag), "{flag} {bad}");
        }
        assert!(
            error(&[flag, "https://a.example/x", flag, "https://a.example/y"]).contains("twice")
        );
    }
}

#[test]
fn help_documents_the_discovery_placeholders() {
    for shown in [
        "--authorization-endpoint URL",
        "URL/authorize",
        "--jwks-uri URL",
        "URL/jwks",
    ] {
        assert!(crate::app::USAGE.contains(shown), "{shown}");
    }
}

#[test]
fn every_flag() {
    let config = Config::parse([
        "--listen=[::1]:9000",
        "--bootstrap-client",
        "registerClient:pass:word",
        "--require-initial-token",
        "register",
        "--store",
        "memory",
        "--no-rotate-on-read",
        "--allow-origin",
        "https://a.example",
        "--allow-origin=http://localhost:3000",
    ])
    .expect("valid flags");
    assert_eq!(config.issuer, "http://[::1]:9000");
    let client = config.bootstrap.as_ref().expect("bootstrap client");
    assert_eq!(
        (client.id.as_str(), client.secret.as_str()),
        ("registerClient", "pass:word")
    );
    assert_eq!(config.require_initial_token.as_deref(), Some("register"));
    assert!(!config.rotate_on_read);
    assert_eq!(
        config.allowed_origins,
        ["https://a.example", "http://localhost:3000"]
    );
}

#[test]
fn banner_is_one_line_without_secrets() {
    let config = Config::parse([
        "--bootstrap-client",
        "registerClient:s3cr3t",
        "--require-initial-token",
        "register",
    ])
    .expect("valid flags");
    let banner = config.banner();
    assert!(!banner.contains('\n'));
    assert!(!banner.contains("s3cr3t"));
    assert!(!format!("{config:?}").contains("s3cr3t"));
    for shown in [
        "127.0.0.1:8080",
        "registerClient",
        "scope `register`",
        "store memory",
    ] {
        assert!(banner.contains(shown), "{banner}");
    }
}

#[test]
fn protection_flags_need_their_keys() {
    let missing = error(&[
        "--trust-issuer",
        "https://iss.example=/nonexistent/keys.json",
    ]);
    assert!(
        missing.contains("cannot read `/nonexistent/keys.json`"),
        "{missing}"
    );
    assert!(error(&["--trust-issuer", "https://iss.example"]).contains("ISS=JWKS_FILE"));
    assert!(error(&["--signed-request-jwks", "/nonexistent"]).contains("cannot read"));
    let statement = error(&["--require-software-statement"]);
    assert!(statement.contains("--trust-issuer"), "{statement}");
    let signed = error(&["--require-signed-request"]);
    assert!(signed.contains("--signed-request-jwks"), "{signed}");
}

#[test]
fn a_private_key_set_is_refused() {
    let path = std::env::temp_dir().join(format!(
        "oauth-dcr-http-{}-private.json",
        std::process::id()
    ));
    let private = r#"{"keys":[{"kty":"oct","k":"c2VjcmV0LXNlY3JldC1zZWNyZXQ","kid":"h"}]}"#;
    std::fs::write(&path, private).expect("write");
    let path_text = path.to_string_lossy().into_owned();
    let message = error(&["--signed-request-jwks", &path_text]);
    let _ = std::fs::remove_file(&path);
    assert!(message.contains("is not a public JWK Set"), "{message}");
}

#[test]
fn postgres_store_needs_the_feature() {
    let url = "postgres://dcr:hunter2@localhost/dcr";
    let parsed = Config::parse(["--store", url]);
    if cfg!(feature = "postgres") {
        let config = parsed.expect("a PostgreSQL URL");
        assert_eq!(config.store, StoreChoice::Postgres(url.into()));
        assert!(!format!("{config:?}").contains("hunter2"));
        assert!(!config.banner().contains("hunter2"));
        assert!(config.banner().contains("store PostgreSQL"));
    } else {
        let message = parsed.expect_err("no postgres feature");
        assert!(message.contains("--features postgres"), "{message}");
    }
}

#[test]
fn sqlite_store_needs_a_path_and_the_feature() {
    let parsed = Config::parse(["--store", "sqlite:/var/lib/dcr/clients.db"]);
    if cfg!(feature = "sqlite") {
        let config = parsed.expect("a SQLite path");
        assert_eq!(
            config.store,
            StoreChoice::Sqlite("/var/lib/dcr/clients.db".into())
        );
        assert!(
            config
                .banner()
                .contains("store SQLite /var/lib/dcr/clients.db"),
            "{}",
            config.banner()
        );
        for empty in ["sqlite:", "sqlite::memory:"] {
            let message = error(&["--store", empty]);
            assert!(message.contains("needs the path of a file"), "{message}");
        }
    } else {
        let message = parsed.expect_err("no sqlite feature");
        assert!(message.contains("--features sqlite"), "{message}");
    }
}

#[test]
fn the_admin_token_flag() {
    let token = "q0VHLr1mF8zY3cJd2XkP+w==";
    let config = Config::parse(["--admin-token", token]).expect("an admin token");
    let admin = config.admin_token.as_ref().expect("admin endpoints on");
    assert!(admin.matches(token));
    assert!(!admin.matches("q0VHLr1mF8zY3cJd2XkP+w="));
    assert!(!admin.matches(""));
    // Never shown, in Debug or the banner; the banner says the endpoints are on.
    assert!(!format!("{config:?}").contains(token));
    assert!(!format!("{config:?}").contains("q0VHLr"));
    assert!(!config.banner().contains("q0VHLr"));
    assert!(config.banner().contains("admin endpoints: on"));
    assert!(config.warnings().is_empty(), "{:?}", config.warnings());
    let off = Config::parse(Vec::<String>::new()).expect("no flags");
    assert!(off.admin_token.is_none());
    assert!(off.banner().contains("admin endpoints: off"));

    // A short one is accepted, with a warning at start.
    let short = Config::parse(["--admin-token=ADMIN"]).expect("a short token");
    let warnings = short.warnings();
    assert!(
        warnings
            .iter()
            .any(|w| w.contains("--admin-token is shorter than 22")),
        "{warnings:?}"
    );
    // It must be sendable as a bearer token; the refusal does not repeat it.
    for bad in ["", "two words", "tab\there", "=", "ünïcode"] {
        let message = error(&["--admin-token", bad]);
        assert!(
            message.contains("--admin-token expects a bearer token"),
            "{message}"
        );
        assert!(
            bad.is_empty() || bad == "=" || !message.contains(bad),
            "{message}"
        );
    }
    assert!(error(&["--admin-token", "a", "--admin-token", "b"]).contains("twice"));
}

#[test]
fn refused_values() {
    assert!(error(&["--store", "sqlite"]).contains("`memory`, `sqlite:PATH` or a postgres://… URL"));
    assert!(error(&["--store", "memory", "--store", "memory"]).contains("twice"));
    assert!(error(&["--require-initial-token", "register"]).contains("--bootstrap-client"));
    assert!(error(&["--listen", "localhost"]).contains("--listen"));
    assert!(error(&["--issuer", "https://as.example/tenant"]).contains("--issuer"));
    assert!(error(&["--issuer", "ftp://as.example"]).contains("--issuer"));
    assert!(error(&["--bootstrap-client", "nocolon"]).contains("ID:SECRET"));
    assert!(error(&["--require-initial-token", "a b"]).contains("scope"));
    assert!(error(&["--allow-origin", "https://a.example/"]).contains("origin"));
    assert!(error(&["--listen"]).contains("needs a value"));
    assert!(error(&["--listen", "127.0.0.1:1", "--listen", "127.0.0.1:2"]).contains("twice"));
    assert!(error(&["--verbose"]).contains("unknown flag"));
    assert!(error(&["--no-rotate-on-read=yes"]).contains("unknown flag"));
}

// ---- issue 15, item 24: presets and the loopback fetch switch ----

#[test]
fn the_profile_flag_names_each_preset() {
    use oauth_dcr::profiles::Profile;
    assert_eq!(Config::parse(Vec::<String>::new()).unwrap().profile, None);
    for (name, profile) in [
        ("oidc-dynamic", Profile::OidcDynamic),
        ("fapi2", Profile::Fapi2),
        ("mcp", Profile::Mcp),
    ] {
        let config = Config::parse(["--profile", name]).expect(name);
        assert_eq!(config.profile, Some(profile), "{name}");
        assert!(
            config.banner().contains(&format!("profile {name}")),
            "{}",
            config.banner()
        );
    }
    let jwks = key_path("issuer.jwks.json");
    let directory = format!("OpenBanking Ltd={jwks}");
    let open_banking = Config::parse([
        "--profile=uk-open-banking",
        "--trust-issuer",
        &directory,
        "--signed-request-jwks",
        &jwks,
        "--audience",
        "0015800001041RHAAY",
        "--audience",
        "https://as.bank.example",
    ])
    .expect("uk-open-banking with its keys");
    assert_eq!(open_banking.profile, Some(Profile::UkOpenBanking));
    assert_eq!(
        open_banking.audiences(),
        ["0015800001041RHAAY", "https://as.bank.example"]
    );
    let message = error(&["--profile", "fapi"]);
    assert!(
        message.contains("oidc-dynamic, fapi2, mcp or uk-open-banking"),
        "{message}"
    );
    assert!(error(&["--profile", "mcp", "--profile", "fapi2"]).contains("twice"));
    for shown in ["--profile NAME", "uk-open-banking", "--audience AUD"] {
        assert!(crate::app::USAGE.contains(shown), "{shown}");
    }
}

#[test]
fn uk_open_banking_needs_the_directory_and_software_keys() {
    let jwks = key_path("issuer.jwks.json");
    let directory = format!("OpenBanking Ltd={jwks}");
    let alone = error(&["--profile", "uk-open-banking"]);
    assert!(alone.contains("--trust-issuer"), "{alone}");
    // The software's keys come from the key set each statement names: no flag needed.
    Config::parse(["--profile", "uk-open-banking", "--trust-issuer", &directory])
        .expect("the directory's keys are enough");
    // The audience defaults to the issuer.
    let config = Config::parse([
        "--profile",
        "uk-open-banking",
        "--trust-issuer",
        &directory,
        "--signed-request-jwks",
        &jwks,
    ])
    .expect("with its keys");
    assert_eq!(config.audiences(), ["http://127.0.0.1:8080"]);
    let audience = error(&["--audience", "https://as.example"]);
    assert!(audience.contains("--profile uk-open-banking"), "{audience}");
    let blank = error(&[
        "--profile",
        "uk-open-banking",
        "--trust-issuer",
        &directory,
        "--signed-request-jwks",
        &jwks,
        "--audience",
        "a b",
    ]);
    assert!(blank.contains("--audience"), "{blank}");
}

#[test]
fn the_loopback_fetch_switch_is_off_by_default_and_announced() {
    let config = Config::parse(Vec::<String>::new()).unwrap();
    assert!(!config.dangerously_allow_http_loopback_fetch);
    assert!(config.warnings().is_empty());
    assert!(!config.banner().contains("DANGER"));
    assert!(crate::app::USAGE.contains("--dangerously-allow-http-loopback-fetch"));
    assert!(error(&["--dangerously-allow-http-loopback-fetch=yes"]).contains("unknown flag"));
    let parsed = Config::parse(["--dangerously-allow-http-loopback-fetch"]);
    if cfg!(feature = "fetch") {
        let config = parsed.expect("the switch");
        assert!(config.dangerously_allow_http_loopback_fetch);
        let warnings = config.warnings();
        assert_eq!(warnings.len(), 1);
        for said in [
            "WARNING",
            "--dangerously-allow-http-loopback-fetch",
            "never in production",
        ] {
            assert!(warnings[0].contains(said), "{said}: {}", warnings[0]);
        }
        assert!(config.banner().contains("DANGER"), "{}", config.banner());
    } else {
        let message = parsed.expect_err("no fetch feature");
        assert!(message.contains("--features fetch"), "{message}");
    }
}

// ---- issue 17: the open internet, and the crate's defaults ----

#[test]
fn internet_defaults_timeouts_limits_and_reuse_detection() {
    use std::time::Duration;
    let config = Config::parse(Vec::<String>::new()).expect("no flags");
    assert_eq!(config.header_timeout, Duration::from_secs(5));
    assert_eq!(config.body_timeout, Duration::from_secs(5));
    let register = config.register_rate.expect("registrations are limited");
    assert_eq!(
        (register.count.get(), register.per),
        (60, Duration::from_secs(60))
    );
    let failed = config.failed_management_rate.expect("failures are limited");
    assert_eq!(
        (failed.count.get(), failed.per),
        (10, Duration::from_secs(60))
    );
    // The crate's default, as the README walkthrough shows it.
    assert!(config.detect_token_reuse);
    let banner = config.banner();
    for shown in [
        "reuse detection: on",
        "rate limits per address: register 60/min, failed management 10/min",
    ] {
        assert!(banner.contains(shown), "{banner}");
    }
}

#[test]
fn timeout_and_rate_flags() {
    use std::time::Duration;
    let config = Config::parse([
        "--header-timeout",
        "500ms",
        "--body-timeout=2s",
        "--rate-limit-register",
        "5/s",
        "--rate-limit-failed-management=100/h",
        "--no-detect-token-reuse",
    ])
    .expect("valid flags");
    assert_eq!(config.header_timeout, Duration::from_millis(500));
    assert_eq!(config.body_timeout, Duration::from_secs(2));
    let register = config.register_rate.expect("set");
    assert_eq!(
        (register.count.get(), register.per),
        (5, Duration::from_secs(1))
    );
    let failed = config.failed_management_rate.expect("set");
    assert_eq!(
        (failed.count.get(), failed.per),
        (100, Duration::from_secs(3600))
    );
    assert!(!config.detect_token_reuse);
    assert!(config.banner().contains("reuse detection: off"));
    assert!(config
        .banner()
        .contains("register 5/s, failed management 100/h"));
    assert_eq!(
        Config::parse(["--body-timeout", "7"])
            .expect("seconds")
            .body_timeout,
        Duration::from_secs(7)
    );
    // `--detect-token-reuse` is the default, still accepted.
    assert!(
        Config::parse(["--detect-token-reuse"])
            .expect("accepted")
            .detect_token_reuse
    );
}

#[test]
fn no_rate_limits_is_announced_and_excludes_the_rate_flags() {
    let config = Config::parse(["--no-rate-limits"]).expect("valid");
    assert!(config.register_rate.is_none() && config.failed_management_rate.is_none());
    assert!(
        config.banner().contains("rate limits: off"),
        "{}",
        config.banner()
    );
    let warnings = config.warnings();
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert!(warnings[0].contains("--no-rate-limits"), "{}", warnings[0]);
    assert!(Config::parse(Vec::<String>::new())
        .unwrap()
        .warnings()
        .is_empty());
    for rate in ["--rate-limit-register", "--rate-limit-failed-management"] {
        let message = error(&["--no-rate-limits", rate, "1/s"]);
        assert!(
            message.contains("contradicts") && message.contains(rate),
            "{message}"
        );
    }
}

#[test]
fn refused_timeouts_and_rates() {
    for bad in ["0", "0s", "-1", "5m", "1.5s", "3601s", "", "s"] {
        for flag in ["--header-timeout", "--body-timeout"] {
            assert!(error(&[flag, bad]).contains(flag), "{flag} {bad}");
        }
    }
    for bad in ["0/s", "10", "10/day", "/s", "1000001/s", "-1/s", "ten/min"] {
        for flag in ["--rate-limit-register", "--rate-limit-failed-management"] {
            let message = error(&[flag, bad]);
            assert!(
                message.contains("N/s, N/min or N/h"),
                "{flag} {bad}: {message}"
            );
        }
    }
    assert!(error(&["--body-timeout", "1s", "--body-timeout", "2s"]).contains("twice"));
    assert!(error(&["--detect-token-reuse", "--no-detect-token-reuse"]).contains("twice"));
    assert!(error(&["--no-rate-limits=yes"]).contains("unknown flag"));
}

#[test]
fn help_lists_the_internet_flags() {
    for shown in [
        "--header-timeout DURATION",
        "--body-timeout DURATION",
        "--rate-limit-register RATE",
        "--rate-limit-failed-management RATE",
        "--no-rate-limits",
        "--no-detect-token-reuse",
        "Retry-After",
    ] {
        assert!(crate::app::USAGE.contains(shown), "{shown}");
    }
}
