use super::*;

#[test]
fn normalize_table() {
    let cases = [
        ("ＡＢＣ１２３", "ABC123"),
        ("  多个   空格\t\n换行 ", "多个 空格 换行"),
        ("電話號碼", "电话号码"),
        ("噪音擾民，請盡快處理！", "噪音扰民,请尽快处理!"),
        ("a\u{200b}b\u{0007}c\u{feff}", "abc"),
        ("第１２３号\u{3000}楼", "第123号 楼"),
        ("", ""),
        ("   ", ""),
        ("plain ascii  text", "plain ascii text"),
        // A variant zhconv converts in two steps (戱 → 戯 → 戏; found by fuzz/triage_pipeline).
        ("戱", "戏"),
        ("游戱规则", "游戏规则"),
    ];
    for (input, want) in cases {
        assert_eq!(normalize(input), want, "input {input:?}");
        assert_eq!(normalize(want), want, "normalize is idempotent on {want:?}");
    }
}

#[test]
fn mask_pii_table() {
    let cases = [
        ("电话13812341234", "电话138****1234"),
        ("联系138-1234-1234谢谢", "联系138-****-1234谢谢"),
        ("+8613812341234", "+86138****1234"),
        ("身份证110101199003071234", "身份证110101********1234"),
        ("11010119900307123X号", "110101********123X号"),
        ("0591-87654321", "0591-****4321"),
        ("(0591)87654321", "(0591)****4321"),
        ("座机02112345678", "座机021****5678"),
        // Not phones or ID numbers: left alone.
        ("订单号2023123456789012", "订单号2023123456789012"),
        ("138123412345", "138123412345"),
        ("2019年8月6日10:51", "2019年8月6日10:51"),
        ("3栋502室", "3栋502室"),
        ("邮箱abc@example.com", "邮箱abc@example.com"),
        // Full-width digits, as Chinese input methods type them (found by fuzz/triage_pipeline).
        ("电话１３８１２３４１２３４", "电话138****1234"),
        ("电话1３8１２３４-１２３４。", "电话138****-1234。"),
        (
            "身份证１１０１０１１９９００３０７１２３Ｘ号",
            "身份证110101********123X号",
        ),
        ("（０５９１）８７６５４３２１", "(0591)****4321"),
        ("ＡＢＣ１２３，投诉！", "ＡＢＣ１２３，投诉！"),
        (
            "订单号２０２３１２３４５６７８９０１２",
            "订单号２０２３１２３４５６７８９０１２",
        ),
        (
            "邮箱ａｂｃ＠ｅｘａｍｐｌｅ．ｃｏｍ",
            "邮箱ａｂｃ＠ｅｘａｍｐｌｅ．ｃｏｍ",
        ),
    ];
    for (input, want) in cases {
        assert_eq!(mask_pii(input), want, "input {input:?}");
    }
}

#[test]
fn mask_for_features_table() {
    let cases = [
        ("电话13812341234联系", "电话〈电话〉联系"),
        ("身份证110101199003071234", "身份证〈身份证〉"),
        ("打0591-87654321没人接", "打〈电话〉没人接"),
        ("邮箱abc.d@example.com.cn回复", "邮箱〈邮箱〉回复"),
        ("见http://www.a.gov.cn/x?id=1 网页", "见〈网址〉 网页"),
        ("编号2023123456", "编号〈数字〉"),
        ("3栋502室", "3栋502室"),
        ("2019年", "2019年"),
        ("无号码", "无号码"),
    ];
    for (input, want) in cases {
        assert_eq!(mask_for_features(input), want, "input {input:?}");
    }
}

/// Domain terms of the city dictionary stay whole.
#[test]
fn city_terms_stay_whole() {
    let seg = Segmenter::global();
    let cases = [
        ("门口有人占道经营", "占道经营"),
        ("渣土车晚上抛洒", "渣土车"),
        ("饭店油烟净化器不开", "油烟净化器"),
        ("工地夜间施工", "夜间施工"),
        ("楼顶违章搭建", "违章搭建"),
        ("到处贴小广告", "小广告"),
        ("落实门前三包责任", "门前三包"),
        ("这条路马路拉链反复开挖", "马路拉链"),
        ("河道变成黑臭水体", "黑臭水体"),
        ("广场舞噪音扰民", "噪音扰民"),
        ("车辆占用消防通道", "占用消防通道"),
        ("小区乱搭乱建严重", "乱搭乱建"),
        ("工地施工扰民", "施工扰民"),
    ];
    for (text, term) in cases {
        let words = seg.cut(text);
        assert!(words.contains(&term), "{text:?} → {words:?} lacks {term:?}");
        assert_eq!(words.concat(), text, "segmentation must cover the text");
    }
}

#[test]
fn segmentation_table() {
    let seg = Segmenter::global();
    let cases: &[(&str, &[&str])] = &[
        ("渣土车夜间施工", &["渣土车", "夜间施工"]),
        ("黑臭水体 马路拉链", &["黑臭水体", "马路拉链"]),
        ("  ", &[]),
        ("城乡 建设 安全隐患", &["城乡", "建设", "安全隐患"]),
    ];
    for (text, want) in cases {
        assert_eq!(seg.cut(text), *want, "{text:?}");
    }
}

#[test]
fn tags_table() {
    let seg = Segmenter::global();
    let cases = [
        ("背街小巷有人占道经营", "背街小巷", "ns"),
        ("小区门口占道经营", "占道经营", "vn"),
        ("渣土车太多", "渣土车", "n"),
        ("小广告", "小广告", "n"),
    ];
    for (text, word, tag) in cases {
        let tags = seg.tag(text);
        assert!(
            tags.contains(&(word, tag)),
            "{text:?} → {tags:?} lacks ({word}, {tag})"
        );
    }
    // Tags outlive a short-lived segmenter.
    let owned = {
        let local = Segmenter::with_user_dict("幸福小区 100 ns\n").unwrap();
        local.tag("幸福小区")
    };
    assert_eq!(owned, vec![("幸福小区", "ns")]);
}

#[test]
fn bad_user_dict_is_an_error() {
    assert!(Segmenter::with_user_dict("词 notanumber n\n").is_err());
}

/// The ideograph fast path is exactly NFKC, also where compositions and reordering happen next
/// to ideographs.
#[test]
fn nfkc_fast_equals_nfkc() {
    use unicode_normalization::UnicodeNormalization;
    let table = [
        "",
        "路灯不亮",
        "ＡＢＣ１２３，投诉！",
        "e\u{0301}中e\u{0301}",
        "中\u{0301}文",
        "a\u{0323}\u{0302}路\u{0302}a",
        "㈱会社 ﬁle ①号楼 ㎡",
        "가\u{11A8}中\u{1100}\u{1161}",
        "\u{F900}豈\u{2F800}丽",
        "投诉：xx小区　３号楼\u{3000}噪音",
    ];
    for s in table {
        let want: String = s.nfkc().collect();
        let got: String = super::nfkc_fast(s).collect();
        assert_eq!(got, want, "{s:?}");
    }
}

#[test]
fn known_tags_are_sorted_and_looked_up() {
    assert!(
        KNOWN_TAGS.windows(2).all(|w| w[0] < w[1]),
        "binary search needs order"
    );
    // (tag, static tag): every known one is itself, an unknown one is "x"
    for t in KNOWN_TAGS {
        assert_eq!(static_tag(&t.to_string()), *t);
    }
    for (tag, want) in [("nz", "nz"), ("zz", "x"), ("", "x"), ("N", "x")] {
        assert_eq!(static_tag(tag), want, "{tag}");
    }
}
