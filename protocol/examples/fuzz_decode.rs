//! Decoder fuzz run: millions of random and mutated frames fed to every decode entry point
//! of `protocol::codec` (binary, JSON and the auto-detect path) under `catch_unwind`;
//! exits 1 if any of them panicked.
//!
//! ```sh
//! cargo run --release -p protocol --example fuzz_decode -- --frames 10000000 --seed 7
//! ```
//!
//! Not part of `cargo test` (it takes about a minute for 10 million frames). Deterministic
//! by seed: frame `i` is generated from `(seed, i)` alone, so `--only I` regenerates and
//! decodes that one frame (printed in hex) without the millions before it.
//!
//! Layout: the command line; [`Rng`] (SplitMix64); the corpus (valid frames of every
//! message type in both codecs, fixed and seeded-random); the generators (random bytes,
//! byte-level mutations, binary header and integer overwrites, JSON token mutations,
//! splices); the run loop and its tally.

use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;
use std::panic::{self, AssertUnwindSafe};
use std::process::ExitCode;
use std::time::Instant;

use protocol::codec::{BINARY_HEADER_LEN, MAX_FRAME_BYTES};
use protocol::messages::{MAX_LIST_LEN, MAX_TEXT_LEN};
use protocol::{
    Codec, Envelope, ExecId, ExecReport, ExecType, Heartbeat, IntentId, Message, Money, MsgType, NewOrder, OrdStatus,
    OrdType, OrderId, OrderStatusQuery, PositionEntry, PositionSnapshot, PositionSnapshotRequest, Price, Qty,
    RejectCode, SessionReject, Side, Symbol, Tick,
};

// ----------------------------------------------------------------------------- command line

struct Args {
    frames: u64,
    seed: u64,
    only: Option<u64>,
    show_panics: usize,
}

const USAGE: &str = "usage: fuzz_decode [--frames N] [--seed N] [--only FRAME_INDEX] [--show-panics N]";

fn parse_args() -> Result<Args, String> {
    let mut args = Args { frames: 1_000_000, seed: time_seed(), only: None, show_panics: 10 };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = |name: &str| -> Result<u64, String> {
            let text = it.next().ok_or_else(|| format!("{name}: missing value\n{USAGE}"))?;
            text.replace('_', "").parse::<u64>().map_err(|e| format!("{name}: {text:?}: {e}\n{USAGE}"))
        };
        match flag.as_str() {
            "--frames" => args.frames = value("--frames")?,
            "--seed" => args.seed = value("--seed")?,
            "--only" => args.only = Some(value("--only")?),
            "--show-panics" => args.show_panics = usize::try_from(value("--show-panics")?).unwrap_or(usize::MAX),
            "-h" | "--help" => return Err(USAGE.to_string()),
            other => return Err(format!("unknown argument {other:?}\n{USAGE}")),
        }
    }
    Ok(args)
}

fn time_seed() -> u64 {
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos());
    (nanos as u64) ^ u64::from(std::process::id()).rotate_left(32)
}

// ----------------------------------------------------------------------------- randomness

/// SplitMix64: small, fast, and the same on every platform.
struct Rng(u64);

impl Rng {
    /// The generator of frame `index` of the run with this seed.
    fn for_frame(seed: u64, index: u64) -> Rng {
        let mut r = Rng(seed ^ index.wrapping_mul(0xA076_1D64_78BD_642F));
        r.next();
        r
    }

    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (`n > 0`; 0 gives 0).
    fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            return 0;
        }
        (self.next() % n as u64) as usize
    }

    fn chance(&mut self, one_in: u64) -> bool {
        one_in > 0 && self.next().is_multiple_of(one_in)
    }

    /// One of `items`, which must not be empty.
    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }

    fn byte(&mut self) -> u8 {
        self.next() as u8
    }

    fn bytes(&mut self, n: usize) -> Vec<u8> {
        (0..n).map(|_| self.byte()).collect()
    }
}

// ----------------------------------------------------------------------------- corpus

fn symbol(text: &str) -> Symbol {
    Symbol::new(text).unwrap_or_else(|_| Symbol::new("X").unwrap_or_else(|_| unreachable!("X is a valid symbol")))
}

fn price(text: &str) -> Price {
    text.parse().unwrap_or(Price::ZERO)
}

fn qty(text: &str) -> Qty {
    text.parse().unwrap_or(Qty::ZERO)
}

fn money(text: &str) -> Money {
    text.parse().unwrap_or(Money::ZERO)
}

fn report(exec_type: ExecType, ord_status: OrdStatus, reject_code: RejectCode, text: &str) -> ExecReport {
    let fill = matches!(exec_type, ExecType::Fill | ExecType::PartialFill);
    ExecReport {
        intent_id: IntentId(1_760_000_000_000_042),
        order_id: OrderId(987_654),
        exec_id: ExecId(5_555_001),
        symbol: symbol("BTCUSD.s"),
        side: Side::Sell,
        exec_type,
        ord_status,
        last_qty: if fill { qty("0.001") } else { Qty::ZERO },
        last_px: if fill { price("100000.50") } else { Price::ZERO },
        cum_qty: if fill { qty("0.002") } else { Qty::ZERO },
        leaves_qty: qty("0.001"),
        fee: money("-0.02500013"),
        reject_code,
        reject_text: text.to_string(),
        poss_dup: exec_type == ExecType::OrderStatus,
        transact_ns: 1_760_000_000_124_000_000,
    }
}

fn entry(name: &str, side: Side, q: &str) -> PositionEntry {
    PositionEntry {
        symbol: symbol(name),
        side,
        qty: qty(q),
        cost: money("123456.78901234"),
        realized_pnl: money("-42.5"),
        fees: money("1.25"),
        fills: 17,
    }
}

/// Hand-written messages: every type, and the variants of each that take another path
/// through the decoder (options, lists, text, every enum).
fn fixed_messages() -> Vec<Message> {
    let tick = Tick { symbol: symbol("ETHUSD.s"), bid: price("2999.5"), ask: price("3000.25"), ts_ns: 1, md_seq: 7 };
    let order = |ord_type: OrdType, limit: Option<&str>| NewOrder {
        intent_id: IntentId(u64::MAX),
        symbol: symbol("XAUUSD.s"),
        side: Side::Buy,
        qty: qty("1.5"),
        ord_type,
        limit_price: limit.map(price),
        expire_at_ns: 0,
    };
    let long_text = "r".repeat(MAX_TEXT_LEN);
    vec![
        Message::NewOrder(order(OrdType::Market, None)),
        Message::NewOrder(order(OrdType::Ioc, Some("2400.12345678"))),
        Message::ExecReport(report(ExecType::Fill, OrdStatus::Filled, RejectCode::None, "")),
        Message::ExecReport(report(ExecType::PartialFill, OrdStatus::PartiallyFilled, RejectCode::None, "")),
        Message::ExecReport(report(ExecType::New, OrdStatus::New, RejectCode::None, "")),
        Message::ExecReport(report(
            ExecType::Rejected,
            OrdStatus::Rejected,
            RejectCode::GatewayRisk,
            "risk: ünïcødé ✓",
        )),
        Message::ExecReport(report(ExecType::Expired, OrdStatus::Expired, RejectCode::Expired, &long_text)),
        Message::ExecReport(report(
            ExecType::OrderStatus,
            OrdStatus::Canceled,
            RejectCode::UnknownOrder,
            "quote \" \\",
        )),
        Message::OrderStatusQuery(OrderStatusQuery { intent_id: Some(IntentId(9)), symbol: Some(symbol("A")) }),
        Message::OrderStatusQuery(OrderStatusQuery { intent_id: None, symbol: None }),
        Message::PositionSnapshotRequest(PositionSnapshotRequest { request_id: 77 }),
        Message::PositionSnapshot(PositionSnapshot { request_id: 1, positions: vec![], open_orders: vec![] }),
        Message::PositionSnapshot(PositionSnapshot {
            request_id: 2,
            positions: vec![
                entry("BTCUSD.s", Side::Buy, "0.003"),
                entry("SYM0001", Side::Sell, "12"),
                entry("a-b_c.d", Side::Buy, "0"),
            ],
            open_orders: vec![IntentId(1), IntentId(2), IntentId(u64::MAX)],
        }),
        Message::Heartbeat(Heartbeat {
            session_id: protocol::SessionId(0xC0FF_EE00),
            last_seq_sent: 10,
            last_seq_received: 9,
        }),
        Message::Tick(tick),
        Message::SessionReject(SessionReject { ref_seq: 3, code: RejectCode::MalformedFrame, text: "bad".into() }),
    ]
}

/// A fixed-point raw value that is often an edge: zero, one unit, the scale, the extremes.
fn raw_value(rng: &mut Rng) -> i64 {
    match rng.below(6) {
        0 => *rng.pick(&[0, 1, -1, 100_000_000, i64::MAX, i64::MIN, i64::MAX - 1]),
        1 => (rng.next() % 1_000_000) as i64,
        2 => -((rng.next() % 1_000_000) as i64),
        _ => rng.next() as i64 >> rng.below(40),
    }
}

fn random_symbol(rng: &mut Rng) -> Symbol {
    const CHARS: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._-";
    let len = 1 + rng.below(23);
    let text: String = (0..len).map(|_| char::from(*rng.pick(CHARS))).collect();
    symbol(&text)
}

fn random_text(rng: &mut Rng) -> String {
    const PIECES: &[&str] = &["", "a", "é", "✓", "\"", "\\", "\n", "\u{0}", "💥", "reject", " "];
    let n = rng.below(12);
    let mut s: String = (0..n).map(|_| *rng.pick(PIECES)).collect();
    if rng.chance(8) {
        s = "x".repeat(rng.below(MAX_TEXT_LEN + 1));
    }
    s
}

/// A message of a random type with random (often edge) field values. It may be invalid
/// (`validate` refuses it); the corpus keeps only those that decode back.
fn random_message(rng: &mut Rng) -> Message {
    let p = |rng: &mut Rng| Price::from_raw(raw_value(rng).saturating_abs()).unwrap_or(Price::ZERO);
    let q = |rng: &mut Rng| Qty::from_raw(raw_value(rng).saturating_abs()).unwrap_or(Qty::ZERO);
    let m = |rng: &mut Rng| Money::from_raw_signed(raw_value(rng));
    let side = |rng: &mut Rng| *rng.pick(Side::ALL);
    match *rng.pick(&MsgType::ALL) {
        MsgType::NewOrder => {
            let ord_type = *rng.pick(OrdType::ALL);
            Message::NewOrder(NewOrder {
                intent_id: IntentId(rng.next()),
                symbol: random_symbol(rng),
                side: side(rng),
                qty: q(rng),
                ord_type,
                limit_price: (ord_type == OrdType::Ioc).then(|| p(rng)),
                expire_at_ns: rng.next(),
            })
        }
        MsgType::ExecReport => {
            let (last, cum) = (q(rng), q(rng));
            Message::ExecReport(ExecReport {
                intent_id: IntentId(rng.next()),
                order_id: OrderId(rng.next()),
                exec_id: ExecId(rng.next()),
                symbol: random_symbol(rng),
                side: side(rng),
                exec_type: *rng.pick(ExecType::ALL),
                ord_status: *rng.pick(OrdStatus::ALL),
                last_qty: last.min(cum),
                last_px: p(rng),
                cum_qty: cum,
                leaves_qty: q(rng),
                fee: m(rng),
                reject_code: *rng.pick(RejectCode::ALL),
                reject_text: random_text(rng),
                poss_dup: rng.chance(2),
                transact_ns: rng.next(),
            })
        }
        MsgType::OrderStatusQuery => Message::OrderStatusQuery(OrderStatusQuery {
            intent_id: rng.chance(2).then(|| IntentId(rng.next())),
            symbol: Some(random_symbol(rng)).filter(|_| !rng.chance(4)),
        }),
        MsgType::PositionSnapshotRequest => {
            Message::PositionSnapshotRequest(PositionSnapshotRequest { request_id: rng.next() })
        }
        MsgType::PositionSnapshot => {
            let n = if rng.chance(50) { MAX_LIST_LEN.min(200 + rng.below(300)) } else { rng.below(6) };
            Message::PositionSnapshot(PositionSnapshot {
                request_id: rng.next(),
                positions: (0..n)
                    .map(|_| PositionEntry {
                        symbol: random_symbol(rng),
                        side: side(rng),
                        qty: q(rng),
                        cost: m(rng),
                        realized_pnl: m(rng),
                        fees: m(rng),
                        fills: rng.next(),
                    })
                    .collect(),
                open_orders: (0..rng.below(8)).map(|_| IntentId(rng.next())).collect(),
            })
        }
        MsgType::Heartbeat => Message::Heartbeat(Heartbeat {
            session_id: protocol::SessionId(rng.next()),
            last_seq_sent: rng.next(),
            last_seq_received: rng.next(),
        }),
        MsgType::Tick => {
            let (a, b) = (p(rng), p(rng));
            Message::Tick(Tick {
                symbol: random_symbol(rng),
                bid: a.min(b),
                ask: a.max(b),
                ts_ns: rng.next(),
                md_seq: rng.next(),
            })
        }
        MsgType::SessionReject => Message::SessionReject(SessionReject {
            ref_seq: rng.next(),
            code: *rng.pick(RejectCode::ALL),
            text: random_text(rng),
        }),
    }
}

/// Valid frames to mutate, per codec: every fixed message, then seeded random ones, each
/// kept only if it decodes back to itself (so every seed frame is a real frame).
struct Corpus {
    binary: Vec<Vec<u8>>,
    json: Vec<Vec<u8>>,
}

fn corpus(seed: u64) -> Result<Corpus, String> {
    let mut rng = Rng::for_frame(seed, u64::MAX);
    let mut messages = fixed_messages();
    let fixed = messages.len();
    let mut attempts = 0;
    while messages.len() < fixed + 400 && attempts < 100_000 {
        attempts += 1;
        let m = random_message(&mut rng);
        if m.validate().is_ok() {
            messages.push(m);
        }
    }
    let mut c = Corpus { binary: Vec::new(), json: Vec::new() };
    for (i, body) in messages.into_iter().enumerate() {
        let envelope = Envelope::new(protocol::SessionId(rng.next()), rng.next(), rng.next(), rng.next(), body);
        for codec in [Codec::Bincode, Codec::Json] {
            let frame = codec.encode(&envelope).map_err(|e| format!("corpus message {i} ({codec}): {e}"))?;
            match codec.decode(&frame) {
                Ok(back) if back == envelope => {}
                other if i < fixed => {
                    return Err(format!("corpus message {i} ({codec}) does not round-trip: {other:?}"))
                }
                _ => continue,
            }
            match codec {
                Codec::Bincode => c.binary.push(frame),
                Codec::Json => c.json.push(frame),
            }
        }
    }
    let types = |frames: &[Vec<u8>]| {
        let mut seen: Vec<u16> = frames.iter().map(|f| u16::from_le_bytes([f[2], f[3]])).collect();
        seen.sort_unstable();
        seen.dedup();
        seen.len()
    };
    if types(&c.binary) != MsgType::ALL.len() {
        return Err("the corpus misses a message type".into());
    }
    Ok(c)
}

// ----------------------------------------------------------------------------- generators

/// How a frame was made.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Kind {
    RandomBytes,
    RandomAfterHeader,
    BinaryMutation,
    JsonMutation,
    Splice,
}

impl Kind {
    const ALL: [Kind; 5] =
        [Kind::RandomBytes, Kind::RandomAfterHeader, Kind::BinaryMutation, Kind::JsonMutation, Kind::Splice];

    fn name(self) -> &'static str {
        match self {
            Kind::RandomBytes => "random bytes",
            Kind::RandomAfterHeader => "random body after a valid header or '{'",
            Kind::BinaryMutation => "mutated binary frames",
            Kind::JsonMutation => "mutated JSON frames",
            Kind::Splice => "splices of two frames",
        }
    }
}

/// Frame `index` of the run: how it was made, and its bytes.
fn generate(seed: u64, index: u64, corpus: &Corpus) -> (Kind, Vec<u8>) {
    let mut rng = Rng::for_frame(seed, index);
    let kind = match rng.below(100) {
        0..=14 => Kind::RandomBytes,
        15..=19 => Kind::RandomAfterHeader,
        20..=54 => Kind::BinaryMutation,
        55..=89 => Kind::JsonMutation,
        _ => Kind::Splice,
    };
    let frame = match kind {
        Kind::RandomBytes => random_bytes(&mut rng),
        Kind::RandomAfterHeader => random_after_header(&mut rng),
        Kind::BinaryMutation => {
            let mut f = rng.pick(&corpus.binary).clone();
            for _ in 0..mutation_count(&mut rng) {
                if rng.chance(2) {
                    mutate_binary(&mut rng, &mut f);
                } else {
                    mutate_bytes(&mut rng, &mut f);
                }
            }
            f
        }
        Kind::JsonMutation => {
            let mut f = rng.pick(&corpus.json).clone();
            for _ in 0..mutation_count(&mut rng) {
                if rng.below(4) < 3 {
                    mutate_json(&mut rng, &mut f);
                } else {
                    mutate_bytes(&mut rng, &mut f);
                }
            }
            f
        }
        Kind::Splice => splice(&mut rng, corpus),
    };
    (kind, frame)
}

/// Mutations stacked on one frame: mostly one (so that many frames still reach the deep
/// checks), sometimes up to four.
fn mutation_count(rng: &mut Rng) -> usize {
    match rng.below(20) {
        0..=11 => 1,
        12..=16 => 2,
        _ => 3 + rng.below(2),
    }
}

/// Pure random bytes of a random length: mostly short, sometimes long, rarely over the
/// frame limit.
fn random_bytes(rng: &mut Rng) -> Vec<u8> {
    let len = match rng.below(1000) {
        0 => MAX_FRAME_BYTES + rng.below(64),
        1..=20 => rng.below(64 * 1024),
        21..=200 => rng.below(2048),
        _ => rng.below(160),
    };
    rng.bytes(len)
}

/// A header that passes (version 1, a known type) or a `{`, then random bytes: gets the
/// random body past the first checks.
fn random_after_header(rng: &mut Rng) -> Vec<u8> {
    let mut f = if rng.chance(3) {
        let mut f = vec![b'{'];
        const PREFIXES: &[&[u8]] = &[b"\"v\":1,\"type\":\"", b"\"v\":1,", b"\"body\":", b""];
        f.extend_from_slice(rng.pick::<&[u8]>(PREFIXES));
        f
    } else {
        let mut f = Vec::with_capacity(BINARY_HEADER_LEN + 256);
        f.extend_from_slice(&1u16.to_le_bytes());
        f.extend_from_slice(&rng.pick(&MsgType::ALL).code().to_le_bytes());
        f.extend_from_slice(&rng.bytes(BINARY_HEADER_LEN - 4));
        f
    };
    let max = if rng.chance(20) { 8192 } else { 300 };
    let len = rng.below(max);
    f.extend(rng.bytes(len));
    f
}

#[rustfmt::skip]
const INTERESTING_U64: &[u64] = &[
    0, 1, 2, 7, 8, 0x7F, 0x80, 0xFF, 0x100, 0x7FFF, 0xFFFF, 0x1_0000, 0x7FFF_FFFF, 0x8000_0000,
    0xFFFF_FFFF, 0x1_0000_0000, MAX_FRAME_BYTES as u64, MAX_FRAME_BYTES as u64 + 1,
    MAX_TEXT_LEN as u64 + 1, MAX_LIST_LEN as u64 + 1, i64::MAX as u64, i64::MIN as u64,
    u64::MAX - 1, u64::MAX,
];

fn write_int(frame: &mut [u8], at: usize, value: u64, width: usize) {
    let bytes = value.to_le_bytes();
    for (k, b) in bytes.iter().take(width).enumerate() {
        if let Some(slot) = frame.get_mut(at + k) {
            *slot = *b;
        }
    }
}

/// Structure-aware mutations of a binary frame: header fields (version, type code,
/// session/seq/ack/ts), length fields of the body, integers and enum tags.
fn mutate_binary(rng: &mut Rng, frame: &mut Vec<u8>) {
    if frame.len() < BINARY_HEADER_LEN {
        mutate_bytes(rng, frame);
        return;
    }
    match rng.below(6) {
        // Version: mostly wrong, sometimes right (so the rest still gets decoded).
        0 => {
            let any = rng.next() & 0xFFFF;
            let version = *rng.pick(&[0, 2, 0x0100, 0xFFFF, 1, any]);
            write_int(frame, 0, version, 2);
        }
        // Type code: another valid type (the body no longer fits it) or an unknown one.
        1 => {
            let code = if rng.chance(4) { rng.next() & 0xFFFF } else { u64::from(rng.pick(&MsgType::ALL).code()) };
            write_int(frame, 2, code, 2);
        }
        // session_id / seq / ack_seq / ts_ns: any value must be accepted.
        2 => write_int(frame, 4 + 8 * rng.below(4), *rng.pick(INTERESTING_U64), 8),
        // A length field of the body: fixint bincode writes every string and list length
        // as a u64; a small u64 in the body is most likely one.
        3 => {
            let candidates: Vec<usize> = (BINARY_HEADER_LEN..frame.len().saturating_sub(7))
                .filter(|&k| {
                    let mut b = [0u8; 8];
                    b.copy_from_slice(&frame[k..k + 8]);
                    u64::from_le_bytes(b) <= 10_001
                })
                .collect();
            if candidates.is_empty() {
                mutate_bytes(rng, frame);
            } else {
                let at = *rng.pick(&candidates);
                let len = frame.len() as u64;
                let (interesting, small) = (*rng.pick(INTERESTING_U64), rng.next() % 64);
                let value = *rng.pick(&[interesting, len, len.saturating_sub(at as u64), small]);
                write_int(frame, at, value, 8);
            }
        }
        // An integer of any width anywhere in the body (values, enum tags, option tags).
        4 => {
            let at = BINARY_HEADER_LEN + rng.below(frame.len() - BINARY_HEADER_LEN + 1);
            let width = *rng.pick(&[1, 2, 4, 8]);
            write_int(frame, at, *rng.pick(INTERESTING_U64), width);
        }
        // The body cut or grown by exactly the bytes that matter.
        _ => {
            let body = frame.len() - BINARY_HEADER_LEN;
            let cut = BINARY_HEADER_LEN + rng.below(body + 1);
            match rng.below(3) {
                0 => frame.truncate(cut),
                1 => frame.push(rng.byte()),
                _ => frame.truncate(frame.len().saturating_sub(1 + rng.below(8))),
            }
        }
    }
}

/// Format-blind mutations: bit flips, byte replacements, truncation, extension, inserts,
/// deletions, duplicated chunks.
fn mutate_bytes(rng: &mut Rng, frame: &mut Vec<u8>) {
    const SPECIAL: &[u8] = b"\x00\x01\x7f\x80\xff{}[]\",:\\-+.0123456789eEtfn ";
    let len = frame.len();
    match rng.below(8) {
        0 | 1 if len > 0 => {
            let at = rng.below(len);
            frame[at] ^= 1 << rng.below(8);
        }
        2 if len > 0 => {
            let at = rng.below(len);
            frame[at] = if rng.chance(2) { *rng.pick(SPECIAL) } else { rng.byte() };
        }
        3 => frame.truncate(rng.below(len + 1)),
        4 => {
            let max = if rng.chance(50) { 4096 } else { 16 };
            let n = 1 + rng.below(max);
            frame.extend(rng.bytes(n));
        }
        5 => {
            let at = rng.below(len + 1);
            let n = 1 + rng.below(8);
            let insert: Vec<u8> = (0..n).map(|_| *rng.pick(SPECIAL)).collect();
            frame.splice(at..at, insert);
        }
        6 if len > 0 => {
            let at = rng.below(len);
            let end = (at + 1 + rng.below(16)).min(len);
            frame.drain(at..end);
        }
        _ if len > 0 => {
            let at = rng.below(len);
            let end = (at + 1 + rng.below(32)).min(len);
            let chunk = frame[at..end].to_vec();
            let to = rng.below(frame.len() + 1);
            frame.splice(to..to, chunk);
        }
        _ => {
            let n = 1 + rng.below(8);
            frame.extend(rng.bytes(n));
        }
    }
}

/// One JSON token: its byte range and what it is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Token {
    /// A string; `key` when a `:` follows it.
    Str {
        key: bool,
    },
    Number,
    Literal,
    Punct,
}

/// A loose JSON lexer: enough to find the tokens of a frame the codec wrote.
fn tokens(text: &[u8]) -> Vec<(usize, usize, Token)> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < text.len() {
        let start = i;
        match text[i] {
            b'"' => {
                i += 1;
                while i < text.len() && text[i] != b'"' {
                    i += if text[i] == b'\\' { 2 } else { 1 };
                }
                i = (i + 1).min(text.len());
                let mut j = i;
                while j < text.len() && text[j] == b' ' {
                    j += 1;
                }
                out.push((start, i, Token::Str { key: text.get(j) == Some(&b':') }));
            }
            b'-' | b'0'..=b'9' => {
                while i < text.len() && matches!(text[i], b'-' | b'+' | b'.' | b'e' | b'E' | b'0'..=b'9') {
                    i += 1;
                }
                out.push((start, i, Token::Number));
            }
            b't' | b'f' | b'n' => {
                while i < text.len() && text[i].is_ascii_alphabetic() {
                    i += 1;
                }
                out.push((start, i, Token::Literal));
            }
            b' ' | b'\n' | b'\t' | b'\r' => i += 1,
            _ => {
                i += 1;
                out.push((start, i, Token::Punct));
            }
        }
    }
    out
}

#[rustfmt::skip]
const NUMBERS: &[&str] = &[
    "0", "-0", "1", "-1", "2", "65535", "65536", "4294967295", "4294967296",
    "9223372036854775807", "9223372036854775808", "-9223372036854775808",
    "-9223372036854775809", "18446744073709551615", "18446744073709551616",
    "123456789012345678901234567890", "1.5", "1e3", "1E2", "1e400", "-1e400", "0.0", "00", "01",
    "-", "1.", ".5", "1e", "NaN", "Infinity",
];

#[rustfmt::skip]
const STRINGS: &[&str] = &[
    "", "0", "-0", "1", "-1", "0.00000001", "0.000000001", "-0.00000001",
    "92233720368.54775807", "92233720368.54775808", "-92233720368.54775808",
    "-92233720368.54775809", "99999999999999999999", "1e5", "1E-8", " 1", "1 ", "+1", "1.",
    ".1", "1..2", "0x10", "١٢", "NaN", "inf", "BTCUSD.s", "AAAAAAAAAAAAAAAAAAAAAAA",
    "AAAAAAAAAAAAAAAAAAAAAAAA", "BTC/USD", "bad symbol", "\\u0000", "\\ud800", "\\udfff",
    "\\ud83d\\udca5", "\\uZZZZ", "\\", "é", "💥", "buy", "sell", "Buy", "market", "ioc", "new",
    "partial_fill", "fill", "filled", "partially_filled", "canceled", "rejected", "expired",
    "order_status", "none", "unknown_symbol", "malformed_frame", "new_order", "exec_report",
    "order_status_query", "position_snapshot_request", "position_snapshot", "heartbeat", "tick",
    "session_reject", "unknown_type",
];

#[rustfmt::skip]
const KEYS: &[&str] = &[
    "v", "type", "session_id", "seq", "ack_seq", "ts_ns", "body", "intent_id", "order_id",
    "exec_id", "symbol", "side", "qty", "ord_type", "limit_price", "expire_at_ns", "exec_type",
    "ord_status", "last_qty", "last_px", "cum_qty", "leaves_qty", "fee", "reject_code",
    "reject_text", "poss_dup", "transact_ns", "request_id", "positions", "open_orders", "cost",
    "realized_pnl", "fees", "fills", "last_seq_sent", "last_seq_received", "bid", "ask",
    "md_seq", "ref_seq", "code", "text", "", "unknown_key",
];

fn any_value(rng: &mut Rng) -> String {
    match rng.below(9) {
        0 => "null".into(),
        1 => (*rng.pick(&["true", "false"])).into(),
        2 => "[]".into(),
        3 => "{}".into(),
        4 => format!("\"{}\"", rng.pick(STRINGS)),
        5 => (*rng.pick(NUMBERS)).into(),
        6 => {
            let depth = 1 + rng.below(300);
            format!("{}{}", "[".repeat(depth), "]".repeat(depth))
        }
        7 => format!("\"{}\"", "x".repeat(MAX_TEXT_LEN + rng.below(3))),
        _ => format!("[{}]", (0..rng.below(5)).map(|_| rng.pick(NUMBERS).to_string()).collect::<Vec<_>>().join(",")),
    }
}

/// Token-aware JSON mutations: values replaced by edge numbers, edge strings, enum names of
/// other enums, other types, deep nesting; keys renamed, dropped or repeated; tokens deleted,
/// duplicated or swapped.
fn mutate_json(rng: &mut Rng, frame: &mut Vec<u8>) {
    let toks = tokens(frame);
    if toks.is_empty() {
        mutate_bytes(rng, frame);
        return;
    }
    let (start, end, token) = *rng.pick(&toks);
    let replacement: Vec<u8> = match (rng.below(10), token) {
        (0..=2, Token::Number) => rng.pick(NUMBERS).as_bytes().to_vec(),
        (0..=2, Token::Str { key: false }) => format!("\"{}\"", rng.pick(STRINGS)).into_bytes(),
        (0..=2, Token::Str { key: true }) => format!("\"{}\"", rng.pick(KEYS)).into_bytes(),
        (3 | 4, Token::Str { key: false } | Token::Number | Token::Literal) => any_value(rng).into_bytes(),
        // A key together with its value removed (`"k":v,`), or repeated.
        (5, Token::Str { key: true }) => {
            let value_end = toks.iter().find(|t| t.0 > end && t.2 != Token::Punct).map_or(end, |t| t.1);
            let mut stop = value_end;
            if frame.get(stop) == Some(&b',') {
                stop += 1;
            }
            if rng.chance(2) {
                frame.drain(start..stop);
            } else {
                let mut pair = frame[start..stop].to_vec();
                if pair.last() != Some(&b',') {
                    pair.push(b',');
                }
                frame.splice(start..start, pair);
            }
            return;
        }
        (6, _) => Vec::new(),
        (7, _) => {
            let mut twice = frame[start..end].to_vec();
            twice.extend_from_slice(&frame[start..end]);
            twice
        }
        (8, _) => {
            let (s2, e2, _) = *rng.pick(&toks);
            if (s2, e2) == (start, end) {
                return;
            }
            let (a, b) = if s2 < start { ((s2, e2), (start, end)) } else { ((start, end), (s2, e2)) };
            if a.1 > b.0 {
                return;
            }
            let mut out = frame[..a.0].to_vec();
            out.extend_from_slice(&frame[b.0..b.1]);
            out.extend_from_slice(&frame[a.1..b.0]);
            out.extend_from_slice(&frame[a.0..a.1]);
            out.extend_from_slice(&frame[b.1..]);
            *frame = out;
            return;
        }
        _ => {
            let mut text = frame[start..end].to_vec();
            mutate_bytes(rng, &mut text);
            text
        }
    };
    frame.splice(start..end, replacement);
}

/// The head of one frame and the tail of another (possibly of the other codec).
fn splice(rng: &mut Rng, corpus: &Corpus) -> Vec<u8> {
    let all = |rng: &mut Rng| if rng.chance(2) { rng.pick(&corpus.binary) } else { rng.pick(&corpus.json) };
    let (a, b) = (all(rng), all(rng));
    let cut_a = rng.below(a.len() + 1);
    let cut_b = rng.below(b.len() + 1);
    let mut f = a[..cut_a].to_vec();
    f.extend_from_slice(&b[cut_b..]);
    f
}

// ----------------------------------------------------------------------------- decoding

/// A decode entry point under test.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Entry {
    Binary,
    Json,
    Detect,
}

impl Entry {
    const ALL: [Entry; 3] = [Entry::Binary, Entry::Json, Entry::Detect];

    fn name(self) -> &'static str {
        match self {
            Entry::Binary => "Codec::Bincode.decode",
            Entry::Json => "Codec::Json.decode",
            Entry::Detect => "Codec::detect(frame).decode",
        }
    }

    fn decode(self, frame: &[u8]) -> (Codec, Result<Envelope, protocol::DecodeError>) {
        let codec = match self {
            Entry::Binary => Codec::Bincode,
            Entry::Json => Codec::Json,
            Entry::Detect => Codec::detect(frame),
        };
        (codec, codec.decode(frame))
    }
}

/// What happened to one frame at one entry point.
#[derive(Debug)]
enum Outcome {
    Ok { round_trip: RoundTrip },
    Err(&'static str),
}

/// A decoded frame encoded again and decoded once more.
#[derive(Debug, PartialEq, Eq)]
enum RoundTrip {
    Same,
    /// The encoder refused it (e.g. a JSON frame whose escapes grow past the limit).
    EncodeRefused,
    Differs,
}

fn decode_once(entry: Entry, frame: &[u8]) -> Outcome {
    let (codec, result) = entry.decode(frame);
    match result {
        Err(e) => Outcome::Err(e.kind()),
        Ok(envelope) => {
            let round_trip = match codec.encode(&envelope) {
                Err(_) => RoundTrip::EncodeRefused,
                Ok(again) => match codec.decode(&again) {
                    Ok(back) if back == envelope => RoundTrip::Same,
                    _ => RoundTrip::Differs,
                },
            };
            Outcome::Ok { round_trip }
        }
    }
}

thread_local! {
    /// The message and place of the last panic under [`catch`], recorded by the hook
    /// instead of printed.
    static LAST_PANIC: RefCell<Option<String>> = const { RefCell::new(None) };
    /// True while [`catch`] runs a closure.
    static CATCHING: Cell<bool> = const { Cell::new(false) };
}

/// Panics under [`catch`] are recorded quietly (there may be millions); any other panic (a
/// bug of this program) is reported as usual.
fn install_quiet_panic_hook() {
    let default = panic::take_hook();
    panic::set_hook(Box::new(move |info| {
        if !CATCHING.with(Cell::get) {
            default(info);
            return;
        }
        let message = info
            .payload()
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| info.payload().downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "(non-string payload)".into());
        let place = info.location().map_or(String::new(), |l| format!(" at {}:{}", l.file(), l.line()));
        LAST_PANIC.with(|p| *p.borrow_mut() = Some(format!("{message}{place}")));
    }));
}

/// Runs `f` under `catch_unwind`: `Err(message)` if it panicked.
fn catch<T>(f: impl FnOnce() -> T) -> Result<T, String> {
    CATCHING.with(|c| c.set(true));
    let result = panic::catch_unwind(AssertUnwindSafe(f));
    CATCHING.with(|c| c.set(false));
    result.map_err(|_| LAST_PANIC.with(|p| p.borrow_mut().take()).unwrap_or_else(|| "(no message)".into()))
}

/// Decodes under `catch_unwind`: `Err(message)` if the decoder panicked.
fn guarded(entry: Entry, frame: &[u8]) -> Result<Outcome, String> {
    catch(|| decode_once(entry, frame))
}

/// True when this build checks integer overflow (then an overflow in a decoder is a panic
/// here, not a silent wrap).
fn overflow_checks_on() -> bool {
    let max = std::hint::black_box(u8::MAX);
    catch(|| std::hint::black_box(max) + std::hint::black_box(1)).is_err()
}

fn hex(frame: &[u8], max: usize) -> String {
    let shown: String = frame.iter().take(max).map(|b| format!("{b:02x}")).collect();
    if frame.len() > max {
        format!("{shown}… ({} bytes)", frame.len())
    } else {
        shown
    }
}

// ----------------------------------------------------------------------------- the run

#[derive(Default)]
struct Tally {
    ok: [u64; 3],
    err: [u64; 3],
    panics: [u64; 3],
    round_trip_same: u64,
    round_trip_refused: u64,
    round_trip_differs: u64,
    errors_by_kind: BTreeMap<&'static str, u64>,
    frames_by_kind: BTreeMap<Kind, u64>,
    bytes: u64,
    /// (frame index, entry, message), the first few.
    panic_samples: Vec<(u64, Entry, String)>,
    differ_samples: Vec<(u64, Entry)>,
}

fn run_frame(index: u64, kind: Kind, frame: &[u8], tally: &mut Tally, keep: usize) {
    *tally.frames_by_kind.entry(kind).or_default() += 1;
    tally.bytes += frame.len() as u64;
    for (k, entry) in Entry::ALL.into_iter().enumerate() {
        match guarded(entry, frame) {
            Ok(Outcome::Ok { round_trip }) => {
                tally.ok[k] += 1;
                match round_trip {
                    RoundTrip::Same => tally.round_trip_same += 1,
                    RoundTrip::EncodeRefused => tally.round_trip_refused += 1,
                    RoundTrip::Differs => {
                        tally.round_trip_differs += 1;
                        if tally.differ_samples.len() < keep {
                            tally.differ_samples.push((index, entry));
                        }
                    }
                }
            }
            Ok(Outcome::Err(kind)) => {
                tally.err[k] += 1;
                *tally.errors_by_kind.entry(kind).or_default() += 1;
            }
            Err(message) => {
                tally.panics[k] += 1;
                if tally.panic_samples.len() < keep {
                    tally.panic_samples.push((index, entry, message));
                }
            }
        }
    }
}

fn replay_one(seed: u64, index: u64, corpus: &Corpus) -> ExitCode {
    let (kind, frame) = generate(seed, index, corpus);
    println!("frame {index} of seed {seed}: {} ({} bytes)\n{}", kind.name(), frame.len(), hex(&frame, 4096));
    let mut failed = false;
    for entry in Entry::ALL {
        match guarded(entry, &frame) {
            Ok(outcome) => println!("{:<30} {outcome:?}", entry.name()),
            Err(message) => {
                failed = true;
                println!("{:<30} PANIC: {message}", entry.name());
            }
        }
    }
    if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}

fn print_tally(t: &Tally, frames: u64, secs: f64) {
    println!("frames by generator:");
    for kind in Kind::ALL {
        println!("  {:<42} {:>12}", kind.name(), t.frames_by_kind.get(&kind).copied().unwrap_or(0));
    }
    println!("  {:<42} {:>12}", "bytes in all", t.bytes);
    println!("outcomes by decode entry point:");
    println!("  {:<30} {:>12} {:>12} {:>8}", "entry point", "ok", "err", "panics");
    for (k, entry) in Entry::ALL.into_iter().enumerate() {
        println!("  {:<30} {:>12} {:>12} {:>8}", entry.name(), t.ok[k], t.err[k], t.panics[k]);
    }
    println!(
        "decoded frames encoded and decoded again: {} identical, {} refused by the encoder, {} different",
        t.round_trip_same, t.round_trip_refused, t.round_trip_differs
    );
    let kinds: Vec<String> = t.errors_by_kind.iter().map(|(k, n)| format!("{k} {n}")).collect();
    println!("errors by kind (all entry points): {}", kinds.join(", "));
    let rate = if secs > 0.0 { frames as f64 / secs } else { 0.0 };
    let panics: u64 = t.panics.iter().sum();
    println!("{frames} frames in {secs:.1} s: {rate:.0} frames/s ({:.0} decodes/s); {panics} panics", rate * 3.0);
}

fn main() -> ExitCode {
    let args = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("fuzz_decode: {e}");
            return ExitCode::from(2);
        }
    };
    install_quiet_panic_hook();
    let corpus = match corpus(args.seed) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("fuzz_decode: seed {}: {e}", args.seed);
            return ExitCode::from(2);
        }
    };
    if let Some(index) = args.only {
        return replay_one(args.seed, index, &corpus);
    }
    println!(
        "fuzz_decode: seed {} · {} frames · corpus {} binary + {} JSON valid frames · overflow checks {} · replay one frame: --seed {} --only INDEX",
        args.seed,
        args.frames,
        corpus.binary.len(),
        corpus.json.len(),
        if overflow_checks_on() { "on" } else { "off" },
        args.seed
    );
    let started = Instant::now();
    let mut tally = Tally::default();
    let step = (args.frames / 10).max(1);
    for index in 0..args.frames {
        let (kind, frame) = generate(args.seed, index, &corpus);
        run_frame(index, kind, &frame, &mut tally, args.show_panics);
        if (index + 1) % step == 0 {
            let secs = started.elapsed().as_secs_f64();
            let panics: u64 = tally.panics.iter().sum();
            println!("  {:>12} frames  {:>9.0} frames/s  panics {panics}", index + 1, (index + 1) as f64 / secs);
        }
    }
    let secs = started.elapsed().as_secs_f64();
    print_tally(&tally, args.frames, secs);
    for (index, entry, message) in &tally.panic_samples {
        let (_, frame) = generate(args.seed, *index, &corpus);
        println!("PANIC frame {index} in {}: {message}\n  {}", entry.name(), hex(&frame, 256));
    }
    for (index, entry) in &tally.differ_samples {
        println!(
            "ROUND TRIP DIFFERS frame {index} in {} (replay with --seed {} --only {index})",
            entry.name(),
            args.seed
        );
    }
    let panics: u64 = tally.panics.iter().sum();
    if panics > 0 || tally.round_trip_differs > 0 {
        println!("FAIL: seed {}", args.seed);
        ExitCode::FAILURE
    } else {
        println!("PASS: 0 panics, seed {}", args.seed);
        ExitCode::SUCCESS
    }
}
