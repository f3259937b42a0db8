//! The conditional review generator: a GRU language model over BPE pieces whose initial state is
//! built from the conditions (target rating, department, class), so every review it writes is
//! for a given kind of product and a given rating.
//!
//! Training is maximum likelihood with teacher forcing (the pre-training stage of SeqGAN / RelGAN;
//! the adversarial stage builds on this model). Sampling is ancestral with a temperature, the knob
//! of the quality-diversity curve.

use super::tokenizer::ReviewTokenizer;
use tch::nn::{self, Module, RNN};
use tch::{Device, Kind, Tensor};

#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct GeneratorConfig {
    pub vocab: i64,
    pub departments: i64,
    pub classes: i64,
    pub embed: i64,
    pub hidden: i64,
    /// Pieces per review, end marker included; longer reviews are cut for training.
    pub max_len: i64,
}

/// One example's conditions, as indices into the condition vocabularies (0 = unknown).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Condition {
    /// 1-5.
    pub rating: u8,
    pub department: i64,
    pub class: i64,
}

pub struct ReviewGenerator {
    pub config: GeneratorConfig,
    tokens: nn::Embedding,
    rating: nn::Embedding,
    department: nn::Embedding,
    class: nn::Embedding,
    gru: nn::GRU,
    out: nn::Linear,
}

fn cond_tensors(conds: &[Condition], device: Device) -> (Tensor, Tensor, Tensor) {
    let r: Vec<i64> = conds.iter().map(|c| c.rating as i64 - 1).collect();
    let d: Vec<i64> = conds.iter().map(|c| c.department).collect();
    let k: Vec<i64> = conds.iter().map(|c| c.class).collect();
    (
        Tensor::from_slice(&r).to(device),
        Tensor::from_slice(&d).to(device),
        Tensor::from_slice(&k).to(device),
    )
}

impl ReviewGenerator {
    pub fn new(p: &nn::Path, config: GeneratorConfig) -> Self {
        let c = &config;
        ReviewGenerator {
            tokens: nn::embedding(p / "tokens", c.vocab, c.embed, Default::default()),
            rating: nn::embedding(p / "rating", 5, c.hidden, Default::default()),
            department: nn::embedding(
                p / "department",
                c.departments,
                c.hidden,
                Default::default(),
            ),
            class: nn::embedding(p / "class", c.classes, c.hidden, Default::default()),
            gru: nn::gru(
                p / "gru",
                c.embed,
                c.hidden,
                nn::RNNConfig {
                    batch_first: true,
                    ..Default::default()
                },
            ),
            out: nn::linear(p / "out", c.hidden, c.vocab, Default::default()),
            config,
        }
    }

    /// The initial GRU state for each condition: [1, batch, hidden].
    fn initial_state(&self, conds: &[Condition], device: Device) -> nn::GRUState {
        let (r, d, k) = cond_tensors(conds, device);
        let h = (self.rating.forward(&r) + self.department.forward(&d) + self.class.forward(&k))
            .tanh()
            .unsqueeze(0);
        nn::GRUState(h)
    }

    /// Logits [batch, time, vocab] for `input` pieces [batch, time] (BOS first).
    pub fn forward(&self, conds: &[Condition], input: &Tensor) -> Tensor {
        let h0 = self.initial_state(conds, input.device());
        let (out, _) = self.gru.seq_init(&self.tokens.forward(input), &h0);
        self.out.forward(&out)
    }

    /// Teacher-forced inputs and targets for a batch of piece sequences: `[BOS, t1..tn]` and
    /// `[t1..tn, EOS]`, cut to `max_len` and padded with `pad`.
    pub fn batch(
        &self,
        seqs: &[&[u32]],
        tok: &ReviewTokenizer,
        device: Device,
    ) -> (Tensor, Tensor) {
        let max = self.config.max_len as usize;
        let len = seqs
            .iter()
            .map(|s| s.len().min(max - 1) + 1)
            .max()
            .unwrap_or(1);
        let mut input = vec![tok.pad as i64; seqs.len() * len];
        let mut target = vec![tok.pad as i64; seqs.len() * len];
        for (b, s) in seqs.iter().enumerate() {
            let s = &s[..s.len().min(max - 1)];
            input[b * len] = tok.bos as i64;
            for (t, &p) in s.iter().enumerate() {
                input[b * len + t + 1] = p as i64;
                target[b * len + t] = p as i64;
            }
            target[b * len + s.len()] = tok.eos as i64;
        }
        let shape = [seqs.len() as i64, len as i64];
        (
            Tensor::from_slice(&input).reshape(shape).to(device),
            Tensor::from_slice(&target).reshape(shape).to(device),
        )
    }

    /// Mean negative log-likelihood per piece (padding excluded).
    pub fn nll(&self, conds: &[Condition], input: &Tensor, target: &Tensor, pad: u32) -> Tensor {
        let logits = self.forward(conds, input);
        logits
            .view([-1, self.config.vocab])
            .cross_entropy_loss::<Tensor>(
                &target.view([-1]),
                None,
                tch::Reduction::Mean,
                pad as i64,
                0.0,
            )
    }

    /// A differentiable free-running rollout of `len` steps for the adversarial stage: each
    /// step's output is a Gumbel-softmax relaxation of a sampled piece (temperature `tau`, as in
    /// RelGAN, Nie et al., ICLR 2019), and the next input is that soft one-hot times the piece
    /// embeddings. Returns [batch, len, vocab].
    pub fn gumbel_rollout(
        &self,
        conds: &[Condition],
        bos: u32,
        len: i64,
        tau: f64,
        device: Device,
    ) -> Tensor {
        let n = conds.len() as i64;
        let mut state = self.initial_state(conds, device);
        let mut x = self
            .tokens
            .forward(&Tensor::full([n], bos as i64, (Kind::Int64, device)))
            .unsqueeze(1);
        let mut outputs = Vec::with_capacity(len as usize);
        for _ in 0..len {
            let (o, s) = self.gru.seq_init(&x, &state);
            state = s;
            let logits = self.out.forward(&o.squeeze_dim(1));
            let u = Tensor::rand_like(&logits).clamp(1e-10, 1.0);
            let gumbel = -(-u.log()).log();
            let y = ((logits + gumbel) / tau).softmax(-1, Kind::Float);
            x = y.matmul(&self.tokens.ws).unsqueeze(1);
            outputs.push(y);
        }
        Tensor::stack(&outputs, 1)
    }

    /// Samples one review per condition at `temperature`; returns piece ids without markers,
    /// at most `max_len - 1` pieces each.
    ///
    /// Finished rows leave the batch (their state rows are dropped), so a batch costs the sum of
    /// its reviews' lengths, not its size times the longest: that is what makes batching pay.
    pub fn sample(
        &self,
        conds: &[Condition],
        tok: &ReviewTokenizer,
        temperature: f64,
        device: Device,
    ) -> Vec<Vec<u32>> {
        let _guard = tch::no_grad_guard();
        let n = conds.len();
        let mut state = self.initial_state(conds, device).0;
        let mut token = Tensor::full([n as i64], tok.bos as i64, (Kind::Int64, device));
        let mut out: Vec<Vec<u32>> = vec![Vec::new(); n];
        // The output row of each row still in the batch.
        let mut active: Vec<usize> = (0..n).collect();
        for _ in 0..self.config.max_len - 1 {
            if active.is_empty() {
                break;
            }
            let x = self.tokens.forward(&token).unsqueeze(1);
            let (o, s) = self.gru.seq_init(&x, &nn::GRUState(state));
            state = s.0;
            let logits = self.out.forward(&o.squeeze_dim(1)) / temperature.max(1e-3);
            token = crate::torch::sample_categorical(&logits);
            let ids = Vec::<i64>::try_from(token.to(Device::Cpu)).expect("int64 tokens");
            let mut keep = Vec::with_capacity(active.len());
            for (row, &id) in ids.iter().enumerate() {
                if id as u32 == tok.eos {
                    continue;
                }
                if id as u32 != tok.pad && id as u32 != tok.bos {
                    out[active[row]].push(id as u32);
                }
                keep.push(row as i64);
            }
            if keep.len() < active.len() {
                let rows = Tensor::from_slice(&keep).to(device);
                state = state.index_select(1, &rows);
                token = token.index_select(0, &rows);
                active = keep.iter().map(|&r| active[r as usize]).collect();
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tch::nn::OptimizerConfig;

    fn setup(seed: i64) -> (ReviewTokenizer, nn::VarStore, ReviewGenerator) {
        let corpus = [
            "love this dress, it fits perfectly and the color is lovely",
            "runs small, the fabric is thin and it ripped",
            "great sweater, soft and warm",
        ];
        let tok = ReviewTokenizer::train(corpus.iter().copied(), 280).unwrap();
        tch::manual_seed(seed);
        let vars = nn::VarStore::new(Device::Cpu);
        let g = ReviewGenerator::new(
            &vars.root(),
            GeneratorConfig {
                vocab: tok.vocab_size() as i64,
                departments: 3,
                classes: 3,
                embed: 16,
                hidden: 32,
                max_len: 12,
            },
        );
        (tok, vars, g)
    }

    fn cond(rating: u8) -> Condition {
        Condition {
            rating,
            department: 1,
            class: 2,
        }
    }

    #[test]
    fn training_steps_lower_the_loss() {
        let _rng = crate::torch::rng_lock();
        let (tok, vars, g) = setup(1);
        let texts = [
            "love this dress, it fits perfectly",
            "runs small, the fabric is thin",
        ];
        let seqs: Vec<Vec<u32>> = texts.iter().map(|t| tok.encode(t)).collect();
        let refs: Vec<&[u32]> = seqs.iter().map(Vec::as_slice).collect();
        let conds = [cond(5), cond(1)];
        let (input, target) = g.batch(&refs, &tok, Device::Cpu);
        let mut opt = nn::Adam::default().build(&vars, 1e-2).unwrap();
        let first = g.nll(&conds, &input, &target, tok.pad).double_value(&[]);
        for _ in 0..60 {
            let loss = g.nll(&conds, &input, &target, tok.pad);
            opt.backward_step(&loss);
        }
        let last = g.nll(&conds, &input, &target, tok.pad).double_value(&[]);
        assert!(last < first * 0.5, "{first} -> {last}");
    }

    #[test]
    fn samples_respect_the_length_limit_and_decode_to_text() {
        let _rng = crate::torch::rng_lock();
        let (tok, _vars, g) = setup(2);
        let conds: Vec<Condition> = (1..=5).map(cond).collect();
        for t in [0.5, 1.0, 3.0] {
            for ids in g.sample(&conds, &tok, t, Device::Cpu) {
                assert!(ids.len() <= 11, "{} pieces", ids.len());
                assert!(!ids.contains(&tok.bos) && !ids.contains(&tok.eos));
                // A Rust String is valid UTF-8 by construction; decoding never fails.
                let _text: String = tok.decode(&ids);
            }
        }
    }

    #[test]
    fn a_saved_generator_loads_to_identical_outputs() {
        let _rng = crate::torch::rng_lock();
        let (tok, vars, g) = setup(3);
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("generator.safetensors");
        crate::artifact::checkpoint::save_f16(&vars, &path).unwrap();
        let (_, other_vars, other) = setup(4);
        let seq = tok.encode("love this dress");
        let (input, _) = g.batch(&[&seq], &tok, Device::Cpu);
        let out = |m: &ReviewGenerator| {
            Vec::<f32>::try_from(m.forward(&[cond(4)], &input).flatten(0, -1)).unwrap()
        };
        assert_ne!(out(&g), out(&other));
        crate::artifact::checkpoint::load(&other_vars, &path).unwrap();
        assert_eq!(out(&g), out(&other));
    }
}
