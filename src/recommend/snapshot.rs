//! Durable recommender state: the model and the input offsets it has consumed, written together
//! in one file, atomically (temporary file, fsync, rename). A restart loads the file and resumes
//! each partition at the stored offset, so nothing is lost and nothing is applied twice.

use super::online::Online;
use flate2::read::GzDecoder;
use flate2::write::GzEncoder;
use std::collections::BTreeMap;
use std::io::{BufReader, BufWriter, Write};
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum SnapshotError {
    #[error("snapshot {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("snapshot {path} is corrupt or of another version: {source}")]
    Format {
        path: PathBuf,
        source: serde_json::Error,
    },
}

/// The next offset to consume of each (topic, partition).
pub type Offsets = BTreeMap<String, BTreeMap<i32, i64>>;

#[derive(serde::Serialize, serde::Deserialize)]
pub struct Snapshot {
    pub version: u32,
    pub offsets: Offsets,
    pub model: Online,
}

const VERSION: u32 = 1;

fn io(path: &Path) -> impl Fn(std::io::Error) -> SnapshotError + '_ {
    move |source| SnapshotError::Io {
        path: path.to_owned(),
        source,
    }
}

/// Writes `model` and `offsets` to `path` atomically.
pub fn save(path: &Path, model: &Online, offsets: &Offsets) -> Result<(), SnapshotError> {
    #[derive(serde::Serialize)]
    struct Borrowed<'a> {
        version: u32,
        offsets: &'a Offsets,
        model: &'a Online,
    }
    let tmp = path.with_extension("tmp");
    let file = std::fs::File::create(&tmp).map_err(io(&tmp))?;
    let mut gz = GzEncoder::new(BufWriter::new(file), flate2::Compression::fast());
    serde_json::to_writer(
        &mut gz,
        &Borrowed {
            version: VERSION,
            offsets,
            model,
        },
    )
    .map_err(|source| SnapshotError::Format {
        path: tmp.clone(),
        source,
    })?;
    let mut w = gz.finish().map_err(io(&tmp))?;
    w.flush().map_err(io(&tmp))?;
    w.get_ref().sync_all().map_err(io(&tmp))?;
    drop(w);
    std::fs::rename(&tmp, path).map_err(io(path))
}

/// Loads the snapshot at `path`; `Ok(None)` when there is none yet.
pub fn load(path: &Path) -> Result<Option<Snapshot>, SnapshotError> {
    let file = match std::fs::File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(io(path)(e)),
    };
    let snap: Snapshot =
        serde_json::from_reader(BufReader::new(GzDecoder::new(file))).map_err(|source| {
            SnapshotError::Format {
                path: path.to_owned(),
                source,
            }
        })?;
    if snap.version != VERSION {
        return Err(SnapshotError::Format {
            path: path.to_owned(),
            source: serde::de::Error::custom(format!(
                "version {} (this build reads {VERSION})",
                snap.version
            )),
        });
    }
    let mut snap = snap;
    snap.model.after_restore();
    Ok(Some(snap))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::events::{BehaviorKind, EnrichedEvent, Origin, ProductEvent};
    use crate::recommend::online::OnlineConfig;

    fn events(m: &mut Online, range: std::ops::Range<usize>) {
        for n in range {
            m.apply_product(&ProductEvent {
                item_id: format!("i{}", n % 40),
                ts: n as i64,
                title: format!("thing {}", n % 7),
                category: vec![],
                brand: None,
                price: None,
                description: None,
                attributes: Default::default(),
            });
            m.apply(&EnrichedEvent {
                event_id: n.to_string(),
                user_id: format!("u{}", n % 13),
                item_id: format!("i{}", (n * 7) % 40),
                kind: BehaviorKind::View,
                ts: n as i64,
                weight: 1.0,
                origin: Origin::Real,
                synthetic: false,
                model_version: None,
                rating: None,
                review_text: None,
            });
        }
    }

    #[test]
    fn a_restored_model_continues_exactly_like_one_that_never_stopped() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("model.snap");
        assert!(load(&path).unwrap().is_none());
        let mut straight = Online::new(OnlineConfig::default());
        events(&mut straight, 0..300);
        let mut first = Online::new(OnlineConfig::default());
        events(&mut first, 0..150);
        let offsets: Offsets = BTreeMap::from([("t".to_string(), BTreeMap::from([(0, 150)]))]);
        save(&path, &first, &offsets).unwrap();
        drop(first);
        let snap = load(&path).unwrap().unwrap();
        assert_eq!(snap.offsets, offsets);
        let mut resumed = snap.model;
        events(&mut resumed, 150..300);
        for u in 0..13 {
            assert_eq!(
                resumed.recommend(&format!("u{u}"), 10),
                straight.recommend(&format!("u{u}"), 10)
            );
        }
    }

    #[test]
    fn a_corrupt_snapshot_is_a_clear_error_naming_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("bad.snap");
        std::fs::write(&path, b"not gzip").unwrap();
        let e = load(&path).err().unwrap().to_string();
        assert!(e.contains("bad.snap"), "{e}");
    }
}
