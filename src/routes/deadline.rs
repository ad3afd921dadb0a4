//! A deadline on reading a request body. actix's `client_request_timeout` covers the request head
//! only: a client that sends its headers and then trickles the body (or never finishes it) would
//! hold a connection, and its buffered body, for ever. Every request's payload is wrapped so that
//! reading it fails once `TOKENLEDGER_BODY_TIMEOUT_MS` have passed since the request arrived,
//! however many bytes are still coming; the handler then answers 408 and the connection is closed.
//! A deadline rather than an idle timeout: one byte a second would keep resetting an idle timer.
//!
//! The body is also held until the answer has been sent. actix keeps a connection whose chunked
//! body a handler left unread open to drain the rest, with no timer: a client that stops sending
//! would hold it for ever. Held, the body counts as unread when the answer goes out, and actix
//! closes the connection instead (after `client_disconnect_timeout`).

use crate::startup::AppState;
use actix_web::body::{BodySize, BoxBody, MessageBody};
use actix_web::dev::{Payload, ServiceRequest, ServiceResponse};
use actix_web::error::PayloadError;
use actix_web::middleware::Next;
use actix_web::web::{self, Bytes};
use actix_web::HttpMessage;
use futures_util::Stream;
use std::cell::RefCell;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};
use std::time::Duration;

/// Wraps the request's payload in the body deadline, and holds it until the answer is sent.
pub async fn body_deadline(
    mut req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let timeout = req
        .app_data::<web::Data<AppState>>()
        .map(|state| state.config.body_timeout);
    let held = timeout.map(|timeout| {
        let payload = Rc::new(RefCell::new(req.take_payload()));
        req.set_payload(Payload::Stream {
            payload: Box::pin(Deadline::new(payload.clone(), timeout)),
        });
        payload
    });
    let response = next.call(req).await?;
    Ok(response
        .map_into_boxed_body()
        .map_body(|_, body| Held { body, _payload: held }))
}

/// An answer's body that keeps the request's payload alive until it has been sent.
struct Held {
    body: BoxBody,
    _payload: Option<Rc<RefCell<Payload>>>,
}

impl MessageBody for Held {
    type Error = <BoxBody as MessageBody>::Error;

    fn size(&self) -> BodySize {
        self.body.size()
    }

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Bytes, Self::Error>>> {
        Pin::new(&mut self.body).poll_next(cx)
    }
}

/// Whether a payload error is this deadline passing.
pub fn is_timeout(error: &PayloadError) -> bool {
    matches!(error, PayloadError::Io(e) if e.kind() == io::ErrorKind::TimedOut)
}

struct Deadline {
    inner: Rc<RefCell<Payload>>,
    sleep: Pin<Box<tokio::time::Sleep>>,
    expired: bool,
}

impl Deadline {
    fn new(inner: Rc<RefCell<Payload>>, timeout: Duration) -> Self {
        Self {
            inner,
            sleep: Box::pin(tokio::time::sleep(timeout)),
            expired: false,
        }
    }
}

impl Stream for Deadline {
    type Item = Result<Bytes, PayloadError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        if self.expired {
            return Poll::Ready(None);
        }
        // The deadline first, so that a body still arriving at its deadline is cut off too.
        if self.sleep.as_mut().poll(cx).is_ready() {
            self.expired = true;
            return Poll::Ready(Some(Err(PayloadError::Io(io::Error::new(
                io::ErrorKind::TimedOut,
                "the request body was not received in time",
            )))));
        }
        let mut inner = self.inner.borrow_mut();
        Pin::new(&mut *inner).poll_next(cx)
    }
}
