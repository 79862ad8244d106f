//! End-to-end: tiny paidan models trained in-test, evaluated through the library entry points.

use std::path::{Path, PathBuf};

use paidan_eval::{
    EvalOutputs, EvalRow, Head, category_macro_f1, evaluate, read_rows, render_comparison_text,
    run_compare, run_eval,
};
use paidan_model::{Classifier, TrainOptions, TriageInput};
use paidan_testkit::model::{TinyModel, train_tiny};

const TAXONOMY: &str = r#"
name = "tiny"
[[categories]]
code = "noise"
name = "噪声"
default_department = "police"
[[categories]]
code = "parking"
name = "停车"
default_department = "traffic"
[[categories]]
code = "water"
name = "水体"
default_department = "water_dept"
[[departments]]
code = "police"
name = "公安局"
[[departments]]
code = "traffic"
name = "交警"
[[departments]]
code = "water_dept"
name = "水务局"
"#;

const CATS: [(&str, &str, [&str; 4]); 3] = [
    (
        "noise",
        "police",
        [
            "广场舞音响太吵",
            "酒吧深夜噪音扰民",
            "邻居装修噪音很大",
            "商铺高音喇叭扰民",
        ],
    ),
    (
        "parking",
        "traffic",
        [
            "小区门口乱停车",
            "车辆占用消防通道",
            "人行道违章停车严重",
            "路口车辆乱停乱放",
        ],
    ),
    (
        "water",
        "water_dept",
        [
            "河道发黑发臭",
            "内河水质很差有垃圾",
            "黑臭水体无人治理",
            "河边污水直排河道",
        ],
    ),
];
const PLACES: [&str; 5] = ["幸福小区", "东街", "新华路", "滨江花园", "光明社区"];
const FILLERS: [&str; 4] = [
    "希望尽快处理",
    "多次反映没有解决",
    "请相关部门管一管",
    "影响居民生活",
];

/// Deterministic synthetic complaints; `offset` varies the phrase/place mix between files.
/// Every 4th row mixes in a phrase of another category; every 10th row is labelled with the other category
/// (label noise), so no model is perfect on it.
fn synth(n: usize, offset: usize, with_department: bool) -> String {
    (0..n)
        .map(|i| {
            let k = i + offset;
            let (_, _, phrases) = CATS[i % 3];
            let (cat, dep, _) = if k.is_multiple_of(10) {
                CATS[(i + 1) % 3]
            } else {
                CATS[i % 3]
            };
            let phrase = phrases[(k / 3) % 4];
            let place = PLACES[(k * 7) % 5];
            let filler = FILLERS[(k * 3) % 4];
            let other = CATS[(i + 1) % 3].2[(k / 5) % 4];
            let text = if k.is_multiple_of(4) {
                format!("{place}附近{phrase}，还有{other}，{filler}。电话13812341234")
            } else {
                format!("{place}附近{phrase}，{filler}。")
            };
            let mut row = serde_json::json!({
                "id": format!("r{k}"), "title": format!("{place}{phrase}"), "text": text,
                "category": cat, "sure": !k.is_multiple_of(5),
            });
            if with_department {
                row["department"] = dep.into();
            }
            format!("{row}\n")
        })
        .collect()
}

struct Fixture {
    _dir: tempfile::TempDir,
    root: PathBuf,
    good: PathBuf,
    weak: PathBuf,
    test: PathBuf,
}

fn train_model(
    root: &Path,
    name: &str,
    train_rows: usize,
    epochs: usize,
    with_department: bool,
) -> PathBuf {
    let dev = root.join(format!("{name}-dev.jsonl"));
    std::fs::write(&dev, synth(45, 2000, with_department)).unwrap();
    let taxonomy = root.join("tax.toml");
    std::fs::write(&taxonomy, TAXONOMY).unwrap();
    let tiny = TinyModel {
        dev: Some(dev),
        taxonomy: with_department.then_some(taxonomy),
        recipe: TrainOptions::default().recipe,
        seed: 7,
        epochs,
        dim: 16,
        buckets: 4096,
        ..TinyModel::new(synth(train_rows, 1000, with_department))
    };
    train_tiny(root, name, &tiny)
}

fn fixture() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().to_path_buf();
    let good = train_model(&root, "good", 150, 6, true);
    let weak = train_model(&root, "weak", 6, 1, true);
    let test = root.join("test.jsonl");
    std::fs::write(&test, synth(60, 5000, true)).unwrap();
    Fixture {
        _dir: dir,
        root,
        good,
        weak,
        test,
    }
}

/// Accuracy computed independently, one `triage` call per row.
fn direct_accuracy(model: &Classifier, rows: &[EvalRow], head: Head) -> f64 {
    let right = rows
        .iter()
        .filter(|r| {
            let t = model
                .triage(&TriageInput {
                    title: r.title.as_deref().unwrap_or(""),
                    text: &r.text,
                    jurisdiction: "",
                })
                .unwrap();
            match head {
                Head::Category => Some(t.category.code.as_str()) == r.category.as_deref(),
                Head::Department => Some(t.department.code.as_str()) == r.department.as_deref(),
            }
        })
        .count();
    right as f64 / rows.len() as f64
}

#[test]
fn eval_compare_and_gate_on_trained_models() {
    let f = fixture();
    let json = f.root.join("report.json");
    let html = f.root.join("report.html");
    let preds = f.root.join("preds.jsonl");
    let mut calls = Vec::new();
    let eval = run_eval(
        &f.good,
        &f.test,
        EvalOutputs {
            json: Some(&json),
            html: Some(&html),
            predictions: Some(&preds),
        },
        &mut |done, total| calls.push((done, total)),
    )
    .unwrap();
    assert_eq!(calls.first(), Some(&(0, 60)));
    assert_eq!(calls.last(), Some(&(60, 60)));

    // The JSON file is the report, with both heads.
    let text = std::fs::read_to_string(&json).unwrap();
    assert_eq!(
        text,
        serde_json::to_string_pretty(&eval.report).unwrap() + "\n"
    );
    let written: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(written["n"], 60);
    assert!(
        written["model_version"]
            .as_str()
            .unwrap()
            .starts_with("good")
    );
    assert!(
        written["department"]["per_class"]["police"]["support"]
            .as_u64()
            .unwrap()
            == 20
    );

    // Metrics agree with an independent row-by-row computation.
    let model = Classifier::load(&f.good).unwrap();
    let rows = read_rows(&f.test).unwrap();
    for head in [Head::Category, Head::Department] {
        let (rep, _) = eval.head(head).unwrap();
        assert!(
            (rep.accuracy - direct_accuracy(&model, &rows, head)).abs() < 1e-12,
            "{head:?}"
        );
    }
    // The test labels carry 10 % label noise: the metrics are not trivially perfect.
    assert!(eval.report.category.as_ref().unwrap().accuracy < 1.0);
    let gate = category_macro_f1(&model, &rows).unwrap();
    assert!((gate - eval.report.category.as_ref().unwrap().macro_f1).abs() < 1e-12);
    // Same answers through `evaluate` (confidences may differ in the last bits between runs of the
    // multi-threaded matmul, so ECE is compared with a tolerance).
    let again = evaluate(&model, rows.clone(), &mut |_, _| {}).unwrap();
    for head in [Head::Category, Head::Department] {
        let (x, _) = again.head(head).unwrap();
        let (y, _) = eval.head(head).unwrap();
        assert_eq!(
            (x.accuracy, &x.per_class, &x.confusion),
            (y.accuracy, &y.per_class, &y.confusion)
        );
        assert!((x.ece - y.ece).abs() < 1e-5);
    }

    // Predictions: one line per row, in order, with the report's answers.
    let lines: Vec<serde_json::Value> = std::fs::read_to_string(&preds)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 60);
    assert_eq!(lines[0]["id"], "r5000");
    assert_eq!(
        lines[0]["category"],
        eval.predictions[0]
            .category
            .as_ref()
            .unwrap()
            .label
            .as_str()
    );

    // HTML: self-contained, named labels from the taxonomy, phone numbers masked.
    let page = std::fs::read_to_string(&html).unwrap();
    assert_eq!(page.matches("<svg").count(), 8);
    assert!(page.contains("噪声") && page.contains("公安局"));
    assert!(!page.contains("13812341234"));

    // Compare: the weak model against the good one on the same rows.
    let cmp = run_compare(&f.weak, &f.good, &f.test, &mut |_, _| {}).unwrap();
    let t = cmp.category_mcnemar.unwrap();
    assert_eq!(
        t.both_right + t.only_a_right + t.only_b_right + t.both_wrong,
        60
    );
    let weak = Classifier::load(&f.weak).unwrap();
    let acc = cmp
        .measures
        .iter()
        .find(|m| m.measure == "category.accuracy")
        .unwrap();
    let (a, b) = (
        direct_accuracy(&weak, &rows, Head::Category),
        direct_accuracy(&model, &rows, Head::Category),
    );
    assert!((acc.a.unwrap() - a).abs() < 1e-12 && (acc.b.unwrap() - b).abs() < 1e-12);
    assert_eq!(
        t.only_b_right as i64 - t.only_a_right as i64,
        ((b - a) * 60.0).round() as i64
    );
    assert!(render_comparison_text(&cmp).contains("McNemar (category)"));
}

#[test]
fn category_only_model_and_bad_inputs() {
    let dir = tempfile::tempdir().unwrap();
    let model_dir = train_model(dir.path(), "seven", 90, 4, false);
    let test = dir.path().join("test.jsonl");
    std::fs::write(&test, synth(30, 7000, true)).unwrap();
    let eval = run_eval(&model_dir, &test, EvalOutputs::default(), &mut |_, _| {}).unwrap();
    assert!(eval.report.category.is_some());
    // The model has no department head: no department metrics even though the rows are labelled.
    let json = serde_json::to_value(&eval.report).unwrap();
    assert!(json["department"].is_null(), "{json}");

    let bad = dir.path().join("bad.jsonl");
    std::fs::write(
        &bad,
        "{\"text\":\"a\",\"category\":\"noise\"}\n{\"category\":\"noise\"}\n",
    )
    .unwrap();
    let err = run_eval(&model_dir, &bad, EvalOutputs::default(), &mut |_, _| {}).unwrap_err();
    assert!(err.to_string().contains("bad.jsonl:2"), "{err}");
    let err = run_eval(
        &dir.path().join("missing"),
        &test,
        EvalOutputs::default(),
        &mut |_, _| {},
    )
    .unwrap_err();
    assert!(matches!(err, paidan_eval::EvalError::Model(_)), "{err}");
}
