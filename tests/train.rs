//! `warmstart train behavior` end to end on the shipped data with a tiny budget: the checkpoint
//! folder is complete and loadable, training is reproducible for a seed, and `--resume`
//! continues the curve from the checkpoint.

use std::process::Command;
use warmstart::gan::card::ModelCard;

const TINY: [&str; 6] = ["train", "behavior", "--epochs", "1", "--mf-epochs", "1"];

fn run(out: &std::path::Path, extra: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_warmstart"))
        .args(TINY)
        .arg("--out")
        .arg(out)
        .args(extra)
        .output()
        .unwrap()
}

fn train(out: &std::path::Path, extra: &[&str]) -> ModelCard {
    let output = run(out, extra);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    ModelCard::read(&out.join("card.json")).unwrap()
}

#[test]
fn a_tiny_training_writes_a_complete_reproducible_checkpoint_and_resumes() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (dir.path().join("a"), dir.path().join("b"));
    let card = train(&a, &[]);
    for f in &card.run.files {
        assert!(a.join(f).exists(), "{f} missing");
    }
    assert!(card.version.starts_with("behavior-gan-"));
    assert_eq!(card.run.data_files.len(), 3);
    assert!(card.run.data_files.iter().all(|d| d.sha256.len() == 64));
    let recall = card.run.metrics["user_recall_at_200_generated"]
        .as_f64()
        .unwrap();
    assert!((0.0..=1.0).contains(&recall));

    // Same seed, same data: the same weights, hence the same version.
    assert_eq!(train(&b, &[]).version, card.version);

    let resumed = train(&a, &["--resume"]);
    assert_eq!(
        resumed.run.resumed_from.as_deref(),
        Some(card.version.as_str())
    );
    assert_eq!(
        resumed.run.curve.as_array().unwrap().len(),
        2,
        "one more epoch"
    );
    assert_ne!(resumed.version, card.version);

    // A corrupt checkpoint is refused with the file's name.
    std::fs::write(a.join("generator.safetensors"), b"garbage").unwrap();
    let out = run(&a, &["--resume"]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("generator.safetensors"), "{err}");
}
