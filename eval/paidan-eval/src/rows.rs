//! Eval rows: the same JSONL format as training data, read by the trainer's reader
//! ([`paidan_model::data::json_rows`]).
//!
//! Each line is an object with `text` (required), and optionally `title`, `category`, `department`,
//! `jurisdiction`, `id` and `sure`. Unknown fields (`source`, `time`, ...) are ignored. Rows without
//! an `id` get `line-N` (1-based line number) so predictions can still be traced back to the file;
//! unlike training, a row may have an empty `text` when it has a title.

use std::io::BufRead;
use std::path::Path;

use paidan_model::data::{json_rows, non_empty};
use serde::{Deserialize, Serialize};

use crate::error::{EvalError, Result};

/// One labelled eval row.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EvalRow {
    /// Row id from the file, or `line-N`.
    pub id: String,
    /// Optional title; the model sees title + text.
    pub title: Option<String>,
    /// Complaint text.
    pub text: String,
    /// Gold category code, if labelled.
    pub category: Option<String>,
    /// Gold department code, if labelled.
    pub department: Option<String>,
    /// Jurisdiction (for the routing table), when the file gives one.
    pub jurisdiction: Option<String>,
    /// Annotator certainty (`sure=false` marks ambiguous labels) as the file gives it: `None` when it
    /// does not say, which counts as sure ([`EvalRow::is_sure`]), as in training.
    pub sure: Option<bool>,
}

impl EvalRow {
    /// Whether the label is sure: a missing `sure` is (the documented default of the row format).
    pub fn is_sure(&self) -> bool {
        self.sure.unwrap_or(true)
    }

    /// A row with only text and a category label (handy for tests and the 7-class set).
    pub fn labelled(id: &str, text: &str, category: &str) -> EvalRow {
        EvalRow {
            id: id.to_owned(),
            title: None,
            text: text.to_owned(),
            category: Some(category.to_owned()),
            department: None,
            jurisdiction: None,
            sure: None,
        }
    }
}

/// Parses JSONL eval rows from a reader. Blank lines are skipped; `source_name` names the input in errors.
pub fn parse_rows(mut reader: impl BufRead, source_name: &str) -> Result<Vec<EvalRow>> {
    let mut all = String::new();
    reader
        .read_to_string(&mut all)
        .map_err(|e| EvalError::Row {
            source_name: source_name.to_owned(),
            line: 0,
            message: format!("read error: {e}"),
        })?;
    let mut rows = Vec::new();
    for (lineno, raw) in json_rows(&all) {
        let err = |message: String| EvalError::Row {
            source_name: source_name.to_owned(),
            line: lineno,
            message,
        };
        let raw = raw.map_err(|e| err(format!("invalid JSON row: {e}")))?;
        let text = raw
            .text
            .ok_or_else(|| err("missing required field `text`".to_owned()))?;
        let title = non_empty(raw.title);
        if text.trim().is_empty() && title.is_none() {
            return Err(err("`text` is empty".to_owned()));
        }
        let id = match raw.id {
            None | Some(serde_json::Value::Null) => format!("line-{lineno}"),
            Some(serde_json::Value::String(s)) => s,
            Some(serde_json::Value::Number(n)) => n.to_string(),
            Some(other) => {
                return Err(err(format!("`id` must be a string or number, got {other}")));
            }
        };
        rows.push(EvalRow {
            id,
            title,
            text,
            category: non_empty(raw.category),
            department: non_empty(raw.department),
            jurisdiction: non_empty(raw.jurisdiction),
            sure: raw.sure,
        });
    }
    Ok(rows)
}

/// Reads JSONL eval rows from a file. Errors name the file and the line.
pub fn read_rows(path: &Path) -> Result<Vec<EvalRow>> {
    let file = std::fs::File::open(path).map_err(|e| EvalError::io(path, e))?;
    parse_rows(std::io::BufReader::new(file), &path.display().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_rows_and_defaults() {
        let input = concat!(
            r#"{"id":"wz4-1","source":"wz4","title":"路灯不亮","text":"小区门口路灯坏了","category":"road_facility","department":"housing_construction","sure":true}"#,
            "\n\n",
            r#"{"text":"市 道路 积水","category":"城乡建设"}"#,
            "\n",
            r#"{"id":17,"text":"噪音","department":"public_security","title":"  ","jurisdiction":"A3区"}"#,
            "\n",
        );
        let rows = parse_rows(input.as_bytes(), "t.jsonl").unwrap();
        let expected = vec![
            EvalRow {
                id: "wz4-1".into(),
                title: Some("路灯不亮".into()),
                text: "小区门口路灯坏了".into(),
                category: Some("road_facility".into()),
                department: Some("housing_construction".into()),
                jurisdiction: None,
                sure: Some(true),
            },
            EvalRow {
                id: "line-3".into(),
                title: None,
                text: "市 道路 积水".into(),
                category: Some("城乡建设".into()),
                department: None,
                jurisdiction: None,
                sure: None,
            },
            EvalRow {
                id: "17".into(),
                title: None,
                text: "噪音".into(),
                category: None,
                department: Some("public_security".into()),
                jurisdiction: Some("A3区".into()),
                sure: None,
            },
        ];
        assert_eq!(rows, expected);
    }

    #[test]
    fn errors_name_the_line() {
        let cases: &[(&str, &str)] = &[
            (
                "{\"text\":\"a\"}\n{\"title\":\"b\"}\n",
                "t.jsonl:2: missing required field `text`",
            ),
            (
                "{\"text\":\"a\"}\n\nnot json\n",
                "t.jsonl:3: invalid JSON row",
            ),
            ("{\"text\":\"  \"}\n", "t.jsonl:1: `text` is empty"),
            (
                "{\"text\":\"a\",\"id\":[1]}\n",
                "t.jsonl:1: `id` must be a string or number",
            ),
        ];
        for (input, want) in cases {
            let err = parse_rows(input.as_bytes(), "t.jsonl")
                .unwrap_err()
                .to_string();
            assert!(
                err.starts_with(want),
                "input {input:?}: got {err:?}, want prefix {want:?}"
            );
        }
    }

    #[test]
    fn read_rows_reports_missing_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("nope.jsonl");
        let err = read_rows(&path).unwrap_err();
        assert!(matches!(err, EvalError::Io { .. }), "{err:?}");
    }
}
