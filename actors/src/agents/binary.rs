//! The intent link's binary codec (docs/AGENTS.md, "Binary codec"): the gateway link's
//! conventions (docs/PROTOCOL.md §4: little-endian integers, decimals as `i64` × 10^8,
//! strings and lists with a `u64` length, `Option` as a 0/1 tag byte) behind a 6-byte header
//! that starts with a magic byte no JSON text can start with. A binary request is decoded
//! into the same JSON object the JSON path reads, so validation and idempotency stay one code
//! path; an answer is encoded from its JSON form. Decoding never panics: every bad input is a
//! [`BinaryError`] naming what was wrong.

use serde_json::{Map, Number, Value};

use super::wire::{FrameRefusal, IntentAnswer, Reason};
use crate::control::Incoming;

/// The first two bytes of every binary frame. `0xA9` is a UTF-8 continuation byte: no JSON
/// text (which starts with `{` or whitespace) and no UTF-8 text at all can start with it.
pub const MAGIC: [u8; 2] = [0xA9, 0x49];
/// The only version of this codec.
pub const VERSION: u16 = 1;
/// magic (2) + version u16 LE + msg_type u16 LE.
pub const HEADER_LEN: usize = 6;
/// The largest length or count a prefix may claim: the endpoint's frame limit.
pub const MAX_PREFIX: u64 = super::endpoint::MAX_FRAME_BYTES as u64;
/// Deepest nesting of arrays and objects in a tagged value.
pub const MAX_DEPTH: usize = 16;
/// Digits after the point of a fixed-point decimal (as on the gateway link).
const SCALE: u32 = protocol::fixed::SCALE_DIGITS;

/// Request types: `msg_type` code and JSON `type`.
pub const REQUESTS: [(u16, &str); 6] =
    [(1, "submit_intent"), (2, "heartbeat"), (3, "cancel_intent"), (4, "query_intent"), (5, "replay"), (6, "snapshot")];
/// Answer types: the request's code + 0x80.
pub const ANSWERS: [(u16, &str); 6] = [
    (0x81, "intent_answer"),
    (0x82, "heartbeat_answer"),
    (0x83, "cancel_answer"),
    (0x84, "query_answer"),
    (0x85, "replay_answer"),
    (0x86, "snapshot_answer"),
];
/// An answer whose `type` has no code of its own (or an `intent_answer` that does not fit its
/// fixed layout): a tagged object that carries its own `type`.
pub const OTHER_ANSWER: u16 = 0xFF;
const SUBMIT_INTENT: u16 = 1;
const INTENT_ANSWER: u16 = 0x81;

/// `action` codes of `submit_intent`.
pub const ACTIONS: [(u8, &str); 3] = [(1, "enter_long"), (2, "enter_short"), (3, "exit")];
/// `status` codes of `intent_answer`.
pub const STATUSES: [(u8, &str); 2] = [(1, "accepted"), (2, "refused")];

/// Fields of `submit_intent` after `action`, in wire order, each an `Option`.
const OPTIONAL: [(&str, Slot); 10] = [
    ("qty", Slot::Fixed),
    ("equity_fraction", Slot::Fixed),
    ("tp_pct", Slot::Fixed),
    ("sl_pct", Slot::Fixed),
    ("trailing_activation_pct", Slot::Fixed),
    ("trailing_distance_pct", Slot::Fixed),
    ("time_in_trade_limit_sec", Slot::U64),
    ("cooldown_sec", Slot::U64),
    ("valid_until_ns", Slot::U64),
    ("thesis", Slot::Text),
];
/// The strings that open a `submit_intent` body, in wire order.
const LEADING: [&str; 4] = ["intent_id", "agent_id", "token", "symbol"];
/// The optional fields of `intent_answer` around `status`, in wire order.
const ANSWER_TEXT: [&str; 3] = ["reason", "field", "detail"];

#[derive(Clone, Copy)]
enum Slot {
    Fixed,
    U64,
    Text,
}

/// Tags of a tagged value.
mod tag {
    pub const NULL: u8 = 0;
    pub const FALSE: u8 = 1;
    pub const TRUE: u8 = 2;
    pub const U64: u8 = 3;
    pub const I64: u8 = 4;
    pub const F64: u8 = 5;
    pub const STRING: u8 = 6;
    pub const ARRAY: u8 = 7;
    pub const OBJECT: u8 = 8;
}

/// Why a binary frame could not be read. `field` is where: a field name, or a path such as
/// `topics[2]` inside a tagged value.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum BinaryError {
    #[error("truncated: {field}: {needed} bytes needed, {left} left")]
    Truncated { field: String, needed: usize, left: usize },
    #[error("bad_magic: {0:02x?}, expected [a9, 49]")]
    BadMagic(Vec<u8>),
    #[error("unsupported_version: {0}, expected 1")]
    UnsupportedVersion(u16),
    #[error("unknown_type: msg_type {0}")]
    UnknownType(u16),
    #[error("bad_utf8: {field}: not UTF-8")]
    BadUtf8 { field: String },
    #[error("length_overflow: {field}: length {len} is over the {MAX_PREFIX}-byte frame limit")]
    LengthOverflow { field: String, len: u64 },
    #[error("bad_tag: {field}: {tag}, expected {expected}")]
    BadTag { field: String, tag: u8, expected: &'static str },
    #[error("too_deep: {field}: nested deeper than {MAX_DEPTH}")]
    TooDeep { field: String },
    #[error("duplicate_key: {field}: given twice")]
    DuplicateKey { field: String },
    #[error("not_finite: {field}: a float that is not finite")]
    NotFinite { field: String },
    #[error("not_an_object: {field}: expected a tagged object")]
    NotAnObject { field: String },
    #[error("type_in_body: type is given by the header, not in the body")]
    TypeInBody,
    #[error("trailing_bytes: {0} bytes after the body")]
    TrailingBytes(usize),
}

impl BinaryError {
    /// The error's stable name (the first word of its message).
    pub fn kind(&self) -> &'static str {
        match self {
            BinaryError::Truncated { .. } => "truncated",
            BinaryError::BadMagic(_) => "bad_magic",
            BinaryError::UnsupportedVersion(_) => "unsupported_version",
            BinaryError::UnknownType(_) => "unknown_type",
            BinaryError::BadUtf8 { .. } => "bad_utf8",
            BinaryError::LengthOverflow { .. } => "length_overflow",
            BinaryError::BadTag { .. } => "bad_tag",
            BinaryError::TooDeep { .. } => "too_deep",
            BinaryError::DuplicateKey { .. } => "duplicate_key",
            BinaryError::NotFinite { .. } => "not_finite",
            BinaryError::NotAnObject { .. } => "not_an_object",
            BinaryError::TypeInBody => "type_in_body",
            BinaryError::TrailingBytes(_) => "trailing_bytes",
        }
    }
}

/// Why a request or answer could not be encoded (a client-side error: the value cannot be
/// put on the wire as given).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {reason}")]
pub struct EncodeError {
    pub field: String,
    pub reason: String,
}

fn cannot(field: &str, reason: impl Into<String>) -> EncodeError {
    EncodeError { field: field.to_string(), reason: reason.into() }
}

/// A binary frame starts with the magic's first byte; every other frame is read as JSON.
pub fn is_binary(frame: &[u8]) -> bool {
    frame.first() == Some(&MAGIC[0])
}

/// The seam in the endpoint: a binary request is decoded into the JSON object the JSON path
/// reads, `json_answer` answers it as it answers every JSON request, and its answer is
/// encoded back in binary. A JSON request goes to `json_answer` untouched.
pub(crate) fn per_codec(incoming: &Incoming, json_answer: impl FnOnce(&Incoming) -> Vec<u8>) -> Vec<u8> {
    let Some(frame) = incoming.body.as_deref().filter(|f| is_binary(f)) else {
        return json_answer(incoming);
    };
    let request = match decode_request(frame) {
        Ok(map) => map,
        Err(refused) => return encode_answer(&malformed(&refused)),
    };
    let as_json = Incoming {
        identity: incoming.identity.clone(),
        peer: incoming.peer.clone(),
        body: Some(Value::Object(request).to_string().into_bytes()),
        delimited: incoming.delimited,
    };
    let answer = json_answer(&as_json);
    match serde_json::from_slice::<Value>(&answer) {
        Ok(value) => encode_answer(&value),
        Err(e) => encode_answer(&refusal(None, FrameRefusal::Busy, format!("the answer was not JSON: {e}"))),
    }
}

/// The `malformed` answer to a frame that could not be decoded.
fn malformed(refused: &Refused) -> Value {
    let detail = format!("binary frame: {}", refused.error);
    refusal(refused.intent_id.as_deref(), FrameRefusal::Malformed, detail)
}

fn refusal(intent_id: Option<&str>, code: FrameRefusal, detail: String) -> Value {
    let mut answer = IntentAnswer::refused(None, Reason::Frame(code), detail);
    answer.intent_id = intent_id.map(str::to_string);
    serde_json::to_value(&answer).unwrap_or(Value::Null)
}

/// A frame refused, with the request's `intent_id` when it was read before the error.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Refused {
    pub error: BinaryError,
    pub intent_id: Option<String>,
}

impl From<BinaryError> for Refused {
    fn from(error: BinaryError) -> Refused {
        Refused { error, intent_id: None }
    }
}

// ---------------------------------------------------------------------------------------
// Reading

struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    fn left(&self) -> usize {
        self.bytes.len() - self.at
    }

    fn take(&mut self, n: usize, field: &str) -> Result<&'a [u8], BinaryError> {
        let left = self.left();
        if n > left {
            return Err(BinaryError::Truncated { field: field.to_string(), needed: n, left });
        }
        let taken = &self.bytes[self.at..self.at + n];
        self.at += n;
        Ok(taken)
    }

    fn array<const N: usize>(&mut self, field: &str) -> Result<[u8; N], BinaryError> {
        let mut out = [0u8; N];
        out.copy_from_slice(self.take(N, field)?);
        Ok(out)
    }

    fn u8(&mut self, field: &str) -> Result<u8, BinaryError> {
        Ok(self.array::<1>(field)?[0])
    }

    fn u16(&mut self, field: &str) -> Result<u16, BinaryError> {
        Ok(u16::from_le_bytes(self.array(field)?))
    }

    fn u64(&mut self, field: &str) -> Result<u64, BinaryError> {
        Ok(u64::from_le_bytes(self.array(field)?))
    }

    fn i64(&mut self, field: &str) -> Result<i64, BinaryError> {
        Ok(i64::from_le_bytes(self.array(field)?))
    }

    /// A `u64` length or count, at most [`MAX_PREFIX`] and at most the bytes left (every
    /// element takes at least one byte), so nothing is allocated for a lie.
    fn len(&mut self, field: &str) -> Result<usize, BinaryError> {
        let len = self.u64(field)?;
        if len > MAX_PREFIX {
            return Err(BinaryError::LengthOverflow { field: field.to_string(), len });
        }
        let len = usize::try_from(len).map_err(|_| BinaryError::LengthOverflow { field: field.to_string(), len })?;
        let left = self.left();
        if len > left {
            return Err(BinaryError::Truncated { field: field.to_string(), needed: len, left });
        }
        Ok(len)
    }

    fn string(&mut self, field: &str) -> Result<String, BinaryError> {
        let len = self.len(field)?;
        let bytes = self.take(len, field)?;
        std::str::from_utf8(bytes).map(str::to_string).map_err(|_| BinaryError::BadUtf8 { field: field.to_string() })
    }

    /// An `Option`'s tag: `false` for None.
    fn present(&mut self, field: &str) -> Result<bool, BinaryError> {
        match self.u8(field)? {
            0 => Ok(false),
            1 => Ok(true),
            tag => Err(BinaryError::BadTag { field: field.to_string(), tag, expected: "0 (absent), 1 (present)" }),
        }
    }

    fn end(&self) -> Result<(), BinaryError> {
        match self.left() {
            0 => Ok(()),
            n => Err(BinaryError::TrailingBytes(n)),
        }
    }
}

/// Reads the header: the magic, the version, and the `msg_type`.
fn header(reader: &mut Reader<'_>) -> Result<u16, BinaryError> {
    let magic = reader.take(MAGIC.len(), "magic")?;
    if magic != MAGIC {
        return Err(BinaryError::BadMagic(magic.to_vec()));
    }
    let version = reader.u16("version")?;
    if version != VERSION {
        return Err(BinaryError::UnsupportedVersion(version));
    }
    reader.u16("msg_type")
}

fn name_of(table: &[(u16, &'static str)], code: u16) -> Option<&'static str> {
    table.iter().find(|(c, _)| *c == code).map(|(_, n)| *n)
}

fn code_of(table: &[(u16, &str)], name: &str) -> Option<u16> {
    table.iter().find(|(_, n)| *n == name).map(|(c, _)| *c)
}

/// Decodes a binary request into the JSON object the JSON path reads (with its `type`).
pub fn decode_request(frame: &[u8]) -> Result<Map<String, Value>, Refused> {
    let mut reader = Reader { bytes: frame, at: 0 };
    let code = header(&mut reader)?;
    let name = name_of(&REQUESTS, code).ok_or(BinaryError::UnknownType(code))?;
    let mut map = if code == SUBMIT_INTENT {
        read_submit(&mut reader)?
    } else {
        let map = read_object(&mut reader, "body", 0)?;
        if map.contains_key("type") {
            return Err(BinaryError::TypeInBody.into());
        }
        map
    };
    map.insert("type".into(), Value::String(name.into()));
    Ok(map)
}

/// The `submit_intent` body. An unknown `action` code becomes a text the validation refuses
/// (`invalid_field`, field `action`), as a wrong JSON `action` is.
fn read_submit(reader: &mut Reader<'_>) -> Result<Map<String, Value>, Refused> {
    let mut map = Map::new();
    let mut intent_id = None;
    let mut read = |reader: &mut Reader<'_>, map: &mut Map<String, Value>| -> Result<(), BinaryError> {
        for field in LEADING {
            let text = reader.string(field)?;
            if field == "intent_id" {
                intent_id = Some(text.clone());
            }
            map.insert(field.into(), Value::String(text));
        }
        let code = reader.u8("action")?;
        let action =
            ACTIONS.iter().find(|(c, _)| *c == code).map_or(format!("action code {code}"), |(_, n)| n.to_string());
        map.insert("action".into(), Value::String(action));
        for (field, slot) in OPTIONAL {
            if reader.present(field)? {
                let value = match slot {
                    Slot::Fixed => Value::String(protocol::fixed::format_scaled(reader.i64(field)?, SCALE)),
                    Slot::U64 => Value::from(reader.u64(field)?),
                    Slot::Text => Value::String(reader.string(field)?),
                };
                map.insert(field.into(), value);
            }
        }
        reader.end()
    };
    match read(reader, &mut map) {
        Ok(()) => Ok(map),
        Err(error) => Err(Refused { error, intent_id }),
    }
}

fn read_object(reader: &mut Reader<'_>, field: &str, depth: usize) -> Result<Map<String, Value>, BinaryError> {
    match read_value(reader, field, depth)? {
        Value::Object(map) => {
            reader.end()?;
            Ok(map)
        }
        _ => Err(BinaryError::NotAnObject { field: field.to_string() }),
    }
}

/// One tagged value; `path` names where it is, for errors.
fn read_value(reader: &mut Reader<'_>, path: &str, depth: usize) -> Result<Value, BinaryError> {
    if depth > MAX_DEPTH {
        return Err(BinaryError::TooDeep { field: path.to_string() });
    }
    Ok(match reader.u8(path)? {
        tag::NULL => Value::Null,
        tag::FALSE => Value::Bool(false),
        tag::TRUE => Value::Bool(true),
        tag::U64 => Value::from(reader.u64(path)?),
        tag::I64 => Value::from(reader.i64(path)?),
        tag::F64 => {
            let float = f64::from_le_bytes(reader.array(path)?);
            Value::Number(Number::from_f64(float).ok_or_else(|| BinaryError::NotFinite { field: path.to_string() })?)
        }
        tag::STRING => Value::String(reader.string(path)?),
        tag::ARRAY => {
            let count = reader.len(path)?;
            let mut items = Vec::with_capacity(count);
            for i in 0..count {
                items.push(read_value(reader, &format!("{path}[{i}]"), depth + 1)?);
            }
            Value::Array(items)
        }
        tag::OBJECT => {
            let count = reader.len(path)?;
            let mut map = Map::new();
            for _ in 0..count {
                let key = reader.string(&format!("{path}.<key>"))?;
                let at = format!("{path}.{key}");
                let value = read_value(reader, &at, depth + 1)?;
                if map.insert(key, value).is_some() {
                    return Err(BinaryError::DuplicateKey { field: at });
                }
            }
            Value::Object(map)
        }
        tag => return Err(BinaryError::BadTag { field: path.to_string(), tag, expected: "0..=8" }),
    })
}

/// Decodes a binary answer into its JSON form (for clients and tests).
pub fn decode_answer(frame: &[u8]) -> Result<Value, BinaryError> {
    let mut reader = Reader { bytes: frame, at: 0 };
    let code = header(&mut reader)?;
    if code == INTENT_ANSWER {
        return read_intent_answer(&mut reader);
    }
    if code == OTHER_ANSWER {
        return read_object(&mut reader, "body", 0).map(Value::Object);
    }
    let name = name_of(&ANSWERS, code).ok_or(BinaryError::UnknownType(code))?;
    let mut map = read_object(&mut reader, "body", 0)?;
    if map.contains_key("type") {
        return Err(BinaryError::TypeInBody);
    }
    map.insert("type".into(), Value::String(name.into()));
    Ok(Value::Object(map))
}

fn read_intent_answer(reader: &mut Reader<'_>) -> Result<Value, BinaryError> {
    let mut map = Map::new();
    map.insert("type".into(), Value::String("intent_answer".into()));
    if reader.present("intent_id")? {
        map.insert("intent_id".into(), Value::String(reader.string("intent_id")?));
    }
    let code = reader.u8("status")?;
    let status = STATUSES.iter().find(|(c, _)| *c == code).map(|(_, n)| *n);
    let status = status.ok_or(BinaryError::BadTag { field: "status".into(), tag: code, expected: "1, 2" })?;
    map.insert("status".into(), Value::String(status.into()));
    if reader.present("order_intent_id")? {
        map.insert("order_intent_id".into(), Value::from(reader.u64("order_intent_id")?));
    }
    for field in ANSWER_TEXT {
        if reader.present(field)? {
            map.insert(field.into(), Value::String(reader.string(field)?));
        }
    }
    let extra = read_object(reader, "extra", 0)?;
    for (key, value) in extra {
        if map.contains_key(&key) {
            return Err(BinaryError::DuplicateKey { field: format!("extra.{key}") });
        }
        map.insert(key, value);
    }
    Ok(Value::Object(map))
}

// ---------------------------------------------------------------------------------------
// Writing

fn put_header(out: &mut Vec<u8>, code: u16) {
    out.extend_from_slice(&MAGIC);
    out.extend_from_slice(&VERSION.to_le_bytes());
    out.extend_from_slice(&code.to_le_bytes());
}

fn put_string(out: &mut Vec<u8>, text: &str) {
    out.extend_from_slice(&(text.len() as u64).to_le_bytes());
    out.extend_from_slice(text.as_bytes());
}

fn put_value(out: &mut Vec<u8>, value: &Value) {
    match value {
        Value::Null => out.push(tag::NULL),
        Value::Bool(false) => out.push(tag::FALSE),
        Value::Bool(true) => out.push(tag::TRUE),
        Value::Number(n) => {
            if let Some(u) = n.as_u64() {
                out.push(tag::U64);
                out.extend_from_slice(&u.to_le_bytes());
            } else if let Some(i) = n.as_i64() {
                out.push(tag::I64);
                out.extend_from_slice(&i.to_le_bytes());
            } else {
                out.push(tag::F64);
                out.extend_from_slice(&n.as_f64().unwrap_or(0.0).to_le_bytes());
            }
        }
        Value::String(s) => {
            out.push(tag::STRING);
            put_string(out, s);
        }
        Value::Array(items) => {
            out.push(tag::ARRAY);
            out.extend_from_slice(&(items.len() as u64).to_le_bytes());
            items.iter().for_each(|v| put_value(out, v));
        }
        Value::Object(map) => put_object(out, map.iter()),
    }
}

fn put_object<'a>(out: &mut Vec<u8>, entries: impl ExactSizeIterator<Item = (&'a String, &'a Value)>) {
    out.push(tag::OBJECT);
    out.extend_from_slice(&(entries.len() as u64).to_le_bytes());
    for (key, value) in entries {
        put_string(out, key);
        put_value(out, value);
    }
}

/// Encodes an answer (its JSON form): an `intent_answer` in its fixed layout, any other
/// answer as its code and a tagged object; an answer that fits neither as [`OTHER_ANSWER`].
pub fn encode_answer(answer: &Value) -> Vec<u8> {
    let mut out = Vec::with_capacity(128);
    let Value::Object(map) = answer else {
        put_header(&mut out, OTHER_ANSWER);
        put_object(&mut out, Map::new().iter());
        return out;
    };
    let name = map.get("type").and_then(Value::as_str).unwrap_or("");
    if name == "intent_answer" && put_intent_answer(&mut out, map) {
        return out;
    }
    out.clear();
    match code_of(&ANSWERS, name).filter(|c| *c != INTENT_ANSWER) {
        Some(code) => {
            put_header(&mut out, code);
            put_object(&mut out, map.iter().filter(|(k, _)| k.as_str() != "type").collect::<Vec<_>>().into_iter());
        }
        None => {
            put_header(&mut out, OTHER_ANSWER);
            put_object(&mut out, map.iter());
        }
    }
    out
}

/// The fixed layout of `intent_answer`; `false` (nothing useful written) when a known field
/// has a value the layout cannot hold.
fn put_intent_answer(out: &mut Vec<u8>, map: &Map<String, Value>) -> bool {
    let text = |key: &str| match map.get(key) {
        None | Some(Value::Null) => Some(None),
        Some(Value::String(s)) => Some(Some(s.as_str())),
        Some(_) => None,
    };
    let status = map.get("status").and_then(Value::as_str);
    let Some(status) = STATUSES.iter().find(|(_, n)| Some(*n) == status).map(|(c, _)| *c) else { return false };
    let order = match map.get("order_intent_id") {
        None | Some(Value::Null) => None,
        Some(v) => match v.as_u64() {
            Some(order) => Some(order),
            None => return false,
        },
    };
    let Some(intent_id) = text("intent_id") else { return false };
    let texts: Option<Vec<Option<&str>>> = ANSWER_TEXT.iter().map(|f| text(f)).collect();
    let Some(texts) = texts else { return false };
    put_header(out, INTENT_ANSWER);
    put_option(out, intent_id, put_string);
    out.push(status);
    put_option(out, order, |out, o| out.extend_from_slice(&o.to_le_bytes()));
    for t in texts {
        put_option(out, t, put_string);
    }
    let fixed = ["type", "intent_id", "status", "order_intent_id", "reason", "field", "detail"];
    let extra: Vec<_> = map.iter().filter(|(k, v)| !fixed.contains(&k.as_str()) && !v.is_null()).collect();
    put_object(out, extra.into_iter());
    true
}

fn put_option<T>(out: &mut Vec<u8>, value: Option<T>, put: impl FnOnce(&mut Vec<u8>, T)) {
    match value {
        None => out.push(0),
        Some(v) => {
            out.push(1);
            put(out, v);
        }
    }
}

/// Encodes a request (its JSON form, with `type`), as a client does: `submit_intent` in its
/// fixed layout (a decimal must be an exact decimal string with at most 8 decimals), any
/// other type as its code and a tagged object.
pub fn encode_request(request: &Map<String, Value>) -> Result<Vec<u8>, EncodeError> {
    let name = request.get("type").and_then(Value::as_str).ok_or_else(|| cannot("type", "a string is required"))?;
    let code = code_of(&REQUESTS, name).ok_or_else(|| cannot("type", format!("no binary code for {name:?}")))?;
    let mut out = Vec::with_capacity(256);
    put_header(&mut out, code);
    if code != SUBMIT_INTENT {
        put_object(&mut out, request.iter().filter(|(k, _)| k.as_str() != "type").collect::<Vec<_>>().into_iter());
        return Ok(out);
    }
    let known = |k: &str| k == "type" || k == "action" || LEADING.contains(&k) || OPTIONAL.iter().any(|(f, _)| *f == k);
    if let Some(key) = request.keys().find(|k| !known(k)) {
        return Err(cannot(key, "not a submit_intent field"));
    }
    for field in LEADING {
        let text = request.get(field).and_then(Value::as_str).ok_or_else(|| cannot(field, "a string is required"))?;
        put_string(&mut out, text);
    }
    let action = request.get("action").and_then(Value::as_str);
    let action = ACTIONS.iter().find(|(_, n)| Some(*n) == action).map(|(c, _)| *c);
    out.push(action.ok_or_else(|| cannot("action", "enter_long, enter_short or exit"))?);
    for (field, slot) in OPTIONAL {
        put_optional(&mut out, field, slot, request.get(field))?;
    }
    Ok(out)
}

fn put_optional(out: &mut Vec<u8>, field: &str, slot: Slot, value: Option<&Value>) -> Result<(), EncodeError> {
    let Some(value) = value.filter(|v| !v.is_null()) else {
        out.push(0);
        return Ok(());
    };
    out.push(1);
    match slot {
        Slot::Fixed => {
            let text = value.as_str().ok_or_else(|| cannot(field, "a decimal string is required"))?;
            let raw = protocol::fixed::parse_scaled(text, SCALE).map_err(|e| cannot(field, e.to_string()))?;
            out.extend_from_slice(&raw.to_le_bytes());
        }
        Slot::U64 => {
            let n = value.as_u64().ok_or_else(|| cannot(field, "a whole number >= 0 is required"))?;
            out.extend_from_slice(&n.to_le_bytes());
        }
        Slot::Text => put_string(out, value.as_str().ok_or_else(|| cannot(field, "a string is required"))?),
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::agents::wire::{envelope, parse_body, SubmitIntent};
    use engine::intent::IntentLimits;
    use proptest::prelude::*;
    use serde_json::json;

    fn object(v: Value) -> Map<String, Value> {
        match v {
            Value::Object(m) => m,
            other => panic!("not an object: {other}"),
        }
    }

    fn entry() -> Map<String, Value> {
        object(json!({
            "type": "submit_intent", "intent_id": "i-1", "agent_id": "a1", "token": "agent-token-0123456789",
            "symbol": "ETHUSD.s", "action": "enter_long", "qty": "0.5", "equity_fraction": "0.25",
            "tp_pct": "0.5", "sl_pct": "0.3", "trailing_activation_pct": "0.2", "trailing_distance_pct": "0.1",
            "time_in_trade_limit_sec": 60, "cooldown_sec": 5, "valid_until_ns": 1_735_732_805_000_000_000u64,
            "thesis": "z-score −2.4 ✓"
        }))
    }

    fn exit() -> Map<String, Value> {
        object(json!({"type": "submit_intent", "intent_id": "x-1", "agent_id": "a1", "token": "tok",
                      "symbol": "ETHUSD.s", "action": "exit"}))
    }

    const SCALE_ONE: i64 = protocol::fixed::SCALE;

    fn hex(bytes: &[u8]) -> String {
        bytes.iter().map(|b| format!("{b:02x}")).collect()
    }

    fn unhex(text: &str) -> Vec<u8> {
        let text: String = text.split_whitespace().collect();
        (0..text.len()).step_by(2).map(|i| u8::from_str_radix(&text[i..i + 2], 16).unwrap()).collect()
    }

    /// Validated as the JSON path validates: through `envelope` and `parse_body`.
    fn validate(map: &Map<String, Value>) -> Result<SubmitIntent, (String, &'static str)> {
        let env = envelope(Value::Object(map.clone()).to_string().as_bytes())
            .map_err(|_| ("envelope".into(), "malformed"))?;
        parse_body(&env.body, &IntentLimits::default()).map_err(|e| (e.field, e.refusal.code()))
    }

    #[test]
    fn a_submit_intent_decodes_into_the_object_the_json_path_reads() {
        let mut full = entry();
        full.remove("equity_fraction");
        let mut sized = entry();
        sized.remove("qty");
        for request in [full, sized, exit()] {
            let frame = encode_request(&request).unwrap();
            assert!(is_binary(&frame));
            let decoded = decode_request(&frame).unwrap();
            assert_eq!(decoded, request);
            assert_eq!(validate(&decoded), validate(&request), "one validation path");
            assert!(validate(&decoded).is_ok());
        }
    }

    /// The worked examples of docs/AGENTS.md ("Binary codec"), byte for byte (the entry is
    /// what the doc's Python reference encoder writes).
    #[test]
    fn the_documented_frames_are_pinned() {
        let python_entry = unhex(
            "a949 0100 0100 0100000000000000 69 0200000000000000 6131 0300000000000000 746f6b
             0800000000000000 4554485553442e73 01
             01 c0c62d0000000000 00 01 80f0fa0200000000 00 00 00 00 01 1e00000000000000 00 01 0100000000000000 7a",
        );
        let entry = object(json!({"type": "submit_intent", "intent_id": "i", "agent_id": "a1", "token": "tok",
            "symbol": "ETHUSD.s", "action": "enter_long", "qty": "0.03", "tp_pct": "0.5", "cooldown_sec": 30,
            "thesis": "z"}));
        assert_eq!(decode_request(&python_entry).unwrap(), entry);
        assert_eq!(hex(&encode_request(&entry).unwrap()), hex(&python_entry));
        let heartbeat = unhex(
            "a949 0100 0200 08 0200000000000000
             0800000000000000 6167656e745f6964 06 0200000000000000 6131
             0500000000000000 746f6b656e 06 0300000000000000 746f6b",
        );
        let request = object(json!({"type": "heartbeat", "agent_id": "a1", "token": "tok"}));
        assert_eq!(hex(&encode_request(&request).unwrap()), hex(&heartbeat));
        assert_eq!(decode_request(&heartbeat).unwrap(), request);
        let expected = unhex(
            "a949 0100 0100
             0300000000000000 782d31
             0200000000000000 6131
             0300000000000000 746f6b
             0800000000000000 4554485553442e73
             03
             00 00 00 00 00 00 00 00 00 00",
        );
        assert_eq!(hex(&encode_request(&exit()).unwrap()), hex(&expected));
        let answer = json!({"type": "intent_answer", "intent_id": "x-1", "status": "accepted", "order_intent_id": 42});
        let expected = unhex(
            "a949 0100 8100
             01 0300000000000000 782d31
             01
             01 2a00000000000000
             00 00 00
             08 0000000000000000",
        );
        assert_eq!(hex(&encode_answer(&answer)), hex(&expected));
        assert_eq!(decode_answer(&expected).unwrap(), answer);
    }

    #[test]
    fn decimals_are_fixed_point_and_validated_never_clamped() {
        // An entry whose one decimal `field` is the raw i64 `raw` on the wire.
        let raw = |field: &str, raw: i64| {
            let mut request = entry();
            request.remove("equity_fraction");
            request.insert(field.into(), json!("1"));
            let mut frame = encode_request(&request).unwrap();
            let one = SCALE_ONE.to_le_bytes();
            let at = frame.windows(8).position(|w| w == one).unwrap();
            frame[at..at + 8].copy_from_slice(&raw.to_le_bytes());
            validate(&decode_request(&frame).unwrap())
        };
        assert_eq!(raw("qty", -50_000_000), Err(("qty".into(), "invalid_field")));
        assert!(raw("qty", 1).is_ok(), "0.00000001 is a valid qty");
        assert_eq!(raw("tp_pct", 9_000_000_000), Err(("tp_pct".into(), "invalid_field")), "90% is out of range");
        assert_eq!(raw("tp_pct", 1), Err(("tp_pct".into(), "invalid_field")), "0.00000001% is not rounded");
        assert_eq!(raw("sl_pct", 0), Err(("sl_pct".into(), "invalid_field")));
        // An unknown action code is refused by the validation, naming `action`.
        let mut frame = encode_request(&exit()).unwrap();
        let action_at = frame.len() - OPTIONAL.len() - 1;
        assert_eq!(frame[action_at], 3);
        frame[action_at] = 9;
        assert_eq!(validate(&decode_request(&frame).unwrap()).map(|_| ()), Err(("action".into(), "invalid_field")));
        // A decimal the fixed point cannot hold is the client's error, named.
        let mut too_fine = entry();
        too_fine.insert("qty".into(), json!("0.123456789"));
        assert_eq!(encode_request(&too_fine).unwrap_err().field, "qty");
        too_fine.insert("qty".into(), json!(0.5));
        assert_eq!(encode_request(&too_fine).unwrap_err().field, "qty");
    }

    fn generic(code: u16, body: &[u8]) -> Vec<u8> {
        let mut frame = Vec::new();
        put_header(&mut frame, code);
        frame.extend_from_slice(body);
        frame
    }

    fn with_len(len: u64, rest: &[u8]) -> Vec<u8> {
        let mut out = len.to_le_bytes().to_vec();
        out.extend_from_slice(rest);
        out
    }

    #[test]
    fn every_malformed_frame_is_refused_by_name() {
        let good = encode_request(&exit()).unwrap();
        let mut trailing = good.clone();
        trailing.push(0);
        let mut bad_utf8 = good.clone();
        let symbol_at = 6 + 8 + 3 + 8 + 2 + 8 + 3 + 8;
        bad_utf8[symbol_at] = 0xFF;
        let mut bad_tag = good.clone();
        let last = bad_tag.len() - 1;
        bad_tag[last] = 2;
        let mut overflow = good[..6].to_vec();
        overflow.extend_from_slice(&u64::MAX.to_le_bytes());
        let mut nested = vec![tag::OBJECT];
        nested.extend(1u64.to_le_bytes());
        nested.extend(with_len(1, b"a"));
        for _ in 0..MAX_DEPTH + 1 {
            nested.push(tag::ARRAY);
            nested.extend(1u64.to_le_bytes());
        }
        nested.push(tag::NULL);
        let mut twice = vec![tag::OBJECT];
        twice.extend(2u64.to_le_bytes());
        for _ in 0..2 {
            twice.extend(with_len(1, b"k"));
            twice.push(tag::NULL);
        }
        let mut nan = vec![tag::OBJECT];
        nan.extend(1u64.to_le_bytes());
        nan.extend(with_len(1, b"f"));
        nan.push(tag::F64);
        nan.extend(f64::NAN.to_le_bytes());
        let mut typed = vec![tag::OBJECT];
        typed.extend(1u64.to_le_bytes());
        typed.extend(with_len(4, b"type"));
        typed.push(tag::NULL);
        let cases: Vec<(&str, Vec<u8>, &str, &str)> = vec![
            ("a lone magic byte", vec![0xA9], "truncated", "magic"),
            ("bad magic", unhex("a900 0100 0100"), "bad_magic", "a9"),
            ("bad version", unhex("a949 0200 0100"), "unsupported_version", "2"),
            ("no type", unhex("a949 0100"), "truncated", "msg_type"),
            ("unknown type", unhex("a949 0100 0900"), "unknown_type", "9"),
            ("an answer type sent as a request", unhex("a949 0100 8100"), "unknown_type", "129"),
            ("truncated body", good[..good.len() - 3].to_vec(), "truncated", "cooldown_sec"),
            ("truncated string", good[..16].to_vec(), "truncated", "intent_id"),
            ("bad UTF-8", bad_utf8, "bad_utf8", "symbol"),
            ("trailing bytes", trailing, "trailing_bytes", "1 bytes"),
            ("length overflow", overflow, "length_overflow", "intent_id"),
            ("bad option tag", bad_tag, "bad_tag", "thesis"),
            ("too deep", generic(2, &nested), "too_deep", "body.a[0]"),
            ("duplicate key", generic(2, &twice), "duplicate_key", "body.k"),
            ("not finite", generic(2, &nan), "not_finite", "body.f"),
            ("type in body", generic(2, &typed), "type_in_body", "type"),
            ("not an object", generic(2, &[tag::NULL]), "not_an_object", "body"),
            ("bad value tag", generic(2, &[9]), "bad_tag", "body"),
            ("empty generic body", generic(5, &[]), "truncated", "body"),
        ];
        for (what, frame, kind, names) in cases {
            let err = decode_request(&frame).unwrap_err();
            assert_eq!(err.error.kind(), kind, "{what}: {}", err.error);
            let message = err.error.to_string();
            assert!(message.starts_with(kind) && message.contains(names), "{what}: {message}");
            // The endpoint's answer: a binary `malformed` that says the same.
            let incoming = Incoming { identity: vec![1], peer: None, body: Some(frame), delimited: false };
            let answer = decode_answer(&per_codec(&incoming, |_| panic!("never reaches the JSON path"))).unwrap();
            assert_eq!((answer["status"].as_str(), answer["reason"].as_str()), (Some("refused"), Some("malformed")));
            assert_eq!(answer["detail"], format!("binary frame: {message}"), "{what}");
        }
        // The intent_id is in the answer when it was read before the error.
        let err = decode_request(&good[..good.len() - 3]).unwrap_err();
        assert_eq!(err.intent_id.as_deref(), Some("x-1"));
    }

    #[test]
    fn answers_round_trip_in_their_layouts() {
        let refused = json!({"type": "intent_answer", "intent_id": "i-9", "status": "refused",
                             "reason": "invalid_field", "field": "tp_pct", "detail": "too big"});
        let no_id = json!({"type": "intent_answer", "status": "refused", "reason": "malformed", "detail": "x"});
        let extra = json!({"type": "intent_answer", "intent_id": "i", "status": "refused", "reason": "agent_silent",
                           "liveness": "silent"});
        let odd = json!({"type": "intent_answer", "intent_id": "i", "status": "pending"});
        let sized = json!({"type": "intent_answer", "intent_id": "f", "status": "accepted", "order_intent_id": 7,
                           "qty": "0.2999985"});
        let heartbeat = json!({"type": "heartbeat_answer", "status": "ok", "liveness": "alive",
                               "server_time_ns": 1_763_700_000_000_000_000u64});
        let replay = json!({"type": "replay_answer", "status": "ok", "stream_id": "s", "next_seq": 3, "more": false,
                            "events": [{"seq": 1, "event": "fill", "qty": "0.5", "partial": true}, {"seq": 2}]});
        let future = json!({"type": "frobnicate_answer", "n": -3, "x": 1.5});
        for answer in
            [refused, no_id, extra.clone(), odd.clone(), sized.clone(), heartbeat.clone(), replay, future.clone()]
        {
            let frame = encode_answer(&answer);
            assert_eq!(decode_answer(&frame).unwrap(), answer);
        }
        let code = |v: &Value| u16::from_le_bytes([encode_answer(v)[4], encode_answer(v)[5]]);
        assert_eq!(code(&extra), 0x81, "an added field rides in `extra`");
        assert_eq!(code(&sized), 0x81, "an entry's qty rides in `extra`");
        assert_eq!(code(&odd), OTHER_ANSWER, "a status the layout cannot hold");
        assert_eq!(code(&heartbeat), 0x82);
        assert_eq!(code(&future), OTHER_ANSWER);
    }

    #[test]
    fn a_json_frame_passes_untouched_and_a_binary_one_is_answered_in_binary() {
        let json_frame = b" {\"type\":\"heartbeat\"}".to_vec();
        let incoming = Incoming { identity: vec![1], peer: None, body: Some(json_frame.clone()), delimited: true };
        let answer = per_codec(&incoming, |seen| {
            assert_eq!(seen.body.as_deref(), Some(json_frame.as_slice()));
            b"as is".to_vec()
        });
        assert_eq!(answer, b"as is");
        let request = object(json!({"type": "cancel_intent", "agent_id": "a1", "token": "t", "intent_id": "i-1"}));
        let frame = encode_request(&request).unwrap();
        assert_eq!(u16::from_le_bytes([frame[4], frame[5]]), 3);
        let incoming = Incoming { identity: vec![1], peer: None, body: Some(frame), delimited: false };
        let answer = per_codec(&incoming, |seen| {
            let body: Value = serde_json::from_slice(seen.body.as_deref().unwrap()).unwrap();
            assert_eq!(body, Value::Object(request.clone()));
            br#"{"type":"cancel_answer","intent_id":"i-1","status":"cancelled"}"#.to_vec()
        });
        assert_eq!(&answer[..6], &unhex("a949 0100 8300")[..]);
        assert_eq!(decode_answer(&answer).unwrap()["status"], "cancelled");
        let incoming =
            Incoming { identity: vec![1], peer: None, body: Some(encode_request(&exit()).unwrap()), delimited: false };
        let answer = per_codec(&incoming, |_| b"not json".to_vec());
        assert_eq!(decode_answer(&answer).unwrap()["reason"], "busy");
    }

    fn value() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<u64>().prop_map(Value::from),
            (i64::MIN..0).prop_map(Value::from),
            any::<f64>().prop_filter_map("finite", |f| Number::from_f64(f).map(Value::Number)),
            ".{0,12}".prop_map(Value::String),
        ];
        leaf.prop_recursive(4, 48, 6, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
                prop::collection::btree_map(".{0,8}", inner, 0..6).prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        })
    }

    fn decimal() -> impl Strategy<Value = Option<Value>> {
        prop::option::of(any::<i64>().prop_map(|raw| Value::String(protocol::fixed::format_scaled(raw, SCALE))))
    }

    fn submit() -> impl Strategy<Value = Map<String, Value>> {
        (
            ("[ -~]{0,70}", ".{0,40}", "[ -~]{0,40}", ".{0,30}", 0usize..3),
            (decimal(), decimal(), decimal(), decimal(), decimal(), decimal()),
            (prop::option::of(any::<u64>()), prop::option::of(any::<u64>()), prop::option::of(any::<u64>())),
            prop::option::of(".{0,100}"),
        )
            .prop_map(|((id, agent, token, symbol, action), decimals, ints, thesis)| {
                let mut map = object(json!({"type": "submit_intent", "intent_id": id, "agent_id": agent,
                    "token": token, "symbol": symbol, "action": ACTIONS[action].1}));
                let decimals = [decimals.0, decimals.1, decimals.2, decimals.3, decimals.4, decimals.5];
                let ints = [ints.0, ints.1, ints.2].map(|i| i.map(Value::from));
                let values = decimals.into_iter().chain(ints).chain([thesis.map(Value::String)]);
                for ((field, _), value) in OPTIONAL.iter().zip(values) {
                    if let Some(value) = value {
                        map.insert(field.to_string(), value);
                    }
                }
                map
            })
    }

    proptest! {
        #[test]
        fn any_bytes_decode_to_a_value_or_a_named_error(bytes in prop::collection::vec(any::<u8>(), 0..200), code in 0u16..8) {
            let mut framed = generic(code, &[]);
            framed.extend_from_slice(&bytes);
            for frame in [bytes.as_slice(), framed.as_slice()] {
                if let Err(e) = decode_request(frame) {
                    prop_assert!(e.error.to_string().starts_with(e.error.kind()));
                }
                let _ = decode_answer(frame);
                let incoming = Incoming { identity: vec![1], peer: None, body: Some(frame.to_vec()), delimited: false };
                let answer = per_codec(&incoming, |_| br#"{"type":"intent_answer","status":"refused"}"#.to_vec());
                prop_assert!(decode_answer(&answer).is_ok() || !is_binary(frame));
            }
        }

        #[test]
        fn a_submit_intent_round_trips(request in submit()) {
            let frame = encode_request(&request).unwrap();
            prop_assert_eq!(decode_request(&frame).unwrap(), request);
            for cut in 0..frame.len() {
                let err = decode_request(&frame[..cut]).unwrap_err();
                prop_assert_eq!(err.error.kind(), "truncated");
            }
        }

        #[test]
        fn a_generic_request_and_answer_round_trip(body in prop::collection::btree_map("[a-z_]{1,10}", value(), 0..6), code in 2u16..7) {
            let mut request: Map<String, Value> = body.into_iter().filter(|(k, _)| k != "type").collect();
            let answer_name = ANSWERS[usize::from(code) - 1].1;
            request.insert("type".into(), Value::String(name_of(&REQUESTS, code).unwrap().into()));
            let frame = encode_request(&request).unwrap();
            prop_assert_eq!(decode_request(&frame).unwrap(), request.clone());
            request.insert("type".into(), Value::String(answer_name.into()));
            let answer = Value::Object(request);
            prop_assert_eq!(decode_answer(&encode_answer(&answer)).unwrap(), answer);
        }

        #[test]
        fn an_intent_answer_round_trips(id in prop::option::of("[!-~]{1,64}"), accepted in any::<bool>(), order in any::<u64>(), texts in prop::collection::vec(prop::option::of(".{0,30}"), 3)) {
            let mut map = object(json!({"type": "intent_answer", "status": if accepted { "accepted" } else { "refused" }}));
            if let Some(id) = id { map.insert("intent_id".into(), Value::String(id)); }
            if accepted { map.insert("order_intent_id".into(), Value::from(order)); }
            for (field, text) in ANSWER_TEXT.iter().zip(texts) {
                if let Some(text) = text { map.insert(field.to_string(), Value::String(text)); }
            }
            let answer = Value::Object(map);
            let frame = encode_answer(&answer);
            prop_assert_eq!(u16::from_le_bytes([frame[4], frame[5]]), 0x81);
            prop_assert_eq!(decode_answer(&frame).unwrap(), answer);
        }
    }
}
