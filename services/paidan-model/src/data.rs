//! Labelled rows from JSONL: the one reader of the row format shared by training, cross-validation
//! and evaluation (paidan-eval reads its rows through [`json_rows`]).
//!
//! Each line is an object with `text` and optionally `id`, `title`, `category`, `department`,
//! `jurisdiction` and `sure`; unknown fields are ignored, blank lines skipped. A missing `sure`
//! means sure ([`JsonRow::sure`]).

use std::path::Path;

use serde::Deserialize;
use sha2::{Digest, Sha256};

use crate::error::ModelError;

/// One labelled complaint.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    /// 1-based line number in its file.
    pub line: usize,
    pub id: Option<String>,
    pub title: String,
    pub text: String,
    pub category: Option<String>,
    pub department: Option<String>,
    /// `sure` (missing = true).
    pub sure: bool,
}

/// One JSONL line as written, before a reader's own checks.
#[derive(Clone, Debug, Default, Deserialize)]
pub struct JsonRow {
    #[serde(default)]
    pub id: Option<serde_json::Value>,
    #[serde(default)]
    pub title: Option<String>,
    #[serde(default)]
    pub text: Option<String>,
    #[serde(default)]
    pub category: Option<String>,
    #[serde(default)]
    pub department: Option<String>,
    #[serde(default)]
    pub jurisdiction: Option<String>,
    /// As written; [`JsonRow::sure`] applies the default.
    #[serde(default)]
    pub sure: Option<bool>,
}

impl JsonRow {
    /// Annotator certainty: `sure=false` marks an ambiguous label; missing = true.
    pub fn sure(&self) -> bool {
        self.sure.unwrap_or(true)
    }
}

/// The non-blank lines of JSONL `text`, each with its 1-based line number, parsed.
pub fn json_rows(text: &str) -> impl Iterator<Item = (usize, serde_json::Result<JsonRow>)> + '_ {
    text.lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .map(|(i, l)| (i + 1, serde_json::from_str(l)))
}

/// `s` trimmed, or None when it is missing or blank.
pub fn non_empty(s: Option<String>) -> Option<String> {
    s.map(|s| s.trim().to_string()).filter(|s| !s.is_empty())
}

/// Parses JSONL rows; blank lines are skipped. Returns the rows and the SHA-256 of the bytes.
pub fn parse_rows(path: &Path, bytes: &[u8]) -> Result<(Vec<Row>, String), ModelError> {
    let digest = hex::encode(Sha256::digest(bytes));
    let text = std::str::from_utf8(bytes).map_err(|e| ModelError::Data {
        path: path.to_path_buf(),
        line: bytes[..e.valid_up_to()]
            .iter()
            .filter(|&&b| b == b'\n')
            .count()
            + 1,
        msg: "not UTF-8".into(),
    })?;
    let mut rows = Vec::new();
    for (line, raw) in json_rows(text) {
        let bad = |msg: String| ModelError::Data {
            path: path.to_path_buf(),
            line,
            msg,
        };
        let raw = raw.map_err(|e| bad(format!("invalid JSON row: {e}")))?;
        let sure = raw.sure();
        let text = raw.text.unwrap_or_default();
        if text.trim().is_empty() {
            return Err(bad("missing or empty \"text\"".into()));
        }
        rows.push(Row {
            line,
            id: raw.id.map(|v| match v {
                serde_json::Value::String(s) => s,
                other => other.to_string(),
            }),
            title: raw.title.unwrap_or_default(),
            text,
            category: non_empty(raw.category),
            department: non_empty(raw.department),
            sure,
        });
    }
    Ok((rows, digest))
}

/// Reads a JSONL file of rows (see [`parse_rows`]).
pub fn read_rows(path: &Path) -> Result<(Vec<Row>, String), ModelError> {
    let bytes = std::fs::read(path).map_err(|e| ModelError::io(path, e))?;
    parse_rows(path, &bytes)
}
