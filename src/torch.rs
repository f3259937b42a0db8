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

/// Tests that seed libtorch's global generator and then draw from it take this lock: the test
/// harness runs tests on parallel threads, and two of them drawing from the one generator would
/// make each other's results depend on timing.
#[cfg(test)]
pub fn rng_lock() -> std::sync::MutexGuard<'static, ()> {
    static LOCK: std::sync::Mutex<()> = std::sync::Mutex::new(());
    LOCK.lock().unwrap_or_else(|p| p.into_inner())
}
