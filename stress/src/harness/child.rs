//! The gateway as a separate process: the stress binary runs itself as `stress gateway ...`,
//! waits for its `READY` line, and stops it by closing its standard input (it then writes
//! its ledger dump and exits). A restart reuses the same endpoints and journal. Its
//! `REPLAY_DONE` line (a replay published its last tick) is watched for.

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context};

/// A running gateway child.
pub struct GatewayChild {
    child: Child,
    stdin: Option<ChildStdin>,
    pub orders: String,
    pub market_data: String,
    dump: PathBuf,
    /// Set when the child prints `REPLAY_DONE` (its replay published its last tick).
    replay_done: Arc<AtomicBool>,
}

/// Starts `stress gateway <args>`; `args` must not contain the endpoint, journal or dump flags.
pub fn spawn(
    args: &[String],
    orders: &str,
    market_data: &str,
    journal: &Path,
    dump: &Path,
    log: &Path,
) -> anyhow::Result<GatewayChild> {
    let exe = std::env::current_exe().context("locating the stress binary")?;
    let mut child = Command::new(exe)
        .arg("gateway")
        .args(args)
        .args(["--orders", orders, "--market-data", market_data, "--stop-on-stdin-eof"])
        .arg("--journal")
        .arg(journal)
        .arg("--dump-ledger")
        .arg(dump)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .context("starting the gateway process")?;
    let stdout = child.stdout.take().ok_or_else(|| anyhow!("no gateway stdout"))?;
    let mut reader = BufReader::new(stdout);
    let mut line = String::new();
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        line.clear();
        if reader.read_line(&mut line).context("reading the gateway's output")? == 0 {
            bail!("the gateway process exited before it was ready");
        }
        if line.starts_with("READY") {
            break;
        }
        if Instant::now() > deadline {
            bail!("the gateway process did not become ready");
        }
    }
    let field = |name: &str| line.split_whitespace().find_map(|w| w.strip_prefix(name)).map(str::to_string);
    let (orders, market_data) = (
        field("orders=").ok_or_else(|| anyhow!("bad READY line {line:?}"))?,
        field("market_data=").unwrap_or_default(),
    );
    // Keep draining the child's output into a log file so it never blocks on a full pipe.
    let mut log = std::fs::OpenOptions::new().create(true).append(true).open(log).context("gateway log")?;
    let replay_done = Arc::new(AtomicBool::new(false));
    let done = Arc::clone(&replay_done);
    std::thread::spawn(move || {
        for l in reader.lines().map_while(Result::ok) {
            if l.starts_with("REPLAY_DONE") {
                done.store(true, Ordering::Release);
            }
            let _ = writeln!(log, "{l}");
        }
    });
    let stdin = child.stdin.take();
    Ok(GatewayChild { child, stdin, orders, market_data, dump: dump.to_path_buf(), replay_done })
}

impl GatewayChild {
    /// Set once the child's replay has published its last tick (`REPLAY_DONE`).
    pub fn replay_done(&self) -> Arc<AtomicBool> {
        Arc::clone(&self.replay_done)
    }

    /// Stops the child and returns its ledger dump.
    pub fn stop(mut self) -> anyhow::Result<serde_json::Value> {
        drop(self.stdin.take());
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if self.child.try_wait()?.is_some() {
                break;
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                let _ = self.child.wait();
                bail!("the gateway process did not stop; killed");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let text = std::fs::read_to_string(&self.dump).with_context(|| format!("reading {}", self.dump.display()))?;
        serde_json::from_str(&text).context("parsing the gateway's ledger dump")
    }
}

impl Drop for GatewayChild {
    fn drop(&mut self) {
        if self.stdin.is_some() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}
