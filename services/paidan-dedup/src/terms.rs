//! The problem's key terms: what a complaint is about (油烟, 烧烤, 施工, 噪音, 积水, 路灯, …),
//! in a canonical form that survives rewording.
//!
//! A key term is a jieba word of the normalised text that is in the term vocabulary, or a
//! vocabulary word inside such a word ("烧烤摊" → 烧烤, "施工扰民" → 施工 + 扰民, "吵得" → 噪音).
//! The vocabulary is the city-management dictionary of paidan-text (`dict/city.dict`: its
//! problem and object words, not its place words or agency names) plus [`PROBLEM_WORDS`], the
//! everyday problem words that jieba's own dictionary already holds (and `city.dict` therefore
//! leaves out). Synonyms map to one canonical term ([`SYNONYMS`]: 噪声, 吵, 吵闹 → 噪音).
//!
//! Key terms are used twice: the decision compares the two reports' term sets (a reworded report
//! of the same problem names the same terms in other sentences), and the index keys a report
//! under (general place, term) so that a reworded report naming the same road and problem is a
//! candidate even when no MinHash band survives the rewording.

use std::collections::HashMap;
use std::sync::LazyLock;

/// Everyday problem words that jieba's default dictionary holds (so `city.dict` omits them).
/// Single characters match inside a word ("吵得", "发臭", "烧烤摊"); longer words match as a
/// word or inside a longer word.
pub const PROBLEM_WORDS: &[&str] = &[
    // noise, fumes, smell
    "施工",
    "扰民",
    "噪音",
    "噪声",
    "吵闹",
    "嘈杂",
    "吵",
    "油烟",
    "烧烤",
    "烟味",
    "烟雾",
    "臭味",
    "恶臭",
    "臭气",
    "发臭",
    "黑臭",
    "臭",
    "异味",
    "音响",
    "喇叭",
    "广场舞",
    "装修",
    // water, drains, rivers
    "污水",
    "排污",
    "积水",
    "漏水",
    "渗水",
    "供水",
    "水压",
    "停水",
    "断水",
    "河道",
    "清淤",
    "水质",
    "排水",
    "下水道",
    "化粪池",
    // streets and traffic
    "路灯",
    "路面",
    "坑洼",
    "塌陷",
    "井盖",
    "红绿灯",
    "斑马线",
    "停车",
    "车位",
    "违停",
    "拥堵",
    "堵车",
    "公交",
    "班次",
    "地铁",
    "校车",
    "渣土",
    "泥浆",
    "扬尘",
    "灰尘",
    "粉尘",
    "焚烧",
    // vendors and shops
    "摊",
    "摊位",
    "摊贩",
    "摆摊",
    "地摊",
    "占道",
    "夜宵",
    "餐馆",
    "饭店",
    "餐饮",
    // housing, building, land
    "电梯",
    "物业",
    "违建",
    "搭建",
    "拆迁",
    "拆除",
    "征收",
    "补偿",
    "安置",
    "交房",
    "房产证",
    "产权",
    "烂尾",
    "裂缝",
    "围挡",
    "搅拌站",
    "搅拌厂",
    "砂石",
    // services, money, schools
    "学位",
    "入学",
    "招生",
    "学费",
    "补课",
    "工资",
    "欠薪",
    "社保",
    "医保",
    "公积金",
    "诈骗",
    "集资",
    "车贷",
    "收费",
    "罚款",
    "燃气",
    "暖气",
    "停电",
    "水费",
    "电费",
    "信号",
    // green, animals, fire, ads
    "树木",
    "绿化",
    "砍伐",
    "养狗",
    "狗",
    "蚊虫",
    "老鼠",
    "消防",
    "广告",
    "传单",
    "横幅",
];

/// Synonyms: word → canonical term.
pub const SYNONYMS: &[(&str, &str)] = &[
    ("噪声", "噪音"),
    ("吵", "噪音"),
    ("吵闹", "噪音"),
    ("嘈杂", "噪音"),
    ("臭味", "臭"),
    ("恶臭", "臭"),
    ("臭气", "臭"),
    ("发臭", "臭"),
    ("异味", "臭"),
    ("停车位", "车位"),
    ("摊位", "摊"),
    ("摊贩", "摊"),
    ("摆摊", "摊"),
    ("地摊", "摊"),
    ("积水严重", "积水"),
    ("断水", "停水"),
    ("违章建筑", "违建"),
    ("违法建筑", "违建"),
    ("违建房", "违建"),
];

/// `city.dict` words that name an agency or a party, not a problem ("请城管处理").
fn is_agency(word: &str) -> bool {
    const AGENCIES: &[&str] = &[
        "城管",
        "交警",
        "信访",
        "综合执法",
        "街道办",
        "居委会",
        "派出所",
        "运管",
        "河长",
        "河长制",
        "市长热线",
        "业委会",
        "业主委员会",
        "开发商",
        "施工单位",
        "建设单位",
        "监理单位",
        "施工方",
        "环卫所",
        "拆迁办",
        "征收办",
    ];
    AGENCIES.contains(&word)
        || ["局", "委", "中心", "热线"]
            .iter()
            .any(|tail| word.ends_with(tail) && word.chars().count() > 2)
}

struct Vocabulary {
    /// word → canonical term.
    words: HashMap<&'static str, &'static str>,
}

static VOCABULARY: LazyLock<Vocabulary> = LazyLock::new(|| {
    let synonyms: HashMap<&str, &str> = SYNONYMS.iter().copied().collect();
    let canonical = |w: &'static str| -> &'static str { synonyms.get(w).copied().unwrap_or(w) };
    let mut words: HashMap<&'static str, &'static str> = HashMap::new();
    for line in paidan_text::CITY_DICT.lines() {
        let mut parts = line.split_whitespace();
        let (Some(word), tag) = (parts.next(), parts.nth(1)) else {
            continue;
        };
        if tag == Some("ns") || is_agency(word) {
            continue;
        }
        words.insert(word, canonical(word));
    }
    for &w in PROBLEM_WORDS {
        words.insert(w, canonical(w));
    }
    for &(w, c) in SYNONYMS {
        words.insert(w, c);
    }
    Vocabulary { words }
});

/// Whether `word` is in the term vocabulary.
pub fn is_term(word: &str) -> bool {
    VOCABULARY.words.contains_key(word)
}

/// Whether `s` ends with a vocabulary word longer than `min_bytes` bytes ("一楼麻将馆" ends
/// with 麻将馆: a kind of place, not a name).
pub fn ends_with_term(s: &str, min_bytes: usize) -> bool {
    // Each tail of `s` looked up (a name is a few characters), not each vocabulary word tried.
    s.char_indices().any(|(i, _)| {
        let tail = &s[i..];
        tail.len() > min_bytes
            && tail.chars().nth(1).is_some()
            && VOCABULARY.words.contains_key(tail)
    })
}

/// The key terms of a normalised text, canonical, in order of first occurrence, each once.
pub fn key_terms(text: &str) -> Vec<&'static str> {
    analyse(text).key_terms
}

/// What the fingerprint keeps of a text's words.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Words {
    /// [`key_terms`].
    pub key_terms: Vec<&'static str>,
    /// The content words: jieba words of two or more characters tagged as nouns, verbs or
    /// adjectives (names included), canonical where they are key terms. Each once, in order.
    pub content: Vec<String>,
}

/// One jieba pass over a normalised text: its key terms and its content words.
pub fn analyse(text: &str) -> Words {
    analyse_tagged(&paidan_text::Segmenter::global().tag(text))
}

/// [`analyse`] of a text already segmented and tagged (`Segmenter::tag` or
/// `Segmentation::tag` of the normalised text).
pub fn analyse_tagged(tagged: &[(&str, &str)]) -> Words {
    let vocab = &*VOCABULARY;
    let mut out = Words::default();
    let push = |t: &'static str, out: &mut Vec<&'static str>| {
        if !out.contains(&t) {
            out.push(t);
        }
    };
    let mut parts: Vec<&'static str> = Vec::new();
    // The content words so far (a text has a hundred or more: a linear check was quadratic).
    let mut content: std::collections::HashSet<&str> = std::collections::HashSet::new();
    for &(word, tag) in tagged {
        // Vocabulary words inside a longer jieba word stand for it: "施工扰民" → 施工, 扰民;
        // "烧烤摊" → 烧烤, 摊; "吵得" → 噪音.
        parts.clear();
        let chars = word.chars().count();
        if chars >= 2 {
            // Every shorter substring of the word that is a vocabulary word (a jieba word is a
            // few characters long, so this is a handful of lookups).
            let bounds: Vec<usize> = word
                .char_indices()
                .map(|(i, _)| i)
                .chain([word.len()])
                .collect();
            for len in (1..chars).rev() {
                for start in 0..=chars - len {
                    let sub = &word[bounds[start]..bounds[start + len]];
                    if let Some(c) = vocab.words.get(sub)
                        && !parts.contains(c)
                    {
                        parts.push(c);
                    }
                }
            }
        }
        if parts.is_empty() {
            if let Some(c) = vocab.words.get(word) {
                push(c, &mut out.key_terms);
            }
        } else {
            for p in &parts {
                push(p, &mut out.key_terms);
            }
        }
        if chars >= 2 && tag.starts_with(['n', 'v', 'a']) {
            let w = vocab.words.get(word).copied().unwrap_or(word);
            if content.insert(w) {
                out.content.push(w.to_string());
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `ends_with_term` as it was: every vocabulary word of two or more characters tried.
    fn ends_with_term_by_scan(s: &str, min_bytes: usize) -> bool {
        VOCABULARY
            .words
            .keys()
            .any(|w| w.chars().count() >= 2 && w.len() > min_bytes && s.ends_with(w))
    }

    #[test]
    fn ends_with_term_looks_up_tails_as_the_scan_did() {
        let mut checked = 0;
        let mut found = 0;
        for &w in VOCABULARY.words.keys() {
            for front in ["", "一楼", "A", "文三路"] {
                let s = format!("{front}{w}");
                for min in [0, 3, 5, 6, w.len().saturating_sub(1), w.len()] {
                    let want = ends_with_term_by_scan(&s, min);
                    assert_eq!(ends_with_term(&s, min), want, "{s:?} {min}");
                    checked += 1;
                    found += usize::from(want);
                }
            }
        }
        // both answers occur
        assert!(found > 100 && found + 100 < checked, "{found} of {checked}");
        assert!(ends_with_term("一楼麻将馆", 3));
        assert!(!ends_with_term("麻", 0));
    }

    #[test]
    fn key_terms_table() {
        let cases: &[(&str, &[&str])] = &[
            (
                "海秀中路华侨公寓楼下的烧烤摊每天晚上油烟很大，熏得住户没法开窗",
                &["烧烤", "摊", "油烟"],
            ),
            (
                "华侨公寓楼下烧烤摊油烟太大了，每天晚上熏得我们家不能开窗户",
                &["烧烤", "摊", "油烟"],
            ),
            (
                "解放路与人民路交叉口的工地晚上十二点还在施工，噪音太大",
                &["工地", "施工", "噪音"],
            ),
            (
                "人民路解放路口那个工地半夜施工扰民，吵得睡不着",
                &["工地", "施工", "扰民", "噪音"],
            ),
            ("请城管局尽快处理", &[]),
        ];
        for (text, want) in cases {
            assert_eq!(key_terms(text), *want, "{text}");
        }
    }
}
