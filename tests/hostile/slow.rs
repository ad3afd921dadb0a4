//! Slow clients: headers sent, then the body trickled or never finished (raw TCP).

use super::{bytes, event};
use crate::common::{spawn_app, spawn_app_with, TestApp};
use serde_json::{json, Value};
use std::io::{Read, Write};
use std::time::{Duration, Instant};

// --- slow clients ---------------------------------------------------------------------------------

pub const BODY_TIMEOUT: Duration = Duration::from_secs(2);

pub async fn app_with_body_timeout() -> TestApp {
    spawn_app_with(|config| config.body_timeout = BODY_TIMEOUT).await
}

/// What a slow client saw.
pub struct Seen {
    answer: String,
    /// When the first byte of the answer came, from the start.
    answered: Option<Duration>,
    /// When the server closed the connection, from the start.
    closed: Option<Duration>,
}

/// A raw HTTP/1.1 client: sends `head`, then `body_parts` one every `pause` until the server
/// answers; then waits for the server to close, up to 30 s in all.
pub fn slow_request(address: &str, head: String, body_parts: Vec<Vec<u8>>, pause: Duration) -> Seen {
    let address = address.trim_start_matches("http://");
    let mut stream = std::net::TcpStream::connect(address).unwrap();
    stream.set_read_timeout(Some(Duration::from_millis(50))).unwrap();
    let started = Instant::now();
    stream.write_all(head.as_bytes()).unwrap();
    let mut answer = Vec::new();
    let mut parts = body_parts.into_iter();
    let mut answered = None;
    let mut closed = None;
    let mut buf = [0u8; 4096];
    while started.elapsed() < Duration::from_secs(30) {
        match stream.read(&mut buf) {
            Ok(0) => {
                closed = Some(started.elapsed());
                break;
            }
            Ok(n) => {
                answered.get_or_insert(started.elapsed());
                answer.extend_from_slice(&buf[..n]);
            }
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) => {}
            Err(_) => {
                closed = Some(started.elapsed());
                break;
            }
        }
        if answer.is_empty() {
            if let Some(part) = parts.next() {
                // The server may already have closed its side; a failed write ends the trickle.
                let _ = stream.write_all(&part);
                std::thread::sleep(pause);
            }
        }
    }
    Seen {
        answer: String::from_utf8_lossy(&answer).into_owned(),
        answered,
        closed,
    }
}

pub fn head(app: &TestApp, path: &str, extra: &str) -> String {
    format!(
        "POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {}\r\nContent-Type: application/json\r\n{extra}\r\n",
        app.admin_key
    )
}

/// A 408 in our error shape at the deadline, and the connection closed soon after (actix lingers
/// `client_disconnect_timeout`, 2 s, for the client to read it).
pub fn assert_timed_out(seen: &Seen) {
    let answer = &seen.answer;
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    let body = &answer[answer.find("\r\n\r\n").unwrap() + 4..];
    let body: Value = serde_json::from_str(body).unwrap_or_else(|_| panic!("not JSON: {answer}"));
    assert_eq!(body["error"]["code"], "request_timeout", "{answer}");
    let answered = seen.answered.unwrap();
    assert!(
        answered >= BODY_TIMEOUT && answered < BODY_TIMEOUT * 3,
        "answered after {answered:?}"
    );
    let closed = seen
        .closed
        .unwrap_or_else(|| panic!("the connection was left open: {answer}"));
    assert!(
        closed < answered + Duration::from_secs(5),
        "closed only after {closed:?}"
    );
}

pub async fn events_stored(app: &TestApp) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM events")
        .fetch_one(&app.db().await)
        .await
        .unwrap()
}

#[tokio::test]
pub async fn a_body_that_never_finishes_is_answered_408_and_the_server_keeps_serving() {
    let app = app_with_body_timeout().await;
    let slow = {
        let head = head(&app, "/v1/events", "Content-Length: 1000\r\n");
        let address = app.address.clone();
        tokio::task::spawn_blocking(move || {
            slow_request(&address, head, vec![b"{\"id\": \"a\", ".to_vec()], Duration::ZERO)
        })
    };
    // While it hangs, other clients are served at once.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let started = Instant::now();
    assert_eq!(app.post_events(&event()).await.status(), 200);
    assert!(
        started.elapsed() < BODY_TIMEOUT,
        "a hanging client delayed another"
    );

    assert_timed_out(&slow.await.unwrap());
    assert_eq!(events_stored(&app).await, 1);
}

#[tokio::test]
pub async fn a_body_trickled_a_byte_at_a_time_is_cut_off_at_the_deadline() {
    let app = app_with_body_timeout().await;
    let body = bytes(&event());
    let head = head(&app, "/v1/events", &format!("Content-Length: {}\r\n", body.len()));
    let address = app.address.clone();
    let parts = body.iter().map(|b| vec![*b]).collect();
    // 250 ms a byte: the whole body would take far longer than the deadline.
    let seen =
        tokio::task::spawn_blocking(move || slow_request(&address, head, parts, Duration::from_millis(250)))
            .await
            .unwrap();
    assert_timed_out(&seen);
    assert_eq!(events_stored(&app).await, 0);
}

#[tokio::test]
pub async fn a_chunked_body_trickled_chunk_by_chunk_is_cut_off_at_the_deadline() {
    let app = app_with_body_timeout().await;
    let body = bytes(&json!([event(), event()]));
    let head = head(&app, "/v1/events", "Transfer-Encoding: chunked\r\n");
    let address = app.address.clone();
    let parts = body
        .chunks(8)
        .map(|c| {
            [
                format!("{:x}\r\n", c.len()).into_bytes(),
                c.to_vec(),
                b"\r\n".to_vec(),
            ]
            .concat()
        })
        .collect();
    let seen =
        tokio::task::spawn_blocking(move || slow_request(&address, head, parts, Duration::from_millis(300)))
            .await
            .unwrap();
    assert_timed_out(&seen);
    assert_eq!(events_stored(&app).await, 0);
}

#[tokio::test]
pub async fn slow_bodies_time_out_on_the_other_doors_and_json_endpoints_too() {
    let app = app_with_body_timeout().await;
    for path in ["/v1/traces", "/v1/integrations/litellm", "/v1/keys", "/v1/prices"] {
        let head = head(&app, path, "Content-Length: 500\r\n").replace("POST /v1/prices", "PUT /v1/prices");
        let address = app.address.clone();
        let seen = tokio::task::spawn_blocking(move || {
            slow_request(&address, head, vec![b"{".to_vec()], Duration::ZERO)
        })
        .await
        .unwrap();
        assert_timed_out(&seen);
    }
}

#[tokio::test]
pub async fn a_client_that_never_finishes_its_headers_is_dropped() {
    let app = spawn_app().await;
    let address = app.address.clone();
    let partial = "POST /v1/events HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: appl".to_owned();
    let seen = tokio::task::spawn_blocking(move || slow_request(&address, partial, vec![], Duration::ZERO))
        .await
        .unwrap();
    // actix's client_request_timeout (10 s) answers 408 itself and closes.
    let closed = seen
        .closed
        .unwrap_or_else(|| panic!("still open after 30 s: {}", seen.answer));
    assert!(closed < Duration::from_secs(15), "{closed:?}");
    assert!(
        seen.answer.is_empty() || seen.answer.starts_with("HTTP/1.1 408"),
        "{}",
        seen.answer
    );
    assert_eq!(app.post_events(&event()).await.status(), 200);
}

#[tokio::test]
pub async fn a_stalled_chunked_body_that_the_handler_ignores_does_not_hold_the_connection() {
    let app = spawn_app().await;
    let address = app.address.clone();
    let request =
        "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nTransfer-Encoding: chunked\r\n\r\n10\r\nonly part"
            .to_owned();
    let seen = tokio::task::spawn_blocking(move || slow_request(&address, request, vec![], Duration::ZERO))
        .await
        .unwrap();
    assert!(seen.answer.starts_with("HTTP/1.1 200"), "{}", seen.answer);
    // Without the body held until the answer is sent, actix would wait to drain the rest for ever.
    let closed = seen
        .closed
        .unwrap_or_else(|| panic!("left open: {}", seen.answer));
    assert!(closed < Duration::from_secs(5), "{closed:?}");
}
