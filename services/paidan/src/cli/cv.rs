//! `paidan cv`: grouped k-fold cross-validation of the linear recipe — how recipes and
//! hyper-parameters are chosen (never on a test split). `--folds-out` writes every row with its
//! fold and out-of-fold prediction; `eval/baselines/cv_baseline.py --folds` scores the Python
//! baseline on exactly those folds.

use std::io::Write;
use std::path::PathBuf;

use anyhow::Context;
use paidan_model::cv::{CvHead, CvOptions, CvReport, Sources, cross_validate};
use paidan_model::linear::LinearOptions;
use paidan_model::recipe::LinearRecipe;
use paidan_model::tfidf::TfidfConfig;

/// Recipe and data-weighting flags shared by `paidan train` and `paidan cv` (defaults: the
/// recipe chosen by CV, eval/SCORES.md).
#[derive(clap::Args, Debug, Clone)]
pub struct RecipeArgs {
    /// Training-only JSONL (e.g. mapped rows of another city); repeatable.
    #[arg(long)]
    pub aux: Vec<PathBuf>,
    /// Loss weight of the --aux rows.
    #[arg(long, default_value_t = 0.2)]
    pub aux_weight: f32,
    /// Loss weight of rows labelled `sure: false`.
    #[arg(long, default_value_t = 0.5)]
    pub unsure_weight: f32,
    /// Loss weight of each taxonomy phrase (pseudo-documents; 0 = unused).
    #[arg(long, default_value_t = 1.0)]
    pub phrase_weight: f32,
    /// `svm` (one-vs-rest squared hinge, dual coordinate descent) or `logistic` (candle, Adam).
    #[arg(long)]
    pub solver: Option<String>,
    /// SVM inverse regularisation strength.
    #[arg(long)]
    pub c: Option<f64>,
    #[arg(long)]
    pub epochs: Option<usize>,
    #[arg(long)]
    pub lr: Option<f64>,
    /// L2 penalty (decoupled weight decay of the rows a batch uses).
    #[arg(long)]
    pub weight_decay: Option<f64>,
    #[arg(long)]
    pub batch: Option<usize>,
    #[arg(long)]
    pub label_smoothing: Option<f32>,
    /// N-grams in fewer training documents are dropped.
    #[arg(long)]
    pub min_df: Option<usize>,
    #[arg(long)]
    pub max_features: Option<usize>,
    /// Title words as features of their own.
    #[arg(long)]
    pub title_words: bool,
    /// Characters of title + text read.
    #[arg(long)]
    pub max_chars: Option<usize>,
    /// Character n-grams from 1 to this (≤ 4).
    #[arg(long)]
    pub char_max: Option<usize>,
    /// Word n-grams from 1 to this (≤ 2).
    #[arg(long)]
    pub word_max: Option<usize>,
    /// NBSVM: scale each one-vs-rest problem's features by the class's log-count ratio.
    #[arg(long)]
    pub nb: bool,
}

impl RecipeArgs {
    pub fn recipe(&self) -> LinearRecipe {
        let mut tfidf = TfidfConfig::default();
        let mut linear = LinearOptions::default();
        if let Some(v) = &self.solver {
            linear.solver = v.clone();
        }
        if let Some(v) = self.c {
            linear.c = v;
        }
        if let Some(v) = self.epochs {
            linear.epochs = v;
        }
        if let Some(v) = self.lr {
            linear.learning_rate = v;
        }
        if let Some(v) = self.weight_decay {
            linear.weight_decay = v;
        }
        if let Some(v) = self.batch {
            linear.batch_size = v;
        }
        if let Some(v) = self.label_smoothing {
            linear.label_smoothing = v;
        }
        if let Some(v) = self.min_df {
            tfidf.min_df = v;
        }
        if self.title_words {
            tfidf.title_words = true;
        }
        if let Some(v) = self.max_chars {
            tfidf.max_chars = v;
        }
        if let Some(v) = self.max_features {
            tfidf.max_features = v;
        }
        if let Some(v) = self.char_max {
            tfidf.char_max_n = v.min(4);
        }
        if let Some(v) = self.word_max {
            tfidf.word_max_n = v.min(2);
        }
        if self.nb {
            linear.nb = true;
        }
        LinearRecipe { tfidf, linear }
    }

    pub fn sources(&self, data: Vec<PathBuf>, taxonomy: Option<PathBuf>) -> Sources {
        Sources {
            data,
            aux: self
                .aux
                .iter()
                .map(|p| (p.clone(), self.aux_weight))
                .collect(),
            taxonomy,
            unsure_weight: self.unsure_weight,
            phrase_weight: self.phrase_weight,
        }
    }
}

#[derive(clap::Args, Debug)]
pub struct CvArgs {
    /// Labelled JSONL that is folded and scored; repeatable (grouped together).
    #[arg(long, required = true)]
    pub data: Vec<PathBuf>,
    /// Taxonomy TOML (label sets and phrases) [default: label sets from the data].
    #[arg(long)]
    pub taxonomy: Option<PathBuf>,
    #[arg(long, default_value_t = 5)]
    pub folds: usize,
    /// Salt of the fold assignment (same salt, same folds).
    #[arg(long, default_value = "paidan-cv")]
    pub fold_seed: String,
    /// Training seed.
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// Random folds, each row on its own (published anchors use random splits); by default
    /// near-duplicates stay in one fold.
    #[arg(long)]
    pub ungrouped: bool,
    /// Folds trained at once.
    #[arg(long, default_value_t = 2)]
    pub threads: usize,
    /// Write the report as JSON here.
    #[arg(long)]
    pub json: Option<PathBuf>,
    /// Write every row with its fold and out-of-fold prediction (JSONL).
    #[arg(long)]
    pub folds_out: Option<PathBuf>,
    #[command(flatten)]
    pub recipe: RecipeArgs,
}

fn head(name: &str, h: &Option<CvHead>) -> String {
    match h {
        None => format!("{name:<11} (no labels)"),
        Some(h) => format!(
            "{name:<11} acc {:.4}  macro-F1 {:.4}  sure-acc {:.4} ({} rows)  ECE {:.4} (uncalibrated {:.4}, T={:.2})",
            h.accuracy,
            h.macro_f1,
            h.accuracy_sure,
            h.sure_rows,
            h.ece,
            h.ece_uncalibrated,
            h.temperature
        ),
    }
}

pub fn print_report(r: &CvReport) {
    println!(
        "{}-fold {} CV ({} rows scored, {} training-only) in {:.1}s",
        r.folds,
        if r.ungrouped {
            "random (ungrouped)"
        } else {
            "grouped"
        },
        r.rows_scored,
        r.rows_train_only,
        r.seconds
    );
    println!("{}", head("category", &r.category));
    println!("{}", head("department", &r.department));
    if let Some(a) = r.department_joint_accuracy {
        println!(
            "department jointly with category (prior weight {:.2}): acc {a:.4}",
            r.category_prior
        );
    }
    if let (Some(a), Some(c)) = (r.department_served_accuracy, r.route_below) {
        println!("department served with the routing table below p={c:.2}: acc {a:.4}");
    }
    for c in &r.automation {
        println!(
            "auto-routed at ≥{:.0}% right: coverage {:.1}% (threshold {:.3}, {:.4} right on {} rows)",
            c.target * 100.0,
            c.coverage * 100.0,
            c.threshold,
            c.accuracy,
            c.accepted
        );
    }
    for (k, s) in &r.per_set {
        let f = |v: Option<f64>| v.map_or("-".into(), |v| format!("{v:.4}"));
        println!(
            "  {k:<24} {:>6} rows  category {}  department {}",
            s.rows,
            f(s.category_accuracy),
            f(s.department_accuracy)
        );
    }
}

pub fn run(a: CvArgs) -> anyhow::Result<()> {
    let opts = CvOptions {
        sources: a.recipe.sources(a.data.clone(), a.taxonomy.clone()),
        folds: a.folds,
        fold_seed: a.fold_seed.clone(),
        seed: a.seed,
        recipe: a.recipe.recipe(),
        threads: a.threads,
        targets: vec![0.95, 0.98],
        ungrouped: a.ungrouped,
    };
    let bar = super::progress::bar(a.folds as u64, "folds");
    let (report, rows) = cross_validate(&opts, &|_| bar.inc(1))?;
    bar.finish_and_clear();
    print_report(&report);
    if let Some(p) = &a.json {
        std::fs::write(p, serde_json::to_string_pretty(&report)? + "\n")
            .with_context(|| format!("writing {}", p.display()))?;
    }
    if let Some(p) = &a.folds_out {
        let f = std::fs::File::create(p).with_context(|| format!("creating {}", p.display()))?;
        let mut w = std::io::BufWriter::new(f);
        for r in &rows {
            serde_json::to_writer(&mut w, r)?;
            w.write_all(b"\n")?;
        }
        w.flush()?;
    }
    Ok(())
}
