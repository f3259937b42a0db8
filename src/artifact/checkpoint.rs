//! Checkpoints of a `VarStore` as safetensors, in f16: half the size of f32, which keeps the
//! committed default models at a few MB. The weights in memory are rounded to f16 when saved, so
//! the model that keeps running and the model loaded from the file are the same model
//! (bit-identical outputs). Loading checks every tensor's name and shape, and every error names
//! the file.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use tch::{nn::VarStore, Device, Kind, Tensor};

#[derive(Debug, thiserror::Error)]
#[error("checkpoint {}: {reason}", path.display())]
pub struct CheckpointError {
    pub path: PathBuf,
    pub reason: String,
}

pub fn save_f16(vars: &VarStore, path: &Path) -> Result<(), CheckpointError> {
    let mut named = Vec::new();
    tch::no_grad(|| {
        for (name, mut t) in vars.variables() {
            let half = t.to_kind(Kind::Half);
            t.copy_(&half.to_kind(Kind::Float));
            named.push((name, half.to(Device::Cpu)));
        }
    });
    Tensor::write_safetensors(&named, path).map_err(|e| CheckpointError {
        path: path.to_owned(),
        reason: e.to_string(),
    })
}

pub fn load(vars: &VarStore, path: &Path) -> Result<(), CheckpointError> {
    let fail = |reason: String| CheckpointError {
        path: path.to_owned(),
        reason,
    };
    let stored: HashMap<String, Tensor> = Tensor::read_safetensors(path)
        .map_err(|e| fail(e.to_string()))?
        .into_iter()
        .collect();
    let mut variables = vars.variables();
    for (name, t) in variables.iter_mut() {
        let s = stored
            .get(name)
            .ok_or_else(|| fail(format!("no tensor {name}")))?;
        if s.size() != t.size() {
            return Err(fail(format!(
                "{name} has shape {:?}, the config needs {:?}",
                s.size(),
                t.size()
            )));
        }
        tch::no_grad(|| t.copy_(&s.to_kind(Kind::Float).to(t.device())));
    }
    if stored.len() != variables.len() {
        return Err(fail(format!(
            "{} tensors, the config has {}",
            stored.len(),
            variables.len()
        )));
    }
    Ok(())
}
