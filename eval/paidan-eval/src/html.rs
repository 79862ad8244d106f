//! One self-contained HTML report: tables plus inline SVG plots drawn with plotters.
//!
//! Nothing is loaded from the network: styles are inline, plots are inline `<svg>` elements.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;

use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use crate::error::{EvalError, Result};
use crate::metrics::{CoveragePoint, HeadReport, ReliabilityBin, thin_curve};
use crate::report::{Evaluation, Head, HeadDetail, worst_errors};

/// Options of the HTML report.
#[derive(Debug, Clone)]
pub struct HtmlOptions {
    /// Name of the data set shown in the header (usually the file path).
    pub data_name: String,
    /// How many most-confident errors to list per head.
    pub worst_errors: usize,
    /// Human-readable category names by code (e.g. from the taxonomy), shown next to codes in tables.
    pub category_names: BTreeMap<String, String>,
    /// Human-readable department names by code.
    pub department_names: BTreeMap<String, String>,
    /// Longest text excerpt shown per error, in characters.
    pub excerpt_chars: usize,
}

impl Default for HtmlOptions {
    fn default() -> Self {
        HtmlOptions {
            data_name: String::new(),
            worst_errors: 25,
            category_names: BTreeMap::new(),
            department_names: BTreeMap::new(),
            excerpt_chars: 300,
        }
    }
}

/// Escapes text for HTML element content and attribute values.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for ch in s.chars() {
        match ch {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

fn plot_err<E: std::fmt::Debug>(e: E) -> EvalError {
    EvalError::Plot(format!("{e:?}"))
}

/// Renders a plot into an SVG string.
fn svg(
    size: (u32, u32),
    draw: impl FnOnce(&DrawingArea<SVGBackend<'_>, Shift>) -> Result<()>,
) -> Result<String> {
    let mut buf = String::new();
    {
        let root = SVGBackend::with_string(&mut buf, size).into_drawing_area();
        root.fill(&WHITE).map_err(plot_err)?;
        draw(&root)?;
        root.present().map_err(plot_err)?;
    }
    Ok(buf)
}

const BLUE: RGBColor = RGBColor(31, 119, 180);
const ORANGE: RGBColor = RGBColor(255, 127, 14);
const GREY: RGBColor = RGBColor(150, 150, 150);

/// White → dark blue.
fn heat(share: f64) -> RGBColor {
    let s = share.clamp(0.0, 1.0);
    let lerp = |a: f64, b: f64| (a + (b - a) * s).round() as u8;
    RGBColor(lerp(255.0, 8.0), lerp(255.0, 48.0), lerp(255.0, 107.0))
}

/// Labels ordered for the confusion matrix: by gold support (descending), then predicted-only labels.
fn confusion_labels(report: &HeadReport) -> Vec<String> {
    let mut labels: Vec<(&String, u64)> = report
        .per_class
        .iter()
        .map(|(l, m)| (l, m.support))
        .collect();
    labels.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
    labels.into_iter().map(|(l, _)| l.clone()).collect()
}

/// Confusion-matrix heat map: rows gold, columns predicted, colour = share of the gold row, text = count.
/// Labels are ordered by gold support; the diagonal is outlined.
pub fn confusion_svg(report: &HeadReport) -> Result<String> {
    let labels = confusion_labels(report);
    let n = labels.len().max(1) as i32;
    let longest = labels.iter().map(|l| l.chars().count()).max().unwrap_or(4) as i32;
    let label_px = (longest * 7 + 14).clamp(40, 240);
    let cell: i32 = if n <= 10 {
        40
    } else if n <= 20 {
        28
    } else {
        22
    };
    let (left, top) = (label_px + 10, label_px + 40);
    let size = ((left + cell * n + 20) as u32, (top + cell * n + 20) as u32);
    svg(size, |root| {
        let small = ("sans-serif", 11).into_font().color(&BLACK);
        root.draw(&Text::new(
            "rows: gold label · columns: predicted label · colour: share of the gold row",
            (10, 8),
            ("sans-serif", 13)
                .into_font()
                .color(&BLACK)
                .pos(Pos::new(HPos::Left, VPos::Top)),
        ))
        .map_err(plot_err)?;
        for (i, label) in labels.iter().enumerate() {
            let i = i as i32;
            root.draw(&Text::new(
                label.clone(),
                (left - 6, top + i * cell + cell / 2),
                small.clone().pos(Pos::new(HPos::Right, VPos::Center)),
            ))
            .map_err(plot_err)?;
            root.draw(&Text::new(
                label.clone(),
                (left + i * cell + cell / 2, top - 6),
                small
                    .clone()
                    .transform(FontTransform::Rotate270)
                    .pos(Pos::new(HPos::Left, VPos::Center)),
            ))
            .map_err(plot_err)?;
        }
        let count_font = ("sans-serif", if cell >= 28 { 11 } else { 9 }).into_font();
        for (gi, gold) in labels.iter().enumerate() {
            let row = report.confusion.get(gold);
            let total: u64 = row.map(|r| r.values().sum()).unwrap_or(0);
            for (pi, pred) in labels.iter().enumerate() {
                let count = row.and_then(|r| r.get(pred)).copied().unwrap_or(0);
                let share = if total > 0 {
                    count as f64 / total as f64
                } else {
                    0.0
                };
                let (x, y) = (left + pi as i32 * cell, top + gi as i32 * cell);
                root.draw(&Rectangle::new(
                    [(x, y), (x + cell, y + cell)],
                    heat(share).filled(),
                ))
                .map_err(plot_err)?;
                let outline = if gi == pi {
                    GREY.stroke_width(2)
                } else {
                    RGBColor(235, 235, 235).stroke_width(1)
                };
                root.draw(&Rectangle::new([(x, y), (x + cell, y + cell)], outline))
                    .map_err(plot_err)?;
                if count > 0 {
                    let colour = if share > 0.5 { WHITE } else { BLACK };
                    root.draw(&Text::new(
                        count.to_string(),
                        (x + cell / 2, y + cell / 2),
                        count_font
                            .clone()
                            .color(&colour)
                            .pos(Pos::new(HPos::Center, VPos::Center)),
                    ))
                    .map_err(plot_err)?;
                }
            }
        }
        Ok(())
    })
}

/// Reliability diagram: accuracy per confidence bin against the diagonal of perfect calibration.
pub fn reliability_svg(bins: &[ReliabilityBin], ece: f64) -> Result<String> {
    svg((520, 420), |root| {
        let mut chart = ChartBuilder::on(root)
            .margin(12)
            .x_label_area_size(40)
            .y_label_area_size(50)
            .caption(format!("reliability (ECE {ece:.3})"), ("sans-serif", 15))
            .build_cartesian_2d(0f64..1f64, 0f64..1f64)
            .map_err(plot_err)?;
        chart
            .configure_mesh()
            .x_desc("confidence")
            .y_desc("accuracy")
            .x_label_formatter(&|v| format!("{v:.1}"))
            .y_label_formatter(&|v| format!("{v:.1}"))
            .draw()
            .map_err(plot_err)?;
        // Over-confidence (mean confidence above accuracy) shaded above the bar.
        chart
            .draw_series(bins.iter().filter_map(|b| {
                let (acc, conf) = (b.accuracy?, b.mean_confidence?);
                (conf > acc)
                    .then(|| Rectangle::new([(b.lo, acc), (b.hi, conf)], ORANGE.mix(0.4).filled()))
            }))
            .map_err(plot_err)?
            .label("over-confidence gap")
            .legend(|(x, y)| {
                Rectangle::new([(x, y - 5), (x + 12, y + 5)], ORANGE.mix(0.4).filled())
            });
        chart
            .draw_series(bins.iter().filter_map(|b| {
                let acc = b.accuracy?;
                Some(Rectangle::new(
                    [(b.lo, 0.0), (b.hi, acc)],
                    BLUE.mix(0.85).filled(),
                ))
            }))
            .map_err(plot_err)?
            .label("accuracy in bin")
            .legend(|(x, y)| Rectangle::new([(x, y - 5), (x + 12, y + 5)], BLUE.filled()));
        chart
            .draw_series(bins.iter().filter_map(|b| {
                let acc = b.accuracy?;
                Some(Rectangle::new(
                    [(b.lo, 0.0), (b.hi, acc)],
                    WHITE.stroke_width(1),
                ))
            }))
            .map_err(plot_err)?;
        chart
            .draw_series(bins.iter().filter_map(|b| {
                let conf = b.mean_confidence?;
                Some(PathElement::new(
                    [(b.lo, conf), (b.hi, conf)],
                    BLACK.stroke_width(2),
                ))
            }))
            .map_err(plot_err)?
            .label("mean confidence in bin")
            .legend(|(x, y)| PathElement::new([(x, y), (x + 12, y)], BLACK.stroke_width(2)));
        chart
            .draw_series(LineSeries::new(
                [(0.0, 0.0), (1.0, 1.0)],
                GREY.stroke_width(2),
            ))
            .map_err(plot_err)?
            .label("perfect calibration")
            .legend(|(x, y)| PathElement::new([(x, y), (x + 12, y)], GREY.stroke_width(2)));
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::UpperLeft)
            .background_style(WHITE.mix(0.85))
            .border_style(GREY)
            .label_font(("sans-serif", 11))
            .draw()
            .map_err(plot_err)?;
        Ok(())
    })
}

/// Histogram of top-1 confidences (20 bins).
pub fn confidence_histogram_svg(confidences: &[f64]) -> Result<String> {
    const BINS: usize = 20;
    let mut counts = [0u64; BINS];
    for &c in confidences {
        let c = if c.is_finite() {
            c.clamp(0.0, 1.0)
        } else {
            0.0
        };
        counts[((c * BINS as f64) as usize).min(BINS - 1)] += 1;
    }
    let max = counts.iter().copied().max().unwrap_or(0).max(1) as f64;
    svg((520, 420), |root| {
        let mut chart = ChartBuilder::on(root)
            .margin(12)
            .x_label_area_size(40)
            .y_label_area_size(55)
            .caption("confidence histogram", ("sans-serif", 15))
            .build_cartesian_2d(0f64..1f64, 0f64..max * 1.08)
            .map_err(plot_err)?;
        chart
            .configure_mesh()
            .x_desc("top-1 confidence")
            .y_desc("rows")
            .x_label_formatter(&|v| format!("{v:.1}"))
            .y_label_formatter(&|v| format!("{v:.0}"))
            .draw()
            .map_err(plot_err)?;
        chart
            .draw_series(counts.iter().enumerate().map(|(i, &n)| {
                let lo = i as f64 / BINS as f64;
                let hi = (i + 1) as f64 / BINS as f64;
                Rectangle::new([(lo, 0.0), (hi, n as f64)], BLUE.mix(0.8).filled())
            }))
            .map_err(plot_err)?;
        Ok(())
    })
}

/// Accuracy against coverage when only predictions with confidence ≥ t are answered automatically.
/// `operating_point` marks where the model's own review flag puts it: (coverage, accuracy).
pub fn coverage_svg(
    curve: &[CoveragePoint],
    operating_point: Option<(f64, f64)>,
) -> Result<String> {
    let pts = thin_curve(curve, 400);
    let lo = pts
        .iter()
        .map(|p| p.accuracy)
        .chain(operating_point.map(|p| p.1))
        .fold(1.0f64, f64::min);
    let y_lo = ((lo - 0.05) * 10.0).floor().max(0.0) / 10.0;
    svg((520, 420), |root| {
        let mut chart = ChartBuilder::on(root)
            .margin(12)
            .x_label_area_size(40)
            .y_label_area_size(50)
            .caption("accuracy vs coverage", ("sans-serif", 15))
            .build_cartesian_2d(0f64..1f64, y_lo..1.001f64)
            .map_err(plot_err)?;
        chart
            .configure_mesh()
            .x_desc("coverage (share answered without review)")
            .y_desc("accuracy on covered rows")
            .x_label_formatter(&|v| format!("{v:.1}"))
            .y_label_formatter(&|v| format!("{v:.2}"))
            .draw()
            .map_err(plot_err)?;
        chart
            .draw_series(LineSeries::new(
                pts.iter().map(|p| (p.coverage, p.accuracy)),
                BLUE.stroke_width(2),
            ))
            .map_err(plot_err)?
            .label("threshold on top-1 confidence")
            .legend(|(x, y)| PathElement::new([(x, y), (x + 12, y)], BLUE.stroke_width(2)));
        if let Some((cov, acc)) = operating_point {
            chart
                .draw_series([Circle::new((cov, acc), 6, ORANGE.filled())])
                .map_err(plot_err)?
                .label(format!(
                    "model's review flag: {:.0}% covered, {:.3}",
                    cov * 100.0,
                    acc
                ))
                .legend(|(x, y)| Circle::new((x + 6, y), 5, ORANGE.filled()));
        }
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::LowerLeft)
            .background_style(WHITE.mix(0.85))
            .border_style(GREY)
            .label_font(("sans-serif", 11))
            .draw()
            .map_err(plot_err)?;
        Ok(())
    })
}

fn fmt_opt(v: Option<f64>) -> String {
    v.map_or_else(|| "—".to_owned(), |v| format!("{v:.3}"))
}

fn label_cell(head: Head, code: &str, opts: &HtmlOptions) -> String {
    let names = match head {
        Head::Category => &opts.category_names,
        Head::Department => &opts.department_names,
    };
    match names.get(code) {
        Some(name) => format!("<code>{}</code> {}", escape(code), escape(name)),
        None => format!("<code>{}</code>", escape(code)),
    }
}

fn f1_colour(f1: f64) -> String {
    let c = heat(f1 * 0.6);
    format!("rgb({},{},{})", c.0, c.1, c.2)
}

fn excerpt(s: &str, max: usize) -> String {
    paidan_text::excerpt(&paidan_text::mask_pii(s), max)
}

const STYLE: &str = "body{font-family:system-ui,'Noto Sans CJK SC','Noto Sans SC',sans-serif;margin:24px;color:#222;max-width:1400px}\
h1{font-size:22px}h2{font-size:18px;border-bottom:1px solid #ccc;padding-bottom:4px;margin-top:32px}h3{font-size:15px}\
table{border-collapse:collapse;margin:8px 0;font-size:13px}th,td{border:1px solid #ddd;padding:3px 8px;text-align:right}\
th{background:#f3f3f3}td.l,th.l{text-align:left}td.id{white-space:nowrap}td.text{text-align:left;max-width:700px;font-size:12px}\
.plots{display:flex;flex-wrap:wrap;gap:16px;align-items:flex-start}.muted{color:#777;font-size:12px}";

/// Renders the whole report as one self-contained HTML document.
pub fn render_html(eval: &Evaluation, opts: &HtmlOptions) -> Result<String> {
    let r = &eval.report;
    let heads: Vec<(Head, &HeadReport, &HeadDetail)> = [Head::Category, Head::Department]
        .into_iter()
        .filter_map(|h| eval.head(h).map(|(r, d)| (h, r, d)))
        .collect();
    let mut h = String::new();
    let _ = write!(
        h,
        "<!DOCTYPE html>\n<html lang=\"zh\"><head><meta charset=\"utf-8\"><title>paidan eval — {}</title><style>{STYLE}</style></head><body>\n",
        escape(&r.model_version)
    );
    let _ = writeln!(
        h,
        "<h1>paidan eval report</h1><p>model <code>{}</code> on <code>{}</code>: {} rows.</p>",
        escape(&r.model_version),
        escape(&opts.data_name),
        r.n
    );

    // Summary.
    h.push_str("<section id=\"summary\"><h2>Summary</h2><table><tr><th class=\"l\">measure</th>");
    for (head, _, _) in &heads {
        let _ = write!(h, "<th>{}</th>", head.as_str());
    }
    h.push_str("</tr>\n");
    type Row<'a> = (
        &'a str,
        Box<dyn Fn(&HeadReport, &HeadDetail) -> String + 'a>,
    );
    let rows: Vec<Row<'_>> = vec![
        ("rows scored", Box::new(|_, d| d.n.to_string())),
        ("accuracy", Box::new(|r, _| format!("{:.3}", r.accuracy))),
        (
            "accuracy on sure rows",
            Box::new(|_, d| match d.accuracy_sure {
                Some(a) => format!("{a:.3} <span class=\"muted\">({} rows)</span>", d.n_sure),
                None => "—".into(),
            }),
        ),
        ("macro-F1", Box::new(|r, _| format!("{:.3}", r.macro_f1))),
        (
            "weighted-F1",
            Box::new(|r, _| format!("{:.3}", r.weighted_f1)),
        ),
        ("ECE (15 bins)", Box::new(|r, _| format!("{:.3}", r.ece))),
        ("classes", Box::new(|r, _| r.per_class.len().to_string())),
    ];
    for (name, f) in &rows {
        let _ = write!(h, "<tr><td class=\"l\">{name}</td>");
        for (_, rep, det) in &heads {
            let _ = write!(h, "<td>{}</td>", f(rep, det));
        }
        h.push_str("</tr>\n");
    }
    h.push_str("</table>\n<h3>Review flag</h3><table>");
    let _ = writeln!(
        h,
        "<tr><td class=\"l\">flagged for review</td><td>{:.1} %</td></tr>\
         <tr><td class=\"l\">accuracy on unflagged rows</td><td>{}</td></tr>\
         <tr><td class=\"l\">accuracy on flagged rows</td><td>{}</td></tr>\
         <tr><td class=\"l\">unflagged rows right on every head</td><td>{}</td></tr>",
        r.review.flagged_share * 100.0,
        fmt_opt(r.review.accuracy_unflagged),
        fmt_opt(r.review.accuracy_flagged),
        fmt_opt(r.review.all_heads_right_unflagged),
    );
    for a in &r.automation {
        let _ = writeln!(
            h,
            "<tr><td class=\"l\">auto-routed at ≥ {:.0} % right on every head</td><td>{:.1} % of rows (joint confidence ≥ {:.3}; {:.3} right)</td></tr>",
            a.target * 100.0,
            a.coverage * 100.0,
            a.threshold,
            a.accuracy
        );
    }
    let _ = writeln!(
        h,
        "</table><p class=\"muted\">Review accuracies are measured on the {} head; coverage uses the product of the heads' confidences.</p></section>",
        eval.primary_head().map_or("—", Head::as_str)
    );

    // Per-class tables.
    h.push_str("<section id=\"per-class\"><h2>Per class</h2><div class=\"plots\">\n");
    for (head, rep, _) in &heads {
        let _ = writeln!(
            h,
            "<div><h3>{}</h3><table><tr><th class=\"l\">class</th><th>precision</th><th>recall</th><th>F1</th><th>support</th></tr>",
            head.as_str()
        );
        let mut classes: Vec<_> = rep.per_class.iter().collect();
        classes.sort_by(|a, b| b.1.support.cmp(&a.1.support).then(a.0.cmp(b.0)));
        for (code, m) in classes {
            let _ = writeln!(
                h,
                "<tr><td class=\"l\">{}</td><td>{:.3}</td><td>{:.3}</td><td style=\"background:{}\">{:.3}</td><td>{}</td></tr>",
                label_cell(*head, code, opts),
                m.precision,
                m.recall,
                f1_colour(m.f1),
                m.f1,
                m.support
            );
        }
        h.push_str("</table></div>\n");
    }
    h.push_str("</div></section>\n");

    // Confusion matrices.
    h.push_str("<section id=\"confusion\"><h2>Confusion matrix</h2><p class=\"muted\">Colour: share of the gold row; number: count.</p>\n");
    for (head, rep, _) in &heads {
        let _ = writeln!(
            h,
            "<h3>{}</h3><div class=\"plot\">{}</div>",
            head.as_str(),
            confusion_svg(rep)?
        );
    }
    h.push_str("</section>\n");

    // Calibration.
    h.push_str("<section id=\"calibration\"><h2>Calibration</h2>\n");
    for (head, rep, det) in &heads {
        let _ = writeln!(
            h,
            "<h3>{}</h3><div class=\"plots\"><div class=\"plot\">{}</div><div class=\"plot\">{}</div></div>",
            head.as_str(),
            reliability_svg(&det.reliability, rep.ece)?,
            confidence_histogram_svg(&det.confidences)?
        );
    }
    h.push_str("</section>\n");

    // Coverage.
    h.push_str("<section id=\"coverage\"><h2>Accuracy vs coverage</h2><p class=\"muted\">Answer automatically only when the top-1 confidence reaches a threshold; everything else goes to review.</p><div class=\"plots\">\n");
    let primary = eval.primary_head();
    for (head, _, det) in &heads {
        let op = if Some(*head) == primary {
            r.review
                .accuracy_unflagged
                .map(|a| (1.0 - r.review.flagged_share, a))
        } else {
            None
        };
        let _ = writeln!(
            h,
            "<div><h3>{}</h3><div class=\"plot\">{}</div></div>",
            head.as_str(),
            coverage_svg(&det.coverage, op)?
        );
    }
    h.push_str("</div></section>\n");

    // Worst errors.
    h.push_str("<section id=\"errors\"><h2>Most confident errors</h2><p class=\"muted\">Phone numbers, ID numbers and similar are masked.</p>\n");
    for (head, _, _) in &heads {
        let idx = worst_errors(eval, *head, opts.worst_errors);
        let _ = writeln!(
            h,
            "<h3>{}</h3><table><tr><th class=\"l\">id</th><th class=\"l\">gold</th><th class=\"l\">predicted</th><th>confidence</th><th class=\"l\">text</th></tr>",
            head.as_str()
        );
        for i in idx {
            let row = &eval.rows[i];
            let pred = &eval.predictions[i];
            let (Some(gold), Some(out)) = (head.gold(row), head.output(pred)) else {
                continue;
            };
            let title = row
                .title
                .as_deref()
                .map(|t| format!("<b>{}</b> ", escape(&excerpt(t, 80))))
                .unwrap_or_default();
            let _ = writeln!(
                h,
                "<tr><td class=\"l id\">{}</td><td class=\"l\">{}</td><td class=\"l\">{}</td><td>{:.3}</td><td class=\"text\">{}{}</td></tr>",
                escape(&row.id),
                label_cell(*head, gold, opts),
                label_cell(*head, &out.label, opts),
                out.confidence,
                title,
                escape(&excerpt(&row.text, opts.excerpt_chars))
            );
        }
        h.push_str("</table>\n");
    }
    h.push_str("</section>\n</body></html>\n");
    Ok(h)
}

/// Renders the report and writes it to `path`.
pub fn write_html(path: &Path, eval: &Evaluation, opts: &HtmlOptions) -> Result<()> {
    let html = render_html(eval, opts)?;
    std::fs::write(path, html).map_err(|e| EvalError::io(path, e))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::tests::sample;

    #[test]
    fn escape_table() {
        let cases = [
            ("a<b>&\"c'", "a&lt;b&gt;&amp;&quot;c&#39;"),
            ("路灯 不亮", "路灯 不亮"),
            ("", ""),
        ];
        for (input, want) in cases {
            assert_eq!(escape(input), want);
        }
    }

    #[test]
    fn report_is_self_contained_with_all_sections_and_plots() {
        let e = sample();
        let opts = HtmlOptions {
            data_name: "toy.jsonl".into(),
            category_names: [("noise".to_owned(), "噪声<扰民>".to_owned())].into(),
            ..HtmlOptions::default()
        };
        let html = render_html(&e, &opts).unwrap();
        for id in [
            "summary",
            "per-class",
            "confusion",
            "calibration",
            "coverage",
            "errors",
        ] {
            assert!(
                html.contains(&format!("<section id=\"{id}\">")),
                "missing section {id}"
            );
        }
        // Two heads × (confusion + reliability + histogram + coverage).
        assert_eq!(html.matches("<svg").count(), 8);
        assert_eq!(html.matches("</svg>").count(), 8);
        let lower = html.to_lowercase();
        for bad in [
            "src=\"http",
            "href=\"http",
            "src='http",
            "href='http",
            "<script",
            "<link",
            "@import",
            "url(",
        ] {
            assert!(!lower.contains(bad), "external reference {bad:?} in report");
        }
        // Label names are escaped, texts are masked, the most confident error is listed.
        assert!(html.contains("噪声&lt;扰民&gt;"));
        assert!(!html.contains("13812345678"), "phone number not masked");
        assert!(html.contains("<td class=\"l id\">r2</td>"));
        assert!(html.contains("model <code>test-v1</code>"));
    }

    #[test]
    fn category_only_report_has_four_plots() {
        let e = crate::report::evaluate_predictions(
            vec![
                crate::rows::EvalRow::labelled("a", "文本", "x"),
                crate::rows::EvalRow::labelled("b", "文本", "y"),
            ],
            vec![
                crate::report::tests::pred(Some(("x", 0.9)), None, false),
                crate::report::tests::pred(Some(("x", 0.6)), None, true),
            ],
            "seven",
        )
        .unwrap();
        let html = render_html(&e, &HtmlOptions::default()).unwrap();
        assert_eq!(html.matches("<svg").count(), 4);
        assert!(!html.contains("<h3>department</h3>"));
    }

    #[test]
    fn confusion_svg_counts_cells() {
        let e = sample();
        let svg = confusion_svg(e.report.category.as_ref().unwrap()).unwrap();
        assert!(svg.starts_with("<svg"));
        // 2 labels → 4 cells + 2 diagonal outlines.
        assert!(svg.matches("<rect").count() >= 6);
    }
}
