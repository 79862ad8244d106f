//! Places and entities named in a complaint: estates, organisations, rivers, sites, roads,
//! villages, anonymised or named districts and bus routes.
//!
//! Extraction is pattern based: a known suffix (小区, 公司, 学校, 河, 工地, 路, …) plus the name
//! characters in front of it, cut at the nearest function word, punctuation, digit or
//! administrative unit ("A5区劳动东路魅力之城小区" → 魅力之城). Names are reduced to a *core*
//! (generic estate words stripped: "丽发新城小区" and "丽发小区" are both 丽发) and compared
//! fuzzily so that typos and name variants of one place still match.

use std::sync::LazyLock;

use regex::Regex;
use serde::{Deserialize, Serialize};

/// What an extracted name refers to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum EntityKind {
    /// Residential estate, building, plaza (小区, 花园, 苑, 大厦, 广场 …).
    Estate,
    /// Company, school, hospital, shop, market, agency (公司, 学校, 医院, 店 …).
    Org,
    /// River, lake, canal (河, 支河, 湖, 港 …).
    Water,
    /// Construction site or project (工地, 项目, 工程, 搅拌站 …).
    Site,
    /// Bus or metro line number (207路公交, 3号线).
    Route,
    /// Road or street (路, 街, 大道, 巷).
    Road,
    /// Village, town, sub-district, community (村, 镇, 乡, 街道, 社区).
    Village,
    /// District or county ("A3区", "A7县", "仓山区").
    Admin,
    /// City ("A市", "B市"): sharing one is no evidence (most reports name the city), naming
    /// two different ones is a conflict.
    City,
}

impl EntityKind {
    /// Specific kinds identify one matter's place; a conflict in them means another matter.
    /// The others (roads, villages, districts) are shared by many matters.
    pub fn is_specific(self) -> bool {
        matches!(
            self,
            EntityKind::Estate
                | EntityKind::Org
                | EntityKind::Water
                | EntityKind::Site
                | EntityKind::Route
        )
    }
}

/// One extracted place or entity: its kind and its core name.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Entity {
    pub kind: EntityKind,
    pub name: String,
}

// Longest alternatives first: the regex crate takes the leftmost-first alternative.
const SUFFIXES: &[(&str, EntityKind)] = &[
    ("国际城", EntityKind::Estate),
    ("搅拌站", EntityKind::Site),
    ("搅拌厂", EntityKind::Site),
    ("幼儿园", EntityKind::Org),
    ("研究所", EntityKind::Org),
    ("研究院", EntityKind::Org),
    ("小区", EntityKind::Estate),
    ("花园", EntityKind::Estate),
    ("家园", EntityKind::Estate),
    ("公寓", EntityKind::Estate),
    ("新村", EntityKind::Estate),
    ("山庄", EntityKind::Estate),
    ("新城", EntityKind::Estate),
    ("之城", EntityKind::Estate),
    ("广场", EntityKind::Estate),
    ("大厦", EntityKind::Estate),
    ("雅居", EntityKind::Estate),
    ("华庭", EntityKind::Estate),
    ("嘉园", EntityKind::Estate),
    ("名苑", EntityKind::Estate),
    ("庭苑", EntityKind::Estate),
    ("商城", EntityKind::Estate),
    ("公园", EntityKind::Estate),
    ("院区", EntityKind::Org),
    ("机构", EntityKind::Org),
    ("公司", EntityKind::Org),
    ("学校", EntityKind::Org),
    ("学院", EntityKind::Org),
    ("大学", EntityKind::Org),
    ("中学", EntityKind::Org),
    ("小学", EntityKind::Org),
    ("医院", EntityKind::Org),
    ("银行", EntityKind::Org),
    ("酒店", EntityKind::Org),
    ("宾馆", EntityKind::Org),
    ("超市", EntityKind::Org),
    ("商场", EntityKind::Org),
    ("市场", EntityKind::Org),
    ("集团", EntityKind::Org),
    ("驾校", EntityKind::Org),
    ("物业", EntityKind::Org),
    ("中心", EntityKind::Org),
    ("支河", EntityKind::Water),
    ("水库", EntityKind::Water),
    ("工地", EntityKind::Site),
    ("项目", EntityKind::Site),
    ("工程", EntityKind::Site),
    ("大道", EntityKind::Road),
    ("街道", EntityKind::Village),
    ("社区", EntityKind::Village),
    ("苑", EntityKind::Estate),
    ("厂", EntityKind::Org),
    ("店", EntityKind::Org),
    ("馆", EntityKind::Org),
    ("河", EntityKind::Water),
    ("江", EntityKind::Water),
    ("湖", EntityKind::Water),
    ("港", EntityKind::Water),
    ("渠", EntityKind::Water),
    ("溪", EntityKind::Water),
    ("路", EntityKind::Road),
    ("街", EntityKind::Road),
    ("巷", EntityKind::Road),
    ("村", EntityKind::Village),
    ("镇", EntityKind::Village),
    ("乡", EntityKind::Village),
];

/// Generic estate words (and a company's legal form) stripped from the end of a name to get
/// its core.
const GENERIC_TAILS: &[&str] = &[
    "股份有限",
    "有限责任",
    "有限",
    "国际城",
    "小区",
    "花园",
    "家园",
    "公寓",
    "新村",
    "山庄",
    "新城",
    "之城",
    "广场",
    "大厦",
    "雅居",
    "华庭",
    "嘉园",
    "名苑",
    "庭苑",
    "商城",
    "苑",
];

/// Cores that are ordinary words, not names ("生活小区", "企业厂", "指挥中心").
const NOT_NAMES: &[&str] = &[
    "企业",
    "生活",
    "指挥",
    "附近",
    "周边",
    "住宅",
    "居民",
    "我们",
    "所在",
    "整个",
    "这个",
    "物业",
    "开发",
    "施工",
    "工作",
    "服务",
    "管理",
    "相关",
    "有关",
    "政府",
    "公共",
    "城市",
    "农村",
    "内河",
    "河道",
    "小作坊工",
    "作坊",
    "工厂",
    "商业",
    "门面",
    "临街",
    "楼下",
    "小河",
    "一条",
    "条河",
    "臭水",
    "改造",
    "整治",
    "治理",
    "建设",
    "清淤",
    "豆腐渣",
    "水系",
    "解决",
    "配套",
    "项目",
    "影响",
    "问题",
    "进入",
];

/// Words that say what kind of institution something is, not which one.
const TYPE_WORDS: &[&str] = &[
    "公办",
    "民办",
    "公立",
    "私立",
    "普惠",
    "普惠性",
    "普惠制",
    "培训",
    "教育",
    "交通",
    "水务",
    "电力",
    "造价",
    "营利性",
    "非营利性",
    "人防",
];

/// Characters at which a name stops when walking left from its suffix: punctuation (any
/// non-alphanumeric), digits, function words and administrative units.
const BOUNDARY: &str = "的在是于了和与及对向从到我你他她们位住家近旁边附这那个一把被给让往去来要请为有无都也还就说称该此其某等或而且但跟同关咨询投诉反映举报希望建议求恳强烈市区县省镇乡路街道村河旁侧前后内里上下中";

static SUFFIX_RE: LazyLock<Regex> = LazyLock::new(|| {
    let alt: Vec<String> = SUFFIXES.iter().map(|(s, _)| regex::escape(s)).collect();
    Regex::new(&alt.join("|")).expect("static suffix regex")
});
static ADMIN_CODE_RE: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"[A-Z][0-9]{0,2}[市区县]").expect("static admin regex"));
/// What `han2_then(text, '区')` finds, as the regex it replaced (kept for the test of that).
#[cfg(test)]
static NAMED_DISTRICT_RE: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"\p{Han}{2}区").expect("static district regex"));
static TWO_HAN_RE: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"\A\p{Han}{2}\z").expect("static two-han regex"));

/// The matches of `\p{Han}{2}` followed by `suffix` in `text` (`NAMED_DISTRICT_RE`,
/// `NAMED_COUNTY_RE`), leftmost first and not overlapping, as the regex's `find_iter` gives
/// them: (start, the three characters). Found from where `suffix` occurs, checking the two
/// characters before it; the regex ran its DFA over every character of the text, most of the
/// time spent finding places (bench `text/places`). `tests::han_pairs_are_found_as_the_regex_finds_them`.
fn han2_then(text: &str, suffix: char) -> Vec<(usize, &str)> {
    let mut out = Vec::new();
    let mut from = 0;
    for (at, _) in text.match_indices(suffix) {
        let mut before = text[from..at]
            .char_indices()
            .rev()
            .take(2)
            .map(|(i, _)| from + i);
        let (Some(_), Some(start)) = (before.next(), before.next()) else {
            continue;
        };
        if TWO_HAN_RE.is_match(&text[start..at]) {
            let end = at + suffix.len_utf8();
            out.push((start, &text[start..end]));
            from = end;
        }
    }
    out
}
static ROUTE_RE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"([0-9]{1,4})(?:路公交|路车|路公共|号线)").expect("static route regex")
});

/// Second characters of "XX区" that make it a generic word (小区, 城区, 社区, 景区 …), not a district.
const NOT_DISTRICT_TAIL: &str = "小城社园景片辖该市郊新地校院街厂库老本全各商开住宅由湾矿场营战军警分上下东西南北中一二三四五六七八九十";

const MAX_NAME_CHARS: usize = 10;

fn is_boundary(c: char) -> bool {
    !c.is_alphanumeric() || c.is_ascii_digit() || BOUNDARY.contains(c)
}

fn kind_of(suffix: &str) -> EntityKind {
    SUFFIXES
        .iter()
        .find(|(s, _)| *s == suffix)
        .map(|(_, k)| *k)
        .unwrap_or(EntityKind::Org)
}

/// The core of a name: generic estate words stripped from its end while at least two
/// characters remain.
pub fn core_name(name: &str) -> String {
    let mut core = name.to_string();
    loop {
        let before = core.chars().count();
        for tail in GENERIC_TAILS {
            if core.ends_with(tail) && before >= tail.chars().count() + 2 {
                core.truncate(core.len() - tail.len());
                break;
            }
        }
        if core.chars().count() == before {
            return core;
        }
    }
}

/// Whether "XX区" is a district's name: jieba knows it as one word ("仓山区", "台江区"), not
/// as a word followed by 区 ("停车区", "交界区", "最快区"), and it is not a generic one.
fn is_district_name(s: &str) -> bool {
    const GENERIC: &[&str] = &[
        "居民区",
        "开发区",
        "住宅区",
        "生活区",
        "办公区",
        "保护区",
        "示范区",
    ];
    !GENERIC.contains(&s) && paidan_text::Segmenter::global().cut(s).len() == 1
}

/// Whether a jieba POS tag marks a word that cannot be inside a place name: verbs (not verbal
/// nouns), adverbs, adjectives, numerals, measure words, pronouns, prepositions, conjunctions,
/// particles, direction and time words.
fn breaks_name(tag: &str) -> bool {
    let first = tag.chars().next().unwrap_or('x');
    match first {
        'v' => tag != "vn",
        'd' | 'a' | 'm' | 'q' | 'r' | 'p' | 'c' | 'u' | 'f' | 't' | 'y' | 'e' | 'o' => true,
        _ => false,
    }
}

/// The name part of the characters in front of a suffix: the words after the last word that
/// cannot be part of a name ("发现正祥" → 正祥, "立交桥西南角长盛" → 长盛, "许多隐蔽" → "").
/// A last verb or time word is kept (jieba tags unknown names such as 丽发 or 跃进 as verbs).
pub fn trim_to_name(name: &str) -> &str {
    if name.chars().count() < 2 {
        return name;
    }
    let tags = paidan_text::Segmenter::global().tag(name);
    if tags.len() < 2 {
        // One word: a name unless it is a word that cannot be one ("什么", "何况", "今天";
        // a verb may be an unknown name, as above, and an adjective a name: 幸福, 和谐).
        return match tags.first() {
            Some((_, tag)) if breaks_name(tag) && !tag.starts_with(['v', 'a']) => "",
            _ => name,
        };
    }
    let mut start = 0;
    let mut offset = 0;
    for (i, (word, tag)) in tags.iter().enumerate() {
        offset += word.len();
        let last = i + 1 == tags.len();
        // A last word that is a verb or time word may be an unknown name; an adjective,
        // numeral, pronoun … is not.
        let breaks = if last {
            breaks_name(tag) && !tag.starts_with('v') && !tag.starts_with('t')
        } else {
            breaks_name(tag)
        };
        if breaks {
            start = offset;
        }
    }
    // jieba returns the input split into consecutive pieces, so `start` is a char boundary.
    name.get(start..).unwrap_or(name)
}

/// A suffix match that names something: its kind and suffix, its core name, the name as
/// written (the core's generic tails and the suffix kept: "魅力之城小区"), where that starts.
struct Named<'t> {
    kind: EntityKind,
    suffix: &'t str,
    core: String,
    written: String,
    start: usize,
}

/// Every name in front of a known suffix (see the module docs).
fn suffixed(text: &str) -> Vec<Named<'_>> {
    let mut out = Vec::new();
    for m in SUFFIX_RE.find_iter(text) {
        let kind = kind_of(m.as_str());
        // A river or road character that starts an estate's suffix ("滨河苑") is part of the
        // estate's name, not a river of its own.
        if m.as_str().chars().count() == 1
            && matches!(kind, EntityKind::Water | EntityKind::Road)
            && SUFFIX_RE.find(&text[m.end()..]).is_some_and(|next| {
                next.start() == 0 && kind_of(next.as_str()) == EntityKind::Estate
            })
        {
            continue;
        }
        let left: Vec<char> = text[..m.start()]
            .chars()
            .rev()
            .take(MAX_NAME_CHARS)
            .collect();
        // A road's direction character belongs to its name (海秀中路, 劳动东路) even where it
        // would end another name (中); so does a river or road character right in front of an
        // estate's suffix (滨河苑, 江景花园).
        let glued = match kind {
            EntityKind::Road => "东西南北中",
            EntityKind::Estate => "河江湖路街",
            _ => "",
        };
        let direction = usize::from(left.first().is_some_and(|c| glued.contains(*c)));
        let keep = direction
            + left[direction..]
                .iter()
                .take_while(|c| !is_boundary(**c))
                .count();
        let mut name: String = left[..keep].iter().rev().collect();
        // Anonymised codes glued in front ("A市" is cut at 市, but "F8" alone may remain).
        name = name
            .trim_start_matches(|c: char| c.is_ascii_alphanumeric())
            .to_string();
        if name.chars().count() < 2 {
            continue;
        }
        let stripped = core_name(&name);
        let core = trim_to_name(&stripped).to_string();
        // A problem word is not a name ("烧烤店", "夜宵店", "麻将馆", "装修公司"), nor is the
        // type of an institution ("公办幼儿园", "普惠性幼儿园", "培训机构").
        if core.chars().count() < 2
            || NOT_NAMES.contains(&core.as_str())
            || TYPE_WORDS.contains(&core.as_str())
            || crate::terms::is_term(&core)
            || crate::terms::ends_with_term(&format!("{core}{}", m.as_str()), m.as_str().len())
        {
            continue;
        }
        // `stripped` is a prefix of `name` and `core` a suffix of `stripped`
        let from = stripped.len() - core.len();
        out.push(Named {
            kind,
            suffix: m.as_str(),
            written: format!("{}{}", &name[from..], m.as_str()),
            start: m.start() - (name.len() - from),
            core,
        });
    }
    out
}

/// Districts, counties and cities by their anonymised codes ("A3区", "A7县", "A市") and named
/// districts ("仓山区"): (kind, where, name).
fn admin_units(text: &str) -> Vec<(EntityKind, usize, String)> {
    let mut out = Vec::new();
    for m in ADMIN_CODE_RE.find_iter(text) {
        let glued = text[..m.start()]
            .chars()
            .next_back()
            .is_some_and(|c| c.is_ascii_alphanumeric());
        if !glued {
            let kind = if m.as_str().ends_with('市') {
                EntityKind::City
            } else {
                EntityKind::Admin
            };
            out.push((kind, m.start(), m.as_str().to_string()));
        }
    }
    for (start, m) in han2_then(text, '区') {
        let mut chars = m.chars();
        let (first, second) = (chars.next(), chars.next());
        if let (Some(first), Some(second)) = (first, second)
            && !NOT_DISTRICT_TAIL.contains(second)
            && !BOUNDARY.contains(first)
            && is_district_name(m)
        {
            out.push((EntityKind::Admin, start, m.to_string()));
        }
    }
    out
}

/// All places and entities named in `text` (normalised text), sorted and de-duplicated.
pub fn extract(text: &str) -> Vec<Entity> {
    let mut out: Vec<Entity> = suffixed(text)
        .into_iter()
        .map(|n| Entity {
            kind: n.kind,
            name: n.core,
        })
        .collect();
    out.extend(
        admin_units(text)
            .into_iter()
            .map(|(kind, _, name)| Entity { kind, name }),
    );
    for c in ROUTE_RE.captures_iter(text) {
        out.push(Entity {
            kind: EntityKind::Route,
            name: c[1].to_string(),
        });
    }
    out.sort();
    out.dedup();
    out
}

/// The kind of a place mention on a case (地点), coarser than [`EntityKind`] and limited to where
/// a case is: the administrative unit, the street or town, the road, the estate, the building.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum PlaceKind {
    /// 区 / 县
    District,
    /// 街道 / 镇 / 乡
    Street,
    /// 路 / 街 / 大道 / 巷
    Road,
    /// 小区 / 花园 / 苑 … (residential; not 广场, 公园, 大厦, 商城)
    Estate,
    /// 栋 / 幢 / 号楼, or a lettered 座
    Building,
}

/// A place named in a complaint, as written there ("魅力之城小区", "劳动东路", "5栋").
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Place {
    pub kind: PlaceKind,
    pub name: String,
}

/// Estate suffixes of where people live (the other [`EntityKind::Estate`] suffixes name plazas,
/// parks, office towers and malls).
const RESIDENTIAL: &[&str] = &[
    "国际城",
    "小区",
    "花园",
    "家园",
    "公寓",
    "新村",
    "山庄",
    "新城",
    "之城",
    "雅居",
    "华庭",
    "嘉园",
    "名苑",
    "庭苑",
    "苑",
];

/// What `han2_then(text, '县')` finds, as the regex it replaced (kept for the test of that).
#[cfg(test)]
static NAMED_COUNTY_RE: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"\p{Han}{2}县").expect("static county regex"));
static BUILDING_RE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?:[A-Z]?[0-9]{1,3}|[一二三四五六七八九十]{1,3})(?:号楼|栋|幢)|[A-Z](?:座|栋|幢)")
        .expect("static building regex")
});

/// The places named in `text` (normalised text) by kind — district, street, road, estate,
/// building — each kind in the order of the text, each name once. The same extractor as
/// [`extract`] (its suffixes, boundaries and district rules), keeping names as written.
pub fn places(text: &str) -> Vec<Place> {
    let mut found: Vec<(PlaceKind, usize, String)> = Vec::new();
    for n in suffixed(text) {
        let kind = match (n.kind, n.suffix) {
            (EntityKind::Village, "街道" | "镇" | "乡") => PlaceKind::Street,
            (EntityKind::Road, _) => PlaceKind::Road,
            // not "物业规定小区": a name does not start with an ordinary word
            (EntityKind::Estate, s)
                if RESIDENTIAL.contains(&s) && !NOT_NAMES.iter().any(|w| n.core.starts_with(w)) =>
            {
                PlaceKind::Estate
            }
            _ => continue,
        };
        found.push((kind, n.start, n.written));
    }
    // One estate written with two suffixes ("美舍苑小区" also gives 美舍苑): the longest.
    let longest = |a: &(PlaceKind, usize, String), b: &(PlaceKind, usize, String)| {
        a.0 == b.0 && a.1 == b.1 && a.2.len() < b.2.len()
    };
    let all = found.clone();
    found.retain(|f| !all.iter().any(|g| longest(f, g)));
    for (kind, at, name) in admin_units(text) {
        if kind == EntityKind::Admin {
            found.push((PlaceKind::District, at, name));
        }
    }
    for (start, m) in han2_then(text, '县') {
        let first = m.chars().next().unwrap_or('的');
        if !BOUNDARY.contains(first) && is_district_name(m) {
            found.push((PlaceKind::District, start, m.to_string()));
        }
    }
    for m in BUILDING_RE.find_iter(text) {
        // a building number, not a count ("一栋楼" is any building) or part of a longer number
        let glued = text[..m.start()]
            .chars()
            .next_back()
            .is_some_and(|c| c.is_ascii_alphanumeric());
        if !glued && !m.as_str().starts_with('一') {
            found.push((PlaceKind::Building, m.start(), m.as_str().to_string()));
        }
    }
    found.sort();
    let mut out: Vec<Place> = Vec::new();
    for (kind, _, name) in found {
        if !out.iter().any(|p| p.kind == kind && p.name == name) {
            out.push(Place { kind, name });
        }
    }
    out
}

/// Whether two core names (of one kind) name the same place: equal, or a variant/typo of it
/// (character-set Dice ≥ 0.6, or the same last two characters before the suffix).
pub fn same_name(a: &str, b: &str) -> bool {
    if a == b {
        return true;
    }
    let mut ca: Vec<char> = a.chars().collect();
    let mut cb: Vec<char> = b.chars().collect();
    let common_tail = ca
        .iter()
        .rev()
        .zip(cb.iter().rev())
        .take_while(|(x, y)| x == y)
        .count();
    if common_tail >= 2 {
        return true;
    }
    ca.sort_unstable();
    ca.dedup();
    cb.sort_unstable();
    cb.dedup();
    let inter = crate::sketch::intersection_sorted(&ca, &cb);
    2.0 * inter as f32 / (ca.len() + cb.len()) as f32 >= 0.6
}

/// How the entities of two reports relate, per kind named in both.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct EntityOverlap {
    /// Specific kinds (estate, org, water, site, route) named in both with a matching name.
    pub shared_specific: u32,
    /// General kinds (road, village, district) named in both with a matching name.
    pub shared_general: u32,
    /// Specific kinds named in both with no matching name: another place or entity.
    pub conflict_specific: u32,
    /// General kinds named in both with no matching name (a city counts here and in
    /// `conflict_city`).
    pub conflict_general: u32,
    /// Both name a city and none matches ("B市" vs "C市" in one template): another matter.
    #[serde(default)]
    pub conflict_city: u32,
    /// 1 when a specific name of one report matches a specific name of the other filed under
    /// another kind (伊景园滨河 as an estate in one, 伊景园滨 as a river in the other).
    #[serde(default)]
    pub shared_across_kinds: u32,
}

/// Compare two sorted entity lists kind by kind.
pub fn overlap(a: &[Entity], b: &[Entity]) -> EntityOverlap {
    let mut out = EntityOverlap::default();
    let mut kinds: Vec<EntityKind> = a.iter().map(|e| e.kind).collect();
    kinds.dedup();
    for kind in kinds {
        let names_b: Vec<&str> = b
            .iter()
            .filter(|e| e.kind == kind)
            .map(|e| e.name.as_str())
            .collect();
        if names_b.is_empty() {
            continue;
        }
        let matched = a
            .iter()
            .filter(|e| e.kind == kind)
            .any(|e| names_b.iter().any(|nb| same_name(&e.name, nb)));
        match (matched, kind.is_specific()) {
            (true, _) if kind == EntityKind::City => {}
            (true, true) => out.shared_specific += 1,
            (true, false) => out.shared_general += 1,
            (false, true) => out.conflict_specific += 1,
            (false, false) => {
                out.conflict_general += 1;
                out.conflict_city += u32::from(kind == EntityKind::City);
            }
        }
    }
    let specific = |e: &&Entity| e.kind.is_specific();
    out.shared_across_kinds = u32::from(a.iter().filter(specific).any(|ea| {
        b.iter()
            .filter(specific)
            .any(|eb| ea.kind != eb.kind && same_name(&ea.name, &eb.name))
    }));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn han_pairs_are_found_as_the_regex_finds_them() {
        // Every text of the repo's sets (titles and texts, normalised and not) and a table of
        // edges: runs of the suffix, non-Han characters before it, the text's start, a
        // four-byte Han character, overlapping candidates.
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../eval/sets");
        let mut texts: Vec<String> = [
            "区",
            "小区",
            "美兰区",
            "县县县",
            "甲乙县丙县",
            "A区B区",
            "老城区区区",
            "𠀋𠀋区",
            "1号区",
            "区美兰区龙华区",
            "海口市美兰区和龙华区的小区",
            "，美区",
            "琼山区。秀英区",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        for f in [
            "load_texts.jsonl",
            "city_test.jsonl",
            "dedup_tune.jsonl",
            "dedup_more.jsonl",
        ] {
            let body = std::fs::read_to_string(dir.join(f)).expect("eval set");
            for line in body.lines() {
                let v: serde_json::Value = serde_json::from_str(line).expect("json line");
                let mut strings = Vec::new();
                collect_strings(&v, &mut strings);
                for t in strings {
                    texts.push(paidan_text::normalize(&t));
                    texts.push(t);
                }
            }
        }
        assert!(texts.len() > 5_000, "{}", texts.len());
        let mut found = 0;
        for t in &texts {
            for (suffix, re) in [('区', &*NAMED_DISTRICT_RE), ('县', &*NAMED_COUNTY_RE)] {
                let want: Vec<(usize, &str)> =
                    re.find_iter(t).map(|m| (m.start(), m.as_str())).collect();
                found += want.len();
                assert_eq!(han2_then(t, suffix), want, "{t}");
            }
        }
        assert!(found > 1_000, "{found}");
    }

    fn collect_strings(v: &serde_json::Value, out: &mut Vec<String>) {
        match v {
            serde_json::Value::String(s) => out.push(s.clone()),
            serde_json::Value::Array(a) => a.iter().for_each(|x| collect_strings(x, out)),
            serde_json::Value::Object(o) => o.values().for_each(|x| collect_strings(x, out)),
            _ => {}
        }
    }

    fn names(text: &str, kind: EntityKind) -> Vec<String> {
        extract(text)
            .into_iter()
            .filter(|e| e.kind == kind)
            .map(|e| e.name)
            .collect()
    }

    #[test]
    fn extraction_table() {
        use EntityKind::*;
        let cases: &[(&str, EntityKind, &[&str])] = &[
            ("A5区劳动东路魅力之城小区一楼的夜宵摊", Estate, &["魅力"]),
            ("A5区劳动东路魅力之城小区一楼的夜宵摊", Road, &["劳动东"]),
            ("A市A2区丽发新城小区附近建搅拌站", Estate, &["丽发"]),
            ("我是A市涉外经济学院的一名学生", Org, &["涉外经济"]),
            (
                "仓山区红星农场马洲支河桥头亭路段深夜施工",
                Water,
                &["红星农场马洲"],
            ),
            ("早上七点207路公交车只有一辆", Route, &["207"]),
            // jieba: 众/创新(v)/佳宜 — the name is cut after the verb, the same way every time.
            ("投诉A3区58众创新佳宜超市音响外置", Org, &["佳宜"]),
            // Words that cannot be in a name end it; what remains is the name.
            ("我发现正祥广场工地往河里排放泥浆", Estate, &["正祥"]),
            ("许多隐蔽项目偷工减料", Site, &[]),
            ("建设出豆腐渣工程", Site, &[]),
            ("我住在生活小区里", Estate, &[]),
            ("A市A3区茶子山中路", Admin, &["A3区"]),
            ("A市A3区茶子山中路", City, &["A市"]),
            (
                "请加快A市汉王陵考古遗址公园建设力度",
                Estate,
                &["汉王陵考古遗址"],
            ),
            ("仓山区龙津河水体黑臭严重", Admin, &["仓山区"]),
            ("本小区临街居民楼下", Admin, &[]),
            // A road's direction character is part of its name.
            ("海秀中路华侨公寓楼下的烧烤摊", Road, &["海秀中"]),
            ("解放路与人民路交叉口的工地", Road, &["人民", "解放"]),
            // A river character in front of an estate suffix belongs to the estate.
            ("A市伊景园·滨河苑强制捆绑车位", Estate, &["滨河"]),
            ("A市伊景园·滨河苑强制捆绑车位", Water, &[]),
            // Problem words and institution types are not names.
            ("小区47栋一楼麻将馆扰民", Org, &[]),
            ("楼下烧烤店油烟大", Org, &[]),
            ("为什么没改为普惠性幼儿园", Org, &[]),
            // "XX区" is a district only when jieba knows it as one word.
            ("停车区域在居民区和交界区", Admin, &[]),
            // Pronouns, conjunctions, time words are no names; adjectives may be.
            ("什么小区都有", Estate, &[]),
            ("幸福家园小区3栋", Estate, &["幸福"]),
        ];
        for (text, kind, want) in cases {
            let got = names(text, *kind);
            assert_eq!(
                got,
                want.iter().map(|s| s.to_string()).collect::<Vec<_>>(),
                "{text} {kind:?}"
            );
        }
    }

    #[test]
    fn trim_to_name_table() {
        let cases = [
            ("发现正祥", "正祥"),
            ("立交桥西南角长盛", "长盛"),
            ("政府考虑枫林", "枫林"),
            ("许多隐蔽", ""),
            ("丽发", "丽发"),         // one word: kept even when tagged as a verb
            ("涉外经济", "涉外经济"), // no breaking word
            ("红星农场马洲", "红星农场马洲"),
        ];
        for (name, want) in cases {
            assert_eq!(trim_to_name(name), want, "{name}");
        }
    }

    #[test]
    fn name_matching_table() {
        let cases = [
            ("丽发", "丽发", true),
            ("西地省广花实业发展有限", "西地省华广实业发展有限", true), // swapped characters
            ("跃进", "仓山跃进", true),                                 // longer left context
            ("魅力之城", "一师润芳", false),
            ("商贸旅游职业技术", "涉外经济", false),
            ("龙津", "马洲", false),
        ];
        for (a, b, want) in cases {
            assert_eq!(same_name(a, b), want, "{a} vs {b}");
        }
    }

    #[test]
    fn overlap_counts_conflicts_only_for_kinds_named_in_both() {
        let a = extract("A市商贸旅游职业技术学院强制学生实习");
        let b = extract("A市经济学院强制学生实习");
        let o = overlap(&a, &b);
        assert_eq!(o.conflict_specific, 1, "{a:?} {b:?}");
        assert_eq!(o.shared_general, 0, "{a:?} {b:?}");
        // Both name A市: no evidence either way.
        assert_eq!(o.shared_general, 0);
        let other_city = extract("希望B市重视滴滴出行的问题");
        assert_eq!(
            overlap(&extract("希望A市重视滴滴出行的问题"), &other_city).conflict_general,
            1
        );
        let c = extract("强制学生实习");
        assert_eq!(overlap(&a, &c), EntityOverlap::default());
        // Two different cities conflict; a name filed under another kind is still shared.
        assert_eq!(
            overlap(&extract("希望A市重视"), &extract("希望B市重视")).conflict_city,
            1
        );
        let estate = vec![Entity {
            kind: EntityKind::Estate,
            name: "伊景园滨河".into(),
        }];
        let river = vec![Entity {
            kind: EntityKind::Water,
            name: "伊景园滨".into(),
        }];
        assert_eq!(overlap(&estate, &river).shared_across_kinds, 1);
    }
}
