//! The example server's log writer: lines are appended to one shared buffer by the threads that
//! format them, and a thread of its own writes the buffer out every few milliseconds, in one
//! `write` per batch.
//!
//! A request never waits for the output, and no line costs an allocation, a channel message or
//! a wakeup of the writing thread (a channel per line, as `tracing-appender` sends them, cost
//! the server about a tenth of its throughput under load). When the output cannot keep up and
//! [`MAX_PENDING`] bytes are waiting, further lines are dropped and counted, never waited for.

use std::io::{self, Write};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::thread::JoinHandle;
use std::time::Duration;

/// How long a line waits at most before it is written.
const FLUSH_EVERY: Duration = Duration::from_millis(20);

/// How many bytes may wait to be written; lines beyond are dropped.
pub(crate) const MAX_PENDING: usize = 4 * 1024 * 1024;

/// What the formatting threads and the writing thread share.
struct Shared {
    pending: Mutex<Vec<u8>>,
    closing: AtomicBool,
    wake: Condvar,
    dropped: AtomicU64,
}

fn lock(shared: &Shared) -> MutexGuard<'_, Vec<u8>> {
    shared
        .pending
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
}

/// A `tracing_subscriber` writer (`MakeWriter`): each line is one append to the shared buffer.
#[derive(Clone)]
pub(crate) struct LogWriter(Arc<Shared>);

/// Stops the writing thread when dropped, after it has written every line still waiting.
pub(crate) struct LogFlusher {
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
}

/// A writer into `output`, and the guard that flushes it at exit.
///
/// # Errors
/// When the writing thread cannot be started.
pub(crate) fn log_writer<W: Write + Send + 'static>(
    mut output: W,
) -> io::Result<(LogWriter, LogFlusher)> {
    let shared = Arc::new(Shared {
        pending: Mutex::new(Vec::with_capacity(64 * 1024)),
        closing: AtomicBool::new(false),
        wake: Condvar::new(),
        dropped: AtomicU64::new(0),
    });
    let writer = shared.clone();
    let thread = std::thread::Builder::new()
        .name("log-writer".into())
        .spawn(move || {
            let mut batch = Vec::with_capacity(64 * 1024);
            loop {
                let closing = {
                    let pending = lock(&writer);
                    let (mut pending, _) = writer
                        .wake
                        .wait_timeout(pending, FLUSH_EVERY)
                        .unwrap_or_else(PoisonError::into_inner);
                    std::mem::swap(&mut *pending, &mut batch);
                    writer.closing.load(Ordering::Acquire)
                };
                if !batch.is_empty() {
                    // An output that fails loses its lines; the server goes on.
                    let _ = output.write_all(&batch).and_then(|()| output.flush());
                    batch.clear();
                }
                if closing {
                    break;
                }
            }
        })?;
    Ok((
        LogWriter(shared.clone()),
        LogFlusher {
            shared,
            thread: Some(thread),
        },
    ))
}

impl LogWriter {
    /// How many lines were dropped because the output could not keep up.
    pub(crate) fn dropped_lines(&self) -> u64 {
        self.0.dropped.load(Ordering::Relaxed)
    }
}

impl Write for &LogWriter {
    fn write(&mut self, line: &[u8]) -> io::Result<usize> {
        let mut pending = lock(&self.0);
        if pending.len() + line.len() > MAX_PENDING {
            drop(pending);
            self.0.dropped.fetch_add(1, Ordering::Relaxed);
        } else {
            pending.extend_from_slice(line);
        }
        Ok(line.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for LogWriter {
    type Writer = &'a LogWriter;

    fn make_writer(&'a self) -> Self::Writer {
        self
    }
}

impl Drop for LogFlusher {
    fn drop(&mut self) {
        self.shared.closing.store(true, Ordering::Release);
        self.shared.wake.notify_one();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// The time of a log line, RFC 3339 in UTC with microseconds (`2026-12-06T08:35:01.123456Z`):
/// the date and time of day formatted once a second per thread, the microseconds per line.
pub(crate) struct LineTime;

thread_local! {
    /// The second last formatted on this thread, and its text.
    static SECOND: std::cell::RefCell<(u64, String)> = const { std::cell::RefCell::new((u64::MAX, String::new())) };
}

impl tracing_subscriber::fmt::time::FormatTime for LineTime {
    fn format_time(&self, w: &mut tracing_subscriber::fmt::format::Writer<'_>) -> std::fmt::Result {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default();
        let secs = now.as_secs();
        SECOND.with(|second| {
            let mut second = second.borrow_mut();
            if second.0 != secs {
                let at = i64::try_from(secs)
                    .ok()
                    .and_then(|s| time::OffsetDateTime::from_unix_timestamp(s).ok())
                    .unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
                second.1 = format!(
                    "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}",
                    at.year(),
                    u8::from(at.month()),
                    at.day(),
                    at.hour(),
                    at.minute(),
                    at.second()
                );
                second.0 = secs;
            }
            write!(w, "{}.{:06}Z", second.1, now.subsec_micros())
        })
    }
}

/// How a log line's fields are written: `name=value` separated by spaces, the message bare, and
/// every control character of a value escaped (`\u{1b}`, `\n`), so that nothing a client sent
/// can forge a line or drive a terminal. The one exception is the `access` field of a request's
/// line ([`super::AccessLine`]), written as it is: it holds only a method, a parsed path, numbers,
/// an address and a stored client id, and escaping it character by character was the largest
/// part of its cost.
pub(crate) fn line_fields() -> impl for<'w> tracing_subscriber::fmt::FormatFields<'w> {
    use tracing_subscriber::field::MakeExt as _;
    tracing_subscriber::fmt::format::debug_fn(
        |w: &mut tracing_subscriber::fmt::format::Writer<'_>,
         field: &tracing::field::Field,
         value: &dyn std::fmt::Debug| {
            match field.name() {
                "access" => write!(w, "{value:?}"),
                "message" => w.write_str(&escaped(&format!("{value:?}"))),
                name => write!(w, "{name}={}", escaped(&format!("{value:?}"))),
            }
        },
    )
    .delimited(" ")
}

/// `text` with its control characters escaped (ASCII text without one, the usual case, is
/// checked byte by byte and borrowed).
pub(crate) fn escaped(text: &str) -> std::borrow::Cow<'_, str> {
    let plain = if text.is_ascii() {
        !text.bytes().any(|b| b.is_ascii_control())
    } else {
        !text.chars().any(char::is_control)
    };
    if plain {
        return std::borrow::Cow::Borrowed(text);
    }
    std::borrow::Cow::Owned(
        text.chars()
            .map(|c| {
                if c.is_control() {
                    c.escape_default().to_string()
                } else {
                    c.to_string()
                }
            })
            .collect(),
    )
}
