//! The tf-idf featuriser of the linear recipe: title + text → normalise → mask PII → join
//! CJK runs split by spaces → jieba word 1–2-grams and character 1–4-grams → sublinear tf ×
//! idf, L2-normalised — what scikit-learn's `TfidfVectorizer(sublinear_tf=True)` computes, over
//! the n-grams that occur in at least `min_df` training documents.
//!
//! Why spaces between CJK characters are removed first: one of the training sets
//! (`train_7class.jsonl`) was segmented and stripped of stop-words by whoever published it
//! ("小区 噪音 扰民"), while hotline text arrives raw ("小区噪音扰民"). Joining the runs makes
//! the character n-grams of both the same and lets jieba segment both the same way, so a model
//! trained on one serves the other.
//!
//! An n-gram is identified by a 64-bit hash of its kind, order and characters (collisions among
//! the few hundred thousand kept n-grams are negligible); the vocabulary maps kept hashes to
//! dense feature ids. It is stored in `model.safetensors` (`tfidf.hash`, `tfidf.idf`).

use std::collections::HashMap;
use std::hash::BuildHasherDefault;

use serde::{Deserialize, Serialize};

use paidan_text::Segmentation;

use crate::features::{Fnv, fnv, is_alnum, mix, prepare, words, words_with};

/// How text becomes tf-idf features (stored in config.json).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TfidfConfig {
    /// Characters of title + text considered (the rest is ignored); bounds the hot-path cost.
    pub max_chars: usize,
    /// Word n-gram orders, from 1 up to this (0 = no word features).
    pub word_max_n: usize,
    /// Character n-gram orders `char_min_n..=char_max_n` (at most 4; 0 = none).
    pub char_min_n: usize,
    pub char_max_n: usize,
    /// N-grams in fewer training documents are dropped.
    pub min_df: usize,
    /// At most this many n-grams are kept (highest document frequency first).
    pub max_features: usize,
    /// Also the title's words as features of their own (a title names the problem).
    #[serde(default)]
    pub title_words: bool,
}

impl Default for TfidfConfig {
    fn default() -> Self {
        TfidfConfig {
            max_chars: 1000,
            word_max_n: 2,
            char_min_n: 1,
            char_max_n: 3,
            min_df: 2,
            max_features: 200_000,
            title_words: true,
        }
    }
}

const TAG_WORD: u64 = 0x5744_0001;
const TAG_BIGRAM: u64 = 0x5744_0002;
const TAG_CHAR: u64 = 0x4348_0000;
const TAG_TITLE: u64 = 0x5449_0001;

/// Removes whitespace that sits between two CJK ideographs ("小区 噪音" → "小区噪音"); other
/// whitespace stays (it separates Latin words and numbers).
pub fn join_cjk(s: &str) -> String {
    let is_cjk = |c: char| ('\u{4E00}'..='\u{9FFF}').contains(&c);
    let chars: Vec<char> = s.chars().collect();
    let mut out = String::with_capacity(s.len());
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c.is_whitespace() {
            let mut j = i;
            while j < chars.len() && chars[j].is_whitespace() {
                j += 1;
            }
            let before = out.chars().next_back().is_some_and(is_cjk);
            let after = chars.get(j).copied().is_some_and(is_cjk);
            if !(before && after) {
                out.push(' ');
            }
            i = j;
            continue;
        }
        out.push(c);
        i += 1;
    }
    out
}

/// The string n-grams come from: [`prepare`] (normalise, mask, truncate) then [`join_cjk`].
pub fn prepare_text(title: &str, text: &str, max_chars: usize) -> String {
    join_cjk(&prepare(title, text, max_chars))
}

/// Appends the n-gram hashes of a prepared string and its content words to `out`.
pub fn ngram_hashes(cfg: &TfidfConfig, prepared: &str, words: &[&str], out: &mut Vec<u64>) {
    if cfg.word_max_n >= 1 {
        let mut prev: Option<u64> = None;
        for w in words {
            let h = fnv(w.as_bytes());
            out.push(mix(h ^ TAG_WORD));
            if cfg.word_max_n >= 2 {
                if let Some(p) = prev {
                    out.push(mix(p.rotate_left(23) ^ h ^ TAG_BIGRAM));
                }
                prev = Some(h);
            }
        }
    }
    let (lo, hi) = (cfg.char_min_n.max(1), cfg.char_max_n.min(4));
    if cfg.char_max_n == 0 || lo > hi {
        return;
    }
    // Char n-grams over runs of letters/digits/CJK (punctuation and spaces break runs).
    let mut ring = [0u64; 4];
    let mut run = 0usize;
    for c in prepared.chars() {
        if !is_alnum(c) {
            run = 0;
            continue;
        }
        ring.rotate_left(1);
        ring[3] = c as u64;
        run += 1;
        for n in lo..=hi.min(run) {
            let mut h = TAG_CHAR | n as u64;
            for &ch in &ring[4 - n..] {
                h = mix(h ^ ch);
            }
            out.push(h);
        }
    }
}

/// All n-gram hashes of one complaint.
pub fn hashes_of(cfg: &TfidfConfig, title: &str, text: &str) -> Vec<u64> {
    let p = prepare_text(title, text, cfg.max_chars);
    let ws = words(&p);
    let mut out = Vec::with_capacity(p.len() * 2);
    ngram_hashes(cfg, &p, &ws, &mut out);
    if cfg.title_words && !title.trim().is_empty() {
        let t = prepare_text(title, "", cfg.max_chars);
        for w in words(&t) {
            out.push(mix(fnv(w.as_bytes()) ^ TAG_TITLE));
        }
    }
    out
}

/// [`hashes_of`] with the words cut through the complaint's `seg`: the title's blocks are
/// segmented once for the body and the title-word features, and blocks the fingerprint already
/// cut are not cut again. Same hashes.
pub fn hashes_of_with(
    cfg: &TfidfConfig,
    title: &str,
    text: &str,
    seg: &mut Segmentation,
) -> Vec<u64> {
    let p = prepare_text(title, text, cfg.max_chars);
    let ws = words_with(seg, &p);
    let mut out = Vec::with_capacity(p.len() * 2);
    ngram_hashes(cfg, &p, &ws, &mut out);
    if cfg.title_words && !title.trim().is_empty() {
        let t = prepare_text(title, "", cfg.max_chars);
        for w in words_with(seg, &t) {
            out.push(mix(fnv(w.as_bytes()) ^ TAG_TITLE));
        }
    }
    out
}

/// Kept n-gram hash → feature id: open addressing with linear probing over a power-of-two table
/// of (hash, id) pairs, indexed by the hash's low bits (the hashes are already mixed). A lookup
/// is one cache line; [`HashIndex::prefetch`] lets a caller fetch it ahead, since the table is
/// larger than the caches and a complaint's n-grams land all over it. The table asks for huge
/// pages (`crate::huge`). (Cells of 8 bytes — the hash's high bits and the id — were tried:
/// half the bytes, no speed measured, and two kept n-grams sharing their high bits, a chance of
/// ~3 in 10,000 per 200,000-n-gram model, would have shared a row; the full hash is compared.)
#[derive(Debug, Clone)]
struct HashIndex {
    slots: Vec<(u64, u32)>,
    mask: usize,
}

const EMPTY: u32 = u32::MAX;

impl HashIndex {
    fn new(hashes: &[u64]) -> HashIndex {
        let cap = (hashes.len() * 2).next_power_of_two().max(16);
        let mut slots = crate::huge::filled(cap, (0u64, EMPTY));
        let mask = cap - 1;
        for (id, &h) in hashes.iter().enumerate() {
            let mut i = h as usize & mask;
            while slots[i].1 != EMPTY && slots[i].0 != h {
                i = (i + 1) & mask;
            }
            slots[i] = (h, id as u32);
        }
        HashIndex { slots, mask }
    }

    #[inline]
    fn get(&self, h: u64) -> Option<u32> {
        let mut i = h as usize & self.mask;
        loop {
            let (k, v) = self.slots[i];
            if v == EMPTY {
                return None;
            }
            if k == h {
                return Some(v);
            }
            i = (i + 1) & self.mask;
        }
    }

    #[inline(always)]
    fn prefetch(&self, h: u64) {
        #[cfg(target_arch = "x86_64")]
        {
            let p = &self.slots[h as usize & self.mask];
            // SAFETY: a prefetch hint on a live element; nothing is dereferenced.
            #[allow(unsafe_code)]
            unsafe {
                use std::arch::x86_64::{_MM_HINT_T0, _mm_prefetch};
                _mm_prefetch::<_MM_HINT_T0>((p as *const (u64, u32)).cast::<i8>());
            }
        }
        #[cfg(not(target_arch = "x86_64"))]
        let _ = h;
    }
}

/// The fitted vocabulary: kept n-gram hashes → feature ids, with their idf.
#[derive(Debug, Clone)]
pub struct TfidfFeaturizer {
    cfg: TfidfConfig,
    ids: HashIndex,
    hashes: Vec<u64>,
    idf: Vec<f32>,
}

/// A sparse, L2-normalised tf-idf vector: (feature id, value), ids ascending.
pub type SparseVec = Vec<(u32, f32)>;

impl TfidfFeaturizer {
    /// Fits the vocabulary and smoothed idf (`ln((1 + n) / (1 + df)) + 1`) on the hash lists of
    /// the training documents. Deterministic: ties in document frequency are broken by hash.
    pub fn fit(cfg: TfidfConfig, docs: &[Vec<u64>]) -> TfidfFeaturizer {
        let mut df: HashMap<u64, u32, BuildHasherDefault<Fnv>> = HashMap::default();
        let mut uniq: Vec<u64> = Vec::new();
        for d in docs {
            uniq.clear();
            uniq.extend_from_slice(d);
            uniq.sort_unstable();
            uniq.dedup();
            for &h in &uniq {
                *df.entry(h).or_insert(0) += 1;
            }
        }
        let mut kept: Vec<(u64, u32)> = df
            .into_iter()
            .filter(|&(_, n)| n as usize >= cfg.min_df.max(1))
            .collect();
        kept.sort_unstable_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
        kept.truncate(cfg.max_features);
        kept.sort_unstable_by_key(|&(h, _)| h);
        let n = docs.len() as f64;
        let idf = kept
            .iter()
            .map(|&(_, d)| (((1.0 + n) / (1.0 + f64::from(d))).ln() + 1.0) as f32)
            .collect();
        let hashes: Vec<u64> = kept.into_iter().map(|(h, _)| h).collect();
        TfidfFeaturizer::from_parts(cfg, hashes, idf)
    }

    /// From stored parts (`hashes[i]` is feature `i`).
    pub fn from_parts(cfg: TfidfConfig, hashes: Vec<u64>, idf: Vec<f32>) -> TfidfFeaturizer {
        let ids = HashIndex::new(&hashes);
        TfidfFeaturizer {
            cfg,
            ids,
            hashes,
            idf,
        }
    }

    pub fn config(&self) -> &TfidfConfig {
        &self.cfg
    }

    pub fn num_features(&self) -> usize {
        self.hashes.len()
    }

    pub fn hashes(&self) -> &[u64] {
        &self.hashes
    }

    pub fn idf(&self) -> &[f32] {
        &self.idf
    }

    /// The tf-idf vector of a hash list (see [`hashes_of`]); `scratch` is reused between calls.
    pub fn vectorize_hashes(&self, hashes: &[u64], scratch: &mut Vec<u32>, out: &mut SparseVec) {
        scratch.clear();
        const AHEAD: usize = 16;
        for (i, &h) in hashes.iter().enumerate() {
            if let Some(&g) = hashes.get(i + AHEAD) {
                self.ids.prefetch(g);
            }
            if let Some(id) = self.ids.get(h) {
                scratch.push(id);
            }
        }
        scratch.sort_unstable();
        out.clear();
        let mut norm = 0f32;
        let mut i = 0;
        while i < scratch.len() {
            let id = scratch[i];
            let mut j = i + 1;
            while j < scratch.len() && scratch[j] == id {
                j += 1;
            }
            let tf = (j - i) as f32;
            let v = (1.0 + tf.ln()) * self.idf[id as usize];
            norm += v * v;
            out.push((id, v));
            i = j;
        }
        if norm > 0.0 {
            let inv = 1.0 / norm.sqrt();
            out.iter_mut().for_each(|(_, v)| *v *= inv);
        }
    }

    /// The tf-idf vector of one complaint.
    pub fn vectorize(&self, title: &str, text: &str, out: &mut SparseVec) {
        let h = hashes_of(&self.cfg, title, text);
        let mut scratch = Vec::with_capacity(h.len());
        self.vectorize_hashes(&h, &mut scratch, out);
    }

    /// [`TfidfFeaturizer::vectorize`] with the words cut through the complaint's `seg`.
    pub fn vectorize_with(
        &self,
        title: &str,
        text: &str,
        seg: &mut Segmentation,
        out: &mut SparseVec,
    ) {
        let h = hashes_of_with(&self.cfg, title, text, seg);
        let mut scratch = Vec::with_capacity(h.len());
        self.vectorize_hashes(&h, &mut scratch, out);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn join_cjk_table() {
        for (input, want) in [
            ("小区 噪音 扰民", "小区噪音扰民"),
            ("小区噪音扰民", "小区噪音扰民"),
            ("A3区 天峰 名苑", "A3区天峰名苑"),
            ("A 3 区", "A 3 区"),
            ("电话 〈电话〉 打不通", "电话 〈电话〉 打不通"),
            ("  噪音  ", " 噪音 "),
        ] {
            assert_eq!(join_cjk(input), want, "{input:?}");
        }
    }

    #[test]
    fn segmented_and_raw_text_give_the_same_vector() {
        let cfg = TfidfConfig::default();
        let raw = hashes_of(&cfg, "", "小区楼下烧烤店油烟太大晚上噪音扰民");
        let seg = hashes_of(&cfg, "", "小区 楼下 烧烤店 油烟 太大 晚上 噪音 扰民");
        let f = TfidfFeaturizer::fit(cfg, &[raw.clone(), raw.clone()]);
        let (mut a, mut b, mut s) = (Vec::new(), Vec::new(), Vec::new());
        f.vectorize_hashes(&raw, &mut s, &mut a);
        f.vectorize_hashes(&seg, &mut s, &mut b);
        assert_eq!(a, b);
        assert!(!a.is_empty());
    }

    #[test]
    fn vectors_are_l2_normalised_with_sublinear_tf() {
        let cfg = TfidfConfig {
            word_max_n: 0,
            char_min_n: 1,
            char_max_n: 1,
            min_df: 1,
            ..TfidfConfig::default()
        };
        let docs = vec![hashes_of(&cfg, "", "甲甲乙"), hashes_of(&cfg, "", "乙丙")];
        let f = TfidfFeaturizer::fit(cfg.clone(), &docs);
        assert_eq!(f.num_features(), 3);
        let (mut v, mut s) = (Vec::new(), Vec::new());
        f.vectorize_hashes(&docs[0], &mut s, &mut v);
        let norm: f32 = v.iter().map(|(_, x)| x * x).sum();
        assert!((norm - 1.0).abs() < 1e-5);
        // 甲: tf 2 → 1 + ln 2, idf ln(3/2) + 1; 乙: tf 1, idf 1.
        let idf_jia = (3f32 / 2.0).ln() + 1.0;
        let raw_jia = (1.0 + 2f32.ln()) * idf_jia;
        let want = raw_jia / (raw_jia * raw_jia + 1.0).sqrt();
        let got = v.iter().map(|&(_, x)| x).fold(0f32, f32::max);
        assert!((got - want).abs() < 1e-5, "{got} vs {want}");
        // Unknown n-grams are ignored.
        f.vectorize_hashes(&hashes_of(&cfg, "", "丁"), &mut s, &mut v);
        assert!(v.is_empty());
    }

    #[test]
    fn hash_index_finds_every_kept_hash_and_nothing_else() {
        // Sizes around powers of two (the table's capacity steps).
        let mut x = 0x9E37_79B9_7F4A_7C15u64;
        let mut next = || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        for n in [0usize, 1, 2, 3, 4, 7, 8, 255, 256, 1000, 70_000] {
            let kept: Vec<u64> = (0..n).map(|_| next()).collect();
            let ix = HashIndex::new(&kept);
            for (id, &h) in kept.iter().enumerate() {
                assert_eq!(ix.get(h), Some(id as u32), "n={n} id={id}");
            }
            let set: std::collections::HashSet<u64> = kept.iter().copied().collect();
            for _ in 0..20_000 {
                let h = next();
                if !set.contains(&h) {
                    assert_eq!(ix.get(h), None, "n={n}: foreign {h:#x}");
                }
            }
            // A hash that differs from a kept one in a high bit misses.
            for &h in kept.iter().take(50) {
                assert_eq!(ix.get(h ^ (1 << 63)), None, "n={n}: top bit flipped");
            }
        }
    }
}
