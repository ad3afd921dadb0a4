//! Request bodies of the integration endpoints: read within the limit, then un-gzipped within the
//! same limit, so a small gzip bomb is a 413 and never a large allocation.

use crate::error::ApiError;
use actix_web::http::header;
use actix_web::{web, HttpRequest};
use flate2::read::{MultiGzDecoder, ZlibDecoder};
use std::io::Read;

/// Reads the body (413 past `limit`) and undoes `Content-Encoding: gzip` (or `deflate`), refusing a decompressed
/// body larger than `limit` too. Another content encoding is a 415.
pub async fn read_decoded(
    req: &HttpRequest,
    payload: web::Payload,
    limit: usize,
) -> Result<Vec<u8>, ApiError> {
    let encoding = req
        .headers()
        .get(header::CONTENT_ENCODING)
        .map(|v| v.to_str().unwrap_or("(not text)").trim().to_ascii_lowercase());
    let body = match encoding.as_deref() {
        None | Some("") | Some("identity") => return super::read_body(req, payload, limit).await,
        Some("gzip") | Some("x-gzip") => super::read_body(req, payload, limit).await?,
        // HTTP's "deflate" is the zlib format; the OTel Python exporter offers it.
        Some("deflate") => {
            let body = super::read_body(req, payload, limit).await?;
            return inflate(ZlibDecoder::new(body.as_slice()), "deflate", limit);
        }
        Some(other) => {
            return Err(ApiError::UnsupportedMediaType(format!(
                "Content-Encoding {other:?} is not accepted; send gzip, deflate or no encoding"
            )))
        }
    };
    gunzip(&body, limit)
}

/// Decompresses gzip, at most `limit` bytes; more is a 413.
pub fn gunzip(compressed: &[u8], limit: usize) -> Result<Vec<u8>, ApiError> {
    inflate(MultiGzDecoder::new(compressed), "gzip", limit)
}

fn inflate(decoder: impl Read, format: &str, limit: usize) -> Result<Vec<u8>, ApiError> {
    let mut out = Vec::new();
    let cap = u64::try_from(limit).unwrap_or(u64::MAX).saturating_add(1);
    decoder.take(cap).read_to_end(&mut out).map_err(|e| {
        ApiError::bad_request(
            "malformed_body",
            format!("the body is not valid {format} ({e}); nothing was stored"),
        )
    })?;
    if out.len() > limit {
        return Err(ApiError::PayloadTooLarge { limit });
    }
    Ok(out)
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

    #[test]
    fn a_body_that_is_not_gzip_is_malformed() {
        assert!(matches!(gunzip(b"plain", 100), Err(ApiError::BadRequest { .. })));
    }
}
