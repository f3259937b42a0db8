//! The resume file written beside a checkpoint's f16 weights: everything a trainer needs to
//! continue exactly where it stopped, as f32 / i64 safetensors.
//!
//! A trainer's state is a set of parts, each a `VarStore` and the [`Adam`] that trains it, plus
//! named counters (epochs or steps done, running sums). Tensor names: `<part>/weight/<variable>`,
//! `<part>/m/<variable>`, `<part>/v/<variable>`, `<part>/step`, `counter/<name>`.
//!
//! Reading is strict, and every error names the file: a missing, extra, mis-shaped or non-f32
//! tensor means the file is not this model's, and f32 weights that do not round to the f16
//! checkpoint beside them mean it is not that checkpoint's (a stale file, say after the weights
//! were restored from git): resuming from either would not be exact.

use super::Adam;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use tch::nn::VarStore;
use tch::{Device, Kind, Tensor};

/// The resume file's name in a checkpoint folder (git-ignored: it is f32 and holds moments).
pub const RESUME_FILE: &str = "resume.safetensors";

#[derive(Debug, thiserror::Error)]
#[error("resume file {}: {reason}", path.display())]
pub struct ResumeError {
    pub path: PathBuf,
    pub reason: String,
}

/// What a part's variables hold when it is restored, which decides the staleness check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Current {
    /// The f16 checkpoint written with the resume file: each f32 weight must round to it.
    F16Checkpoint,
    /// A fresh initialisation (the part has no f16 checkpoint): nothing to compare.
    Fresh,
}

/// A resume file being written (`new`, parts and counters, `write`) or read (`read`, then
/// `restore` and `counter` for each, then `finish`, which refuses tensors nobody asked for).
pub struct ResumeFile {
    path: PathBuf,
    tensors: HashMap<String, Tensor>,
}

impl ResumeFile {
    pub fn new(path: &Path) -> Self {
        ResumeFile {
            path: path.to_owned(),
            tensors: HashMap::new(),
        }
    }

    fn fail(&self, reason: impl Into<String>) -> ResumeError {
        ResumeError {
            path: self.path.clone(),
            reason: reason.into(),
        }
    }

    /// Adds part `part`: the f32 weights of `vars` and the state of `opt`, copied now (a later
    /// f16 save rounds the weights in place).
    pub fn add(&mut self, part: &str, vars: &VarStore, opt: &Adam) {
        let cpu = |t: &Tensor| t.detach().to_kind(Kind::Float).to(Device::Cpu).copy();
        for (name, t) in vars.variables() {
            self.tensors
                .insert(format!("{part}/weight/{name}"), cpu(&t));
        }
        for p in &opt.params {
            self.tensors
                .insert(format!("{part}/m/{}", p.name), cpu(&p.m));
            self.tensors
                .insert(format!("{part}/v/{}", p.name), cpu(&p.v));
        }
        self.tensors.insert(
            format!("{part}/step"),
            Tensor::from_slice(&[opt.step as i64]),
        );
    }

    pub fn set_counter(&mut self, name: &str, value: u64) {
        self.tensors.insert(
            format!("counter/{name}"),
            Tensor::from_slice(&[value as i64]),
        );
    }

    /// Values that are not counts (running sums of a partial curve point), as f64.
    pub fn set_values(&mut self, name: &str, values: &[f64]) {
        self.tensors
            .insert(format!("counter/{name}"), Tensor::from_slice(values));
    }

    /// Writes through a temporary file and a rename, so that a crash leaves the previous file.
    pub fn write(&self) -> Result<(), ResumeError> {
        let mut named: Vec<(&String, &Tensor)> = self.tensors.iter().collect();
        named.sort_by(|a, b| a.0.cmp(b.0));
        let tmp = self.path.with_extension("safetensors.tmp");
        Tensor::write_safetensors(&named, &tmp).map_err(|e| self.fail(e.to_string()))?;
        std::fs::rename(&tmp, &self.path).map_err(|e| self.fail(e.to_string()))
    }

    pub fn read(path: &Path) -> Result<Self, ResumeError> {
        let mut file = ResumeFile::new(path);
        file.tensors = Tensor::read_safetensors(path)
            .map_err(|e| file.fail(e.to_string()))?
            .into_iter()
            .collect();
        Ok(file)
    }

    /// The resume file at `path` if there is one. If not, a resumed run can only start from the
    /// f16 weights with fresh optimizer moments: said in a warning, since it is not exact.
    pub fn read_or_warn(path: &Path) -> Result<Option<Self>, ResumeError> {
        if path.exists() {
            return Self::read(path).map(Some);
        }
        tracing::warn!(
            file = %path.display(),
            "no resume file: resuming from the f16 weights with fresh optimizer moments, \
             which is not the run an uninterrupted training would have made"
        );
        Ok(None)
    }

    /// Takes tensor `name` of kind `kind` and shape `shape`.
    fn take(&mut self, name: &str, kind: Kind, shape: &[i64]) -> Result<Tensor, ResumeError> {
        let t = self
            .tensors
            .remove(name)
            .ok_or_else(|| self.fail(format!("no tensor {name}")))?;
        if t.kind() != kind || t.size() != shape {
            return Err(self.fail(format!(
                "{name} is {:?} {:?}, the model needs {kind:?} {shape:?}",
                t.kind(),
                t.size()
            )));
        }
        Ok(t)
    }

    /// Restores part `part` into `vars` and `opt` (see [`Current`] for the staleness check).
    pub fn restore(
        &mut self,
        part: &str,
        vars: &VarStore,
        opt: &mut Adam,
        current: Current,
    ) -> Result<(), ResumeError> {
        // In name order, so that a bad file always reports the same first problem.
        let mut named: Vec<(String, Tensor)> = vars.variables().into_iter().collect();
        named.sort_by(|a, b| a.0.cmp(&b.0));
        for (name, mut t) in named {
            let key = format!("{part}/weight/{name}");
            let w = self.take(&key, Kind::Float, &t.size())?;
            if current == Current::F16Checkpoint {
                let rounded = w.to_kind(Kind::Half).to_kind(Kind::Float);
                if !rounded.equal(&t.to(Device::Cpu)) {
                    return Err(self.fail(format!(
                        "{key} does not round to the f16 checkpoint beside it, so the file is \
                         from another run; delete it to resume from the f16 weights with fresh \
                         optimizer moments"
                    )));
                }
            }
            tch::no_grad(|| t.copy_(&w));
        }
        for i in 0..opt.params.len() {
            let (name, size) = (opt.params[i].name.clone(), opt.params[i].m.size());
            let m = self.take(&format!("{part}/m/{name}"), Kind::Float, &size)?;
            let v = self.take(&format!("{part}/v/{name}"), Kind::Float, &size)?;
            let p = &mut opt.params[i];
            p.m.copy_(&m);
            p.v.copy_(&v);
        }
        opt.step = self.take_count(&format!("{part}/step"))?;
        Ok(())
    }

    fn take_count(&mut self, key: &str) -> Result<u64, ResumeError> {
        let t = self.take(key, Kind::Int64, &[1])?;
        Ok(t.int64_value(&[0]) as u64)
    }

    pub fn counter(&mut self, name: &str) -> Result<u64, ResumeError> {
        self.take_count(&format!("counter/{name}"))
    }

    pub fn values(&mut self, name: &str, len: usize) -> Result<Vec<f64>, ResumeError> {
        let t = self.take(&format!("counter/{name}"), Kind::Double, &[len as i64])?;
        Ok(Vec::<f64>::try_from(t).expect("f64 tensor"))
    }

    /// Checks that counter `name` is `expected` (the epochs the model card records, say).
    pub fn expect_counter(
        &mut self,
        name: &str,
        expected: u64,
        source: &str,
    ) -> Result<(), ResumeError> {
        let got = self.counter(name)?;
        if got != expected {
            return Err(self.fail(format!("{name} is {got}, {source} says {expected}")));
        }
        Ok(())
    }

    /// Refuses a file with tensors the model has no use for (another model's, or a larger one).
    pub fn finish(self) -> Result<(), ResumeError> {
        let mut left: Vec<&String> = self.tensors.keys().collect();
        left.sort();
        match left.first() {
            None => Ok(()),
            Some(name) => Err(self.fail(format!(
                "{} tensors the model does not have, such as {name}",
                left.len()
            ))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tch::nn::{self, Module};

    fn model(out: i64) -> (VarStore, nn::Linear, Adam) {
        let vars = VarStore::new(Device::Cpu);
        let layer = nn::linear(vars.root() / "l", 4, out, Default::default());
        let opt = Adam::new(&vars, 1e-2);
        (vars, layer, opt)
    }

    fn err(r: Result<(), ResumeError>) -> String {
        r.unwrap_err().to_string()
    }

    #[test]
    fn restores_weights_moments_and_counters_and_names_the_file_when_it_cannot() {
        let _rng = crate::torch::rng_lock();
        tch::manual_seed(1);
        let (vars, layer, mut opt) = model(2);
        let x = Tensor::randn([8, 4], (Kind::Float, Device::Cpu));
        opt.backward_step(&layer.forward(&x).square().mean(Kind::Float));
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("resume.safetensors");
        let mut file = ResumeFile::new(&path);
        file.add("net", &vars, &opt);
        file.set_counter("epochs", 3);
        file.set_values("sums", &[0.5, 1.5]);
        file.write().unwrap();

        let (other, _, mut other_opt) = model(2);
        let mut read = ResumeFile::read(&path).unwrap();
        read.restore("net", &other, &mut other_opt, Current::Fresh)
            .unwrap();
        assert_eq!(read.counter("epochs").unwrap(), 3);
        assert_eq!(read.values("sums", 2).unwrap(), [0.5, 1.5]);
        read.finish().unwrap();
        assert_eq!(crate::optim::weights(&other), crate::optim::weights(&vars));
        assert_eq!(other_opt.steps(), 1);
        for (p, q) in other_opt.params.iter().zip(&opt.params) {
            assert!(p.m.equal(&q.m) && p.v.equal(&q.v), "{}", p.name);
        }

        // Unread tensors: a file with more than the model asked for.
        let mut partial = ResumeFile::read(&path).unwrap();
        partial
            .restore("net", &other, &mut other_opt, Current::Fresh)
            .unwrap();
        let e = err(partial.finish());
        assert!(
            e.contains("resume.safetensors") && e.contains("counter/"),
            "{e}"
        );
        // Another shape: a wider model.
        let (wider, _, mut wider_opt) = model(3);
        let mut read = ResumeFile::read(&path).unwrap();
        let e = err(read.restore("net", &wider, &mut wider_opt, Current::Fresh));
        assert!(
            e.contains("resume.safetensors")
                && e.contains("l.bias is Float [2], the model needs Float [3]"),
            "{e}"
        );
        // A stale file: the variables hold an f16 checkpoint it was not written with.
        let mut read = ResumeFile::read(&path).unwrap();
        let e = err(read.restore("net", &other, &mut other_opt, Current::F16Checkpoint));
        assert!(
            e.contains("resume.safetensors") && e.contains("does not round"),
            "{e}"
        );
        // Not a safetensors file at all.
        std::fs::write(&path, b"garbage").unwrap();
        let e = ResumeFile::read(&path).err().unwrap().to_string();
        assert!(e.contains("resume.safetensors"), "{e}");
    }
}
