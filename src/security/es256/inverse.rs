//! s⁻¹ mod n, the one inversion of an ES256 verification (SEC 1 §4.1.4 step 4), in variable
//! time: s is part of the signature, public.
//!
//! Bernstein and Yang's "safegcd" (Fast constant-time gcd computation and modular inversion,
//! 2019), in its variable-time form with Pornin's batching: the divsteps are done 62 at a time
//! on the low 64 bits, as a 2×2 matrix, which is then applied to the full numbers. About ten
//! batches per inversion, each a few dozen 64×64 multiplications, against the hundreds of
//! unpredictable branches of the binary extended Euclidean algorithm (`binary`), which profiled
//! at a fifth of the whole verification. `binary` stays as the fallback (never taken: safegcd
//! ends within 590 divsteps for 256-bit inputs) and as the tests' reference.

use super::arith::{Limbs, N, ONE, ZERO, add, halve, less, sub};

/// A signed integer as five limbs: Σ limb[i]·2^(62·i), limbs 0-3 in [0, 2^62), limb 4 signed.
type Signed62 = [i64; 5];

const MASK62: u64 = u64::MAX >> 2;

const fn signed62(x: &Limbs) -> Signed62 {
    [
        (x[0] & MASK62) as i64,
        ((x[0] >> 62 | x[1] << 2) & MASK62) as i64,
        ((x[1] >> 60 | x[2] << 4) & MASK62) as i64,
        ((x[2] >> 58 | x[3] << 6) & MASK62) as i64,
        (x[3] >> 56) as i64,
    ]
}

/// n in `Signed62`.
const N62: Signed62 = signed62(&N);

/// n⁻¹ mod 2^62, by Newton's iteration (each step doubles the correct low bits; n is odd, so
/// n·n ≡ 1 mod 8 to start).
const N_INV62: u64 = {
    let n0 = N[0];
    let mut x = n0;
    let mut i = 0;
    while i < 5 {
        x = x.wrapping_mul(2u64.wrapping_sub(n0.wrapping_mul(x)));
        i += 1;
    }
    x & MASK62
};

/// The matrix of 62 divsteps: [f', g']·2^62 = [[u, v], [q, r]]·[f, g].
struct Transition {
    u: i64,
    v: i64,
    q: i64,
    r: i64,
}

/// 62 divsteps on the low bits of f (odd) and g; returns the new eta (= -delta).
fn divsteps_62(mut eta: i64, f0: u64, g0: u64) -> (i64, Transition) {
    let (mut u, mut v, mut q, mut r) = (1u64, 0u64, 0u64, 1u64);
    let (mut f, mut g) = (f0, g0);
    let mut left = 62u32;
    loop {
        // The steps that only halve g, all at once (a sentinel bit stops the count at `left`).
        let zeros = (g | (u64::MAX << left)).trailing_zeros();
        g >>= zeros;
        u <<= zeros;
        v <<= zeros;
        eta -= i64::from(zeros);
        left -= zeros;
        if left == 0 {
            break;
        }
        // f and g are odd here.
        let (limit, mask_bits);
        if eta < 0 {
            // The step that swaps: (f, g) becomes (g, -f).
            eta = -eta;
            (f, g) = (g, f.wrapping_neg());
            (u, q) = (q, u.wrapping_neg());
            (v, r) = (r, v.wrapping_neg());
            limit = (eta + 1).min(i64::from(left));
            mask_bits = 63u64;
        } else {
            limit = (eta + 1).min(i64::from(left));
            mask_bits = 15u64;
        }
        // Cancel up to six (or four) low bits of g with one multiple of f: w = -g/f mod 2^k.
        let mask = (u64::MAX >> (64 - limit)) & mask_bits;
        let w = if mask_bits == 63 {
            f.wrapping_mul(g)
                .wrapping_mul(f.wrapping_mul(f).wrapping_sub(2))
                & mask
        } else {
            let inverse = f.wrapping_add(((f.wrapping_add(1)) & 4) << 1);
            inverse.wrapping_neg().wrapping_mul(g) & mask
        };
        g = g.wrapping_add(f.wrapping_mul(w));
        q = q.wrapping_add(u.wrapping_mul(w));
        r = r.wrapping_add(v.wrapping_mul(w));
    }
    let t = Transition {
        u: u as i64,
        v: v as i64,
        q: q as i64,
        r: r as i64,
    };
    (eta, t)
}

/// [f, g] = t·[f, g] / 2^62, exactly (t was built so that the low 62 bits vanish).
fn update_fg(f: &mut Signed62, g: &mut Signed62, t: &Transition) {
    let (u, v, q, r) = (
        i128::from(t.u),
        i128::from(t.v),
        i128::from(t.q),
        i128::from(t.r),
    );
    let mut cf = u * i128::from(f[0]) + v * i128::from(g[0]);
    let mut cg = q * i128::from(f[0]) + r * i128::from(g[0]);
    cf >>= 62;
    cg >>= 62;
    for i in 1..5 {
        cf += u * i128::from(f[i]) + v * i128::from(g[i]);
        cg += q * i128::from(f[i]) + r * i128::from(g[i]);
        f[i - 1] = (cf as u64 & MASK62) as i64;
        g[i - 1] = (cg as u64 & MASK62) as i64;
        cf >>= 62;
        cg >>= 62;
    }
    f[4] = cf as i64;
    g[4] = cg as i64;
}

/// [d, e] = t·[d, e] / 2^62 mod n, keeping both in (-2n, n): the multiple of n added is the
/// one that clears the low 62 bits, plus n for each input that was negative.
fn update_de(d: &mut Signed62, e: &mut Signed62, t: &Transition) {
    let (sd, se) = (d[4] >> 63, e[4] >> 63);
    let mut md = (t.u & sd) + (t.v & se);
    let mut me = (t.q & sd) + (t.r & se);
    let (u, v, q, r) = (
        i128::from(t.u),
        i128::from(t.v),
        i128::from(t.q),
        i128::from(t.r),
    );
    let mut cd = u * i128::from(d[0]) + v * i128::from(e[0]);
    let mut ce = q * i128::from(d[0]) + r * i128::from(e[0]);
    md -= (N_INV62.wrapping_mul(cd as u64).wrapping_add(md as u64) & MASK62) as i64;
    me -= (N_INV62.wrapping_mul(ce as u64).wrapping_add(me as u64) & MASK62) as i64;
    let (md128, me128) = (i128::from(md), i128::from(me));
    cd += i128::from(N62[0]) * md128;
    ce += i128::from(N62[0]) * me128;
    cd >>= 62;
    ce >>= 62;
    for i in 1..5 {
        cd += u * i128::from(d[i]) + v * i128::from(e[i]) + i128::from(N62[i]) * md128;
        ce += q * i128::from(d[i]) + r * i128::from(e[i]) + i128::from(N62[i]) * me128;
        d[i - 1] = (cd as u64 & MASK62) as i64;
        e[i - 1] = (ce as u64 & MASK62) as i64;
        cd >>= 62;
        ce >>= 62;
    }
    d[4] = cd as i64;
    e[4] = ce as i64;
}

/// x + k·n, carries propagated so that limbs 0-3 are back in [0, 2^62).
fn add_n(x: &mut Signed62, k: i64) {
    for i in 0..5 {
        x[i] += k * N62[i];
    }
    for i in 0..4 {
        x[i + 1] += x[i] >> 62;
        x[i] &= MASK62 as i64;
    }
}

/// The `Limbs` of x, for 0 <= x < n.
fn limbs(x: &Signed62) -> Limbs {
    let l = x.map(|v| v as u64);
    [
        l[0] | l[1] << 62,
        l[1] >> 2 | l[2] << 60,
        l[2] >> 4 | l[3] << 58,
        l[3] >> 6 | l[4] << 56,
    ]
}

/// More batches than any 256-bit input needs (590 divsteps: 10 batches).
const MAX_BATCHES: usize = 16;

/// s⁻¹ mod n for 0 < s < n.
pub(super) fn invert(s: &Limbs) -> Limbs {
    safegcd(s).unwrap_or_else(|| binary(s))
}

/// s⁻¹ mod n for 0 < s < n, `None` if it took more than `MAX_BATCHES`.
pub(super) fn safegcd(s: &Limbs) -> Option<Limbs> {
    // Invariants: f ≡ d·s and g ≡ e·s (mod n); f stays odd.
    let (mut f, mut g) = (N62, signed62(s));
    let (mut d, mut e): (Signed62, Signed62) = ([0; 5], [1, 0, 0, 0, 0]);
    let mut eta = -1;
    for _ in 0..MAX_BATCHES {
        let (next, t) = divsteps_62(eta, f[0] as u64, g[0] as u64);
        eta = next;
        update_de(&mut d, &mut e, &t);
        update_fg(&mut f, &mut g, &t);
        if g == [0; 5] {
            // f = ±gcd(s, n) = ±1, and f ≡ d·s: s⁻¹ = ±d. d is in (-2n, n).
            for _ in 0..2 {
                if d[4] < 0 {
                    add_n(&mut d, 1);
                }
            }
            let negative = f[4] < 0;
            if negative && d != [0; 5] {
                d = d.map(|v| -v);
                add_n(&mut d, 1);
            }
            return Some(limbs(&d));
        }
    }
    None
}

/// x / 2 mod n, for x < n.
fn halve_mod_n(x: &mut Limbs) {
    if x[0] & 1 == 0 {
        halve(x, false);
    } else {
        let (sum, carry) = add(x, &N);
        *x = sum;
        halve(x, carry);
    }
}

/// a - b mod n, for a, b < n.
fn sub_mod_n(a: &Limbs, b: &Limbs) -> Limbs {
    if less(a, b) {
        add(a, &sub(&N, b)).0
    } else {
        sub(a, b)
    }
}

/// s⁻¹ mod n by the binary extended Euclidean algorithm.
pub(super) fn binary(s: &Limbs) -> Limbs {
    // Invariant: x1·s ≡ u and x2·s ≡ v (mod n); gcd(s, n) = 1 as n is prime.
    let (mut u, mut v) = (*s, N);
    let (mut x1, mut x2) = (ONE, ZERO);
    while u != ONE && v != ONE {
        while u[0] & 1 == 0 {
            halve(&mut u, false);
            halve_mod_n(&mut x1);
        }
        while v[0] & 1 == 0 {
            halve(&mut v, false);
            halve_mod_n(&mut x2);
        }
        if less(&u, &v) {
            v = sub(&v, &u);
            x2 = sub_mod_n(&x2, &x1);
        } else {
            u = sub(&u, &v);
            x1 = sub_mod_n(&x1, &x2);
        }
    }
    if u == ONE { x1 } else { x2 }
}
