//! ES256 verification (ECDSA over P-256 with SHA-256, RFC 7518 §3.4) on a table of the public
//! key's precomputed multiples, for the keys that sign often.
//!
//! Why: a `private_key_jwt` assertion or a DPoP proof costs one ES256 verification, which alone
//! cost more CPU than a whole secret-based token request (README, Performance). Verifying
//! computes u1·G + u2·Q (SEC 1 v2 §4.1.4 step 5). aws-lc precomputes multiples of the fixed
//! generator G, but must treat the public key Q as a new point every time: that variable-base
//! half is most of the work. A partner signs every assertion, and a DPoP client every proof,
//! with the same key, so Q is as fixed as G in practice: with a table of its multiples too,
//! the whole verification is about 70 point additions and no doublings.
//!
//! What is ours and what is not: the field and scalar arithmetic is fiat-crypto's, generated
//! and proved correct (the same code BoringSSL and aws-lc build P-256 on where they have no
//! assembly). Ours are the textbook point formulas (the Explicit-Formulas Database's
//! `dbl-2001-b`, `madd-2007-bl` and `add-2007-bl` for a = -3), the tables, the signed windows
//! and the inversion of s (`inverse.rs`). Tests compare it with aws-lc on every path, the
//! exceptional additions included.
//!
//! Only public values go in: the key, the message and the signature. So the code may branch
//! and index on them (variable time), as verification code does everywhere.
//!
//! A key gets its table (148 KiB) only once it has verified `BUSY_AFTER` signatures the usual
//! way, and at most `MAX_TABLES` keys hold one: a key that signs once never pays the 1-2 ms a
//! table takes to build, and keys made up to fill memory fill nothing.

use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};

use aws_lc_rs::digest::{SHA256, digest};

use arith::{Fe, Limbs, N, P, ZERO, add, less, limbs, mul_mod_n, sub};
use point::{Affine, KEY_WINDOW, Table, lincomb};

/// Successful verifications without a table before a key gets one.
pub const BUSY_AFTER: u64 = 16;
/// Keys holding a table at once, in the whole process: about 9 MiB.
pub const MAX_TABLES: usize = 64;

/// How many keys may hold a table at once, and how many do.
pub struct Budget {
    held: AtomicUsize,
    max: usize,
}

impl Budget {
    const fn new(max: usize) -> Self {
        Self {
            held: AtomicUsize::new(0),
            max,
        }
    }

    fn reserve(&self) -> bool {
        self.held
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < self.max).then_some(n + 1)
            })
            .is_ok()
    }

    fn release(&self) {
        self.held.fetch_sub(1, Ordering::AcqRel);
    }

    /// Keys holding a table right now.
    pub fn held(&self) -> usize {
        self.held.load(Ordering::Relaxed)
    }
}

/// The process's budget.
pub static TABLES: Budget = Budget::new(MAX_TABLES);

/// SEC 1 v2 §4.1.4 steps 2-3: e is the digest as an integer (all 256 bits: P-256 needs no
/// truncation), taken mod n. A digest is below 2^256 < 2n, so one subtraction does it.
fn digest_scalar(digest: &[u8; 32]) -> Limbs {
    let e = limbs(digest);
    if less(&e, &N) { e } else { sub(&e, &N) }
}

/// SEC 1 v2 §4.1.4 (FIPS 186-5 §6.4.2) for a SHA-256 digest and a JWS signature r ‖ s (RFC
/// 7518 §3.4: exactly 64 bytes).
fn verify_digest(q: &Table<KEY_WINDOW>, digest: &[u8; 32], signature: &[u8]) -> bool {
    let Some((r, s)) = signature.split_first_chunk::<32>() else {
        return false;
    };
    let Ok(s) = <&[u8; 32]>::try_from(s) else {
        return false;
    };
    let (r, s) = (limbs(r), limbs(s));
    // Step 1: r and s in [1, n-1].
    if r == ZERO || s == ZERO || !less(&r, &N) || !less(&s, &N) {
        return false;
    }
    let e = digest_scalar(digest);
    // Steps 4-5: R = (e·s⁻¹)·G + (r·s⁻¹)·Q, refused at infinity.
    let w = inverse::invert(&s);
    let Some(point) = lincomb(&mul_mod_n(&e, &w), q, &mul_mod_n(&r, &w)) else {
        return false;
    };
    // Steps 6-7: x(R) mod n = r. In Jacobian coordinates x(R) = X/Z², so compare r·Z² with X
    // rather than invert Z. x(R) < p, and p < 2n, so x(R) mod n = r means x(R) = r or r + n.
    let z2 = point.z.square();
    if Fe::new(r).mul(&z2) == point.x {
        return true;
    }
    match add(&r, &N) {
        (r_plus_n, false) if less(&r_plus_n, &P) => Fe::new(r_plus_n).mul(&z2) == point.x,
        _ => false,
    }
}

// ---- a key's table over its life ----

/// A P-256 public key that gets a table once it has proved busy.
pub struct BusyKey {
    point: Affine,
    budget: &'static Budget,
    verified: AtomicU64,
    building: AtomicBool,
    table: OnceLock<Table<KEY_WINDOW>>,
}

impl BusyKey {
    /// The key of these big-endian coordinates (a JWK's `x` and `y`), if it is on the curve.
    pub fn new(x: &[u8], y: &[u8]) -> Option<Self> {
        Self::with_budget(x, y, &TABLES)
    }

    fn with_budget(x: &[u8], y: &[u8], budget: &'static Budget) -> Option<Self> {
        let point = Affine::on_curve(x.try_into().ok()?, y.try_into().ok()?)?;
        Some(Self {
            point,
            budget,
            verified: AtomicU64::new(0),
            building: AtomicBool::new(false),
            table: OnceLock::new(),
        })
    }

    /// Whether this ES256 `signature` (r ‖ s) over `message` verifies, if the key has its
    /// table; `None` if not, and the caller verifies another way and then calls `verified`.
    pub fn verify(&self, message: &[u8], signature: &[u8]) -> Option<bool> {
        let table = self.table.get()?;
        let mut hash = [0u8; 32];
        hash.copy_from_slice(digest(&SHA256, message).as_ref());
        Some(verify_digest(table, &hash, signature))
    }

    /// Notes one signature verified without the table; the `BUSY_AFTER`-th builds it, if
    /// fewer than `MAX_TABLES` keys hold one (else a later verification tries again).
    pub fn verified(&self) {
        let count = self
            .verified
            .fetch_add(1, Ordering::Relaxed)
            .saturating_add(1);
        if count < BUSY_AFTER
            || self.table.get().is_some()
            || self.building.swap(true, Ordering::Acquire)
        {
            return;
        }
        if self.budget.reserve() {
            let kept = Table::new(&self.point).is_some_and(|t| self.table.set(t).is_ok());
            if !kept {
                self.budget.release();
            }
        }
        self.building.store(false, Ordering::Release);
    }

    /// Whether the key verifies on its table now.
    pub fn has_table(&self) -> bool {
        self.table.get().is_some()
    }
}

impl Drop for BusyKey {
    fn drop(&mut self) {
        if self.table.get().is_some() {
            self.budget.release();
        }
    }
}

mod arith;
mod inverse;
mod point;
#[cfg(test)]
mod tests;
