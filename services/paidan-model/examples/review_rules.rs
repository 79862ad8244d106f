//! How the review flag behaves on a labelled split (use the dev split; never tune on test):
//!
//! cargo run --release -p paidan-model --example review_rules -- models/default models/data/city_dev.jsonl
//!
//! Per row it runs `Classifier::triage` (category, served department after the routing-table
//! fallback, needs_review) and reports the review rate, the accuracy of the rows not flagged (category
//! and served department both right), and which head's rule flagged the rows.

use std::path::Path;

use paidan_model::{Classifier, TriageInput, read_rows};

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let c = Classifier::load(Path::new(&args[0])).expect("model");
    let (rows, _) = read_rows(Path::new(&args[1])).expect("rows");
    let (mut n, mut flagged, mut cat_flag, mut dep_flag) = (0usize, 0usize, 0usize, 0usize);
    let (mut ok_cat, mut ok_dep, mut ok_both) = (0usize, 0usize, 0usize);
    let (mut acc_n, mut acc_both, mut acc_cat, mut acc_dep) = (0usize, 0usize, 0usize, 0usize);
    // Rows flagged only by the department rule: how often the served (routed) department is right.
    let (mut dep_only, mut dep_only_ok, mut dep_only_cat_ok) = (0usize, 0usize, 0usize);
    // The department head's own answer vs the served one where the routing table replaced it.
    let (mut head_ok, mut routed, mut routed_head_ok, mut routed_table_ok) =
        (0usize, 0usize, 0usize, 0usize);
    for r in &rows {
        let (Some(gc), Some(gd)) = (&r.category, &r.department) else {
            continue;
        };
        let t = c
            .triage(&TriageInput {
                title: &r.title,
                text: &r.text,
                jurisdiction: "",
            })
            .expect("triage");
        n += 1;
        let cc = &t.category.code == gc;
        let dc = &t.department.code == gd;
        ok_cat += usize::from(cc);
        ok_dep += usize::from(dc);
        ok_both += usize::from(cc && dc);
        let cf = t.review_reasons.iter().any(|s| s.starts_with("category "));
        let df = t
            .review_reasons
            .iter()
            .any(|s| s.starts_with("department confidence") || s.starts_with("department margin"));
        cat_flag += usize::from(cf);
        dep_flag += usize::from(df);
        let suggested = t.review_reasons.iter().find_map(|s| {
            s.split("(model suggested ")
                .nth(1)
                .map(|x| x.trim_end_matches(')').to_string())
        });
        let head_dep = suggested
            .clone()
            .unwrap_or_else(|| t.department.code.clone());
        head_ok += usize::from(&head_dep == gd);
        if suggested.is_some() {
            routed += 1;
            routed_head_ok += usize::from(&head_dep == gd);
            routed_table_ok += usize::from(dc);
        }
        if t.needs_review {
            flagged += 1;
        } else {
            acc_n += 1;
            acc_both += usize::from(cc && dc);
            acc_cat += usize::from(cc);
            acc_dep += usize::from(dc);
        }
        if df && !cf {
            dep_only += 1;
            dep_only_ok += usize::from(dc);
            dep_only_cat_ok += usize::from(cc);
        }
    }
    let f = |a: usize, b: usize| if b == 0 { 0.0 } else { a as f64 / b as f64 };
    println!(
        "{}",
        serde_json::json!({
            "rows": n,
            "accuracy": {"category": f(ok_cat, n), "served_department": f(ok_dep, n), "both": f(ok_both, n)},
            "review_rate": f(flagged, n),
            "department_head_accuracy": f(head_ok, n),
            "replaced_by_routing_table": {"rows": routed, "head_accuracy": f(routed_head_ok, routed), "table_accuracy": f(routed_table_ok, routed)},
            "flagged_by_category_rule": f(cat_flag, n),
            "flagged_by_department_rule": f(dep_flag, n),
            "not_flagged": {"rows": acc_n, "category": f(acc_cat, acc_n), "served_department": f(acc_dep, acc_n), "both": f(acc_both, acc_n)},
            "flagged_by_department_rule_only": {"rows": dep_only, "served_department_accuracy": f(dep_only_ok, dep_only), "category_accuracy": f(dep_only_cat_ok, dep_only)},
        })
    );
}
