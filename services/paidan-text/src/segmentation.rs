//! Segment once per complaint: [`Segmentation`] remembers the jieba words of every block it has
//! cut, so a second string made of the same blocks costs a lookup per block.
//!
//! Why blocks and not one shared word list: a complaint is segmented for the classifier (title
//! and text joined by a space, truncated, PII masked, spaces between CJK removed) and for the
//! dedup fingerprint (normalised "title。text", part-of-speech tagged). The two strings differ,
//! so one word list cannot serve both without changing what either model sees. jieba, though,
//! cuts a string block by block: a maximal run of CJK and ASCII alphanumeric characters (its
//! `RE_HAN` class) is segmented on its own (dictionary DAG + HMM), every other character is a
//! token by itself. The words of a block therefore depend on that block alone, and most blocks
//! of the two strings are the same clauses. Only blocks that differ (a masked phone number, the
//! clause where title and text meet, text past the classifier's character budget) are cut
//! twice. The output is exactly [`Segmenter::cut`] / [`Segmenter::tag`] of the same string
//! (tested on tricky texts here and on every load text in paidan-dedup).

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

use crate::{Segmenter, static_tag};

/// The map's keys are already hashes ([`block_hash`]).
#[derive(Default)]
struct Prehashed(u64);

impl Hasher for Prehashed {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, _: &[u8]) {
        unreachable!("only u64 keys")
    }
    fn write_u64(&mut self, h: u64) {
        self.0 = h;
    }
}

/// FxHash over 8-byte words of the block (blocks are a few dozen bytes; no DoS concern: one
/// map per complaint).
fn block_hash(s: &str) -> u64 {
    const K: u64 = 0x517c_c1b7_2722_0a95;
    let mut h = s.len() as u64;
    let mut chunks = s.as_bytes().chunks_exact(8);
    for c in &mut chunks {
        let w = u64::from_le_bytes(c.try_into().expect("8 bytes"));
        h = (h.rotate_left(5) ^ w).wrapping_mul(K);
    }
    let mut last = [0u8; 8];
    let rest = chunks.remainder();
    last[..rest.len()].copy_from_slice(rest);
    h = (h.rotate_left(5) ^ u64::from_le_bytes(last)).wrapping_mul(K);
    h
}

/// A remembered block: its text in [`Segmentation::text`], its tokens in
/// [`Segmentation::tokens`], whether they carry part-of-speech tags (a block first cut without
/// tags is cut again when tags are asked for), and the next block of the same hash.
#[derive(Clone, Copy, Debug)]
struct Block {
    text: (u32, u32),
    tokens: (u32, u32),
    tagged: bool,
    next: u32,
}

const NONE: u32 = u32::MAX;

/// The jieba words of the blocks of one complaint's strings. Reuse one value across complaints
/// with [`Segmentation::clear`] (it keeps its allocations).
#[derive(Default, Debug)]
pub struct Segmentation {
    /// Block hash → first block of that hash.
    index: HashMap<u64, u32, BuildHasherDefault<Prehashed>>,
    blocks: Vec<Block>,
    /// The remembered blocks' text, one after another.
    text: String,
    /// (end byte offset within its block, tag or "") of each token of each remembered block.
    tokens: Vec<(u32, &'static str)>,
    cut: usize,
    reused: usize,
}

/// jieba's `RE_HAN_DEFAULT` character class (jieba-rs `is_han_default`): CJK unified ideographs
/// (main block and extensions), ASCII alphanumerics and `+#&._%-`. Runs of it are segmented
/// as a whole; every other character is a token of its own.
fn is_han_default(c: char) -> bool {
    if ('\u{4E00}'..='\u{9FFF}').contains(&c) {
        true
    } else if c.is_ascii() {
        c.is_ascii_alphanumeric() || matches!(c, '+' | '#' | '&' | '.' | '_' | '%' | '-')
    } else {
        matches!(c,
            '\u{3400}'..='\u{4DBF}'
            | '\u{F900}'..='\u{FAFF}'
            | '\u{20000}'..='\u{2A6DF}'
            | '\u{2A700}'..='\u{2B73F}'
            | '\u{2B740}'..='\u{2B81F}'
            | '\u{2B820}'..='\u{2CEAF}'
            | '\u{2CEB0}'..='\u{2EBEF}'
            | '\u{2F800}'..='\u{2FA1F}'
        )
    }
}

/// The maximal runs of `text` inside and outside [`is_han_default`], in order.
fn runs(text: &str) -> impl Iterator<Item = (usize, &str)> + '_ {
    let mut pos = 0;
    std::iter::from_fn(move || {
        let rest = &text[pos..];
        let first = rest.chars().next()?;
        let class = is_han_default(first);
        let len = rest
            .char_indices()
            .find(|&(_, c)| is_han_default(c) != class)
            .map_or(rest.len(), |(i, _)| i);
        let start = pos;
        pos += len;
        Some((start, &rest[..len]))
    })
}

/// jieba's tokens of `text` as (byte start, byte end, tag or "").
fn jieba_tokens(text: &str, tagged: bool, out: &mut Vec<(usize, usize, &'static str)>) {
    let jieba = &Segmenter::global().jieba;
    out.clear();
    if tagged {
        out.extend(
            jieba
                .tag(text, true)
                .into_iter()
                .map(|t| (t.byte_start, t.byte_end, static_tag(t.tag))),
        );
    } else {
        out.extend(
            jieba
                .cut(text, true)
                .into_iter()
                .map(|t| (t.byte_start, t.byte_end, "")),
        );
    }
}

impl Segmentation {
    pub fn new() -> Segmentation {
        Segmentation::default()
    }

    /// Forgets every block (the allocations stay for the next complaint).
    pub fn clear(&mut self) {
        self.index.clear();
        self.blocks.clear();
        self.text.clear();
        self.tokens.clear();
        self.cut = 0;
        self.reused = 0;
    }

    /// Blocks segmented by jieba since the last [`Segmentation::clear`], and blocks answered
    /// from memory.
    pub fn counts(&self) -> (usize, usize) {
        (self.cut, self.reused)
    }

    fn find(&self, hash: u64, run: &str) -> Option<u32> {
        let mut i = *self.index.get(&hash)?;
        while i != NONE {
            let b = self.blocks[i as usize];
            if &self.text[b.text.0 as usize..b.text.1 as usize] == run {
                return Some(i);
            }
            i = b.next;
        }
        None
    }

    /// Remembers `run` with `tokens` (offsets within the run), replacing an entry of the same
    /// text; returns its index.
    fn remember(
        &mut self,
        hash: u64,
        run: &str,
        tokens: impl Iterator<Item = (usize, &'static str)>,
        tagged: bool,
    ) -> u32 {
        self.cut += 1;
        let t0 = self.tokens.len() as u32;
        self.tokens
            .extend(tokens.map(|(end, tag)| (end as u32, tag)));
        let tokens = (t0, self.tokens.len() as u32);
        if let Some(i) = self.find(hash, run) {
            let b = &mut self.blocks[i as usize];
            b.tokens = tokens;
            b.tagged = tagged;
            return i;
        }
        let s0 = self.text.len() as u32;
        self.text.push_str(run);
        let i = self.blocks.len() as u32;
        let next = self.index.insert(hash, i).unwrap_or(NONE);
        self.blocks.push(Block {
            text: (s0, self.text.len() as u32),
            tokens,
            tagged,
            next,
        });
        i
    }

    /// Calls `each(word, tag)` for the tokens of `text` in order, whitespace tokens left out.
    fn each<'a>(
        &mut self,
        text: &'a str,
        tagged: bool,
        mut each: impl FnMut(&'a str, &'static str),
    ) {
        let mut found: Vec<(usize, u32)> = Vec::with_capacity(text.len() / 8);
        let mut scratch = Vec::new();
        if self.blocks.is_empty() {
            // Nothing remembered yet: one jieba call over the whole text, its tokens filed
            // under the blocks they lie in (a token never spans two blocks).
            jieba_tokens(text, tagged, &mut scratch);
            let mut k = 0;
            for (at, run) in runs(text) {
                let end = at + run.len();
                let first = k;
                while k < scratch.len() && scratch[k].0 < end {
                    k += 1;
                }
                let hash = block_hash(run);
                let i = match self.find(hash, run) {
                    Some(i) => {
                        self.reused += 1;
                        i
                    }
                    None => {
                        let mine = scratch[first..k].iter().map(|&(_, e, t)| (e - at, t));
                        self.remember(hash, run, mine, tagged)
                    }
                };
                found.push((at, i));
            }
        } else {
            for (at, run) in runs(text) {
                let hash = block_hash(run);
                let i = match self.find(hash, run) {
                    Some(i) if self.blocks[i as usize].tagged || !tagged => {
                        self.reused += 1;
                        i
                    }
                    _ => {
                        jieba_tokens(run, tagged, &mut scratch);
                        let toks = std::mem::take(&mut scratch);
                        let i =
                            self.remember(hash, run, toks.iter().map(|&(_, e, t)| (e, t)), tagged);
                        scratch = toks;
                        i
                    }
                };
                found.push((at, i));
            }
        }
        for (at, i) in found {
            let b = self.blocks[i as usize];
            let mut from = 0;
            for &(end, tag) in &self.tokens[b.tokens.0 as usize..b.tokens.1 as usize] {
                let word = &text[at + from..at + end as usize];
                from = end as usize;
                if !word.trim().is_empty() {
                    each(word, tag);
                }
            }
        }
    }

    /// [`Segmenter::cut`] of `text` (global segmenter), from memory where its blocks were seen.
    pub fn cut<'a>(&mut self, text: &'a str) -> Vec<&'a str> {
        let mut out = Vec::with_capacity(text.len() / 4);
        self.each(text, false, |w, _| out.push(w));
        out
    }

    /// [`Segmenter::tag`] of `text` (global segmenter), from memory where its blocks were seen
    /// with tags.
    pub fn tag<'a>(&mut self, text: &'a str) -> Vec<(&'a str, &'static str)> {
        let mut out = Vec::with_capacity(text.len() / 4);
        self.each(text, true, |w, t| out.push((w, t)));
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEXTS: &[&str] = &[
        "A3区天峰名苑的治安问题需要大力整治！天峰名苑小区，在省肿瘤医院对面。",
        "解放路与人民路交叉口的工地晚上十二点还在施工，噪音太大 请城管局尽快处理",
        "电话13812341234，身份证110101199001011234 邮箱a.b@example.com http://x.cn/a?b=1",
        "每天7:00-23:00不间断进行施工，包括打桩机在内 C++ & C# 100% 3.5米",
        "换行\r\n两个\r\r\n三个\n\n  空格   很多\t制表",
        "扩展区㐀㐁字和兼容区豈更字以及𠀀𠀁的文字",
        "〈电话〉〈数字〉 emoji 😀 全角ＡＢＣ混排ａｂｃ",
        "",
        "   ",
        "。。。",
    ];

    #[test]
    fn cut_and_tag_are_jiebas_words() {
        let seg = Segmenter::global();
        let mut memo = Segmentation::new();
        for text in TEXTS {
            memo.clear();
            assert_eq!(memo.cut(text), seg.cut(text), "cut {text:?}");
            assert_eq!(memo.tag(text), seg.tag(text), "tag {text:?}");
            // From memory now, tagged or not.
            assert_eq!(memo.cut(text), seg.cut(text), "cut again {text:?}");
            assert_eq!(memo.tag(text), seg.tag(text), "tag again {text:?}");
        }
    }

    #[test]
    fn a_second_string_of_the_same_clauses_is_not_cut_again() {
        let seg = Segmenter::global();
        let mut memo = Segmentation::new();
        let fingerprint_view = "小区门口烧烤摊。每天晚上油烟很大,熏得住户没法开窗";
        let classifier_view = "小区门口烧烤摊 每天晚上油烟很大,熏得住户没法开窗";
        assert_eq!(memo.tag(fingerprint_view), seg.tag(fingerprint_view));
        let (cut, reused) = memo.counts();
        assert_eq!(reused, 0);
        assert_eq!(memo.cut(classifier_view), seg.cut(classifier_view));
        assert_eq!(
            memo.counts(),
            (cut + 1, 4),
            "only the space where the views differ is cut again"
        );
        // Tags asked for after a plain cut: the block is cut again, with tags.
        memo.clear();
        memo.cut("油烟扰民");
        assert_eq!(memo.tag("油烟扰民"), seg.tag("油烟扰民"));
        assert_eq!(memo.counts(), (2, 0));
    }

    #[test]
    fn runs_cover_the_text_in_order() {
        for text in TEXTS {
            let joined: String = runs(text).map(|(_, r)| r).collect();
            assert_eq!(&joined, text);
            for (at, r) in runs(text) {
                assert_eq!(&text[at..at + r.len()], r);
            }
        }
    }
}
