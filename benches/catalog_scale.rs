//! Cost as the catalogue grows: `scripts/synth-catalog` writes catalogues of the same shape
//! (Beauty's users and items per interaction) at growing sizes, and each command that reads a
//! catalogue runs on each, as a child process, for its wall time and peak RSS (from `wait4`).
//!
//! `cargo bench --bench catalog_scale`. Sizes: `WARMSTART_SCALE_SIZES` (default
//! `10000,100000,1000000`); `eval coldstart` runs up to `WARMSTART_SCALE_COLDSTART_MAX`
//! interactions (default 100000: its full ranking grows with users x items, see
//! docs/benchmarks.md) and the larger sizes are projected from the measured exponent, labelled
//! as such. Writes `benches/results/catalog-scale.json` and `docs/catalog-scale.png`.
//!
//! Without `--bench` (as `cargo test --all-targets` runs it) it is a smoke run on 2,000 and
//! 5,000 interactions that writes its results under the temporary folder instead.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;
use warmstart::plot::{self, Series};

#[derive(serde::Serialize)]
struct Point {
    command: String,
    interactions: usize,
    wall_s: f64,
    peak_rss_mib: f64,
}

fn sizes(var: &str, default: &str) -> Vec<usize> {
    std::env::var(var)
        .unwrap_or_else(|_| default.into())
        .split(',')
        .map(|s| s.trim().parse().expect("a size"))
        .collect()
}

/// Runs `args` with its output in `log`; wall seconds and peak RSS in MiB.
fn measure(args: &[&str], log: &Path) -> (f64, f64) {
    let out = std::fs::File::create(log).unwrap();
    let start = Instant::now();
    // WARMSTART_BIN: a copy of the binary, so that a rebuild during a long run cannot swap it.
    let bin =
        std::env::var("WARMSTART_BIN").unwrap_or_else(|_| env!("CARGO_BIN_EXE_warmstart").into());
    let child = Command::new(bin)
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .stdout(out.try_clone().unwrap())
        .stderr(out)
        .stdin(Stdio::null())
        .spawn()
        .unwrap();
    let mut status = 0;
    // SAFETY: wait4 on our own child's pid, with valid pointers; the Child is not waited on
    // again (dropping it does not wait).
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    let pid = unsafe { libc::wait4(child.id() as i32, &mut status, 0, &mut usage) };
    assert_eq!(pid, child.id() as i32, "wait4");
    let wall = start.elapsed().as_secs_f64();
    assert!(
        libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0,
        "{args:?} failed; see {}",
        log.display()
    );
    (wall, usage.ru_maxrss as f64 / 1024.0)
}

fn main() {
    let smoke = !std::env::args().any(|a| a == "--bench");
    let work: PathBuf = std::env::temp_dir().join("warmstart-catalog-scale");
    std::fs::create_dir_all(&work).unwrap();
    let repo = Path::new(env!("CARGO_MANIFEST_DIR"));
    // Where the results go: the repo for a real run, the work folder for a smoke run.
    let out = if smoke { work.as_path() } else { repo };
    std::fs::create_dir_all(out.join("benches/results")).unwrap();
    std::fs::create_dir_all(out.join("docs")).unwrap();
    let all = if smoke {
        vec![2000, 5000]
    } else {
        sizes("WARMSTART_SCALE_SIZES", "10000,100000,1000000")
    };
    let coldstart_max: usize = std::env::var("WARMSTART_SCALE_COLDSTART_MAX")
        .map(|v| v.parse().expect("a size"))
        .unwrap_or(100_000);
    // The stream evaluation ranks every item twice per window event, as prequential does once,
    // per variant: 1M interactions would take about a quarter of an hour.
    let stream_max: usize = std::env::var("WARMSTART_SCALE_STREAM_MAX")
        .map(|v| v.parse().expect("a size"))
        .unwrap_or(100_000);
    let stream_plot = work.join("stream-warm-up.png");
    let stream_plot = stream_plot.to_str().expect("UTF-8 temp path");
    let commands: [(&str, &[&str]); 5] = [
        ("catalog (load + summary)", &["catalog"]),
        ("eval prequential", &["eval", "prequential"]),
        ("eval sequential", &["eval", "sequential"]),
        (
            "eval stream",
            &[
                "eval",
                "stream",
                "--variants",
                "none,transfer",
                "--plot",
                stream_plot,
            ],
        ),
        (
            "eval coldstart",
            &[
                "eval",
                "coldstart",
                "--epochs",
                "40",
                "--regularization",
                "0.005",
            ],
        ),
    ];
    let mut points = Vec::new();
    for &n in &all {
        let dir = work.join(format!("catalog-{n}"));
        let status = Command::new("python3")
            .arg(repo.join("scripts/synth-catalog"))
            .args(["--interactions", &n.to_string(), "--out"])
            .arg(&dir)
            .status()
            .expect("python3");
        assert!(status.success(), "synth-catalog {n}");
        for (name, args) in commands {
            if (name == "eval coldstart" && n > coldstart_max)
                || (name == "eval stream" && n > stream_max)
            {
                continue;
            }
            let mut args = args.to_vec();
            let d = dir.to_str().unwrap();
            args.extend(["--catalog", d]);
            let log = work.join(format!(
                "{}-{n}.log",
                name.replace([' ', '(', ')', '+'], "_")
            ));
            let (wall_s, peak_rss_mib) = measure(&args, &log);
            println!(
                "{name:<26} {n:>9} interactions: {wall_s:>8.1} s, peak RSS {peak_rss_mib:>7.0} MiB"
            );
            points.push(Point {
                command: name.into(),
                interactions: n,
                wall_s,
                peak_rss_mib,
            });
        }
    }

    // Growth exponents between successive sizes: 1 is linear, 2 quadratic.
    println!("\ngrowth exponent d log(cost) / d log(interactions):");
    let mut projections = Vec::new();
    for (name, _) in commands {
        let p: Vec<&Point> = points.iter().filter(|p| p.command == name).collect();
        for w in p.windows(2) {
            let k = (w[1].interactions as f64 / w[0].interactions as f64).ln();
            println!(
                "  {name:<26} {:>9} -> {:<9} time {:.2}, memory {:.2}",
                w[0].interactions,
                w[1].interactions,
                (w[1].wall_s / w[0].wall_s).ln() / k,
                (w[1].peak_rss_mib / w[0].peak_rss_mib).ln() / k
            );
        }
        if let (Some(a), Some(b)) = (p.iter().rev().nth(1), p.last()) {
            let e =
                (b.wall_s / a.wall_s).ln() / (b.interactions as f64 / a.interactions as f64).ln();
            for &n in all.iter().filter(|&&n| n > b.interactions) {
                let t = b.wall_s * (n as f64 / b.interactions as f64).powf(e);
                println!(
                    "  {name:<26} {n:>9}: not run; projected {:.0} min at exponent {e:.2}",
                    t / 60.0
                );
                projections.push(serde_json::json!({"command": name, "interactions": n, "projected_wall_s": t, "exponent": e}));
            }
        }
    }

    let results = out.join("benches/results/catalog-scale.json");
    std::fs::write(
        &results,
        serde_json::to_string_pretty(&serde_json::json!({
            "machine_cores": std::thread::available_parallelism().map_or(0, |n| n.get()),
            "points": points,
            "projections": projections,
        }))
        .unwrap(),
    )
    .unwrap();
    let series = |f: fn(&Point) -> f64| -> Vec<(String, Vec<(f64, f64)>)> {
        commands
            .iter()
            .map(|(name, _)| {
                let pts = points
                    .iter()
                    .filter(|p| p.command == *name)
                    .map(|p| ((p.interactions as f64).log10(), f(p).log10()))
                    .collect();
                (name.to_string(), pts)
            })
            .collect()
    };
    for (file, title, y, f) in [
        (
            "docs/catalog-scale.png",
            "wall time as the catalogue grows (2 cores)",
            "log10 seconds",
            (|p: &Point| p.wall_s) as fn(&Point) -> f64,
        ),
        (
            "docs/catalog-scale-rss.png",
            "peak RSS as the catalogue grows",
            "log10 MiB",
            |p: &Point| p.peak_rss_mib,
        ),
    ] {
        let s = series(f);
        let s: Vec<Series> = s
            .iter()
            .map(|(name, points)| Series {
                name,
                points: points.clone(),
            })
            .collect();
        plot::lines(&out.join(file), title, "log10 interactions", y, &s).unwrap();
    }
    println!(
        "\n{} and {} written",
        results.display(),
        out.join("docs/catalog-scale*.png").display()
    );
}
