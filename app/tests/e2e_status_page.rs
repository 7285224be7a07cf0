//! The status page in a real browser: headless Chromium driven through chromedriver
//! (WebDriver) against a running engine on 127.0.0.1. The test reads the symbol table,
//! switches entries off with the page's switch (token typed into the page), checks that the
//! engine's flag changed and that no entry went out after it, and keeps a screenshot in the
//! test's output folder (`$CARGO_TARGET_TMPDIR/status-page.png`).
//!
//! Needs `/usr/bin/chromium` and `/usr/bin/chromedriver` (Debian's `chromium` and
//! `chromium-driver`; `scripts/test` and `.ci/run` install them). Without them the test
//! fails and says so; `ENGINE_SKIP_BROWSER_TESTS=1` skips it on purpose.

mod common;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::http_client::{engine_with_http, get};
use common::{free_port, names};
use fantoccini::{ClientBuilder, Locator};

const TOKEN: &str = "page-test-token-0123456789";
const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";

/// chromedriver, killed on drop.
struct Driver(Child);

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn start_driver(port: u16) -> Driver {
    let child = Command::new(CHROMEDRIVER)
        .arg(format!("--port={port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("chromedriver starts");
    let started = Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(started.elapsed() < Duration::from_secs(10), "chromedriver listens on {port}");
        std::thread::sleep(Duration::from_millis(50));
    }
    Driver(child)
}

fn api_status(http: SocketAddr) -> serde_json::Value {
    serde_json::from_str(&get(http, "/api/status").body).expect("status JSON")
}

/// Per symbol: orders so far, and whether it may still send one exit (a position open or
/// an order on the wire when entries were switched off).
fn orders_and_exposure(status: &serde_json::Value) -> HashMap<String, (u64, bool)> {
    status["symbols"]
        .as_array()
        .expect("symbols")
        .iter()
        .map(|s| {
            let exposed = s["position"] != "flat" || s["lock_held"] == true;
            (s["symbol"].as_str().unwrap_or_default().to_string(), (s["orders"].as_u64().unwrap_or(0), exposed))
        })
        .collect()
}

#[test]
fn the_page_shows_the_table_and_its_switch_stops_entries() {
    if std::env::var_os("ENGINE_SKIP_BROWSER_TESTS").is_some() {
        eprintln!("skipped: ENGINE_SKIP_BROWSER_TESTS is set");
        return;
    }
    for tool in [CHROMIUM, CHROMEDRIVER] {
        assert!(
            Path::new(tool).exists(),
            "{tool} is missing: install Debian's chromium and chromium-driver (scripts/test does), \
             or set ENGINE_SKIP_BROWSER_TESTS=1 to skip this test on purpose"
        );
    }
    let symbols = names(&["BTCUSD.s", "ETHUSD.s", "XAUUSD.s"]);
    let (engine, http) = engine_with_http(TOKEN, 12);
    let driver_port = free_port();
    let _driver = start_driver(driver_port);
    let profile = std::env::temp_dir().join(format!("page-test-profile-{}", std::process::id()));
    let screenshot = Path::new(env!("CARGO_TARGET_TMPDIR")).join("status-page.png");

    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let at_switch = runtime.block_on(async {
        let mut capabilities = serde_json::Map::new();
        capabilities.insert(
            "goog:chromeOptions".into(),
            serde_json::json!({
                "binary": CHROMIUM,
                "args": [
                    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                    "--disable-background-networking", "--disable-component-update", "--disable-sync",
                    "--window-size=1500,900", format!("--user-data-dir={}", profile.display()),
                ],
            }),
        );
        let client = ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
            .capabilities(capabilities)
            .connect(&format!("http://127.0.0.1:{driver_port}"))
            .await
            .expect("a WebDriver session");
        let started = Instant::now();
        while get(http, "/readyz").status != 200 {
            assert!(started.elapsed() < Duration::from_secs(5), "engine ready");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        client.goto(&format!("http://{http}/")).await.expect("open the page");

        // The table fills from the live stream: one row per symbol, with its state and orders.
        let updates = || async {
            let n = client.execute("return Number(document.body.dataset.updates || 0)", vec![]).await;
            n.ok().and_then(|v| v.as_u64()).unwrap_or(0)
        };
        while updates().await < 2 {
            assert!(started.elapsed() < Duration::from_secs(8), "the page receives live updates");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let rows = client.find_all(Locator::Css("#symbols tbody tr")).await.expect("rows");
        assert_eq!(rows.len(), 3, "one row per symbol");
        for symbol in &symbols {
            let row = client
                .find(Locator::Css(&format!("#symbols tbody tr[data-symbol=\"{symbol}\"]")))
                .await
                .expect("the symbol's row");
            let text = row.text().await.expect("row text");
            assert!(text.starts_with(symbol.as_str()), "row: {text}");
        }
        assert_eq!(
            client.find(Locator::Id("gateway")).await.unwrap().text().await.unwrap().split(' ').next(),
            Some("up")
        );

        // Switch entries off from the page, with the token typed in.
        client.find(Locator::Id("token")).await.unwrap().send_keys(TOKEN).await.unwrap();
        client.find(Locator::Id("who")).await.unwrap().send_keys("browser-test").await.unwrap();
        let switch = client.find(Locator::Id("global-entry_enabled")).await.unwrap();
        assert_eq!(switch.prop("checked").await.unwrap().as_deref(), Some("true"), "entries on at first");
        switch.click().await.expect("click the switch");
        let message = client.find(Locator::Id("message")).await.unwrap();
        while message.attr("data-ok").await.unwrap().is_none() {
            assert!(started.elapsed() < Duration::from_secs(10), "the change is answered");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert_eq!(
            message.attr("data-ok").await.unwrap().as_deref(),
            Some("true"),
            "{}",
            message.text().await.unwrap()
        );
        let at_switch = api_status(http);
        assert_eq!(at_switch["flags"]["entry_enabled"], false, "the engine's flag changed");

        // The page shows the change, and who made it, on its next update.
        let seen = updates().await;
        while updates().await < seen + 2 {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let changes = client.find(Locator::Id("changes")).await.unwrap().text().await.unwrap();
        assert!(changes.contains("entry_enabled false by browser-test: ok"), "{changes}");
        let png = client.screenshot().await.expect("screenshot");
        std::fs::write(&screenshot, png).expect("write the screenshot");
        let _ = client.close().await;
        orders_and_exposure(&at_switch)
    });
    let _ = std::fs::remove_dir_all(&profile);
    eprintln!("screenshot: {}", screenshot.display());

    // After the switch: no entry. A symbol that was flat with nothing on the wire sends
    // nothing; one with a position (or an order on the wire) sends at most its exit.
    let summary = engine.join().expect("engine thread");
    for row in &summary.symbols {
        let symbol = row.status.symbol.to_string();
        let (before, exposed) = at_switch[&symbol];
        let after = row.status.counters.orders - before;
        assert!(after <= u64::from(exposed), "{symbol}: {after} orders after entries were switched off");
    }
    assert!(summary.books_balance());
}
