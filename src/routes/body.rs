//! Request bodies in memory: every byte a request holds, as received and as un-gzipped, is counted
//! against one budget for the whole process (`TOKENLEDGER_BODY_MEMORY`), so that many clients
//! sending large bodies at once get 429 instead of growing the process without bound. A body is
//! read within its request's limit (413 past it), and un-gzipped within the same limit, so a
//! small gzip bomb is a 413 and never a large allocation.

use crate::error::ApiError;
use actix_web::http::header;
use actix_web::{web, HttpRequest};
use flate2::read::{MultiGzDecoder, ZlibDecoder};
use std::io::Read;
use std::sync::Arc;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// The bytes of request bodies that may be held at once, over all requests.
#[derive(Clone, Debug)]
pub struct BodyBudget {
    bytes: Arc<Semaphore>,
}

impl BodyBudget {
    pub fn new(bytes: usize) -> Self {
        Self {
            bytes: Arc::new(Semaphore::new(bytes.min(Semaphore::MAX_PERMITS))),
        }
    }

    /// Bytes not held by any request now.
    pub fn available(&self) -> usize {
        self.bytes.available_permits()
    }
}

/// A request body in memory, holding its share of the `BodyBudget` until it is dropped (handlers
/// keep it until they answer, so what is decoded from it is covered too).
#[derive(Debug, Default)]
pub struct Body {
    bytes: Vec<u8>,
    _held: Reservation,
}

impl std::ops::Deref for Body {
    type Target = [u8];

    fn deref(&self) -> &[u8] {
        &self.bytes
    }
}

/// Bytes taken from a `BodyBudget` (none when the request has no budget: tests of handlers alone).
#[derive(Debug, Default)]
struct Reservation {
    budget: Option<BodyBudget>,
    permit: Option<OwnedSemaphorePermit>,
    bytes: usize,
}

impl Reservation {
    fn new(req: &HttpRequest) -> Self {
        Self {
            budget: req
                .app_data::<web::Data<crate::startup::AppState>>()
                .map(|state| state.bodies.clone()),
            permit: None,
            bytes: 0,
        }
    }

    /// Makes sure `total` bytes are held; 429 when the budget has not that many left.
    fn hold(&mut self, total: usize) -> Result<(), ApiError> {
        let Some(budget) = &self.budget else { return Ok(()) };
        if total <= self.bytes {
            return Ok(());
        }
        let more = u32::try_from(total - self.bytes).map_err(|_| ApiError::Overloaded)?;
        let permit = budget
            .bytes
            .clone()
            .try_acquire_many_owned(more)
            .map_err(|_| ApiError::Overloaded)?;
        match &mut self.permit {
            Some(held) => held.merge(permit),
            None => self.permit = Some(permit),
        }
        self.bytes = total;
        Ok(())
    }
}

/// Reads the body in chunks within the budget, refusing it as soon as it passes `limit` (413),
/// when the budget is spent (429), or when it misses its deadline (408, `super::deadline`).
pub async fn read(req: &HttpRequest, mut payload: web::Payload, limit: usize) -> Result<Body, ApiError> {
    use futures_util::StreamExt;
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|n| n > limit) {
        return Err(ApiError::PayloadTooLarge { limit });
    }
    let mut held = Reservation::new(req);
    // A declared length is held at once, so a body that cannot fit is refused before it is read.
    let expected = declared.unwrap_or(8 * 1024).min(limit);
    held.hold(expected)?;
    let mut bytes = Vec::new();
    bytes.reserve_exact(expected);
    while let Some(chunk) = payload.next().await {
        let chunk = chunk.map_err(|e| {
            if super::deadline::is_timeout(&e) {
                super::body_timeout(req)
            } else {
                ApiError::bad_request("malformed_body", format!("could not read the body: {e}"))
            }
        })?;
        let len = bytes.len() + chunk.len();
        if len > limit {
            return Err(ApiError::PayloadTooLarge { limit });
        }
        grow(&mut bytes, len, limit, &mut held)?;
        bytes.extend_from_slice(&chunk);
    }
    Ok(Body { bytes, _held: held })
}

/// Makes room for `needed` bytes in `bytes`, doubling its capacity (at most to `cap`) and holding
/// the whole capacity in the budget before it is allocated.
fn grow(bytes: &mut Vec<u8>, needed: usize, cap: usize, held: &mut Reservation) -> Result<(), ApiError> {
    if needed <= bytes.capacity() {
        return Ok(());
    }
    let capacity = bytes
        .capacity()
        .saturating_mul(2)
        .max(needed)
        .min(cap.max(needed));
    held.hold(capacity)?;
    bytes.reserve_exact(capacity - bytes.len());
    Ok(())
}

/// Reads the body (413 past `limit`) and undoes `Content-Encoding: gzip` (or `deflate`), refusing a decompressed
/// body larger than `limit` too. Another content encoding is a 415.
pub async fn read_decoded(req: &HttpRequest, payload: web::Payload, limit: usize) -> Result<Body, ApiError> {
    let encoding = req
        .headers()
        .get(header::CONTENT_ENCODING)
        .map(|v| v.to_str().unwrap_or("(not text)").trim().to_ascii_lowercase());
    let decoder: fn(&[u8]) -> Box<dyn Read + '_> = match encoding.as_deref() {
        None | Some("") | Some("identity") => return read(req, payload, limit).await,
        Some("gzip") | Some("x-gzip") => |body| Box::new(MultiGzDecoder::new(body)),
        // HTTP's "deflate" is the zlib format; the OTel Python exporter offers it.
        Some("deflate") => |body| Box::new(ZlibDecoder::new(body)),
        Some(other) => {
            return Err(ApiError::UnsupportedMediaType(format!(
                "Content-Encoding {other:?} is not accepted; send gzip, deflate or no encoding"
            )))
        }
    };
    let format = encoding.unwrap_or_default();
    let compressed = read(req, payload, limit).await?;
    let mut held = Reservation::new(req);
    let bytes = inflate(decoder(&compressed), &format, limit, &mut held)?;
    Ok(Body { bytes, _held: held })
}

/// Decompresses gzip, at most `limit` bytes; more is a 413.
pub fn gunzip(compressed: &[u8], limit: usize) -> Result<Vec<u8>, ApiError> {
    inflate(
        MultiGzDecoder::new(compressed),
        "gzip",
        limit,
        &mut Reservation::default(),
    )
}

/// Inflates in steps of at most 64 KiB, holding each step in the budget before it is written.
fn inflate(
    mut decoder: impl Read,
    format: &str,
    limit: usize,
    held: &mut Reservation,
) -> Result<Vec<u8>, ApiError> {
    const STEP: usize = 64 * 1024;
    let mut out = Vec::new();
    loop {
        let len = out.len();
        if len > limit {
            return Err(ApiError::PayloadTooLarge { limit });
        }
        let step = STEP.min(limit + 1 - len);
        grow(&mut out, len + step, limit + 1, held)?;
        out.resize(len + step, 0);
        let read = loop {
            match decoder.read(&mut out[len..]) {
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                other => break other,
            }
        };
        let read = read.map_err(|e| {
            ApiError::bad_request(
                "malformed_body",
                format!("the body is not valid {format} ({e}); nothing was stored"),
            )
        })?;
        out.truncate(len + read);
        if read == 0 {
            return Ok(out);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use flate2::write::GzEncoder;
    use std::io::Write;

    fn gzip(data: &[u8]) -> Vec<u8> {
        let mut encoder = GzEncoder::new(Vec::new(), flate2::Compression::default());
        encoder.write_all(data).unwrap();
        encoder.finish().unwrap()
    }

    #[test]
    fn a_gzip_body_within_the_limit_is_decompressed() {
        assert_eq!(gunzip(&gzip(b"hello"), 5).unwrap(), b"hello");
    }

    #[test]
    fn a_body_that_decompresses_past_the_limit_is_too_large() {
        let bomb = gzip(&vec![0u8; 1 << 20]);
        assert!(bomb.len() < 4096);
        assert!(matches!(
            gunzip(&bomb, 1000),
            Err(ApiError::PayloadTooLarge { limit: 1000 })
        ));
    }

    fn reservation(budget: &BodyBudget) -> Reservation {
        Reservation {
            budget: Some(budget.clone()),
            ..Reservation::default()
        }
    }

    #[test]
    fn inflating_holds_the_output_in_the_budget_and_gives_it_back_when_dropped() {
        let budget = BodyBudget::new(4 << 20);
        let mut held = reservation(&budget);
        let out = inflate(
            MultiGzDecoder::new(gzip(&[7u8; 1 << 20]).as_slice()),
            "gzip",
            2 << 20,
            &mut held,
        )
        .unwrap();
        assert_eq!(out.len(), 1 << 20);
        assert!(
            held.bytes >= out.capacity(),
            "{} held for {} allocated",
            held.bytes,
            out.capacity()
        );
        assert_eq!(budget.available(), (4 << 20) - held.bytes);
        drop(held);
        assert_eq!(budget.available(), 4 << 20);
    }

    #[test]
    fn inflating_past_what_the_budget_has_left_is_a_429() {
        let budget = BodyBudget::new(256 * 1024);
        let mut held = reservation(&budget);
        let bomb = gzip(&vec![0u8; 1 << 20]);
        assert!(matches!(
            inflate(MultiGzDecoder::new(bomb.as_slice()), "gzip", 2 << 20, &mut held),
            Err(ApiError::Overloaded)
        ));
        drop(held);
        assert_eq!(budget.available(), 256 * 1024);
    }

    #[test]
    fn a_body_that_is_not_gzip_is_malformed() {
        assert!(matches!(gunzip(b"plain", 100), Err(ApiError::BadRequest { .. })));
    }
}
