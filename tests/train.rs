//! `warmstart train behavior` end to end on the shipped data with a tiny budget: the checkpoint
//! folder is complete and loadable, training is reproducible for a seed, and `--resume`
//! continues the curve from the checkpoint, exactly: one epoch, a resume and one more epoch are
//! two epochs straight, bit for bit. The review generator's MLE training, the same.

use std::collections::HashMap;
use std::path::Path;
use std::process::Command;
use std::time::Instant;
use tch::{Kind, Tensor};
use warmstart::artifact::card::ModelCard;
use warmstart::text::train_reviews::{train as train_reviews, TrainReviews};

const TINY: [&str; 4] = ["train", "behavior", "--mf-epochs", "1"];

/// One epoch unless `extra` says how many.
fn run(out: &Path, extra: &[&str]) -> std::process::Output {
    let epochs: &[&str] = if extra.contains(&"--epochs") {
        &[]
    } else {
        &["--epochs", "1"]
    };
    Command::new(env!("CARGO_BIN_EXE_warmstart"))
        .args(TINY)
        .args(epochs)
        .arg("--out")
        .arg(out)
        .args(extra)
        .output()
        .unwrap()
}

fn train(out: &Path, extra: &[&str]) -> ModelCard {
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
    // Beauty's interactions, items and the five files of its brand and category names, and the
    // Taobao sample for kinds and gaps.
    assert_eq!(card.run.data_files.len(), 8, "{:?}", card.run.data_files);
    assert!(card
        .run
        .data_files
        .iter()
        .any(|d| d.path.ends_with("kg/brand.txt.gz")));
    assert!(card.run.data_files.iter().all(|d| d.sha256.len() == 64));
    let recall = card.run.metrics["user_recall_at_200_generated"]
        .as_f64()
        .unwrap();
    assert!((0.0..=1.0).contains(&recall));

    // Same seed, same data: the same weights, hence the same version (its checksum part: the
    // date part changes when the two trainings straddle midnight).
    let checksum = |v: &str| v.rsplit('-').next().unwrap().to_owned();
    assert_eq!(checksum(&train(&b, &[]).version), checksum(&card.version));

    let resumed = train(&a, &["--resume"]);
    let straight = dir.path().join("straight");
    train(&straight, &["--epochs", "2"]);
    same_files(
        &a,
        &straight,
        &["generator.safetensors", "discriminator.safetensors"],
    );
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

    // A corrupt resume file is refused with its name; without one, a warning says the resume
    // is not exact.
    std::fs::write(a.join("resume.safetensors"), b"garbage").unwrap();
    let out = run(&a, &["--resume"]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("resume.safetensors"), "{err}");
    std::fs::remove_file(a.join("resume.safetensors")).unwrap();
    let out = run(&a, &["--resume"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert!(err.contains("fresh optimizer moments"), "{err}");

    // A corrupt checkpoint is refused with the file's name.
    std::fs::write(a.join("generator.safetensors"), b"garbage").unwrap();
    let out = run(&a, &["--resume"]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("generator.safetensors"), "{err}");
}

/// The two checkpoint folders hold the same bytes in `files` and in their resume files (f32
/// weights, moments, counters); on a difference, the largest weight difference says by how much.
fn same_files(a: &Path, b: &Path, files: &[&str]) {
    let resume = |dir: &Path| -> HashMap<String, Tensor> {
        Tensor::read_safetensors(dir.join("resume.safetensors"))
            .unwrap()
            .into_iter()
            .collect()
    };
    let (ra, rb) = (resume(a), resume(b));
    let mut names: Vec<&String> = ra.keys().collect();
    names.sort();
    assert_eq!(names.len(), rb.len());
    for name in names {
        let (x, y) = (&ra[name], &rb[name]);
        let diff = (x.to_kind(Kind::Double) - y.to_kind(Kind::Double))
            .abs()
            .max()
            .double_value(&[]);
        assert!(x.equal(y), "{name} differs by up to {diff:e}");
    }
    for f in files {
        let read = |dir: &Path| std::fs::read(dir.join(f)).unwrap();
        assert!(read(a) == read(b), "{f} differs");
    }
}

#[test]
fn review_mle_two_epochs_straight_equal_one_a_resume_and_one_more() {
    tch::set_num_threads(1);
    let dir = tempfile::tempdir().unwrap();
    // Tiny: a small vocabulary and GRU, a few large batches per epoch.
    let opts = |out: &Path, epochs: usize, resume: bool| TrainReviews {
        out: out.to_owned(),
        epochs,
        vocab_size: 300,
        embed: 8,
        hidden: 8,
        max_len: 12,
        batch: 2048,
        resume,
        ..Default::default()
    };
    let (a, b) = (dir.path().join("a"), dir.path().join("b"));
    let start = Instant::now();
    train_reviews(&opts(&a, 2, false), false).unwrap();
    train_reviews(&opts(&b, 1, false), false).unwrap();
    let card = train_reviews(&opts(&b, 1, true), false).unwrap();
    assert_eq!(card.run.curve.as_array().unwrap().len(), 2);
    same_files(&a, &b, &["generator.safetensors"]);
    eprintln!("three tiny MLE trainings: {:.1?}", start.elapsed());

    // A corrupt resume file fails the resume, naming it.
    std::fs::write(b.join("resume.safetensors"), b"garbage").unwrap();
    let err = train_reviews(&opts(&b, 1, true), false)
        .unwrap_err()
        .to_string();
    assert!(err.contains("resume.safetensors"), "{err}");
    // a's resume file is b's (same bytes, checked above): b resumes from it to a third epoch.
    std::fs::copy(a.join("resume.safetensors"), b.join("resume.safetensors")).unwrap();
    train_reviews(&opts(&b, 1, true), false).unwrap();
    // Now a's is stale beside b's third-epoch weights, and refused.
    std::fs::copy(a.join("resume.safetensors"), b.join("resume.safetensors")).unwrap();
    let err = train_reviews(&opts(&b, 1, true), false)
        .unwrap_err()
        .to_string();
    assert!(err.contains("resume.safetensors"), "{err}");
}
