//! `StateStore`: keeps the latest durable state of every symbol (position and cooldowns)
//! and writes it to one JSON file on its own thread: when something changed, at most every
//! [`write_interval`] (200 ms, longer past 1,000 symbols: each write serializes every
//! symbol, so the interval grows with their number and the store's CPU stays flat), and on
//! `FlushState`. The write-ahead journal (`crate::journal`), not this file, is what makes
//! each change durable before the next order. Writes are atomic (temporary file, then rename), so a crash
//! leaves the previous complete file. At start the engine loads it, restores each symbol,
//! and reconciles against the gateway before trading.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use actix::prelude::*;
use engine::symbol_core::DurableSymbol;
use protocol::Symbol;
use serde::{Deserialize, Serialize};
use tracing::{error, warn};

/// The file's content.
#[derive(Debug, Default, Serialize, Deserialize)]
struct StateFile {
    version: u32,
    symbols: BTreeMap<String, DurableSymbol>,
}

const VERSION: u32 = 1;

/// Reads a state file. A missing file is an empty state; a damaged one is an error that
/// names the file (the engine then refuses to start rather than trade blind).
pub fn load(path: &Path) -> Result<BTreeMap<Symbol, DurableSymbol>, String> {
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(BTreeMap::new()),
        Err(e) => return Err(format!("{}: {e}", path.display())),
    };
    let file: StateFile = serde_json::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))?;
    if file.version != VERSION {
        return Err(format!("{}: state version {} (this engine reads {VERSION})", path.display(), file.version));
    }
    file.symbols
        .into_iter()
        .map(|(name, state)| Symbol::new(&name).map(|s| (s, state)).map_err(|e| format!("{}: {e}", path.display())))
        .collect()
}

/// symbol → store: this symbol's durable state now.
#[derive(Message, Clone, Copy, Debug)]
#[rtype(result = "()")]
pub struct SaveSymbolState {
    pub symbol: Symbol,
    pub state: DurableSymbol,
}

/// Write now (shutdown); answers whether the file was written.
#[derive(Message)]
#[rtype(result = "Result<(), String>")]
pub struct FlushState;

/// How often a changed state is written for this many symbols: 200 ms up to 1,000 symbols,
/// then 0.2 ms per symbol (2 s at 10,000).
pub fn write_interval(symbols: usize) -> Duration {
    const PER_SYMBOL: Duration = Duration::from_micros(200);
    PER_SYMBOL.saturating_mul(u32::try_from(symbols).unwrap_or(u32::MAX)).max(Duration::from_millis(200))
}

pub struct StateStore {
    path: PathBuf,
    /// See [`write_interval`].
    every: Duration,
    latest: BTreeMap<Symbol, DurableSymbol>,
    /// Since when the newest states wait unwritten (`None`: the file is up to date).
    dirty_since: Option<std::time::Instant>,
}

/// How long the newest durable states have waited unwritten (zero: the file is current).
#[derive(Message)]
#[rtype(result = "Duration")]
pub struct GetStateLag;

impl StateStore {
    /// Starts from what was loaded, so symbols that never change keep their entry.
    pub fn new(path: PathBuf, loaded: BTreeMap<Symbol, DurableSymbol>) -> StateStore {
        StateStore { path, every: write_interval(loaded.len()), latest: loaded, dirty_since: None }
    }

    /// Sizes the write interval for this many symbols (see [`write_interval`]).
    pub fn for_symbols(mut self, symbols: usize) -> StateStore {
        self.every = write_interval(symbols.max(self.latest.len()));
        self
    }

    fn mark_dirty(&mut self) {
        self.dirty_since.get_or_insert_with(std::time::Instant::now);
    }

    fn write(&mut self) -> Result<(), String> {
        let file =
            StateFile { version: VERSION, symbols: self.latest.iter().map(|(s, st)| (s.to_string(), *st)).collect() };
        let text = serde_json::to_string_pretty(&file).map_err(|e| e.to_string())?;
        if let Some(dir) = self.path.parent() {
            std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        }
        let tmp = self.path.with_extension("json.tmp");
        std::fs::write(&tmp, text).map_err(|e| format!("{}: {e}", tmp.display()))?;
        std::fs::rename(&tmp, &self.path).map_err(|e| format!("{}: {e}", self.path.display()))?;
        self.dirty_since = None;
        Ok(())
    }
}

impl Actor for StateStore {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        ctx.run_interval(self.every, |act, _| {
            if act.dirty_since.is_some() {
                if let Err(e) = act.write() {
                    error!(target: "state", error = %e, "STATE_WRITE_FAILED: durable state not saved");
                }
            }
        });
    }

    fn stopped(&mut self, _: &mut Context<Self>) {
        if self.dirty_since.is_some() {
            if let Err(e) = self.write() {
                warn!(target: "state", error = %e, "durable state not saved at stop");
            }
        }
    }
}

impl Handler<SaveSymbolState> for StateStore {
    type Result = ();
    fn handle(&mut self, msg: SaveSymbolState, _: &mut Context<Self>) {
        if self.latest.insert(msg.symbol, msg.state) != Some(msg.state) {
            self.mark_dirty();
        }
    }
}

/// A shard's batch of latest states.
impl Handler<crate::outbox::SaveStates> for StateStore {
    type Result = ();
    fn handle(&mut self, msg: crate::outbox::SaveStates, _: &mut Context<Self>) {
        for (symbol, state) in msg.states {
            if self.latest.insert(symbol, state) != Some(state) {
                self.mark_dirty();
            }
        }
    }
}

impl Handler<GetStateLag> for StateStore {
    type Result = MessageResult<GetStateLag>;
    fn handle(&mut self, _: GetStateLag, _: &mut Context<Self>) -> Self::Result {
        MessageResult(self.dirty_since.map_or(Duration::ZERO, |since| since.elapsed()))
    }
}

impl Handler<FlushState> for StateStore {
    type Result = Result<(), String>;
    fn handle(&mut self, _: FlushState, _: &mut Context<Self>) -> Self::Result {
        self.write()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use engine::book::Position;
    use engine::Direction;

    #[test]
    fn the_write_interval_grows_with_the_symbols_past_a_thousand() {
        assert_eq!(write_interval(0), Duration::from_millis(200));
        assert_eq!(write_interval(1_000), Duration::from_millis(200));
        assert_eq!(write_interval(2_000), Duration::from_millis(400));
        assert_eq!(write_interval(10_000), Duration::from_secs(2));
        assert_eq!(
            StateStore::new(PathBuf::from("x"), BTreeMap::new()).for_symbols(5_000).every,
            Duration::from_secs(1)
        );
    }

    #[test]
    fn round_trips_and_refuses_damage() {
        let dir = std::env::temp_dir().join(format!("state-test-{}", std::process::id()));
        let path = dir.join("engine-state.json");
        assert!(load(&path).unwrap().is_empty(), "missing file = empty state");
        let symbol = Symbol::new("BTCUSD.s").unwrap();
        let state = DurableSymbol {
            position: Some(Position {
                direction: Direction::Short,
                qty: "0.5".parse().unwrap(),
                cost: "50000.12345678".parse().unwrap(),
            }),
            cooldowns: Default::default(),
            pending: None,
        };
        let mut store = StateStore::new(path.clone(), BTreeMap::new());
        store.latest.insert(symbol, state);
        store.write().unwrap();
        assert_eq!(load(&path).unwrap().get(&symbol), Some(&state));
        std::fs::write(&path, "{ not json").unwrap();
        assert!(load(&path).unwrap_err().contains("engine-state.json"));
        std::fs::write(&path, r#"{"version": 9, "symbols": {}}"#).unwrap();
        assert!(load(&path).unwrap_err().contains("version 9"));
        let _ = std::fs::remove_dir_all(dir);
    }
}
