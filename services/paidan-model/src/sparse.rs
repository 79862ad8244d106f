//! Row-wise ("lazy") AdamW for the embedding table.
//!
//! A batch touches a few thousand of the table's ~80k rows. candle's `AdamW` over the whole table
//! allocates, zeroes and updates the full gradient and both moments every step; this updates only
//! the rows that received a gradient, with the same formula as `candle_nn::AdamW` (decoupled weight
//! decay, bias correction by the global step), and leaves untouched rows and their moments as they
//! are (as TensorFlow's LazyAdam and PyTorch's SparseAdam do).

/// Moments and hyper-parameters for a `rows × dim` table.
#[derive(Debug)]
pub(crate) struct RowAdamW {
    dim: usize,
    m: Vec<f32>,
    v: Vec<f32>,
    beta1: f64,
    beta2: f64,
    eps: f64,
    weight_decay: f64,
    t: i32,
}

impl RowAdamW {
    /// candle's default betas and eps (0.9, 0.999, 1e-8).
    pub(crate) fn new(rows: usize, dim: usize, weight_decay: f64) -> RowAdamW {
        RowAdamW {
            dim,
            m: vec![0.0; rows * dim],
            v: vec![0.0; rows * dim],
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-8,
            weight_decay,
            t: 0,
        }
    }

    /// One step: row `ids[k]` of `table` (row-major, `dim` wide) receives gradient
    /// `grad[k * dim..(k + 1) * dim]`. `ids` must be distinct.
    pub(crate) fn step(&mut self, table: &mut [f32], ids: &[u32], grad: &[f32], lr: f64) {
        self.t += 1;
        let d = self.dim;
        let (b1, b2) = (self.beta1 as f32, self.beta2 as f32);
        let scale_m = (1.0 / (1.0 - self.beta1.powi(self.t))) as f32;
        let scale_v = (1.0 / (1.0 - self.beta2.powi(self.t))) as f32;
        let decay = (1.0 - lr * self.weight_decay) as f32;
        let (lr, eps) = (lr as f32, self.eps as f32);
        for (k, &id) in ids.iter().enumerate() {
            let r = id as usize * d..(id as usize + 1) * d;
            let g = &grad[k * d..(k + 1) * d];
            let rows = table[r.clone()]
                .iter_mut()
                .zip(&mut self.m[r.clone()])
                .zip(&mut self.v[r])
                .zip(g);
            for (((theta, m), v), &gj) in rows {
                *m = *m * b1 + gj * (1.0 - b1);
                *v = *v * b2 + gj * gj * (1.0 - b2);
                let m_hat = *m * scale_m;
                let v_hat = *v * scale_v;
                *theta = *theta * decay - m_hat / (v_hat.sqrt() + eps) * lr;
            }
        }
    }
}

/// A batch of documents as embedding bags, for training: each document's feature ids mapped to
/// slots of the batch's distinct ids. The bag of a document is the mean of its rows (an id that
/// occurs twice counts twice), exactly as [`crate::model::Bags`] + `Model::represent` compute it.
#[derive(Debug, Default)]
pub(crate) struct SparseBags {
    /// Distinct feature ids of the batch, in order of first occurrence.
    pub(crate) distinct: Vec<u32>,
    /// Per document: slot (index into `distinct`) of every id occurrence.
    slots: Vec<Vec<u32>>,
    slot_of: std::collections::HashMap<u32, u32>,
}

impl SparseBags {
    pub(crate) fn new(docs: &[&[u32]]) -> SparseBags {
        let mut b = SparseBags::default();
        for d in docs {
            let slots = d
                .iter()
                .map(|&id| {
                    *b.slot_of.entry(id).or_insert_with(|| {
                        b.distinct.push(id);
                        (b.distinct.len() - 1) as u32
                    })
                })
                .collect();
            b.slots.push(slots);
        }
        b
    }

    /// The bags (documents × dim, row-major) from a `? × dim` table.
    pub(crate) fn forward(&self, table: &[f32], dim: usize) -> Vec<f32> {
        let mut x = vec![0f32; self.slots.len() * dim];
        for (doc, xb) in self.slots.iter().zip(x.chunks_mut(dim)) {
            for &s in doc {
                let id = self.distinct[s as usize] as usize;
                for (a, &t) in xb.iter_mut().zip(&table[id * dim..(id + 1) * dim]) {
                    *a += t;
                }
            }
            if !doc.is_empty() {
                let inv = 1.0 / doc.len() as f32;
                xb.iter_mut().for_each(|a| *a *= inv);
            }
        }
        x
    }

    /// Gradient of the distinct rows (`distinct.len()` × dim) from the gradient of the bags.
    pub(crate) fn backward(&self, grad_x: &[f32], dim: usize) -> Vec<f32> {
        let mut g = vec![0f32; self.distinct.len() * dim];
        for (doc, gx) in self.slots.iter().zip(grad_x.chunks(dim)) {
            if doc.is_empty() {
                continue;
            }
            let inv = 1.0 / doc.len() as f32;
            for &s in doc {
                let s = s as usize;
                for (a, &t) in g[s * dim..(s + 1) * dim].iter_mut().zip(gx) {
                    *a += t * inv;
                }
            }
        }
        g
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::{Device, Tensor, Var};
    use candle_nn::{AdamW, Optimizer, ParamsAdamW};

    /// On a table whose every row gets a gradient each step, the row-wise update is candle's AdamW.
    #[test]
    fn matches_candle_adamw_when_every_row_is_touched() {
        let (rows, dim) = (3usize, 4usize);
        let init: Vec<f32> = (0..rows * dim).map(|i| (i as f32 * 0.37).sin()).collect();
        let grads: [Vec<f32>; 3] = [
            (0..rows * dim).map(|i| (i as f32 * 0.11).cos()).collect(),
            (0..rows * dim).map(|i| -(i as f32 * 0.23).sin()).collect(),
            (0..rows * dim)
                .map(|i| 0.5 - (i % 3) as f32 * 0.4)
                .collect(),
        ];
        let params = ParamsAdamW {
            lr: 0.05,
            weight_decay: 0.01,
            ..Default::default()
        };
        let var = Var::from_vec(init.clone(), (rows, dim), &Device::Cpu).unwrap();
        let mut opt = AdamW::new(vec![var.clone()], params.clone()).unwrap();
        let mut table = init;
        let mut ours = RowAdamW::new(rows, dim, params.weight_decay);
        for g in &grads {
            // loss = sum(var * g) has gradient g.
            let gt = Tensor::from_vec(g.clone(), (rows, dim), &Device::Cpu).unwrap();
            let loss = (var.as_tensor() * &gt).unwrap().sum_all().unwrap();
            opt.backward_step(&loss).unwrap();
            ours.step(&mut table, &[0, 1, 2], g, params.lr);
        }
        let want: Vec<f32> = var.as_tensor().flatten_all().unwrap().to_vec1().unwrap();
        for (a, b) in table.iter().zip(&want) {
            assert!((a - b).abs() < 1e-5, "{a} vs {b}");
        }
    }

    /// The sparse bag and its gradient equal candle's index_select + matmul and autograd.
    #[test]
    fn sparse_bags_match_candle() {
        let dim = 3;
        let table: Vec<f32> = (0..6 * dim).map(|i| (i as f32 * 0.7).sin()).collect();
        let docs: [&[u32]; 3] = [&[4, 1, 4], &[], &[2, 5, 1, 0]];
        let sb = SparseBags::new(&docs);
        let x = sb.forward(&table, dim);
        let dev = Device::Cpu;
        let bags = crate::model::Bags::new(&docs, &dev).unwrap();
        let t = Var::from_vec(table.clone(), (6, dim), &dev).unwrap();
        let xc = bags
            .weights
            .matmul(&t.as_tensor().index_select(&bags.ids, 0).unwrap())
            .unwrap();
        let want: Vec<f32> = xc.flatten_all().unwrap().to_vec1().unwrap();
        for (a, b) in x.iter().zip(&want) {
            assert!((a - b).abs() < 1e-6, "{a} vs {b}");
        }
        // loss = sum(x * c) → dL/dx = c.
        let c: Vec<f32> = (0..3 * dim).map(|i| 1.0 + i as f32).collect();
        let ct = Tensor::from_vec(c.clone(), (3, dim), &dev).unwrap();
        let grads = (xc * ct).unwrap().sum_all().unwrap().backward().unwrap();
        let gt: Vec<f32> = grads
            .get(t.as_tensor())
            .unwrap()
            .flatten_all()
            .unwrap()
            .to_vec1()
            .unwrap();
        let g = sb.backward(&c, dim);
        for (k, &id) in sb.distinct.iter().enumerate() {
            for j in 0..dim {
                let (a, b) = (g[k * dim + j], gt[id as usize * dim + j]);
                assert!((a - b).abs() < 1e-5, "id {id}: {a} vs {b}");
            }
        }
        assert_eq!(sb.distinct, [4, 1, 2, 5, 0]);
    }

    /// Rows without a gradient keep their value; ids map gradient slices to rows.
    #[test]
    fn untouched_rows_stay() {
        let mut table = vec![1.0f32; 4 * 2];
        let mut opt = RowAdamW::new(4, 2, 0.0);
        opt.step(&mut table, &[2, 0], &[1.0, 1.0, -1.0, -1.0], 0.1);
        let want = [1.1, 1.1, 1.0, 1.0, 0.9, 0.9, 1.0, 1.0];
        for (i, (a, b)) in table.iter().zip(want).enumerate() {
            assert!((a - b).abs() < 1e-4, "row {}: {a} vs {b}", i / 2);
        }
    }
}
