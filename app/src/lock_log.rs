//! A fast writer for the lock events (`target: "locks"`), the busiest lines of
//! `engine.jsonl` (two per order). It writes exactly the line shape of the generic JSON layer
//! (docs/LOG_FORMAT.md: timestamp, level, message, the fields in call order, target) without
//! serde or an intermediate map: profiling showed the generic formatter costing about a
//! quarter of order capacity.

use std::fmt::{self, Write as _};
use std::io::Write as _;
use std::time::{SystemTime, UNIX_EPOCH};

use tracing::field::{Field, Visit};
use tracing::{Event, Subscriber};
use tracing_appender::non_blocking::NonBlocking;
use tracing_subscriber::layer::{Context, Layer};

/// The target this layer writes (the generic JSON layer leaves it out).
pub const LOCK_TARGET: &str = "locks";

pub struct LockEventLayer {
    writer: NonBlocking,
}

impl LockEventLayer {
    pub fn new(writer: NonBlocking) -> LockEventLayer {
        LockEventLayer { writer }
    }
}

/// Appends `"name":value` pairs in the order the event records them.
struct Fields {
    message: String,
    rest: String,
}

fn push_json_string(out: &mut String, text: &str) {
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

impl Fields {
    fn key(&mut self, field: &Field) {
        self.rest.push_str(",\"");
        self.rest.push_str(field.name());
        self.rest.push_str("\":");
    }
}

impl Visit for Fields {
    fn record_u64(&mut self, field: &Field, value: u64) {
        self.key(field);
        let _ = write!(self.rest, "{value}");
    }
    fn record_i64(&mut self, field: &Field, value: i64) {
        self.key(field);
        let _ = write!(self.rest, "{value}");
    }
    fn record_bool(&mut self, field: &Field, value: bool) {
        self.key(field);
        self.rest.push_str(if value { "true" } else { "false" });
    }
    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "message" {
            self.message.push_str(value);
            return;
        }
        self.key(field);
        push_json_string(&mut self.rest, value);
    }
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        let mut text = String::new();
        let _ = write!(text, "{value:?}");
        if field.name() == "message" {
            self.message = text;
            return;
        }
        self.key(field);
        push_json_string(&mut self.rest, &text);
    }
}

/// `2026-11-21T05:29:04.536917Z` (UTC, microseconds), as the JSON layer writes it.
fn push_timestamp(out: &mut String) {
    let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default();
    let secs = now.as_secs();
    let (days, rem) = (secs / 86_400, secs % 86_400);
    let (y, mo, d) = engine::calendar::civil_from_days(days as i64);
    let _ = write!(
        out,
        "{y:04}-{mo:02}-{d:02}T{:02}:{:02}:{:02}.{:06}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60,
        now.subsec_micros()
    );
}

/// One line, exactly as the generic JSON layer would write it.
fn format_line(level: &str, target: &str, event_fields: impl FnOnce(&mut Fields)) -> String {
    let mut fields = Fields { message: String::new(), rest: String::with_capacity(192) };
    event_fields(&mut fields);
    let mut line = String::with_capacity(64 + fields.rest.len());
    line.push_str("{\"timestamp\":\"");
    push_timestamp(&mut line);
    line.push_str("\",\"level\":\"");
    line.push_str(level);
    line.push_str("\",\"message\":");
    push_json_string(&mut line, &fields.message);
    line.push_str(&fields.rest);
    line.push_str(",\"target\":");
    push_json_string(&mut line, target);
    line.push_str("}\n");
    line
}

impl<S: Subscriber> Layer<S> for LockEventLayer {
    fn on_event(&self, event: &Event<'_>, _: Context<'_, S>) {
        let meta = event.metadata();
        if meta.target() != LOCK_TARGET {
            return;
        }
        let line = format_line(meta.level().as_str(), meta.target(), |f| event.record(f));
        let mut writer = self.writer.clone();
        let _ = writer.write_all(line.as_bytes());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};
    use tracing_subscriber::layer::SubscriberExt;

    #[derive(Clone, Default)]
    struct Shared(Arc<Mutex<Vec<u8>>>);
    impl std::io::Write for Shared {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    fn emit() {
        let symbol = protocol::Symbol::new("BTCUSD.s").unwrap();
        tracing::info!(target: "locks", symbol = %symbol, lock_id = 7u64, access = 13u64, intent_id = 1795238943432924u64,
            kind = "order", outcome = "filled", held_us = 507u64, mono_us = 469u64, "ZMQ_LOCK_RELEASE");
    }

    /// The fast writer's line equals the generic JSON layer's line, field for field.
    #[test]
    fn same_line_as_the_generic_json_layer() {
        let generic = Shared::default();
        let sink = generic.clone();
        let subscriber = tracing_subscriber::registry().with(
            tracing_subscriber::fmt::layer()
                .json()
                .flatten_event(true)
                .with_current_span(false)
                .with_span_list(false)
                .with_writer(move || sink.clone()),
        );
        tracing::subscriber::with_default(subscriber, emit);

        let fast = Shared::default();
        let (writer, guard) = tracing_appender::non_blocking(fast.clone());
        tracing::subscriber::with_default(tracing_subscriber::registry().with(LockEventLayer::new(writer)), emit);
        drop(guard);

        let parse = |s: &Shared| {
            let text = String::from_utf8(s.0.lock().unwrap().clone()).unwrap();
            let mut v: serde_json::Map<String, serde_json::Value> = serde_json::from_str(text.trim()).unwrap();
            let ts = v.remove("timestamp").unwrap();
            (v, ts, text)
        };
        let (a, ts_a, text_a) = parse(&generic);
        let (b, ts_b, text_b) = parse(&fast);
        assert_eq!(a, b, "\n{text_a}\n{text_b}");
        let keys = |t: &str| t.split("\":").map(|p| p.rsplit('"').next().unwrap_or("").to_string()).collect::<Vec<_>>();
        assert_eq!(keys(&text_a), keys(&text_b), "same key order");
        assert_eq!(ts_a.as_str().unwrap().len(), ts_b.as_str().unwrap().len(), "same timestamp format");
    }

    #[test]
    fn strings_are_escaped() {
        let mut out = String::new();
        push_json_string(&mut out, "a\"b\\c\n");
        assert_eq!(out, r#""a\"b\\c\u000a""#);
    }
}
