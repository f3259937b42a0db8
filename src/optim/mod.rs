//! Training state that survives a restart, so that `--resume` continues a run exactly.
//!
//! Two things made a resumed run differ from an uninterrupted one:
//!
//! - tch's `nn::Optimizer` wraps libtorch's C++ optimizer and cannot export its state: Adam's
//!   moments and step count were lost, and a resumed run restarted them from zero. [`Adam`] is
//!   the same algorithm written with tensor operations, so its state is ours to save.
//! - The committed checkpoints are f16 (a few MB in git); resuming from them rounds every weight.
//!   A [`ResumeFile`] beside them keeps the f32 weights, the optimizers' state and the counters
//!   a trainer needs; it is not committed.
//!
//! Randomness is the third: a trainer draws each epoch's (or step's) batches and noise from
//! generators seeded by [`seed_for`]`(seed, epoch)`, so that a resumed run needs no generator
//! position, only the number of epochs done.

mod adam;
mod resume;

pub use adam::Adam;
pub use resume::{Current, ResumeError, ResumeFile, RESUME_FILE};

/// The seed of unit `index` (an epoch, a step) of a run seeded `seed`. SplitMix64's finaliser
/// on both, so that neighbouring (seed, index) pairs, such as (42, 1) and (43, 0), give unrelated
/// streams.
pub fn seed_for(seed: u64, index: u64) -> u64 {
    fn mix(mut z: u64) -> u64 {
        z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    mix(mix(seed) ^ index)
}

/// Seeds libtorch's global generator for unit `index` of a run (the noise of a GAN epoch or
/// step) and returns a `rand` generator for the same unit (its batches).
pub fn seed_unit(seed: u64, index: u64) -> rand::rngs::StdRng {
    use rand::SeedableRng;
    let s = seed_for(seed, index);
    tch::manual_seed(s as i64);
    rand::rngs::StdRng::seed_from_u64(s)
}

/// Every variable of `vars` as (name, f32 values), sorted by name: what tests compare.
#[cfg(test)]
pub(crate) fn weights(vars: &tch::nn::VarStore) -> Vec<(String, Vec<f32>)> {
    let mut named: Vec<(String, Vec<f32>)> = vars
        .variables()
        .into_iter()
        .map(|(name, t)| (name, Vec::<f32>::try_from(t.flatten(0, -1)).unwrap()))
        .collect();
    named.sort_by(|a, b| a.0.cmp(&b.0));
    named
}
