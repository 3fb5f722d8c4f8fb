//! Running async code and property tests outside `#[tokio::test]`.

use proptest::test_runner::Config;

/// Runs a future to completion on a fresh current-thread runtime (for proptest bodies and plain
/// `#[test]`s).
pub fn block_on<F: std::future::Future>(future: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap()
        .block_on(future)
}

/// `cases` cases per property, and no failure persistence files.
pub fn proptest_config(cases: u32) -> Config {
    Config {
        cases,
        failure_persistence: None,
        ..Config::default()
    }
}
