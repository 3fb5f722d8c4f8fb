//! The example server's log, read back through a capturing subscriber with the server's own
//! default filter: one line per request, naming the client the registrar's operation concerned,
//! and never a secret, a token or a body.

use std::io::Write;
use std::sync::{Arc, Mutex};

use reqwest::StatusCode;
use tracing_subscriber::layer::SubscriberExt as _;

use crate::common::web_client;
use crate::server::Server;

/// Everything the subscriber wrote.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[test]
fn one_line_per_request_names_the_client_and_nothing_secret() {
    let captured = Captured::default();
    let writer = captured.clone();
    let subscriber = tracing_subscriber::registry()
        .with(
            // As examples/server/main.rs builds it.
            tracing_subscriber::fmt::layer()
                .with_timer(crate::app::logs::LineTime)
                .fmt_fields(crate::app::logs::line_fields())
                .with_target(false)
                .with_ansi(false)
                .with_writer(move || writer.clone()),
        )
        .with(crate::app::default_log_filter(false));
    // The server runs on this thread (a current-thread runtime), so it logs to this subscriber.
    let _default = tracing::subscriber::set_default(subscriber);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let (client_id, secrets) = runtime.block_on(async {
        let server = Server::start(&[]).await;
        let registered = server.register(&web_client().to_string(), None).await;
        assert_eq!(registered.status, StatusCode::CREATED);
        let client_id = registered.str("client_id").to_owned();
        let token = registered.str("registration_access_token").to_owned();
        let uri = registered.str("registration_client_uri");
        let read = server.read(uri, &token).await;
        assert_eq!(read.status, StatusCode::OK);
        let refused = server.read(uri, "not-the-token").await;
        assert_eq!(refused.status, StatusCode::UNAUTHORIZED);
        let secrets = [
            token,
            registered.str("client_secret").to_owned(),
            read.str("registration_access_token").to_owned(),
        ];
        (client_id, secrets)
    });
    let text = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 3, "one line per request:\n{text}");
    let registered = lines[0];
    for part in [
        "method=POST",
        "path=/register",
        "status=201",
        &format!("client_id={client_id}"),
    ] {
        assert!(registered.contains(part), "{part} in {registered}");
    }
    assert!(lines[1].contains("status=200") && lines[1].contains("client_id="));
    // A refusal names no client beyond its path.
    assert!(lines[2].contains("status=401") && !lines[2].contains("client_id="));
    for secret in &secrets {
        assert!(!text.contains(secret.as_str()), "a credential was logged");
    }
    assert!(
        !text.contains(crate::common::REDIRECT),
        "the body was logged"
    );
    // `2026-12-06T08:28:06.530936Z  INFO request method=…`
    for line in &lines {
        let (time, rest) = line.split_once(' ').unwrap();
        assert_eq!(time.len(), "2026-12-06T08:28:06.530936Z".len(), "{line}");
        assert!(time.ends_with('Z') && time.as_bytes()[10] == b'T', "{line}");
        assert!(
            rest.trim_start().starts_with("INFO request method="),
            "{line}"
        );
    }
}

/// An output that keeps what it is given, and can be held shut.
#[derive(Clone, Default)]
struct Output {
    written: Arc<Mutex<Vec<u8>>>,
    gate: Arc<Mutex<()>>,
}

impl Write for Output {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        let _open = self.gate.lock().unwrap();
        self.written.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[test]
fn the_log_writer_keeps_every_line_in_order_and_drops_only_past_its_limit() {
    use crate::app::logs::{log_writer, MAX_PENDING};

    let output = Output::default();
    let (writer, flusher) = log_writer(output.clone()).unwrap();
    let threads: Vec<_> = (0..4)
        .map(|t| {
            let writer = writer.clone();
            std::thread::spawn(move || {
                for i in 0..1000 {
                    (&writer)
                        .write_all(format!("{t} {i}\n").as_bytes())
                        .unwrap();
                }
            })
        })
        .collect();
    for thread in threads {
        thread.join().unwrap();
    }
    drop(flusher);
    let text = String::from_utf8(output.written.lock().unwrap().clone()).unwrap();
    // Every line, each thread's in the order it wrote them, written by the time the flusher
    // is dropped.
    for t in 0..4 {
        let mine: Vec<usize> = text
            .lines()
            .filter_map(|l| l.strip_prefix(&format!("{t} ")))
            .map(|n| n.parse().unwrap())
            .collect();
        assert_eq!(mine, (0..1000).collect::<Vec<_>>());
    }
    assert_eq!(writer.dropped_lines(), 0);

    // An output that does not take anything: lines wait up to the limit, then are dropped and
    // counted, and the writer never blocks.
    let stuck = Output::default();
    let shut = stuck.gate.lock().unwrap();
    let (writer, flusher) = log_writer(stuck.clone()).unwrap();
    (&writer).write_all(b"first\n").unwrap();
    std::thread::sleep(std::time::Duration::from_millis(100));
    let line = vec![b'x'; 1024];
    for _ in 0..(MAX_PENDING / 1024 + 10) {
        (&writer).write_all(&line).unwrap();
    }
    assert!(writer.dropped_lines() >= 10, "{}", writer.dropped_lines());
    drop(shut);
    drop(flusher);
    assert!(stuck.written.lock().unwrap().starts_with(b"first\n"));
}

#[test]
fn log_values_have_their_control_characters_escaped() {
    use crate::app::logs::escaped;
    assert_eq!(escaped("/register/abc"), "/register/abc");
    assert!(matches!(escaped("plain"), std::borrow::Cow::Borrowed(_)));
    assert_eq!(escaped("a\nb\u{1b}[31m"), "a\\nb\\u{1b}[31m");
    // A C1 control (CSI) a UTF-8 path may carry, and one a terminal would act on.
    assert_eq!(escaped("/register/\u{9b}2J"), "/register/\\u{9b}2J");
    assert_eq!(escaped("/register/é"), "/register/é");
}
