//! Featuriser: title + text → normalise → mask PII → jieba words → word ids (WordLevel vocabulary,
//! saved as `tokenizer.json`) + hashed word bigrams + hashed character n-grams (fastText style).
//!
//! Feature ids are `0..vocab_size` for words and `vocab_size..vocab_size + buckets` for hashed
//! n-grams; one embedding table covers both.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::path::Path;

use paidan_text::{Segmentation, Segmenter, mask_for_features, normalize};
use serde::{Deserialize, Serialize};

use crate::error::ModelError;

/// Unknown-word token of the vocabulary (id 0). Unknown words are not used as features; the
/// token exists so that the saved tokenizer maps unseen words somewhere when used elsewhere.
pub const UNK: &str = "[UNK]";

/// How text becomes feature ids (stored in config.json).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FeatureConfig {
    /// Characters of title + text considered (the rest is ignored); bounds the hot-path cost.
    pub max_chars: usize,
    /// Hash buckets shared by word bigrams and char n-grams.
    pub buckets: usize,
    /// Add hashed word bigrams.
    pub word_bigrams: bool,
    /// Char n-gram orders hashed into the buckets (e.g. [2, 3]); empty for none.
    pub char_ngrams: Vec<usize>,
    /// Vocabulary: words in fewer training documents are dropped.
    pub min_df: usize,
    /// Vocabulary size cap (most frequent first), [UNK] included.
    pub max_vocab: usize,
}

impl Default for FeatureConfig {
    fn default() -> Self {
        FeatureConfig {
            max_chars: 1000,
            buckets: 1 << 16,
            word_bigrams: true,
            char_ngrams: vec![2, 3],
            min_df: 2,
            max_vocab: 30_000,
        }
    }
}

/// FNV-1a, used for the vocabulary map (short keys, no DoS concern) and n-gram hashing.
#[derive(Default, Clone, Copy)]
pub struct Fnv(u64);

impl Hasher for Fnv {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        let mut h = if self.0 == 0 {
            0xcbf2_9ce4_8422_2325
        } else {
            self.0
        };
        for &b in bytes {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
        self.0 = h;
    }
}

type FnvMap<K, V> = HashMap<K, V, BuildHasherDefault<Fnv>>;

pub(crate) fn fnv(bytes: &[u8]) -> u64 {
    let mut h = Fnv::default();
    h.write(bytes);
    h.finish()
}

/// splitmix64 finaliser: spreads combined hashes over the buckets.
pub(crate) fn mix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

/// Normalised, PII-masked, truncated title + text: the string that words and n-grams come from.
pub fn prepare(title: &str, text: &str, max_chars: usize) -> String {
    let mut joined = String::with_capacity(title.len() + text.len() + 1);
    let mut budget = max_chars;
    for part in [title, text] {
        if part.is_empty() || budget == 0 {
            continue;
        }
        if !joined.is_empty() {
            joined.push(' ');
        }
        let cut = part
            .char_indices()
            .nth(budget)
            .map(|(i, _)| i)
            .unwrap_or(part.len());
        budget = budget.saturating_sub(part[..cut].chars().count());
        joined.push_str(&part[..cut]);
    }
    mask_for_features(&normalize(&joined))
}

/// True for tokens that carry content (contain a letter, digit or CJK character).
pub fn is_content(word: &str) -> bool {
    word.chars().any(is_alnum)
}

/// `char::is_alphanumeric` with fast paths for ASCII and the CJK Unified Ideographs block (all
/// alphabetic), which are nearly every character of a complaint; the general lookup is slow.
#[inline]
pub fn is_alnum(c: char) -> bool {
    if c.is_ascii() {
        c.is_ascii_alphanumeric()
    } else if ('\u{4E00}'..='\u{9FFF}').contains(&c) {
        true
    } else {
        c.is_alphanumeric()
    }
}

/// Content words of a prepared string, in order.
pub fn words(prepared: &str) -> Vec<&str> {
    let mut w = Segmenter::global().cut(prepared);
    w.retain(|t| is_content(t));
    w
}

/// [`words`], with the blocks taken from (and added to) `seg`, the complaint's shared
/// segmentation (same words).
pub fn words_with<'a>(seg: &mut Segmentation, prepared: &'a str) -> Vec<&'a str> {
    let mut w = seg.cut(prepared);
    w.retain(|t| is_content(t));
    w
}

/// The vocabulary + hashing scheme that turns text into feature ids.
#[derive(Debug, Clone)]
pub struct Featurizer {
    cfg: FeatureConfig,
    vocab: FnvMap<String, u32>,
    vocab_size: usize,
}

impl Featurizer {
    /// Builds the vocabulary from the word lists of the training documents: document frequency
    /// ≥ `min_df`, most frequent first (ties by word), capped at `max_vocab`; [UNK] is id 0.
    pub fn build<'a, I, D>(cfg: FeatureConfig, docs: I) -> Featurizer
    where
        I: IntoIterator<Item = D>,
        D: IntoIterator<Item = &'a str>,
    {
        let mut df: HashMap<&'a str, usize> = HashMap::new();
        let mut seen: std::collections::HashSet<&'a str> = std::collections::HashSet::new();
        for doc in docs {
            seen.clear();
            for w in doc {
                if seen.insert(w) {
                    *df.entry(w).or_insert(0) += 1;
                }
            }
        }
        let mut words: Vec<(&str, usize)> = df
            .into_iter()
            .filter(|&(w, n)| n >= cfg.min_df && w != UNK)
            .collect();
        words.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
        words.truncate(cfg.max_vocab.saturating_sub(1));
        let mut vocab = FnvMap::default();
        vocab.insert(UNK.to_string(), 0);
        for (i, (w, _)) in words.into_iter().enumerate() {
            vocab.insert(w.to_string(), i as u32 + 1);
        }
        let vocab_size = vocab.len();
        Featurizer {
            cfg,
            vocab,
            vocab_size,
        }
    }

    /// From a saved vocabulary (`tokenizer.json`).
    pub fn from_vocab(
        cfg: FeatureConfig,
        vocab: HashMap<String, u32>,
    ) -> Result<Featurizer, ModelError> {
        let vocab_size = vocab.len();
        if vocab.get(UNK) != Some(&0) {
            return Err(ModelError::Tokenizer(format!("{UNK} must have id 0")));
        }
        if vocab.values().any(|&id| id as usize >= vocab_size) {
            return Err(ModelError::Tokenizer("vocabulary ids are not dense".into()));
        }
        Ok(Featurizer {
            cfg,
            vocab: vocab.into_iter().collect(),
            vocab_size,
        })
    }

    /// Loads the WordLevel vocabulary from a `tokenizer.json` written by [`Featurizer::save_tokenizer`].
    pub fn load(cfg: FeatureConfig, tokenizer_json: &Path) -> Result<Featurizer, ModelError> {
        let tok = tokenizers::Tokenizer::from_file(tokenizer_json)
            .map_err(|e| ModelError::Tokenizer(format!("{}: {e}", tokenizer_json.display())))?;
        Featurizer::from_vocab(cfg, tok.get_vocab(false))
    }

    /// Saves the vocabulary as a `tokenizers` WordLevel tokenizer (whitespace pre-tokenizer, [UNK]),
    /// loadable from Python with `Tokenizer.from_file`; feed it jieba words joined by spaces.
    pub fn save_tokenizer(&self, path: &Path) -> Result<(), ModelError> {
        let vocab: HashMap<String, u32> = self.vocab.iter().map(|(k, v)| (k.clone(), *v)).collect();
        let model = tokenizers::models::wordlevel::WordLevel::builder()
            .vocab(vocab.into_iter().collect())
            .unk_token(UNK.to_string())
            .build()
            .map_err(|e| ModelError::Tokenizer(e.to_string()))?;
        let mut tok = tokenizers::Tokenizer::new(model);
        tok.with_pre_tokenizer(Some(
            tokenizers::pre_tokenizers::whitespace::WhitespaceSplit,
        ));
        tok.save(path, false)
            .map_err(|e| ModelError::Tokenizer(format!("{}: {e}", path.display())))
    }

    pub fn config(&self) -> &FeatureConfig {
        &self.cfg
    }

    /// Number of word ids ([UNK] included).
    pub fn vocab_size(&self) -> usize {
        self.vocab_size
    }

    /// Rows of the embedding table: words + buckets.
    pub fn num_features(&self) -> usize {
        self.vocab_size + self.cfg.buckets
    }

    /// Word id, if the word is in the vocabulary.
    pub fn word_id(&self, word: &str) -> Option<u32> {
        self.vocab.get(word).copied()
    }

    /// Feature ids of one complaint, appended to `out`.
    pub fn features(&self, title: &str, text: &str, out: &mut Vec<u32>) {
        let prepared = prepare(title, text, self.cfg.max_chars);
        let ws = words(&prepared);
        self.features_from(&prepared, &ws, out);
    }

    /// [`Featurizer::features`] with the words cut through the complaint's `seg`.
    pub fn features_with(
        &self,
        title: &str,
        text: &str,
        seg: &mut Segmentation,
        out: &mut Vec<u32>,
    ) {
        let prepared = prepare(title, text, self.cfg.max_chars);
        let ws = words_with(seg, &prepared);
        self.features_from(&prepared, &ws, out);
    }

    /// Feature ids from an already prepared string and its content words.
    pub fn features_from(&self, prepared: &str, words: &[&str], out: &mut Vec<u32>) {
        let base = self.vocab_size as u64;
        let buckets = self.cfg.buckets as u64;
        let mut prev_hash: Option<u64> = None;
        for w in words {
            if let Some(&id) = self.vocab.get(*w) {
                out.push(id);
            }
            if buckets > 0 && self.cfg.word_bigrams {
                let h = fnv(w.as_bytes());
                if let Some(p) = prev_hash {
                    out.push((base + mix(p.rotate_left(17) ^ h ^ 0xb16a) % buckets) as u32);
                }
                prev_hash = Some(h);
            }
        }
        if buckets == 0 || self.cfg.char_ngrams.is_empty() {
            return;
        }
        // Char n-grams over runs of letters/digits/CJK (punctuation and spaces break runs).
        let max_n = self
            .cfg
            .char_ngrams
            .iter()
            .copied()
            .max()
            .unwrap_or(0)
            .min(4);
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
            for &n in &self.cfg.char_ngrams {
                if n == 0 || n > max_n || n > run {
                    continue;
                }
                let mut h = n as u64;
                for &ch in &ring[4 - n..] {
                    h = mix(h ^ ch);
                }
                out.push((base + h % buckets) as u32);
            }
        }
    }
}
