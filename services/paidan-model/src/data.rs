//! Training/eval rows from JSONL.

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

#[derive(Deserialize)]
struct RawRow {
    #[serde(default)]
    id: Option<serde_json::Value>,
    #[serde(default)]
    title: Option<String>,
    text: Option<String>,
    #[serde(default)]
    category: Option<String>,
    #[serde(default)]
    department: Option<String>,
    #[serde(default)]
    sure: Option<bool>,
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
    for (i, l) in text.lines().enumerate() {
        let line = i + 1;
        if l.trim().is_empty() {
            continue;
        }
        let bad = |msg: String| ModelError::Data {
            path: path.to_path_buf(),
            line,
            msg,
        };
        let raw: RawRow =
            serde_json::from_str(l).map_err(|e| bad(format!("invalid JSON row: {e}")))?;
        let text = raw.text.unwrap_or_default();
        if text.trim().is_empty() {
            return Err(bad("missing or empty \"text\"".into()));
        }
        let nonempty =
            |s: Option<String>| s.map(|s| s.trim().to_string()).filter(|s| !s.is_empty());
        rows.push(Row {
            line,
            id: raw.id.map(|v| match v {
                serde_json::Value::String(s) => s,
                other => other.to_string(),
            }),
            title: raw.title.unwrap_or_default(),
            text,
            category: nonempty(raw.category),
            department: nonempty(raw.department),
            sure: raw.sure.unwrap_or(true),
        });
    }
    Ok((rows, digest))
}

/// Reads a JSONL file of rows (see [`parse_rows`]).
pub fn read_rows(path: &Path) -> Result<(Vec<Row>, String), ModelError> {
    let bytes = std::fs::read(path).map_err(|e| ModelError::io(path, e))?;
    parse_rows(path, &bytes)
}
