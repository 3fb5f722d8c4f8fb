//! The one clock of the tests: it moves only when a test says so.

use std::sync::Mutex;

use oauth_dcr::Clock;
use time::{Duration, OffsetDateTime};

/// The manual clock's starting time (2023-11-14T22:13:20Z).
pub const START: i64 = 1_700_000_000;

/// A clock that moves only when a test says so.
#[derive(Debug)]
pub struct ManualClock(Mutex<OffsetDateTime>);

impl ManualClock {
    /// A clock at [`START`].
    pub fn new() -> Self {
        Self::at(START)
    }

    /// A clock at this Unix time.
    pub fn at(unix: i64) -> Self {
        Self::starting(OffsetDateTime::from_unix_timestamp(unix).unwrap())
    }

    /// A clock at this instant.
    pub fn starting(at: OffsetDateTime) -> Self {
        Self(Mutex::new(at))
    }

    pub fn advance(&self, by: Duration) {
        *self.0.lock().unwrap() += by;
    }

    pub fn set(&self, at: OffsetDateTime) {
        *self.0.lock().unwrap() = at;
    }

    /// The clock's time as a Unix timestamp (the unit of JWT time claims).
    pub fn unix(&self) -> i64 {
        self.now().unix_timestamp()
    }
}

impl Default for ManualClock {
    fn default() -> Self {
        Self::new()
    }
}

impl Clock for ManualClock {
    fn now(&self) -> OffsetDateTime {
        *self.0.lock().unwrap()
    }
}
