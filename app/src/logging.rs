//! Logging: human-readable lines on stdout and one JSON object per line in
//! `logs/<run-id>/engine.jsonl` (format: docs/LOG_FORMAT.md).
//!
//! `RUST_LOG` sets the stdout filter (default `info,locks=warn`: lock events are only in the
//! file, where the auditor reads them). `ENGINE_LOG_FILE` sets the file filter (default
//! `info`). The file writer never drops a line: when it falls behind, logging waits.

use std::path::{Path, PathBuf};

use tracing_appender::non_blocking::{NonBlockingBuilder, WorkerGuard};
use tracing_subscriber::filter::{filter_fn, FilterExt};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer};

/// Keeps the file writer alive; dropping it flushes the log.
pub struct LogGuard {
    _file: Option<WorkerGuard>,
    pub jsonl: Option<PathBuf>,
}

/// Installs the global subscriber. `run_dir`: where `engine.jsonl` goes (created).
pub fn init(run_dir: Option<&Path>, default_stdout: &str) -> std::io::Result<LogGuard> {
    let stdout_filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default_stdout));
    let stdout = tracing_subscriber::fmt::layer().with_target(true).with_filter(stdout_filter);
    let (file_layer, guard, jsonl) = match run_dir {
        Some(dir) => {
            std::fs::create_dir_all(dir)?;
            let path = dir.join("engine.jsonl");
            // Buffered: the writer thread takes every line waiting in its queue, then flushes
            // (one write call per batch, not one per line: two lock lines per order made the
            // writer thread the engine's third busiest).
            let file = std::io::BufWriter::with_capacity(1 << 16, std::fs::File::create(&path)?);
            let (writer, guard) = NonBlockingBuilder::default().lossy(false).buffered_lines_limit(1 << 16).finish(file);
            let file_filter = || EnvFilter::try_from_env("ENGINE_LOG_FILE").unwrap_or_else(|_| EnvFilter::new("info"));
            // Lock events go through the fast writer; every other event through the generic
            // JSON layer. Both honour ENGINE_LOG_FILE and share one file writer.
            let locks = crate::lock_log::LockEventLayer::new(writer.clone()).with_filter(file_filter());
            let not_locks = filter_fn(|meta| meta.target() != crate::lock_log::LOCK_TARGET);
            let layer = tracing_subscriber::fmt::layer()
                .json()
                .flatten_event(true)
                .with_current_span(false)
                .with_span_list(false)
                .with_writer(writer)
                .with_filter(file_filter().and(not_locks));
            (Some(layer.and_then(locks)), Some(guard), Some(path))
        }
        None => (None, None, None),
    };
    // A second init (tests) keeps the first subscriber; that is fine.
    let _ = tracing_subscriber::registry().with(stdout).with(file_layer).try_init();
    Ok(LogGuard { _file: guard, jsonl })
}
