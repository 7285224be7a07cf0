//! The intent endpoint's JSON frames (docs/AGENTS.md): a `submit_intent` request parsed
//! field by field into typed values (an error names the field; nothing is clamped), and the
//! answer, `accepted` or `refused` with a reason code.

use engine::agent::{AgentCommand, AgentId, AgentRefusal, FractionEntry};
use engine::efsm::Direction;
use engine::intent::{ExitRules, Intent, IntentLimits, Trailing};
use protocol::{IntentId, Ppm, Qty};
use serde::Serialize;
use serde_json::{Map, Value};

/// Longest `intent_id`, in characters.
pub const MAX_INTENT_ID_CHARS: usize = 64;
/// Longest `thesis`, in characters (Unicode scalar values).
pub const MAX_THESIS_CHARS: usize = 2_000;
/// The request type this slice understands.
pub const SUBMIT_INTENT: &str = "submit_intent";

/// Every key a `submit_intent` frame may carry.
const KEYS: [&str; 16] = [
    "type",
    "intent_id",
    "agent_id",
    "token",
    "symbol",
    "action",
    "qty",
    "equity_fraction",
    "tp_pct",
    "sl_pct",
    "trailing_activation_pct",
    "trailing_distance_pct",
    "time_in_trade_limit_sec",
    "cooldown_sec",
    "valid_until_ns",
    "thesis",
];

/// The agent's idempotency key: 1..=64 printable ASCII characters, no spaces.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ClientIntentId(String);

impl ClientIntentId {
    pub fn new(text: &str) -> Option<ClientIntentId> {
        let ok = (1..=MAX_INTENT_ID_CHARS).contains(&text.len()) && text.bytes().all(|b| b.is_ascii_graphic());
        ok.then(|| ClientIntentId(text.to_string()))
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Why a frame is refused before it reaches a symbol.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FrameRefusal {
    /// Not a JSON object, not a `submit_intent`, or no usable `intent_id`/`agent_id`/`token`.
    Malformed,
    UnknownAgent,
    BadToken,
    RateLimited,
    /// A field is missing, of the wrong type, out of range or not allowed (named).
    InvalidField,
    /// No longer sent (`equity_fraction` is supported): kept to read answers logged by
    /// earlier versions.
    SizeNotSupported,
    /// The same `intent_id` came earlier with a different body.
    DuplicateMismatch,
    /// The symbol is not one this engine trades.
    SymbolUnknown,
    /// The engine did not answer in time (nothing is known; retry with the same id).
    Busy,
    /// The agent cancelled this `intent_id` before it was submitted (`cancel_intent`).
    Cancelled,
}

impl FrameRefusal {
    pub const fn code(self) -> &'static str {
        match self {
            FrameRefusal::Malformed => "malformed",
            FrameRefusal::UnknownAgent => "unknown_agent",
            FrameRefusal::BadToken => "bad_token",
            FrameRefusal::RateLimited => "rate_limited",
            FrameRefusal::InvalidField => "invalid_field",
            FrameRefusal::SizeNotSupported => "size_not_supported",
            FrameRefusal::DuplicateMismatch => "duplicate_mismatch",
            FrameRefusal::SymbolUnknown => "symbol_unknown",
            FrameRefusal::Busy => "busy",
            FrameRefusal::Cancelled => "cancelled",
        }
    }
}

/// Any reason an intent is refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reason {
    Frame(FrameRefusal),
    Core(AgentRefusal),
}

impl Reason {
    pub const fn code(self) -> &'static str {
        match self {
            Reason::Frame(r) => r.code(),
            Reason::Core(r) => r.code(),
        }
    }
}

impl Serialize for Reason {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.code())
    }
}

/// Accepted or refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Accepted,
    Refused,
}

/// The answer frame.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct IntentAnswer {
    #[serde(rename = "type")]
    pub kind: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub intent_id: Option<String>,
    pub status: Status,
    /// The engine's id of the order an accepted intent put on the wire (as on the gateway
    /// link and in the trade ledger).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub order_intent_id: Option<u64>,
    /// An accepted entry's order qty, a decimal string (the qty given, or the one computed
    /// from `equity_fraction`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub qty: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<Reason>,
    /// The request field at fault (`invalid_field`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    /// Human-readable; never needed to act on the answer.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

impl IntentAnswer {
    pub fn accepted(intent_id: &ClientIntentId, order: IntentId) -> IntentAnswer {
        IntentAnswer {
            kind: "intent_answer",
            intent_id: Some(intent_id.as_str().to_string()),
            status: Status::Accepted,
            order_intent_id: Some(order.0),
            qty: None,
            reason: None,
            field: None,
            detail: None,
        }
    }

    pub fn refused(intent_id: Option<&ClientIntentId>, reason: Reason, detail: impl Into<String>) -> IntentAnswer {
        IntentAnswer {
            kind: "intent_answer",
            intent_id: intent_id.map(|i| i.as_str().to_string()),
            status: Status::Refused,
            order_intent_id: None,
            qty: None,
            reason: Some(reason),
            field: None,
            detail: Some(detail.into()),
        }
    }

    pub fn invalid(intent_id: &ClientIntentId, error: FieldError) -> IntentAnswer {
        let mut answer = IntentAnswer::refused(Some(intent_id), Reason::Frame(error.refusal), error.detail);
        answer.field = Some(error.field);
        answer
    }

    /// The frame's bytes (a serialization failure cannot happen for this type; the
    /// fallback still says "refused").
    pub fn encode(&self) -> Vec<u8> {
        serde_json::to_vec(self)
            .unwrap_or_else(|_| br#"{"type":"intent_answer","status":"refused","reason":"busy"}"#.to_vec())
    }
}

/// What identifies and authenticates a frame (checked by the endpoint thread).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Envelope {
    pub intent_id: ClientIntentId,
    pub agent: Result<AgentId, String>,
    pub token: String,
    /// The body used for idempotency: the whole object without `token`.
    pub body: Map<String, Value>,
}

/// Reads one frame as a JSON object. `Err` is the answer (`malformed`).
pub fn parse_object(frame: &[u8]) -> Result<Map<String, Value>, Box<IntentAnswer>> {
    let value: Value = serde_json::from_slice(frame).map_err(|e| malformed(None, &format!("not JSON: {e}")))?;
    let Value::Object(body) = value else { return Err(malformed(None, "expected a JSON object")) };
    Ok(body)
}

fn malformed(id: Option<&ClientIntentId>, why: &str) -> Box<IntentAnswer> {
    Box::new(IntentAnswer::refused(id, Reason::Frame(FrameRefusal::Malformed), why.to_string()))
}

/// The request's `intent_id`, if it has a valid one.
pub fn intent_id_of(body: &Map<String, Value>) -> Option<ClientIntentId> {
    match body.get("intent_id") {
        Some(Value::String(text)) => ClientIntentId::new(text),
        _ => None,
    }
}

/// Takes `token` out of a request and reads `agent_id` (every request type carries both).
/// `Err` is the answer (`malformed`, with `id` when known).
pub fn credentials(
    body: &mut Map<String, Value>,
    id: Option<&ClientIntentId>,
) -> Result<(Result<AgentId, String>, String), Box<IntentAnswer>> {
    let Some(Value::String(token)) = body.remove("token") else {
        return Err(malformed(id, "token: a string is required"));
    };
    let agent = match body.get("agent_id") {
        Some(Value::String(text)) => AgentId::new(text).map_err(|e| e.to_string()),
        _ => return Err(malformed(id, "agent_id: a string is required")),
    };
    Ok((agent, token))
}

/// Reads the envelope: a JSON object of type `submit_intent` with a valid `intent_id`, an
/// `agent_id` string and a `token` string. `Err` is the answer (`malformed`).
pub fn envelope(frame: &[u8]) -> Result<Envelope, Box<IntentAnswer>> {
    envelope_of(parse_object(frame)?)
}

/// [`envelope`] of an object already read.
pub fn envelope_of(mut body: Map<String, Value>) -> Result<Envelope, Box<IntentAnswer>> {
    let Some(intent_id) = intent_id_of(&body) else {
        return Err(malformed(None, "intent_id: a string of 1..=64 printable ASCII characters is required"));
    };
    if body.get("type").and_then(Value::as_str) != Some(SUBMIT_INTENT) {
        return Err(malformed(Some(&intent_id), "type: must be \"submit_intent\""));
    }
    let (agent, token) = credentials(&mut body, Some(&intent_id))?;
    Ok(Envelope { intent_id, agent, token, body })
}

/// A field refused, by name.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FieldError {
    /// The field's name as the request spells it.
    pub field: String,
    pub refusal: FrameRefusal,
    pub detail: String,
}

fn invalid(field: &'static str, detail: impl Into<String>) -> FieldError {
    FieldError { field: field.to_string(), refusal: FrameRefusal::InvalidField, detail: detail.into() }
}

/// A validated `submit_intent` body.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SubmitIntent {
    /// The symbol as named (resolved against the traded symbols by the router).
    pub symbol: String,
    pub command: AgentCommand,
    pub valid_until_ns: Option<u64>,
    pub thesis: Option<String>,
}

fn text<'a>(body: &'a Map<String, Value>, field: &'static str) -> Result<Option<&'a str>, FieldError> {
    match body.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(_) => Err(invalid(field, "must be a string")),
    }
}

fn integer(body: &Map<String, Value>, field: &'static str) -> Result<Option<u64>, FieldError> {
    match body.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(v) => v.as_u64().map(Some).ok_or_else(|| invalid(field, "must be a whole number >= 0")),
    }
}

/// Largest `equity_fraction`, in parts per million (1: all of the equity).
const WHOLE_EQUITY_PPM: i64 = 1_000_000;

/// `equity_fraction`: a decimal string, > 0 and <= 1, at most 6 decimals, as ppm.
fn equity_fraction(text: &str) -> Result<Ppm, FieldError> {
    const FIELD: &str = "equity_fraction";
    let raw = protocol::fixed::parse_scaled(text, 6)
        .map_err(|e| invalid(FIELD, format!("{e}: a decimal string > 0 and <= 1, at most 6 decimals")))?;
    if raw <= 0 || raw > WHOLE_EQUITY_PPM {
        return Err(invalid(FIELD, format!("{text} is out of range (> 0 and <= 1)")));
    }
    u32::try_from(raw).map(Ppm).map_err(|_| invalid(FIELD, "is out of range (> 0 and <= 1)"))
}

fn percent(body: &Map<String, Value>, field: &'static str) -> Result<Option<Ppm>, FieldError> {
    text(body, field)?
        .map(|s| Ppm::from_percent_str(s).map_err(|e| invalid(field, format!("{e}: a percent as a decimal string"))))
        .transpose()
}

/// The wire name of a field `Intent::validate` names.
pub fn wire_field(core_field: &'static str) -> &'static str {
    match core_field {
        "max_hold_secs" => "time_in_trade_limit_sec",
        other => other,
    }
}

/// Parses and validates the body: every field's type and range, in the order of
/// docs/AGENTS.md; the first field at fault is named. Nothing is clamped.
pub fn parse_body(body: &Map<String, Value>, limits: &IntentLimits) -> Result<SubmitIntent, FieldError> {
    if let Some(key) = body.keys().find(|k| !KEYS.contains(&k.as_str())) {
        let name: String = key.chars().take(64).collect();
        return Err(FieldError { field: name, refusal: FrameRefusal::InvalidField, detail: "unknown field".into() });
    }
    let symbol = text(body, "symbol")?.ok_or_else(|| invalid("symbol", "is required"))?.to_string();
    let direction = match text(body, "action")? {
        Some("enter_long") => Some(Direction::Long),
        Some("enter_short") => Some(Direction::Short),
        Some("exit") => None,
        _ => return Err(invalid("action", "must be \"enter_long\", \"enter_short\" or \"exit\"")),
    };
    let valid_until_ns = integer(body, "valid_until_ns")?;
    if valid_until_ns == Some(0) {
        return Err(invalid("valid_until_ns", "must be > 0 (ns since the Unix epoch)"));
    }
    let thesis = text(body, "thesis")?.map(str::to_string);
    if thesis.as_ref().is_some_and(|t| t.chars().count() > MAX_THESIS_CHARS) {
        return Err(invalid("thesis", format!("at most {MAX_THESIS_CHARS} characters")));
    }
    let Some(direction) = direction else {
        const ENTRY_ONLY: [&str; 8] = [
            "qty",
            "equity_fraction",
            "tp_pct",
            "sl_pct",
            "trailing_activation_pct",
            "trailing_distance_pct",
            "time_in_trade_limit_sec",
            "cooldown_sec",
        ];
        if let Some(field) = ENTRY_ONLY.iter().find(|f| body.get(**f).is_some_and(|v| !v.is_null())) {
            return Err(invalid(field, "not allowed with action \"exit\" (an exit closes the whole position)"));
        }
        return Ok(SubmitIntent { symbol, command: AgentCommand::Exit, valid_until_ns, thesis });
    };
    let size = match (text(body, "qty")?, text(body, "equity_fraction")?) {
        (Some(_), Some(_)) => return Err(invalid("equity_fraction", "give qty or equity_fraction, not both")),
        (None, Some(f)) => Err(equity_fraction(f)?),
        (None, None) => return Err(invalid("qty", "is required for an entry (or equity_fraction)")),
        (Some(q), None) => Ok(q.parse::<Qty>().map_err(|e| invalid("qty", format!("{e}: a decimal string > 0")))?),
    };
    let trailing = match (percent(body, "trailing_activation_pct")?, percent(body, "trailing_distance_pct")?) {
        (Some(activation), Some(distance)) => Some(Trailing { activation, distance }),
        (None, None) => None,
        (Some(_), None) => return Err(invalid("trailing_distance_pct", "is required with trailing_activation_pct")),
        (None, Some(_)) => return Err(invalid("trailing_activation_pct", "is required with trailing_distance_pct")),
    };
    let seconds = |field: &'static str| -> Result<Option<u32>, FieldError> {
        integer(body, field)?.map(|v| u32::try_from(v).map_err(|_| invalid(field, "is out of range"))).transpose()
    };
    let exits = ExitRules {
        take_profit: percent(body, "tp_pct")?,
        stop_loss: percent(body, "sl_pct")?,
        trailing,
        max_hold_secs: seconds("time_in_trade_limit_sec")?,
        cooldown_secs: seconds("cooldown_sec")?.unwrap_or(0),
    };
    // The core's own validation (the same functions check every strategy's intent); a size
    // as a fraction of equity becomes a qty in the core, at the last quote.
    let command = match size {
        Ok(qty) => {
            let intent = Intent { direction, qty, exits };
            intent.validate(limits).map_err(|e| invalid(wire_field(e.field), e.to_string()))?;
            AgentCommand::Enter(intent)
        }
        Err(fraction) => {
            exits.validate(limits).map_err(|e| invalid(wire_field(e.field), e.to_string()))?;
            AgentCommand::EnterFraction(FractionEntry { direction, fraction, exits })
        }
    };
    Ok(SubmitIntent { symbol, command, valid_until_ns, thesis })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn entry() -> Value {
        json!({
            "type": "submit_intent", "intent_id": "i-1", "agent_id": "a1", "token": "t",
            "symbol": "ETHUSD.s", "action": "enter_long", "qty": "0.5",
            "tp_pct": "0.5", "sl_pct": "0.3", "trailing_activation_pct": "0.2", "trailing_distance_pct": "0.1",
            "time_in_trade_limit_sec": 60, "cooldown_sec": 5, "valid_until_ns": 1, "thesis": "reverts"
        })
    }

    fn parse(v: &Value) -> Result<SubmitIntent, FieldError> {
        let env = envelope(v.to_string().as_bytes()).map_err(|a| invalid("envelope", format!("{a:?}")))?;
        parse_body(&env.body, &IntentLimits::default())
    }

    #[test]
    fn a_full_entry_is_taken_as_given() {
        let parsed = parse(&entry()).unwrap();
        let AgentCommand::Enter(intent) = parsed.command else { panic!("an entry") };
        assert_eq!(intent.direction, Direction::Long);
        assert_eq!(intent.qty, "0.5".parse().unwrap());
        assert_eq!(intent.exits.take_profit, Some(Ppm(5_000)));
        assert_eq!(intent.exits.stop_loss, Some(Ppm(3_000)));
        assert_eq!(intent.exits.trailing, Some(Trailing { activation: Ppm(2_000), distance: Ppm(1_000) }));
        assert_eq!((intent.exits.max_hold_secs, intent.exits.cooldown_secs), (Some(60), 5));
        assert_eq!((parsed.valid_until_ns, parsed.thesis.as_deref()), (Some(1), Some("reverts")));
        assert_eq!(parsed.symbol, "ETHUSD.s");
    }

    #[test]
    fn each_field_out_of_range_is_refused_by_name() {
        let long_thesis = "x".repeat(MAX_THESIS_CHARS + 1);
        let cases: Vec<(&str, Value, &str, &str)> = vec![
            ("qty", json!("0"), "qty", "invalid_field"),
            ("qty", json!("-1"), "qty", "invalid_field"),
            ("qty", json!(0.5), "qty", "invalid_field"),
            ("qty", json!("0.123456789"), "qty", "invalid_field"),
            ("qty", json!("2000000"), "qty", "invalid_field"),
            ("qty", Value::Null, "qty", "invalid_field"),
            ("tp_pct", json!("0"), "tp_pct", "invalid_field"),
            ("tp_pct", json!("60"), "tp_pct", "invalid_field"),
            ("sl_pct", json!("abc"), "sl_pct", "invalid_field"),
            ("sl_pct", json!(1), "sl_pct", "invalid_field"),
            ("trailing_distance_pct", json!("0"), "trailing_distance_pct", "invalid_field"),
            ("trailing_distance_pct", Value::Null, "trailing_distance_pct", "invalid_field"),
            ("trailing_activation_pct", json!("90"), "trailing_activation_pct", "invalid_field"),
            ("time_in_trade_limit_sec", json!(0), "time_in_trade_limit_sec", "invalid_field"),
            ("time_in_trade_limit_sec", json!(-5), "time_in_trade_limit_sec", "invalid_field"),
            ("time_in_trade_limit_sec", json!(8 * 24 * 3600), "time_in_trade_limit_sec", "invalid_field"),
            ("cooldown_sec", json!(100_000), "cooldown_sec", "invalid_field"),
            ("cooldown_sec", json!(5_000_000_000u64), "cooldown_sec", "invalid_field"),
            ("valid_until_ns", json!(0), "valid_until_ns", "invalid_field"),
            ("valid_until_ns", json!("soon"), "valid_until_ns", "invalid_field"),
            ("thesis", json!(long_thesis), "thesis", "invalid_field"),
            ("action", json!("reverse"), "action", "invalid_field"),
            ("symbol", json!(7), "symbol", "invalid_field"),
            ("equity_fraction", json!("0.1"), "equity_fraction", "invalid_field"),
            ("leverage", json!(10), "leverage", "invalid_field"),
        ];
        for (key, value, field, code) in cases {
            let mut frame = entry();
            frame[key] = value.clone();
            let err = parse(&frame).unwrap_err();
            assert_eq!((err.field.as_str(), err.refusal.code()), (field, code), "{key} = {value}: {}", err.detail);
        }
        // Neither qty nor equity_fraction: qty is named.
        let mut frame = entry();
        frame.as_object_mut().unwrap().remove("qty");
        let err = parse(&frame).unwrap_err();
        assert_eq!((err.field.as_str(), err.refusal.code()), ("qty", "invalid_field"));
        // An exit takes no entry fields.
        let mut exit = entry();
        exit["action"] = json!("exit");
        assert_eq!(parse(&exit).unwrap_err().field, "qty");
        let exit = json!({"type": "submit_intent", "intent_id": "x", "agent_id": "a", "token": "t",
                          "symbol": "ETHUSD.s", "action": "exit"});
        assert_eq!(parse(&exit).unwrap().command, AgentCommand::Exit);
    }

    fn by_fraction(fraction: Value) -> Result<SubmitIntent, FieldError> {
        let mut frame = entry();
        frame.as_object_mut().unwrap().remove("qty");
        frame["equity_fraction"] = fraction;
        parse(&frame)
    }

    #[test]
    fn an_entry_sized_as_a_fraction_of_equity_is_taken_as_given() {
        for (text, ppm) in [("0.25", 250_000), ("1", 1_000_000), ("0.000001", 1), ("0.123456", 123_456)] {
            let parsed = by_fraction(json!(text)).unwrap();
            let AgentCommand::EnterFraction(sized) = parsed.command else { panic!("a fraction entry") };
            assert_eq!((sized.direction, sized.fraction), (Direction::Long, Ppm(ppm)), "{text}");
            assert_eq!(sized.exits.take_profit, Some(Ppm(5_000)));
            assert_eq!(sized.exits.cooldown_secs, 5);
        }
    }

    #[test]
    fn an_equity_fraction_out_of_range_is_refused_by_name() {
        let bad = [
            json!("0"),
            json!("0.0000001"),
            json!("1.000001"),
            json!("2"),
            json!("-0.5"),
            json!("0.1234567"),
            json!(0.5),
            json!(1),
            json!("abc"),
            json!(""),
            json!("1e-3"),
        ];
        for value in bad {
            let err = by_fraction(value.clone()).unwrap_err();
            assert_eq!((err.field.as_str(), err.refusal.code()), ("equity_fraction", "invalid_field"), "{value}");
        }
        // Both sizes: equity_fraction is at fault.
        let mut both = entry();
        both["equity_fraction"] = json!("0.1");
        let err = parse(&both).unwrap_err();
        assert_eq!((err.field.as_str(), err.refusal.code()), ("equity_fraction", "invalid_field"));
        // The exit rules are still checked with a fraction.
        let mut frame = entry();
        frame.as_object_mut().unwrap().remove("qty");
        frame["equity_fraction"] = json!("0.1");
        frame["tp_pct"] = json!("0");
        assert_eq!(parse(&frame).unwrap_err().field, "tp_pct");
        // An exit takes no equity_fraction.
        let mut exit = entry();
        exit.as_object_mut().unwrap().remove("qty");
        exit["action"] = json!("exit");
        exit["equity_fraction"] = json!("0.1");
        assert_eq!(parse(&exit).unwrap_err().field, "equity_fraction");
    }

    #[test]
    fn the_envelope_needs_type_id_agent_and_token() {
        let refused = |v: Value| envelope(v.to_string().as_bytes()).unwrap_err().reason.map(|r| r.code());
        for key in ["type", "intent_id", "agent_id", "token"] {
            let mut frame = entry();
            frame.as_object_mut().unwrap().remove(key);
            assert_eq!(refused(frame), Some("malformed"), "without {key}");
        }
        let mut frame = entry();
        frame["intent_id"] = json!("x".repeat(MAX_INTENT_ID_CHARS + 1));
        assert_eq!(refused(frame), Some("malformed"));
        assert_eq!(envelope(b"[1,2]").unwrap_err().reason.map(|r| r.code()), Some("malformed"));
        assert_eq!(envelope(b"{nope").unwrap_err().reason.map(|r| r.code()), Some("malformed"));
        let env = envelope(entry().to_string().as_bytes()).unwrap();
        assert!(!env.body.contains_key("token"), "the token is never part of the stored body");
        assert_eq!(env.intent_id.as_str(), "i-1");
    }

    #[test]
    fn answers_encode_their_reason_code_and_field() {
        let id = ClientIntentId::new("i-9").unwrap();
        let answer = IntentAnswer::invalid(&id, invalid("tp_pct", "too big"));
        let v: Value = serde_json::from_slice(&answer.encode()).unwrap();
        assert_eq!(v["status"], "refused");
        assert_eq!(v["reason"], "invalid_field");
        assert_eq!(v["field"], "tp_pct");
        assert_eq!(v["intent_id"], "i-9");
        let ok: Value = serde_json::from_slice(&IntentAnswer::accepted(&id, IntentId(7)).encode()).unwrap();
        assert_eq!((ok["status"].as_str(), ok["order_intent_id"].as_u64()), (Some("accepted"), Some(7)));
        let core = IntentAnswer::refused(Some(&id), Reason::Core(AgentRefusal::PositionOpenOpposite), "");
        assert_eq!(serde_json::to_value(&core).unwrap()["reason"], "position_open_opposite");
    }
}
