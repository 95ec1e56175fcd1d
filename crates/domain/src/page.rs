//! Keyset pagination: page tokens are opaque to clients, stable under inserts (they carry the last
//! key seen, not an offset), authenticated with a server key and bound to the call they were
//! issued for (RPC, caller, filter), so a forged or altered token is refused before any query.
use crate::validation::ValidationError;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use sha2::Sha256;

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

/// The key that authenticates page tokens (HMAC-SHA256). The server derives it from its own
/// secret, so every replica accepts the tokens of every other and nobody else can make one.
#[derive(Clone)]
pub struct PageKey(Hmac<Sha256>);

impl std::fmt::Debug for PageKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PageKey(..)")
    }
}

impl PageKey {
    /// A key for `secret` (any length; HMAC hashes long keys).
    pub fn new(secret: &[u8]) -> Self {
        // HMAC accepts keys of every length.
        Self(Hmac::<Sha256>::new_from_slice(secret).unwrap_or_else(|_| unreachable!("HMAC takes any key length")))
    }

    /// The key for page tokens derived from a server secret (e.g. the token-signing secret), so
    /// the secret itself never signs page tokens and every replica derives the same key.
    pub fn derived_from(server_secret: &[u8]) -> Self {
        let mut mac = Self::new(server_secret).0;
        mac.update(b"cityserve/page-tokens/v1");
        Self::new(&mac.finalize().into_bytes())
    }

    fn mac(&self, after: &str, binding: &str) -> Hmac<Sha256> {
        let mut mac = self.0.clone();
        mac.update(&(binding.len() as u64).to_be_bytes());
        mac.update(binding.as_bytes());
        mac.update(after.as_bytes());
        mac
    }
}

/// The decoded content of a page token.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct PageToken {
    /// Last key returned.
    #[serde(rename = "a")]
    pub after: String,
    /// HMAC-SHA256 of the binding (RPC, caller, filter) and `after`, base64url.
    #[serde(rename = "m")]
    pub mac: String,
}

impl PageToken {
    /// Encodes a token continuing after `after`, authenticated with `key` and bound to `binding`
    /// (a string naming the RPC, the caller and the filter: a token answers only the same call).
    pub fn encode(key: &PageKey, after: &str, binding: &str) -> String {
        let mac = URL_SAFE_NO_PAD.encode(key.mac(after, binding).finalize().into_bytes());
        let token = PageToken { after: after.to_owned(), mac };
        // Serializing two strings cannot fail.
        URL_SAFE_NO_PAD.encode(serde_json::to_vec(&token).unwrap_or_default())
    }
}

impl PageRequest {
    /// Validates `page_size` and `page_token` of a list call whose binding (RPC, caller and
    /// filter) is `binding`. A token that `key` did not make for exactly this binding is refused
    /// (INVALID_ARGUMENT on `page_token`) before anything reads it.
    pub fn parse(key: &PageKey, page_size: i32, page_token: &str, binding: &str) -> Result<Self, ValidationError> {
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
        let mac = URL_SAFE_NO_PAD.decode(&token.mac).map_err(|_| invalid())?;
        key.mac(&token.after, binding).verify_slice(&mac).map_err(|_| invalid())?;
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

    fn key() -> PageKey {
        PageKey::new(b"test key")
    }

    #[test]
    fn sizes() {
        assert_eq!(PageRequest::parse(&key(), 0, "", "").unwrap().size, DEFAULT_PAGE_SIZE);
        assert_eq!(PageRequest::parse(&key(), 10_000, "", "").unwrap().size, MAX_PAGE_SIZE);
        assert_eq!(PageRequest::parse(&key(), -1, "", "").unwrap_err().violations[0].field, "page_size");
    }

    #[test]
    fn tokens_round_trip_and_are_bound_to_the_filter() {
        let t = PageToken::encode(&key(), "streets", "status=active");
        assert_eq!(PageRequest::parse(&key(), 5, &t, "status=active").unwrap().after.as_deref(), Some("streets"));
        assert!(PageRequest::parse(&key(), 5, &t, "status=archived").is_err());
        assert!(PageRequest::parse(&PageKey::new(b"another key"), 5, &t, "status=active").is_err());
        for bad in ["!!", "bm90IGpzb24", &"A".repeat(2000)] {
            assert_eq!(PageRequest::parse(&key(), 5, bad, "").unwrap_err().violations[0].field, "page_token");
        }
    }

    #[test]
    fn a_well_formed_token_with_a_forged_cursor_is_refused() {
        let t = PageToken::encode(&key(), "42", "f");
        let mut token: PageToken = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(&t).unwrap()).unwrap();
        token.after = "not-a-number".into();
        let forged = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&token).unwrap());
        assert_eq!(PageRequest::parse(&key(), 5, &forged, "f").unwrap_err().violations[0].field, "page_token");
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
