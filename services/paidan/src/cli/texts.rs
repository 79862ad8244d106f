//! Reading JSONL complaint texts for throughput and load runs (`bench-triage`, `loadgen`).

use std::path::Path;

use anyhow::{Context, bail};
use serde::Deserialize;

/// One line of a text file: `text` (required), `title` and `jurisdiction` optional.
#[derive(Deserialize)]
pub struct TextRow {
    #[serde(default)]
    pub title: String,
    pub text: String,
    #[serde(default)]
    pub jurisdiction: Option<String>,
}

/// Rows with a non-empty `text`, at most `limit`; an error names the bad line, and a file with no
/// usable row is an error.
pub fn read_text_rows(path: &Path, limit: Option<usize>) -> anyhow::Result<Vec<TextRow>> {
    let raw =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let mut rows = Vec::new();
    for (i, line) in raw.lines().enumerate() {
        if limit.is_some_and(|l| rows.len() >= l) {
            break;
        }
        if line.trim().is_empty() {
            continue;
        }
        let row: TextRow = serde_json::from_str(line).with_context(|| {
            format!(
                "{} line {}: expected {{\"text\", \"title\"?}}",
                path.display(),
                i + 1
            )
        })?;
        if !row.text.trim().is_empty() {
            rows.push(row);
        }
    }
    if rows.is_empty() {
        bail!("{} holds no row with a non-empty `text`", path.display());
    }
    Ok(rows)
}
