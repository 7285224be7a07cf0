//! Each kind of bad frame yields its own typed `DecodeError`, in both codecs.
#![allow(clippy::unwrap_used)]

mod common;

use protocol::codec::{BINARY_HEADER_LEN, MAX_FRAME_BYTES};
use protocol::*;
use serde_json::{json, Value};

fn bin(body: Message) -> Vec<u8> {
    Codec::Bincode.encode(&common::envelope(body)).unwrap()
}

fn json_frame(body: Message) -> Value {
    serde_json::from_slice(&Codec::Json.encode(&common::envelope(body)).unwrap()).unwrap()
}

fn decode_json(v: &Value) -> Result<Envelope, DecodeError> {
    Codec::Json.decode(&serde_json::to_vec(v).unwrap())
}

fn tick() -> Message {
    common::samples().into_iter().find(|m| m.msg_type() == MsgType::Tick).unwrap()
}

fn new_order() -> Message {
    common::samples().remove(0)
}

#[test]
fn empty_frame() {
    assert_eq!(Codec::Bincode.decode(&[]), Err(DecodeError::Empty));
    assert_eq!(Codec::Json.decode(&[]), Err(DecodeError::Empty));
}

#[test]
fn truncated_frames() {
    let frame = bin(new_order());
    assert!(matches!(Codec::Bincode.decode(&frame[..10]), Err(DecodeError::Truncated(_))));
    assert!(matches!(Codec::Bincode.decode(&frame[..frame.len() - 1]), Err(DecodeError::Truncated(_))));
    let text = Codec::Json.encode(&common::envelope(new_order())).unwrap();
    assert!(matches!(Codec::Json.decode(&text[..text.len() - 5]), Err(DecodeError::Truncated(_))));
}

#[test]
fn oversize_frames() {
    let huge = vec![b'{'; MAX_FRAME_BYTES + 1];
    assert_eq!(
        Codec::Json.decode(&huge),
        Err(DecodeError::Oversize { len: MAX_FRAME_BYTES + 1, max: MAX_FRAME_BYTES })
    );
    assert!(matches!(Codec::Bincode.decode(&huge), Err(DecodeError::Oversize { .. })));
}

#[test]
fn huge_length_prefix_does_not_allocate_or_panic() {
    let mut frame = bin(tick());
    // symbol length prefix claims 2^60 bytes
    frame[BINARY_HEADER_LEN..BINARY_HEADER_LEN + 8].copy_from_slice(&(1u64 << 60).to_le_bytes());
    let err = Codec::Bincode.decode(&frame).unwrap_err();
    assert!(matches!(err, DecodeError::Oversize { .. } | DecodeError::Truncated(_)), "{err:?}");
}

#[test]
fn wrong_version() {
    let mut frame = bin(tick());
    frame[0..2].copy_from_slice(&2u16.to_le_bytes());
    assert_eq!(Codec::Bincode.decode(&frame), Err(DecodeError::UnsupportedVersion { got: 2, supported: 1 }));
    let mut v = json_frame(tick());
    v["v"] = json!(9);
    assert_eq!(decode_json(&v), Err(DecodeError::UnsupportedVersion { got: 9, supported: 1 }));
}

#[test]
fn unknown_message_type() {
    let mut frame = bin(tick());
    frame[2..4].copy_from_slice(&999u16.to_le_bytes());
    assert_eq!(Codec::Bincode.decode(&frame), Err(DecodeError::UnknownMessageType("999".into())));
    let mut v = json_frame(tick());
    v["type"] = json!("launch_missiles");
    assert_eq!(decode_json(&v), Err(DecodeError::UnknownMessageType("launch_missiles".into())));
}

#[test]
fn unknown_enum_values() {
    // NewOrder body: intent u64, symbol (u64 len + 8 bytes "BTCUSD.s"), side u8
    let mut frame = bin(new_order());
    let side_at = BINARY_HEADER_LEN + 8 + 8 + 8;
    assert_eq!(frame[side_at], Side::Buy.code());
    frame[side_at] = 7;
    assert_eq!(
        Codec::Bincode.decode(&frame),
        Err(DecodeError::UnknownEnumValue { ty: "Side".into(), value: "7".into() })
    );
    let mut v = json_frame(new_order());
    v["body"]["ord_type"] = json!("stop_loss_limit");
    assert_eq!(
        decode_json(&v),
        Err(DecodeError::UnknownEnumValue { ty: "OrdType".into(), value: "stop_loss_limit".into() })
    );
}

#[test]
fn negative_quantities() {
    let mut frame = bin(new_order());
    let qty_at = BINARY_HEADER_LEN + 8 + 16 + 1;
    frame[qty_at..qty_at + 8].copy_from_slice(&(-5i64).to_le_bytes());
    assert_eq!(Codec::Bincode.decode(&frame), Err(DecodeError::NegativeQuantity("-0.00000005".into())));
    let mut v = json_frame(new_order());
    v["body"]["qty"] = json!("-1");
    assert_eq!(decode_json(&v), Err(DecodeError::NegativeQuantity("-1".into())));
}

#[test]
fn nan_and_non_decimal_numbers() {
    for bad in [json!("NaN"), json!("inf"), json!("1e3"), json!(1.5), json!(100), json!("0.000000001")] {
        let mut v = json_frame(tick());
        v["body"]["bid"] = bad.clone();
        assert!(
            matches!(decode_json(&v), Err(DecodeError::InvalidValue { ref field, .. }) if field == "price"),
            "{bad}: {:?}",
            decode_json(&v)
        );
    }
}

#[test]
fn invalid_symbols() {
    let mut v = json_frame(tick());
    v["body"]["symbol"] = json!("BTC/USDT:USDT");
    assert_eq!(decode_json(&v), Err(DecodeError::InvalidSymbol("BTC/USDT:USDT".into())));
    let mut frame = bin(tick());
    frame[BINARY_HEADER_LEN + 8] = b' ';
    assert!(matches!(Codec::Bincode.decode(&frame), Err(DecodeError::InvalidSymbol(_))));
}

#[test]
fn non_utf8_string() {
    let mut frame = bin(tick());
    frame[BINARY_HEADER_LEN + 8] = 0xFF;
    assert!(matches!(Codec::Bincode.decode(&frame), Err(DecodeError::InvalidValue { .. })));
}

#[test]
fn trailing_bytes() {
    let mut frame = bin(tick());
    frame.extend_from_slice(&[0, 0, 0]);
    assert_eq!(Codec::Bincode.decode(&frame), Err(DecodeError::TrailingBytes(3)));
}

#[test]
fn invalid_bool() {
    let report = common::samples().into_iter().find(|m| m.msg_type() == MsgType::ExecReport).unwrap();
    let mut frame = bin(report);
    // poss_dup is the byte before the final u64 transact_ns
    let at = frame.len() - 9;
    assert_eq!(frame[at], 0);
    frame[at] = 2;
    assert!(
        matches!(Codec::Bincode.decode(&frame), Err(DecodeError::InvalidValue { ref field, .. }) if field == "bool")
    );
}

#[test]
fn malformed_json() {
    assert!(matches!(Codec::Json.decode(b"{not json}"), Err(DecodeError::Malformed(_))));
    assert!(matches!(Codec::Json.decode(b"[1,2]"), Err(DecodeError::Malformed(_))));
    let mut v = json_frame(tick());
    v.as_object_mut().unwrap().remove("seq");
    assert!(matches!(decode_json(&v), Err(DecodeError::Malformed(_))));
}

#[test]
fn semantic_rules_are_enforced() {
    let mut v = json_frame(tick());
    v["body"]["bid"] = json!("3300");
    assert!(matches!(decode_json(&v), Err(DecodeError::InvalidValue { .. })), "crossed book");
    let mut v = json_frame(new_order());
    v["body"]["qty"] = json!("0");
    assert!(matches!(decode_json(&v), Err(DecodeError::InvalidValue { ref field, .. }) if field == "qty"));
    let mut v = json_frame(new_order());
    v["body"]["ord_type"] = json!("ioc");
    assert!(matches!(decode_json(&v), Err(DecodeError::InvalidValue { ref field, .. }) if field == "limit_price"));
}

#[test]
fn error_kinds_are_stable_names() {
    assert_eq!(DecodeError::Empty.kind(), "empty");
    assert_eq!(DecodeError::TrailingBytes(1).kind(), "trailing_bytes");
}

#[test]
fn negative_price_is_an_invalid_price_not_a_quantity() {
    let mut v = json_frame(tick());
    v["body"]["bid"] = json!("-1");
    assert!(matches!(decode_json(&v), Err(DecodeError::InvalidValue { ref field, .. }) if field == "price"));
}

#[test]
fn json_enums_are_names_not_codes() {
    let mut v = json_frame(new_order());
    v["body"]["side"] = json!(1);
    assert_eq!(decode_json(&v), Err(DecodeError::UnknownEnumValue { ty: "Side".into(), value: "1".into() }));
}

#[test]
fn negative_money_as_a_bare_json_number_is_refused() {
    let report = common::samples().into_iter().find(|m| m.msg_type() == MsgType::ExecReport).unwrap();
    let mut v = json_frame(report);
    v["body"]["fee"] = json!(-5);
    assert!(matches!(decode_json(&v), Err(DecodeError::InvalidValue { ref field, .. }) if field == "money"));
}

#[test]
fn status_query_for_an_intent_needs_its_symbol() {
    let mut v = json_frame(Message::OrderStatusQuery(OrderStatusQuery {
        intent_id: Some(IntentId(1)),
        symbol: Some(common::sym("A")),
    }));
    v["body"]["symbol"] = serde_json::Value::Null;
    let r = decode_json(&v);
    assert!(matches!(r, Err(DecodeError::InvalidValue { ref field, .. }) if field == "symbol"), "{r:?}");
}

#[test]
fn a_key_given_twice_is_refused_not_last_one_wins() {
    let text = String::from_utf8(Codec::Json.encode(&common::envelope(new_order())).unwrap()).unwrap();
    assert!(Codec::Json.decode(text.as_bytes()).is_ok());
    // A second "side" after the first, inside the body (a hostile peer hiding a sell).
    let twice = text.replacen("\"side\":\"buy\"", "\"side\":\"buy\",\"side\":\"sell\"", 1);
    assert_ne!(twice, text, "the sample order is a buy");
    let err = Codec::Json.decode(twice.as_bytes()).unwrap_err();
    assert!(err.to_string().contains("duplicate"), "{err}");
    // And twice in the envelope.
    let seq_twice = text.replacen("\"seq\":", "\"seq\":1,\"seq\":", 1);
    assert!(Codec::Json.decode(seq_twice.as_bytes()).is_err());
}

#[test]
fn peek_seq_reads_the_seq_of_a_frame_that_fails_to_decode() {
    // Sound frames: the header's seq (12 in the samples), in both codecs.
    let frame = bin(new_order());
    assert_eq!(Codec::Bincode.peek_seq(&frame), Some(12));
    let text = Codec::Json.encode(&common::envelope(new_order())).unwrap();
    assert_eq!(Codec::Json.peek_seq(&text), Some(12));

    // Binary: a body cut short, a wrong version or an unknown type still has a readable seq;
    // the 20 bytes up to the end of seq are enough, 19 are not.
    let mut bad_version = frame.clone();
    bad_version[0..2].copy_from_slice(&2u16.to_le_bytes());
    for broken in [&frame[..frame.len() - 1], &frame[..20], &bad_version[..]] {
        assert!(Codec::Bincode.decode(broken).is_err());
        assert_eq!(Codec::Bincode.peek_seq(broken), Some(12));
    }
    for truncated in [&frame[..19], &frame[..1], &[][..]] {
        assert_eq!(Codec::Bincode.peek_seq(truncated), None, "{} bytes", truncated.len());
    }

    // JSON: an object with a u64 seq whose body is wrong; a truncated object, a seq that is
    // not a u64 or no object at all has none.
    let mut v = json_frame(new_order());
    v["body"]["side"] = json!("sideways");
    let wrong_body = serde_json::to_vec(&v).unwrap();
    assert!(Codec::Json.decode(&wrong_body).is_err());
    assert_eq!(Codec::Json.peek_seq(&wrong_body), Some(12));
    assert_eq!(Codec::Json.peek_seq(&text[..text.len() - 5]), None);
    v["seq"] = json!("12");
    assert_eq!(Codec::Json.peek_seq(&serde_json::to_vec(&v).unwrap()), None);
    assert_eq!(Codec::Json.peek_seq(b"[12]"), None);
    assert_eq!(Codec::Json.peek_seq(b""), None);
}
