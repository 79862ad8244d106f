//! Train a model directory until `paidan train` is wired:
//!
//! cargo run --release -p paidan-model --example train -- --data models/data/city_train.jsonl \
//!     --dev models/data/city_dev.jsonl --taxonomy models/taxonomy.toml --out models/default --seed 42
//!
//! Extra knobs: --epochs --dim --hidden --lr --batch --dropout --smoothing --unsure-weight --buckets
//! --max-chars --min-df --char-ngrams 2,3 --no-bigrams --target-accuracy --name. Prints the report.

use std::path::PathBuf;

use paidan_model::{TrainOptions, train};

fn main() {
    let mut o = TrainOptions::default();
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut i = 0;
    while i < args.len() {
        let v = || args.get(i + 1).cloned().unwrap_or_default();
        let mut take = true;
        match args[i].as_str() {
            "--data" => o.data = PathBuf::from(v()),
            "--dev" => o.dev = Some(PathBuf::from(v())),
            "--out" => o.out = PathBuf::from(v()),
            "--taxonomy" => o.taxonomy = Some(PathBuf::from(v())),
            "--seed" => o.seed = v().parse().expect("seed"),
            "--epochs" => o.epochs = v().parse().expect("epochs"),
            "--dim" => o.dim = v().parse().expect("dim"),
            "--hidden" => o.hidden = v().parse().expect("hidden"),
            "--lr" => o.learning_rate = v().parse().expect("lr"),
            "--wd" => o.weight_decay = v().parse().expect("wd"),
            "--batch" => o.batch_size = v().parse().expect("batch"),
            "--dropout" => o.dropout = v().parse().expect("dropout"),
            "--smoothing" => o.label_smoothing = v().parse().expect("smoothing"),
            "--unsure-weight" => o.unsure_weight = v().parse().expect("unsure weight"),
            "--target-accuracy" => o.target_accuracy = v().parse().expect("target"),
            "--buckets" => o.features.buckets = v().parse().expect("buckets"),
            "--max-chars" => o.features.max_chars = v().parse().expect("max chars"),
            "--min-df" => o.features.min_df = v().parse().expect("min df"),
            "--max-vocab" => o.features.max_vocab = v().parse().expect("max vocab"),
            "--char-ngrams" => {
                o.features.char_ngrams = v()
                    .split(',')
                    .filter(|s| !s.is_empty())
                    .map(|s| s.parse().expect("n"))
                    .collect()
            }
            "--name" => o.name = Some(v()),
            "--no-bigrams" => {
                o.features.word_bigrams = false;
                take = false;
            }
            other => panic!("unknown argument {other}"),
        }
        i += if take { 2 } else { 1 };
    }
    let mut last = String::new();
    let report = train(&o, &mut |p| {
        if (p.loss.is_some() || p.phase != paidan_model::TrainPhase::Train) && p.message != last {
            eprintln!("[{:?}] {}/{} {}", p.phase, p.done, p.total, p.message);
            last = p.message.clone();
        }
    })
    .unwrap_or_else(|e| {
        eprintln!("error: {e}");
        std::process::exit(1)
    });
    println!(
        "{}",
        serde_json::to_string_pretty(&report.config.metrics).unwrap()
    );
    eprintln!(
        "version {} in {:.1}s ({} train / {} dev rows)",
        report.version, report.seconds, report.train_rows, report.dev_rows
    );
}
