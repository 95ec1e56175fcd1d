//! The Open311 scenarios' client: plain HTTP/1.1 with keep-alive, one connection per worker, as a
//! 311 app or a public tracker polling the gateway would hold it. Small on purpose: the gateway
//! answers every request with a `Content-Length`, so reading a response is reading its headers and
//! that many bytes.
use std::io;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

/// One keep-alive connection to the gateway, opened on first use and again after a failure.
pub(crate) struct Http {
    addr: String,
    conn: Option<BufReader<TcpStream>>,
}

impl Http {
    /// A client of the gateway at `addr` (`host:port`).
    pub(crate) fn new(addr: &str) -> Self {
        Self { addr: addr.to_owned(), conn: None }
    }

    /// Sends one request (a form body for a POST) and reads the whole answer; returns its status.
    /// A connection the server closed between requests is reopened once.
    pub(crate) async fn request(&mut self, method: &str, path: &str, form: Option<&str>) -> io::Result<u16> {
        let reused = self.conn.is_some();
        match self.try_request(method, path, form).await {
            Ok(status) => Ok(status),
            Err(_) if reused => {
                self.conn = None;
                self.try_request(method, path, form).await
            }
            Err(e) => Err(e),
        }
    }

    async fn try_request(&mut self, method: &str, path: &str, form: Option<&str>) -> io::Result<u16> {
        if self.conn.is_none() {
            let stream = TcpStream::connect(&self.addr).await?;
            stream.set_nodelay(true)?;
            self.conn = Some(BufReader::new(stream));
        }
        let Some(conn) = self.conn.as_mut() else { return Err(io::ErrorKind::NotConnected.into()) };
        let mut head = format!("{method} {path} HTTP/1.1\r\nHost: {}\r\nAccept: application/json\r\n", self.addr);
        if let Some(body) = form {
            head.push_str(&format!(
                "Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n",
                body.len()
            ));
        }
        head.push_str("\r\n");
        head.push_str(form.unwrap_or_default());
        conn.get_mut().write_all(head.as_bytes()).await?;
        let bad = |what: &str| io::Error::new(io::ErrorKind::InvalidData, what.to_owned());
        let mut line = String::new();
        if conn.read_line(&mut line).await? == 0 {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        let status = line.split(' ').nth(1).and_then(|s| s.parse::<u16>().ok()).ok_or_else(|| bad("status line"))?;
        let mut length = None;
        let mut close = false;
        loop {
            line.clear();
            if conn.read_line(&mut line).await? == 0 {
                return Err(io::ErrorKind::UnexpectedEof.into());
            }
            let header = line.trim_end();
            if header.is_empty() {
                break;
            }
            if let Some((name, value)) = header.split_once(':') {
                if name.eq_ignore_ascii_case("content-length") {
                    length = value.trim().parse::<usize>().ok();
                } else if name.eq_ignore_ascii_case("connection") && value.trim().eq_ignore_ascii_case("close") {
                    close = true;
                }
            }
        }
        let mut body = vec![0; length.ok_or_else(|| bad("no Content-Length"))?];
        conn.read_exact(&mut body).await?;
        if close {
            self.conn = None;
        }
        Ok(status)
    }
}
