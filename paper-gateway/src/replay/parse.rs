//! One recorded quote file to quotes: the format is detected from its first line (a CSV
//! header naming `timestamp`, `bid` and `ask`, optionally `symbol`; or a HistData ASCII
//! tick row `YYYYMMDD HHMMSSmmm,bid,ask,volume`). Liberal in layout (a UTF-8 BOM, CRLF,
//! blank lines, spaces around fields, quoted fields, `,` `;` or tab separators, extra
//! columns), strict in values: a row whose timestamp, prices or symbol cannot be read, or
//! whose bid is above its ask, is a bad row: skipped, counted and listed by line number. A
//! file whose readable rows go back in time, or that has no readable row, is refused.
//! Pure (text in, quotes out), so every rule is tested without a file.

use std::collections::BTreeMap;

use protocol::{Price, Symbol};

use super::timestamp::{looks_like_histdata, parse_histdata, parse_timestamp};
use super::{Quote, ReplayError};

/// How many bad rows a file report lists by line (all are counted).
pub const MAX_LISTED_BAD_ROWS: usize = 20;

/// The two formats.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// `timestamp,bid,ask[,symbol]` with a header.
    Csv,
    /// HistData ASCII ticks: `YYYYMMDD HHMMSSmmm,bid,ask,volume`, no header, EST (UTC−5).
    HistData,
}

impl Format {
    pub const fn as_str(self) -> &'static str {
        match self {
            Format::Csv => "csv",
            Format::HistData => "histdata",
        }
    }
}

/// A row that was skipped, and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BadRow {
    /// 1-based line number in the file.
    pub line: usize,
    pub reason: String,
}

/// Bad rows of a file: all counted, the first [`MAX_LISTED_BAD_ROWS`] listed.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct BadRows {
    pub count: u64,
    pub listed: Vec<BadRow>,
}

impl BadRows {
    fn add(&mut self, line: usize, reason: String) {
        self.count += 1;
        if self.listed.len() < MAX_LISTED_BAD_ROWS {
            self.listed.push(BadRow { line, reason });
        }
    }

    /// The line numbers listed.
    pub fn lines(&self) -> Vec<usize> {
        self.listed.iter().map(|b| b.line).collect()
    }
}

/// What one file held.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParsedFile {
    pub format: Format,
    /// Quotes per symbol, in file order (timestamps never go back).
    pub quotes: BTreeMap<Symbol, Vec<Quote>>,
    pub bad: BadRows,
}

impl ParsedFile {
    pub fn rows(&self) -> usize {
        self.quotes.values().map(Vec::len).sum()
    }
}

/// Which column holds what.
#[derive(Clone, Copy, Debug)]
struct Columns {
    timestamp: usize,
    bid: usize,
    ask: usize,
    symbol: Option<usize>,
}

/// Parses a file's bytes. `name` names the file in errors; `file_symbol` is the symbol its
/// name gives (used when there is no `symbol` column), or why its name gives none.
pub fn parse_file(name: &str, bytes: &[u8], file_symbol: Result<Symbol, String>) -> Result<ParsedFile, ReplayError> {
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    let mut lines = bytes.split(|b| *b == b'\n').enumerate().map(|(i, l)| (i + 1, l));
    let refuse = |line: usize, reason: String| ReplayError::File { file: name.to_string(), line, reason };
    // The first line with anything on it decides the format.
    let (first_no, first) = loop {
        let Some((no, raw)) = lines.next() else {
            return Err(refuse(0, "the file is empty".into()));
        };
        let Ok(text) = std::str::from_utf8(raw) else {
            return Err(refuse(no, "the first line is not UTF-8 text".into()));
        };
        if !text.trim().is_empty() {
            break (no, text.trim());
        }
    };
    let separator = [',', ';', '\t'].into_iter().find(|s| first.contains(*s)).unwrap_or(',');
    let (format, columns, first_row) = if looks_like_histdata(field(first.split(separator).next())) {
        (Format::HistData, Columns { timestamp: 0, bid: 1, ask: 2, symbol: None }, Some((first_no, first)))
    } else {
        (Format::Csv, header(first, separator).map_err(|reason| refuse(first_no, reason))?, None)
    };
    let symbol = match (columns.symbol, file_symbol) {
        (Some(_), _) => None,
        (None, Ok(symbol)) => Some(symbol),
        (None, Err(why)) => return Err(refuse(0, format!("no symbol column, and {why}"))),
    };
    let mut parsed = ParsedFile { format, quotes: BTreeMap::new(), bad: BadRows::default() };
    let mut last: Option<(usize, u64)> = None;
    // Each line as text, or `None` when it is not UTF-8 (a bad row).
    let rows = first_row
        .map(|(no, text)| (no, Some(text)))
        .into_iter()
        .chain(lines.map(|(no, raw)| (no, std::str::from_utf8(raw).ok().map(str::trim))));
    for (no, text) in rows {
        let Some(text) = text else {
            parsed.bad.add(no, "not UTF-8 text".into());
            continue;
        };
        if text.is_empty() {
            continue;
        }
        let row = match read_row(text, separator, columns, format, symbol) {
            Ok(row) => row,
            Err(reason) => {
                parsed.bad.add(no, reason);
                continue;
            }
        };
        if let Some((line, ts)) = last {
            if row.1.ts_ns < ts {
                return Err(refuse(
                    no,
                    format!("not sorted by time: this row is earlier than line {line}'s (sort the file, or split it)"),
                ));
            }
        }
        last = Some((no, row.1.ts_ns));
        parsed.quotes.entry(row.0).or_default().push(row.1);
    }
    if parsed.rows() == 0 {
        let first_bad =
            parsed.bad.listed.first().map_or(String::new(), |b| format!("; first: line {}: {}", b.line, b.reason));
        return Err(refuse(0, format!("no readable row ({} bad rows{first_bad})", parsed.bad.count)));
    }
    Ok(parsed)
}

/// A field with surrounding spaces and double quotes removed.
fn field(text: Option<&str>) -> &str {
    let t = text.unwrap_or("").trim();
    t.strip_prefix('"').and_then(|t| t.strip_suffix('"')).map_or(t, str::trim)
}

/// The CSV header: `timestamp`, `bid` and `ask` required, `symbol` optional, others ignored.
fn header(line: &str, separator: char) -> Result<Columns, String> {
    let (mut timestamp, mut bid, mut ask, mut symbol) = (None, None, None, None);
    for (i, name) in line.split(separator).enumerate() {
        let slot = match field(Some(name)).to_ascii_lowercase().as_str() {
            "timestamp" => &mut timestamp,
            "bid" => &mut bid,
            "ask" => &mut ask,
            "symbol" => &mut symbol,
            _ => continue,
        };
        if slot.replace(i).is_some() {
            return Err(format!("the header names {:?} twice", field(Some(name))));
        }
    }
    match (timestamp, bid, ask) {
        (Some(timestamp), Some(bid), Some(ask)) => Ok(Columns { timestamp, bid, ask, symbol }),
        _ => Err(format!(
            "the first line is neither a CSV header with timestamp, bid and ask (optionally symbol) nor a HistData tick row (YYYYMMDD HHMMSSmmm,bid,ask,volume): {:?}",
            line.chars().take(80).collect::<String>()
        )),
    }
}

/// One data row, or why it is bad.
fn read_row(
    text: &str,
    separator: char,
    columns: Columns,
    format: Format,
    file_symbol: Option<Symbol>,
) -> Result<(Symbol, Quote), String> {
    let fields: Vec<&str> = text.split(separator).map(|f| field(Some(f))).collect();
    let get = |i: usize, what: &str| fields.get(i).copied().ok_or_else(|| format!("no {what} column"));
    let ts_text = get(columns.timestamp, "timestamp")?;
    let ts_ns = match format {
        Format::Csv => parse_timestamp(ts_text)?,
        Format::HistData => parse_histdata(ts_text)?,
    };
    let price = |i: usize, what: &str| -> Result<Price, String> {
        let text = get(i, what)?;
        let price: Price = text.parse().map_err(|e| format!("{what} {text:?}: {e}"))?;
        if price.is_zero() {
            return Err(format!("{what} {text:?} is not positive"));
        }
        Ok(price)
    };
    let (bid, ask) = (price(columns.bid, "bid")?, price(columns.ask, "ask")?);
    if bid > ask {
        return Err(format!("bid {bid} is above ask {ask}"));
    }
    let symbol = match (columns.symbol, file_symbol) {
        (Some(i), _) => {
            let text = get(i, "symbol")?;
            Symbol::new(text).map_err(|e| format!("symbol: {e}"))?
        }
        (None, Some(symbol)) => symbol,
        (None, None) => return Err("no symbol".into()),
    };
    Ok((symbol, Quote { ts_ns, bid, ask }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn sym(s: &str) -> Symbol {
        Symbol::new(s).unwrap()
    }

    fn parse(text: &str) -> Result<ParsedFile, ReplayError> {
        parse_file("test.csv", text.as_bytes(), Ok(sym("EURUSD")))
    }

    fn refused_at(result: Result<ParsedFile, ReplayError>) -> (usize, String) {
        match result {
            Err(ReplayError::File { line, reason, .. }) => (line, reason),
            other => panic!("expected a refusal, got {other:?}"),
        }
    }

    #[test]
    fn csv_with_bom_crlf_spaces_and_extra_columns() {
        let text = "\u{FEFF}Timestamp , BID,ask,volume\r\n\r\n2024-01-01T00:00:00Z, 1.1 ,\"1.2\",5\r\n1704067201,1.1,1.3,0\r\n";
        let p = parse(text).unwrap();
        assert_eq!(p.format, Format::Csv);
        let q = &p.quotes[&sym("EURUSD")];
        assert_eq!(q.len(), 2);
        assert_eq!(q[1].ts_ns, 1_704_067_201_000_000_000);
        assert_eq!(q[0].ask, "1.2".parse().unwrap());
        assert_eq!(p.bad.count, 0);
    }

    #[test]
    fn bad_rows_are_skipped_counted_and_listed_by_line() {
        let text = "timestamp,bid,ask\n\
                    1704067200,1.1,1.2\n\
                    1704067201,1.3,1.2\n\
                    1704067202,0,1.2\n\
                    1704067203,NaN,1.2\n\
                    1704067204,-1.1,1.2\n\
                    yesterday,1.1,1.2\n\
                    1704067205,1.1\n\
                    1704067206,1.1,1.2\n";
        let p = parse(text).unwrap();
        assert_eq!(p.rows(), 2);
        assert_eq!(p.bad.count, 6);
        assert_eq!(p.bad.lines(), vec![3, 4, 5, 6, 7, 8]);
        assert!(p.bad.listed[0].reason.contains("above ask"), "{:?}", p.bad.listed[0]);
        assert!(p.bad.listed[1].reason.contains("not positive"));
    }

    #[test]
    fn a_symbol_column_splits_the_file_and_a_bad_symbol_is_a_bad_row() {
        let text = "symbol,timestamp,bid,ask\nAAA,1,1,2\nBBB,2,3,4\nBTC/USDT,3,1,2\nAAA,4,1,2\n";
        let p = parse_file("x.csv", text.as_bytes(), Err("no name".into())).unwrap();
        assert_eq!(p.quotes[&sym("AAA")].len(), 2);
        assert_eq!(p.quotes[&sym("BBB")].len(), 1);
        assert_eq!(p.bad.lines(), vec![4]);
    }

    #[test]
    fn histdata_rows_without_header() {
        let text = "20240102 170000123,1.10350,1.10380,0\n20240102 170000500,1.10351,1.10381,0\n";
        let p = parse(text).unwrap();
        assert_eq!(p.format, Format::HistData);
        let q = &p.quotes[&sym("EURUSD")];
        assert_eq!(q[0].ts_ns, super::super::timestamp::parse_iso8601("2024-01-02T22:00:00.123Z").unwrap());
        // Semicolons too.
        let p = parse("20240102 170000123;1.1;1.2;0\n").unwrap();
        assert_eq!(p.rows(), 1);
    }

    #[test]
    fn an_unsorted_file_is_refused_at_the_line_that_goes_back() {
        let text = "timestamp,bid,ask\n10,1,2\n12,1,2\nbad,1,2\n11,1,2\n";
        let (line, reason) = refused_at(parse(text));
        assert_eq!(line, 5);
        assert!(reason.contains("line 3"), "{reason}");
        // Equal timestamps are not a disorder.
        assert!(parse("timestamp,bid,ask\n10,1,2\n10,1,2\n").is_ok());
    }

    #[test]
    fn a_file_with_no_readable_row_is_refused() {
        let (line, reason) = refused_at(parse("timestamp,bid,ask\nx,1,2\n5,2,1\n"));
        assert_eq!(line, 0);
        assert!(reason.contains("no readable row (2 bad rows; first: line 2"), "{reason}");
        let (_, reason) = refused_at(parse(""));
        assert!(reason.contains("empty"));
        let (line, reason) = refused_at(parse("time,price\n1,2\n"));
        assert_eq!(line, 1);
        assert!(reason.contains("neither a CSV header"), "{reason}");
    }

    #[test]
    fn without_a_symbol_column_the_file_name_must_give_one() {
        let result = parse_file("q.csv", b"timestamp,bid,ask\n1,1,2\n", Err("its name \"a b\" is not a symbol".into()));
        let (_, reason) = refused_at(result);
        assert!(reason.contains("no symbol column, and its name"), "{reason}");
    }

    #[test]
    fn listing_is_bounded_but_counting_is_not() {
        let mut text = String::from("timestamp,bid,ask\n1,1,2\n");
        for _ in 0..100 {
            text.push_str("x,1,2\n");
        }
        let p = parse(&text).unwrap();
        assert_eq!(p.bad.count, 100);
        assert_eq!(p.bad.listed.len(), MAX_LISTED_BAD_ROWS);
    }

    proptest! {
        /// Any bytes after a valid header: never a panic; every non-blank line is either a
        /// quote or a counted bad row (or the file is refused as unsorted / unreadable).
        #[test]
        fn any_lines_never_panic(lines in proptest::collection::vec(any::<Vec<u8>>(), 0..20)) {
            let mut text = b"timestamp,bid,ask\n".to_vec();
            for l in &lines {
                text.extend(l.iter().filter(|b| **b != b'\n'));
                text.push(b'\n');
            }
            if let Ok(p) = parse_file("p.csv", &text, Ok(sym("P"))) {
                prop_assert!(p.rows() as u64 + p.bad.count <= lines.len() as u64);
            }
        }

        /// Plausible rows: every accepted quote has 0 < bid <= ask.
        #[test]
        fn accepted_quotes_are_sane(rows in proptest::collection::vec((0u64..3_000_000_000, "[-0-9.a]{1,8}", "[-0-9.a]{1,8}"), 1..20)) {
            let mut sorted = rows.clone();
            sorted.sort_by_key(|r| r.0);
            let mut text = String::from("timestamp,bid,ask\n");
            for (ts, bid, ask) in &sorted {
                text.push_str(&format!("{ts},{bid},{ask}\n"));
            }
            if let Ok(p) = parse(&text) {
                for q in p.quotes.values().flatten() {
                    prop_assert!(!q.bid.is_zero() && q.bid <= q.ask);
                }
            }
        }
    }
}
