//! The numbers of P-256: 256-bit integers as four 64-bit limbs, field elements mod p and
//! products mod n. The field and scalar arithmetic is fiat-crypto's; what is here is the
//! plumbing around it and the comparisons and carries fiat does not offer.

pub(super) use fiat_crypto::p256_64 as fp;
use fiat_crypto::p256_scalar_64 as fs;

pub(super) type Limbs = [u64; 4];

/// The field prime p = 2^256 - 2^224 + 2^192 + 2^96 - 1.
pub(super) const P: Limbs = [
    0xffff_ffff_ffff_ffff,
    0x0000_0000_ffff_ffff,
    0x0000_0000_0000_0000,
    0xffff_ffff_0000_0001,
];
/// The group order n.
pub(super) const N: Limbs = [
    0xf3b9_cac2_fc63_2551,
    0xbce6_faad_a717_9e84,
    0xffff_ffff_ffff_ffff,
    0xffff_ffff_0000_0000,
];
pub(super) const ONE: Limbs = [1, 0, 0, 0];
pub(super) const ZERO: Limbs = [0; 4];

/// A big-endian 32-byte integer.
pub(super) fn limbs(bytes: &[u8; 32]) -> Limbs {
    let mut out = ZERO;
    for (i, limb) in out.iter_mut().enumerate() {
        let mut word = [0u8; 8];
        word.copy_from_slice(&bytes[24 - 8 * i..32 - 8 * i]);
        *limb = u64::from_be_bytes(word);
    }
    out
}

pub(super) fn less(a: &Limbs, b: &Limbs) -> bool {
    for i in (0..4).rev() {
        if a[i] != b[i] {
            return a[i] < b[i];
        }
    }
    false
}

/// a + b and the carry out of the top limb.
pub(super) fn add(a: &Limbs, b: &Limbs) -> (Limbs, bool) {
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
pub(super) fn sub(a: &Limbs, b: &Limbs) -> Limbs {
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
pub(super) fn halve(a: &mut Limbs, top: bool) {
    for i in 0..3 {
        a[i] = (a[i] >> 1) | (a[i + 1] << 63);
    }
    a[3] = (a[3] >> 1) | (u64::from(top) << 63);
}

// ---- field elements mod p, in Montgomery form, always fully reduced (fiat's contract) ----

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(super) struct Fe(pub(super) Limbs);

pub(super) use fp::fiat_p256_montgomery_domain_field_element as FpMont;

impl Fe {
    pub(super) const ZERO: Fe = Fe(ZERO);

    /// x mod p for x < p.
    pub(super) fn new(x: Limbs) -> Fe {
        let mut out = FpMont(ZERO);
        fp::fiat_p256_to_montgomery(
            &mut out,
            &fp::fiat_p256_non_montgomery_domain_field_element(x),
        );
        Fe(out.0)
    }

    pub(super) fn from_be(bytes: &[u8; 32]) -> Option<Fe> {
        let x = limbs(bytes);
        less(&x, &P).then(|| Fe::new(x))
    }

    /// What a fiat function writes into its output.
    #[inline]
    pub(super) fn written(f: impl FnOnce(&mut FpMont)) -> Fe {
        let mut out = FpMont(ZERO);
        f(&mut out);
        Fe(out.0)
    }

    pub(super) fn one() -> Fe {
        Fe::written(fp::fiat_p256_set_one)
    }

    pub(super) fn is_zero(&self) -> bool {
        self.0 == ZERO
    }

    #[inline]
    pub(super) fn mul(&self, b: &Fe) -> Fe {
        Fe::written(|o| fp::fiat_p256_mul(o, &FpMont(self.0), &FpMont(b.0)))
    }

    #[inline]
    pub(super) fn square(&self) -> Fe {
        Fe::written(|o| fp::fiat_p256_square(o, &FpMont(self.0)))
    }

    #[inline]
    pub(super) fn add(&self, b: &Fe) -> Fe {
        Fe::written(|o| fp::fiat_p256_add(o, &FpMont(self.0), &FpMont(b.0)))
    }

    #[inline]
    pub(super) fn sub(&self, b: &Fe) -> Fe {
        Fe::written(|o| fp::fiat_p256_sub(o, &FpMont(self.0), &FpMont(b.0)))
    }

    #[inline]
    pub(super) fn neg(&self) -> Fe {
        Fe::written(|o| fp::fiat_p256_opp(o, &FpMont(self.0)))
    }

    /// self^(p-2) = self⁻¹ for a non-zero self (Fermat); only when a table is built.
    pub(super) fn invert(&self) -> Fe {
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
pub(super) fn mul_mod_n(a: &Limbs, b: &Limbs) -> Limbs {
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
