use std::path::{Path, PathBuf};

use super::*;
use crate::calibrate::{ece, fit_temperature, softmax_t};

const TINY_TAXONOMY: &str = r#"
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
[[departments]]
code = "city"
name = "城管"
[routing."福州市"]
noise = "city"
"#;

/// Synthetic complaints: each category has its own phrases; fillers are shared.
fn synth_rows(n: usize, seed: u64) -> Vec<serde_json::Value> {
    use rand::{Rng, SeedableRng, rngs::StdRng};
    let mut rng = StdRng::seed_from_u64(seed);
    let cats = [
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
    let places = ["幸福小区", "东街", "新华路", "滨江花园", "光明社区"];
    let fillers = [
        "希望尽快处理",
        "多次反映没有解决",
        "请相关部门管一管",
        "影响居民生活",
    ];
    (0..n)
        .map(|i| {
            let (c, d, phrases) = &cats[i % cats.len()];
            let p = phrases[rng.random_range(0..phrases.len())];
            let place = places[rng.random_range(0..places.len())];
            let f = fillers[rng.random_range(0..fillers.len())];
            serde_json::json!({
                "id": format!("s{i}"),
                "title": format!("{place}{p}"),
                "text": format!("{place}附近{p}，{f}。联系电话13812341234"),
                "category": c, "department": d, "sure": i % 5 != 0,
            })
        })
        .collect()
}

fn write_jsonl(path: &Path, rows: &[serde_json::Value]) {
    let s: String = rows.iter().map(|r| format!("{r}\n")).collect();
    std::fs::write(path, s).unwrap();
}

fn tiny_options(dir: &Path) -> TrainOptions {
    let data = dir.join("train.jsonl");
    let dev = dir.join("dev.jsonl");
    write_jsonl(&data, &synth_rows(150, 1));
    write_jsonl(&dev, &synth_rows(60, 2));
    let tax = dir.join("tax.toml");
    std::fs::write(&tax, TINY_TAXONOMY).unwrap();
    TrainOptions {
        data,
        dev: Some(dev),
        out: dir.join("model"),
        taxonomy: Some(tax),
        seed: 7,
        epochs: 6,
        dim: 16,
        features: FeatureConfig {
            buckets: 4096,
            ..FeatureConfig::default()
        },
        // These tests are about the embedding bag; the linear recipe has its own below.
        recipe: None,
        target_accuracy: 0.9,
        ..TrainOptions::default()
    }
}

/// The linear recipe on the same synthetic rows, calibrated on the dev file (grouped folds would
/// put each synthetic class into one group: its rows share titles).
fn tiny_linear_options(dir: &Path) -> TrainOptions {
    TrainOptions {
        recipe: Some(crate::recipe::LinearRecipe::default()),
        cv_folds: 3,
        target_accuracy: 0.95,
        ..tiny_options(dir)
    }
}

#[test]
fn tiny_linear_model_trains_calibrates_and_round_trips() {
    let dir = tempfile::tempdir().unwrap();
    let opts = tiny_linear_options(dir.path());
    let report = train(&opts, &mut |_| {}).expect("linear training");
    assert_eq!(report.config.recipe, classifier::RECIPE_LINEAR);
    let cat = report.dev.category.clone().unwrap();
    let dep = report.dev.department.clone().unwrap();
    assert!(cat.accuracy > 0.95, "dev {cat:?}");
    assert!(dep.accuracy > 0.95, "dev {dep:?}");
    assert!(report.out.join("model.safetensors").is_file());
    assert!(!report.out.join("tokenizer.json").exists());
    let auto = report.dev.automation.expect("automation operating point");
    assert!(auto.coverage > 0.5 && auto.accuracy >= 0.95, "{auto:?}");
    assert_eq!(
        report.config.calibration.auto_threshold,
        Some(auto.threshold)
    );

    let a = Classifier::load(&report.out).unwrap();
    assert!(a.featurizer().is_none() && a.tfidf().is_some());
    let texts = [
        ("晚上噪音", "楼下酒吧深夜噪音扰民，希望处理"),
        ("乱停车", "车辆占用消防通道，人行道违章停车"),
        ("河道", "内河发黑发臭，污水直排"),
    ];
    for ((title, text), want) in texts.iter().zip(["noise", "parking", "water"]) {
        let t = a.triage(&input(title, text)).unwrap();
        assert_eq!(t.category.code, want, "{text}");
        // The review flag is the joint operating point: p(category) × p(department) vs the cut.
        let joint = t.category.confidence * t.department.confidence;
        assert_eq!(t.needs_review, joint < auto.threshold, "{t:?}");
    }
    // Serving (16-bit table) agrees with the exact f32 weights.
    let (tf, lm) = classifier::load_linear(&report.out, a.config()).unwrap();
    for (title, text) in texts {
        let mut x = Vec::new();
        tf.vectorize(title, text, &mut x);
        let (ec, ed) = lm.logits(&x);
        let (sc, sd) = a.logits(title, text);
        for (e, s) in ec
            .iter()
            .chain(&ed)
            .zip(sc.unwrap().iter().chain(&sd.unwrap()))
        {
            assert!((e - s).abs() < 1e-2 * (1.0 + e.abs()), "logit {e} vs {s}");
        }
    }
    // Same seed → same weights.
    let dir2 = tempfile::tempdir().unwrap();
    let again = train(&tiny_linear_options(dir2.path()), &mut |_| {}).unwrap();
    assert_eq!(
        std::fs::read(report.out.join("model.safetensors")).unwrap(),
        std::fs::read(again.out.join("model.safetensors")).unwrap()
    );
}

fn train_tiny(dir: &Path) -> TrainReport {
    train(&tiny_options(dir), &mut |_| {}).expect("tiny training")
}

fn input<'a>(title: &'a str, text: &'a str) -> TriageInput<'a> {
    TriageInput {
        title,
        text,
        jurisdiction: "",
    }
}

#[test]
fn taxonomy_parse_table() {
    let cases: &[(&str, bool)] = &[
        (TINY_TAXONOMY, true),
        (
            "[[categories]]\ncode='a'\nname='A'\n[[categories]]\ncode='a'\nname='B'\n",
            false,
        ),
        (
            "[[categories]]\ncode='a'\nname='A'\ndefault_department='nope'\n",
            false,
        ),
        (
            "[[categories]]\ncode='a'\nname='A'\n[routing.x]\na='nope'\n",
            false,
        ),
        ("[[categories]]\ncode=''\nname='A'\n", false),
        ("not toml [", false),
        ("", true),
    ];
    for (text, ok) in cases {
        assert_eq!(Taxonomy::parse(text).is_ok(), *ok, "{text}");
    }
}

#[test]
fn routing_table_lookup() {
    let t = Taxonomy::parse(TINY_TAXONOMY).unwrap();
    let cases = [
        ("noise", "", "police"),
        ("noise", "福州市", "city"),
        ("parking", "福州市", "traffic"),
        ("water", "A3区", "water_dept"),
        ("unknown", "", ""),
    ];
    for (cat, j, want) in cases {
        assert_eq!(t.default_department(cat, j), want, "{cat} in {j:?}");
    }
    assert_eq!(t.category_name("parking"), Some("停车"));
    assert_eq!(t.department_name("traffic"), Some("交警"));
    assert_eq!(t.department_name("nope"), None);
}

#[test]
fn shipped_taxonomy_loads() {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../models/taxonomy.toml");
    let t = Taxonomy::load(&path).unwrap();
    assert_eq!(t.categories().len(), 31);
    assert_eq!(t.departments().len(), 15);
    assert_eq!(
        t.default_department("noise_social", "A市"),
        "public_security"
    );
    assert_eq!(
        t.default_department("road_facility", "福州市"),
        "water_resources"
    );
    assert_eq!(
        t.default_department("road_facility", "A市"),
        "housing_construction"
    );
    // Round trip through TOML.
    let again = Taxonomy::parse(&t.to_toml()).unwrap();
    assert_eq!(again.categories(), t.categories());
}

#[test]
fn bad_rows_name_their_line() {
    let cases = [
        ("{\"text\":\"好\"}\n{\"title\":\"x\"}\n", 2, "text"),
        ("{\"text\":\"好\"}\n\n{not json\n", 3, "JSON"),
        ("{\"text\":\"   \"}\n", 1, "text"),
    ];
    for (body, line, word) in cases {
        let err = data::parse_rows(Path::new("x.jsonl"), body.as_bytes()).unwrap_err();
        let msg = err.to_string();
        assert!(
            msg.contains(&format!("line {line}")) && msg.contains(word),
            "{msg}"
        );
    }
    let dir = tempfile::tempdir().unwrap();
    let mut opts = tiny_options(dir.path());
    let mut rows = synth_rows(20, 3);
    rows[4]["category"] = serde_json::json!("not_a_category");
    write_jsonl(&opts.data, &rows);
    opts.dev = None;
    let msg = train(&opts, &mut |_| {}).unwrap_err().to_string();
    assert!(
        msg.contains("line 5") && msg.contains("not_a_category"),
        "{msg}"
    );
}

#[test]
fn featurizer_ids_are_in_range_and_deterministic() {
    let docs = [vec!["噪音", "扰民"], vec!["噪音", "停车"], vec!["停车"]];
    let f = Featurizer::build(
        FeatureConfig {
            min_df: 2,
            buckets: 1000,
            ..FeatureConfig::default()
        },
        docs.iter().map(|d| d.iter().copied()),
    );
    // [UNK], then by document frequency, ties in byte order: 停车 (U+505C) before 噪音 (U+566A).
    assert_eq!(f.vocab_size(), 3);
    assert_eq!(f.word_id("停车"), Some(1));
    assert_eq!(f.word_id("噪音"), Some(2));
    assert_eq!(f.word_id("扰民"), None);
    let mut a = Vec::new();
    f.features("标题", "噪音很大，电话13812341234", &mut a);
    let mut b = Vec::new();
    f.features("标题", "噪音很大，电话13812341234", &mut b);
    assert_eq!(a, b);
    assert!(a.contains(&2) && !a.contains(&1));
    assert!(a.iter().all(|&id| (id as usize) < f.num_features()));
    // The phone number is masked before features: another number gives the same ids.
    let mut c = Vec::new();
    f.features("标题", "噪音很大，电话13900001111", &mut c);
    assert_eq!(a, c);
    // Tokenizer round trip.
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("tokenizer.json");
    f.save_tokenizer(&p).unwrap();
    let g = Featurizer::load(f.config().clone(), &p).unwrap();
    let mut d = Vec::new();
    g.features("标题", "噪音很大，电话13812341234", &mut d);
    assert_eq!(a, d);
}

#[test]
fn tiny_model_trains_and_round_trips() {
    let dir = tempfile::tempdir().unwrap();
    let report = train_tiny(dir.path());
    let cat = report.dev.category.clone().unwrap();
    let dep = report.dev.department.clone().unwrap();
    assert!(cat.accuracy > 0.95, "{cat:?}");
    assert!(dep.accuracy > 0.95, "{dep:?}");
    for f in [
        "config.json",
        "tokenizer.json",
        "model.safetensors",
        "taxonomy.toml",
    ] {
        assert!(report.out.join(f).is_file(), "{f}");
    }

    let a = Classifier::load(&report.out).unwrap();
    let b = Classifier::load(&report.out).unwrap();
    assert_eq!(a.version(), report.version);
    let texts = [
        ("晚上噪音", "楼下酒吧深夜噪音扰民，希望处理"),
        ("乱停车", "车辆占用消防通道，人行道违章停车"),
        ("河道", "内河发黑发臭，污水直排"),
    ];
    let want = ["noise", "parking", "water"];
    let inputs: Vec<TriageInput<'_>> = texts.iter().map(|(t, x)| input(t, x)).collect();
    let ra = a.triage_batch(&inputs).unwrap();
    let rb = b.triage_batch(&inputs).unwrap();
    assert_eq!(ra, rb);
    for (r, w) in ra.iter().zip(want) {
        assert_eq!(r.category.code, w);
        assert_eq!(r.category_alternatives.len(), 2);
        assert!(r.category.confidence >= r.category_alternatives[0].confidence);
    }

    // The serving path (heads folded into a 16-bit table) agrees with candle's forward on the
    // loaded weights: logits within 1e-3, calibrated probabilities within 1e-3, same ranking.
    let model = classifier::load_model(&report.out, &a.config().model).unwrap();
    assert!(matches!(
        crate::model::ServingModel::new(&model).unwrap(),
        crate::model::ServingModel::Folded(_)
    ));
    for (title, text) in texts {
        let mut ids = Vec::new();
        a.featurizer().unwrap().features(title, text, &mut ids);
        let bags = Bags::new(&[ids.as_slice()], &candle_core::Device::Cpu).unwrap();
        let out = model.forward(&bags).unwrap();
        let (serve_cat, serve_dep) = a.logits(title, text);
        let cal = &a.config().calibration;
        for (candle, served, t) in [
            (out.category, serve_cat, cal.category.unwrap().temperature),
            (
                out.department,
                serve_dep,
                cal.department.unwrap().temperature,
            ),
        ] {
            let candle: Vec<f32> = candle.unwrap().flatten_all().unwrap().to_vec1().unwrap();
            let served = served.unwrap();
            assert_eq!(candle.len(), served.len());
            for (x, y) in candle.iter().zip(&served) {
                assert!((x - y).abs() < 1e-3, "logit {x} vs {y}");
            }
            let (mut pc, mut ps) = (Vec::new(), Vec::new());
            calibrate::softmax_t(&candle, t, &mut pc);
            calibrate::softmax_t(&served, t, &mut ps);
            for (x, y) in pc.iter().zip(&ps) {
                assert!((x - y).abs() < 1e-3, "probability {x} vs {y}");
            }
            assert_eq!(calibrate::argmax(&pc).0, calibrate::argmax(&ps).0);
        }
    }

    // Same seed → same weights.
    let dir2 = tempfile::tempdir().unwrap();
    let again = train_tiny(dir2.path());
    assert_eq!(
        std::fs::read(report.out.join("model.safetensors")).unwrap(),
        std::fs::read(again.out.join("model.safetensors")).unwrap()
    );
    assert_eq!(report.version, again.version);
}

fn with_calibration(dir: &Path, f: impl Fn(&mut ArtifactConfig)) -> Classifier {
    let p = dir.join("config.json");
    let mut cfg: ArtifactConfig =
        serde_json::from_str(&std::fs::read_to_string(&p).unwrap()).unwrap();
    f(&mut cfg);
    std::fs::write(&p, serde_json::to_string(&cfg).unwrap()).unwrap();
    Classifier::load(dir).unwrap()
}

#[test]
fn review_flag_and_routing_fallback() {
    let dir = tempfile::tempdir().unwrap();
    let report = train_tiny(dir.path());
    let text = input("晚上噪音", "楼下酒吧深夜噪音扰民，希望处理");

    // Lenient rules: nothing to review.
    let c = with_calibration(&report.out, |cfg| {
        for h in [
            &mut cfg.calibration.category,
            &mut cfg.calibration.department,
        ] {
            let h = h.as_mut().unwrap();
            h.threshold = 0.0;
            h.margin = 0.0;
        }
    });
    let t = c.triage(&text).unwrap();
    assert!(!t.needs_review, "{:?}", t.review_reasons);
    assert!(t.review_reasons.is_empty());

    // An unreachable category threshold flags the complaint and says why.
    let c = with_calibration(&report.out, |cfg| {
        cfg.calibration.category.as_mut().unwrap().threshold = 1.01
    });
    let t = c.triage(&text).unwrap();
    assert!(t.needs_review);
    assert!(
        t.review_reasons
            .iter()
            .any(|r| r.starts_with("category confidence")),
        "{:?}",
        t.review_reasons
    );

    // A flagged department head below the routing cut → the routing table decides, per jurisdiction.
    let c = with_calibration(&report.out, |cfg| {
        let d = cfg.calibration.department.as_mut().unwrap();
        d.threshold = 1.01;
        d.route_below = Some(1.01);
    });
    let cases = [("", "police"), ("福州市", "city")];
    for (j, want) in cases {
        let t = c
            .triage(&TriageInput {
                jurisdiction: j,
                ..text
            })
            .unwrap();
        assert_eq!(t.category.code, "noise");
        assert_eq!(t.department.code, want, "{j}: {:?}", t.review_reasons);
        assert!(t.needs_review);
        assert!(
            t.review_reasons
                .iter()
                .any(|r| r.starts_with("department confidence"))
        );
        assert!(
            t.review_reasons
                .iter()
                .any(|r| r.contains("taxonomy table")),
            "{:?}",
            t.review_reasons
        );
    }
}

#[test]
fn routing_cut_is_separate_from_the_review_rule() {
    let dir = tempfile::tempdir().unwrap();
    let report = train_tiny(dir.path());
    let text = input("晚上噪音", "楼下酒吧深夜噪音扰民，希望处理");
    let head = Classifier::load(&report.out)
        .unwrap()
        .triage(&text)
        .unwrap();
    // (route_below, expect routed): flagged for review either way; only a cut above the head's
    // confidence (or no cut: older config.json) hands the department to the table.
    let table: [(Option<f32>, bool); 3] = [(Some(0.0), false), (Some(1.01), true), (None, true)];
    for (cut, routed) in table {
        let c = with_calibration(&report.out, |cfg| {
            let d = cfg.calibration.department.as_mut().unwrap();
            d.threshold = 1.01;
            d.route_below = cut;
        });
        let t = c.triage(&text).unwrap();
        assert!(t.needs_review, "{cut:?}");
        let by_table = t
            .review_reasons
            .iter()
            .any(|r| r.contains("taxonomy table"));
        assert_eq!(by_table, routed, "{cut:?}: {:?}", t.review_reasons);
        if !routed {
            assert_eq!(t.department, head.department);
        }
    }
    // The trained cut is written to config.json.
    assert!(
        report
            .config
            .calibration
            .department
            .unwrap()
            .route_below
            .is_some()
    );
}

#[test]
fn route_below_table() {
    // (confidence, head right, table right)
    type Rows<'a> = &'a [(f32, bool, bool)];
    let cases: &[(Rows<'_>, f32)] = &[
        (&[], 0.0),
        (&[(0.9, true, false), (0.3, true, false)], 0.0),
        (
            &[(0.9, true, false), (0.32, false, true), (0.22, false, true)],
            0.35,
        ),
        (&[(0.52, false, true), (0.97, true, true)], 0.55),
    ];
    for (rows, want) in cases {
        let got = crate::calibrate::choose_route_below(rows);
        assert!((got - want).abs() < 1e-6, "{rows:?}: {got} vs {want}");
    }
}

#[test]
fn labels_from_data_without_taxonomy() {
    let dir = tempfile::tempdir().unwrap();
    let mut opts = tiny_options(dir.path());
    opts.taxonomy = None;
    opts.dev = None;
    // Category only, pre-segmented text (like the 7-class set).
    let rows: Vec<serde_json::Value> = synth_rows(120, 4)
        .into_iter()
        .map(|r| {
            let words: Vec<String> = paidan_text::Segmenter::global()
                .cut(r["text"].as_str().unwrap())
                .into_iter()
                .map(str::to_string)
                .collect();
            serde_json::json!({"text": words.join(" "), "category": r["category"]})
        })
        .collect();
    write_jsonl(&opts.data, &rows);
    let report = train(&opts, &mut |_| {}).unwrap();
    assert_eq!(report.config.categories, vec!["noise", "parking", "water"]);
    assert!(report.config.departments.is_empty());
    let c = Classifier::load(&report.out).unwrap();
    let t = c.triage(&input("", "河道 发黑 发臭 污水 直排")).unwrap();
    assert_eq!(t.category.code, "water");
    assert_eq!(t.department.code, "");
}

#[test]
fn temperature_scaling_lowers_ece() {
    // Overconfident logits: the argmax is right 70 % of the time but claims ~0.99.
    let mut logits = Vec::new();
    let mut labels = Vec::new();
    for i in 0..500usize {
        let gold = i % 4;
        let pred = if i % 10 < 7 { gold } else { (gold + 1) % 4 };
        let mut l = vec![0f32; 4];
        l[pred] = 6.0;
        l[(pred + 2) % 4] = 1.0 + (i % 3) as f32;
        logits.push(l);
        labels.push(gold);
    }
    let conf_at = |t: f32| -> (Vec<f32>, Vec<bool>) {
        let mut p = Vec::new();
        logits
            .iter()
            .zip(&labels)
            .map(|(l, &g)| {
                softmax_t(l, t, &mut p);
                let (k, c) = calibrate::argmax(&p);
                (c, k == g)
            })
            .unzip()
    };
    let (c1, ok1) = conf_at(1.0);
    let before = ece(&c1, &ok1, 15);
    let t = fit_temperature(&logits, &labels);
    let (ct, okt) = conf_at(t);
    let after = ece(&ct, &okt, 15);
    assert!(t > 1.0, "t = {t}");
    assert!(after < before / 2.0, "ECE {before} → {after}");
}

#[test]
fn ece_and_macro_f1_tables() {
    let cases: &[(&[f32], &[bool], f64)] = &[
        (&[1.0, 1.0], &[true, true], 0.0),
        (&[0.9, 0.9], &[false, false], 0.9),
        (&[0.5, 0.5], &[true, false], 0.0),
    ];
    for (c, ok, want) in cases {
        assert!((ece(c, ok, 15) - want).abs() < 1e-6, "{c:?}");
    }
    let f1 = calibrate::macro_f1(&[0, 0, 1, 1], &[0, 0, 1, 0], 3);
    // class 0: tp 2 fp 1 fn 0 → 0.8; class 1: tp 1 fn 1 → 0.667; class 2 absent.
    assert!((f1 - (0.8 + 2.0 / 3.0) / 2.0).abs() < 1e-9, "{f1}");
}
