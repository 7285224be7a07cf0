//! The committed replay fixtures load as documented: the folder's three symbols from a
//! symbol column and a HistData file name, the bad rows counted with their line numbers,
//! and the refused files refused with the file and line named.

use std::path::PathBuf;

use paper_gateway::replay::parse::Format;
use paper_gateway::replay::ReplayData;

fn data(path: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data").join(path)
}

#[test]
fn the_replay_folder_loads_both_formats_and_counts_bad_rows_by_line() {
    let replay = ReplayData::load(&[data("replay")]).expect("fixtures load");
    let symbols: Vec<String> = replay.symbols().iter().map(|s| s.to_string()).collect();
    assert_eq!(symbols, ["EURUSD", "GBPUSD", "USDJPY"]);
    assert_eq!(replay.ticks(), 800 + 800 + 400);
    let files = replay.files();
    let csv = files.iter().find(|f| f.format == Format::Csv).expect("the csv");
    assert_eq!(csv.bad.count, 3);
    assert_eq!(csv.bad.lines(), vec![102, 203, 304]);
    let hist = files.iter().find(|f| f.format == Format::HistData).expect("the histdata file");
    assert_eq!((hist.rows, hist.bad.count), (400, 0));
    // 09:30:00Z for the CSV; 04:30:00 EST (UTC−5) = 09:30:00Z for HistData.
    let (first, last) = replay.span().expect("a span");
    assert_eq!(first, 1_704_187_800_000_000_000);
    assert_eq!(last, 1_704_187_800_000_000_000 + 3_995_000_000);
    // Every symbol's times strictly increase (equal timestamps are spread by 1 ns).
    for (_, quotes) in replay.series() {
        assert!(quotes.windows(2).all(|w| w[0].ts_ns < w[1].ts_ns));
    }
}

#[test]
fn an_unsorted_file_and_an_unreadable_file_are_refused_naming_file_and_line() {
    let err = ReplayData::load(&[data("bad/unsorted.csv")]).expect_err("unsorted").to_string();
    assert!(err.contains("unsorted.csv line 4: not sorted by time"), "{err}");
    let err = ReplayData::load(&[data("bad/unreadable.csv")]).expect_err("unreadable").to_string();
    assert!(err.contains("unreadable.csv: no readable row (2 bad rows; first: line 2"), "{err}");
    // One refused file refuses the replay, even next to good ones.
    assert!(ReplayData::load(&[data("replay"), data("bad/unsorted.csv")]).is_err());
}
