//! The files of a replay, loaded: `--replay` paths (files, or folders whose files are all
//! taken, in name order) parsed, their quotes merged per symbol in time order. A symbol
//! comes from the file's `symbol` column or else from its name (the name without its
//! extension; for HistData's `DAT_ASCII_EURUSD_T_202401.csv`, `EURUSD`). Equal timestamps
//! of one symbol are spread 1 ns apart (each later one at least 1 ns after the one before),
//! so every tick has its own instant on the data clock and an order's time names exactly
//! one quote. Everything is held in memory (24 bytes per tick), within fixed limits.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use protocol::Symbol;

use super::parse::{parse_file, BadRows, Format, ParsedFile};
use super::{Quote, ReplayError};

/// Most ticks a replay holds (about 1.2 GB).
pub const MAX_TICKS: usize = 50_000_000;
/// Largest file read.
pub const MAX_FILE_BYTES: u64 = 2 << 30;
/// Most files a replay takes.
pub const MAX_FILES: usize = 10_000;

/// What one file gave.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FileReport {
    pub path: PathBuf,
    pub format: Format,
    pub rows: usize,
    pub bad: BadRows,
}

/// Every symbol's recorded quotes, in time order, strictly increasing per symbol.
#[derive(Clone, Debug, Default)]
pub struct ReplayData {
    series: BTreeMap<Symbol, Vec<Quote>>,
    files: Vec<FileReport>,
}

impl ReplayData {
    /// Loads every file (folders expanded). The first file that cannot be used stops it,
    /// with an error naming the file and, where there is one, the line.
    pub fn load(paths: &[PathBuf]) -> Result<ReplayData, ReplayError> {
        let mut parsed = Vec::new();
        for path in expand(paths)? {
            let name = path.display().to_string();
            let io = |e: std::io::Error| ReplayError::Path { path: name.clone(), reason: e.to_string() };
            let size = std::fs::metadata(&path).map_err(io)?.len();
            if size > MAX_FILE_BYTES {
                return Err(ReplayError::Path { path: name, reason: format!("{size} bytes is over {MAX_FILE_BYTES}") });
            }
            let bytes = std::fs::read(&path).map_err(io)?;
            let file = parse_file(&name, &bytes, symbol_from_name(&path))?;
            parsed.push((path, file));
        }
        ReplayData::merge(parsed)
    }

    /// Merges parsed files: per symbol, in time order (a stable merge: equal timestamps
    /// keep file order), then spread so that timestamps strictly increase.
    pub fn merge(files: Vec<(PathBuf, ParsedFile)>) -> Result<ReplayData, ReplayError> {
        let total: usize = files.iter().map(|(_, f)| f.rows()).sum();
        if total > MAX_TICKS {
            let path = files.first().map_or(String::new(), |(p, _)| p.display().to_string());
            return Err(ReplayError::Path { path, reason: format!("{total} ticks is over {MAX_TICKS}") });
        }
        let mut data = ReplayData::default();
        for (path, file) in files {
            data.files.push(FileReport { path, format: file.format, rows: file.rows(), bad: file.bad });
            for (symbol, quotes) in file.quotes {
                data.series.entry(symbol).or_default().extend(quotes);
            }
        }
        for quotes in data.series.values_mut() {
            quotes.sort_by_key(|q| q.ts_ns);
            let mut previous: Option<u64> = None;
            for q in quotes.iter_mut() {
                if let Some(p) = previous {
                    q.ts_ns = q.ts_ns.max(p.saturating_add(1));
                }
                previous = Some(q.ts_ns);
            }
        }
        Ok(data)
    }

    pub fn symbols(&self) -> Vec<Symbol> {
        self.series.keys().copied().collect()
    }

    /// Every symbol's quotes, in symbol order.
    pub fn series(&self) -> impl Iterator<Item = (&Symbol, &[Quote])> {
        self.series.iter().map(|(s, q)| (s, q.as_slice()))
    }

    pub fn files(&self) -> &[FileReport] {
        &self.files
    }

    pub fn ticks(&self) -> u64 {
        self.series.values().map(|q| q.len() as u64).sum()
    }

    /// First and last timestamp over every symbol.
    pub fn span(&self) -> Option<(u64, u64)> {
        let first = self.series.values().filter_map(|q| q.first()).map(|q| q.ts_ns).min()?;
        let last = self.series.values().filter_map(|q| q.last()).map(|q| q.ts_ns).max()?;
        Some((first, last))
    }

    pub fn bad_rows(&self) -> u64 {
        self.files.iter().map(|f| f.bad.count).sum()
    }

    /// One line per file (format, rows, bad rows) at INFO, and each listed bad row at WARN.
    pub fn log_report(&self) {
        for f in &self.files {
            let file = f.path.display().to_string();
            tracing::info!(target: "replay", file = %file, format = f.format.as_str(), rows = f.rows, bad_rows = f.bad.count, "REPLAY_FILE");
            for b in &f.bad.listed {
                tracing::warn!(target: "replay", file = %file, line = b.line, reason = %b.reason, "REPLAY_BAD_ROW: skipped");
            }
            if f.bad.count > f.bad.listed.len() as u64 {
                tracing::warn!(target: "replay", file = %file, more = f.bad.count - f.bad.listed.len() as u64, "REPLAY_BAD_ROW: more bad rows skipped (counted, not listed)");
            }
        }
    }
}

/// Files of the given paths: a file as given, a folder's visible regular files in name
/// order. Repeats are taken once.
fn expand(paths: &[PathBuf]) -> Result<Vec<PathBuf>, ReplayError> {
    let mut out: Vec<PathBuf> = Vec::new();
    for path in paths {
        let err = |reason: String| ReplayError::Path { path: path.display().to_string(), reason };
        let meta = std::fs::metadata(path).map_err(|e| err(e.to_string()))?;
        let mut found = if meta.is_dir() {
            let mut files: Vec<PathBuf> = std::fs::read_dir(path)
                .map_err(|e| err(e.to_string()))?
                .filter_map(Result::ok)
                .filter(|e| e.file_type().is_ok_and(|t| t.is_file()))
                .filter(|e| !e.file_name().to_string_lossy().starts_with('.'))
                .map(|e| e.path())
                .collect();
            files.sort();
            if files.is_empty() {
                return Err(err("the folder holds no file".into()));
            }
            files
        } else {
            vec![path.clone()]
        };
        found.retain(|f| !out.contains(f));
        out.extend(found);
        if out.len() > MAX_FILES {
            return Err(err(format!("more than {MAX_FILES} files")));
        }
    }
    if out.is_empty() {
        return Err(ReplayError::Path { path: String::new(), reason: "no file given".into() });
    }
    Ok(out)
}

/// The symbol a file's name gives, or why it gives none.
pub fn symbol_from_name(path: &Path) -> Result<Symbol, String> {
    let stem = path.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
    let name = stem
        .strip_prefix("DAT_ASCII_")
        .and_then(|rest| rest.split_once("_T_").map(|(symbol, _)| symbol.to_string()))
        .unwrap_or(stem);
    Symbol::new(&name).map_err(|e| format!("the file name gives no symbol: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q(ts_ns: u64) -> Quote {
        Quote { ts_ns, bid: "1".parse().unwrap(), ask: "2".parse().unwrap() }
    }

    fn file(symbol: &str, ts: &[u64]) -> ParsedFile {
        let quotes = ts.iter().map(|t| q(*t)).collect();
        ParsedFile {
            format: Format::Csv,
            quotes: [(Symbol::new(symbol).unwrap(), quotes)].into_iter().collect(),
            bad: BadRows::default(),
        }
    }

    #[test]
    fn symbols_from_file_names() {
        let s = |p: &str| symbol_from_name(Path::new(p)).map(|s| s.to_string());
        assert_eq!(s("/x/DAT_ASCII_EURUSD_T_202401.csv").unwrap(), "EURUSD");
        assert_eq!(s("BTCUSD.s.csv").unwrap(), "BTCUSD.s");
        assert_eq!(s("ticks/XAUUSD").unwrap(), "XAUUSD");
        let err = s("my quotes.csv").unwrap_err();
        assert!(err.contains("\"my quotes\""), "{err}");
    }

    #[test]
    fn files_merge_in_time_order_and_equal_times_are_spread() {
        let a = (PathBuf::from("a"), file("X", &[10, 20, 20, 20, 21]));
        let b = (PathBuf::from("b"), file("X", &[15, 30]));
        let data = ReplayData::merge(vec![a, b]).unwrap();
        let (_, quotes) = data.series().next().unwrap();
        let ts: Vec<u64> = quotes.iter().map(|q| q.ts_ns).collect();
        assert_eq!(ts, vec![10, 15, 20, 21, 22, 23, 30]);
        assert_eq!(data.span(), Some((10, 30)));
        assert_eq!(data.ticks(), 7);
    }

    #[test]
    fn missing_paths_and_empty_folders_are_refused_by_name() {
        let err = ReplayData::load(&[PathBuf::from("/nonexistent/q.csv")]).unwrap_err().to_string();
        assert!(err.contains("/nonexistent/q.csv"), "{err}");
        let dir = std::env::temp_dir().join(format!("replay-empty-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let err = ReplayData::load(std::slice::from_ref(&dir)).unwrap_err().to_string();
        assert!(err.contains("holds no file"), "{err}");
        let _ = std::fs::remove_dir(&dir);
    }
}
