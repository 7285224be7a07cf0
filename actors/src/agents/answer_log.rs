//! The durable answer log: every final answer to an agent's intent (and every
//! `cancel_intent` tombstone) is appended here **before** the agent is answered, and the
//! last [`REMEMBERED_PER_AGENT`] per agent are reloaded at start, so a retry after an engine
//! restart gets the original answer (the same `order_intent_id`) and never a second order
//! (docs/AGENTS.md, "Idempotency").
//!
//! Format: one JSON object per line, next to the state file (`<state>.answers`):
//! `{"agent":"a1","id":"i-1","body":{...},"answer":{...}}` or
//! `{"agent":"a1","id":"i-2","tombstone":true}`. Each record is one `write` call (it survives
//! the process dying; with `fsync` also power loss). A torn last line is skipped with a
//! warning; a damaged line before it is an error naming the line. The file is compacted
//! (last 4,096 per agent, temp file + rename) at open and when it grows past
//! [`COMPACT_AT_BYTES`].

use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use engine::agent::{AgentId, AgentRefusal};
use engine::risk::Refusal;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::idempotency::REMEMBERED_PER_AGENT;
use super::wire::{ClientIntentId, FrameRefusal, IntentAnswer, Reason, Status};

/// Compact when the file grows past this.
pub const COMPACT_AT_BYTES: u64 = 64 * 1024 * 1024;

/// The answer log's path for a state file.
pub fn path_for(state_file: &Path) -> PathBuf {
    state_file.with_extension("answers")
}

/// Every reason an answer may carry, by its code (`invalid_field` reads back as the
/// endpoint's: both spell the same on the wire).
const REASONS: [Reason; 36] = [
    Reason::Frame(FrameRefusal::Malformed),
    Reason::Frame(FrameRefusal::UnknownAgent),
    Reason::Frame(FrameRefusal::BadToken),
    Reason::Frame(FrameRefusal::RateLimited),
    Reason::Frame(FrameRefusal::InvalidField),
    Reason::Frame(FrameRefusal::SizeNotSupported),
    Reason::Frame(FrameRefusal::DuplicateMismatch),
    Reason::Frame(FrameRefusal::SymbolUnknown),
    Reason::Frame(FrameRefusal::Busy),
    Reason::Frame(FrameRefusal::Cancelled),
    Reason::Core(AgentRefusal::NotAuthority),
    Reason::Core(AgentRefusal::Expired),
    Reason::Core(AgentRefusal::PositionOpenOpposite),
    Reason::Core(AgentRefusal::PositionOpen),
    Reason::Core(AgentRefusal::OrderInFlight),
    Reason::Core(AgentRefusal::ExitInFlight),
    Reason::Core(AgentRefusal::NoPosition),
    Reason::Core(AgentRefusal::NotTrading),
    Reason::Core(AgentRefusal::AgentSilent),
    Reason::Core(AgentRefusal::Guard(Refusal::GlobalLock)),
    Reason::Core(AgentRefusal::Guard(Refusal::EntryDisabled)),
    Reason::Core(AgentRefusal::Guard(Refusal::ExitDisabled)),
    Reason::Core(AgentRefusal::Guard(Refusal::GatewayDown)),
    Reason::Core(AgentRefusal::Guard(Refusal::VenueReconciling)),
    Reason::Core(AgentRefusal::Guard(Refusal::FeedStale)),
    Reason::Core(AgentRefusal::Guard(Refusal::FeedGap)),
    Reason::Core(AgentRefusal::Guard(Refusal::BreakerOpen)),
    Reason::Core(AgentRefusal::Guard(Refusal::BreakerProbeInFlight)),
    Reason::Core(AgentRefusal::Guard(Refusal::MaxPosition)),
    Reason::Core(AgentRefusal::Guard(Refusal::SymbolExposure)),
    Reason::Core(AgentRefusal::Guard(Refusal::TotalExposure)),
    Reason::Core(AgentRefusal::Guard(Refusal::SymbolRate)),
    Reason::Core(AgentRefusal::Guard(Refusal::GlobalRate)),
    Reason::Core(AgentRefusal::Guard(Refusal::Cooldown)),
    Reason::Core(AgentRefusal::Guard(Refusal::ReversalDisabled)),
    Reason::Core(AgentRefusal::Guard(Refusal::InvalidIntent(""))),
];

fn reason_of(code: &str) -> Option<Reason> {
    REASONS.iter().copied().find(|r| r.code() == code)
}

/// An answer as stored (owned strings; the reason by its code).
#[derive(Serialize, Deserialize)]
struct StoredAnswer {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    intent_id: Option<String>,
    status: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    order_intent_id: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    qty: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    reason: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    field: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    detail: Option<String>,
}

impl StoredAnswer {
    fn of(a: &IntentAnswer) -> StoredAnswer {
        StoredAnswer {
            intent_id: a.intent_id.clone(),
            status: match a.status {
                Status::Accepted => "accepted".into(),
                Status::Refused => "refused".into(),
            },
            order_intent_id: a.order_intent_id,
            qty: a.qty.clone(),
            reason: a.reason.map(|r| r.code().to_string()),
            field: a.field.clone(),
            detail: a.detail.clone(),
        }
    }

    fn answer(self) -> Result<IntentAnswer, String> {
        let status = match self.status.as_str() {
            "accepted" => Status::Accepted,
            "refused" => Status::Refused,
            other => return Err(format!("status {other:?}")),
        };
        let reason = match self.reason {
            None => None,
            Some(code) => Some(reason_of(&code).ok_or_else(|| format!("reason {code:?}"))?),
        };
        Ok(IntentAnswer {
            kind: "intent_answer",
            intent_id: self.intent_id,
            status,
            order_intent_id: self.order_intent_id,
            qty: self.qty,
            reason,
            field: self.field,
            detail: self.detail,
        })
    }
}

/// One line.
#[derive(Serialize, Deserialize)]
struct Line {
    agent: String,
    id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    body: Option<Map<String, Value>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    answer: Option<StoredAnswer>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    tombstone: bool,
}

/// One id as reloaded.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Restored {
    Answer { id: ClientIntentId, body: Map<String, Value>, answer: IntentAnswer },
    Tombstone { id: ClientIntentId },
}

/// What was reloaded: per agent, oldest first, at most [`REMEMBERED_PER_AGENT`] each.
pub type RestoredAnswers = HashMap<AgentId, Vec<Restored>>;

/// Why the answer log cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum AnswerLogError {
    #[error("{path}: {source}")]
    Io { path: String, source: std::io::Error },
    #[error("{path} line {line}: {why} (a damaged record before the last line; move the file aside to start without it, which forgets the agents' answers)")]
    Damaged { path: String, line: usize, why: String },
}

/// The open answer log (shared by clones; one writer at a time).
#[derive(Clone)]
pub struct AnswerLog {
    inner: Arc<Mutex<Inner>>,
}

struct Inner {
    path: PathBuf,
    file: File,
    fsync: bool,
    bytes: u64,
}

impl fmt::Debug for AnswerLog {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("AnswerLog")
    }
}

/// What reading the file found.
#[derive(Debug, Default)]
pub struct Loaded {
    pub answers: RestoredAnswers,
    pub records: u64,
    pub torn_tail: bool,
}

/// Reads `path` (absent: nothing), keeping the last [`REMEMBERED_PER_AGENT`] ids of each
/// agent in `agents` (records of other agents are dropped).
pub fn load(path: &Path, agents: &[AgentId]) -> Result<Loaded, AnswerLogError> {
    let io = |source| AnswerLogError::Io { path: path.display().to_string(), source };
    let text = match std::fs::read(path) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Loaded::default()),
        Err(e) => return Err(io(e)),
    };
    let mut per_agent: HashMap<AgentId, VecDeque<Restored>> = agents.iter().map(|a| (*a, VecDeque::new())).collect();
    let mut loaded = Loaded::default();
    let lines: Vec<&[u8]> = text.split(|b| *b == b'\n').filter(|l| !l.is_empty()).collect();
    let complete = text.ends_with(b"\n");
    for (n, raw) in lines.iter().enumerate() {
        let last = n + 1 == lines.len();
        let parsed = parse_line(raw);
        let (agent, restored) = match parsed {
            Ok(Some(found)) => found,
            Ok(None) => continue,
            Err(_) if last && !complete => {
                loaded.torn_tail = true;
                continue;
            }
            Err(why) => return Err(AnswerLogError::Damaged { path: path.display().to_string(), line: n + 1, why }),
        };
        loaded.records += 1;
        let Some(queue) = per_agent.get_mut(&agent) else { continue };
        let id = match &restored {
            Restored::Answer { id, .. } | Restored::Tombstone { id } => id.clone(),
        };
        queue.retain(|r| !matches!(r, Restored::Answer { id: i, .. } | Restored::Tombstone { id: i } if *i == id));
        queue.push_back(restored);
        while queue.len() > REMEMBERED_PER_AGENT {
            queue.pop_front();
        }
    }
    loaded.answers = per_agent.into_iter().map(|(a, q)| (a, q.into_iter().collect())).collect();
    Ok(loaded)
}

/// One line: `Ok(None)` for an agent id that is no longer valid (dropped).
fn parse_line(raw: &[u8]) -> Result<Option<(AgentId, Restored)>, String> {
    let line: Line = serde_json::from_slice(raw).map_err(|e| e.to_string())?;
    let Ok(agent) = AgentId::new(&line.agent) else { return Ok(None) };
    let id = ClientIntentId::new(&line.id).ok_or_else(|| format!("intent id {:?}", line.id))?;
    if line.tombstone {
        return Ok(Some((agent, Restored::Tombstone { id })));
    }
    let (Some(body), Some(answer)) = (line.body, line.answer) else {
        return Err("a record needs body and answer, or tombstone".into());
    };
    Ok(Some((agent, Restored::Answer { id, body, answer: answer.answer()? })))
}

impl AnswerLog {
    /// Loads `path` for `agents`, rewrites it compacted, and opens it for appending.
    pub fn open(path: &Path, agents: &[AgentId], fsync: bool) -> Result<(AnswerLog, Loaded), AnswerLogError> {
        let loaded = load(path, agents)?;
        let bytes = rewrite(path, &loaded.answers)?;
        let file = append_to(path)?;
        let inner = Inner { path: path.to_path_buf(), file, fsync, bytes };
        Ok((AnswerLog { inner: Arc::new(Mutex::new(inner)) }, loaded))
    }

    /// Appends a final answer (before it is sent).
    pub fn answer(
        &self,
        agent: AgentId,
        id: &ClientIntentId,
        body: &Map<String, Value>,
        answer: &IntentAnswer,
    ) -> Result<(), AnswerLogError> {
        let line = Line {
            agent: agent.as_str().to_string(),
            id: id.as_str().to_string(),
            body: Some(body.clone()),
            answer: Some(StoredAnswer::of(answer)),
            tombstone: false,
        };
        self.append(&line)
    }

    /// Appends a tombstone (before the cancel is answered).
    pub fn tombstone(&self, agent: AgentId, id: &ClientIntentId) -> Result<(), AnswerLogError> {
        let line = Line {
            agent: agent.as_str().to_string(),
            id: id.as_str().to_string(),
            body: None,
            answer: None,
            tombstone: true,
        };
        self.append(&line)
    }

    fn append(&self, line: &Line) -> Result<(), AnswerLogError> {
        let mut bytes = serde_json::to_vec(line).unwrap_or_default();
        bytes.push(b'\n');
        let mut inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        let path = inner.path.display().to_string();
        let io = |source| AnswerLogError::Io { path: path.clone(), source };
        inner.file.write_all(&bytes).map_err(io)?;
        if inner.fsync {
            inner.file.sync_data().map_err(io)?;
        }
        inner.bytes += bytes.len() as u64;
        if inner.bytes > COMPACT_AT_BYTES {
            let kept = load_all(&inner.path)?;
            inner.bytes = rewrite(&inner.path, &kept)?;
            inner.file = append_to(&inner.path)?;
        }
        Ok(())
    }
}

/// Every agent's last ids in the file (for a compaction while running).
fn load_all(path: &Path) -> Result<RestoredAnswers, AnswerLogError> {
    let text = std::fs::read(path).map_err(|source| AnswerLogError::Io { path: path.display().to_string(), source })?;
    let mut agents: Vec<AgentId> = Vec::new();
    for raw in text.split(|b| *b == b'\n').filter(|l| !l.is_empty()) {
        if let Ok(Some((agent, _))) = parse_line(raw) {
            if !agents.contains(&agent) {
                agents.push(agent);
            }
        }
    }
    Ok(load(path, &agents)?.answers)
}

fn append_to(path: &Path) -> Result<File, AnswerLogError> {
    OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .map_err(|source| AnswerLogError::Io { path: path.display().to_string(), source })
}

/// Writes `kept` to a temporary file and renames it over `path`; the bytes written.
fn rewrite(path: &Path, kept: &RestoredAnswers) -> Result<u64, AnswerLogError> {
    let io = |source| AnswerLogError::Io { path: path.display().to_string(), source };
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(io)?;
    }
    let mut out = Vec::new();
    let mut agents: Vec<&AgentId> = kept.keys().collect();
    agents.sort();
    for agent in agents {
        for restored in &kept[agent] {
            let line = match restored {
                Restored::Answer { id, body, answer } => Line {
                    agent: agent.as_str().to_string(),
                    id: id.as_str().to_string(),
                    body: Some(body.clone()),
                    answer: Some(StoredAnswer::of(answer)),
                    tombstone: false,
                },
                Restored::Tombstone { id } => Line {
                    agent: agent.as_str().to_string(),
                    id: id.as_str().to_string(),
                    body: None,
                    answer: None,
                    tombstone: true,
                },
            };
            out.extend(serde_json::to_vec(&line).unwrap_or_default());
            out.push(b'\n');
        }
    }
    let temp = path.with_extension("answers.tmp");
    let mut file = File::create(&temp).map_err(io)?;
    file.write_all(&out).map_err(io)?;
    file.sync_all().map_err(io)?;
    std::fs::rename(&temp, path).map_err(io)?;
    Ok(out.len() as u64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn dir(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("answer-log-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        d
    }
    fn id(s: &str) -> ClientIntentId {
        ClientIntentId::new(s).unwrap()
    }
    fn body(q: &str) -> Map<String, Value> {
        json!({"symbol": "ETHUSD.s", "qty": q, "n": 3}).as_object().unwrap().clone()
    }

    #[test]
    fn every_reason_reads_back_by_its_code() {
        for reason in REASONS {
            assert_eq!(reason_of(reason.code()).map(|r| r.code()), Some(reason.code()));
        }
        assert_eq!(reason_of("no_such_code"), None);
    }

    #[test]
    fn answers_and_tombstones_survive_a_reopen() {
        let path = dir("reopen").join("state.answers");
        let (a, b) = (AgentId::new("a1").unwrap(), AgentId::new("b2").unwrap());
        let (log, loaded) = AnswerLog::open(&path, &[a, b], false).unwrap();
        assert!(loaded.answers.values().all(Vec::is_empty));
        let accepted = IntentAnswer::accepted(&id("i-1"), protocol::IntentId(42));
        let mut refused =
            IntentAnswer::refused(Some(&id("i-2")), Reason::Core(AgentRefusal::Guard(Refusal::Cooldown)), "cooldown");
        refused.field = Some("qty".into());
        log.answer(a, &id("i-1"), &body("1"), &accepted).unwrap();
        log.answer(a, &id("i-2"), &body("2"), &refused).unwrap();
        log.tombstone(b, &id("c-1")).unwrap();
        drop(log);
        let (_, loaded) = AnswerLog::open(&path, &[a, b], false).unwrap();
        assert_eq!(
            loaded.answers[&a],
            vec![
                Restored::Answer { id: id("i-1"), body: body("1"), answer: accepted.clone() },
                Restored::Answer { id: id("i-2"), body: body("2"), answer: refused.clone() },
            ]
        );
        assert_eq!(loaded.answers[&b], vec![Restored::Tombstone { id: id("c-1") }]);
        // The reloaded answer encodes byte for byte like the original.
        let Restored::Answer { answer, .. } = &loaded.answers[&a][1] else { panic!() };
        assert_eq!(answer.encode(), refused.encode());
        // An agent no longer configured is dropped.
        let (_, loaded) = AnswerLog::open(&path, &[b], false).unwrap();
        assert!(!loaded.answers.contains_key(&a));
    }

    #[test]
    fn only_the_last_ids_per_agent_are_kept_and_a_torn_tail_is_skipped() {
        let path = dir("bound").join("state.answers");
        let a = AgentId::new("a1").unwrap();
        let (log, _) = AnswerLog::open(&path, &[a], false).unwrap();
        for n in 0..REMEMBERED_PER_AGENT + 3 {
            let key = id(&format!("i{n}"));
            log.answer(a, &key, &body("1"), &IntentAnswer::accepted(&key, protocol::IntentId(n as u64))).unwrap();
        }
        drop(log);
        let mut file = OpenOptions::new().append(true).open(&path).unwrap();
        file.write_all(br#"{"agent":"a1","id":"torn"#).unwrap();
        let loaded = load(&path, &[a]).unwrap();
        assert!(loaded.torn_tail);
        assert_eq!(loaded.answers[&a].len(), REMEMBERED_PER_AGENT);
        assert!(matches!(&loaded.answers[&a][0], Restored::Answer { id: i, .. } if i.as_str() == "i3"));
        // A damaged line before the last is an error naming it.
        std::fs::write(&path, b"{nope\n{\"agent\":\"a1\",\"id\":\"x\",\"tombstone\":true}\n").unwrap();
        let err = load(&path, &[a]).unwrap_err().to_string();
        assert!(err.contains("line 1"), "{err}");
    }

    /// The cost of making one answer durable (a typical entry's body), printed:
    /// `cargo test -p actors --lib answer_log::tests::cost_per_answer -- --ignored --nocapture`.
    #[test]
    #[ignore = "a measurement, not a check"]
    fn cost_per_answer() {
        let path = dir("cost").join("state.answers");
        let a = AgentId::new("meanrev-1").unwrap();
        let body = json!({"type": "submit_intent", "intent_id": "mr1-20250101T120000-ETH-1", "agent_id": "meanrev-1",
            "symbol": "ETHUSD.s", "action": "enter_long", "qty": "0.03", "tp_pct": "0.5", "sl_pct": "0.3",
            "time_in_trade_limit_sec": 300, "cooldown_sec": 30, "valid_until_ns": 1735732805000000000u64,
            "thesis": "z-score -2.4 on the 1-minute mid"});
        let body = body.as_object().unwrap().clone();
        for (fsync, n) in [(false, 20_000u64), (true, 300)] {
            let (log, _) = AnswerLog::open(&path, &[a], fsync).unwrap();
            let started = std::time::Instant::now();
            for i in 0..n {
                let key = id(&format!("mr1-{i}"));
                log.answer(a, &key, &body, &IntentAnswer::accepted(&key, protocol::IntentId(i))).unwrap();
            }
            let per = started.elapsed() / u32::try_from(n).unwrap();
            let bytes = std::fs::metadata(&path).unwrap().len();
            println!("answer log, fsync={fsync}: {n} answers, {per:?} per answer, file {bytes} bytes");
        }
    }
}
