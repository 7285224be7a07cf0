//! Cost of writing one lock event: the generic tracing JSON layer against the fast lock
//! writer, both through the production non-blocking writer into a discarding sink, in one run.

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use tracing_subscriber::layer::SubscriberExt;

fn emit(i: u64) {
    let symbol = protocol::Symbol::new("BTCUSD.s").expect("symbol");
    tracing::info!(target: "locks", symbol = %symbol, lock_id = i, access = 2 * i, intent_id = 1_795_238_943_432_924u64 + i,
        kind = "order", outcome = "filled", held_us = 507u64, mono_us = i, "ZMQ_LOCK_RELEASE");
}

fn bench(c: &mut Criterion) {
    let mut group = c.benchmark_group("lock_event");
    group.throughput(Throughput::Elements(1)).sample_size(30);
    // Both through the same non-blocking file writer as in production (into a sink).
    let (generic_writer, _generic_guard) = tracing_appender::non_blocking(std::io::sink());
    let generic = tracing_subscriber::registry().with(
        tracing_subscriber::fmt::layer()
            .json()
            .flatten_event(true)
            .with_current_span(false)
            .with_span_list(false)
            .with_writer(generic_writer),
    );
    tracing::subscriber::with_default(generic, || {
        let mut i = 0u64;
        group.bench_function("generic_json_layer", |b| {
            b.iter(|| {
                i += 1;
                emit(black_box(i))
            })
        });
    });
    let (writer, _guard) = tracing_appender::non_blocking(std::io::sink());
    let fast = tracing_subscriber::registry().with(engine_app::lock_log::LockEventLayer::new(writer));
    tracing::subscriber::with_default(fast, || {
        let mut i = 0u64;
        group.bench_function("fast_lock_layer", |b| {
            b.iter(|| {
                i += 1;
                emit(black_box(i))
            })
        });
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
