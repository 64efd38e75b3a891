use super::*;

fn limiter(per_pair: u32, per_address: u32, max_keys: usize) -> Limiter {
    let settings = LimitSettings {
        per_pair,
        per_address,
        max_keys,
    };
    Limiter::new(settings, None, "t".into())
}

/// One failed attempt; `Err` with the retry-after when refused.
async fn fail(l: &Limiter, keys: Keys, now: i64) -> Result<u32, u64> {
    l.begin(keys, now).await.map(Permit::failed)
}

#[tokio::test]
async fn a_pair_is_blocked_at_its_limit_and_others_are_not() {
    let l = limiter(3, 5, 1000);
    let attacker = || Keys::client("c1", Some("10.0.0.1"));
    for n in 1..=3 {
        assert_eq!(fail(&l, attacker(), 120).await, Ok(n));
    }
    assert_eq!(fail(&l, attacker(), 125).await, Err(55));
    let real = Keys::client("c1", Some("10.0.0.2"));
    assert!(l.begin(real, 125).await.is_ok(), "the real client");
    assert_eq!(fail(&l, attacker(), 180).await, Ok(1), "a new window");
}

#[tokio::test]
async fn an_address_is_blocked_over_all_principals() {
    let l = limiter(3, 5, 1000);
    for i in 0..5 {
        let keys = Keys::user(&format!("u{i}"), Some("10.0.0.9"));
        assert!(fail(&l, keys, 0).await.is_ok());
    }
    let other = Keys::user("someone-else", Some("10.0.0.9"));
    assert!(l.begin(other, 1).await.is_err());
    assert_eq!(l.refused_counts(), (0, 1, 0));
}

#[tokio::test]
async fn a_right_secret_gives_its_slot_back() {
    let l = limiter(2, 100, 1000);
    for _ in 0..10 {
        // dropped without `failed()`: a success, or an error of ours
        let permit = l.begin(Keys::client("c", Some("a")), 0).await;
        assert!(permit.is_ok());
    }
    assert_eq!(l.tracked(), 0, "nothing left behind");
    assert!(fail(&l, Keys::client("c", Some("a")), 0).await.is_ok());
}

#[tokio::test]
async fn a_refused_spray_inserts_nothing() {
    let l = limiter(10, 5, 100_000);
    for i in 0..5 {
        assert!(
            fail(&l, Keys::client(&format!("c{i}"), Some("6.6.6.6")), 0)
                .await
                .is_ok()
        );
    }
    let tracked = l.tracked();
    for i in 0..10_000 {
        let keys = Keys::client(&uuid_like(i), Some("6.6.6.6"));
        assert!(l.begin(keys, 1).await.is_err());
    }
    assert_eq!(
        l.tracked(),
        tracked,
        "a blocked address adds no key per request"
    );
    assert_eq!(l.refused_counts(), (0, 10_000, 0));
}

#[tokio::test]
async fn at_the_cap_new_keys_are_refused_never_let_through() {
    let l = limiter(10, 1000, 64);
    let mut refused = 0;
    for i in 0..200 {
        let keys = Keys::client("c", Some(&format!("10.1.{}.{}", i / 256, i % 256)));
        if fail(&l, keys, 0).await.is_err() {
            refused += 1;
        }
    }
    assert!(l.tracked() <= 64, "tracked {}", l.tracked());
    assert!(refused > 0);
    assert_eq!(l.refused_counts().2, refused);
}

#[tokio::test]
async fn windows_gone_by_are_freed() {
    let l = limiter(10, 1000, 100_000);
    for i in 0..500 {
        assert!(
            fail(&l, Keys::client(&uuid_like(i), Some("a")), 0)
                .await
                .is_ok()
        );
    }
    assert_eq!(l.tracked(), 501);
    l.sweep(60);
    assert_eq!(l.tracked(), 0);
}

#[tokio::test]
async fn a_late_sweep_or_slot_never_wipes_the_new_windows_counts() {
    let l = limiter(3, 1000, 1000);
    let attacker = || Keys::client("c1", Some("10.0.0.1"));
    // A slot taken in the last second of a window, given back after the next one began.
    let late = l.begin(attacker(), 59).await;
    assert!(late.is_ok());
    for n in 1..=3 {
        assert_eq!(fail(&l, attacker(), 60).await, Ok(n));
    }
    // The maintenance task read the clock at 59 and sweeps after the rollover.
    l.sweep(59);
    drop(late);
    assert!(
        fail(&l, attacker(), 61).await.is_err(),
        "three failures in this window already: the fourth is refused"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_attempts_never_pass_the_limit() {
    let l = std::sync::Arc::new(limiter(1_000_000, 100, 100_000));
    let tasks: Vec<_> = (0..64)
        .map(|t| {
            let l = std::sync::Arc::clone(&l);
            tokio::spawn(async move {
                let mut passed = 0;
                for i in 0..50 {
                    let keys = Keys::client(&format!("{t}-{i}"), Some("10.0.0.1"));
                    if let Ok(permit) = l.begin(keys, 0).await {
                        tokio::task::yield_now().await;
                        permit.failed();
                        passed += 1;
                    }
                }
                passed
            })
        })
        .collect();
    let mut passed = 0;
    for t in tasks {
        passed += t.await.unwrap();
    }
    assert_eq!(passed, 100);
}

fn uuid_like(i: usize) -> String {
    format!("{i:08x}-0000-4000-8000-000000000000")
}

#[test]
fn zero_limits_and_a_tiny_cap_are_refused() {
    let ok = LimitSettings {
        per_pair: 1,
        per_address: 1_000_000_000,
        max_keys: 16,
    };
    assert!(ok.validate().is_ok());
    for bad in [
        LimitSettings { per_pair: 0, ..ok },
        LimitSettings {
            per_address: 0,
            ..ok
        },
        LimitSettings { max_keys: 0, ..ok },
    ] {
        assert!(bad.validate().is_err(), "{bad:?}");
    }
}

#[test]
fn login_delays_grow_and_stop_growing() {
    assert_eq!(login_delay(5, 10), Duration::ZERO);
    assert_eq!(login_delay(6, 10), Duration::from_millis(100));
    assert_eq!(login_delay(7, 10), Duration::from_millis(200));
    assert_eq!(login_delay(40, 10), Duration::from_millis(3200));
    assert_eq!(login_delay(150, 1_000_000), Duration::ZERO);
}
