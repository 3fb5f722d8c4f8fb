//! Starts the example server's router on a loopback port and talks to it over real HTTP,
//! checking every response against `examples/openapi.yaml`.

use reqwest::header::{HeaderMap, CONTENT_TYPE};
use reqwest::{RequestBuilder, StatusCode};
use serde_json::Value;
use tokio::net::TcpListener;

use crate::app;
use crate::common::web_client;
use crate::openapi::spec;

pub(crate) const JSON: &str = "application/json";
pub(crate) const FORM: &str = "application/x-www-form-urlencoded";

/// The flags of a server whose registrations need an initial access token, which its bootstrap
/// client `registerClient:password` gets from the token endpoint.
pub(crate) const BOOTSTRAP: [&str; 4] = [
    "--bootstrap-client",
    "registerClient:password",
    "--require-initial-token",
    "register",
];

/// Asserts an error reply's status and error code, and `Cache-Control: no-store`.
#[track_caller]
pub(crate) fn assert_error(reply: &Reply, status: StatusCode, error: &str) {
    assert_eq!(reply.status, status, "{:#}", reply.json);
    assert_eq!(reply.error(), error);
    assert_eq!(reply.header("cache-control"), "no-store");
}

/// A running example server and a client for it.
pub(crate) struct Server {
    /// `http://127.0.0.1:PORT`, the default issuer.
    pub(crate) base: String,
    /// A client that ignores proxy settings.
    pub(crate) http: reqwest::Client,
}

/// Stops a server started with [`Server::start_stoppable`].
#[cfg_attr(not(feature = "sqlite"), allow(dead_code))]
pub(crate) struct Stop {
    stop: tokio::sync::oneshot::Sender<()>,
    task: tokio::task::JoinHandle<()>,
}

#[cfg_attr(not(feature = "sqlite"), allow(dead_code))]
impl Stop {
    /// Stops the server and waits until its accept loop has returned.
    pub(crate) async fn stop(self) {
        let _ = self.stop.send(());
        self.task.await.expect("the accept loop ends");
    }
}

/// What came back.
#[derive(Debug)]
pub(crate) struct Reply {
    pub(crate) status: StatusCode,
    pub(crate) headers: HeaderMap,
    /// The JSON body, `Null` when the body is empty.
    pub(crate) json: Value,
}

impl Reply {
    /// A header's value, `""` when absent.
    pub(crate) fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
    }

    /// The `error` member of an error body.
    pub(crate) fn error(&self) -> &str {
        self.json["error"].as_str().unwrap_or_default()
    }

    /// A string member of the body.
    pub(crate) fn str(&self, member: &str) -> &str {
        self.json[member]
            .as_str()
            .unwrap_or_else(|| panic!("`{member}` is not a string in {:#}", self.json))
    }
}

impl Server {
    /// Serves the example's router, configured by these command-line `flags` (after
    /// `--listen 127.0.0.1:PORT`), on a fresh loopback port.
    pub(crate) async fn start(flags: &[&str]) -> Self {
        match Self::try_start(flags).await {
            Ok(server) => server,
            Err(e) => panic!("the server does not start: {e}"),
        }
    }

    /// As [`start`](Self::start), with the store's error when it cannot be opened.
    pub(crate) async fn try_start(flags: &[&str]) -> Result<Self, String> {
        // The example's own accept loop, with its header timeout; it runs until the test ends.
        let (server, _) = Self::serve(flags, std::future::pending()).await?;
        Ok(server)
    }

    /// As [`start`](Self::start), and the handle that stops it as SIGTERM stops the example:
    /// no new connection, the requests in flight finished, then its router (its registrar and
    /// store with it) dropped.
    #[cfg_attr(not(feature = "sqlite"), allow(dead_code))]
    pub(crate) async fn start_stoppable(flags: &[&str]) -> (Self, Stop) {
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let shutdown = async {
            let _ = stopped.await;
        };
        match Self::serve(flags, shutdown).await {
            Ok((server, task)) => (server, Stop { stop, task }),
            Err(e) => panic!("the server does not start: {e}"),
        }
    }

    async fn serve(
        flags: &[&str],
        shutdown: impl std::future::Future<Output = ()> + Send + 'static,
    ) -> Result<(Self, tokio::task::JoinHandle<()>), String> {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("local address");
        let mut args = vec!["--listen".to_owned(), addr.to_string()];
        args.extend(flags.iter().map(|f| (*f).to_owned()));
        let config = app::Config::parse(args).expect("valid flags");
        let store = app::open_store(&config).await?;
        let router = app::router(&config, store);
        let header_timeout = config.header_timeout;
        let task = tokio::spawn(app::serve(listener, router, header_timeout, shutdown));
        let http = reqwest::Client::builder()
            .no_proxy()
            .build()
            .expect("client");
        let server = Self {
            base: format!("http://{addr}"),
            http,
        };
        Ok((server, task))
    }

    /// `base` + `path`.
    pub(crate) fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// Sends `request` and checks the response against the description of `operation`
    /// (`"post /register"`): documented status, JSON body matching its schema.
    pub(crate) async fn send(&self, operation: &str, request: RequestBuilder) -> Reply {
        let response = request.send().await.expect("the server answers");
        let status = response.status();
        let headers = response.headers().clone();
        let bytes = response.bytes().await.expect("a complete body");
        let json = if bytes.is_empty() {
            Value::Null
        } else {
            let media = headers.get(CONTENT_TYPE).and_then(|v| v.to_str().ok());
            assert_eq!(media, Some(JSON), "{operation} {status}: content type");
            serde_json::from_slice(&bytes).expect("a JSON body")
        };
        let body = (!bytes.is_empty()).then_some(&json);
        if let Err(e) = spec().check_response(operation, status.as_u16(), body) {
            panic!("the response does not match examples/openapi.yaml: {e}");
        }
        Reply {
            status,
            headers,
            json,
        }
    }

    /// `POST /register` with a JSON `body` (not necessarily valid) and an optional bearer token.
    pub(crate) async fn register(&self, body: &str, token: Option<&str>) -> Reply {
        let mut request = self
            .http
            .post(self.url("/register"))
            .header(CONTENT_TYPE, JSON)
            .body(body.to_owned());
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        self.send("post /register", request).await
    }

    /// `GET` of a client configuration endpoint (`uri`, as a registration returned it) with a
    /// registration access token.
    pub(crate) async fn read(&self, uri: &str, token: &str) -> Reply {
        let request = self.http.get(uri).bearer_auth(token);
        self.send("get /register/{client_id}", request).await
    }

    /// `POST /token` with a form `body` and optional HTTP Basic credentials.
    pub(crate) async fn token(&self, body: &str, basic: Option<(&str, &str)>) -> Reply {
        let mut request = self
            .http
            .post(self.url("/token"))
            .header(CONTENT_TYPE, FORM)
            .body(body.to_owned());
        if let Some((id, secret)) = basic {
            request = request.basic_auth(id, Some(secret));
        }
        self.send("post /token", request).await
    }

    /// Registers a client successfully: the server still serves.
    pub(crate) async fn assert_serving(&self) {
        let reply = self.register(&web_client().to_string(), None).await;
        assert_eq!(reply.status, StatusCode::CREATED, "{:#}", reply.json);
    }
}
