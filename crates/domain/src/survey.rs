//! Follow-up survey tokens: the signed, single-use, expiring token a survey invitation carries, so
//! the resident's answer links itself to the case it was sent for, without anyone calling
//! `LinkFollowUp`.
//!
//! A token is `v1.{department}.{case}.{notice}.{expiry}.{signature}`: the invitation's
//! department, case and notice (the notice ID makes it single-use: the store records that notice
//! as answered), its expiry in seconds since the epoch, and an HMAC-SHA256 over all of that with a
//! key derived from the server's secret. It names no resident. Forging one, or changing its
//! case, breaks the signature; an expired one still identifies its case, and its answer is kept
//! as ordinary feedback.
use crate::{DepartmentId, ValidationError};
use chrono::{DateTime, Utc};
use hmac::{Hmac, Mac};
use sha2::Sha256;

/// What a survey token says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SurveyClaims {
    /// The case's department.
    pub department: DepartmentId,
    /// The case.
    pub case_id: String,
    /// The invitation (a notice): one answer per invitation.
    pub notice_id: String,
    /// When the token stops linking answers.
    pub expires_at: DateTime<Utc>,
}

/// Why a token does not link an answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TokenError {
    /// Not a token this city signed (or altered).
    Forged,
    /// Signed, but past its expiry: the answer is kept as ordinary feedback.
    Expired(SurveyClaims),
}

/// The key survey tokens are signed with.
#[derive(Clone)]
pub struct SurveyKey(Hmac<Sha256>);

impl std::fmt::Debug for SurveyKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SurveyKey(..)")
    }
}

impl SurveyKey {
    /// The key derived from the server's secret, so every replica signs and accepts the same
    /// tokens, and no other key of the server can stand in for it.
    pub fn derived_from(server_secret: &[u8]) -> Self {
        let mut mac = Self::new(server_secret).0;
        mac.update(b"cityserve/survey-tokens/v1");
        Self::new(&mac.finalize().into_bytes())
    }

    fn new(key: &[u8]) -> Self {
        // HMAC accepts keys of any length; the fallback is never taken.
        Self(Hmac::<Sha256>::new_from_slice(key).unwrap_or_else(|_| unreachable!("HMAC takes any key length")))
    }

    fn signature(&self, body: &str) -> Hmac<Sha256> {
        let mut mac = self.0.clone();
        mac.update(body.as_bytes());
        mac
    }

    /// The token for `c`.
    pub fn sign(&self, c: &SurveyClaims) -> String {
        let body = format!("v1.{}.{}.{}.{}", c.department, c.case_id, c.notice_id, c.expires_at.timestamp());
        let sig = self.signature(&body).finalize().into_bytes();
        let hex: String = sig.iter().map(|b| format!("{b:02x}")).collect();
        format!("{body}.{hex}")
    }

    /// The claims of `token` when this key signed it and it has not expired at `now`.
    pub fn verify(&self, token: &str, now: DateTime<Utc>) -> Result<SurveyClaims, TokenError> {
        let token = token.trim();
        if token.len() > 400 {
            return Err(TokenError::Forged);
        }
        let (body, hex) = token.rsplit_once('.').ok_or(TokenError::Forged)?;
        let sig = decode_hex(hex).ok_or(TokenError::Forged)?;
        self.signature(body).verify_slice(&sig).map_err(|_| TokenError::Forged)?;
        let parts: Vec<&str> = body.split('.').collect();
        let ["v1", department, case_id, notice_id, expiry] = parts.as_slice() else {
            return Err(TokenError::Forged);
        };
        let department = DepartmentId::parse("token", department).map_err(|_| TokenError::Forged)?;
        let expires_at =
            expiry.parse::<i64>().ok().and_then(|s| DateTime::from_timestamp(s, 0)).ok_or(TokenError::Forged)?;
        let claims =
            SurveyClaims { department, case_id: (*case_id).to_owned(), notice_id: (*notice_id).to_owned(), expires_at };
        if now >= expires_at { Err(TokenError::Expired(claims)) } else { Ok(claims) }
    }
}

fn decode_hex(s: &str) -> Option<Vec<u8>> {
    if s.len() != 64 || !s.is_ascii() {
        return None;
    }
    (0..s.len()).step_by(2).map(|i| u8::from_str_radix(&s[i..i + 2], 16).ok()).collect()
}

/// The answer a survey token links: the invitation and case it was for, and whether the resident
/// says it was resolved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SurveyLink {
    /// The invitation (its notice ID): answered once.
    pub notice_id: String,
    /// The case to link the answer to.
    pub case_id: String,
    /// "Was it resolved?", when answered: recorded as the case's `satisfied`.
    pub resolved: Option<bool>,
}

/// Checks a token field's size before it is verified (the value is never echoed).
pub fn token_field(field: &str, value: &str) -> Result<String, ValidationError> {
    let v = value.trim();
    if v.is_empty() || v.len() > 400 {
        return Err(ValidationError::one(field, "is not a survey token"));
    }
    Ok(v.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claims(exp: DateTime<Utc>) -> SurveyClaims {
        SurveyClaims {
            department: DepartmentId::parse("d", "water").expect("id"),
            case_id: "fb-1".into(),
            notice_id: "n-1".into(),
            expires_at: DateTime::from_timestamp(exp.timestamp(), 0).expect("time"),
        }
    }

    #[test]
    fn tokens_verify_only_unaltered_and_unexpired() {
        let key = SurveyKey::derived_from(b"a server secret of some length");
        let now = Utc::now();
        let c = claims(now + chrono::Duration::days(30));
        let t = key.sign(&c);
        assert_eq!(key.verify(&t, now), Ok(c.clone()));
        assert_eq!(key.verify(&t.replace(".fb-1.", ".fb-2."), now), Err(TokenError::Forged));
        assert_eq!(key.verify(&format!("{t}0"), now), Err(TokenError::Forged));
        assert_eq!(key.verify("v1.water.fb-1.n-1.0.00", now), Err(TokenError::Forged));
        let other = SurveyKey::derived_from(b"another server's secret");
        assert_eq!(other.verify(&t, now), Err(TokenError::Forged));
        assert_eq!(key.verify(&t, now + chrono::Duration::days(31)), Err(TokenError::Expired(c)));
    }
}
