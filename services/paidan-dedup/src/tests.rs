use super::*;

fn fp(title: &str, text: &str) -> Fingerprint {
    Fingerprint::new(title, text, "")
}

fn ctx() -> MatchContext {
    MatchContext::default()
}

// Real complaint shapes (from the public 12345 data), edited into controlled variants.
const SITE: &str = "投诉A2区丽发新城附近建搅拌站噪音扰民";
const SITE_TEXT: &str = "我是A2区丽发新城小区的一名业主，我要投诉同发投资有限公司在未经小区业主同意的情况下，在离小区不到百米的地方建搅拌站。一个大型搅拌站每天的噪音输出有多严重！还有扬尘污染，极度影响了我们的生活，请尽快关闭或搬迁该搅拌站！";
const FUMES: &str = "A5区劳动东路魅力之城小区临街门面烧烤夜宵摊";
const FUMES_TEXT: &str = "A5区劳动东路魅力之城小区临街夜宵摊、烧烤摊24小时经营，油烟扰民。违法经营。本小区临街居民楼下店里面无烟管道。不得非法经营餐饮油烟。作为烧烤夜宵更加扰民，油烟24小时晕死人，尽管有个油烟机静化器做摆设也很少开，只是领导来开一下。";

#[test]
fn same_matter_vs_other_matter_table() {
    let default = DedupConfig::default();
    // (case, a title, a text, b title, b text, duplicate?)
    let cases: &[(&str, &str, &str, &str, &str, bool)] = &[
        (
            "identical resubmission",
            SITE,
            SITE_TEXT,
            SITE,
            SITE_TEXT,
            true,
        ),
        (
            "typos in the text",
            SITE,
            SITE_TEXT,
            "投诉A2区丽发新城附近建搅伴站噪音扰民",
            "我是A2区丽发新城小区的一名业主，我要投诉同发投资有限公司在未经小区业主同意的情况下，在离小区不到一百米的地方建搅伴站。一个大型搅伴站每天的噪音有多严重！还有扬尘污染，极度影响了我们的生活，请尽快关闭或者搬迁！",
            true,
        ),
        (
            "same site, rewritten by another caller",
            SITE,
            SITE_TEXT,
            "投诉A2区丽发新城附近违建搅拌站",
            "投诉A2区丽发新城小区附近违建搅拌站！该站每天早6点一直到晚8点设备都在运行，每天耳边都是各种嗡鸣声，噪音严重影响了小区的正常生活。搅拌车工作产生的大量粉尘也严重污染附近居民。",
            true,
        ),
        (
            "estate swapped in a template",
            FUMES,
            FUMES_TEXT,
            "A3区梅溪湖看云路一师润芳园小区临街门面烧烤夜宵摊",
            "A3区梅溪湖看云路一师润芳园小区临街夜宵摊、烧烤摊24小时经营，油烟扰民。违法经营。本小区临街居民楼下店里面无烟管道。不得非法经营餐饮油烟。作为烧烤夜宵更加扰民，油烟24小时晕死人，尽管有个油烟机静化器做摆设也很少开，只是领导来开一下。",
            false,
        ),
        (
            "school swapped in a template",
            "A市涉外经济学院强制学生实习",
            "各位领导干部大家好，我是A市涉外经济学院的一名学生，临近毕业，学校开始组织学生参加实习，当然学生是必须实习，但是学生应该有自己的选择权，学校要求学生必须去学校安排的几个点实习，并且学生工资500元。",
            "A市商贸旅游职业技术学院强制学生实习",
            "各位领导干部大家好，我是A市商贸旅游职业技术学院的一名学生，临近毕业，学校开始组织学生参加实习，当然学生是必须实习，但是学生应该有自己的选择权，学校要求学生必须去学校安排的几个点实习，并且学生工资500元。",
            false,
        ),
        (
            "same river, same problem",
            "关于投诉施工扰民问题",
            "仓山区红星农场马洲支河桥头亭河段22:44存在施工扰民现象（三四辆钩机在这边施工），特此投诉，望部门处理。",
            "关于投诉施工扰民",
            "仓山区红星农场马洲支河还在内河整治施工，运送渣土的噪音扰民严重。我们天天投诉，天天都是噪音。特此投诉，望处理。",
            true,
        ),
        (
            "another river, same wording",
            "深夜施工扰民",
            "福马路鼓山沃尔玛对面（福新女子医院隔壁）浦东河河道施工，现在是晚上10点42分了，噪音很大，影响休息，望部门处理。",
            "深夜施工扰民",
            "长乐南路闽运驾校东侧红星河工地晚上10点43分还在施工，噪音很大，特此投诉。",
            false,
        ),
        (
            "unrelated complaints",
            SITE,
            SITE_TEXT,
            "盼增加几趟A市207路公交车",
            "早上七点二十到七点四十之间为学生上学，职工上班高峰期，207路从一师范到华谊兄弟小镇车次只有一辆，希望公交部门增加一到两趟车次。",
            false,
        ),
    ];
    for (name, at, ax, bt, bx, want) in cases {
        let s = score(&fp(at, ax), &fp(bt, bx), &ctx());
        assert!(
            (0.0..=1.0).contains(&s.score),
            "{name}: score {s:?} out of range"
        );
        assert_eq!(default.is_duplicate(&s), *want, "{name}: {s:?}");
        // Symmetric.
        let r = score(&fp(bt, bx), &fp(at, ax), &ctx());
        assert!(
            (r.score - s.score).abs() < 1e-6,
            "{name}: asymmetric {} vs {}",
            s.score,
            r.score
        );
    }
}

#[test]
fn conflicting_entity_pulls_the_score_down() {
    let a = fp(FUMES, FUMES_TEXT);
    let same = score(
        &a,
        &fp(FUMES, &FUMES_TEXT.replace("24小时", "通宵")),
        &ctx(),
    );
    let swapped = score(
        &a,
        &fp(
            &FUMES.replace("魅力之城", "楚江锦绣"),
            &FUMES_TEXT.replace("魅力之城", "楚江锦绣"),
        ),
        &ctx(),
    );
    assert!(swapped.entities.conflict_specific >= 1, "{swapped:?}");
    assert!(
        swapped.text > 0.7,
        "the template is near-identical: {swapped:?}"
    );
    assert!(
        swapped.score < same.score / 2.0,
        "{} vs {}",
        swapped.score,
        same.score
    );
}

#[test]
fn context_gates_table() {
    let cfg = DedupConfig::default();
    let (a, b) = (fp(SITE, SITE_TEXT), fp(SITE, SITE_TEXT));
    // (case, context, duplicate?)
    let cases = [
        ("same everything", MatchContext::default(), true),
        (
            "different category lowers but does not forbid",
            MatchContext {
                same_category: false,
                ..ctx()
            },
            true,
        ),
        (
            "45 days apart: the same matter reported again",
            MatchContext {
                gap_ms: 45 * DAY_MS,
                ..ctx()
            },
            true,
        ),
        (
            "364 days apart, strong evidence",
            MatchContext {
                gap_ms: 364 * DAY_MS,
                ..ctx()
            },
            true,
        ),
        (
            "366 days apart: outside the hard window",
            MatchContext {
                gap_ms: 366 * DAY_MS,
                ..ctx()
            },
            false,
        ),
        (
            "negative gap counts by size",
            MatchContext {
                gap_ms: -366 * DAY_MS,
                ..ctx()
            },
            false,
        ),
        (
            "other jurisdiction",
            MatchContext {
                same_jurisdiction: false,
                ..ctx()
            },
            false,
        ),
    ];
    for (name, c, want) in cases {
        assert_eq!(cfg.is_duplicate(&score(&a, &b, &c)), want, "{name}");
    }
    let same = score(&a, &b, &ctx()).score;
    let other = score(
        &a,
        &b,
        &MatchContext {
            same_category: false,
            ..ctx()
        },
    )
    .score;
    assert!(
        other < same,
        "different category must lower the score: {other} vs {same}"
    );
    // The soft window: no penalty inside the grace period, then lower with every doubling.
    let at_days = |days: i64| {
        score(
            &a,
            &b,
            &MatchContext {
                gap_ms: days * DAY_MS,
                ..ctx()
            },
        )
        .score
    };
    assert_eq!(at_days(0), at_days(90));
    assert!(at_days(90) > at_days(180) && at_days(180) > at_days(360));
    // The window in days, 0 = none.
    assert_eq!(
        DedupConfig::default().window_days(),
        DEFAULT_WINDOW_DAYS as f64
    );
    let none = DedupConfig::default().with_window_days(0);
    assert_eq!(none.window_days(), 0.0);
    let old = score(
        &a,
        &b,
        &MatchContext {
            gap_ms: 3000 * DAY_MS,
            ..ctx()
        },
    );
    assert!(!DedupConfig::default().is_duplicate(&old));
    assert_eq!(
        DedupConfig::default().with_window_days(30).window_ms,
        30 * DAY_MS
    );
}

#[test]
fn fingerprint_round_trips_and_rejects_bad_bytes() {
    let a = Fingerprint::new(SITE, SITE_TEXT, "A市A2区丽发新城小区");
    let bytes = a.to_bytes();
    assert_eq!(Fingerprint::from_bytes(&bytes).unwrap(), a);
    assert!(bytes.len() < 1200, "fingerprint is {} bytes", bytes.len());
    assert!(matches!(
        Fingerprint::from_bytes(&[]),
        Err(DedupError::Empty)
    ));
    let mut wrong_version = bytes.clone();
    wrong_version[0] = 99;
    assert!(matches!(
        Fingerprint::from_bytes(&wrong_version),
        Err(DedupError::Version(99))
    ));
    assert!(matches!(
        Fingerprint::from_bytes(&bytes[..bytes.len() / 2]),
        Err(DedupError::Decode(_))
    ));
}

#[test]
fn fingerprint_is_deterministic_and_indexable() {
    let a = fp(SITE, SITE_TEXT);
    let b = fp(SITE, SITE_TEXT);
    assert_eq!(a.to_bytes(), b.to_bytes());
    assert_eq!(a.minhash().len(), sketch::NUM_PERM);
    // Text bands plus one key per specific entity (the estate 丽发 and the company 同发投资有限).
    assert!(a.bands().len() > sketch::NUM_BANDS, "{:?}", a.entities());
    assert!(
        a.entities()
            .iter()
            .any(|e| e.kind == EntityKind::Estate && e.name == "丽发")
    );
    // The address contributes entities too.
    let with_address = Fingerprint::new("噪音扰民", "晚上施工很吵", "A市A2区丽发新城小区");
    assert!(with_address.entities().iter().any(|e| e.name == "丽发"));
    // An empty report indexes nothing and matches nothing.
    let empty = fp("", "");
    assert!(empty.bands().is_empty());
    assert!(!DedupConfig::default().is_duplicate(&score(&empty, &empty, &ctx())));
}

#[test]
fn pinned_hashes_do_not_drift() {
    // Stored fingerprints must stay comparable across builds: the permutation family and the
    // shingle hash are defined in this crate; these values may only change with FINGERPRINT_VERSION.
    let sig = sketch::minhash(&sketch::char_shingles("小区电梯坏了", 3));
    assert_eq!(&sig[..4], PINNED_MINHASH);
}

const PINNED_MINHASH: &[u32] = &[481318134, 1736208255, 1073574777, 196996654];

#[test]
fn time_parsing_table() {
    let day = |y: i32, m: u8, d: u8| {
        time::Date::from_calendar_date(y, time::Month::try_from(m).unwrap(), d)
            .unwrap()
            .midnight()
            .assume_utc()
            .unix_timestamp()
            * 1000
    };
    let cases: &[(&str, Option<i64>)] = &[
        (
            "2019/1/13 15:32:04",
            Some(day(2019, 1, 13) + (15 * 3600 + 32 * 60 + 4) * 1000),
        ),
        (
            "2019/07/21 10:29:36",
            Some(day(2019, 7, 21) + (10 * 3600 + 29 * 60 + 36) * 1000),
        ),
        ("2018-12-30", Some(day(2018, 12, 30))),
        (
            "2019-11-23 23:12:22",
            Some(day(2019, 11, 23) + (23 * 3600 + 12 * 60 + 22) * 1000),
        ),
        ("05/03/2016", Some(day(2016, 5, 3))),
        ("04/30/2016", Some(day(2016, 4, 30))),
        ("2019/2/30 10:00:00", None),
        ("yesterday", None),
        ("", None),
    ];
    for (s, want) in cases {
        assert_eq!(parse_time_ms(s), *want, "{s}");
    }
}

#[test]
fn metrics_table() {
    // (predictions (pred, gold), precision, recall, f1, macro_f1)
    let cases: &[(&[(bool, bool)], f64, f64, f64, f64)] = &[
        (&[(true, true), (false, false)], 1.0, 1.0, 1.0, 1.0),
        (
            &[(true, true), (true, false), (false, true), (false, false)],
            0.5,
            0.5,
            0.5,
            0.5,
        ),
        (
            &[(true, true), (true, true), (true, false)],
            2.0 / 3.0,
            1.0,
            0.8,
            0.4,
        ),
        (&[(false, true), (false, false)], 0.0, 0.0, 0.0, 1.0 / 3.0),
    ];
    for (preds, p, r, f1, mf1) in cases {
        let m = Metrics::from_predictions(preds.iter().copied());
        for (got, want, what) in [
            (m.precision, p, "p"),
            (m.recall, r, "r"),
            (m.f1, f1, "f1"),
            (m.macro_f1, mf1, "macro"),
        ] {
            assert!(
                (got - want).abs() < 1e-9,
                "{preds:?} {what}: {got} vs {want}"
            );
        }
    }
}

#[test]
fn eval_pairs_scores_the_decision_and_serialises_as_specified() {
    let row = |at: &str, ax: &str, bt: &str, bx: &str, dup: bool| PairRow {
        a: PairSide {
            title: at.into(),
            text: ax.into(),
            time: Some("2019/1/13 15:32:04".into()),
            ..PairSide::default()
        },
        b: PairSide {
            title: bt.into(),
            text: bx.into(),
            time: Some("2019/1/11 17:30:52".into()),
            ..PairSide::default()
        },
        duplicate: dup,
        sure: None,
    };
    let rows = vec![
        row(SITE, SITE_TEXT, SITE, SITE_TEXT, true),
        row(FUMES, FUMES_TEXT, FUMES, FUMES_TEXT, true),
        row(SITE, SITE_TEXT, FUMES, FUMES_TEXT, false),
    ];
    let e = eval_pairs(&rows, &DedupConfig::default());
    assert_eq!(e.n, 3);
    assert_eq!((e.precision, e.recall, e.macro_f1), (1.0, 1.0, 1.0));
    assert_eq!(e.sweep.len(), 19);
    let json = serde_json::to_value(&e).unwrap();
    let mut keys: Vec<&str> = json
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    keys.sort_unstable();
    assert_eq!(
        keys,
        [
            "f1",
            "macro_f1",
            "n",
            "precision",
            "recall",
            "sweep",
            "threshold",
            "window_days"
        ]
    );
    let point: Vec<&str> = json["sweep"][0]
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(point.len(), 5);
    assert!(render_text(&e).contains("macro-f1"));
    assert_eq!(e.window_days, DEFAULT_WINDOW_DAYS as f64);
    assert_eq!(
        eval_pairs(&rows, &DedupConfig::default().with_window_days(0)).window_days,
        0.0
    );
    // Rows parse from the shared format, extra fields ignored.
    let line = r#"{"a": {"id": "x", "time": "2018-12-30", "title": "t", "text": "x"}, "b": {"id": "y", "time": "05/03/2016", "title": "t", "text": "y"}, "duplicate": false, "sure": true}"#;
    let parsed: PairRow = serde_json::from_str(line).unwrap();
    assert!(!parsed.duplicate);
    assert_eq!(parsed.b.time.as_deref(), Some("05/03/2016"));
    assert_eq!(parsed.a.id.as_deref(), Some("x"));
    assert_eq!(parsed.sure, Some(true));
}

#[test]
fn candidates_share_an_index_key_table() {
    let key_shared =
        |a: &Fingerprint, b: &Fingerprint| a.bands().iter().any(|k| b.bands().contains(k));
    let site = fp(SITE, SITE_TEXT);
    // (case, other report, shares a key?)
    let cases = [
        ("resubmission", fp(SITE, SITE_TEXT), true),
        (
            "rewritten report of the same estate (entity key)",
            fp(
                "丽发新城噪音",
                "暮云街道丽发新城边上在建大型搅拌站，噪音很大，扬尘污染很严重，请相关部门尽快处理。",
            ),
            true,
        ),
        (
            "unrelated",
            fp(
                "盼增加几趟A市207路公交车",
                "早上七点二十到七点四十之间只有一辆207路公交车。",
            ),
            false,
        ),
    ];
    for (name, other, want) in cases {
        assert_eq!(key_shared(&site, &other), want, "{name}");
        assert_eq!(
            shares_key(&site, &other, sketch::NUM_BANDS, sketch::BAND_ROWS).1,
            want,
            "{name} (shares_key)"
        );
    }
}

/// Short reworded reports of one matter (the triage-quality issue, item 7): the old decision
/// scored the first pair 0.465 and never saw the second as a candidate (no MinHash band survives
/// the rewording, and roads had no key). Place keys make both candidates; key terms and the
/// shared place or crossing make them link.
#[test]
fn reworded_short_reports_of_one_matter_link_table() {
    let cfg = DedupConfig::default();
    // (case, a, b, version-1 candidate?)
    let cases = [
        (
            "same estate, fumes reworded",
            "海秀中路华侨公寓楼下的烧烤摊每天晚上油烟很大，熏得住户没法开窗",
            "华侨公寓楼下烧烤摊油烟太大了，每天晚上熏得我们家不能开窗户",
            true,
        ),
        (
            "same crossing named the other way round",
            "解放路与人民路交叉口的工地晚上十二点还在施工，噪音太大",
            "人民路解放路口那个工地半夜施工扰民，吵得睡不着",
            false,
        ),
    ];
    for (name, a, b, v1_candidate) in cases {
        let (fa, fb) = (fp("", a), fp("", b));
        assert!(shares_any_key(&fa, &fb), "{name}: a candidate");
        assert_eq!(
            shares_key(&fa, &fb, sketch::NUM_BANDS, sketch::BAND_ROWS).1,
            v1_candidate,
            "{name}: version-1 keys"
        );
        let s = score(&fa, &fb, &ctx());
        assert!(cfg.is_duplicate(&s), "{name}: {s:?}");
        assert!(
            legacy::legacy_score(&fa, &fb, &ctx()) < legacy::LEGACY_THRESHOLD,
            "{name}: the old decision kept them apart"
        );
        // Either order.
        assert!(
            cfg.is_duplicate(&score(&fb, &fa, &ctx())),
            "{name}: reversed"
        );
    }
}

/// The other side of the same change: a template sent about another estate on the same road,
/// and another problem at the same estate, stay separate matters.
#[test]
fn templates_about_another_estate_and_other_problems_at_one_place_do_not_link() {
    let cfg = DedupConfig::default();
    let fumes = "海秀中路华侨公寓楼下的烧烤摊每天晚上油烟很大，熏得住户没法开窗";
    let cases = [
        (
            "template, another estate on the same road",
            fumes,
            "海秀中路金海公寓楼下的烧烤摊每天晚上油烟很大，熏得住户没法开窗",
        ),
        (
            "template, another estate",
            "幸福家园小区3栋楼下的烧烤店每天晚上油烟直排，油烟味很大，家里不能开窗，请城管处理。",
            "阳光花园小区3栋楼下的烧烤店每天晚上油烟直排，油烟味很大，家里不能开窗，请城管处理。",
        ),
        (
            "template, another city",
            "希望B市重视滴滴出行的问题。无网约车驾驶证，无网约车资格证，希望相关部门上路设卡排查。",
            "希望A市重视滴滴出行的问题。无网约车驾驶证，无网约车资格证，希望相关部门上路设卡排查。",
        ),
        (
            "same estate, another problem",
            fumes,
            "华侨公寓门口的路灯坏了一个多月，晚上出行很不方便",
        ),
    ];
    for (name, a, b) in cases {
        let (fa, fb) = (fp("", a), fp("", b));
        assert!(shares_any_key(&fa, &fb), "{name}: scored as a candidate");
        let s = score(&fa, &fb, &ctx());
        assert!(!cfg.is_duplicate(&s), "{name}: {s:?}");
    }
}

#[test]
fn version_1_fingerprints_still_decode_and_score() {
    // The stored form before the key terms: the same fields, without `terms` and `words`.
    #[derive(serde::Serialize)]
    struct V1<'a> {
        minhash: &'a [u32],
        shingles: u32,
        title: Vec<u32>,
        entities: &'a [Entity],
        bands: Vec<u64>,
    }
    let now = fp(SITE, SITE_TEXT);
    let v1 = V1 {
        minhash: now.minhash(),
        shingles: sketch::char_shingles(&paidan_text::normalize(&format!("{SITE}。{SITE_TEXT}")), 3)
            .len() as u32,
        title: Vec::new(),
        entities: now.entities(),
        bands: now.keys_v1(),
    };
    let mut bytes = vec![1u8];
    bytes.extend(postcard::to_stdvec(&v1).unwrap());
    let old = Fingerprint::from_bytes(&bytes).unwrap();
    assert!(old.terms().is_empty());
    // Its text bands are this version's (from its signature), its entity keys its own.
    let mut keys = sketch::band_keys(now.minhash(), sketch::NUM_BANDS, sketch::BAND_ROWS);
    keys.extend(entity_keys_v1(now.entities()));
    assert_eq!(old.bands(), &keys[..]);
    // An old stored case and a new report of the same matter still meet and link.
    assert!(shares_any_key(&old, &now));
    assert!(DedupConfig::default().is_duplicate(&score(&now, &old, &ctx())));
    assert_eq!(FINGERPRINT_VERSION, 3);
}

/// A version-2 fingerprint (42 × 3 text bands) reads back as the version-3 fingerprint of the
/// same report: the same keys and fields, so a re-keyed store finds it like a new one, and an
/// empty text still has no band keys.
#[test]
fn version_2_fingerprints_read_with_this_versions_bands() {
    for (title, text) in [(SITE, SITE_TEXT), ("", "")] {
        let now = fp(title, text);
        let (keys, bytes) = now.as_version_2();
        if text.is_empty() {
            assert!(keys.is_empty() && now.bands().is_empty());
        } else {
            assert_eq!(keys.len(), now.bands().len() + 30);
            assert_eq!(keys[..42], sketch::band_keys(now.minhash(), 42, 3)[..]);
            assert_eq!(keys[42..], now.bands()[12..]);
        }
        assert!(!Fingerprint::is_current(&bytes));
        let read = Fingerprint::from_bytes(&bytes).unwrap();
        assert_eq!(read, now, "{title}");
        assert!(Fingerprint::is_current(&read.to_bytes()));
    }
}

#[test]
fn logistic_fit_and_grouped_folds() {
    // One informative feature (column 1), one constant-zero column: the fit finds the sign and
    // stays finite.
    let mut x = Vec::new();
    let mut y = Vec::new();
    for i in 0..200 {
        let v = i as f32 / 200.0;
        let mut row = [0f32; N_FEATURES];
        row[0] = 1.0;
        row[1] = v;
        x.push(row);
        y.push(v + if i % 7 == 0 { -0.3 } else { 0.0 } > 0.5);
    }
    let w = fit_logistic(&x, &y, 1.0);
    assert!(w[1] > 1.0 && w[0] < 0.0, "{w:?}");
    assert!(w.iter().all(|v| v.is_finite()));
    assert_eq!(w[2], 0.0);

    // Rows connected through shared message ids share a fold; folds are deterministic.
    let row = |a: &str, b: &str| PairRow {
        a: PairSide {
            id: Some(a.into()),
            ..PairSide::default()
        },
        b: PairSide {
            id: Some(b.into()),
            ..PairSide::default()
        },
        duplicate: true,
        sure: None,
    };
    let rows = vec![
        row("m1", "m2"),
        row("m3", "m4"),
        row("m2", "m5"),
        row("m6", "m7"),
        row("m5", "m8"),
        row("m9", "m10"),
    ];
    let folds = grouped_folds(&rows, 3);
    assert_eq!(folds[0], folds[2]);
    assert_eq!(folds[2], folds[4]);
    assert_eq!(folds, grouped_folds(&rows, 3));
    // The big group (3 rows) fills one fold; the three single rows spread over the other two.
    assert_eq!(folds.iter().filter(|&&f| f == folds[0]).count(), 3);
}

/// The shipped weights and threshold are the recipe's fit on the repo's labelled pairs; a change
/// to the features or the data must refit them (`paidan eval-dedup --fit`, see the crate docs).
#[test]
fn shipped_weights_are_the_recipe_fit_on_the_repo_pairs() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../eval/sets");
    let mut rows = Vec::new();
    for f in ["dedup_tune.jsonl", "dedup_test.jsonl", "dedup_more.jsonl"] {
        rows.extend(read_pairs(&dir.join(f)).unwrap());
    }
    assert_eq!(rows.len(), 747);
    let fit = fit_recipe(&rows, &DedupConfig::default());
    let (got, want) = (fit.weights.linear(), Weights::default().linear());
    for (g, w) in got.iter().zip(want) {
        assert!((g - w).abs() < 2e-3, "fit {got:?}\nshipped {want:?}");
    }
    assert!(
        (fit.threshold - DEFAULT_THRESHOLD).abs() < 1e-6,
        "{} vs {DEFAULT_THRESHOLD}",
        fit.threshold
    );
}
