//! Candidates: whether the index keys (LSH bands) of two fingerprints meet, and the recall of
//! band layouts on labelled duplicate pairs.

use super::*;

/// Whether two fingerprints share any index key (what the store looks up, jurisdiction and
/// window aside).
pub fn shares_any_key(a: &Fingerprint, b: &Fingerprint) -> bool {
    let mut ka = a.bands().to_vec();
    let mut kb = b.bands().to_vec();
    ka.sort_unstable();
    kb.sort_unstable();
    sketch::intersection_sorted(&ka, &kb) > 0
}

/// Whether two fingerprints share a text band (layout `bands × rows`), and whether they share
/// a text band or an entity-name key (the keys of fingerprint version 1).
pub fn shares_key(a: &Fingerprint, b: &Fingerprint, bands: usize, rows: usize) -> (bool, bool) {
    let ka = sketch::band_keys(a.minhash(), bands, rows);
    let kb = sketch::band_keys(b.minhash(), bands, rows);
    let text = ka.iter().zip(&kb).any(|(x, y)| x == y);
    let (ea, eb) = (entity_keys_v1(a.entities()), entity_keys_v1(b.entities()));
    let entity = sketch::intersection_sorted(&ea, &eb) > 0;
    (text, text || entity)
}

/// This build's index keys of `fp` with its text bands cut in the layout `bands × rows`
/// instead of [`sketch::NUM_BANDS`] × [`sketch::BAND_ROWS`]: the layout's band keys, then the
/// entity and place keys.
pub fn keys_with_layout(fp: &Fingerprint, bands: usize, rows: usize) -> Vec<u64> {
    fp.keys_with_text_bands(sketch::NUM_BANDS, bands, rows)
}

/// Candidate-generation recall for one LSH layout.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct BandRecall {
    pub bands: usize,
    pub rows: usize,
    pub duplicate_pairs: usize,
    /// Duplicate pairs sharing at least one text band.
    pub duplicate_text_hit: usize,
    /// Duplicate pairs sharing a text band or an entity-name key (fingerprint version 1).
    pub duplicate_any_hit: usize,
    pub other_pairs: usize,
    /// Non-duplicate pairs sharing a text band or an entity-name key.
    pub other_any_hit: usize,
    /// Duplicate pairs sharing any of this build's keys with the text bands of this layout
    /// ([`keys_with_layout`]).
    pub duplicate_key_hit: usize,
    /// Non-duplicate pairs sharing any of them.
    pub other_key_hit: usize,
}

/// For each `(bands, rows)` layout, how many pairs share at least one version-1 key.
pub fn band_recall(rows: &[PairRow], layouts: &[(usize, usize)]) -> Vec<BandRecall> {
    let fps: Vec<(Fingerprint, Fingerprint, bool)> = rows
        .iter()
        .map(|r| {
            let fp = |s: &PairSide| {
                Fingerprint::new(&s.title, &s.text, s.address.as_deref().unwrap_or(""))
            };
            (fp(&r.a), fp(&r.b), r.duplicate)
        })
        .collect();
    layouts
        .iter()
        .map(|&(bands, rws)| {
            let mut r = BandRecall {
                bands,
                rows: rws,
                duplicate_pairs: 0,
                duplicate_text_hit: 0,
                duplicate_any_hit: 0,
                other_pairs: 0,
                other_any_hit: 0,
                duplicate_key_hit: 0,
                other_key_hit: 0,
            };
            for (a, b, dup) in &fps {
                let (text_hit, any_hit) = shares_key(a, b, bands, rws);
                let (mut ka, mut kb) = (
                    keys_with_layout(a, bands, rws),
                    keys_with_layout(b, bands, rws),
                );
                ka.sort_unstable();
                ka.dedup();
                kb.sort_unstable();
                kb.dedup();
                let key_hit = sketch::intersection_sorted(&ka, &kb) > 0;
                if *dup {
                    r.duplicate_key_hit += usize::from(key_hit);
                    r.duplicate_pairs += 1;
                    r.duplicate_text_hit += usize::from(text_hit);
                    r.duplicate_any_hit += usize::from(any_hit);
                } else {
                    r.other_pairs += 1;
                    r.other_any_hit += usize::from(any_hit);
                    r.other_key_hit += usize::from(key_hit);
                }
            }
            r
        })
        .collect()
}
