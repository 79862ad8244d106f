//! What the domain tells an operator: triage outcomes, inference batching, duplicate lookups and
//! the submit writer's rounds, recorded through the `metrics` facade.
//!
//! Recording is a no-op until the server installs a recorder (`paidan serve` always does, and
//! serves it at `/metrics` when `metrics_addr` is set), so library users and tests pay nothing.
//! Every name is here, with its unit in the name as Prometheus conventions ask; the README's
//! metrics table lists the same names. Label values come from closed sets (category and
//! department codes of the taxonomy, review reasons the model writes), never from caller text.

use std::time::Duration;

use paidan_model::Triage;

/// Complaints triaged, by predicted category and department (Triage and SubmitComplaint both).
pub const TRIAGED: &str = "paidan_triage_total";
/// Complaints flagged for a person (needs_review).
pub const NEEDS_REVIEW: &str = "paidan_triage_needs_review_total";
/// Review reasons, by kind (a flagged complaint may have several).
pub const REVIEW: &str = "paidan_triage_review_total";
/// Calibrated confidence of the served label, by head (`category`, `department`).
pub const CONFIDENCE: &str = "paidan_triage_confidence";
/// 1 for the serving model's version.
pub const MODEL_INFO: &str = "paidan_model_info";
/// Complaints per forward pass.
pub const BATCH_SIZE: &str = "paidan_inference_batch_size";
/// Time a complaint waited in the inference queue.
pub const QUEUE_WAIT: &str = "paidan_inference_queue_wait_seconds";
/// Duplicate lookups made for a submit.
pub const DEDUP_LOOKUPS: &str = "paidan_dedup_lookups_total";
/// Reports linked to an open master case.
pub const DEDUP_LINKS: &str = "paidan_dedup_links_total";
/// Band-index candidates per lookup (before scoring).
pub const DEDUP_CANDIDATES: &str = "paidan_dedup_candidates";
/// Duration of one lookup (band index, candidate reads, scoring).
pub const DEDUP_SECONDS: &str = "paidan_dedup_lookup_seconds";
/// Submits in one writer round (one flush).
pub const WRITER_ROUND: &str = "paidan_store_writer_round_size";
/// Duration of the flush that makes a round durable.
pub const FLUSH_SECONDS: &str = "paidan_store_flush_seconds";
/// Cases stored (new cases and linked reports; idempotent repeats not counted).
pub const CASES_STORED: &str = "paidan_cases_stored_total";

pub(crate) fn triaged(t: &Triage) {
    metrics::counter!(
        TRIAGED,
        "category" => t.category.code.clone(),
        "department" => t.department.code.clone()
    )
    .increment(1);
    metrics::histogram!(CONFIDENCE, "head" => "category").record(t.category.confidence as f64);
    metrics::histogram!(CONFIDENCE, "head" => "department").record(t.department.confidence as f64);
    if t.needs_review {
        metrics::counter!(NEEDS_REVIEW).increment(1);
    }
    for reason in &t.review_reasons {
        metrics::counter!(REVIEW, "reason" => review_kind(reason)).increment(1);
    }
}

/// The kind of a review reason: its first words, up to a figure, a colon or a parenthesis and
/// at most six ("category confidence 0.41 < 0.60" → "category confidence"), so the label set
/// stays small.
fn review_kind(reason: &str) -> String {
    let mut kind: Vec<&str> = Vec::new();
    for w in reason.split_whitespace().take(6) {
        let stop = w.find(|c: char| c.is_ascii_digit() || c == ':' || c == '(');
        match stop {
            Some(0) => break,
            Some(i) => {
                kind.push(&w[..i]);
                break;
            }
            None => kind.push(w),
        }
    }
    if kind.is_empty() {
        "other".to_string()
    } else {
        kind.join(" ")
    }
}

pub(crate) fn model_loaded(version: &str, previous: Option<&str>) {
    if let Some(p) = previous {
        metrics::gauge!(MODEL_INFO, "version" => p.to_string()).set(0.0);
    }
    metrics::gauge!(MODEL_INFO, "version" => version.to_string()).set(1.0);
}

pub(crate) fn batch(size: usize, waits: impl Iterator<Item = Duration>) {
    metrics::histogram!(BATCH_SIZE).record(size as f64);
    let h = metrics::histogram!(QUEUE_WAIT);
    for w in waits {
        h.record(w.as_secs_f64());
    }
}

pub(crate) fn dedup_candidates(n: usize) {
    metrics::histogram!(DEDUP_CANDIDATES).record(n as f64);
}

pub(crate) fn dedup_lookup(linked: bool, took: Duration) {
    metrics::counter!(DEDUP_LOOKUPS).increment(1);
    metrics::histogram!(DEDUP_SECONDS).record(took.as_secs_f64());
    if linked {
        metrics::counter!(DEDUP_LINKS).increment(1);
    }
}

pub(crate) fn writer_round(size: usize, stored: usize, flush: Option<Duration>) {
    metrics::histogram!(WRITER_ROUND).record(size as f64);
    if let Some(f) = flush {
        metrics::histogram!(FLUSH_SECONDS).record(f.as_secs_f64());
    }
    metrics::counter!(CASES_STORED).increment(stored as u64);
}

#[cfg(test)]
mod tests {
    #[test]
    fn review_reasons_are_grouped_by_their_words() {
        let table = [
            ("category confidence 0.41 < 0.60", "category confidence"),
            (
                "department margin 0.05 < 0.10 (a vs b)",
                "department margin",
            ),
            (
                "department routed by the taxonomy table: x for category y",
                "department routed by the taxonomy table",
            ),
            (
                "joint confidence 0.88 (category × department) < 0.97",
                "joint confidence",
            ),
            ("0.3", "other"),
            ("", "other"),
        ];
        for (reason, want) in table {
            assert_eq!(super::review_kind(reason), want, "{reason}");
        }
    }
}
