//! Points of P-256 and the tables of a point's multiples that verification adds up.

use std::sync::LazyLock;

use super::arith::{Fe, Limbs};

/// A point (x, y) on the curve, never the point at infinity.
#[derive(Clone, Copy, Debug)]
pub(super) struct Affine {
    pub(super) x: Fe,
    pub(super) y: Fe,
}

/// Jacobian coordinates: (X/Z², Y/Z³); Z = 0 is the point at infinity.
#[derive(Clone, Copy, Debug)]
pub(super) struct Jacobian {
    pub(super) x: Fe,
    pub(super) y: Fe,
    pub(super) z: Fe,
}

/// The curve's b (FIPS 186-5 / SEC 2 §2.4.2), big-endian.
pub(super) const B: [u8; 32] = [
    0x5a, 0xc6, 0x35, 0xd8, 0xaa, 0x3a, 0x93, 0xe7, 0xb3, 0xeb, 0xbd, 0x55, 0x76, 0x98, 0x86, 0xbc,
    0x65, 0x1d, 0x06, 0xb0, 0xcc, 0x53, 0xb0, 0xf6, 0x3b, 0xce, 0x3c, 0x3e, 0x27, 0xd2, 0x60, 0x4b,
];
/// The generator G's coordinates.
pub(super) const GX: [u8; 32] = [
    0x6b, 0x17, 0xd1, 0xf2, 0xe1, 0x2c, 0x42, 0x47, 0xf8, 0xbc, 0xe6, 0xe5, 0x63, 0xa4, 0x40, 0xf2,
    0x77, 0x03, 0x7d, 0x81, 0x2d, 0xeb, 0x33, 0xa0, 0xf4, 0xa1, 0x39, 0x45, 0xd8, 0x98, 0xc2, 0x96,
];
pub(super) const GY: [u8; 32] = [
    0x4f, 0xe3, 0x42, 0xe2, 0xfe, 0x1a, 0x7f, 0x9b, 0x8e, 0xe7, 0xeb, 0x4a, 0x7c, 0x0f, 0x9e, 0x16,
    0x2b, 0xce, 0x33, 0x57, 0x6b, 0x31, 0x5e, 0xce, 0xcb, 0xb6, 0x40, 0x68, 0x37, 0xbf, 0x51, 0xf5,
];

impl Affine {
    /// The point of these big-endian coordinates, if it is on the curve y² = x³ - 3x + b.
    /// (P-256 has prime order, so every such point generates the whole group.)
    pub(super) fn on_curve(x: &[u8; 32], y: &[u8; 32]) -> Option<Affine> {
        let (x, y, b) = (Fe::from_be(x)?, Fe::from_be(y)?, Fe::from_be(&B)?);
        let rhs = x.square().mul(&x).sub(&x.add(&x).add(&x)).add(&b);
        (y.square() == rhs).then_some(Affine { x, y })
    }
}

impl Jacobian {
    pub(super) const INFINITY: Jacobian = Jacobian {
        x: Fe::ZERO,
        y: Fe::ZERO,
        z: Fe::ZERO,
    };

    pub(super) fn from_affine(p: &Affine) -> Jacobian {
        Jacobian {
            x: p.x,
            y: p.y,
            z: Fe::one(),
        }
    }

    pub(super) fn is_infinity(&self) -> bool {
        self.z.is_zero()
    }

    /// 2·self: EFD `dbl-2001-b`, 3M + 5S.
    pub(super) fn double(&self) -> Jacobian {
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
    pub(super) fn add_affine(&self, q: &Affine) -> Jacobian {
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
    pub(super) fn add(&self, q: &Jacobian) -> Jacobian {
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
pub(super) struct Table<const W: usize> {
    pub(super) points: Box<[Affine]>,
}

impl<const W: usize> Table<W> {
    pub(super) const HALF: usize = 1 << (W - 1);
    /// One more window than 256 bits need, for the carry out of the top digit.
    pub(super) const WINDOWS: usize = 256 / W + 1;

    /// `None` only if a multiple came out at infinity, which a point of prime order n cannot
    /// give (every multiplier here is below 2^259 and not a multiple of n): a belt for the
    /// braces, so that a fault could only cost speed.
    pub(super) fn new(p: &Affine) -> Option<Self> {
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
    pub(super) fn mul_add(&self, acc: &mut Jacobian, k: &Limbs) {
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
pub(super) const G_WINDOW: usize = 8;
/// Windows of a key's table: 37 windows of 64 points (148 KiB).
pub(super) const KEY_WINDOW: usize = 7;

pub(super) static G: LazyLock<Option<Table<G_WINDOW>>> = LazyLock::new(|| {
    let g = Affine::on_curve(&GX, &GY)?;
    Table::new(&g)
});

/// u1·G + u2·Q, or `None` at infinity (or if G's table could not be made).
pub(super) fn lincomb(u1: &Limbs, q: &Table<KEY_WINDOW>, u2: &Limbs) -> Option<Jacobian> {
    let g = G.as_ref()?;
    let mut acc = Jacobian::INFINITY;
    g.mul_add(&mut acc, u1);
    q.mul_add(&mut acc, u2);
    (!acc.is_infinity()).then_some(acc)
}
