use super::*;

#[test]
fn probe() {
    let seg = Segmenter::global();
    for s in [
        "幸福小区门口有人占道经营，渣土车夜间施工噪音扰民",
        "黑臭水体 马路拉链 门前三包 油烟净化器没开",
        "城管 违章搭建 占用消防通道 小广告 乱搭乱建",
    ] {
        println!("{:?}", seg.cut(s));
        println!("{:?}", seg.tag(s));
    }
    for s in ["電話：13812341234，身份證110101199003071234", "ＡＢＣ１２３　　全角\t\n空格\u{200b}", "0591-87654321 (0591)87654321 02112345678 订单号2023123456789 a@b.com 15012345678X"] {
        println!("{}\n{}\n{}", normalize(s), mask_pii(&normalize(s)), mask_for_features(&normalize(s)));
    }
}
