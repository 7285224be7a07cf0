//! Codec throughput: encode (into a reused buffer) and decode of the three hot message
//! types — `Tick`, `NewOrder` and a filled `ExecReport` — in both codecs.
//!
//! Run with `cargo bench -p protocol --bench codec`. Runs are kept short (1 s warm-up,
//! 3 s measurement, 30 samples) because the bench machine is shared.

use std::hint::black_box;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use protocol::{
    Codec, Envelope, ExecId, ExecReport, ExecType, IntentId, Message, Money, NewOrder, OrdStatus, OrdType, OrderId,
    Qty, RejectCode, Side, Symbol, Tick,
};

const CODECS: [Codec; 2] = [Codec::Bincode, Codec::Json];

fn symbol() -> Symbol {
    Symbol::new("BTCUSD.s").expect("valid symbol")
}

/// The three sample messages, each in its envelope, with a short name for the bench id.
fn samples() -> Vec<(&'static str, Envelope)> {
    let sym = symbol();
    let qty: Qty = "0.001".parse().expect("qty");
    let tick = Tick {
        symbol: sym,
        bid: "99999.50".parse().expect("bid"),
        ask: "100000.50".parse().expect("ask"),
        ts_ns: 1_760_000_000_123_456_789,
        md_seq: 123_456,
    };
    let order = NewOrder {
        intent_id: IntentId(1_760_000_000_000_042),
        symbol: sym,
        side: Side::Buy,
        qty,
        ord_type: OrdType::Market,
        limit_price: None,
        expire_at_ns: 1_760_000_002_123_456_789,
    };
    let fill = ExecReport {
        intent_id: IntentId(1_760_000_000_000_042),
        order_id: OrderId(987_654),
        exec_id: ExecId(5_555_001),
        symbol: sym,
        side: Side::Buy,
        exec_type: ExecType::Fill,
        ord_status: OrdStatus::Filled,
        last_qty: qty,
        last_px: "100000.50".parse().expect("px"),
        cum_qty: qty,
        leaves_qty: Qty::ZERO,
        fee: "0.02500013".parse::<Money>().expect("fee"),
        reject_code: RejectCode::None,
        reject_text: String::new(),
        poss_dup: false,
        transact_ns: 1_760_000_000_124_000_000,
    };
    let envelope = |seq: u64, body: Message| {
        Envelope::new(protocol::SessionId(0xC0FF_EE00_1234), seq, seq - 1, 1_760_000_000_124_500_000, body)
    };
    vec![
        ("tick", envelope(100, Message::Tick(tick))),
        ("new_order", envelope(101, Message::NewOrder(order))),
        ("exec_report_fill", envelope(102, Message::ExecReport(fill))),
    ]
}

fn config() -> Criterion {
    Criterion::default().warm_up_time(Duration::from_secs(1)).measurement_time(Duration::from_secs(3)).sample_size(30)
}

fn encode(c: &mut Criterion) {
    let samples = samples();
    let mut group = c.benchmark_group("encode");
    group.throughput(Throughput::Elements(1));
    for codec in CODECS {
        for (name, envelope) in &samples {
            // Reused across iterations, as a connection would reuse its send buffer.
            let mut buf = Vec::with_capacity(1024);
            group.bench_with_input(BenchmarkId::new(codec.as_str(), name), envelope, |b, envelope| {
                b.iter(|| {
                    codec.encode_into(black_box(envelope), &mut buf).expect("encode");
                    black_box(buf.len())
                })
            });
        }
    }
    group.finish();
}

fn decode(c: &mut Criterion) {
    let samples = samples();
    let mut group = c.benchmark_group("decode");
    group.throughput(Throughput::Elements(1));
    for codec in CODECS {
        for (name, envelope) in &samples {
            let frame = codec.encode(envelope).expect("encode");
            // The frame must round-trip, or the bench would time the error path.
            assert_eq!(&codec.decode(&frame).expect("decode"), envelope, "{codec}/{name}");
            group.bench_with_input(BenchmarkId::new(codec.as_str(), name), &frame, |b, frame| {
                b.iter(|| codec.decode(black_box(frame)).expect("decode"))
            });
        }
    }
    group.finish();
}

fn frame_sizes() {
    for (name, envelope) in samples() {
        let sizes: Vec<String> = CODECS
            .iter()
            .map(|codec| {
                let len = codec.encode(&envelope).map_or(0, |f| f.len());
                format!("{codec} {len} B")
            })
            .collect();
        eprintln!("frame size {name}: {}", sizes.join(", "));
    }
}

fn codec_benches(c: &mut Criterion) {
    frame_sizes();
    encode(c);
    decode(c);
}

criterion_group! {
    name = benches;
    config = config();
    targets = codec_benches
}
criterion_main!(benches);
