//! The table-based verification against aws-lc's, on every path: multiples of G and of a key,
//! the exceptional sums (a doubling, infinity), valid, malleated, corrupted and junk signatures.

use aws_lc_rs::agreement::{ECDH_P256, PrivateKey};
use aws_lc_rs::rand::{SecureRandom, SystemRandom};
use aws_lc_rs::signature::{
    ECDSA_P256_SHA256_FIXED, ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair,
    ParsedPublicKey,
};

use super::arith::*;
use super::point::*;
use super::*;

fn be(x: &Limbs) -> [u8; 32] {
    let mut out = [0u8; 32];
    for (i, limb) in x.iter().enumerate() {
        out[24 - 8 * i..32 - 8 * i].copy_from_slice(&limb.to_be_bytes());
    }
    out
}

fn canonical(x: &Fe) -> Limbs {
    let mut out = fp::fiat_p256_non_montgomery_domain_field_element(ZERO);
    fp::fiat_p256_from_montgomery(&mut out, &FpMont(x.0));
    out.0
}

/// The uncompressed SEC 1 encoding (04 ‖ x ‖ y) of a point, or `None` at infinity.
fn encode(p: &Jacobian) -> Option<Vec<u8>> {
    if p.is_infinity() {
        return None;
    }
    let z_inv = p.z.invert();
    let z_inv2 = z_inv.square();
    let x = p.x.mul(&z_inv2);
    let y = p.y.mul(&z_inv2).mul(&z_inv);
    let mut out = vec![4];
    out.extend_from_slice(&be(&canonical(&x)));
    out.extend_from_slice(&be(&canonical(&y)));
    Some(out)
}

/// k·G as aws-lc computes it (an ECDH public key), for 0 < k < n.
fn aws_lc_times_g(k: &Limbs) -> Vec<u8> {
    let key = PrivateKey::from_private_key(&ECDH_P256, &be(k)).unwrap();
    key.compute_public_key().unwrap().as_ref().to_vec()
}

fn random_scalar(rng: &SystemRandom) -> Limbs {
    loop {
        let mut bytes = [0u8; 32];
        rng.fill(&mut bytes).unwrap();
        let k = limbs(&bytes);
        if k != ZERO && less(&k, &N) {
            return k;
        }
    }
}

fn g_table() -> &'static Table<G_WINDOW> {
    G.as_ref().unwrap()
}

fn times(table: &Table<KEY_WINDOW>, k: &Limbs) -> Option<Vec<u8>> {
    let mut acc = Jacobian::INFINITY;
    table.mul_add(&mut acc, k);
    encode(&acc)
}

fn point_of(public: &[u8]) -> Affine {
    Affine::on_curve(
        public[1..33].try_into().unwrap(),
        public[33..].try_into().unwrap(),
    )
    .unwrap()
}

/// Scalars whose signed digits sit on every boundary: 0 and ±2^(W-1) digits, carries out of
/// each window, the top window, n - 1.
fn edge_scalars() -> Vec<Limbs> {
    let n_minus = |d: u64| sub(&N, &[d, 0, 0, 0]);
    let mut out = vec![
        ONE,
        [2, 0, 0, 0],
        [63, 0, 0, 0],
        [64, 0, 0, 0],
        [65, 0, 0, 0],
        [127, 0, 0, 0],
        [128, 0, 0, 0],
        [129, 0, 0, 0],
        [255, 0, 0, 0],
        [256, 0, 0, 0],
        [u64::MAX, 0, 0, 0],
        [0, 0, 0, 1 << 63],
        [u64::MAX, u64::MAX, u64::MAX, 0x7fff_ffff_ffff_ffff],
        [0x4040_4040_4040_4040; 4],
        [
            0x8080_8080_8080_8080,
            0x8080_8080_8080_8080,
            0x8080_8080_8080_8080,
            0x7f,
        ],
        n_minus(1),
        n_minus(2),
        n_minus(64),
        n_minus(1 << 40),
    ];
    let mut half = N;
    halve(&mut half, false);
    out.push(half);
    out
}

#[test]
fn the_generator_table_multiplies_as_aws_lc_does() {
    let rng = SystemRandom::new();
    let mut scalars = edge_scalars();
    scalars.extend((0..50).map(|_| random_scalar(&rng)));
    for k in scalars {
        let mut acc = Jacobian::INFINITY;
        g_table().mul_add(&mut acc, &k);
        assert_eq!(encode(&acc).unwrap(), aws_lc_times_g(&k), "k = {k:x?}");
    }
}

#[test]
fn a_key_table_multiplies_as_aws_lc_does() {
    let rng = SystemRandom::new();
    for _ in 0..5 {
        // Q = d·G, so k·Q = (k·d mod n)·G, which aws-lc computes on its own.
        let d = random_scalar(&rng);
        let q = Table::<KEY_WINDOW>::new(&point_of(&aws_lc_times_g(&d))).unwrap();
        let mut scalars = edge_scalars();
        scalars.extend((0..10).map(|_| random_scalar(&rng)));
        for k in scalars {
            let expected = aws_lc_times_g(&mul_mod_n(&k, &d));
            assert_eq!(times(&q, &k).unwrap(), expected, "k = {k:x?}");
        }
    }
}

#[test]
fn the_exceptional_sums_are_a_doubling_and_infinity() {
    let rng = SystemRandom::new();
    // Q = G: the second half of u1·G + u2·Q adds points equal to, or opposite to, the sum so far.
    let q = Table::<KEY_WINDOW>::new(&point_of(&aws_lc_times_g(&ONE))).unwrap();
    // G + G: the first addition of the key's half meets the same point, so it doubles.
    let two_g = lincomb(&ONE, &q, &ONE).unwrap();
    assert_eq!(encode(&two_g).unwrap(), aws_lc_times_g(&[2, 0, 0, 0]));
    for _ in 0..20 {
        let k = random_scalar(&rng);
        // k·G + (n - k)·G is the point at infinity: the last addition meets its opposite.
        assert!(lincomb(&k, &q, &sub(&N, &k)).is_none());
        // k·G + k·G = 2k·G, through whatever doublings the digits meet on the way.
        let sum = lincomb(&k, &q, &k).unwrap();
        assert_eq!(
            encode(&sum).unwrap(),
            aws_lc_times_g(&mul_mod_n(&k, &[2, 0, 0, 0]))
        );
    }
    // Adding a point to itself, and to its opposite, in the table-building formula too.
    let g = Jacobian::from_affine(&point_of(&aws_lc_times_g(&ONE)));
    assert_eq!(encode(&g.add(&g)), encode(&g.double()));
    let minus_g = Jacobian { y: g.y.neg(), ..g };
    assert!(g.add(&minus_g).is_infinity());
    assert!(Jacobian::INFINITY.double().is_infinity());
}

#[test]
fn the_inverse_mod_n_is_one_over_s_by_both_algorithms() {
    let rng = SystemRandom::new();
    let mut scalars = edge_scalars();
    scalars.extend((0..256).map(|i| {
        let mut k = ZERO;
        k[i / 64] = 1 << (i % 64);
        k
    }));
    scalars.extend((0..2000).map(|_| random_scalar(&rng)));
    for s in scalars {
        let fast = inverse::safegcd(&s).unwrap();
        assert_eq!(mul_mod_n(&s, &fast), ONE, "s = {s:x?}");
        assert_eq!(fast, inverse::binary(&s), "s = {s:x?}");
    }
}

#[test]
fn a_digest_above_n_is_taken_mod_n() {
    // SHA-256 gives a value at or above n once in 2^32 digests: too rare to meet by hashing,
    // so the reduction is checked with the largest digest against its value worked out here.
    // 2^256 - 1 - n
    assert_eq!(
        digest_scalar(&[0xff; 32]),
        [
            0x0c46_353d_039c_daae,
            0x4319_0552_58e8_617b,
            0x0000_0000_0000_0000,
            0x0000_0000_ffff_ffff
        ]
    );
    assert_eq!(digest_scalar(&be(&sub(&N, &ONE))), sub(&N, &ONE));
    assert_eq!(digest_scalar(&be(&N)), ZERO);
}

struct Signer {
    pair: EcdsaKeyPair,
    aws_lc: ParsedPublicKey,
    table: Table<KEY_WINDOW>,
}

fn signer(rng: &SystemRandom) -> Signer {
    let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, rng).unwrap();
    let pair = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8.as_ref()).unwrap();
    let public = pair.public_key().as_ref().to_vec();
    Signer {
        aws_lc: ParsedPublicKey::new(&ECDSA_P256_SHA256_FIXED, &public).unwrap(),
        table: Table::new(&point_of(&public)).unwrap(),
        pair,
    }
}

fn sha256(message: &[u8]) -> [u8; 32] {
    let mut out = [0u8; 32];
    out.copy_from_slice(digest(&SHA256, message).as_ref());
    out
}

impl Signer {
    /// Asserts that the table and aws-lc agree on this signature; returns the verdict.
    fn agree(&self, message: &[u8], signature: &[u8]) -> bool {
        let ours = verify_digest(&self.table, &sha256(message), signature);
        let theirs = self.aws_lc.verify_sig(message, signature).is_ok();
        assert_eq!(ours, theirs, "signature {signature:02x?}");
        ours
    }
}

#[test]
fn signatures_verify_as_aws_lc_says() {
    let rng = SystemRandom::new();
    let other = signer(&rng);
    for round in 0..10 {
        let key = signer(&rng);
        for m in 0..20usize {
            let mut message = vec![0u8; m * 37];
            rng.fill(&mut message).unwrap();
            let signature = key.pair.sign(&rng, &message).unwrap();
            let signature = signature.as_ref();
            assert!(key.agree(&message, signature));
            // ECDSA's other valid form (r, n - s): aws-lc accepts it, and so must this.
            let s = limbs(signature[32..].try_into().unwrap());
            let mut malleated = signature.to_vec();
            malleated[32..].copy_from_slice(&be(&sub(&N, &s)));
            assert!(key.agree(&message, &malleated));
            // One bit flipped anywhere in the signature, or in the message.
            let mut flipped = signature.to_vec();
            flipped[(m * 7 + round) % 64] ^= 1 << (m % 8);
            assert!(!key.agree(&message, &flipped));
            let mut changed = message.clone();
            changed.push(0);
            assert!(!key.agree(&changed, signature));
            // Another key's signature, and random bytes.
            assert!(!other.agree(&message, signature));
            let mut junk = [0u8; 64];
            rng.fill(&mut junk).unwrap();
            assert!(!key.agree(&message, &junk));
        }
    }
}

#[test]
fn out_of_range_and_misshapen_signatures_are_refused() {
    let rng = SystemRandom::new();
    let key = signer(&rng);
    let message = b"header.claims";
    let signature = key.pair.sign(&rng, message).unwrap();
    let (r, s) = signature.as_ref().split_at(32);
    let n = be(&N);
    let n_plus_s = be(&add(&N, &[1, 0, 0, 0]).0);
    // An r below p - n (about 2^128) also takes the x(R) = r + n comparison.
    let small_r = be(&ONE);
    let cases: Vec<Vec<u8>> = vec![
        [&small_r[..], s].concat(),
        [&be(&[0, 1 << 63, 0, 0])[..], s].concat(),
        [&[0u8; 32][..], s].concat(),
        [r, &[0u8; 32][..]].concat(),
        [&n[..], s].concat(),
        [r, &n[..]].concat(),
        [r, &n_plus_s[..]].concat(),
        [&[0xff; 32][..], s].concat(),
        [r, &[0xff; 32][..]].concat(),
        vec![],
        r.to_vec(),
        signature.as_ref()[..63].to_vec(),
        [signature.as_ref(), &[0]].concat(),
    ];
    for case in cases {
        assert!(!key.agree(message, &case));
    }
}

static SMALL: Budget = Budget::new(2);

fn busy_key(rng: &SystemRandom, budget: &'static Budget) -> (EcdsaKeyPair, BusyKey) {
    let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, rng).unwrap();
    let pair = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8.as_ref()).unwrap();
    let public = pair.public_key().as_ref();
    let key = BusyKey::with_budget(&public[1..33], &public[33..], budget).unwrap();
    (pair, key)
}

#[test]
fn a_key_gets_its_table_once_busy_and_within_the_budget() {
    let rng = SystemRandom::new();
    let (pair, first) = busy_key(&rng, &SMALL);
    let message = b"a.b";
    let signature = pair.sign(&rng, message).unwrap();
    assert_eq!(first.verify(message, signature.as_ref()), None);
    for _ in 1..BUSY_AFTER {
        first.verified();
    }
    assert!(!first.has_table());
    first.verified();
    assert!(first.has_table());
    assert_eq!(first.verify(message, signature.as_ref()), Some(true));
    assert_eq!(first.verify(b"a.c", signature.as_ref()), Some(false));
    // The budget holds two tables: a third busy key waits for one to be dropped.
    let (_, second) = busy_key(&rng, &SMALL);
    let (_, third) = busy_key(&rng, &SMALL);
    for _ in 0..BUSY_AFTER {
        second.verified();
        third.verified();
    }
    assert!(second.has_table());
    assert!(!third.has_table());
    assert_eq!(SMALL.held(), 2);
    drop(first);
    assert_eq!(SMALL.held(), 1);
    third.verified();
    assert!(third.has_table());
    assert_eq!(SMALL.held(), 2);
}

#[test]
fn a_point_off_the_curve_is_no_key() {
    let g = aws_lc_times_g(&ONE);
    let mut y = g[33..].to_vec();
    y[31] ^= 1;
    assert!(BusyKey::new(&g[1..33], &y).is_none());
    assert!(BusyKey::new(&g[1..33], &g[33..]).is_some());
    // Coordinates of the wrong length, or not below p.
    assert!(BusyKey::new(&g[1..32], &g[33..]).is_none());
    assert!(BusyKey::new(&[0xff; 32], &g[33..]).is_none());
}
