//! The libtorch runtime: device choice and a self-check, used at start-up and in `/metrics`.
//!
//! libtorch comes from the PyPI torch wheel (scripts/install-libtorch); build.rs puts its lib
//! folder in the binary's rpath. With the `cuda` feature the CUDA library is linked for real, and
//! `Device::cuda_if_available` finds the GPU; without it the same code runs on the CPU.

use tch::{Device, Kind, Tensor};

/// CUDA when present, CPU otherwise.
pub fn device() -> Device {
    Device::cuda_if_available()
}

pub fn device_name(d: Device) -> String {
    match d {
        Device::Cpu => "cpu".into(),
        Device::Cuda(i) => format!("cuda:{i}"),
        other => format!("{other:?}").to_lowercase(),
    }
}

/// Multiplies two small matrices on `device` and checks the result against the known answer,
/// so that a broken libtorch install fails loudly at start rather than in the first model call.
pub fn self_check(device: Device) -> Result<(), tch::TchError> {
    let a = Tensor::f_arange(6, (Kind::Float, device))?.f_reshape([2, 3])?;
    let b = Tensor::f_ones([3, 2], (Kind::Float, device))?;
    let c = a.f_matmul(&b)?.f_to_device(Device::Cpu)?;
    let got: Vec<f32> = Vec::<f32>::try_from(c.f_flatten(0, -1)?)?;
    if got != [3.0, 3.0, 12.0, 12.0] {
        return Err(tch::TchError::Kind(format!(
            "libtorch self-check computed {got:?}"
        )));
    }
    Ok(())
}

/// One draw per row from the categorical distribution `softmax(logits)` (`logits`: `[rows, classes]`),
/// as int64 `[rows]`.
///
/// Inverse-CDF sampling: one uniform per row, found in the row's cumulative sum. libtorch's
/// `multinomial` draws one exponential per class instead (a `log1p` and a 64-bit random number for
/// each of the vocabulary's 3,000 entries, in a serial loop), which was 40% of a batched review
/// generation on the CPU; this is the same distribution for a few vectorised passes.
pub fn sample_categorical(logits: &Tensor) -> Tensor {
    let classes = logits.size().last().copied().unwrap_or(1);
    let cdf = logits.softmax(-1, Kind::Float).cumsum(-1, Kind::Float);
    // Scaled by the row's total, so that float rounding in the sum never leaves u past the end.
    let total = cdf.narrow(-1, classes - 1, 1);
    let u = Tensor::rand_like(&total) * &total;
    // right = true: the first class whose cumulative probability exceeds u, which never lands on a
    // class of probability zero.
    u.searchsorted(&cdf, false, true, "right", None::<Tensor>)
        .squeeze_dim(-1)
        .clamp_max(classes - 1)
}

/// Tests that seed libtorch's global generator and then draw from it take this lock: the test
/// harness runs tests on parallel threads, and two of them drawing from the one generator would
/// make each other's results depend on timing.
#[cfg(test)]
pub fn rng_lock() -> std::sync::MutexGuard<'static, ()> {
    static LOCK: std::sync::Mutex<()> = std::sync::Mutex::new(());
    LOCK.lock().unwrap_or_else(|p| p.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn categorical_draws_follow_the_distribution() {
        let _rng = rng_lock();
        tch::manual_seed(7);
        let p = [0.5f32, 0.0, 0.3, 0.2];
        let logits = Tensor::from_slice(&p)
            .log()
            .unsqueeze(0)
            .repeat([20_000, 1]);
        let draws = Vec::<i64>::try_from(sample_categorical(&logits)).unwrap();
        assert_eq!(draws.len(), 20_000);
        let mut counts = [0usize; 4];
        for d in draws {
            counts[d as usize] += 1;
        }
        assert_eq!(counts[1], 0, "a class of probability zero was drawn");
        for (c, want) in counts.iter().zip(p) {
            let got = *c as f32 / 20_000.0;
            // 4 standard errors of a proportion near 0.5 over 20,000 draws is 0.014.
            assert!((got - want).abs() < 0.015, "{counts:?}");
        }
    }
}
