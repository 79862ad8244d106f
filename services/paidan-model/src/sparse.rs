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
            let (theta, m, v) = (
                &mut table[r.clone()],
                &mut self.m[r.clone()],
                &mut self.v[r],
            );
            for j in 0..d {
                let gj = g[j];
                m[j] = m[j] * b1 + gj * (1.0 - b1);
                v[j] = v[j] * b2 + gj * gj * (1.0 - b2);
                let m_hat = m[j] * scale_m;
                let v_hat = v[j] * scale_v;
                theta[j] = theta[j] * decay - m_hat / (v_hat.sqrt() + eps) * lr;
            }
        }
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
