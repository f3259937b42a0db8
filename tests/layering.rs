//! The crate's layering, checked: every `crate::` path between the top-level modules of `src/`
//! points down the table below, so there is no import cycle, the model code never reaches Kafka,
//! the evaluations sit above the models, and observability depends on nothing above it.
//!
//! A new top-level module must be given a layer here; a test fails until it is.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// (module, layer): a module may import only modules of a lower layer.
const LAYERS: &[(&str, u32)] = &[
    // Foundations: no crate imports of their own.
    ("events", 0),
    ("reject", 0),
    ("observe", 0),
    ("plot", 0),
    ("torch", 0),
    ("shutdown", 0),
    // Bytes <-> events; the optimizer on libtorch.
    ("codec", 1),
    ("optim", 1),
    // The shipped real data sets.
    ("data", 2),
    // Recommendation models, and what training writes.
    ("recommend", 3),
    ("artifact", 3),
    // The config of every service.
    ("topology", 4),
    // Kafka clients; review models (never Kafka).
    ("kafka", 5),
    ("text", 5),
    // The delivery protocol; the behaviour generator.
    ("delivery", 6),
    ("gan", 6),
    // Evaluations, above every model.
    ("eval", 7),
    // Services and tools on Kafka.
    ("pipeline", 8),
    ("recommender", 8),
    ("replay", 8),
    ("generate", 9),
    // Applications: the demo, the streaming warm-start evaluation (it runs the services' code
    // in process: it will sit above the generation stage once it uses its engine) and the
    // command line.
    ("demo", 10),
    ("warmup", 10),
    ("cli", 11),
];

/// Model code: none of it may import Kafka, the delivery runtime or the services.
const MODELS: &[&str] = &["recommend", "text", "gan", "artifact", "optim", "torch"];
const KAFKA_SIDE: &[&str] = &[
    "kafka",
    "delivery",
    "pipeline",
    "generate",
    "recommender",
    "replay",
];

fn src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

/// Top-level modules and their files (`main.rs`, `lib.rs` and `bin/` are the crate roots).
fn modules() -> BTreeMap<String, Vec<PathBuf>> {
    let mut mods = BTreeMap::new();
    for e in std::fs::read_dir(src()).unwrap() {
        let p = e.unwrap().path();
        let name = p.file_name().unwrap().to_string_lossy().into_owned();
        if ["main.rs", "lib.rs", "bin"].contains(&name.as_str()) {
            continue;
        }
        if p.is_dir() {
            let mut files = Vec::new();
            rust_files(&p, &mut files);
            mods.insert(name, files);
        } else if let Some(stem) = name.strip_suffix(".rs") {
            mods.insert(stem.to_owned(), vec![p]);
        }
    }
    mods
}

/// The text of a file without its `#[cfg(test)] mod tests` (tests may reach anywhere) and
/// without comments.
fn code(path: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap();
    let text = text
        .split("#[cfg(test)]\nmod tests")
        .next()
        .unwrap_or_default();
    text.lines()
        .filter(|l| !l.trim_start().starts_with("//"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// The top-level modules a file names through `crate::x` or `use crate::{x, y::z}`.
fn imports(text: &str) -> BTreeSet<String> {
    let mut found = BTreeSet::new();
    let ident = |s: &str| -> String {
        s.chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect()
    };
    for (i, _) in text.match_indices("crate::") {
        let rest = &text[i + "crate::".len()..];
        if let Some(group) = rest.strip_prefix('{') {
            let end = group.find(';').unwrap_or(group.len());
            for part in group[..end].split(',') {
                let name = ident(part.trim());
                if !name.is_empty() {
                    found.insert(name);
                }
            }
        } else {
            found.insert(ident(rest));
        }
    }
    found
}

fn edges() -> BTreeMap<String, BTreeMap<String, BTreeSet<String>>> {
    let mods = modules();
    let mut edges: BTreeMap<String, BTreeMap<String, BTreeSet<String>>> = BTreeMap::new();
    for (m, files) in &mods {
        let e = edges.entry(m.clone()).or_default();
        for f in files {
            for t in imports(&code(f)) {
                if mods.contains_key(&t) && &t != m {
                    let rel = f.strip_prefix(src()).unwrap().display().to_string();
                    e.entry(t).or_default().insert(rel);
                }
            }
        }
    }
    edges
}

fn layer(m: &str) -> Option<u32> {
    LAYERS.iter().find(|(n, _)| *n == m).map(|(_, l)| *l)
}

#[test]
fn every_module_has_a_layer() {
    let missing: Vec<String> = modules()
        .into_keys()
        .filter(|m| layer(m).is_none())
        .collect();
    assert!(
        missing.is_empty(),
        "top-level modules without a layer in tests/layering.rs: {missing:?}"
    );
}

#[test]
fn imports_point_down_the_layers() {
    let mut upward = Vec::new();
    for (from, targets) in edges() {
        let Some(lf) = layer(&from) else { continue };
        for (to, files) in targets {
            let Some(lt) = layer(&to) else { continue };
            if lt >= lf {
                upward.push(format!(
                    "{from} (layer {lf}) -> {to} (layer {lt}) in {files:?}"
                ));
            }
        }
    }
    assert!(
        upward.is_empty(),
        "imports that do not point to a lower layer (a cycle, or a layer broken):\n{}",
        upward.join("\n")
    );
}

#[test]
fn model_code_never_imports_kafka() {
    let mods = modules();
    let mut bad = Vec::new();
    for m in MODELS {
        for f in mods.get(*m).into_iter().flatten() {
            let text = code(f);
            if text.contains("rdkafka") {
                bad.push(format!("{} uses rdkafka", f.display()));
            }
            for t in imports(&text) {
                if KAFKA_SIDE.contains(&t.as_str()) {
                    bad.push(format!("{} imports crate::{t}", f.display()));
                }
            }
        }
    }
    assert!(bad.is_empty(), "{}", bad.join("\n"));
}

#[test]
fn the_parser_sees_grouped_and_plain_imports() {
    // The check above is only as good as this parser: it must see both forms, or it would pass
    // on anything.
    let found =
        imports("use crate::{codec::Format, events};\nlet x = crate::kafka::mock::start();");
    assert_eq!(
        found,
        ["codec", "events", "kafka"]
            .into_iter()
            .map(String::from)
            .collect()
    );
    // And the real tree has edges for it to check.
    assert!(edges().values().map(|t| t.len()).sum::<usize>() > 20);
}
