//! Per-key token buckets of the gateway. A key has two: accepted requests spend its published
//! budget (`open311_requests_per_minute`); refused ones (400/404) are refunded there and spend a
//! separate, larger allowance instead, so a client's mistakes do not eat its budget while a broken
//! client still cannot flood the city with bad requests.
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Instant;

/// How many refused requests a key may send per accepted request of its budget.
pub(crate) const REFUSALS_PER_REQUEST: u32 = 5;

/// Token buckets by key ID.
#[derive(Debug, Default)]
pub(crate) struct Buckets {
    buckets: Mutex<HashMap<String, (f64, Instant)>>,
}

impl Buckets {
    /// Runs `f` on `key`'s bucket (tokens refilled to now) for a rate of `per_minute`.
    fn with<T>(&self, key: &str, per_minute: u32, f: impl FnOnce(&mut f64, f64) -> T) -> T {
        let rate = f64::from(per_minute.max(1)) / 60.0;
        let burst = f64::from(per_minute.max(1));
        let now = Instant::now();
        let mut buckets = self.buckets.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let (tokens, last) = buckets.entry(key.to_owned()).or_insert((burst, now));
        *tokens = (*tokens + now.duration_since(*last).as_secs_f64() * rate).min(burst);
        *last = now;
        f(tokens, rate)
    }

    /// Takes one token of `key`'s bucket; `Err(seconds)` until the next token when empty.
    pub(crate) fn take(&self, key: &str, per_minute: u32) -> Result<(), u64> {
        self.with(key, per_minute, |tokens, rate| {
            if *tokens >= 1.0 {
                *tokens -= 1.0;
                Ok(())
            } else {
                Err(((1.0 - *tokens) / rate).ceil() as u64)
            }
        })
    }

    /// `Err(seconds)` while `key`'s bucket is empty; takes nothing.
    pub(crate) fn check(&self, key: &str, per_minute: u32) -> Result<(), u64> {
        self.with(
            key,
            per_minute,
            |tokens, rate| {
                if *tokens >= 1.0 { Ok(()) } else { Err(((1.0 - *tokens) / rate).ceil() as u64) }
            },
        )
    }

    /// Gives back a token taken by [`Buckets::take`] (never above the burst).
    pub(crate) fn refund(&self, key: &str, per_minute: u32) {
        let burst = f64::from(per_minute.max(1));
        self.with(key, per_minute, |tokens, _| *tokens = (*tokens + 1.0).min(burst));
    }
}

/// A key's two allowances.
#[derive(Debug, Default)]
pub(crate) struct Limiter {
    accepted: Buckets,
    refused: Buckets,
}

impl Limiter {
    /// Before filing: `Err(seconds)` when the key has spent its refusals allowance or its budget;
    /// otherwise takes one token of the budget, which a filed request keeps and a refused one gives
    /// back ([`Limiter::refused`]).
    pub(crate) fn admit(&self, key: &str, per_minute: u32) -> Result<(), u64> {
        self.refused.check(key, per_minute.saturating_mul(REFUSALS_PER_REQUEST))?;
        self.accepted.take(key, per_minute)
    }

    /// The request was refused: its budget token comes back and the refusals allowance pays.
    pub(crate) fn refused(&self, key: &str, per_minute: u32) {
        self.accepted.refund(key, per_minute);
        // An empty allowance is noticed by the next `admit`.
        let _ = self.refused.take(key, per_minute.saturating_mul(REFUSALS_PER_REQUEST));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_gets_its_burst_then_waits() {
        let l = Limiter::default();
        for _ in 0..3 {
            assert!(l.admit("k", 3).is_ok());
        }
        let wait = l.admit("k", 3).unwrap_err();
        assert!((1..=20).contains(&wait), "{wait}");
        assert!(l.admit("other", 3).is_ok(), "buckets are per key");
    }

    #[test]
    fn refusals_are_refunded_and_limited_apart() {
        let l = Limiter::default();
        // Three refused requests cost nothing of a budget of 3...
        for _ in 0..3 {
            l.admit("k", 3).unwrap();
            l.refused("k", 3);
        }
        for _ in 0..3 {
            l.admit("k", 3).unwrap();
        }
        assert!(l.admit("k", 3).is_err(), "the budget is spent by accepted requests only");
        // ...but a client that only sends bad requests is stopped after 5x its budget.
        let l = Limiter::default();
        let mut admitted = 0;
        while l.admit("bad", 3).is_ok() {
            l.refused("bad", 3);
            admitted += 1;
            assert!(admitted <= 100, "refusals are never unlimited");
        }
        assert_eq!(admitted, 3 * REFUSALS_PER_REQUEST);
    }
}
