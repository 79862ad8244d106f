//! Stand-in for `paidan eval` / `paidan compare` until the CLI wires them (same library calls).
//!
//! ```text
//! cargo run --release -p paidan-eval --example eval -- eval --model models/default --data eval/sets/city_test.jsonl \
//!     [--json OUT.json] [--html OUT.html] [--predictions OUT.jsonl]
//! cargo run --release -p paidan-eval --example eval -- compare --model A --model B --data EVAL.jsonl [--json OUT.json]
//! cargo run --release -p paidan-eval --example eval -- train --data TRAIN.jsonl --dev DEV.jsonl --out DIR
//! ```
//! `train` trains with the library defaults and labels from the data (as `paidan train` without `--taxonomy`);
//! `eval/scores.sh` uses it for the 7-class benchmark.

use std::path::PathBuf;
use std::process::ExitCode;

use paidan_eval::{EvalOutputs, render_comparison_text, render_report_text, run_compare, run_eval};

fn usage() -> ExitCode {
    eprintln!(
        "usage: eval eval --model DIR --data FILE [--json OUT] [--html OUT] [--predictions OUT]\n       eval compare --model A --model B --data FILE [--json OUT]\n       eval train --data FILE --dev FILE --out DIR"
    );
    ExitCode::from(2)
}

fn progress() -> impl FnMut(usize, usize) {
    let mut last = 0;
    move |done, total| {
        if done == total || done >= last + 1024 {
            last = done;
            eprint!("\r{done}/{total} rows");
            if done == total {
                eprintln!();
            }
        }
    }
}

fn main() -> ExitCode {
    let mut args = std::env::args().skip(1);
    let Some(cmd) = args.next() else {
        return usage();
    };
    let (mut models, mut data, mut json, mut html, mut preds) =
        (Vec::new(), None, None, None, None);
    let (mut dev, mut out) = (None, None);
    while let Some(flag) = args.next() {
        let Some(value) = args.next() else {
            return usage();
        };
        let value = PathBuf::from(value);
        match flag.as_str() {
            "--model" => models.push(value),
            "--dev" => dev = Some(value),
            "--out" => out = Some(value),
            "--data" => data = Some(value),
            "--json" => json = Some(value),
            "--html" => html = Some(value),
            "--predictions" => preds = Some(value),
            _ => return usage(),
        }
    }
    let Some(data) = data else { return usage() };
    if cmd == "train" {
        let Some(out) = out else { return usage() };
        let opts = paidan_model::TrainOptions {
            data,
            dev,
            out,
            ..paidan_model::TrainOptions::default()
        };
        return match paidan_model::train(&opts, &mut |_| {}) {
            Ok(r) => {
                println!(
                    "trained {} on {} rows ({} dev) in {:.1} s -> {}",
                    r.version,
                    r.train_rows,
                    r.dev_rows,
                    r.seconds,
                    r.out.display()
                );
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("error: {e}");
                ExitCode::FAILURE
            }
        };
    }
    let result = match (cmd.as_str(), models.as_slice()) {
        ("eval", [model]) => run_eval(
            model,
            &data,
            EvalOutputs {
                json: json.as_deref(),
                html: html.as_deref(),
                predictions: preds.as_deref(),
            },
            &mut progress(),
        )
        .map(|e| render_report_text(&e.report)),
        ("compare", [a, b]) => run_compare(a, b, &data, &mut progress()).and_then(|c| {
            if let Some(p) = &json {
                let text = serde_json::to_string_pretty(&c)?;
                std::fs::write(p, text + "\n").map_err(|e| paidan_eval::EvalError::Io {
                    path: p.clone(),
                    source: e,
                })?;
            }
            Ok(render_comparison_text(&c))
        }),
        _ => return usage(),
    };
    match result {
        Ok(text) => {
            print!("{text}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
