//! The candle model: an embedding bag (mean of the embeddings of all feature ids of a complaint),
//! an optional hidden layer, and two softmax heads (category, department).

use candle_core::{D, DType, Device, Module, Tensor};
use candle_nn::{Linear, VarBuilder};
use serde::{Deserialize, Serialize};

/// Model hyper-parameters (stored in config.json).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Config {
    /// Rows of the embedding table (vocabulary + hash buckets).
    pub num_features: usize,
    /// Embedding width.
    pub dim: usize,
    /// Hidden layer width after the bag (ReLU); 0 = heads read the bag directly.
    pub hidden: usize,
    /// Category classes; 0 = no category head.
    pub num_categories: usize,
    /// Department classes; 0 = no department head.
    pub num_departments: usize,
}

impl Config {
    /// Width of the representation the heads read.
    pub fn head_input(&self) -> usize {
        if self.hidden > 0 {
            self.hidden
        } else {
            self.dim
        }
    }
}

/// A batch of bags in the form candle can differentiate through: the distinct feature ids of the
/// batch and a (batch × distinct) matrix of per-document weights (count / document length).
#[derive(Debug)]
pub struct Bags {
    pub ids: Tensor,
    pub weights: Tensor,
}

impl Bags {
    /// Packs feature-id lists (one per document) into [`Bags`].
    pub fn new(docs: &[&[u32]], device: &Device) -> candle_core::Result<Bags> {
        let mut slot: std::collections::HashMap<u32, usize> = std::collections::HashMap::new();
        let mut ids: Vec<u32> = Vec::new();
        for d in docs {
            for &id in *d {
                slot.entry(id).or_insert_with(|| {
                    ids.push(id);
                    ids.len() - 1
                });
            }
        }
        let u = ids.len().max(1);
        if ids.is_empty() {
            ids.push(0);
        }
        let mut w = vec![0f32; docs.len() * u];
        for (b, d) in docs.iter().enumerate() {
            if d.is_empty() {
                continue;
            }
            let inc = 1.0 / d.len() as f32;
            for id in *d {
                w[b * u + slot[id]] += inc;
            }
        }
        Ok(Bags {
            ids: Tensor::from_vec(ids, u, device)?,
            weights: Tensor::from_vec(w, (docs.len(), u), device)?,
        })
    }
}

/// Logits of both heads (None for a head the model does not have).
#[derive(Debug)]
pub struct HeadLogits {
    pub category: Option<Tensor>,
    pub department: Option<Tensor>,
}

/// Embedding bag → [hidden ReLU] → category / department heads.
#[derive(Debug, Clone)]
pub struct Model {
    embedding: Tensor,
    hidden: Option<Linear>,
    category: Option<Linear>,
    department: Option<Linear>,
    cfg: Config,
}

impl Model {
    /// Builds (training: from a VarMap-backed builder) or loads (serving: from mmaped safetensors)
    /// the model. Tensor names: `embedding`, `hidden.{weight,bias}`, `category.{weight,bias}`,
    /// `department.{weight,bias}`.
    pub fn new(vb: VarBuilder<'_>, cfg: &Config) -> candle_core::Result<Model> {
        let embedding = vb.get((cfg.num_features, cfg.dim), "embedding")?;
        let hidden = if cfg.hidden > 0 {
            Some(candle_nn::linear(cfg.dim, cfg.hidden, vb.pp("hidden"))?)
        } else {
            None
        };
        let h = cfg.head_input();
        let category = if cfg.num_categories > 0 {
            Some(candle_nn::linear(h, cfg.num_categories, vb.pp("category"))?)
        } else {
            None
        };
        let department = if cfg.num_departments > 0 {
            Some(candle_nn::linear(
                h,
                cfg.num_departments,
                vb.pp("department"),
            )?)
        } else {
            None
        };
        Ok(Model {
            embedding,
            hidden,
            category,
            department,
            cfg: cfg.clone(),
        })
    }

    pub fn config(&self) -> &Config {
        &self.cfg
    }

    /// The bag representation that the heads read (after the hidden layer, if any).
    pub fn represent(&self, bags: &Bags) -> candle_core::Result<Tensor> {
        let rows = self.embedding.index_select(&bags.ids, 0)?;
        let x = bags.weights.matmul(&rows)?;
        self.after_bag(x)
    }

    /// [`Model::represent`] with inverted dropout of probability `p` on the bag, the mask drawn from
    /// `rng` so that training stays deterministic given the seed.
    pub fn represent_with_mask(
        &self,
        bags: &Bags,
        p: f32,
        rng: &mut impl rand::Rng,
    ) -> candle_core::Result<Tensor> {
        let rows = self.embedding.index_select(&bags.ids, 0)?;
        self.represent_bag(bags.weights.matmul(&rows)?, p, rng)
    }

    /// The representation from an already computed bag (batch × dim: the mean of each
    /// document's embedding rows), with inverted dropout `p`. Training computes the bag sparsely
    /// outside candle (`crate::sparse`), differentiates from here on, and updates only the
    /// embedding rows a batch used; [`Model::represent`] is the same computation in candle.
    pub fn represent_bag(
        &self,
        mut x: Tensor,
        p: f32,
        rng: &mut impl rand::Rng,
    ) -> candle_core::Result<Tensor> {
        if p > 0.0 {
            let (b, d) = x.dims2()?;
            let keep = 1.0 / (1.0 - p);
            let mask: Vec<f32> = (0..b * d)
                .map(|_| if rng.random::<f32>() < p { 0.0 } else { keep })
                .collect();
            let m = Tensor::from_vec(mask, (b, d), x.device())?;
            x = (x * m)?;
        }
        self.after_bag(x)
    }

    fn after_bag(&self, x: Tensor) -> candle_core::Result<Tensor> {
        match &self.hidden {
            Some(h) => h.forward(&x)?.relu(),
            None => Ok(x),
        }
    }

    /// Head logits from a representation.
    pub fn heads(&self, x: &Tensor) -> candle_core::Result<HeadLogits> {
        Ok(HeadLogits {
            category: self.category.as_ref().map(|l| l.forward(x)).transpose()?,
            department: self.department.as_ref().map(|l| l.forward(x)).transpose()?,
        })
    }

    /// Logits of both heads (no dropout).
    pub fn forward(&self, bags: &Bags) -> candle_core::Result<HeadLogits> {
        self.heads(&self.represent(bags)?)
    }

    /// Plain f32 copies of the weights for the allocation-free serving path.
    pub fn dense(&self) -> candle_core::Result<DenseModel> {
        fn lin(l: &Option<Linear>) -> candle_core::Result<Option<DenseLinear>> {
            l.as_ref()
                .map(|l| {
                    let w = l.weight().to_dtype(DType::F32)?;
                    let (out, inp) = w.dims2()?;
                    Ok(DenseLinear {
                        out,
                        inp,
                        weight: w.flatten_all()?.to_vec1()?,
                        bias: match l.bias() {
                            Some(b) => b.to_dtype(DType::F32)?.to_vec1()?,
                            None => vec![0.0; out],
                        },
                    })
                })
                .transpose()
        }
        Ok(DenseModel {
            dim: self.cfg.dim,
            embedding: self
                .embedding
                .to_dtype(DType::F32)?
                .flatten_all()?
                .to_vec1()?,
            hidden: lin(&self.hidden)?,
            category: lin(&self.category)?,
            department: lin(&self.department)?,
        })
    }
}

/// Weighted cross-entropy with label smoothing. `targets[i]` = class or None (row has no label for
/// this head); `weights[i]` = row weight. Returns None when no row has a label.
pub fn weighted_cross_entropy(
    logits: &Tensor,
    targets: &[Option<usize>],
    weights: &[f32],
    smoothing: f32,
) -> candle_core::Result<Option<Tensor>> {
    let (b, c) = logits.dims2()?;
    let mut t = vec![0f32; b * c];
    let mut total = 0f32;
    for (i, (tg, w)) in targets.iter().zip(weights).enumerate() {
        if let Some(k) = tg {
            let off = smoothing * w / c as f32;
            for j in 0..c {
                t[i * c + j] = off;
            }
            t[i * c + k] += (1.0 - smoothing) * w;
            total += w;
        }
    }
    if total <= 0.0 {
        return Ok(None);
    }
    let t = Tensor::from_vec(t, (b, c), logits.device())?;
    let logp = candle_nn::ops::log_softmax(logits, D::Minus1)?;
    let loss = (logp * t)?
        .sum_all()?
        .neg()?
        .affine(1.0 / f64::from(total), 0.0)?;
    Ok(Some(loss))
}

/// One linear layer as plain row-major f32 (out × in).
#[derive(Debug, Clone)]
pub struct DenseLinear {
    pub out: usize,
    pub inp: usize,
    pub weight: Vec<f32>,
    pub bias: Vec<f32>,
}

impl DenseLinear {
    fn apply(&self, x: &[f32], y: &mut Vec<f32>) {
        y.clear();
        for o in 0..self.out {
            let row = &self.weight[o * self.inp..(o + 1) * self.inp];
            let mut s = self.bias[o];
            for (a, b) in row.iter().zip(x) {
                s += a * b;
            }
            y.push(s);
        }
    }
}

/// The same network as [`Model`] evaluated one document at a time without tensors: summing
/// embedding rows is the whole cost, and candle's per-op overhead would dominate at this size.
/// Tested to agree with [`Model::forward`].
#[derive(Debug, Clone)]
pub struct DenseModel {
    dim: usize,
    embedding: Vec<f32>,
    hidden: Option<DenseLinear>,
    category: Option<DenseLinear>,
    department: Option<DenseLinear>,
}

impl DenseModel {
    /// Logits (category, department) for one document's feature ids.
    pub fn logits(&self, ids: &[u32]) -> (Option<Vec<f32>>, Option<Vec<f32>>) {
        let d = self.dim;
        let mut bag = vec![0f32; d];
        for &id in ids {
            let row = &self.embedding[id as usize * d..(id as usize + 1) * d];
            for (a, b) in bag.iter_mut().zip(row) {
                *a += b;
            }
        }
        if !ids.is_empty() {
            let inv = 1.0 / ids.len() as f32;
            bag.iter_mut().for_each(|a| *a *= inv);
        }
        let x = match &self.hidden {
            Some(h) => {
                let mut y = Vec::with_capacity(h.out);
                h.apply(&bag, &mut y);
                y.iter_mut().for_each(|v| *v = v.max(0.0));
                y
            }
            None => bag,
        };
        let head = |l: &Option<DenseLinear>| {
            l.as_ref().map(|l| {
                let mut y = Vec::with_capacity(l.out);
                l.apply(&x, &mut y);
                y
            })
        };
        (head(&self.category), head(&self.department))
    }

    /// Number of embedding rows.
    pub fn num_features(&self) -> usize {
        self.embedding.len() / self.dim.max(1)
    }
}

/// Columns of the folded table are padded to a multiple of this (whole SIMD vectors).
const FOLD_LANES: usize = 16;

/// The serving form of a model without hidden layer. The network is linear up to the softmax:
/// `W · mean(E[ids]) + b = mean((E · Wᵀ)[ids]) + b`, so both heads are folded into the table once
/// at load (`P = E · [W_cat; W_dep]ᵀ`, 46 values per feature instead of 64 plus two matmuls), and
/// `P` is kept as 16-bit fixed point with one scale per column (7.6 MB instead of 20 MB for the
/// default model). Summing a complaint's ~800 rows is then integer adds over 1.5 cache lines per
/// row, which is what the hot path waits on. Derived from the same weights as [`Model`] and
/// tested to give the same probabilities as [`Model::forward`].
#[derive(Debug, Clone)]
pub struct FoldedModel {
    /// Padded row width (≥ categories + departments, multiple of 16).
    width: usize,
    num_categories: usize,
    num_departments: usize,
    /// `num_features × width`, row-major: round(P / scale).
    table: Vec<i16>,
    /// Per column: P ≈ table · scale.
    scale: Vec<f32>,
    /// Head biases, categories then departments.
    bias: Vec<f32>,
}

impl FoldedModel {
    /// Folds a model without hidden layer; None when it has one (then use [`DenseModel`]).
    pub fn from_dense(m: &DenseModel) -> Option<FoldedModel> {
        if m.hidden.is_some() {
            return None;
        }
        let heads: Vec<&DenseLinear> = [&m.category, &m.department].into_iter().flatten().collect();
        let nc = m.category.as_ref().map_or(0, |l| l.out);
        let nd = m.department.as_ref().map_or(0, |l| l.out);
        let k = nc + nd;
        let width = k.div_ceil(FOLD_LANES).max(1) * FOLD_LANES;
        let d = m.dim;
        let rows = m.num_features();
        // P in f32, then the per-column scale.
        let mut p = vec![0f32; rows * k];
        for (f, pr) in p.chunks_mut(k.max(1)).enumerate().take(rows) {
            let e = &m.embedding[f * d..(f + 1) * d];
            let mut c = 0;
            for l in &heads {
                for o in 0..l.out {
                    let w = &l.weight[o * l.inp..(o + 1) * l.inp];
                    pr[c] = w.iter().zip(e).map(|(a, b)| a * b).sum();
                    c += 1;
                }
            }
        }
        let mut scale = vec![1f32; width];
        for (c, s) in scale.iter_mut().enumerate().take(k) {
            let max = (0..rows).map(|f| p[f * k + c].abs()).fold(0f32, f32::max);
            if max > 0.0 {
                *s = max / f32::from(i16::MAX);
            }
        }
        let mut table = vec![0i16; rows * width];
        for f in 0..rows {
            for c in 0..k {
                table[f * width + c] = (p[f * k + c] / scale[c]).round() as i16;
            }
        }
        let bias = heads.iter().flat_map(|l| l.bias.iter().copied()).collect();
        Some(FoldedModel {
            width,
            num_categories: nc,
            num_departments: nd,
            table,
            scale,
            bias,
        })
    }

    /// Logits (category, department) for one document's feature ids.
    pub fn logits(&self, ids: &[u32]) -> (Option<Vec<f32>>, Option<Vec<f32>>) {
        let w = self.width;
        let mut sum = vec![0f32; w];
        // One 16-column block at a time, accumulated in registers (i32 cannot overflow within
        // 65,536 rows of |value| ≤ 32,767; longer inputs are flushed to f32 per chunk).
        for chunk in ids.chunks(1 << 16) {
            for (b, sb) in sum.chunks_exact_mut(FOLD_LANES).enumerate() {
                let mut acc = [0i32; FOLD_LANES];
                for &id in chunk {
                    let at = id as usize * w + b * FOLD_LANES;
                    let row: &[i16; FOLD_LANES] = self.table[at..at + FOLD_LANES]
                        .try_into()
                        .expect("row block");
                    for (a, &q) in acc.iter_mut().zip(row) {
                        *a += i32::from(q);
                    }
                }
                for (s, a) in sb.iter_mut().zip(acc) {
                    *s += a as f32;
                }
            }
        }
        let inv = if ids.is_empty() {
            0.0
        } else {
            1.0 / ids.len() as f32
        };
        let mut out = sum
            .iter()
            .zip(&self.scale)
            .zip(&self.bias)
            .map(|((s, sc), b)| s * sc * inv + b);
        let (nc, nd) = (self.num_categories, self.num_departments);
        let cat = (nc > 0).then(|| out.by_ref().take(nc).collect());
        let dep = (nd > 0).then(|| out.by_ref().take(nd).collect());
        (cat, dep)
    }

    /// Number of feature rows.
    pub fn num_features(&self) -> usize {
        self.table.len() / self.width
    }
}

/// What the classifier evaluates per complaint: the folded table when the network is linear,
/// else the plain f32 network.
#[derive(Debug, Clone)]
pub enum ServingModel {
    Folded(FoldedModel),
    Dense(DenseModel),
}

impl ServingModel {
    /// The fastest exact-enough form of `model` (see [`FoldedModel`]).
    pub fn new(model: &Model) -> candle_core::Result<ServingModel> {
        let dense = model.dense()?;
        Ok(match FoldedModel::from_dense(&dense) {
            Some(f) => ServingModel::Folded(f),
            None => ServingModel::Dense(dense),
        })
    }

    /// Logits (category, department) for one document's feature ids.
    pub fn logits(&self, ids: &[u32]) -> (Option<Vec<f32>>, Option<Vec<f32>>) {
        match self {
            ServingModel::Folded(f) => f.logits(ids),
            ServingModel::Dense(d) => d.logits(ids),
        }
    }

    pub fn num_features(&self) -> usize {
        match self {
            ServingModel::Folded(f) => f.num_features(),
            ServingModel::Dense(d) => d.num_features(),
        }
    }
}
