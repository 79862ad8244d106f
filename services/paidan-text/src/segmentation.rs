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

/// FNV-1a over the block's bytes (blocks are short; no DoS concern: one map per complaint).
#[derive(Default)]
struct Fnv(u64);

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

/// Where a remembered block's tokens sit in [`Segmentation::tokens`], and whether they carry
/// part-of-speech tags (a block first cut without tags is cut again when tags are asked for).
#[derive(Clone, Copy, Debug)]
struct Block {
    start: u32,
    end: u32,
    tagged: bool,
}

/// The jieba words of the blocks of one complaint's strings. Reuse one value across complaints
/// with [`Segmentation::clear`] (it keeps its allocations).
#[derive(Default, Debug)]
pub struct Segmentation {
    blocks: HashMap<Box<str>, Block, BuildHasherDefault<Fnv>>,
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

impl Segmentation {
    pub fn new() -> Segmentation {
        Segmentation::default()
    }

    /// Forgets every block (the allocations stay for the next complaint).
    pub fn clear(&mut self) {
        self.blocks.clear();
        self.tokens.clear();
        self.cut = 0;
        self.reused = 0;
    }

    /// Blocks handed to jieba since the last [`Segmentation::clear`], and blocks answered from
    /// memory.
    pub fn counts(&self) -> (usize, usize) {
        (self.cut, self.reused)
    }

    /// The tokens of one run, cut (and tagged, when `tagged`) once.
    fn block(&mut self, run: &str, tagged: bool) -> Block {
        if let Some(&b) = self.blocks.get(run)
            && (b.tagged || !tagged)
        {
            self.reused += 1;
            return b;
        }
        self.cut += 1;
        let jieba = &Segmenter::global().jieba;
        let start = self.tokens.len() as u32;
        if tagged {
            for t in jieba.tag(run, true) {
                self.tokens.push((t.byte_end as u32, static_tag(t.tag)));
            }
        } else {
            for t in jieba.cut(run, true) {
                self.tokens.push((t.byte_end as u32, ""));
            }
        }
        let b = Block {
            start,
            end: self.tokens.len() as u32,
            tagged,
        };
        self.blocks.insert(run.into(), b);
        b
    }

    /// Calls `each(word, tag)` for the tokens of `text` in order, whitespace tokens left out.
    fn each<'a>(
        &mut self,
        text: &'a str,
        tagged: bool,
        mut each: impl FnMut(&'a str, &'static str),
    ) {
        for (at, run) in runs(text) {
            let b = self.block(run, tagged);
            let mut from = 0;
            for &(end, tag) in &self.tokens[b.start as usize..b.end as usize] {
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
