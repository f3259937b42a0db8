//! Adam (Kingma & Ba, 2015) as libtorch's `torch::optim::Adam` computes it, which is what
//! `tch::nn::Adam::default()` builds: betas 0.9 / 0.999, eps 1e-8 added to the bias-corrected
//! square root, no weight decay, no AMSGrad, one learning rate.
//!
//! The update is libtorch's, operation for operation, and on the CPU its result is bit-identical
//! to tch's optimizer (tested below). One difference, not visible in these models: libtorch sets
//! gradients to none before a backward pass and skips a variable that received none (its step
//! count stays behind); here gradients are zeroed and there is one step count, so a variable
//! outside the loss would still move with its decaying moments. Every variable of these models
//! receives a gradient at every step.

use tch::nn::VarStore;
use tch::Tensor;

pub(super) struct Param {
    pub name: String,
    pub value: Tensor,
    /// First moment (mean of gradients).
    pub m: Tensor,
    /// Second moment (uncentred variance of gradients).
    pub v: Tensor,
}

pub struct Adam {
    lr: f64,
    beta1: f64,
    beta2: f64,
    eps: f64,
    /// 1 - beta1 as a 0-d tensor on the variables' device (see `update`).
    one_minus_beta1: Tensor,
    pub(super) step: u64,
    /// The store's trainable variables, sorted by name (a fixed order for the resume file).
    pub(super) params: Vec<Param>,
}

impl Adam {
    /// Adam over the trainable variables of `vars` (which must all exist by now).
    pub fn new(vars: &VarStore, lr: f64) -> Self {
        let mut named: Vec<(String, Tensor)> = vars
            .variables()
            .into_iter()
            .filter(|(_, t)| t.requires_grad())
            .collect();
        named.sort_by(|a, b| a.0.cmp(&b.0));
        let params = named
            .into_iter()
            .map(|(name, value)| Param {
                m: value.zeros_like(),
                v: value.zeros_like(),
                name,
                value,
            })
            .collect();
        let beta1 = 0.9;
        Adam {
            lr,
            beta1,
            one_minus_beta1: Tensor::from(1.0 - beta1).to_device(vars.device()),
            beta2: 0.999,
            eps: 1e-8,
            step: 0,
            params,
        }
    }

    /// Steps taken so far (restored with the moments).
    pub fn steps(&self) -> u64 {
        self.step
    }

    /// As `nn::Optimizer::backward_step`: gradients of `loss`, then one update.
    pub fn backward_step(&mut self, loss: &Tensor) {
        self.zero_grad();
        loss.backward();
        self.update();
    }

    /// As `nn::Optimizer::backward_step_clip`: each gradient value is clamped to [-max, max]
    /// (values, not the norm) before the update.
    pub fn backward_step_clip(&mut self, loss: &Tensor, max: f64) {
        self.zero_grad();
        loss.backward();
        for p in &self.params {
            let mut g = p.value.grad();
            if g.defined() {
                let _ = g.clamp_(-max, max);
            }
        }
        self.update();
    }

    fn zero_grad(&mut self) {
        for p in &mut self.params {
            p.value.zero_grad();
        }
    }

    /// libtorch's update, operation for operation.
    fn update(&mut self) {
        self.step += 1;
        let t = self.step as f64;
        let bias1 = 1.0 - self.beta1.powf(t);
        let bias2 = 1.0 - self.beta2.powf(t);
        let step_size = self.lr / bias1;
        tch::no_grad(|| {
            for p in &mut self.params {
                let g = p.value.grad();
                if !g.defined() {
                    continue;
                }
                // libtorch computes `add_(g, 1 - b1)`, a multiply-add in one rounding, which tch
                // does not expose; `addcmul_` by a 0-d tensor rounds the same way (the test below
                // checks bit for bit), where `g * (1 - b1)` then `add_` differed in the last bit.
                let _ =
                    p.m.g_mul_scalar_(self.beta1)
                        .addcmul_(&g, &self.one_minus_beta1);
                let _ =
                    p.v.g_mul_scalar_(self.beta2)
                        .addcmul_(&g, &(&g * (1.0 - self.beta2)));
                let denom = p.v.sqrt() / bias2.sqrt() + self.eps;
                let _ = p.value.addcdiv_(&(&p.m * -step_size), &denom);
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tch::nn::{self, Module, OptimizerConfig};
    use tch::{Device, Kind};

    /// A small regression: a linear layer fitted to a fixed random target.
    fn model(seed: i64) -> (VarStore, nn::Linear, Tensor, Tensor) {
        tch::manual_seed(seed);
        let vars = VarStore::new(Device::Cpu);
        let layer = nn::linear(vars.root() / "l", 6, 3, Default::default());
        let x = Tensor::randn([32, 6], (Kind::Float, Device::Cpu));
        let y = Tensor::randn([32, 3], (Kind::Float, Device::Cpu));
        (vars, layer, x, y)
    }

    fn loss(layer: &nn::Linear, x: &Tensor, y: &Tensor) -> Tensor {
        (layer.forward(x) - y).square().mean(Kind::Float)
    }

    fn flat(vars: &VarStore) -> Vec<f32> {
        crate::optim::weights(vars)
            .into_iter()
            .flat_map(|(_, v)| v)
            .collect()
    }

    #[test]
    fn matches_tch_adam_bit_for_bit_with_and_without_clipping() {
        let _rng = crate::torch::rng_lock();
        for clip in [None, Some(0.05)] {
            let (ours_vars, ours_layer, x, y) = model(3);
            let (tch_vars, tch_layer, _, _) = model(3);
            let mut ours = Adam::new(&ours_vars, 1e-2);
            let mut theirs = nn::Adam::default().build(&tch_vars, 1e-2).unwrap();
            for _ in 0..50 {
                match clip {
                    None => {
                        ours.backward_step(&loss(&ours_layer, &x, &y));
                        theirs.backward_step(&loss(&tch_layer, &x, &y));
                    }
                    Some(c) => {
                        ours.backward_step_clip(&loss(&ours_layer, &x, &y), c);
                        theirs.backward_step_clip(&loss(&tch_layer, &x, &y), c);
                    }
                }
            }
            assert_eq!(ours.steps(), 50);
            let (a, b) = (flat(&ours_vars), flat(&tch_vars));
            let start = flat(&model(3).0);
            let worst = a
                .iter()
                .zip(&b)
                .map(|(p, q)| (p - q).abs())
                .fold(0.0, f32::max);
            // Bit for bit: the same kernels in the same order (see `update`).
            assert!(worst == 0.0, "{clip:?}: differs from tch by {worst}");
            // And it did move: 50 steps of 1e-2 go far beyond the tolerance.
            let moved = a
                .iter()
                .zip(&start)
                .map(|(p, q)| (p - q).abs())
                .fold(0.0, f32::max);
            assert!(moved > 0.1, "{clip:?}: moved {moved}");
        }
    }
}
