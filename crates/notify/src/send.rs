//! The two senders of resident notices: e-mail through an SMTP relay ([`SmtpSender`]) and SMS
//! through an HTTP gateway ([`WebhookSender`]).
//!
//! Both are safe to retry: each notice carries a stable ID, sent as the e-mail's `Message-ID` and as
//! the gateway's `Idempotency-Key`, so a relay, mailbox or gateway that saw it before can drop the
//! duplicate. A failure is either [`SendError::Transient`] (try again later) or
//! [`SendError::Permanent`] (give up); its text names only the class of error and the protocol's
//! status code, never the recipient nor what the server replied, because it is stored, shown to
//! officers and logged.
use lettre::message::header::{HeaderName, HeaderValue};
use lettre::message::{Mailbox, SinglePart};
use lettre::transport::smtp::Error as SmtpError;
use lettre::{Address, AsyncSmtpTransport, AsyncTransport, Tokio1Executor};
use reqwest::header::{AUTHORIZATION, CONTENT_TYPE};
use std::time::Duration;

/// One notice, rendered, ready to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    /// The notice's stable ID: the e-mail's `Message-ID` (as `<{message_id}>`) and the SMS gateway's
    /// `Idempotency-Key`, the same on every attempt.
    pub message_id: String,
    /// The department the notice comes from (its key).
    pub department: String,
    /// The notice's language, a BCP 47 tag such as `es` or `en-US`.
    pub language: String,
    /// The e-mail's subject (not sent by SMS).
    pub subject: String,
    /// The text: the e-mail's plain-text body, or the SMS.
    pub body: String,
}

/// Why a send failed.
///
/// The texts never contain the recipient's address or phone number nor the server's reply (they are
/// stored, shown to officers and logged): only a class of error and the SMTP or HTTP status code,
/// e.g. `smtp: 451`, `sms gateway: HTTP 503`, `sms gateway: timeout`.
#[derive(Debug, thiserror::Error)]
pub enum SendError {
    /// Worth trying again later: a 4xx SMTP reply, HTTP 408, 429 or 5xx, a timeout, a connection that
    /// failed.
    #[error("{0}")]
    Transient(String),
    /// Not worth trying again: a 5xx SMTP reply, another HTTP 4xx, an invalid recipient.
    #[error("{0}")]
    Permanent(String),
}

impl SendError {
    /// Whether trying again later may succeed.
    pub fn is_transient(&self) -> bool {
        matches!(self, SendError::Transient(_))
    }
}

/// Sends notices by e-mail through an SMTP relay; one connection per message.
#[derive(Clone)]
pub struct SmtpSender {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
    /// Bound on one whole send (connect, dialogue, data), beyond lettre's per-operation timeout.
    overall: Duration,
}

impl std::fmt::Debug for SmtpSender {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The transport holds the relay's credentials: never print it.
        f.debug_struct("SmtpSender").field("from", &self.from.to_string()).finish_non_exhaustive()
    }
}

impl SmtpSender {
    /// A sender through the relay at `url`, as lettre's `AsyncSmtpTransport::from_url` accepts it:
    /// `smtp://host:port` (plain, for a local relay), `smtp://host:587?tls=required` (STARTTLS),
    /// `smtps://host:465` (TLS from the start); `user:password@` in the URL authenticates
    /// (percent-encoded). `from` is the sender's mailbox, e.g.
    /// `City of Springfield <noreply@springfield.gov>`. `timeout` bounds connecting and each step of
    /// the SMTP dialogue.
    ///
    /// The error text (never containing the URL's password) says what is invalid.
    pub fn new(url: &str, from: &str, timeout: Duration) -> Result<Self, String> {
        let from: Mailbox = from.parse().map_err(|e| format!("invalid sender mailbox {from:?}: {e}"))?;
        let transport = AsyncSmtpTransport::<Tokio1Executor>::from_url(url)
            .map_err(|e| format!("invalid SMTP URL {}: {e}", redact_url(url)))?
            .timeout(Some(timeout))
            .build();
        Ok(SmtpSender { transport, from, overall: timeout.saturating_mul(4) })
    }

    /// Sends `m` to the address `to`: a plain-text UTF-8 e-mail with header
    /// `Message-ID: <{m.message_id}>` (stable across retries, so a relay or mailbox can drop a
    /// duplicate), `Content-Language: {m.language}` and `m.subject`.
    ///
    /// A 4xx reply, a connection that failed and a timeout are [`SendError::Transient`]; a 5xx reply
    /// is [`SendError::Permanent`], and so is an invalid `to` (`invalid e-mail address`).
    pub async fn send(&self, to: &str, m: &Message) -> Result<(), SendError> {
        let to: Address = to.parse().map_err(|_| SendError::Permanent("invalid e-mail address".into()))?;
        let mut builder = lettre::Message::builder()
            .from(self.from.clone())
            .to(Mailbox::new(None, to))
            .message_id(Some(format!("<{}>", m.message_id)))
            .subject(m.subject.as_str());
        if is_language_tag(&m.language) {
            builder = builder
                .raw_header(HeaderValue::new(HeaderName::new_from_ascii_str("Content-Language"), m.language.clone()));
        } else {
            tracing::warn!(message_id = %m.message_id, "notice language is not a language tag: no Content-Language");
        }
        let email = builder
            .singlepart(SinglePart::plain(m.body.clone()))
            .map_err(|_| SendError::Permanent("smtp: invalid message".into()))?;
        match tokio::time::timeout(self.overall, self.transport.send(email)).await {
            Ok(Ok(_)) => Ok(()),
            Ok(Err(e)) => Err(classify_smtp(&e)),
            Err(_) => Err(SendError::Transient("smtp: timeout".into())),
        }
    }
}

/// The class of an SMTP failure, without the server's reply text.
fn classify_smtp(e: &SmtpError) -> SendError {
    if let Some(code) = e.status() {
        let code = u16::from(code);
        return if (500..600).contains(&code) {
            SendError::Permanent(format!("smtp: {code}"))
        } else {
            SendError::Transient(format!("smtp: {code}"))
        };
    }
    let class = if e.is_timeout() {
        "timeout"
    } else if e.is_tls() {
        "tls failed"
    } else if e.is_response() {
        "invalid reply"
    } else if e.is_client() {
        "client error"
    } else {
        "connection failed"
    };
    SendError::Transient(format!("smtp: {class}"))
}

/// `url` with any password replaced by `***`.
fn redact_url(url: &str) -> String {
    match reqwest::Url::parse(url) {
        Ok(mut u) => {
            if u.password().is_some() {
                let _ = u.set_password(Some("***"));
            }
            u.to_string()
        }
        Err(_) => "(unparseable)".into(),
    }
}

/// A plausible BCP 47 tag: ASCII letters, digits and `-`, 2 to 35 characters (no header injection).
fn is_language_tag(s: &str) -> bool {
    (2..=35).contains(&s.len())
        && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
        && s.as_bytes()[0].is_ascii_alphabetic()
}

/// Sends notices by SMS through an HTTP gateway: one JSON `POST` per message.
#[derive(Clone)]
pub struct WebhookSender {
    client: reqwest::Client,
    url: reqwest::Url,
    authorization: Option<reqwest::header::HeaderValue>,
}

impl std::fmt::Debug for WebhookSender {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The token stays out of debug output.
        f.debug_struct("WebhookSender")
            .field("url", &self.url.as_str())
            .field("bearer_token", &self.authorization.as_ref().map(|_| "***"))
            .finish()
    }
}

impl WebhookSender {
    /// A sender to the SMS gateway's endpoint `url` (`http` or `https`), with `bearer_token` (if any)
    /// sent as `Authorization: Bearer …`, each request bounded by `timeout`.
    ///
    /// The error text (never containing the token) says what is invalid.
    pub fn new(url: &str, bearer_token: Option<String>, timeout: Duration) -> Result<Self, String> {
        let parsed = reqwest::Url::parse(url).map_err(|e| format!("invalid SMS gateway URL: {e}"))?;
        if !matches!(parsed.scheme(), "http" | "https") || parsed.host_str().is_none() {
            return Err(format!("SMS gateway URL must be http:// or https:// with a host, not {}", redact_url(url)));
        }
        let authorization = match bearer_token {
            None => None,
            Some(token) => {
                let mut value = reqwest::header::HeaderValue::from_str(&format!("Bearer {token}"))
                    .ok()
                    .filter(|_| !token.is_empty())
                    .ok_or_else(|| "SMS gateway token must be non-empty visible ASCII".to_string())?;
                value.set_sensitive(true);
                Some(value)
            }
        };
        let client = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout)
            // A gateway that moved is a configuration to fix, and a POST must not turn into a GET.
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| format!("SMS gateway client: {e}"))?;
        Ok(WebhookSender { client, url: parsed, authorization })
    }

    /// POSTs `{"message_id", "to", "text", "language", "department"}` as JSON (the text is
    /// `m.body`; the subject is not sent), with `Content-Type: application/json`,
    /// `Idempotency-Key: {m.message_id}` and, when a token is set, `Authorization: Bearer …`.
    ///
    /// 2xx is sent; 408, 429, 5xx, a connection that failed and a timeout are
    /// [`SendError::Transient`]; any other status is [`SendError::Permanent`]. Texts like
    /// `sms gateway: HTTP 503`, `sms gateway: timeout`, `sms gateway: connection failed`.
    pub async fn send(&self, to: &str, m: &Message) -> Result<(), SendError> {
        let body = serde_json::json!({
            "message_id": m.message_id,
            "to": to,
            "text": m.body,
            "language": m.language,
            "department": m.department,
        });
        let body =
            serde_json::to_vec(&body).map_err(|_| SendError::Permanent("sms gateway: invalid message".into()))?;
        let mut request = self
            .client
            .post(self.url.clone())
            .header(CONTENT_TYPE, "application/json")
            .header("Idempotency-Key", m.message_id.as_str())
            .body(body);
        if let Some(auth) = &self.authorization {
            request = request.header(AUTHORIZATION, auth.clone());
        }
        let response = request.send().await.map_err(|e| classify_http_error(&e))?;
        let status = response.status().as_u16();
        match status {
            200..=299 => Ok(()),
            408 | 429 | 500..=599 => Err(SendError::Transient(format!("sms gateway: HTTP {status}"))),
            _ => Err(SendError::Permanent(format!("sms gateway: HTTP {status}"))),
        }
    }
}

/// The class of a failed HTTP exchange, without the URL or the recipient.
fn classify_http_error(e: &reqwest::Error) -> SendError {
    let class = if e.is_timeout() {
        "timeout"
    } else if e.is_connect() {
        "connection failed"
    } else if e.is_builder() {
        // E.g. a message ID that is no valid header value: the same on every try.
        return SendError::Permanent("sms gateway: invalid request".into());
    } else {
        "request failed"
    };
    SendError::Transient(format!("sms gateway: {class}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    const T: Duration = Duration::from_secs(5);

    #[test]
    fn smtp_urls() {
        for url in ["smtp://127.0.0.1:2525", "smtp://relay.example:587?tls=required", "smtps://relay.example:465"] {
            assert!(SmtpSender::new(url, "City <noreply@city.example>", T).is_ok(), "{url}");
        }
        let with_password = "smtp://user:s3cret@relay.example:587?tls=nonsense";
        let e = SmtpSender::new(with_password, "noreply@city.example", T).unwrap_err();
        assert!(!e.contains("s3cret"), "{e}");
        assert!(SmtpSender::new("http://relay.example", "noreply@city.example", T).is_err());
        assert!(SmtpSender::new("not a url", "noreply@city.example", T).is_err());
        assert!(SmtpSender::new("smtp://127.0.0.1:2525", "not a mailbox", T).is_err());
    }

    #[test]
    fn webhook_urls() {
        assert!(WebhookSender::new("https://sms.example/v1/send", Some("tok".into()), T).is_ok());
        assert!(WebhookSender::new("http://127.0.0.1:9000/", None, T).is_ok());
        assert!(WebhookSender::new("ftp://sms.example/", None, T).is_err());
        assert!(WebhookSender::new("sms.example/send", None, T).is_err());
        let e = WebhookSender::new("https://sms.example/", Some("bad\ntoken".into()), T).unwrap_err();
        assert!(!e.contains("token\n") && !e.contains("bad"), "{e}");
        assert!(WebhookSender::new("https://sms.example/", Some(String::new()), T).is_err());
    }

    #[test]
    fn language_tags() {
        assert!(is_language_tag("es") && is_language_tag("en-US") && is_language_tag("zh-Hant-TW"));
        assert!(!is_language_tag("") && !is_language_tag("es\r\nBcc: x@y.z") && !is_language_tag("-es"));
    }
}
