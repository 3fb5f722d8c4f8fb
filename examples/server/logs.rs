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
