//! Guessing the request type and urgency from the text when the operator left them unset.
//!
//! Why keyword rules and not a model: there are no labelled request types or urgencies in the
//! training data, the words that mark them are few and explicit (咨询, 举报, 着火), and a rule
//! that is wrong can be read and fixed by a call-taker. A guess is stored as a guess (the case's
//! `*_guessed` flags), so the platform can tell it from the operator's choice.
//!
//! Rules, first match wins (on the title and text together):
//!
//! | request type  | words                                                       |
//! |---------------|-------------------------------------------------------------|
//! | report 举报   | 举报                                                         |
//! | praise 表扬   | 表扬, 点赞, 锦旗, 致谢                                        |
//! | consultation 咨询 | 咨询, 请问, 想了解, 想问, 如何办理, 怎么办理, 是否可以    |
//! | suggestion 建议 | 建议增设, 建议增加, 提个建议, 提建议, 我建议                |
//! | help 求助     | 求助, 救助, 被困, 帮帮                                        |
//! | complaint 投诉 | anything else                                               |
//!
//! | urgency        | words                                                          |
//! |----------------|----------------------------------------------------------------|
//! | very urgent 特急 | 着火, 火灾, 爆炸, 燃气泄漏, 煤气泄漏, 漏气, 被困, 坍塌, 塌方, 触电, 生命危险 |
//! | urgent 紧急    | 紧急, 危险, 停水, 停电, 断电, 井盖, 塌陷, 倒伏, 断裂, 冒水, 爆管 |
//! | normal 一般    | anything else                                                  |

use paidan_store::{RequestType, Urgency};

const REQUEST_TYPE_RULES: &[(RequestType, &[&str])] = &[
    (RequestType::Report, &["举报"]),
    (RequestType::Praise, &["表扬", "点赞", "锦旗", "致谢"]),
    (
        RequestType::Consultation,
        &[
            "咨询",
            "请问",
            "想了解",
            "想问",
            "如何办理",
            "怎么办理",
            "是否可以",
        ],
    ),
    (
        RequestType::Suggestion,
        &["建议增设", "建议增加", "提个建议", "提建议", "我建议"],
    ),
    (RequestType::Help, &["求助", "救助", "被困", "帮帮"]),
];

const URGENCY_RULES: &[(Urgency, &[&str])] = &[
    (
        Urgency::VeryUrgent,
        &[
            "着火",
            "火灾",
            "爆炸",
            "燃气泄漏",
            "煤气泄漏",
            "漏气",
            "被困",
            "坍塌",
            "塌方",
            "触电",
            "生命危险",
        ],
    ),
    (
        Urgency::Urgent,
        &[
            "紧急", "危险", "停水", "停电", "断电", "井盖", "塌陷", "倒伏", "断裂", "冒水", "爆管",
        ],
    ),
];

fn first_match<T: Copy>(rules: &[(T, &[&str])], title: &str, text: &str) -> Option<T> {
    rules
        .iter()
        .find(|(_, words)| words.iter().any(|w| title.contains(w) || text.contains(w)))
        .map(|(t, _)| *t)
}

/// The request type the text suggests (complaint when no rule matches).
pub fn request_type(title: &str, text: &str) -> RequestType {
    first_match(REQUEST_TYPE_RULES, title, text).unwrap_or(RequestType::Complaint)
}

/// The urgency the text suggests (normal when no rule matches).
pub fn urgency(title: &str, text: &str) -> Urgency {
    first_match(URGENCY_RULES, title, text).unwrap_or(Urgency::Normal)
}

/// The operator's value when set, else the guess; the flag says which.
pub fn or_guess<T>(given: Option<T>, guess: impl FnOnce() -> T) -> (T, bool) {
    match given {
        Some(v) => (v, false),
        None => (guess(), true),
    }
}
