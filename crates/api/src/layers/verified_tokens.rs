//! Bearer tokens verified before: a client sends the same token with every call until it
//! expires, so [`crate::layers::auth::Authenticator::verify`] checks a token's signature and
//! claims once and answers later calls with the same bytes from here.
//!
//! Verifying an HS256 token (two base64 decodes, two JSON parses, an HMAC) took about 5% of the
//! server's CPU per `SubmitFeedback` (docs/per-call-costs.md, "The allocator and verified
//! tokens"); an RS256 token's signature costs far more.
//!
//! Why a remembered answer is the answer a new verification would give: the outcome depends only
//! on the token's bytes, the configured keys (fixed for the process) and the time. Only tokens
//! that verified are kept, with their expiry. Of the time-dependent checks, "not valid before"
//! (`nbf`) and "not issued in the future" (`iat`) only become easier to pass as time goes on; the
//! expiry is checked again on every hit, with the same leeway, and an expired token is verified
//! in full again, which refuses it with the usual message. A token that failed is never kept.
//!
//! A lookup compares a presented token's bytes only with kept tokens in the same bucket of a
//! randomly keyed hash, so its timing tells a caller nothing useful about a kept token.

use cityserve_domain::Caller;
use std::collections::HashMap;
use std::hash::{BuildHasher, RandomState};
use std::sync::{Mutex, MutexGuard, PoisonError};

/// Independent maps, so concurrent calls on several cores rarely wait for one lock.
const SHARDS: usize = 16;
/// Tokens kept per shard (4,096 in all: about 1 MiB of typical tokens, 32 MiB at most at
/// [`crate::layers::auth::MAX_TOKEN_BYTES`]; only tokens signed with the server's keys get in). A
/// full shard is emptied and starts again, which costs its tokens one more verification each.
const PER_SHARD: usize = 256;

/// A token that verified: who it names, and when it expires (seconds since the epoch).
#[derive(Debug, Clone)]
struct Verified {
    caller: Caller,
    exp: u64,
}

/// Verified tokens, bounded (see the module's documentation for why a hit is safe).
#[derive(Debug)]
pub struct VerifiedTokens {
    shards: Vec<Mutex<HashMap<Box<str>, Verified>>>,
    hasher: RandomState,
}

impl Default for VerifiedTokens {
    fn default() -> Self {
        Self { shards: (0..SHARDS).map(|_| Mutex::new(HashMap::new())).collect(), hasher: RandomState::new() }
    }
}

impl VerifiedTokens {
    /// The shard that keeps `token`, locked. Each shard is a plain map: a panic while holding
    /// its lock cannot leave it inconsistent (as [`crate::layers::standing::StandingCache`]).
    fn shard(&self, token: &str) -> MutexGuard<'_, HashMap<Box<str>, Verified>> {
        let i = usize::try_from(self.hasher.hash_one(token) % SHARDS as u64).unwrap_or(0);
        self.shards[i].lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The caller `token` named when it verified, if it did and has not expired at `now`
    /// (seconds since the epoch) with `leeway` seconds, as jsonwebtoken's expiry check has it.
    pub fn get(&self, token: &str, now: u64, leeway: u64) -> Option<Caller> {
        let mut shard = self.shard(token);
        let verified = shard.get(token)?;
        if verified.exp < now.saturating_sub(leeway) {
            shard.remove(token);
            return None;
        }
        Some(verified.caller.clone())
    }

    /// Keeps `token`, which has just verified as `caller` and expires at `exp`.
    pub fn insert(&self, token: &str, caller: &Caller, exp: u64) {
        let mut shard = self.shard(token);
        if shard.len() >= PER_SHARD {
            shard.clear();
        }
        shard.insert(token.into(), Verified { caller: caller.clone(), exp });
    }

    /// How many tokens are kept.
    pub fn len(&self) -> usize {
        self.shards.iter().map(|s| s.lock().unwrap_or_else(PoisonError::into_inner).len()).sum()
    }

    /// Whether none is kept.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use cityserve_domain::Role;

    fn caller(subject: &str) -> Caller {
        Caller { subject: subject.into(), role: Role::Chief, departments: Vec::new() }
    }

    #[test]
    fn a_kept_token_answers_until_it_expires_with_the_leeway() {
        let kept = VerifiedTokens::default();
        kept.insert("t1", &caller("a"), 1_000);
        assert_eq!(kept.get("t1", 900, 60).map(|c| c.subject), Some("a".into()));
        assert_eq!(kept.get("t1", 1_060, 60).map(|c| c.subject), Some("a".into()), "within the leeway");
        assert_eq!(kept.get("t1", 1_061, 60), None, "expired");
        assert_eq!(kept.get("t1", 900, 60), None, "an expired token is dropped, verified in full next time");
        assert_eq!(kept.get("t2", 900, 60), None, "other bytes are another token");
    }

    #[test]
    fn the_number_kept_is_bounded() {
        let kept = VerifiedTokens::default();
        for i in 0..10 * SHARDS * PER_SHARD {
            kept.insert(&format!("token-{i}"), &caller("a"), u64::MAX);
        }
        assert!(kept.len() <= SHARDS * PER_SHARD, "{} kept", kept.len());
        assert!(!kept.is_empty());
    }
}
