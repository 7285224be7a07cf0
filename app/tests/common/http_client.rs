//! A minimal blocking HTTP/1.1 client for the end-to-end tests of the engine's HTTP server
//! (one request per connection, `Connection: close`; std only), and a main job started with
//! its HTTP server and a control token.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

/// A response: status code and body text.
#[derive(Debug)]
pub struct Response {
    pub status: u16,
    pub body: String,
}

/// Starts the main job on the three default symbols for `secs`, with the HTTP server on a
/// free loopback port and a control token: (the job's thread, the HTTP address).
pub fn engine_with_http(
    token: &str,
    secs: u64,
) -> (std::thread::JoinHandle<engine_app::main_job::JobSummary>, SocketAddr) {
    let http: SocketAddr = format!("127.0.0.1:{}", super::free_port()).parse().expect("an address");
    let mut config = super::fast_config(&super::names(&["BTCUSD.s", "ETHUSD.s", "XAUUSD.s"]));
    config.http = Some(http);
    config.control = Some(actors::control::ControlSettings {
        bind: format!("tcp://127.0.0.1:{}", super::free_port()),
        token: Some(actors::control::ControlToken::new(token).expect("a valid token")),
    });
    let options = engine_app::main_job::JobOptions::new(config, Some(Duration::from_secs(secs)));
    let engine = std::thread::spawn(move || engine_app::main_job::run(options).expect("job runs"));
    (engine, http)
}

/// Sends one request; `headers` are extra header lines (`("Authorization", "Bearer ...")`).
pub fn request(addr: SocketAddr, method: &str, path: &str, headers: &[(&str, &str)], body: &str) -> Response {
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(2)).expect("connect to the HTTP server");
    stream.set_read_timeout(Some(Duration::from_secs(10))).expect("timeout");
    let mut head = format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    for (name, value) in headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    if !body.is_empty() || method == "POST" {
        head.push_str(&format!("Content-Type: application/json\r\nContent-Length: {}\r\n", body.len()));
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes()).and_then(|_| stream.write_all(body.as_bytes())).expect("send");
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).expect("read the response");
    let text = String::from_utf8_lossy(&raw).to_string();
    let (head, body) = text.split_once("\r\n\r\n").expect("a response head");
    let status = head.split_whitespace().nth(1).and_then(|s| s.parse().ok()).expect("a status code");
    let chunked = head.to_ascii_lowercase().contains("transfer-encoding: chunked");
    Response { status, body: if chunked { dechunk(body) } else { body.to_string() } }
}

pub fn get(addr: SocketAddr, path: &str) -> Response {
    request(addr, "GET", path, &[], "")
}

/// A chunked body, joined.
fn dechunk(mut body: &str) -> String {
    let mut out = String::new();
    while let Some((size, rest)) = body.split_once("\r\n") {
        let Ok(n) = usize::from_str_radix(size.trim(), 16) else { break };
        if n == 0 || rest.len() < n {
            break;
        }
        out.push_str(&rest[..n]);
        body = rest[n..].trim_start_matches("\r\n");
    }
    out
}

/// The value of one series in Prometheus text (`name{labels}` exactly as written).
pub fn metric(text: &str, series: &str) -> Option<f64> {
    text.lines().find_map(|line| line.strip_prefix(series)?.strip_prefix(' ')?.trim().parse().ok())
}
