//! The senders of resident notices (`cityserve_notify::send`) against the in-test SMTP server and
//! SMS gateway (`tests/support/sinks.rs`): what goes over the wire, and how failures are classed.
use crate::sinks::{HttpSink, SmtpSink};
use cityserve_notify::send::{Message, SendError, SmtpSender, WebhookSender};
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(10);
const TIMEOUT: Duration = Duration::from_secs(5);
const RESIDENT_MAIL: &str = "maria.lopez@example.org";
const RESIDENT_PHONE: &str = "+15550100123";

fn spanish() -> Message {
    Message {
        message_id: "notice-0190a1b2-c3d4@cityserve.test".into(),
        department: "water".into(),
        language: "es".into(),
        subject: "Su queja está resuelta: señal de tráfico en la calle Ñandú, número 12, sección añadida".into(),
        body: "Hola, su queja está resuelta.\n.Esta línea empieza con un punto.\n\
               Una línea muy larga para que quoted-printable tenga que partirla en varias líneas físicas, \
               con acentos: árbol, camión, pingüino.\nGracias."
            .into(),
    }
}

/// A loopback port nothing listens on.
async fn closed_port() -> u16 {
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    l.local_addr().unwrap().port()
}

fn assert_private(e: &SendError) {
    let text = e.to_string();
    for secret in [RESIDENT_MAIL, "maria", RESIDENT_PHONE, "0100123", "try again later", "s3cret-token"] {
        assert!(!text.contains(secret), "error text {text:?} contains {secret:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn smtp_sender_delivers_and_classes_failures() {
    let sink = SmtpSink::start().await;
    let sender = SmtpSender::new(&sink.url(), "Ciudad de Springfield <noreply@springfield.test>", TIMEOUT).unwrap();
    let m = spanish();
    sender.send(RESIDENT_MAIL, &m).await.unwrap();

    let mails = sink.wait_for(1, WAIT).await;
    let mail = &mails[0];
    assert_eq!(mail.from, "noreply@springfield.test");
    assert_eq!(mail.to, vec![RESIDENT_MAIL.to_string()]);
    assert_eq!(mail.header("message-id").as_deref(), Some("<notice-0190a1b2-c3d4@cityserve.test>"));
    assert_eq!(mail.header("Content-Language").as_deref(), Some("es"));
    assert_eq!(mail.header("To").as_deref(), Some(RESIDENT_MAIL));
    assert!(mail.header("Content-Type").unwrap().to_ascii_lowercase().contains("charset=utf-8"), "{mail:?}");
    assert!(mail.header("Subject").unwrap().contains("=?utf-8?"), "subject is RFC 2047-encoded: {mail:?}");
    assert_eq!(mail.subject().unwrap(), m.subject);
    assert_eq!(mail.header("Content-Transfer-Encoding").as_deref(), Some("quoted-printable"));
    assert!(mail.data.contains("\r\n.Esta l=C3=ADnea"), "dot-stuffing undone: {:?}", mail.data);
    assert_eq!(mail.body(), m.body);

    // Mostly non-ASCII text goes as base64, and the same ID gives the same Message-ID again.
    let chinese = Message {
        language: "zh-Hant".into(),
        subject: "您的投訴已解決".into(),
        body: "您好，您的投訴已經解決。謝謝。".into(),
        ..m.clone()
    };
    sender.send(RESIDENT_MAIL, &chinese).await.unwrap();
    let mails = sink.wait_for(2, WAIT).await;
    assert_eq!(mails[1].header("Content-Transfer-Encoding").as_deref(), Some("base64"));
    assert_eq!(mails[1].header("Message-ID"), mails[0].header("Message-ID"));
    assert_eq!(mails[1].subject().unwrap(), chinese.subject);
    assert_eq!(mails[1].body(), chinese.body);
    assert_eq!(sink.attempts(), 2);

    // A relay that says "later" is transient, and the attempt is counted.
    sink.set_refuse(true);
    let e = sender.send(RESIDENT_MAIL, &m).await.unwrap_err();
    assert!(matches!(e, SendError::Transient(_)), "{e:?}");
    assert_eq!(e.to_string(), "smtp: 451");
    assert_private(&e);
    assert_eq!(sink.attempts(), 3);
    assert_eq!(sink.mails().len(), 2);
    sink.set_refuse(false);
    sender.send(RESIDENT_MAIL, &m).await.unwrap();
    sink.wait_for(3, WAIT).await;

    // An invalid address is permanent, and never reaches the relay.
    let e = sender.send("maria.lopez(at)example.org", &m).await.unwrap_err();
    assert!(matches!(&e, SendError::Permanent(t) if t == "invalid e-mail address"), "{e:?}");
    assert_eq!(sink.attempts(), 4);

    // No relay there: transient.
    let down =
        SmtpSender::new(&format!("smtp://127.0.0.1:{}", closed_port().await), "noreply@springfield.test", TIMEOUT)
            .unwrap();
    let e = down.send(RESIDENT_MAIL, &m).await.unwrap_err();
    assert!(matches!(e, SendError::Transient(_)), "{e:?}");
    assert_eq!(e.to_string(), "smtp: connection failed");
    assert_private(&e);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webhook_sender_posts_json_and_classes_failures() {
    let sink = HttpSink::start().await;
    let sender = WebhookSender::new(&sink.url("/v1/sms"), Some("s3cret-token".into()), TIMEOUT).unwrap();
    let m = spanish();
    sender.send(RESIDENT_PHONE, &m).await.unwrap();

    let requests = sink.wait_for(1, WAIT).await;
    let r = &requests[0];
    assert_eq!(r.path, "/v1/sms");
    assert_eq!(
        r.body,
        serde_json::json!({
            "message_id": m.message_id,
            "to": RESIDENT_PHONE,
            "text": m.body,
            "language": "es",
            "department": "water",
        })
    );
    assert_eq!(r.header("content-type").as_deref(), Some("application/json"));
    assert_eq!(r.header("idempotency-key").as_deref(), Some(m.message_id.as_str()));
    assert_eq!(r.header("authorization").as_deref(), Some("Bearer s3cret-token"));

    // Without a token, no Authorization header.
    let anonymous = WebhookSender::new(&sink.url("/v1/sms"), None, TIMEOUT).unwrap();
    anonymous.send(RESIDENT_PHONE, &m).await.unwrap();
    let requests = sink.wait_for(2, WAIT).await;
    assert_eq!(requests[1].header("authorization"), None);
    assert_eq!(requests[1].header("idempotency-key"), requests[0].header("idempotency-key"));

    for (status, transient) in [(503, true), (500, true), (429, true), (408, true), (400, false), (404, false)] {
        sink.set_status(status);
        let e = sender.send(RESIDENT_PHONE, &m).await.unwrap_err();
        assert_eq!(e.is_transient(), transient, "HTTP {status}: {e:?}");
        assert_eq!(e.to_string(), format!("sms gateway: HTTP {status}"));
        assert_private(&e);
    }
    sink.set_status(200);
    sender.send(RESIDENT_PHONE, &m).await.unwrap();
    assert_eq!(sink.requests().len(), 9);

    // No gateway there: transient.
    let down = WebhookSender::new(&format!("http://127.0.0.1:{}/v1/sms", closed_port().await), None, TIMEOUT).unwrap();
    let e = down.send(RESIDENT_PHONE, &m).await.unwrap_err();
    assert!(matches!(e, SendError::Transient(_)), "{e:?}");
    assert_eq!(e.to_string(), "sms gateway: connection failed");
    assert_private(&e);

    // A gateway that never answers: transient timeout.
    let silent = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = silent.local_addr().unwrap().port();
    let hold = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((s, _)) = silent.accept().await {
            held.push(s);
        }
    });
    let slow = WebhookSender::new(&format!("http://127.0.0.1:{port}/"), None, Duration::from_millis(300)).unwrap();
    let e = slow.send(RESIDENT_PHONE, &m).await.unwrap_err();
    assert!(matches!(e, SendError::Transient(_)), "{e:?}");
    assert_eq!(e.to_string(), "sms gateway: timeout");
    hold.abort();
}
