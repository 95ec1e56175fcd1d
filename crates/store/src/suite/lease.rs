//! Leases: one holder at a time, renewals, release, expiry, and the system scope only.
use super::*;
use crate::{Lease, LeaseStore};
use std::time::Duration;

pub async fn leases_are_held_by_one_holder_at_a_time<S: LeaseStore>(store: &S) {
    let (_, system) = cityserve_domain::policy::system_scope("test");
    let minute = Duration::from_secs(60);
    let fresh = store.acquire_lease(&system, "publisher", "replica-a", minute).await.unwrap();
    assert_eq!(fresh, Some(Lease { position: None }));
    assert_eq!(store.acquire_lease(&system, "publisher", "replica-b", minute).await.unwrap(), None, "held by a");
    assert!(store.advance_lease(&system, "publisher", "replica-a", 41, minute).await.unwrap());
    assert!(
        !store.advance_lease(&system, "publisher", "replica-b", 99, minute).await.unwrap(),
        "only the holder saves"
    );
    assert_eq!(
        store.acquire_lease(&system, "publisher", "replica-a", minute).await.unwrap(),
        Some(Lease { position: Some(41) }),
        "a renews"
    );
    assert!(
        store.acquire_lease(&system, "another-job", "replica-b", minute).await.unwrap().is_some(),
        "leases are by name"
    );
    // Released: the next replica takes it at once, where the last one got to.
    store.release_lease(&system, "publisher", "replica-b").await.unwrap();
    assert_eq!(
        store.acquire_lease(&system, "publisher", "replica-b", minute).await.unwrap(),
        None,
        "only the holder releases"
    );
    store.release_lease(&system, "publisher", "replica-a").await.unwrap();
    assert_eq!(
        store.acquire_lease(&system, "publisher", "replica-b", minute).await.unwrap(),
        Some(Lease { position: Some(41) })
    );
    assert!(!store.advance_lease(&system, "publisher", "replica-a", 50, minute).await.unwrap(), "a lost it");
    // Expired: taken over (a holder that died stops renewing).
    assert!(store.acquire_lease(&system, "short", "replica-a", Duration::ZERO).await.unwrap().is_some());
    let mut taken = false;
    for _ in 0..10_000 {
        if store.acquire_lease(&system, "short", "replica-b", minute).await.unwrap().is_some() {
            taken = true;
            break;
        }
        tokio::task::yield_now().await;
    }
    assert!(taken, "an expired lease is taken over");
    // A department's scope holds no lease.
    let c = cso("water");
    let s = scope(&c, Action::ReadDepartment, Some(&dept("water")));
    assert!(store.acquire_lease(&s, "publisher", "cso", minute).await.is_err());
}
