//! In-test servers that resident notices are sent to (included with `#[path]`): [`SmtpSink`], a
//! minimal real SMTP server that keeps every mail, and [`HttpSink`], an HTTP server that keeps every
//! POST (an SMS gateway). Both listen on an ephemeral loopback port and live as long as the test's
//! runtime.
#![allow(dead_code)]
use base64::Engine as _;
use std::sync::atomic::{AtomicU16, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};

/// Waits (polling every 20 ms) until `count()` reaches `n`, then returns `get()`; panics after
/// `timeout`, naming `what`.
async fn poll_until<T>(what: &str, n: usize, timeout: Duration, get: impl Fn() -> Vec<T>) -> Vec<T> {
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        let got = get();
        if got.len() >= n {
            return got;
        }
        if tokio::time::Instant::now() >= deadline {
            panic!("{what}: expected at least {n} within {timeout:?}, got {}", got.len());
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

// ---------------------------------------------------------------------------------------------
// SMTP

/// One mail the SMTP sink accepted.
#[derive(Debug, Clone)]
pub struct Mail {
    /// The envelope's sender (`MAIL FROM`), without the angle brackets.
    pub from: String,
    /// The envelope's recipients (`RCPT TO`), without the angle brackets.
    pub to: Vec<String>,
    /// The message as sent after `DATA` (headers, blank line, body; CRLF line ends), un-dot-stuffed,
    /// without the terminating `.` line.
    pub data: String,
}

impl Mail {
    /// The header section and the body, split at the first blank line.
    fn parts(&self) -> (&str, &str) {
        self.data.split_once("\r\n\r\n").unwrap_or((self.data.as_str(), ""))
    }

    /// The raw (still RFC 2047-encoded) value of the first header `name` (case-insensitive),
    /// unfolded and trimmed.
    pub fn header(&self, name: &str) -> Option<String> {
        let (head, _) = self.parts();
        let mut unfolded: Vec<String> = Vec::new();
        for line in head.split("\r\n") {
            match unfolded.last_mut() {
                Some(last) if line.starts_with([' ', '\t']) => last.push_str(line),
                _ => unfolded.push(line.to_string()),
            }
        }
        unfolded.iter().find_map(|line| {
            let (n, v) = line.split_once(':')?;
            n.trim().eq_ignore_ascii_case(name).then(|| v.trim().to_string())
        })
    }

    /// The `Subject`, with RFC 2047 encoded words (`=?utf-8?b?…?=`, `=?utf-8?q?…?=`) decoded.
    pub fn subject(&self) -> Option<String> {
        self.header("Subject").map(|s| decode_rfc2047(&s))
    }

    /// The body as the sender wrote it: `Content-Transfer-Encoding` (quoted-printable, base64)
    /// undone, read as UTF-8, line ends back to `\n`, without line ends at the end (lettre ends the
    /// part with a CRLF, then sends `CRLF . CRLF` after it, so a mail arrives ending in an empty line).
    pub fn body(&self) -> String {
        let (_, body) = self.parts();
        let body = body.trim_end_matches("\r\n");
        let encoding = self.header("Content-Transfer-Encoding").unwrap_or_default().to_ascii_lowercase();
        let bytes = match encoding.as_str() {
            "quoted-printable" => decode_quoted_printable(body),
            "base64" => {
                let clean: String = body.chars().filter(|c| !c.is_ascii_whitespace()).collect();
                base64::engine::general_purpose::STANDARD.decode(clean).expect("body: invalid base64")
            }
            _ => body.as_bytes().to_vec(),
        };
        String::from_utf8(bytes).expect("body: not UTF-8").replace("\r\n", "\n").trim_end_matches('\n').to_string()
    }
}

/// Quoted-printable (RFC 2045) to bytes: `=XX` escapes and `=` soft line breaks.
fn decode_quoted_printable(s: &str) -> Vec<u8> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'=' {
            if b[i + 1..].starts_with(b"\r\n") {
                i += 3;
                continue;
            }
            if b[i + 1..].starts_with(b"\n") {
                i += 2;
                continue;
            }
            let hex = std::str::from_utf8(&b[i + 1..i + 3]).unwrap();
            out.push(u8::from_str_radix(hex, 16).unwrap_or_else(|_| panic!("bad quoted-printable escape ={hex}")));
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    out
}

/// Decodes a header value's RFC 2047 encoded words (UTF-8 only; `b` and `q`); whitespace between
/// two adjacent encoded words is dropped, as the RFC says.
fn decode_rfc2047(value: &str) -> String {
    fn word(token: &str) -> Option<String> {
        let inner = token.strip_prefix("=?")?.strip_suffix("?=")?;
        let mut it = inner.splitn(3, '?');
        let (charset, enc, text) = (it.next()?, it.next()?, it.next()?);
        assert!(charset.eq_ignore_ascii_case("utf-8"), "unexpected charset {charset} in {token}");
        let bytes = match enc {
            "b" | "B" => base64::engine::general_purpose::STANDARD.decode(text).ok()?,
            "q" | "Q" => decode_quoted_printable(&text.replace('_', " ")),
            _ => return None,
        };
        Some(String::from_utf8(bytes).expect("encoded word: not UTF-8"))
    }
    let mut out = String::new();
    let mut pending_space = String::new();
    let mut last_was_word = false;
    // Split keeping the whitespace runs, so ordinary text keeps its spacing.
    let mut rest = value;
    while !rest.is_empty() {
        let ws_len = rest.len() - rest.trim_start_matches([' ', '\t']).len();
        if ws_len > 0 {
            pending_space.push_str(&rest[..ws_len]);
            rest = &rest[ws_len..];
            continue;
        }
        let end = rest.find([' ', '\t']).unwrap_or(rest.len());
        let token = &rest[..end];
        rest = &rest[end..];
        match word(token) {
            Some(decoded) => {
                if !last_was_word {
                    out.push_str(&pending_space);
                }
                out.push_str(&decoded);
                last_was_word = true;
            }
            None => {
                out.push_str(&pending_space);
                out.push_str(token);
                last_was_word = false;
            }
        }
        pending_space.clear();
    }
    out.push_str(&pending_space);
    out
}

#[derive(Default)]
struct SmtpState {
    refuse: bool,
    attempts: usize,
    mails: Vec<Mail>,
}

/// A minimal SMTP server on `127.0.0.1:0`: no TLS, no AUTH; keeps every mail it accepts.
#[derive(Clone)]
pub struct SmtpSink {
    port: u16,
    state: Arc<Mutex<SmtpState>>,
}

impl SmtpSink {
    /// Starts the server (one task to accept, one per connection).
    pub async fn start() -> SmtpSink {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let state = Arc::new(Mutex::new(SmtpState::default()));
        let st = state.clone();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let st = st.clone();
                tokio::spawn(async move {
                    // A client that hangs up mid-dialogue is no error of the sink's.
                    let _ = smtp_session(stream, st).await;
                });
            }
        });
        SmtpSink { port, state }
    }

    /// `smtp://127.0.0.1:PORT`: plain SMTP, as `SmtpSender::new` takes it.
    pub fn url(&self) -> String {
        format!("smtp://127.0.0.1:{}", self.port)
    }

    /// While set, `MAIL FROM` is answered `451 4.3.0 try again later`.
    pub fn set_refuse(&self, refuse: bool) {
        self.state.lock().unwrap().refuse = refuse;
    }

    /// `MAIL FROM` commands seen, refused or not.
    pub fn attempts(&self) -> usize {
        self.state.lock().unwrap().attempts
    }

    /// The mails accepted so far, in order.
    pub fn mails(&self) -> Vec<Mail> {
        self.state.lock().unwrap().mails.clone()
    }

    /// Waits until at least `n` mails were accepted; panics after `timeout`.
    pub async fn wait_for(&self, n: usize, timeout: Duration) -> Vec<Mail> {
        poll_until("SMTP sink mails", n, timeout, || self.mails()).await
    }
}

/// One SMTP connection, until `QUIT` or the client hangs up.
async fn smtp_session(stream: TcpStream, state: Arc<Mutex<SmtpState>>) -> std::io::Result<()> {
    let (read, mut write) = stream.into_split();
    let mut read = BufReader::new(read);
    write.write_all(b"220 sink.test ESMTP ready\r\n").await?;
    let mut from: Option<String> = None;
    let mut to: Vec<String> = Vec::new();
    let mut line = Vec::new();
    loop {
        line.clear();
        if read.read_until(b'\n', &mut line).await? == 0 {
            return Ok(());
        }
        let text = String::from_utf8_lossy(&line);
        let command = text.trim_end_matches(['\r', '\n']);
        let verb = command.split([' ', ':']).next().unwrap_or("").to_ascii_uppercase();
        let reply: &[u8] = match verb.as_str() {
            "EHLO" => b"250-sink.test greets you\r\n250-8BITMIME\r\n250 SMTPUTF8\r\n",
            "HELO" => b"250 sink.test\r\n",
            "MAIL" => {
                let mut st = state.lock().unwrap();
                st.attempts += 1;
                if st.refuse {
                    b"451 4.3.0 try again later\r\n"
                } else {
                    from = Some(angle_address(command));
                    to.clear();
                    b"250 2.1.0 ok\r\n"
                }
            }
            "RCPT" if from.is_some() => {
                to.push(angle_address(command));
                b"250 2.1.5 ok\r\n"
            }
            "DATA" if from.is_some() && !to.is_empty() => {
                write.write_all(b"354 end data with <CR><LF>.<CR><LF>\r\n").await?;
                let mut data = String::new();
                loop {
                    line.clear();
                    if read.read_until(b'\n', &mut line).await? == 0 {
                        return Ok(());
                    }
                    if line == b".\r\n" || line == b".\n" {
                        break;
                    }
                    let l = String::from_utf8_lossy(&line);
                    data.push_str(l.strip_prefix('.').unwrap_or(&l));
                }
                let mail = Mail { from: from.take().unwrap_or_default(), to: std::mem::take(&mut to), data };
                state.lock().unwrap().mails.push(mail);
                b"250 2.0.0 queued\r\n"
            }
            "RCPT" | "DATA" => b"503 5.5.1 bad sequence of commands\r\n",
            "RSET" => {
                from = None;
                to.clear();
                b"250 2.0.0 ok\r\n"
            }
            "NOOP" => b"250 2.0.0 ok\r\n",
            "QUIT" => {
                write.write_all(b"221 2.0.0 bye\r\n").await?;
                return Ok(());
            }
            _ => b"502 5.5.2 command not implemented\r\n",
        };
        write.write_all(reply).await?;
    }
}

/// The address between `<` and `>` of `MAIL FROM:<a@b> SIZE=…` / `RCPT TO:<a@b>`.
fn angle_address(command: &str) -> String {
    let start = command.find('<').map_or(0, |i| i + 1);
    let end = command[start..].find('>').map_or(command.len(), |i| start + i);
    command[start..end].to_string()
}

// ---------------------------------------------------------------------------------------------
// HTTP

/// One POST the HTTP sink received.
#[derive(Debug, Clone)]
pub struct Request {
    /// The request's path (without the query).
    pub path: String,
    /// Every header, names lower-case, in the order received.
    pub headers: Vec<(String, String)>,
    /// The body as JSON (a JSON string holding the raw text when it was not JSON).
    pub body: serde_json::Value,
}

impl Request {
    /// The first header `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<String> {
        self.headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.clone())
    }
}

/// An HTTP server on `127.0.0.1:0` that keeps every POST (to any path) and answers it with the
/// status set (202 by default); anything but POST gets 405 and is not kept.
#[derive(Clone)]
pub struct HttpSink {
    port: u16,
    status: Arc<AtomicU16>,
    requests: Arc<Mutex<Vec<Request>>>,
}

impl HttpSink {
    /// Starts the server.
    pub async fn start() -> HttpSink {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let sink = HttpSink { port, status: Arc::new(AtomicU16::new(202)), requests: Arc::default() };
        let s = sink.clone();
        let app = axum::Router::new().fallback(
            move |method: axum::http::Method,
                  uri: axum::http::Uri,
                  headers: axum::http::HeaderMap,
                  body: axum::body::Bytes| {
                let s = s.clone();
                async move {
                    if method != axum::http::Method::POST {
                        return axum::http::StatusCode::METHOD_NOT_ALLOWED;
                    }
                    let headers = headers
                        .iter()
                        .map(|(n, v)| (n.as_str().to_string(), String::from_utf8_lossy(v.as_bytes()).into_owned()))
                        .collect();
                    let body = serde_json::from_slice(&body)
                        .unwrap_or_else(|_| serde_json::Value::String(String::from_utf8_lossy(&body).into_owned()));
                    s.requests.lock().unwrap().push(Request { path: uri.path().to_string(), headers, body });
                    axum::http::StatusCode::from_u16(s.status.load(Ordering::SeqCst)).unwrap()
                }
            },
        );
        tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
        sink
    }

    /// `http://127.0.0.1:PORT{path}` (`path` starts with `/`).
    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    /// The status every POST is answered with from now on.
    pub fn set_status(&self, status: u16) {
        self.status.store(status, Ordering::SeqCst);
    }

    /// The POSTs received so far, in order.
    pub fn requests(&self) -> Vec<Request> {
        self.requests.lock().unwrap().clone()
    }

    /// Waits until at least `n` POSTs were received; panics after `timeout`.
    pub async fn wait_for(&self, n: usize, timeout: Duration) -> Vec<Request> {
        poll_until("HTTP sink requests", n, timeout, || self.requests()).await
    }
}
