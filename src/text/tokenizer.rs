//! The review vocabulary: byte-level BPE (GPT-2 style) trained with the `tokenizers` crate on
//! the training split only, saved as `tokenizer.json` beside the generator's checkpoint.
//!
//! Byte-level BPE because any text, including emoji and typos in reviews, encodes without an
//! unknown token, and decoding returns exactly the bytes the pieces stand for (spaces included),
//! so generated text needs no detokenisation heuristics. Lower-cased: the corpus capitalises
//! inconsistently, and the vocabulary is small.

use std::path::Path;
use tokenizers::models::bpe::{BpeTrainerBuilder, BPE};
use tokenizers::normalizers::Lowercase;
use tokenizers::pre_tokenizers::byte_level::ByteLevel;
use tokenizers::{AddedToken, Tokenizer, TokenizerBuilder};

pub const PAD: &str = "<pad>";
pub const BOS: &str = "<s>";
pub const EOS: &str = "</s>";

#[derive(Debug, thiserror::Error)]
#[error("tokenizer {path}: {reason}")]
pub struct TokenizerError {
    pub path: String,
    pub reason: String,
}

impl From<TokenizerError> for crate::artifact::error::TrainError {
    fn from(e: TokenizerError) -> Self {
        crate::artifact::error::TrainError::Tokenizer(Box::new(e))
    }
}

pub struct ReviewTokenizer {
    inner: Tokenizer,
    pub pad: u32,
    pub bos: u32,
    pub eos: u32,
}

impl ReviewTokenizer {
    fn wrap(inner: Tokenizer, path: &str) -> Result<Self, TokenizerError> {
        let id = |t: &str| {
            inner.token_to_id(t).ok_or_else(|| TokenizerError {
                path: path.to_owned(),
                reason: format!("no special token {t}"),
            })
        };
        Ok(ReviewTokenizer {
            pad: id(PAD)?,
            bos: id(BOS)?,
            eos: id(EOS)?,
            inner,
        })
    }

    /// Trains a vocabulary of `vocab_size` pieces on `texts`.
    pub fn train<'a>(
        texts: impl Iterator<Item = &'a str> + Send,
        vocab_size: usize,
    ) -> Result<Self, TokenizerError> {
        let err = |e: tokenizers::Error| TokenizerError {
            path: "(training)".into(),
            reason: e.to_string(),
        };
        let mut trainer = BpeTrainerBuilder::new()
            .vocab_size(vocab_size)
            .min_frequency(2)
            .show_progress(false)
            .special_tokens([PAD, BOS, EOS].map(|t| AddedToken::from(t, true)).to_vec())
            .initial_alphabet(ByteLevel::alphabet().into_iter().collect())
            .build();
        let mut t = TokenizerBuilder::new()
            .with_model(BPE::default())
            .with_normalizer(Some(Lowercase))
            .with_pre_tokenizer(Some(ByteLevel::default()))
            .with_post_processor(Some(ByteLevel::default()))
            .with_decoder(Some(ByteLevel::default()))
            .build()
            .map_err(err)?;
        t.train(&mut trainer, texts).map_err(err)?;
        Self::wrap(Tokenizer::from(t), "(training)")
    }

    pub fn save(&self, path: &Path) -> Result<(), TokenizerError> {
        self.inner.save(path, false).map_err(|e| TokenizerError {
            path: path.display().to_string(),
            reason: e.to_string(),
        })
    }

    pub fn load(path: &Path) -> Result<Self, TokenizerError> {
        let name = path.display().to_string();
        let inner = Tokenizer::from_file(path).map_err(|e| TokenizerError {
            path: name.clone(),
            reason: e.to_string(),
        })?;
        Self::wrap(inner, &name)
    }

    pub fn vocab_size(&self) -> usize {
        self.inner.get_vocab_size(true)
    }

    pub fn encode(&self, text: &str) -> Vec<u32> {
        self.inner
            .encode(text, false)
            .map(|e| e.get_ids().to_vec())
            .unwrap_or_default()
    }

    /// Text of `ids` without special tokens; always valid UTF-8 (bytes that do not form a
    /// character become U+FFFD).
    pub fn decode(&self, ids: &[u32]) -> String {
        self.inner.decode(ids, true).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_text_and_saves_and_loads() {
        let corpus = [
            "love this dress, it fits perfectly!",
            "the fabric is soft and the color is lovely",
            "runs small; order a size up. love the color",
        ];
        let t = ReviewTokenizer::train(corpus.iter().copied(), 300).unwrap();
        let text = "love the color of this dress";
        let ids = t.encode(text);
        assert!(!ids.is_empty());
        assert_eq!(t.decode(&ids).trim(), text);
        // Unseen characters still encode (byte level) and decode back.
        assert_eq!(t.decode(&t.encode("naïve ☺")).trim(), "naïve ☺");
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("tokenizer.json");
        t.save(&path).unwrap();
        let u = ReviewTokenizer::load(&path).unwrap();
        assert_eq!(u.encode(text), ids);
        assert_eq!((u.pad, u.bos, u.eos), (t.pad, t.bos, t.eos));
        std::fs::write(&path, "{").unwrap();
        let err = ReviewTokenizer::load(&path).err().unwrap().to_string();
        assert!(err.contains("tokenizer.json"), "{err}");
    }
}
