//! Shingling, MinHash signatures, LSH band keys and SimHash.
//!
//! Every hash here is defined in this file (splitmix64 finaliser over char codes), so
//! fingerprints stored by one build stay comparable with the next: nothing depends on a
//! hasher whose output may change between crate versions or platforms.

/// Number of MinHash permutations in a signature.
pub const NUM_PERM: usize = 128;
/// LSH bands over the signature (`NUM_BANDS * BAND_ROWS <= NUM_PERM`; the signature values past
/// them are in no band). 12 × 2 since fingerprint version 3: on the labelled dev pairs
/// (`dedup_tune` + `dedup_more`, 454 duplicates) it keeps 0.938 of the duplicate pairs sharing a
/// key where 42 × 3 kept 0.949, with 16 keys a case instead of 46 (the band index's memory and
/// work scale with them). `dedup_measure --layouts` prints the table this was chosen from.
pub const NUM_BANDS: usize = 12;
/// Signature rows per LSH band.
pub const BAND_ROWS: usize = 2;
/// The layout of fingerprint versions 1 and 2 (their stored keys start with these bands).
pub const V2_BANDS: usize = 42;
/// Rows per band of fingerprint versions 1 and 2.
pub const V2_ROWS: usize = 3;
/// Seed of the permutation family. Changing it invalidates every stored fingerprint.
pub const SEED: u64 = 0x7061_6964_616e_0001; // "paidan" + 1

/// splitmix64 finaliser: a fast, well-mixed 64-bit bijection.
#[inline]
pub(crate) fn mix64(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Stable 64-bit hash of a short sequence of chars.
#[inline]
pub(crate) fn hash_chars(chars: &[char]) -> u64 {
    let mut h = 0xcbf2_9ce4_8422_2325u64 ^ chars.len() as u64;
    for &c in chars {
        h = mix64(h ^ u64::from(c as u32));
    }
    h
}

/// Stable 64-bit hash of a string (used for entity band keys).
pub(crate) fn hash_str(s: &str) -> u64 {
    let chars: Vec<char> = s.chars().collect();
    hash_chars(&chars)
}

/// Characters that carry content for shingling: CJK ideographs, ASCII letters and digits.
/// Punctuation and spaces are dropped so that "噪音扰民，" and "噪音扰民。" shingle alike.
#[inline]
pub(crate) fn is_content_char(c: char) -> bool {
    c.is_alphanumeric()
}

/// Hashes of the character `n`-grams of the content characters of `text`, sorted and
/// de-duplicated (a set). Texts shorter than `n` give one shingle of the whole text.
pub fn char_shingles(text: &str, n: usize) -> Vec<u64> {
    let chars: Vec<char> = text.chars().filter(|c| is_content_char(*c)).collect();
    let mut out: Vec<u64> = if chars.is_empty() {
        Vec::new()
    } else if chars.len() < n {
        vec![hash_chars(&chars)]
    } else {
        chars.windows(n).map(hash_chars).collect()
    };
    out.sort_unstable();
    out.dedup();
    out
}

/// Exact Jaccard similarity of two sorted, de-duplicated sets.
pub fn jaccard_sorted(a: &[u64], b: &[u64]) -> f32 {
    if a.is_empty() && b.is_empty() {
        return 0.0;
    }
    let inter = intersection_sorted(a, b);
    inter as f32 / (a.len() + b.len() - inter) as f32
}

/// Size of the intersection of two sorted, de-duplicated sets.
pub fn intersection_sorted<T: Ord>(a: &[T], b: &[T]) -> usize {
    let (mut i, mut j, mut n) = (0, 0, 0);
    while i < a.len() && j < b.len() {
        match a[i].cmp(&b[j]) {
            std::cmp::Ordering::Less => i += 1,
            std::cmp::Ordering::Greater => j += 1,
            std::cmp::Ordering::Equal => {
                n += 1;
                i += 1;
                j += 1;
            }
        }
    }
    n
}

/// The permutation family: `perm_i(x) = a_i * x + b_i` over u64 (a_i odd), keeping the high
/// 32 bits. Derived from [`SEED`] once.
fn permutations() -> &'static [(u64, u64); NUM_PERM] {
    static PERMS: std::sync::OnceLock<[(u64, u64); NUM_PERM]> = std::sync::OnceLock::new();
    PERMS.get_or_init(|| {
        let mut state = SEED;
        let mut out = [(0u64, 0u64); NUM_PERM];
        for p in out.iter_mut() {
            state = mix64(state);
            let a = state | 1;
            state = mix64(state);
            *p = (a, state);
        }
        out
    })
}

/// MinHash signature (`NUM_PERM` values) of a shingle set. An empty set gives all `u32::MAX`.
pub fn minhash(shingles: &[u64]) -> Vec<u32> {
    let perms = permutations();
    let mut sig = [u32::MAX; NUM_PERM];
    for &s in shingles {
        for (slot, &(a, b)) in sig.iter_mut().zip(perms.iter()) {
            let v = (a.wrapping_mul(s).wrapping_add(b) >> 32) as u32;
            if v < *slot {
                *slot = v;
            }
        }
    }
    sig.to_vec()
}

/// MinHash estimate of the Jaccard similarity: the share of equal signature slots.
/// Signatures of empty texts never match anything.
pub fn minhash_similarity(a: &[u32], b: &[u32]) -> f32 {
    let n = a.len().min(b.len());
    if n == 0 {
        return 0.0;
    }
    let eq = a
        .iter()
        .zip(b)
        .filter(|(x, y)| x == y && **x != u32::MAX)
        .count();
    eq as f32 / n as f32
}

/// LSH band keys of a signature: `bands` keys, each a hash of (band index, its `rows` values).
/// Two texts share band `i` iff their signatures agree on all rows of band `i`.
pub fn band_keys(sig: &[u32], bands: usize, rows: usize) -> Vec<u64> {
    if !has_bands(sig) {
        return Vec::new();
    }
    (0..bands)
        .map(|band| {
            let mut h = mix64(SEED ^ band as u64);
            for v in &sig[band * rows..(band + 1) * rows] {
                h = mix64(h ^ u64::from(*v));
            }
            h
        })
        .collect()
}

/// Whether a signature gives band keys: an empty text's (all `u32::MAX`) gives none.
pub fn has_bands(sig: &[u32]) -> bool {
    sig.iter().any(|v| *v != u32::MAX)
}

/// 64-bit SimHash of weighted features (feature hash, weight).
pub fn simhash<I: IntoIterator<Item = (u64, f32)>>(features: I) -> u64 {
    let mut acc = [0f32; 64];
    for (h, w) in features {
        for (bit, slot) in acc.iter_mut().enumerate() {
            if h >> bit & 1 == 1 {
                *slot += w;
            } else {
                *slot -= w;
            }
        }
    }
    acc.iter().enumerate().fold(
        0u64,
        |out, (bit, v)| if *v > 0.0 { out | 1 << bit } else { out },
    )
}

/// SimHash similarity: 1 - Hamming distance / 64.
pub fn simhash_similarity(a: u64, b: u64) -> f32 {
    1.0 - (a ^ b).count_ones() as f32 / 64.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn minhash_estimates_jaccard() {
        // Sets with known Jaccard: |A ∩ B| = 300, |A ∪ B| = 500 → 0.6.
        let a: Vec<u64> = (0..400).map(mix64).collect();
        let b: Vec<u64> = (100..500).map(mix64).collect();
        let (mut a, mut b) = (a, b);
        a.sort_unstable();
        b.sort_unstable();
        let exact = jaccard_sorted(&a, &b);
        assert!((exact - 0.6).abs() < 1e-6);
        let est = minhash_similarity(&minhash(&a), &minhash(&b));
        // Standard error sqrt(0.6*0.4/128) ≈ 0.043; allow four of them.
        assert!(
            (est - exact).abs() < 0.18,
            "estimate {est} vs exact {exact}"
        );
    }

    #[test]
    fn identical_sets_share_every_band_and_empty_sets_none() {
        let a = char_shingles("小区电梯坏了三个月没人修", 3);
        let sig = minhash(&a);
        assert_eq!(minhash_similarity(&sig, &sig), 1.0);
        assert_eq!(band_keys(&sig, NUM_BANDS, BAND_ROWS).len(), NUM_BANDS);
        let empty = minhash(&[]);
        assert!(band_keys(&empty, NUM_BANDS, BAND_ROWS).is_empty());
        assert_eq!(minhash_similarity(&empty, &empty), 0.0);
    }

    #[test]
    fn shingles_ignore_punctuation_and_spaces() {
        assert_eq!(
            char_shingles("噪音扰民，特此投诉。", 3),
            char_shingles("噪音 扰民特此投诉！", 3)
        );
    }

    #[test]
    fn simhash_of_same_features_is_equal_and_similarity_bounded() {
        let f = |s: &str| char_shingles(s, 2).into_iter().map(|h| (h, 1.0));
        let a = simhash(f("龙津河改造工程施工扰民"));
        let b = simhash(f("龙津河改造工程施工扰民"));
        let c = simhash(f("建议A市贺隆广场免费开放"));
        assert_eq!(a, b);
        assert_eq!(simhash_similarity(a, b), 1.0);
        assert!(simhash_similarity(a, c) < 1.0);
    }
}
