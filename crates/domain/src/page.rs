//! Keyset pagination: page tokens are opaque to clients, stable under inserts (they carry the last
//! key seen, not an offset) and bound to the filter they were issued for.
use crate::validation::ValidationError;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha2::{Digest, Sha256};

/// Page size when the client sends 0.
pub const DEFAULT_PAGE_SIZE: u32 = 50;
/// Largest page a client may ask for.
pub const MAX_PAGE_SIZE: u32 = 500;

/// A validated request for one page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PageRequest {
    /// How many items at most.
    pub size: u32,
    /// Return items whose key sorts after this one.
    pub after: Option<String>,
}

/// One page of results.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page<T> {
    /// The items, in key order.
    pub items: Vec<T>,
    /// The key to continue after, when more items exist.
    pub next_after: Option<String>,
}

/// The decoded content of a page token.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct PageToken {
    /// Last key returned.
    #[serde(rename = "a")]
    pub after: String,
    /// Fingerprint of the filter the token belongs to.
    #[serde(rename = "f")]
    pub filter: String,
}

fn fingerprint(filter: &str) -> String {
    let digest = Sha256::digest(filter.as_bytes());
    URL_SAFE_NO_PAD.encode(&digest[..8])
}

impl PageToken {
    /// Encodes a token continuing after `after` for the listing described by `filter`.
    pub fn encode(after: &str, filter: &str) -> String {
        let token = PageToken { after: after.to_owned(), filter: fingerprint(filter) };
        // Serializing two strings cannot fail.
        URL_SAFE_NO_PAD.encode(serde_json::to_vec(&token).unwrap_or_default())
    }
}

impl PageRequest {
    /// Validates `page_size` and `page_token` of a list request whose filter is described by
    /// `filter` (any string that differs when the filter differs, e.g. `"status=active"`).
    pub fn parse(page_size: i32, page_token: &str, filter: &str) -> Result<Self, ValidationError> {
        let size = match page_size {
            0 => DEFAULT_PAGE_SIZE,
            n if n < 0 => return Err(ValidationError::one("page_size", "must not be negative")),
            n => (n as u32).min(MAX_PAGE_SIZE),
        };
        if page_token.is_empty() {
            return Ok(Self { size, after: None });
        }
        let invalid = || ValidationError::one("page_token", "is not a token returned by this list call");
        if page_token.len() > 1024 {
            return Err(invalid());
        }
        let bytes = URL_SAFE_NO_PAD.decode(page_token).map_err(|_| invalid())?;
        let token: PageToken = serde_json::from_slice(&bytes).map_err(|_| invalid())?;
        if token.filter != fingerprint(filter) {
            return Err(ValidationError::one("page_token", "belongs to a list call with a different filter"));
        }
        Ok(Self { size, after: Some(token.after) })
    }
}

impl<T> Page<T> {
    /// Builds a page from up to `size + 1` items fetched in key order: the extra item, if
    /// present, only signals that another page exists.
    pub fn from_overfetch(mut items: Vec<T>, size: u32, key: impl Fn(&T) -> String) -> Self {
        let more = items.len() > size as usize;
        items.truncate(size as usize);
        let next_after = if more { items.last().map(key) } else { None };
        Page { items, next_after }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        assert_eq!(PageRequest::parse(0, "", "").unwrap().size, DEFAULT_PAGE_SIZE);
        assert_eq!(PageRequest::parse(10_000, "", "").unwrap().size, MAX_PAGE_SIZE);
        assert_eq!(PageRequest::parse(-1, "", "").unwrap_err().violations[0].field, "page_size");
    }

    #[test]
    fn tokens_round_trip_and_are_bound_to_the_filter() {
        let t = PageToken::encode("streets", "status=active");
        assert_eq!(PageRequest::parse(5, &t, "status=active").unwrap().after.as_deref(), Some("streets"));
        assert!(PageRequest::parse(5, &t, "status=archived").is_err());
        for bad in ["!!", "bm90IGpzb24", &"A".repeat(2000)] {
            assert_eq!(PageRequest::parse(5, bad, "").unwrap_err().violations[0].field, "page_token");
        }
    }

    #[test]
    fn overfetch_sets_the_continuation_key() {
        let p = Page::from_overfetch(vec![1, 2, 3], 2, |i| i.to_string());
        assert_eq!(p.items, vec![1, 2]);
        assert_eq!(p.next_after.as_deref(), Some("2"));
        let p = Page::from_overfetch(vec![1, 2], 2, |i| i.to_string());
        assert_eq!(p.next_after, None);
    }
}
