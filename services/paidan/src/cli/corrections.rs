//! `paidan export-corrections`: operator corrections as training rows.

use std::io::Write;
use std::path::PathBuf;

use anyhow::Context;

#[derive(clap::Args, Debug)]
pub struct ExportArgs {
    /// sled directory of a stopped server (sled allows one process at a time).
    #[arg(long, env = "PAIDAN_DATA_DIR", default_value = crate::config::DEFAULT_DATA_DIR)]
    pub data_dir: PathBuf,
    /// The PostgreSQL store instead of sled (as `paidan serve --store-url`).
    #[arg(long, env = "PAIDAN_STORE_URL", hide_env_values = true)]
    pub store_url: Option<String>,
    #[arg(long)]
    pub out: PathBuf,
}

/// One training row: the text as the model sees it (phone and ID numbers masked), the corrected
/// labels, and what the model had said, by whom and when it was fixed.
#[derive(serde::Serialize)]
struct Row<'a> {
    id: &'a str,
    title: String,
    text: String,
    category: &'a str,
    department: &'a str,
    predicted_category: &'a str,
    predicted_department: &'a str,
    model_version: &'a str,
    corrected_by: &'a str,
    corrected_at: i64,
    note: &'a str,
    sure: bool,
}

pub fn run(a: ExportArgs) -> anyhow::Result<()> {
    let store = crate::server::open_store(&a.data_dir, a.store_url.as_deref()).context(
        "cannot open the case store (a running server holds a sled store: stop it first)",
    )?;
    let corrections = store.corrections()?;
    let mut out = std::io::BufWriter::new(
        std::fs::File::create(&a.out)
            .with_context(|| format!("cannot create {}", a.out.display()))?,
    );
    let mut n = 0usize;
    // The latest correction of a case wins: it holds the case's final labels.
    let mut latest = std::collections::BTreeMap::new();
    for c in &corrections {
        latest.insert(c.case_id.as_str(), c);
    }
    for (case_id, c) in latest {
        let Some(case) = store.get_case(case_id)? else {
            continue;
        };
        let row = Row {
            id: case_id,
            title: paidan_text::mask_pii(&case.title),
            text: paidan_text::mask_pii(&case.text),
            category: &c.category_after,
            department: &c.department_after,
            predicted_category: &c.predicted_category,
            predicted_department: &c.predicted_department,
            model_version: &c.model_version,
            corrected_by: &c.actor,
            corrected_at: c.at,
            note: &c.note,
            sure: true,
        };
        serde_json::to_writer(&mut out, &row)?;
        out.write_all(b"\n")?;
        n += 1;
    }
    out.flush()?;
    eprintln!(
        "wrote {n} corrected cases ({} corrections) to {}",
        corrections.len(),
        a.out.display()
    );
    Ok(())
}
