//! Grouped k-fold cross-validation: how recipes and hyper-parameters are chosen (never by a
//! test split), and where the shipped model's calibration and review operating point come from.
//!
//! Near-identical messages are grouped first, exactly as `eval/split.py` groups them (same title
//! of at least 4 characters, or character-4-gram Jaccard ≥ 0.5 of the texts), and a whole group
//! goes to one fold, chosen by SHA-256(`seed:` + the id of its first row) — so a repeat complaint
//! never sits on both sides of a fold boundary and the folds are the same on every machine.
//! Rows marked training-only (`eval = false`, e.g. mapped rows of another city, or taxonomy
//! phrases) join the training part of every fold and are never scored.
//!
//! This file groups rows, assigns folds and loads the sources; `score.rs` scores out-of-fold
//! predictions and runs the folds (`cross_validate`).

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::calibrate::{
    Coverage, ReviewRule, apply_category_prior, argmax, coverage_at, fit_temperature, head_metrics,
    softmax_t,
};
use crate::data::{Row, read_rows};
use crate::error::ModelError;
use crate::recipe::{LinearRecipe, Target, hash_rows, out_of_fold};
use crate::taxonomy::Taxonomy;

/// One labelled row with where it came from and how much it counts in training.
#[derive(Debug, Clone)]
pub struct Labelled {
    pub row: Row,
    /// Name of the source (file stem), reported per set.
    pub set: String,
    /// Loss weight (unsure rows and auxiliary sets count less).
    pub weight: f32,
    /// Scored in cross-validation (false: training-only).
    pub eval: bool,
}

fn shingles(text: &str) -> Vec<u64> {
    let chars: Vec<char> = text.chars().filter(|c| !c.is_whitespace()).collect();
    let mut out: Vec<u64> = if chars.len() < 4 {
        vec![hash_chars(&chars)]
    } else {
        chars.windows(4).map(hash_chars).collect()
    };
    out.sort_unstable();
    out.dedup();
    out
}

fn hash_chars(cs: &[char]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &c in cs {
        h ^= c as u64;
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

fn sorted_intersection(a: &[u64], b: &[u64]) -> usize {
    let (mut i, mut j, mut n) = (0, 0, 0);
    while i < a.len() && j < b.len() {
        match a[i].cmp(&b[j]) {
            std::cmp::Ordering::Less => i += 1,
            std::cmp::Ordering::Greater => j += 1,
            std::cmp::Ordering::Equal => {
                n += 1;
                i += 1;
                j += 1;
            }
        }
    }
    n
}

/// Group of every row (the index of the group's first row), as `eval/split.py` groups.
pub fn group_rows(rows: &[&Row]) -> Vec<usize> {
    let mut parent: Vec<usize> = (0..rows.len()).collect();
    fn find(p: &mut [usize], mut x: usize) -> usize {
        while p[x] != x {
            p[x] = p[p[x]];
            x = p[x];
        }
        x
    }
    fn union(p: &mut [usize], a: usize, b: usize) {
        let (a, b) = (find(p, a), find(p, b));
        if a != b {
            p[a.max(b)] = a.min(b);
        }
    }
    let mut by_title: HashMap<&str, usize> = HashMap::new();
    for (i, r) in rows.iter().enumerate() {
        let t = r.title.trim();
        if t.chars().count() >= 4 {
            match by_title.get(t) {
                Some(&j) => union(&mut parent, i, j),
                None => {
                    by_title.insert(t, i);
                }
            }
        }
    }
    let sh: Vec<Vec<u64>> = rows.iter().map(|r| shingles(&r.text)).collect();
    let mut index: HashMap<u64, Vec<usize>> = HashMap::new();
    for (i, s) in sh.iter().enumerate() {
        for &g in s {
            index.entry(g).or_default().push(i);
        }
    }
    let mut cand: HashMap<usize, usize> = HashMap::new();
    for (i, s) in sh.iter().enumerate() {
        cand.clear();
        for g in s {
            let post = &index[g];
            if post.len() <= 60 {
                for &j in post {
                    if j < i {
                        *cand.entry(j).or_insert(0) += 1;
                    }
                }
            }
        }
        let mut js: Vec<(usize, usize)> = cand.iter().map(|(&j, &n)| (j, n)).collect();
        js.sort_unstable();
        for (j, shared) in js {
            if shared * 4 < s.len().min(sh[j].len()) {
                continue;
            }
            let inter = sorted_intersection(s, &sh[j]);
            if inter as f64 / (s.len() + sh[j].len() - inter) as f64 >= 0.5 {
                union(&mut parent, i, j);
            }
        }
    }
    (0..rows.len()).map(|i| find(&mut parent, i)).collect()
}

/// Fold (0..k) of every row: its group's, by SHA-256(`seed:` + id (or text) of the group's
/// first row).
pub fn assign_folds(rows: &[&Row], k: usize, seed: &str) -> Vec<usize> {
    let groups = group_rows(rows);
    let k = k.max(1);
    let mut fold_of_group: HashMap<usize, usize> = HashMap::new();
    groups
        .iter()
        .map(|&g| {
            *fold_of_group.entry(g).or_insert_with(|| {
                let r = rows[g];
                let key = r.id.clone().unwrap_or_else(|| r.text.clone());
                let h = Sha256::digest(format!("{seed}:{key}").as_bytes());
                u32::from_be_bytes([h[0], h[1], h[2], h[3]]) as usize % k
            })
        })
        .collect()
}

/// Where labelled rows come from: scored sets, training-only sets with a weight, and the
/// taxonomy whose phrases become training-only pseudo-documents.
#[derive(Debug, Clone)]
pub struct Sources {
    /// Scored in CV (and trained on).
    pub data: Vec<PathBuf>,
    /// Training-only sets and their loss weight (e.g. mapped rows of another city).
    pub aux: Vec<(PathBuf, f32)>,
    /// Label sets and phrases; None = label sets from the data.
    pub taxonomy: Option<PathBuf>,
    /// Loss weight of rows with `sure` = false (multiplies the set's weight).
    pub unsure_weight: f32,
    /// Loss weight of each taxonomy phrase (0 = phrases unused).
    pub phrase_weight: f32,
}

/// Labelled rows with their label indices, the taxonomy and the label lists of both heads.
#[derive(Debug, Clone)]
pub struct LoadedSet {
    pub items: Vec<Labelled>,
    pub cats: Vec<Option<usize>>,
    pub deps: Vec<Option<usize>>,
    pub taxonomy: Taxonomy,
    pub categories: Vec<String>,
    pub departments: Vec<String>,
    /// `name sha256` of every file read, for provenance.
    pub digests: Vec<String>,
}

fn stem(p: &Path) -> String {
    p.file_stem().map_or_else(
        || p.display().to_string(),
        |s| s.to_string_lossy().into_owned(),
    )
}

/// Reads every source, checks labels against the taxonomy (a label it lacks is an error naming
/// file and line), and adds the taxonomy's phrases.
pub fn load_sources(src: &Sources, name: &str) -> Result<LoadedSet, ModelError> {
    let mut items = Vec::new();
    let mut digests = Vec::new();
    let mut paths: Vec<(PathBuf, f32, bool)> =
        src.data.iter().map(|p| (p.clone(), 1.0, true)).collect();
    paths.extend(src.aux.iter().map(|(p, w)| (p.clone(), *w, false)));
    let mut origin: Vec<(PathBuf, usize)> = Vec::new();
    for (p, w, eval) in &paths {
        let (rows, sha) = read_rows(p)?;
        digests.push(format!("{} {sha}", stem(p)));
        for r in rows {
            origin.push((p.clone(), r.line));
            let weight = if r.sure { *w } else { *w * src.unsure_weight };
            items.push(Labelled {
                row: r,
                set: stem(p),
                weight,
                eval: *eval,
            });
        }
    }
    if items.is_empty() {
        return Err(ModelError::Train("no rows in the data files".into()));
    }
    let taxonomy = match &src.taxonomy {
        Some(p) => Taxonomy::load(p)?,
        None => {
            let mut cats = BTreeSet::new();
            let mut deps = BTreeSet::new();
            for it in &items {
                cats.extend(it.row.category.iter().cloned());
                deps.extend(it.row.department.iter().cloned());
            }
            let cats: Vec<String> = cats.into_iter().collect();
            let deps: Vec<String> = deps.into_iter().collect();
            Taxonomy::from_codes(name, &cats, &deps)
        }
    };
    if src.phrase_weight > 0.0 {
        for c in taxonomy.categories() {
            for (i, ph) in c.phrases.iter().enumerate() {
                origin.push((PathBuf::from("taxonomy"), i + 1));
                items.push(Labelled {
                    row: Row {
                        line: i + 1,
                        id: Some(format!("phrase:{}:{}", c.code, i + 1)),
                        title: String::new(),
                        text: ph.clone(),
                        category: Some(c.code.clone()),
                        department: (!c.default_department.is_empty())
                            .then(|| c.default_department.clone()),
                        sure: true,
                    },
                    set: "taxonomy".into(),
                    weight: src.phrase_weight,
                    eval: false,
                });
            }
        }
    }
    let has_cat = items.iter().any(|i| i.row.category.is_some());
    let has_dep = items.iter().any(|i| i.row.department.is_some());
    let (categories, departments) = head_codes(&taxonomy, has_cat, has_dep)?;
    let index = |codes: &[String]| -> HashMap<String, usize> {
        codes
            .iter()
            .enumerate()
            .map(|(i, c)| (c.clone(), i))
            .collect()
    };
    let (ci, di) = (index(&categories), index(&departments));
    let mut cats = Vec::with_capacity(items.len());
    let mut deps = Vec::with_capacity(items.len());
    for (it, (path, line)) in items.iter().zip(&origin) {
        let look = |v: &Option<String>, ix: &HashMap<String, usize>, what: &str| match v {
            None => Ok(None),
            Some(c) => ix.get(c).map(|&i| Some(i)).ok_or_else(|| ModelError::Data {
                path: path.clone(),
                line: *line,
                msg: format!("{what} {c:?} is not in the taxonomy"),
            }),
        };
        cats.push(look(&it.row.category, &ci, "category")?);
        deps.push(look(&it.row.department, &di, "department")?);
    }
    Ok(LoadedSet {
        items,
        cats,
        deps,
        taxonomy,
        categories,
        departments,
        digests,
    })
}

impl LoadedSet {
    /// Training targets (label indices and loss weight) of every item.
    pub fn targets(&self) -> Vec<Target> {
        self.items
            .iter()
            .enumerate()
            .map(|(i, it)| Target {
                cat: self.cats[i],
                dep: self.deps[i],
                weight: it.weight,
            })
            .collect()
    }
}

/// Folds of the scored items of a loaded set (training-only items: None).
pub(crate) fn item_folds(set: &LoadedSet, k: usize, seed: &str) -> Vec<Option<usize>> {
    let idx: Vec<usize> = (0..set.items.len())
        .filter(|&i| set.items[i].eval)
        .collect();
    let rows: Vec<&Row> = idx.iter().map(|&i| &set.items[i].row).collect();
    let f = assign_folds(&rows, k, seed);
    let mut out = vec![None; set.items.len()];
    for (j, &i) in idx.iter().enumerate() {
        out[i] = Some(f[j]);
    }
    out
}

/// The label codes of each head, in taxonomy order: a head whose labels no row carries gets none
/// (data with labels of its own, as Haikou's, may have one head only).
pub(crate) fn head_codes(
    taxonomy: &Taxonomy,
    has_cat: bool,
    has_dep: bool,
) -> Result<(Vec<String>, Vec<String>), ModelError> {
    let codes = |on: bool, it: Vec<String>| if on { it } else { Vec::new() };
    let categories = codes(
        has_cat,
        taxonomy
            .categories()
            .iter()
            .map(|c| c.code.clone())
            .collect(),
    );
    let departments = codes(
        has_dep,
        taxonomy
            .departments()
            .iter()
            .map(|d| d.code.clone())
            .collect(),
    );
    if categories.is_empty() && departments.is_empty() {
        return Err(ModelError::Train(
            "no row has a category or department label".into(),
        ));
    }
    Ok((categories, departments))
}
mod score;
pub use score::*;

#[cfg(test)]
mod tests {
    use super::*;

    fn row(id: &str, title: &str, text: &str) -> Row {
        Row {
            line: 1,
            id: Some(id.into()),
            title: title.into(),
            text: text.into(),
            category: None,
            department: None,
            sure: true,
        }
    }

    #[test]
    fn groups_like_split_py() {
        let rows = [
            row(
                "a",
                "小区噪音扰民问题",
                "楼下的商铺每天晚上放音乐声音很大影响休息",
            ),
            row("b", "小区噪音扰民问题", "完全不同的一段文字内容描述"),
            row("c", "", "楼下的商铺每天晚上放音乐声音很大影响休息了"),
            row("d", "", "工地夜间施工噪音扰民凌晨还在打桩"),
            row("e", "短", "工地夜间施工噪音扰民凌晨还在打桩！"),
            row("f", "", "河道里垃圾很多没人清理"),
        ];
        let refs: Vec<&Row> = rows.iter().collect();
        let g = group_rows(&refs);
        // a–b by title, a–c by text, d–e by text (punctuation is a character), f alone.
        assert_eq!(g, [0, 0, 0, 3, 3, 5]);
        let folds = assign_folds(&refs, 5, "s");
        assert_eq!(folds[0], folds[1]);
        assert_eq!(folds[0], folds[2]);
        assert_eq!(folds[3], folds[4]);
        assert!(folds.iter().all(|&f| f < 5));
        assert_eq!(folds, assign_folds(&refs, 5, "s"), "deterministic");
    }
}
