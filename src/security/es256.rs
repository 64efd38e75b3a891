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
//! `dbl-2001-b`, `madd-2007-bl` and `add-2007-bl` for a = -3), the tables and the signed
//! windows. Tests compare it with aws-lc on every path, the exceptional additions included.
//!
//! Only public values go in: the key, the message and the signature. So the code may branch
//! and index on them (variable time), as verification code does everywhere.
//!
//! A key gets its table (148 KiB) only once it has verified `BUSY_AFTER` signatures the usual
//! way, and at most `MAX_TABLES` keys hold one: a key that signs once never pays the 1-2 ms a
//! table takes to build, and keys made up to fill memory fill nothing.

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{LazyLock, OnceLock};

use aws_lc_rs::digest::{SHA256, digest};
use fiat_crypto::p256_64 as fp;
use fiat_crypto::p256_scalar_64 as fs;

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
    pub const fn new(max: usize) -> Self {
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

// ---- 256-bit integers: four 64-bit limbs, least significant first ----

type Limbs = [u64; 4];

/// The field prime p = 2^256 - 2^224 + 2^192 + 2^96 - 1.
const P: Limbs = [
    0xffff_ffff_ffff_ffff,
    0x0000_0000_ffff_ffff,
    0x0000_0000_0000_0000,
    0xffff_ffff_0000_0001,
];
/// The group order n.
const N: Limbs = [
    0xf3b9_cac2_fc63_2551,
    0xbce6_faad_a717_9e84,
    0xffff_ffff_ffff_ffff,
    0xffff_ffff_0000_0000,
];
const ONE: Limbs = [1, 0, 0, 0];
const ZERO: Limbs = [0; 4];

/// A big-endian 32-byte integer.
fn limbs(bytes: &[u8; 32]) -> Limbs {
    let mut out = ZERO;
    for (i, limb) in out.iter_mut().enumerate() {
        let mut word = [0u8; 8];
        word.copy_from_slice(&bytes[24 - 8 * i..32 - 8 * i]);
        *limb = u64::from_be_bytes(word);
    }
    out
}

fn less(a: &Limbs, b: &Limbs) -> bool {
    for i in (0..4).rev() {
        if a[i] != b[i] {
            return a[i] < b[i];
        }
    }
    false
}

/// a + b and the carry out of the top limb.
fn add(a: &Limbs, b: &Limbs) -> (Limbs, bool) {
    let mut out = ZERO;
    let mut carry = false;
    for i in 0..4 {
        let (s, c1) = a[i].overflowing_add(b[i]);
        let (s, c2) = s.overflowing_add(u64::from(carry));
        out[i] = s;
        carry = c1 || c2;
    }
    (out, carry)
}

/// a - b, for a >= b.
fn sub(a: &Limbs, b: &Limbs) -> Limbs {
    let mut out = ZERO;
    let mut borrow = false;
    for i in 0..4 {
        let (d, b1) = a[i].overflowing_sub(b[i]);
        let (d, b2) = d.overflowing_sub(u64::from(borrow));
        out[i] = d;
        borrow = b1 || b2;
    }
    out
}

/// a >> 1, with `top` shifted into the highest bit.
fn halve(a: &mut Limbs, top: bool) {
    for i in 0..3 {
        a[i] = (a[i] >> 1) | (a[i + 1] << 63);
    }
    a[3] = (a[3] >> 1) | (u64::from(top) << 63);
}

// ---- field elements mod p, in Montgomery form, always fully reduced (fiat's contract) ----

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
struct Fe(Limbs);

use fp::fiat_p256_montgomery_domain_field_element as FpMont;

impl Fe {
    const ZERO: Fe = Fe(ZERO);

    /// x mod p for x < p.
    fn new(x: Limbs) -> Fe {
        let mut out = FpMont(ZERO);
        fp::fiat_p256_to_montgomery(
            &mut out,
            &fp::fiat_p256_non_montgomery_domain_field_element(x),
        );
        Fe(out.0)
    }

    fn from_be(bytes: &[u8; 32]) -> Option<Fe> {
        let x = limbs(bytes);
        less(&x, &P).then(|| Fe::new(x))
    }

    /// What a fiat function writes into its output.
    #[inline]
    fn written(f: impl FnOnce(&mut FpMont)) -> Fe {
        let mut out = FpMont(ZERO);
        f(&mut out);
        Fe(out.0)
    }

    fn one() -> Fe {
        Fe::written(fp::fiat_p256_set_one)
    }

    fn is_zero(&self) -> bool {
        self.0 == ZERO
    }

    #[inline]
    fn mul(&self, b: &Fe) -> Fe {
        Fe::written(|o| fp::fiat_p256_mul(o, &FpMont(self.0), &FpMont(b.0)))
    }

    #[inline]
    fn square(&self) -> Fe {
        Fe::written(|o| fp::fiat_p256_square(o, &FpMont(self.0)))
    }

    #[inline]
    fn add(&self, b: &Fe) -> Fe {
        Fe::written(|o| fp::fiat_p256_add(o, &FpMont(self.0), &FpMont(b.0)))
    }

    #[inline]
    fn sub(&self, b: &Fe) -> Fe {
        Fe::written(|o| fp::fiat_p256_sub(o, &FpMont(self.0), &FpMont(b.0)))
    }

    #[inline]
    fn neg(&self) -> Fe {
        Fe::written(|o| fp::fiat_p256_opp(o, &FpMont(self.0)))
    }

    /// self^(p-2) = self⁻¹ for a non-zero self (Fermat); only when a table is built.
    fn invert(&self) -> Fe {
        let e = sub(&P, &[2, 0, 0, 0]);
        let mut acc = Fe::one();
        for i in (0..256).rev() {
            acc = acc.square();
            if (e[i / 64] >> (i % 64)) & 1 == 1 {
                acc = acc.mul(self);
            }
        }
        acc
    }
}

// ---- scalars mod n, in Montgomery form ----

use fs::fiat_p256_scalar_montgomery_domain_field_element as FsMont;

/// (a · b) mod n, for a, b < n.
fn mul_mod_n(a: &Limbs, b: &Limbs) -> Limbs {
    let to_mont = |x: &Limbs| {
        let mut out = FsMont(ZERO);
        fs::fiat_p256_scalar_to_montgomery(
            &mut out,
            &fs::fiat_p256_scalar_non_montgomery_domain_field_element(*x),
        );
        out
    };
    let mut product = FsMont(ZERO);
    fs::fiat_p256_scalar_mul(&mut product, &to_mont(a), &to_mont(b));
    let mut out = fs::fiat_p256_scalar_non_montgomery_domain_field_element(ZERO);
    fs::fiat_p256_scalar_from_montgomery(&mut out, &product);
    out.0
}

// ---- points ----

/// A point (x, y) on the curve, never the point at infinity.
#[derive(Clone, Copy, Debug)]
struct Affine {
    x: Fe,
    y: Fe,
}

/// Jacobian coordinates: (X/Z², Y/Z³); Z = 0 is the point at infinity.
#[derive(Clone, Copy, Debug)]
struct Jacobian {
    x: Fe,
    y: Fe,
    z: Fe,
}

/// The curve's b (FIPS 186-5 / SEC 2 §2.4.2), big-endian.
const B: [u8; 32] = [
    0x5a, 0xc6, 0x35, 0xd8, 0xaa, 0x3a, 0x93, 0xe7, 0xb3, 0xeb, 0xbd, 0x55, 0x76, 0x98, 0x86, 0xbc,
    0x65, 0x1d, 0x06, 0xb0, 0xcc, 0x53, 0xb0, 0xf6, 0x3b, 0xce, 0x3c, 0x3e, 0x27, 0xd2, 0x60, 0x4b,
];
/// The generator G's coordinates.
const GX: [u8; 32] = [
    0x6b, 0x17, 0xd1, 0xf2, 0xe1, 0x2c, 0x42, 0x47, 0xf8, 0xbc, 0xe6, 0xe5, 0x63, 0xa4, 0x40, 0xf2,
    0x77, 0x03, 0x7d, 0x81, 0x2d, 0xeb, 0x33, 0xa0, 0xf4, 0xa1, 0x39, 0x45, 0xd8, 0x98, 0xc2, 0x96,
];
const GY: [u8; 32] = [
    0x4f, 0xe3, 0x42, 0xe2, 0xfe, 0x1a, 0x7f, 0x9b, 0x8e, 0xe7, 0xeb, 0x4a, 0x7c, 0x0f, 0x9e, 0x16,
    0x2b, 0xce, 0x33, 0x57, 0x6b, 0x31, 0x5e, 0xce, 0xcb, 0xb6, 0x40, 0x68, 0x37, 0xbf, 0x51, 0xf5,
];

impl Affine {
    /// The point of these big-endian coordinates, if it is on the curve y² = x³ - 3x + b.
    /// (P-256 has prime order, so every such point generates the whole group.)
    fn on_curve(x: &[u8; 32], y: &[u8; 32]) -> Option<Affine> {
        let (x, y, b) = (Fe::from_be(x)?, Fe::from_be(y)?, Fe::from_be(&B)?);
        let rhs = x.square().mul(&x).sub(&x.add(&x).add(&x)).add(&b);
        (y.square() == rhs).then_some(Affine { x, y })
    }
}

impl Jacobian {
    const INFINITY: Jacobian = Jacobian {
        x: Fe::ZERO,
        y: Fe::ZERO,
        z: Fe::ZERO,
    };

    fn from_affine(p: &Affine) -> Jacobian {
        Jacobian {
            x: p.x,
            y: p.y,
            z: Fe::one(),
        }
    }

    fn is_infinity(&self) -> bool {
        self.z.is_zero()
    }

    /// 2·self: EFD `dbl-2001-b`, 3M + 5S.
    fn double(&self) -> Jacobian {
        let delta = self.z.square();
        let gamma = self.y.square();
        let beta = self.x.mul(&gamma);
        let t = self.x.sub(&delta).mul(&self.x.add(&delta));
        let alpha = t.add(&t).add(&t);
        let beta4 = beta.add(&beta);
        let beta4 = beta4.add(&beta4);
        let x = alpha.square().sub(&beta4.add(&beta4));
        // Z3 = 2·Y·Z: zero, the point at infinity, when self is.
        let z = self.y.add(&self.z).square().sub(&gamma).sub(&delta);
        let gamma8 = gamma.square();
        let gamma8 = gamma8.add(&gamma8);
        let gamma8 = gamma8.add(&gamma8);
        let y = alpha.mul(&beta4.sub(&x)).sub(&gamma8.add(&gamma8));
        Jacobian { x, y, z }
    }

    /// self + q: EFD `madd-2007-bl`, 7M + 4S. The formula fails when the two points have the
    /// same x (H = 0): that is a doubling, or a sum at infinity, each taken apart here.
    fn add_affine(&self, q: &Affine) -> Jacobian {
        if self.is_infinity() {
            return Jacobian::from_affine(q);
        }
        let z1z1 = self.z.square();
        let u2 = q.x.mul(&z1z1);
        let s2 = q.y.mul(&self.z).mul(&z1z1);
        let h = u2.sub(&self.x);
        let r = s2.sub(&self.y);
        if h.is_zero() {
            return if r.is_zero() {
                self.double()
            } else {
                Jacobian::INFINITY
            };
        }
        let hh = h.square();
        let i = hh.add(&hh);
        let i = i.add(&i);
        let j = h.mul(&i);
        let r = r.add(&r);
        let v = self.x.mul(&i);
        let x = r.square().sub(&j).sub(&v.add(&v));
        let y1j = self.y.mul(&j);
        let y = r.mul(&v.sub(&x)).sub(&y1j.add(&y1j));
        let z = self.z.add(&h).square().sub(&z1z1).sub(&hh);
        Jacobian { x, y, z }
    }

    /// self + q: EFD `add-2007-bl`, 11M + 5S; only to build tables.
    fn add(&self, q: &Jacobian) -> Jacobian {
        if self.is_infinity() {
            return *q;
        }
        if q.is_infinity() {
            return *self;
        }
        let z1z1 = self.z.square();
        let z2z2 = q.z.square();
        let u1 = self.x.mul(&z2z2);
        let u2 = q.x.mul(&z1z1);
        let s1 = self.y.mul(&q.z).mul(&z2z2);
        let s2 = q.y.mul(&self.z).mul(&z1z1);
        let h = u2.sub(&u1);
        let r = s2.sub(&s1);
        if h.is_zero() {
            return if r.is_zero() {
                self.double()
            } else {
                Jacobian::INFINITY
            };
        }
        let i = h.add(&h).square();
        let j = h.mul(&i);
        let r = r.add(&r);
        let v = u1.mul(&i);
        let x = r.square().sub(&j).sub(&v.add(&v));
        let s1j = s1.mul(&j);
        let y = r.mul(&v.sub(&x)).sub(&s1j.add(&s1j));
        let z = self.z.add(&q.z).square().sub(&z1z1).sub(&z2z2).mul(&h);
        Jacobian { x, y, z }
    }
}

// ---- tables of multiples ----

/// d·2^(W·i)·P for every window i and every digit d in 1..=2^(W-1), in affine coordinates
/// (an addition of an affine point is the cheaper formula). A scalar written in signed W-bit
/// digits, k = Σ dᵢ·2^(W·i) with |dᵢ| ≤ 2^(W-1), is then k·P = Σ ±table[i][|dᵢ|]: one
/// addition per non-zero digit and no doubling.
struct Table<const W: usize> {
    points: Box<[Affine]>,
}

impl<const W: usize> Table<W> {
    const HALF: usize = 1 << (W - 1);
    /// One more window than 256 bits need, for the carry out of the top digit.
    const WINDOWS: usize = 256 / W + 1;

    /// `None` only if a multiple came out at infinity, which a point of prime order n cannot
    /// give (every multiplier here is below 2^259 and not a multiple of n): a belt for the
    /// braces, so that a fault could only cost speed.
    fn new(p: &Affine) -> Option<Self> {
        let mut jacobian = Vec::with_capacity(Self::WINDOWS * Self::HALF);
        let mut base = Jacobian::from_affine(p);
        for _ in 0..Self::WINDOWS {
            let mut multiple = base;
            jacobian.push(multiple);
            for _ in 1..Self::HALF {
                multiple = multiple.add(&base);
                jacobian.push(multiple);
            }
            for _ in 0..W {
                base = base.double();
            }
        }
        // Montgomery's trick: every Z inverted with a single field inversion.
        let mut prefix = Vec::with_capacity(jacobian.len());
        let mut product = Fe::one();
        for point in &jacobian {
            prefix.push(product);
            product = product.mul(&point.z);
        }
        if product.is_zero() {
            return None;
        }
        let mut inverse = product.invert();
        let mut points = vec![
            Affine {
                x: Fe::ZERO,
                y: Fe::ZERO,
            };
            jacobian.len()
        ];
        for k in (0..jacobian.len()).rev() {
            let z_inv = inverse.mul(&prefix[k]);
            inverse = inverse.mul(&jacobian[k].z);
            let z_inv2 = z_inv.square();
            points[k] = Affine {
                x: jacobian[k].x.mul(&z_inv2),
                y: jacobian[k].y.mul(&z_inv2).mul(&z_inv),
            };
        }
        Some(Self {
            points: points.into_boxed_slice(),
        })
    }

    /// acc + k·P, for k < n.
    fn mul_add(&self, acc: &mut Jacobian, k: &Limbs) {
        let mut carry = 0u64;
        for i in 0..Self::WINDOWS {
            let bit = W * i;
            let (limb, shift) = (bit / 64, bit % 64);
            let mut window = k.get(limb).map_or(0, |l| l >> shift);
            if shift + W > 64
                && let Some(next) = k.get(limb + 1)
            {
                window |= next << (64 - shift);
            }
            // Digits above 2^(W-1) become negative, borrowing one from the next window.
            let value = (window & ((1 << W) - 1)) + carry;
            let (digit, negative) = if value > Self::HALF as u64 {
                carry = 1;
                ((1 << W) - value, true)
            } else {
                carry = 0;
                (value, false)
            };
            if digit == 0 {
                continue;
            }
            // digit ≤ HALF, so the index is within window i's HALF points.
            let Some(point) = self.points.get(i * Self::HALF + digit as usize - 1) else {
                continue;
            };
            let point = if negative {
                Affine {
                    x: point.x,
                    y: point.y.neg(),
                }
            } else {
                *point
            };
            *acc = acc.add_affine(&point);
        }
    }
}

/// Windows of the generator's table: 33 windows of 128 points (264 KiB), once per process.
const G_WINDOW: usize = 8;
/// Windows of a key's table: 37 windows of 64 points (148 KiB).
const KEY_WINDOW: usize = 7;

static G: LazyLock<Option<Table<G_WINDOW>>> = LazyLock::new(|| {
    let g = Affine::on_curve(&GX, &GY)?;
    Table::new(&g)
});

/// u1·G + u2·Q, or `None` at infinity (or if G's table could not be made).
fn lincomb(u1: &Limbs, q: &Table<KEY_WINDOW>, u2: &Limbs) -> Option<Jacobian> {
    let g = G.as_ref()?;
    let mut acc = Jacobian::INFINITY;
    g.mul_add(&mut acc, u1);
    q.mul_add(&mut acc, u2);
    (!acc.is_infinity()).then_some(acc)
}

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

    pub fn with_budget(x: &[u8], y: &[u8], budget: &'static Budget) -> Option<Self> {
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

mod inverse;
#[cfg(test)]
mod tests;
