//! libtorch is linked, loads through the rpath (no LD_LIBRARY_PATH), and computes.

use tch::{Device, Kind, Tensor};

#[test]
fn a_tensor_operation_runs_and_is_right() {
    warmstart::torch::self_check(Device::Cpu).expect("libtorch computes on the CPU");
    let x = Tensor::from_slice(&[1.0f32, 2.0, 3.0]);
    let y = (&x * &x).sum(Kind::Float);
    assert_eq!(f32::try_from(y).unwrap(), 14.0);
}

#[test]
fn the_chosen_device_works() {
    let d = warmstart::torch::device();
    warmstart::torch::self_check(d).unwrap_or_else(|e| panic!("self-check on {d:?}: {e}"));
    // A build without the `cuda` feature never links libtorch_cuda, so it must run on the CPU
    // even where a GPU is present. Set WARMSTART_EXPECT_CUDA=1 to run the `cuda` build's tests on
    // a GPU machine, where falling back to the CPU would be a silent failure.
    if std::env::var("WARMSTART_EXPECT_CUDA").is_ok_and(|v| v == "1") {
        assert!(
            d.is_cuda(),
            "WARMSTART_EXPECT_CUDA=1 but the device is {d:?}"
        );
    } else if !cfg!(feature = "cuda") {
        assert_eq!(
            d,
            Device::Cpu,
            "a build without the cuda feature chose {d:?}"
        );
    }
    let x = Tensor::from_slice(&[1.0f32, 2.0]).to_device(d);
    assert_eq!((&x + &x).device(), d, "results stay on the chosen device");
}

#[test]
fn the_binary_runs_its_torch_check_without_library_path() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_warmstart"))
        .arg("torch-check")
        .env_remove("LD_LIBRARY_PATH")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("libtorch ok on"));
}
