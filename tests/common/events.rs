//! An event sink that keeps every event.

use std::sync::Mutex;

use async_trait::async_trait;
use oauth_dcr::events::{Event, EventSink};

/// Every event a registrar emits, in order.
#[derive(Default)]
pub struct Recorder(pub Mutex<Vec<Event>>);

#[async_trait]
impl EventSink for Recorder {
    async fn notify(&self, event: &Event) {
        self.0.lock().unwrap().push(event.clone());
    }
}

impl Recorder {
    /// The events so far, leaving none.
    pub fn take(&self) -> Vec<Event> {
        std::mem::take(&mut *self.0.lock().unwrap())
    }

    /// The events so far.
    pub fn all(&self) -> Vec<Event> {
        self.0.lock().unwrap().clone()
    }
}
