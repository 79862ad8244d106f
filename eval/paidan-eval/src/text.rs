//! Plain-text renderers for the terminal.

use std::fmt::Write as _;

use crate::report::{EvalReport, Head};

fn fmt_opt(v: Option<f64>) -> String {
    v.map_or_else(|| "—".to_owned(), |v| format!("{v:.4}"))
}

/// A short plain-text summary of an eval report.
pub fn render_report_text(r: &EvalReport) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "model {}: {} rows", r.model_version, r.n);
    for (head, rep) in [
        (Head::Category, &r.category),
        (Head::Department, &r.department),
    ] {
        let Some(rep) = rep else { continue };
        let _ = writeln!(
            s,
            "{:<10}  accuracy {:.4}  macro-F1 {:.4}  weighted-F1 {:.4}  ECE {:.4}  ({} classes)",
            head.as_str(),
            rep.accuracy,
            rep.macro_f1,
            rep.weighted_f1,
            rep.ece,
            rep.per_class.len()
        );
    }
    let _ = writeln!(
        s,
        "review      flagged {:.1} %  accuracy unflagged {}  flagged {}",
        r.review.flagged_share * 100.0,
        fmt_opt(r.review.accuracy_unflagged),
        fmt_opt(r.review.accuracy_flagged)
    );
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::tests::sample;

    #[test]
    fn text_summary_lines() {
        let text = render_report_text(&sample().report);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], "model test-v1: 4 rows");
        assert!(
            lines[1].starts_with("category    accuracy 0.5000"),
            "{text}"
        );
        assert!(
            lines[2].starts_with("department  accuracy 0.6667"),
            "{text}"
        );
        assert_eq!(
            lines[3],
            "review      flagged 50.0 %  accuracy unflagged 1.0000  flagged 0.0000"
        );
    }
}
