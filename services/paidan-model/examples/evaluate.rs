//! Metrics of a model directory on a labelled JSONL file (accuracy, macro-F1, sure-row accuracy,
//! ECE, review rate), as JSON:
//!
//! cargo run --release -p paidan-model --example evaluate -- models/default eval/sets/city_test.jsonl

use std::path::Path;

use paidan_model::{Classifier, read_rows};

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (dir, data) = (Path::new(&args[0]), Path::new(&args[1]));
    let c = Classifier::load(dir).expect("model");
    let (rows, _) = read_rows(data).expect("rows");
    let m = c.evaluate(&rows);
    println!("{}", serde_json::to_string_pretty(&m).unwrap());
}
