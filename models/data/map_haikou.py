#!/usr/bin/env python3
"""Map the Haikou 12345 work orders onto paidan's taxonomy v1 (training rows for the v1 model).

Input: /work/shared/data/haikou_train.jsonl (16,726 work orders, Dec 2017 - Jun 2018, with the platform's own
labels: category_l1 / category (行业分类2级) / category_l3 / category_l4, and department = 处置单位, the unit that
handled the case). Provenance: /work/shared/data/README.md and models/data/README.md (research and evaluation
material, no licence stated).

Output (stdout): one JSON line per mapped work order, keys in this order:
    {"id", "source": "hk", "text", "category", "department"?, "sure", "haikou": "l1/l2/l3/l4", "haikou_department"}
The text is NOT masked here; pipe the output through paidan's own PII masking. The full command, from the
repository root:

    python3 models/data/map_haikou.py --data /work/shared/data/haikou_train.jsonl \
        | cargo run -q -p paidan-text --example mask_jsonl > models/data/haikou_v1.jsonl

A summary (rows per v1 category, department coverage, rows left out and why) goes to stderr as Markdown;
`--stats-only` prints only the summary. Python 3 standard library only; deterministic (input order, no
randomness).

How a row is mapped
-------------------
* category: CATEGORY_RULES below. Each rule names a label path "l1/l2/l3/l4" in which "*" matches any value.
  Of the rules matching a row, the most specific one decides (a fixed l4 outweighs a fixed l3, which outweighs
  a fixed l2, which outweighs a fixed l1; two different rules tying is an error). A rule either
    - maps the path to one v1 code (`sure` = True where the path is unambiguous, False where the code is the
      most likely of two v1 categories),
    - or, for the small 数字城管 classes whose texts are noisy, passes the text through a keyword gate:
      `only(regex, code)` keeps the row only if its text matches (the rest are label noise and left out), and
      `pick((regex, code), ...)` lets the first matching keyword choose between two v1 codes (then sure=False),
    - or leaves the path out on purpose (`skip(reason)`): bookkeeping classes (“12345”热线, 其他, 信息咨询 ...),
      paths mixing several v1 categories, topics without a v1 category, paths whose texts do not match the label.
  A path no rule matches is left out ("no rule": rare paths not reviewed).
* department: DEPARTMENTS maps the handling unit's name (as the platform records it) to a v1 department code
  where that is clear. Unclear units (人民政府, 政府服务中心, project headquarters, state-owned investment
  companies ...) are listed in UNCLEAR_UNITS and the row gets no "department" key (the trainer treats a missing
  label as "no label for this head"). The department is the unit that actually handled the case, which is what
  the v1 guideline uses when a reply names the handling unit.
"""

import argparse
import collections
import json
import re
import sys

# ---------------------------------------------------------------------------------------------------------
# Rule helpers


def only(regex, code):
    """Keyword gate: keep the row (as `code`) only if its text matches `regex`; otherwise it is label noise."""
    return ("gate", [(regex, code)])


def pick(*alternatives):
    """Keyword choice between v1 codes: the first (regex, code) whose regex matches decides; none -> left out.
    A code of None drops the row (a known kind of noise)."""
    return ("gate", list(alternatives))


def skip(reason):
    return ("skip", reason)


# Reasons for leaving a path out on purpose (used in the summary).
BOOKKEEPING = "bookkeeping / mixed catch-all class"
MIXED = "path mixes several v1 categories"
NO_V1 = "topic without a v1 category"
MISMATCH = "the path's texts do not match its label"

# (path, target, sure). target: a v1 category code, only(...)/pick(...), or skip(...); sure is ignored for skip.
CATEGORY_RULES = [
    # ----- bookkeeping and catch-all classes: never mapped -------------------------------------------------
    ("“12345”热线/*/*/*", skip(BOOKKEEPING), None),
    ("*/“12345”热线/*/*", skip(BOOKKEEPING), None),
    ("*/*/*/信息咨询", skip(BOOKKEEPING), None),
    ("其他/*/*/*", skip(BOOKKEEPING), None),
    ("公安（治安、交通）/其他/*/*", skip(BOOKKEEPING), None),  # police + transport + anything
    ("司法行政/其他/*/*", skip(BOOKKEEPING), None),  # used as a catch-all: traffic, housing, telecom ...
    ("社会管理（底数资源）/司法行政/其他/*", skip(BOOKKEEPING), None),
    ("*/统计/*/*", skip(BOOKKEEPING), None),
    ("*/扩展的公共服务大类/*/*", skip(BOOKKEEPING), None),
    ("*/外事/*/*", skip(BOOKKEEPING), None),
    ("*/*/转接话务代表/*", skip(BOOKKEEPING), None),
    ("*/*/转接职能局/*", skip(BOOKKEEPING), None),
    ("*/*/转接政务中心/*", skip(BOOKKEEPING), None),
    ("*/其他/*/*", skip(BOOKKEEPING), None),  # X/其他/其他/其他 under most l1 (exceptions below)
    ("社会管理（事件类）/其他/*/*", skip(MIXED), None),
    ("城乡建设/其他/*/*", skip(MIXED), None),
    ("土地规划/其他/*/*", skip(MIXED), None),
    ("环境保护/其他/*/*", skip(MIXED), None),
    ("水务/其他/*/*", skip(MIXED), None),
    ("*/*/群发性事件/*", skip(MIXED), None),  # except the clear l4 sub-paths below
    ("*/*/群发性事件/开发商合同纠纷", "housing_demolition", True),
    ("*/*/群发性事件/业主与物业纠纷", "property_management", True),
    ("*/*/群发性事件/劳资纠纷", "labor_social_security", True),
    # l1 catch-alls whose content is one v1 category
    ("工商(消保)/其他/*/*", "market_regulation", True),
    ("社会管理（事件类）/工商/其他/*", "market_regulation", True),
    ("教育/其他/*/*", "education", True),
    ("卫生计生/其他/*/*", "health", True),
    ("食品药品安全/其他/*/*", "market_regulation", True),
    ("燃气/其他/*/*", "utilities", True),
    ("供水/其他/*/*", "utilities", True),
    ("公安（消防）/其他/*/*", "public_security", True),
    ("住房保障/其他/*/*", "housing_demolition", False),  # 房产证, 开发商, 购房; some 报建 / 物业
    ("社会管理（底数资源）/公安（出入境）/其他/*", "public_security", False),  # general police matters
    ("税务/其他/*/*", "other", False),
    ("商业服务（事件类）/税务/其他/*", "other", False),
    ("质量技术监督/其他/*/*", "market_regulation", False),
    # ----- 街面秩序 street order -----------------------------------------------------------------------------
    ("*/*/机动车乱停放/*", "parking_traffic", True),
    ("*/*/机动车违停/*", "parking_traffic", True),
    ("*/*/占道经营/*", "street_vending", True),
    ("*/*/占道废品收购/占道经营", "street_vending", True),
    ("*/*/占道废品收购/出店经营", "street_vending", True),
    ("*/*/夜间排挡摊点/占道经营", "street_vending", True),
    ("*/*/夜间排挡摊点/人为噪音", "noise_social", True),
    ("*/*/店外经营/*", only("占道经营|出店经营|店外经营", "street_vending"), True),  # mostly noise/dust texts
    ("*/*/无证游商/*", only("无证经营|无照|营业执照", "market_regulation"), False),
    ("*/*/无照经营游商/*", only("无证经营|无照|营业执照", "market_regulation"), False),
    ("*/*/共享单车乱停放/*", "parking_traffic", False),  # alternative: clutter (bikes piled up)
    ("*/*/非机动车乱停放/*", only("共享|电动车|非机动车|自行车", "parking_traffic"), True),
    ("*/*/横幅乱吊乱挂/*", only("横幅|条幅", "illegal_hanging"), True),
    ("*/*/杆线吊挂/*", skip(MIXED), None),  # 3 rows: power cables, drainage works, telecom cables
    ("*/*/扬尘污染/*", only("尘|沙土|泥土", "dust_muck"), True),
    ("*/*/擅自接管排水/*", only("排入|外排|往外排|排放", "illegal_discharge"), True),
    ("*/*/黑车拉客/*", "public_transport", True),
    ("*/*/无证办学/*", "education", True),
    ("*/*/旅客投诉/公交车", "public_transport", True),
    ("*/*/旅客投诉/出租车", "public_transport", True),
    ("*/*/旅客投诉/出租车公司", "public_transport", True),
    ("*/*/旅客投诉/轮渡码头", "public_transport", True),
    ("*/*/旅客投诉/汽车站", "public_transport", True),
    ("*/*/旅客投诉/汽车", "public_transport", False),
    ("*/*/旅客投诉/机场", "public_transport", False),  # air passengers; no aviation category
    ("*/*/旅客投诉/火车站", "public_transport", False),
    ("*/*/旅客投诉/火车", "public_transport", False),
    ("*/*/旅客投诉/酒店", "market_regulation", False),  # consumer disputes with hotels
    ("*/*/旅客投诉/旅行团", "market_regulation", False),
    ("*/*/流浪乞讨/*", skip(NO_V1), None),
    ("*/*/乱堆物料/*", skip(MISMATCH), None),
    # ----- 市容环境 city appearance ---------------------------------------------------------------------------
    ("*/*/私搭乱建/*", "illegal_structure", True),
    ("*/*/私搭乱建/其他", skip(MISMATCH), None),  # 1 row about sewage
    ("*/*/违章建筑/*", "illegal_structure", True),
    ("*/*/违法建筑/*", "illegal_structure", True),
    ("*/*/集体土地/违建", "illegal_structure", True),  # illegal buildings on collective land (国土 enforcement)
    ("*/*/集体土地/违法占用", "illegal_structure", False),
    ("*/*/人为噪音/*", "noise_social", True),
    ("*/*/商业噪音/*", "noise_social", False),  # 其他噪音 / 机器噪音 etc. include some construction noise
    ("*/*/商业噪音/播放高音喇叭", "noise_social", True),
    ("*/*/商业噪音/广场舞噪音", "noise_social", True),
    ("*/*/商业噪音/露天KTV噪音", "noise_social", True),
    ("*/*/商业噪音/露天歌舞厅噪音", "noise_social", True),
    ("*/*/商业噪音/室内装修噪音", "noise_social", True),  # 装修 noise is noise_social in v1
    ("*/*/商业噪音/工地施工噪音", "noise_construction", True),
    ("*/*/商业噪音/鸡叫噪音", skip(MIXED), None),
    ("*/*/装卸噪音/*", "noise_social", True),
    ("*/*/外置扩音装置/*", "noise_social", True),
    ("*/*/违规鸣笛/*", skip(MIXED), None),  # horn noise vs traffic rules vs fines
    ("*/*/噪音扰民处置/*", "noise_social", True),
    ("*/*/污染/空气污染", "other_pollution", True),
    ("*/*/污染/废气", "other_pollution", True),
    ("*/*/污染/油烟污染", "cooking_fumes", True),
    ("*/*/污染/机械噪音", "noise_social", False),
    ("*/*/污染/施工噪音", "noise_construction", True),
    ("*/*/污染/排放污水", "illegal_discharge", False),  # alternative: water_pollution
    ("*/*/污染/化工污染", skip(MISMATCH), None),
    ("*/*/油烟污染/*", "cooking_fumes", True),
    ("*/*/油烟扰民/*", "cooking_fumes", True),
    ("*/*/露天烧烤/*", "cooking_fumes", True),
    ("*/*/市政道路积水/*", "road_facility", True),
    ("*/*/道路积水/*", "road_facility", True),
    ("*/*/道路破损/*", "road_facility", True),
    ("*/*/道路遗撒/*", only("泥|土方|渣土|沙子|遗撒|撒落", "dust_muck"), False),  # 18 of 19 texts are unrelated
    ("*/*/道路污染/遗撒泥土", only("泥|土|沙", "dust_muck"), True),
    ("*/*/道路污染/遗撒沙子", only("泥|土|沙", "dust_muck"), True),
    ("*/*/道路污染/垃圾", skip(MIXED), None),  # garbage piles, potholes, accident debris, dust
    ("*/*/车辆污染路面/*", only("泥|土|沙|渣|水泥|工程车", "dust_muck"), True),
    ("*/*/暴露垃圾/*", pick(("鞭炮|烟花", None),
                            ("倾倒|倒垃圾|乱倒|丢弃|乱扔", "littering_dumping"),
                            ("建筑垃圾|沙子|碎石", "clutter"),
                            ("垃圾", "sanitation")), False),
    ("*/*/乱扔垃圾/*", pick(("乱倒|乱扔|丢弃|倾倒", "littering_dumping"),
                            ("堆放", "clutter"),
                            ("清扫|清运|垃圾桶", "sanitation")), False),
    ("*/*/倾倒渣土/*", skip(MISMATCH), None),
    ("*/*/污水溢流/*", pick(("乱排|排到路面|直接排|排放污水|违法排放", "illegal_discharge"),
                            ("堵|溢|下水道|排污管|污水管|化粪池|井盖|臭水沟|排水", "road_facility")), False),
    ("*/*/乱倒乱排污水、废水/*", "illegal_discharge", True),
    ("*/污染/水污染/*", pick(("堵塞", "road_facility"), ("排放|排到|排污", "illegal_discharge")), False),
    ("*/污染/空气污染/*", "other_pollution", True),
    ("*/环境卫生/环境垃圾/*", pick(("乱倒|丢|倾倒|倒大量", "littering_dumping"), ("堆|堵路", "clutter"),
                                   ("垃圾", "sanitation")), False),
    ("*/环境卫生/道路扬尘/*", only("尘|砂石|沙", "dust_muck"), True),
    ("*/环境卫生/卫生配套设施/*", skip(MIXED), None),
    ("绿化市容/城市管理/其他/*", skip(MIXED), None),
    ("*/*/水质污染/*", pick(("河|水库|水体|溪|湖", "water_pollution"),
                            ("自来水|水质|煮|烧开|杂质|浑浊|发黑|变黄|沉淀", "utilities")), False),
    ("*/*/河道污染/*", "water_pollution", True),
    ("*/*/擅自饲养家禽家畜/*", only("养", "other_pollution"), False),  # alternative: sanitation / noise
    ("*/*/擅自饲养/*", only("养", "other_pollution"), False),
    ("*/*/禽类饲养/*", only("养鸡|养鸭|养猪|养牛|饲养", "other_pollution"), False),
    ("*/*/城区家禽饲养/*", only("养鸡|养鸭|养猪|养牛|饲养|养猪场", "other_pollution"), False),
    ("*/*/养殖场污染/*", "other_pollution", True),
    ("*/*/焚烧垃圾树叶/*", only("焚烧|烧|浓烟|黑烟", "other_pollution"), False),  # alternative: sanitation
    ("*/*/焚烧垃圾/*", only("焚烧|烧|浓烟|黑烟", "other_pollution"), False),
    ("*/*/采砂/*", skip(NO_V1), None),  # illegal sand mining (river / land): no v1 category
    ("*/*/矿产管理/*", skip(NO_V1), None),
    ("*/*/动植园林/公园设施", "greenery", False),
    ("*/*/动植园林/*", skip(MIXED), None),
    ("*/*/绿地绿化/修枝整形", "greenery", True),
    ("*/*/绿地绿化/铺设绿化带", "greenery", False),
    ("*/*/绿地绿化/靠近电线", skip(MISMATCH), None),
    ("*/*/废弃车辆/*", skip(MISMATCH), None),  # mostly questions about scrapping a car
    ("*/*/动物尸体/*", skip(MIXED), None),
    ("*/*/动物尸体清理/*", skip(MIXED), None),
    ("*/*/卫生配套设施/*", skip(MISMATCH), None),
    ("*/*/水务工程建设/*", skip(MIXED), None),
    ("*/*/排水工程/*", skip(MIXED), None),
    ("*/*/非法钓鱼/*", skip(NO_V1), None),
    ("*/*/公共场所/吸烟", skip(NO_V1), None),
    # ----- 宣传广告 advertising ------------------------------------------------------------------------------
    ("*/*/非法小广告/*", pick(("贴", "illegal_posting"), ("散发|发传单|传单|发小广告|发广告", "flyer_distribution")), True),
    ("*/*/街头散发广告/*", pick(("贴", "illegal_posting"), ("散发|发传单|传单|发小广告|发广告", "flyer_distribution")), True),
    ("*/*/机动车道/发小广告", only("发小广告|散发|传单", "flyer_distribution"), True),
    ("*/*/小区内小广告/*", only("贴|小广告", "illegal_posting"), True),
    ("*/*/广告张贴/*", only("贴|小广告", "illegal_posting"), True),
    ("*/宣传广告/广告/*", pick(("贴", "illegal_posting"),
                               ("发广告|发传单|传单", "flyer_distribution"),
                               ("道旗|户外广告|广告招牌|广告牌", "illegal_hanging")), False),
    ("*/*/户外广告/*", pick(("贴|狗皮膏药|小广告", "illegal_posting"),
                            ("挂|广告牌|招牌|灯箱", "illegal_hanging")), False),
    ("*/*/广告牌景观灯/*", only("招牌|广告牌", "illegal_hanging"), False),  # incl. complaints about removal
    ("*/*/违章悬挂广告牌匾/*", only("招牌|广告牌", "illegal_hanging"), True),
    ("*/*/户外广告设置位置不合理/*", only("招牌|广告牌", "illegal_hanging"), False),
    ("*/*/违规户外广告/*", only("招牌|广告牌", "illegal_hanging"), False),
    ("*/*/广告招牌破损/*", only("招牌|广告牌", "illegal_hanging"), False),
    ("*/*/占道广告牌/*", only("广告牌", "illegal_hanging"), False),
    ("*/*/牌匾标识/*", only("招牌|广告牌", "illegal_hanging"), False),
    ("*/*/虚假宣传/*", "market_regulation", True),
    # ----- 施工管理 construction -----------------------------------------------------------------------------
    ("*/*/施工扰民/*", "noise_construction", True),
    ("*/*/夜间施工的现象/*", "noise_construction", True),
    ("*/*/无证夜间施工/*", "noise_construction", True),
    ("*/*/噪音污染/施工噪音", "noise_construction", True),
    ("*/*/噪音污染/机械噪音", "noise_social", False),
    ("*/*/施工废弃料/*", pick(("倾倒|倒大量|乱倒|丢弃|丢掷|偷倒", "littering_dumping"),
                              ("建筑垃圾|建筑材料|堆", "clutter")), False),
    ("*/*/废弃料乱堆放/*", pick(("倾倒|倒大量|乱倒|丢弃|丢掷|偷倒", "littering_dumping"),
                                ("建筑垃圾|建筑材料|堆", "clutter")), False),
    ("*/*/无证砍伐/*", only("砍|伐|修剪|树木|树枝|椰子树|绿植", "greenery"), True),
    ("*/*/工地扬尘/*", only("尘", "dust_muck"), True),
    ("*/*/无证掘路/*", only("挖", "illegal_digging"), True),
    ("*/*/施工占道/*", skip(MIXED), None),
    ("*/*/施工工地围挡问题/*", skip(MIXED), None),
    ("*/*/施工围挡/*", skip(MIXED), None),
    ("*/*/施工工地道路未硬化/*", skip(MISMATCH), None),
    ("*/*/工地出入口/*", skip(MISMATCH), None),
    ("*/*/渣土运输车未安装密闭装置/*", skip(MISMATCH), None),
    ("*/*/工地乱排放污水/*", skip(MISMATCH), None),
    ("*/*/施工规范/*", skip(MIXED), None),
    # ----- 扩展事件 (城管问题) extended events --------------------------------------------------------------
    ("*/扩展事件/噪音/*", "noise_social", False),
    ("*/扩展事件/噪音/播放高音喇叭", "noise_social", True),
    ("*/扩展事件/噪音/露天KTV噪音", "noise_social", True),
    ("*/扩展事件/噪音/室内装修噪音", "noise_social", True),
    ("*/扩展事件/噪音/工地施工噪音", "noise_construction", True),
    ("*/扩展事件/公交车/*", "public_transport", True),
    # ----- 突发事件 / 台风灾害 emergencies ------------------------------------------------------------------
    ("*/*/供水管道破裂/*", "utilities", False),  # burst water mains (water company); alternative road_facility
    ("*/*/自来水管破裂/*", "utilities", False),
    ("*/*/污水管道堵塞/*", "road_facility", True),
    ("*/*/排水管道堵塞/*", "road_facility", True),
    ("*/*/污水管道/*", "road_facility", True),
    ("*/*/污水管道破损/*", only("污水|排水|下水", "road_facility"), True),
    ("*/*/雨水管道/*", skip(MIXED), None),
    ("*/*/路面塌陷/*", "road_facility", True),
    ("*/*/火灾/*", "public_security", False),
    ("*/*/伤亡事故/*", "parking_traffic", False),  # traffic accidents (交警)
    ("*/*/灾情信息/积水", "road_facility", True),
    ("*/*/交通出行信息/交通拥堵", "parking_traffic", True),
    ("*/*/居民生活保障信息/台风停电", "utilities", True),
    ("*/*/市政工程信息/树木倒塌", "greenery", True),
    # ----- 交通管理 traffic (police) and transport ---------------------------------------------------------
    ("*/*/交通设施/交警指挥", "parking_traffic", False),  # 挪车/违停 (≈45 %), 违章, 车管所 admin, 拥堵
    ("*/*/交通法规/车辆违章", "parking_traffic", True),
    ("*/*/交通违章/*", "parking_traffic", True),
    ("*/*/交通堵塞/*", "parking_traffic", True),
    ("*/*/排堵保畅/*", "parking_traffic", True),
    ("*/*/路状路况/拥堵", "parking_traffic", True),
    ("*/*/限流限行/*", "parking_traffic", True),
    ("*/*/机动车停放整治/*", "parking_traffic", False),
    # vehicle and driver administration (车管所): no v1 category of its own; nearest is parking_traffic
    ("*/*/过户上牌/*", "parking_traffic", False),
    ("*/*/驾驶员审验/*", "parking_traffic", False),
    ("*/*/车辆年检/*", "parking_traffic", False),
    ("*/*/新购车政策/*", "parking_traffic", False),
    ("*/*/新购车政策/公证处信息", skip(NO_V1), None),
    ("*/*/新购车政策/二手车公证", skip(NO_V1), None),
    ("*/*/新购车政策/新能源补贴", skip(MISMATCH), None),
    ("*/*/新购车政策/新能源车过户", skip(MISMATCH), None),
    ("*/*/车牌拍卖/*", "parking_traffic", False),
    ("*/*/交通事故/*", "parking_traffic", False),
    ("*/交通管理/交通设施/路灯", skip(MIXED), None),  # street lights vs traffic lights
    ("*/交通管理/交通设施/交通标志", "parking_traffic", False),
    ("*/*/出租车/*", "public_transport", True),
    ("*/*/出租车/拒开发票", skip(MISMATCH), None),  # shops refusing invoices (tax office)
    ("*/*/公交巴士/*", "public_transport", True),
    ("*/*/网约车/*", "public_transport", True),
    ("*/*/汽车客运/*", "public_transport", True),
    ("*/*/港船客运/*", "public_transport", True),
    ("*/*/非法客运/*", "public_transport", True),
    ("*/*/货物运输/*", "public_transport", False),
    ("*/*/航空客运/*", "public_transport", False),
    ("*/*/铁路客运/*", "public_transport", False),
    ("*/*/地铁客运/*", "public_transport", False),
    ("*/*/驾驶培训/*", skip(MIXED), None),  # driving tests (交警) vs school contracts
    ("*/*/汽车维修/*", "market_regulation", False),
    ("*/*/公共交通用卡管理/*", skip(MISMATCH), None),
    ("*/*/街头拉客/*", "public_transport", True),
    ("交通港口/*/*/*", "public_transport", True),
    ("交通港口/其他/*/*", skip(BOOKKEEPING), None),
    ("交通港口/停车管理/*/*", skip(MIXED), None),
    ("交通港口/驾驶培训/*/*", skip(MIXED), None),
    ("交通港口/汽车维修/*/*", "market_regulation", False),
    ("交通港口/车牌拍卖/*/*", "parking_traffic", False),
    ("*/邮政交通/市内公交/*", "public_transport", True),
    ("*/邮政交通/轮船/*", "public_transport", True),
    ("*/邮政交通/长途汽车/*", "public_transport", True),
    # ----- 交通设施 (部件) traffic facilities ---------------------------------------------------------------
    ("*/*/电动车停车场/管理", "parking_traffic", False),  # e-bikes parked on pavements; also 扣车 / 上牌
    ("*/*/电动车停车场/画线", skip(MISMATCH), None),
    ("*/*/电动车停车场/审批设置", skip(MISMATCH), None),
    ("*/*/停车场/收费", skip(MIXED), None),
    ("*/*/电动车停车场/收费", skip(MIXED), None),
    ("*/*/单车停车场/收费", skip(MIXED), None),
    ("*/*/小车停车场/收费", skip(MIXED), None),
    ("*/*/公共停车场/收费", skip(MIXED), None),
    ("*/*/停车场/审批", skip(MISMATCH), None),
    ("*/*/单车停车场/*", only("共享单车|共享自行车|小黄车|共享乱停", "parking_traffic"), False),
    ("*/*/小车停车场/管理", skip(MIXED), None),
    ("*/*/小车停车场/设置地锁", only("地锁", "parking_traffic"), False),
    ("*/*/出租车站牌/*", "public_transport", True),
    ("*/*/公交站亭/*", "public_transport", True),
    ("*/*/公交站台/*", "public_transport", True),
    ("*/*/交通信号灯/*", only("红绿灯|信号灯|绿灯|红灯|斑马线|交通指示灯", "parking_traffic"), True),
    ("*/*/交通信号设施/*", "parking_traffic", True),
    ("*/*/交通标志牌/*", only("标志|标牌|车道|鸣笛|限行", "parking_traffic"), False),
    ("*/*/交通护栏/*", only("护栏|减震带", "parking_traffic"), False),  # alternative road_facility
    ("*/*/导向指示牌/*", "parking_traffic", False),
    ("*/*/限高架标志/*", "parking_traffic", False),
    ("*/*/非机动车停放点/*", skip(MIXED), None),
    ("*/*/停车咪表/*", skip(MISMATCH), None),
    ("*/*/地下人行通道/*", skip(MISMATCH), None),
    ("*/*/隧道/*", skip(MISMATCH), None),
    ("*/*/跨河桥/*", skip(MISMATCH), None),
    ("*/*/道路信息显示屏/*", skip(MISMATCH), None),
    ("*/*/立交桥/*", skip(MISMATCH), None),
    # ----- 公共设施 (部件) public facilities ---------------------------------------------------------------
    ("*/*/路灯/*", "road_facility", True),
    ("*/*/路灯/赔偿", "road_facility", False),
    ("*/*/太阳能路灯/*", "road_facility", True),
    ("*/*/路灯（非太阳能）/*", "road_facility", True),
    ("*/*/上水井盖/*", only("井盖|井座|洞口|篦子", "road_facility"), True),
    ("*/*/中水井盖/*", only("井盖|井座|洞口|篦子", "road_facility"), True),
    ("*/*/污水井盖/*", only("井盖|井座|洞口|篦子", "road_facility"), True),
    ("*/*/雨水井盖/*", only("井盖|井座|洞口|篦子", "road_facility"), True),
    ("*/*/不明井盖/*", only("井盖|井座|洞口|篦子|水泥板", "road_facility"), True),
    ("*/*/不明井盖/污水溢出", only("污水|下水道|井盖", "road_facility"), False),
    ("*/*/电力井盖/*", only("井盖", "road_facility"), True),
    ("*/*/通讯井盖/*", only("井盖", "road_facility"), True),
    ("*/*/燃气井盖/*", only("井盖", "road_facility"), True),
    ("*/*/公安井盖/*", only("井盖", "road_facility"), True),
    ("*/*/信号灯电源井盖/*", skip(MISMATCH), None),
    ("*/*/雨水篦子/*", only("篦子|井盖|堵塞", "road_facility"), True),
    ("*/*/通信交接箱/*", "utilities", True),
    ("*/*/通讯交接箱/*", "utilities", True),
    ("*/*/线路/*", "utilities", True),
    ("*/*/燃气/*", "utilities", True),
    ("*/*/燃气管道/*", "utilities", True),
    ("*/*/电力设施/*", "utilities", True),
    ("*/*/变压器（箱）/*", "utilities", True),
    ("*/*/电力立杆/*", "utilities", False),
    ("*/*/高压线铁塔/*", only("电线|线路|高压线|电线杆|线", "utilities"), False),  # alternative illegal_hanging
    ("*/*/供水管道/*", "utilities", False),
    ("*/*/治安岗亭/*", "public_security", False),  # police matters (派出所)
    ("*/*/消防设施 （路面）/*", pick(("机动车|车辆|停车|停放|车号", "parking_traffic"), ("消防", "public_security")), False),
    ("*/*/消防通道/*", pick(("机动车|车辆|停车|停放|车号", "parking_traffic"), ("消防", "public_security")), False),
    ("*/*/消防门/*", only("消防", "public_security"), True),
    ("*/*/消防证/*", only("消防|安全隐患", "public_security"), False),
    ("*/*/消防设备维护/消防通道", pick(("机动车|车辆|停车|停放|车号", "parking_traffic"), ("消防", "public_security")), False),
    ("*/*/消防设备维护/*", skip(MIXED), None),  # hydrant leaks (water company) vs fire safety
    ("*/*/消防安全督查/*", "public_security", True),
    ("*/*/电话亭/占用公共面积", only("占用|围起|障碍|防盗网|盖房", "illegal_structure"), False),
    ("*/*/电话亭/*", skip(MISMATCH), None),
    ("*/*/景观灯/光污染", "other_pollution", False),
    ("*/*/光污染/*", "other_pollution", False),
    ("*/*/筑材光污染/*", "other_pollution", False),
    ("*/*/监控电子眼/*", skip(MIXED), None),
    # ----- 园林绿化 greenery ----------------------------------------------------------------------------------
    ("*/*/行树/*", only("树|绿化|花草|修剪", "greenery"), True),
    ("*/*/行道树/*", only("树", "greenery"), True),
    ("*/*/古树名木/*", only("树|绿化|枯", "greenery"), True),
    ("*/园林绿化/绿化带/*", pick(("水管|漏水|消防栓|爆管|爆裂", "utilities"),
                                ("树|绿化|草|花", "greenery")), False),
    ("*/园林绿化/绿化带/其他", only("树|绿化|草|花", "greenery"), False),
    ("*/*/绿地护栏/*", only("护栏", "greenery"), False),
    ("*/*/护树设施/*", "greenery", True),
    ("*/*/绿地附属设施/*", "greenery", False),
    ("*/*/绿地垃圾桶/*", "sanitation", True),
    ("*/*/破坏绿地/*", skip(MISMATCH), None),
    # ----- 市容环境设施 sanitation facilities ------------------------------------------------------------
    ("*/*/垃圾箱/*", pick(("鞭炮", None), ("乱丢|乱扔|乱倒", "littering_dumping"),
                          ("垃圾|落叶|清扫|环卫", "sanitation")), False),
    ("*/*/垃圾间（楼）/*", pick(("垃圾", "sanitation"),
                              ("油漆|异味|臭味|烟味|刺激性|刺鼻|气味|气体", "other_pollution")), False),
    ("*/*/垃圾间（转运站）/*", only("垃圾", "sanitation"), False),
    ("*/*/垃圾收集站/*", "sanitation", True),
    ("*/*/公厕指示牌/*", only("厕|卫生间|洗手间", "sanitation"), True),
    ("*/*/公共厕所/*", only("厕|卫生间|洗手间", "sanitation"), True),
    ("*/*/化粪池/*", pick(("大便", "sanitation"), ("化粪池|污水|排污|排水|堵塞", "road_facility")), False),
    ("*/*/污水口监测站/*", only("堵塞|污水", "road_facility"), False),
    ("*/*/宣传栏/*", skip(MISMATCH), None),
    ("*/*/门前（三包）脏乱/*", skip(MIXED), None),
    ("*/*/建筑物外立面不洁/*", skip(MIXED), None),
    # ----- 城乡建设 urban and rural construction --------------------------------------------------------
    ("*/*/路面养护/坑洼", "road_facility", True),
    ("*/*/路面养护/积水", "road_facility", True),
    ("*/*/路面养护/路面污染", skip(MIXED), None),
    ("*/*/道路改建/*", skip(MIXED), None),
    ("*/*/路面拓宽/*", skip(MIXED), None),
    ("*/*/设备添置/井盖丢失", "road_facility", True),
    ("*/*/设备添置/管道堵塞", "road_facility", True),
    ("*/*/路标路牌/*", "road_facility", False),
    ("*/*/桥梁通行/*", "road_facility", False),
    ("*/*/市政工程/*", skip(MIXED), None),
    ("*/*/危房/*", skip(MIXED), None),
    ("*/*/动拆迁政策征询/*", "housing_demolition", True),
    ("*/*/规划征询/*", "planning_construction", False),
    ("*/*/规划设计/*", "planning_construction", False),
    ("*/*/工程规划/*", "planning_construction", False),
    ("*/*/建筑工程欠薪/*", "labor_social_security", False),  # unpaid construction wages / contract sums
    ("*/*/土地征用/*", "housing_demolition", False),  # land expropriation and its compensation (征地补偿)
    ("*/*/征地补偿/*", "housing_demolition", False),
    ("*/*/村队管理/土地征用", "housing_demolition", False),
    ("*/*/村队管理/征地补偿", "housing_demolition", False),
    ("*/土地/*/*", skip(MIXED), None),  # village land disputes, land certificates, expropriation ...
    # ----- 物业 property management ---------------------------------------------------------------------
    ("*/物业服务/日常服务/*", "property_management", True),
    ("*/物业服务/纠纷协调/*", "property_management", False),  # leaks between flats
    ("*/物业服务/物业维修/*", "property_management", False),
    ("*/物业服务/有资质物业/*", "property_management", False),
    ("*/物业服务/维修基金/*", "property_management", True),
    ("*/物业服务/垃圾清理/*", "sanitation", False),
    ("*/物业服务/停电/故障停电", "utilities", True),
    ("*/物业服务/停电/计划停电", "utilities", True),
    ("*/物业服务/停电/强制停电", "utilities", False),  # some outages are caused by the property manager
    ("*/物业服务/停水/*", "utilities", False),
    ("*/物业服务/*/*", skip(MIXED), None),  # 物业代办, 公房管理, 房屋结构破坏, 无资质物业 ... (few rows, mixed)
    ("住房保障/物业服务管理/其他/*", "property_management", True),
    ("住房保障/物业服务管理/停电/*", "utilities", True),
    ("住房保障/物业服务管理/停水/*", "utilities", False),
    ("住房保障/物业服务管理/*/*", skip(MIXED), None),
    ("*/*/电梯/*", "property_management", True),
    ("*/特种设备监察/安全监察/电梯", "property_management", True),
    ("*/*/物业管理收费/*", "property_management", False),  # 物业费 price complaints; alternative market_regulation
    # ----- 住房保障 housing -----------------------------------------------------------------------------------
    ("*/*/居改非/*", "housing_demolition", False),  # mostly purchases, 限购, 房产证, developers
    ("*/*/房产信息变更/*", "housing_demolition", True),
    ("*/*/征收管理/*", "housing_demolition", True),
    ("*/征收管理/*/*", "housing_demolition", True),
    ("*/*/拆迁安置/*", "housing_demolition", True),
    ("*/*/房屋产权/*", "housing_demolition", True),
    ("*/*/公租房/*", "housing_demolition", True),
    ("*/*/经适房/*", "housing_demolition", True),
    ("*/*/廉租房/*", "housing_demolition", True),
    ("*/*/住房保障制度/*", "housing_demolition", True),
    ("*/*/廉租住房补贴申请/*", "housing_demolition", True),
    ("*/*/租赁管理/*", "housing_demolition", False),
    ("*/*/住房公积金/*", "housing_demolition", False),
    ("*/房屋住宅/公寓（单元式住宅）/*", "housing_demolition", True),
    ("*/房屋住宅/私宅/*", "housing_demolition", False),
    ("*/房屋住宅/商业用房/*", "housing_demolition", False),
    ("*/*/宅基地/*", skip(MIXED), None),  # 报建, 土地证, 房产证, 征收 ...
    ("*/*/土地使用权/*", skip(MIXED), None),
    ("*/*/旧房改造/*", skip(MIXED), None),
    ("*/*/住房病虫害/*", skip(NO_V1), None),
    # ----- 劳动与社会保障 labour and social security --------------------------------------------------------
    ("*/*/劳动保护/*", "labor_social_security", True),
    ("*/*/拖欠工资/*", "labor_social_security", True),
    ("*/*/劳动人事制度/*", "labor_social_security", True),
    ("*/劳动人事制度/*/*", "labor_social_security", True),
    ("*/*/工资奖金/*", "labor_social_security", True),
    ("*/*/最低工资/*", "labor_social_security", True),
    ("*/*/用工规范/*", "labor_social_security", True),
    ("*/*/劳动用工检查监督/*", "labor_social_security", True),
    ("*/*/进城务工人员权益保障/*", "labor_social_security", True),
    ("*/*/维护劳动者合法权益/*", "labor_social_security", True),
    ("*/*/社保卡/*", "labor_social_security", True),
    ("*/社保信息/*/*", "labor_social_security", True),
    ("*/社会保险/*/*", "labor_social_security", True),
    ("*/*/医疗医保/*", "labor_social_security", True),
    ("*/医疗医保/*/*", "labor_social_security", True),
    ("*/*/生育保险/*", "labor_social_security", True),
    ("*/*/工伤/*", "labor_social_security", True),
    ("*/工伤/*/*", "labor_social_security", True),
    ("*/*/工伤保险/*", "labor_social_security", True),
    ("*/*/失业登记/*", "labor_social_security", True),
    ("*/*/失业保险金申领/*", "labor_social_security", True),
    ("*/*/求职登记/*", "labor_social_security", True),
    ("*/*/退休证/*", "labor_social_security", True),
    ("*/*/养老保障/*", skip(MIXED), None),
    ("*/*/农村社会养老保险/*", "labor_social_security", True),
    ("*/*/退休职工互助保障投保/*", "labor_social_security", True),
    ("*/*/账户信息/*", "labor_social_security", False),
    ("*/就业创业/*/*", "labor_social_security", True),
    ("*/*/就业创业/*", "labor_social_security", True),
    ("*/*/就业创业/人才引进", "public_security", False),  # these are 落户 (hukou) questions
    ("*/*/就业创业/人才市场管理", "labor_social_security", True),
    ("*/*/就业创业/创业扶持", "labor_social_security", True),
    ("*/*/就业创业/职业培训", "labor_social_security", True),
    ("*/纠纷仲裁/劳动争议/*", "labor_social_security", True),
    ("*/*/纠纷仲裁/劳动争议", "labor_social_security", True),
    ("*/劳动与社会保障/婚姻管理/*", "other", True),  # civil affairs: marriage registration
    ("*/*/津贴补助/*", skip(MIXED), None),
    ("*/*/优抚安置/*", skip(NO_V1), None),
    ("*/*/临时帮困救助/*", skip(NO_V1), None),
    ("*/*/生活保障/*", skip(NO_V1), None),
    ("*/*/城镇居民最低生活保障工作/*", skip(NO_V1), None),
    ("*/*/慈善福利/*", skip(NO_V1), None),
    ("*/*/社区家政/*", skip(MIXED), None),
    # ----- 人口管理 / 户籍 / 出入境 / 治安 public security -------------------------------------------------
    ("*/*/户口身份登记/*", "public_security", True),
    ("*/*/户口身份登记/变更婚姻状况", "other", True),
    ("*/户籍管理/*/*", "public_security", True),
    ("*/*/暂住(居住证)申领/*", "public_security", True),
    ("*/*/临时暂住(居住证)申领/*", "public_security", True),
    ("*/*/居住证/*", "public_security", True),
    ("*/社保信息/居住证/*", "labor_social_security", True),  # social-security questions despite the l3 name
    ("*/*/外来人员出入管理/*", "public_security", True),
    ("*/*/百万人才进海南/政策咨询", "public_security", False),  # talent settlement (落户)
    ("*/*/百万人才进海南/高级层次人才认定", "public_security", False),
    ("*/*/百万人才进海南/人才创业扶持", "public_security", False),
    ("*/*/百万人才进海南/*", skip(MIXED), None),
    ("*/公安（出入境）/*/*", "public_security", True),
    ("公安（出入境）/*/*/*", "public_security", True),
    ("*/*/公安（出入境）/行政管理", "public_security", False),
    ("*/出境入境/*/*", "public_security", True),
    ("*/*/护照办理/*", "public_security", True),
    ("*/*/签证签注/*", "public_security", True),
    ("*/*/台湾通行证/*", "public_security", True),
    ("*/公安（消防）/审批许可/*", skip(MISMATCH), None),  # police, noise, passports ... not fire approval
    ("*/边防管理/出海船舶/*", "public_security", True),  # 户口簿 questions
    ("*/边防管理/*/*", "public_security", False),
    ("*/社会治安/*/*", "public_security", True),
    ("*/社会噪声/人为噪音/*", "noise_social", True),
    ("*/社会噪声/装卸噪音/*", skip(MISMATCH), None),
    ("*/犬类管理/犬叫噪音/*", "public_security", False),  # dog barking: 养犬 (police) vs neighbour noise
    ("*/犬类管理/*/*", "public_security", True),
    ("*/*/危险动物管理/*", "public_security", True),
    ("*/*/危险动物管理/狗叫", "public_security", False),
    ("*/*/公安信息查询/*", "public_security", True),
    ("*/*/黄赌毒/*", "public_security", True),
    ("*/*/立案侦查/*", "public_security", True),
    ("*/*/刑治案件管理/*", "public_security", True),
    ("*/*/刑治案件管理/发票案", skip(MISMATCH), None),
    ("*/*/治安事件管理/*", "public_security", True),
    ("*/*/治安维护/*", "public_security", True),
    ("*/*/监所管理/*", "public_security", True),
    ("*/*/网络安全/*", "public_security", False),
    ("*/*/出租房屋管理/*", "public_security", False),
    ("*/*/群租管理/*", "public_security", False),
    ("*/*/门弄牌管理/*", skip(MIXED), None),
    ("*/*/民事纠纷调解/*", skip(MIXED), None),
    ("*/*/申诉举报/*", skip(MIXED), None),
    ("*/*/城管执法/*", skip(MIXED), None),  # occupation, digging, violent enforcement complaints ...
    ("*/*/道路交通/道路交通", skip(MIXED), None),
    ("*/*/安全生产督查/*", skip(MIXED), None),
    ("*/*/海面环境卫生/*", only("油|污|排放", "water_pollution"), False),
    ("*/*/生态环保/*", "other_pollution", False),  # odours, burning smells
    ("*/*/湿地保护/*", skip(NO_V1), None),
    ("*/*/流浪动物处置/*", skip(NO_V1), None),
    ("*/*/打击走私贩私、假冒伪劣产商品/*", skip(MISMATCH), None),
    ("*/*/停水停电/*", "utilities", True),
    ("*/*/饮用水卫生管理/*", "utilities", True),
    ("*/*/饮用水卫生管理/水管维修", "utilities", False),
    ("*/*/饮用水卫生管理/其他", skip(MISMATCH), None),
    # ----- 市场监管 market regulation -------------------------------------------------------------------
    ("*/*/食品安全管理/*", "market_regulation", True),
    ("*/*/无证照食品加工点取缔/*", "market_regulation", True),
    ("*/*/卫生许可证/*", "market_regulation", False),
    ("*/*/药品安全管理/*", "health", False),  # medicines are health in v1; sold in shops (market)
    ("*/*/医疗器械管理/*", "health", False),
    ("*/*/价格欺诈/*", "market_regulation", True),
    ("*/*/农贸市场督查/*", skip(MIXED), None),
    ("*/*/娱乐场所管理/*", skip(MIXED), None),
    ("*/*/商场环境卫生/*", skip(MIXED), None),
    ("*/*/无证经营/*", "market_regulation", True),
    ("*/*/计量器具检测/*", "market_regulation", False),
    ("*/工商/*/*", "market_regulation", True),
    ("*/工商/违法经营/非法传销", "market_regulation", False),  # alternative public_security
    ("工商(消保)/*/*/*", "market_regulation", True),
    ("*/价格调控/*/*", "market_regulation", True),
    ("*/发展改革/市场物价/*", "market_regulation", True),
    ("*/发展改革/经营性收费/*", "market_regulation", True),
    ("*/发展改革/商品价格/*", "market_regulation", True),
    ("*/发展改革/行政事业收费/*", "market_regulation", False),
    ("*/*/经营性收费/停车场收费", skip(MIXED), None),
    ("*/其他/物价监管/*", "market_regulation", True),
    ("*/其他/个体工商户管理/*", "market_regulation", True),
    ("*/商务/烟草流通监管/*", "market_regulation", True),
    ("*/商务/酒类流通监管/*", "market_regulation", True),
    ("商务/商务/*/*", "market_regulation", True),
    ("*/商务/其他/*", skip(MIXED), None),
    ("*/商务/商贸信息/*", skip(NO_V1), None),
    ("*/商务/市场供应/*", skip(NO_V1), None),
    ("*/商业服务/商品质量/*", "market_regulation", True),
    ("*/商业服务/汽车质量/*", "market_regulation", True),
    ("*/商业服务/超市卖场/*", "market_regulation", True),
    ("*/商业服务/菜场经营/*", "market_regulation", False),
    ("*/商业服务/售后服务/*", "market_regulation", True),
    ("*/旅游/服务质量/*", "market_regulation", False),  # tourism consumer disputes
    ("*/旅游/旅游纠纷/*", "market_regulation", False),
    ("旅游/*/*/*", "market_regulation", False),
    ("旅游/其他/*/*", skip(BOOKKEEPING), None),
    ("食品药品安全/安全管理/食品安全/*", "market_regulation", True),
    ("食品药品安全/安全管理/化妆品管理/*", "market_regulation", True),
    ("食品药品安全/安全管理/资质认证/*", "market_regulation", True),
    ("食品药品安全/安全管理/药品安全/*", "health", False),
    ("*/行业管理/*/*", "market_regulation", True),  # 城管问题/行业管理: food safety, unlicensed trade, fakes
    ("质量技术监督/计量器具检测/*/*", "market_regulation", True),
    ("质量技术监督/组织机构代码证/*/*", "market_regulation", True),
    ("*/内资内贸/专项行业管理/*", "market_regulation", False),
    # ----- 教育 education ------------------------------------------------------------------------------------
    ("*/教育/*/*", "education", True),
    ("*/教育/职业技能考试/*", skip(MISMATCH), None),  # driving tests (科目二/三)
    ("教育/*/*/*", "education", True),
    ("教育/招生考试/职业技能考试/*", skip(MISMATCH), None),
    ("*/学校管理/*/*", "education", True),
    ("*/入学入托/*/*", "education", True),
    ("*/招生考试/*/*", "education", True),
    ("*/高考/高考志愿填报/*", "education", True),
    ("*/高考/高考招生/*", "education", True),
    ("*/高考/*/*", skip(MIXED), None),  # noise, traffic, flooding near exam sites
    ("*/*/教育助学券发放/*", "education", False),
    ("*/*/市民学校/*", "education", True),  # texts are all about schools
    # ----- 卫生计生 health -------------------------------------------------------------------------------------
    ("*/卫生计生/*/*", "health", True),
    ("卫生计生/*/*/*", "health", True),
    ("*/*/准生证/*", "health", True),
    ("*/*/业务办理/准生证", "health", True),
    ("*/*/独生子女证明申领/*", "health", True),
    ("*/*/再生育政策/*", "health", True),
    ("*/*/再生育子女申请/*", "health", True),
    ("*/*/二胎/*", "health", True),
    ("*/*/计生宣传/*", "health", True),
    ("*/*/独生子女补贴/*", "health", True),
    ("*/*/独生子女意外伤亡补助申请/*", "health", True),
    ("人口计生/*/*/*", "health", True),
    ("*/*/社区卫生服务中心/*", "health", True),
    ("*/*/合作医疗服务/*", "health", False),
    ("*/*/征地养老门医疗费报销/*", skip(MISMATCH), None),
    # ----- 水电气暖通信 utilities ---------------------------------------------------------------------------
    ("电力/*/*/*", "utilities", True),
    ("*/电力/*/*", "utilities", True),
    ("供水/*/*/*", "utilities", True),
    ("燃气/*/*/*", "utilities", True),
    ("*/燃气/*/*", "utilities", True),
    ("停水停电/*/*/*", "utilities", True),
    ("邮政通信/通信/*/*", "utilities", True),
    ("*/安装维护/线路安装/*", "utilities", True),
    ("*/安装维护/*/*", skip(MIXED), None),
    ("*/其他/网络环境/*", "utilities", False),
    ("*/燃气行业监管/*/*", skip(MIXED), None),
    ("水务/河道流域管理/河道疏通/*", "water_pollution", True),
    ("*/*/水资源信息/*", skip(MISMATCH), None),
    ("*/*/非上水供水/*", skip(MIXED), None),
    # ----- civil affairs, tax, archives ... (v1 "other") ---------------------------------------------------
    ("民政/婚姻管理/*/*", "other", True),
    ("民政/*/*/*", skip(MIXED), None),
    ("*/*/婚姻管理/*", "other", True),
    ("税务/*/*/*", "other", False),  # tax: no v1 category
    ("*/税务/*/*", "other", False),
    ("档案/*/*/*", skip(MIXED), None),
    ("*/*/公证服务/*", "other", False),  # notaries (some texts are about car / housing paperwork)
    ("*/公证服务/*/*", "other", False),
    ("*/邮政交通/物流服务/*", "other", False),  # logistics / parcels: no v1 category (post)
    ("*/邮政交通/快递邮送/*", "other", False),
    ("*/*/安置帮教/*", skip(MISMATCH), None),
    ("*/纪检监察/*/*", skip(MIXED), None),  # complaints about officials, any topic
    ("纪检监察/*/*/*", skip(MIXED), None),
    ("*/*/社区居民居住登记/*", skip(NO_V1), None),
    ("*/人员/*/*", skip(NO_V1), None),
    ("*/档案/*/*", skip(MIXED), None),
    ("*/侨务/*/*", skip(MISMATCH), None),  # texts are mostly ID-card questions (公安)
    ("侨务/*/*/*", skip(MISMATCH), None),
]

# ---------------------------------------------------------------------------------------------------------
# Handling unit (处置单位) -> v1 department code. Only units whose code is clear; see UNCLEAR_UNITS.

DEPARTMENTS = {
    # traffic police / police
    "公安局交通警察支队": "traffic_police",
    "公安局": "public_security",
    "公安局消防支队": "public_security",  # fire safety hazards are public_security in v1
    "消防大队": "public_security",
    "港务公安局": "public_security",
    # city management (城管) and its sanitation services
    "城市管理行政执法局": "urban_management",
    "数字城管专席": "urban_management",
    "数字城管指挥监督中心": "urban_management",
    "环卫局": "urban_management",
    "环境卫生管理局": "urban_management",
    "京环城市环境服务有限公司": "urban_management",  # street-cleaning contractor of the 环卫 service
    # housing and construction, municipal works, greenery (v1 default department of road_facility / greenery)
    "住房和城乡建设局": "housing_construction",
    "住房保障中心": "housing_construction",
    "住房保障和房产管理局": "housing_construction",
    "房屋征收局": "housing_construction",
    "房屋交易与产权管理中心": "housing_construction",
    "棚改办公室": "housing_construction",
    "市政管理局": "housing_construction",
    "市政工程维修公司": "housing_construction",
    "市政维修管理中心": "housing_construction",
    "园林管理局": "housing_construction",
    "公共绿化管理所": "housing_construction",
    # sub-district offices
    "街道办": "subdistrict_office",
    "街道办事处": "subdistrict_office",
    # utilities (power, water supply and gas companies, telecoms)
    "供电局": "public_utilities",
    "供电政府服务中心": "public_utilities",
    "电力工业局": "public_utilities",
    "威立雅水务有限公司": "public_utilities",
    "开源水务资产管理有限公司": "public_utilities",
    "水务集团公司": "public_utilities",
    "民生燃气股份有限公司": "public_utilities",
    "中国移动": "public_utilities",
    "电信局": "public_utilities",
    "中国联合网络通信股份有限公司": "public_utilities",
    "中国有线电视网络有限公司": "public_utilities",
    "宽带网络服务有限公司": "public_utilities",
    "中国铁塔股份有限公司": "public_utilities",
    # market regulation
    "工商局": "market_regulation",
    "工商行政管理局": "market_regulation",
    "食品药品监督管理局": "market_regulation",
    "物价监督检查局": "market_regulation",
    "物价监督局": "market_regulation",
    "质量技术监督局": "market_regulation",
    "烟草专卖局": "market_regulation",
    # education
    "教育局": "education",
    # human resources and social security
    "社会保险事业局": "human_resources_social_security",
    "劳动保障监察大队": "human_resources_social_security",
    "劳动监察大队": "human_resources_social_security",
    "人力资源和社会保障局": "human_resources_social_security",
    "人力资源和社会保障部社会保险事业管理中心": "human_resources_social_security",
    "人事劳动仲裁院": "human_resources_social_security",
    "劳动争议仲裁委员会": "human_resources_social_security",
    # health
    "卫生局": "health_commission",
    "卫生与计划生育委员会": "health_commission",
    "人口计划生育委员会": "health_commission",
    "人口和计划生育委员会": "health_commission",
    "爱卫办": "health_commission",
    # natural resources and planning
    "国土资源局": "natural_resources_planning",
    "国土资源执法大队": "natural_resources_planning",
    "规划委员会": "natural_resources_planning",
    "城市规划委员会": "natural_resources_planning",
    # transport (bureau and the public transport operators)
    "交通运输和港航管理局": "transport",
    "公共交通集团有限公司": "transport",
    "港航控股有限公司": "transport",  # ferry ports
    "轮渡": "transport",
    "海汽运输集团股份有限公司": "transport",  # coach operator
    "汽车火车": "transport",
    "美兰国际机场": "transport",
    "公交场站投资建设有限公司": "transport",
    # ecology and environment
    "环境保护局": "ecology_environment",
    "环保局": "ecology_environment",
    "生态环境保护局": "ecology_environment",
    # water authority
    "水务局": "water_resources",
    # government units with no v1 department of their own
    "民政局": "other",
    "国家税务局": "other",
    "地方税务局": "other",
    "司法局": "other",
    "财政局": "other",
    "海洋和渔业局": "other",
    "海洋与渔业局": "other",
    "农业局": "other",
    "林业局": "other",
    "农林局": "other",
    "农业林业局": "other",
    "气象局": "other",
    "档案局": "other",
    "档案管理局": "other",
    "残疾人联合会": "other",
    "妇女联合会": "other",
    "团委": "other",
    "民防局": "other",
    "机关事务管理局": "other",
    "商务局": "other",
    "发展和改革委员会": "other",
    "科学技术工业信息化局": "other",
    "安全生产监督管理局": "other",
    "文化体育和旅游发展局": "other",
    "文体局": "other",
    "文化体育局": "other",
    "旅游发展委员会": "other",
    "中级人民法院": "other",
    "纪委监察局": "other",
    "国家统计局": "other",
    "国有资产监督管理委员会": "other",
    "市政府国有资产监督管理委员会": "other",
    "国资局": "other",
    "市委对外宣传办公室": "other",
}

# Units left without a department: general government offices, service centres, development zones, ad-hoc
# project headquarters and state-owned investment / construction companies (they act for several bureaus),
# drainage maintenance (住建 or 水务: not clear), bookkeeping entries.
UNCLEAR_UNITS = {
    "人民政府", "人民政府办公室", "政府服务中心", "政务服务中心", "市政务中心", "市政府", "政府办",
    "无效数据", "民云支撑组", "信息中心", "经济开发区", "国家高新技术产业开发区管理委员会",
    "综合保税区管理委员会", "重点项目推进管理委员会", "坡博坡巷指挥部", "改造项目指挥部", "棚户区改造项目指挥部",
    "双创工作指挥部", "市政市容管理委员会", "市政市容管委会", "排水管道养护所", "城建集团有限公司",
    "城建设投资有限公司", "城投公司", "城市建设投资有限公司", "市建设投资有限公司", "地下综合管廊投资管理有限公司",
    "桥梁管理有限公司", "旅游文化投资控股集团有限公司", "招商建设投资有限公司", "国有资产经营有限公司",
    "城发展有限公司", "重点项目建设投资公司", "开发建设总公司", "菜篮子产业集团有限责任公司", "市场建设服务中心",
    "公共资源交易中心", "三江农场", "水产供销总公司", "燃气管理办", "土地征收办公室", "土地和房屋征收办公室",
}

# ---------------------------------------------------------------------------------------------------------

V1_CATEGORIES = [
    "clutter", "illegal_structure", "illegal_posting", "illegal_hanging", "street_vending", "illegal_drying",
    "illegal_digging", "littering_dumping", "illegal_discharge", "flyer_distribution", "noise_construction",
    "noise_social", "cooking_fumes", "dust_muck", "sanitation", "road_facility", "greenery", "water_pollution",
    "other_pollution", "parking_traffic", "property_management", "housing_demolition", "planning_construction",
    "public_transport", "public_security", "market_regulation", "education", "labor_social_security", "health",
    "utilities", "other",
]
V1_DEPARTMENTS = [
    "urban_management", "housing_construction", "natural_resources_planning", "ecology_environment",
    "public_security", "traffic_police", "transport", "water_resources", "market_regulation", "education",
    "human_resources_social_security", "health_commission", "subdistrict_office", "public_utilities", "other",
]
LEVEL_WEIGHT = (1, 2, 4, 8)  # l1, l2, l3, l4: a fixed deeper level outweighs all shallower ones together


class Rule:
    def __init__(self, index, path, target, sure):
        parts = path.split("/")
        if len(parts) != 4:
            raise ValueError(f"rule {path!r}: need 4 levels")
        self.index, self.path, self.parts, self.sure = index, path, parts, sure
        self.score = sum(w for w, p in zip(LEVEL_WEIGHT, parts) if p != "*")
        self.kind, self.gate, self.code, self.reason = "map", None, None, None
        if isinstance(target, str):
            self.code = target
            codes = [target]
        elif target[0] == "skip":
            self.kind, self.reason, codes = "skip", target[1], []
        else:
            self.kind = "gate"
            self.gate = [(re.compile(rx), code) for rx, code in target[1]]
            codes = [code for _, code in target[1] if code is not None]
        for code in codes:
            if code not in V1_CATEGORIES:
                raise ValueError(f"rule {path!r}: unknown v1 category {code!r}")
        if self.kind != "skip" and not isinstance(sure, bool):
            raise ValueError(f"rule {path!r}: sure must be True or False")

    def matches(self, levels):
        return all(p == "*" or p == v for p, v in zip(self.parts, levels))


RULES = [Rule(i, *r) for i, r in enumerate(CATEGORY_RULES)]
_dups = [p for p, k in collections.Counter(r.path for r in RULES).items() if k > 1]
assert not _dups, f"duplicate rule paths: {_dups}"
for _unit, _code in DEPARTMENTS.items():
    assert _code in V1_DEPARTMENTS, (_unit, _code)
assert not set(DEPARTMENTS) & UNCLEAR_UNITS


def decide_rule(levels):
    """The most specific rule matching a label path (None if no rule matches)."""
    best = [r for r in RULES if r.matches(levels)]
    if not best:
        return None
    top = max(r.score for r in best)
    best = [r for r in best if r.score == top]
    if len(best) > 1:
        raise ValueError(f"ambiguous rules for {'/'.join(levels)}: {[r.path for r in best]}")
    return best[0]


def map_row(row):
    """(output row or None, reason it was left out or None, rule)."""
    levels = (row["category_l1"], row["category"], row["category_l3"], row["category_l4"])
    rule = decide_rule(levels)
    if rule is None:
        return None, "no rule (rare path, not reviewed)", None
    if rule.kind == "skip":
        return None, rule.reason, rule
    code, sure = rule.code, rule.sure
    if rule.kind == "gate":
        code = "-"
        for rx, c in rule.gate:
            if rx.search(row["text"]):
                code = c
                break
        if code in ("-", None):
            return None, "keyword gate: this row's text does not match its path (row-level label noise)", rule
        if len(rule.gate) > 1:
            sure = False  # the keyword chose between two v1 categories
    out = {"id": row["id"], "source": "hk", "text": row["text"], "category": code}
    dept = DEPARTMENTS.get(row["department"])
    if dept is not None:
        out["department"] = dept
    out["sure"] = sure
    out["haikou"] = "/".join(levels)
    out["haikou_department"] = row["department"]
    return out, None, rule


def summary(total, mapped, left_out, unknown_units):
    """Markdown summary: rows per category, department coverage, rows left out and why."""
    lines = []
    by_cat = collections.Counter(r["category"] for r in mapped)
    by_cat_sure = collections.Counter(r["category"] for r in mapped if r["sure"])
    by_cat_dept = collections.Counter(r["category"] for r in mapped if "department" in r)
    n = len(mapped)
    with_dept = sum(1 for r in mapped if "department" in r)
    lines.append(f"{total:,} work orders → {n:,} mapped ({n / total:.1%}), {total - n:,} left out; "
                 f"{sum(1 for r in mapped if r['sure']):,} mapped rows sure, "
                 f"{with_dept:,} with a department ({with_dept / max(n, 1):.1%}).")
    lines.append("")
    lines.append("| v1 category | rows | sure | with department |")
    lines.append("|---|---:|---:|---:|")
    for c in V1_CATEGORIES:
        lines.append(f"| {c} | {by_cat[c]:,} | {by_cat_sure[c]:,} | {by_cat_dept[c]:,} |")
    lines.append(f"| **total** | **{n:,}** | **{sum(by_cat_sure.values()):,}** | **{with_dept:,}** |")
    lines.append("")
    by_dept = collections.Counter(r.get("department", "(none: unclear unit)") for r in mapped)
    lines.append("| department (from 处置单位) | rows |")
    lines.append("|---|---:|")
    for d in V1_DEPARTMENTS + ["(none: unclear unit)"]:
        if by_dept[d]:
            lines.append(f"| {d} | {by_dept[d]:,} |")
    lines.append("")
    reasons = collections.Counter(reason for reason, _ in left_out)
    lines.append("| left out because | rows |")
    lines.append("|---|---:|")
    for reason, k in reasons.most_common():
        lines.append(f"| {reason} | {k:,} |")
    lines.append("")
    paths = collections.Counter((reason, path) for reason, path in left_out)
    lines.append("Top paths left out (l1/l2/l3/l4):")
    lines.append("")
    lines.append("| path | rows | why |")
    lines.append("|---|---:|---|")
    for (reason, path), k in paths.most_common(25):
        lines.append(f"| {path} | {k:,} | {reason} |")
    if unknown_units:
        lines.append("")
        lines.append("Units in neither DEPARTMENTS nor UNCLEAR_UNITS (no department given): "
                     + ", ".join(f"{u} ({k})" for u, k in unknown_units.most_common()))
    return "\n".join(lines)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", default="/work/shared/data/haikou_train.jsonl")
    ap.add_argument("--stats-only", action="store_true", help="print only the summary (stderr)")
    args = ap.parse_args()

    total, mapped, left_out = 0, [], []
    unknown_units = collections.Counter()
    with open(args.data, encoding="utf-8") as f:
        for line in f:
            if not line.strip():
                continue
            row = json.loads(line)
            total += 1
            out, reason, _ = map_row(row)
            if out is None:
                path = "/".join((row["category_l1"], row["category"], row["category_l3"], row["category_l4"]))
                left_out.append((reason, path))
                continue
            if row["department"] not in DEPARTMENTS and row["department"] not in UNCLEAR_UNITS:
                unknown_units[row["department"]] += 1
            mapped.append(out)
    if not args.stats_only:
        w = sys.stdout
        for r in mapped:
            w.write(json.dumps(r, ensure_ascii=False) + "\n")
        w.flush()
    print(summary(total, mapped, left_out, unknown_units), file=sys.stderr)


if __name__ == "__main__":
    main()
