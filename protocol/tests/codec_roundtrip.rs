//! Every message survives encode → decode unchanged in both codecs, and arbitrary bytes
//! never panic the decoder.

mod common;

use proptest::prelude::*;
use protocol::codec::{BINARY_HEADER_LEN, MAX_FRAME_BYTES};
use protocol::*;

#[test]
fn every_message_round_trips_in_both_codecs() {
    for codec in [Codec::Bincode, Codec::Json] {
        for body in common::samples() {
            let env = common::envelope(body);
            let frame = codec.encode(&env).unwrap();
            assert_eq!(codec.decode(&frame).unwrap(), env, "{codec} {:?}", env.body.msg_type());
            assert_eq!(Codec::detect(&frame), codec);
        }
    }
}

#[test]
fn every_message_type_is_covered_by_the_samples() {
    let seen: std::collections::HashSet<_> = common::samples().iter().map(Message::msg_type).collect();
    assert_eq!(seen.len(), MsgType::ALL.len());
}

#[test]
fn binary_header_layout_is_fixed_little_endian() {
    let env = common::envelope(Message::Heartbeat(Heartbeat {
        session_id: protocol::SessionId(1),
        last_seq_sent: 2,
        last_seq_received: 3,
    }));
    let frame = Codec::Bincode.encode(&env).unwrap();
    assert_eq!(&frame[0..2], &1u16.to_le_bytes()); // version
    assert_eq!(&frame[2..4], &6u16.to_le_bytes()); // msg type: heartbeat
    assert_eq!(&frame[4..12], &0xDEAD_BEEFu64.to_le_bytes());
    assert_eq!(&frame[12..20], &12u64.to_le_bytes());
    assert_eq!(&frame[20..28], &11u64.to_le_bytes());
    assert_eq!(&frame[28..36], &1_763_700_000_000_000_000u64.to_le_bytes());
    // body: three u64 fields, fixed-width little endian
    assert_eq!(frame.len(), BINARY_HEADER_LEN + 24);
    assert_eq!(&frame[36..44], &1u64.to_le_bytes());
}

#[test]
fn binary_tick_body_layout_matches_protocol_md() {
    let tick =
        Tick { symbol: common::sym("AB"), bid: "1".parse().unwrap(), ask: "2".parse().unwrap(), ts_ns: 3, md_seq: 4 };
    let frame = Codec::Bincode.encode(&common::envelope(Message::Tick(tick))).unwrap();
    let body = &frame[BINARY_HEADER_LEN..];
    let mut expected = Vec::new();
    expected.extend_from_slice(&2u64.to_le_bytes()); // symbol length
    expected.extend_from_slice(b"AB");
    expected.extend_from_slice(&100_000_000i64.to_le_bytes()); // bid raw
    expected.extend_from_slice(&200_000_000i64.to_le_bytes()); // ask raw
    expected.extend_from_slice(&3u64.to_le_bytes());
    expected.extend_from_slice(&4u64.to_le_bytes());
    assert_eq!(body, expected.as_slice());
}

#[test]
fn json_frame_uses_decimal_strings_and_names() {
    let env = common::envelope(common::samples().remove(0));
    let text = String::from_utf8(Codec::Json.encode(&env).unwrap()).unwrap();
    let value: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(value["v"], 1);
    assert_eq!(value["type"], "new_order");
    assert_eq!(value["body"]["qty"], "0.001");
    assert_eq!(value["body"]["side"], "buy");
    assert_eq!(value["body"]["ord_type"], "market");
    assert_eq!(value["body"]["limit_price"], serde_json::Value::Null);
    assert_eq!(value["body"]["intent_id"], 42);
}

#[test]
fn encode_into_reuses_the_buffer() {
    let env = common::envelope(common::samples().remove(0));
    let mut buf = Vec::new();
    Codec::Bincode.encode_into(&env, &mut buf).unwrap();
    let first = buf.clone();
    Codec::Bincode.encode_into(&env, &mut buf).unwrap();
    assert_eq!(buf, first);
}

#[test]
fn oversize_encode_is_refused() {
    let positions = (0..20_000)
        .map(|i| PositionEntry {
            symbol: common::sym(&format!("S{i}")),
            side: Side::Buy,
            qty: Qty::ZERO,
            cost: Money::ZERO,
            realized_pnl: Money::ZERO,
            fees: Money::ZERO,
            fills: 0,
        })
        .collect();
    let env =
        common::envelope(Message::PositionSnapshot(PositionSnapshot { request_id: 1, positions, open_orders: vec![] }));
    assert!(matches!(Codec::Json.encode(&env), Err(EncodeError::Oversize { max: MAX_FRAME_BYTES, .. })));
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
        let _ = Codec::Bincode.decode(&bytes);
        let _ = Codec::Json.decode(&bytes);
    }

    #[test]
    fn mutated_valid_frames_never_panic(index in 0usize..11, flips in proptest::collection::vec((any::<usize>(), any::<u8>()), 1..6), cut in any::<usize>()) {
        for codec in [Codec::Bincode, Codec::Json] {
            let body = common::samples().remove(index % 11);
            let mut frame = codec.encode(&common::envelope(body)).unwrap();
            for (at, byte) in &flips {
                let n = frame.len();
                frame[at % n] = *byte;
            }
            let _ = codec.decode(&frame);
            let _ = codec.decode(&frame[..cut % (frame.len() + 1)]);
        }
    }

    #[test]
    fn ticks_round_trip(bid in 1i64..10_000_000_000_000, spread in 0i64..1_000_000, seq in any::<u64>(), ts in any::<u64>()) {
        let tick = Tick {
            symbol: common::sym("BTCUSD.s"),
            bid: Price::from_raw(bid).unwrap(),
            ask: Price::from_raw(bid + spread).unwrap(),
            ts_ns: ts,
            md_seq: seq,
        };
        for codec in [Codec::Bincode, Codec::Json] {
            let env = common::envelope(Message::Tick(tick));
            prop_assert_eq!(codec.decode(&codec.encode(&env).unwrap()).unwrap(), env);
        }
    }
}
