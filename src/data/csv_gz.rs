//! A gzipped RFC 4180 CSV file, read whole so that an error's byte position can be turned into
//! a true line number (review texts contain commas, doubled quotes and line ends, so only a real
//! CSV parser splits records correctly, and only the text itself tells the line).

use super::assemble::open_gz;
use super::DataError;
use std::io::Read;
use std::path::{Path, PathBuf};

pub(crate) struct CsvGz {
    pub path: PathBuf,
    text: Vec<u8>,
}

/// The 1-based line on which the record at byte `pos` starts. The csv crate's own line count is
/// one short after a CRLF (it stops at the `\r` and counts the `\n` as part of the next record),
/// so this counts in the text itself, skipping the line ends a record position may point at.
fn line_at(text: &[u8], pos: u64) -> usize {
    let pos = (pos as usize).min(text.len());
    let start = text[pos..]
        .iter()
        .position(|&b| b != b'\r' && b != b'\n')
        .map_or(text.len(), |skip| pos + skip);
    1 + text[..start].iter().filter(|&&b| b == b'\n').count()
}

fn csv_error(path: &Path, text: &[u8], e: csv::Error) -> DataError {
    let line = e.position().map_or(0, |p| line_at(text, p.byte()));
    // Our own wording: the crate's message carries its own (CRLF-shifted) line number.
    let reason = match e.kind() {
        csv::ErrorKind::UnequalLengths {
            expected_len, len, ..
        } => format!("expected {expected_len} fields, found {len}"),
        csv::ErrorKind::Utf8 { err, .. } => format!("invalid UTF-8 in field {}", err.field() + 1),
        _ => e.to_string(),
    };
    match e.into_kind() {
        csv::ErrorKind::Io(source) => DataError::Io {
            path: path.to_owned(),
            source,
        },
        _ => DataError::Format {
            path: path.to_owned(),
            line,
            reason,
        },
    }
}

impl CsvGz {
    pub fn open(path: PathBuf) -> Result<Self, DataError> {
        let mut text = Vec::new();
        open_gz(&path)?
            .read_to_end(&mut text)
            .map_err(|source| DataError::Io {
                path: path.clone(),
                source,
            })?;
        Ok(CsvGz { path, text })
    }

    /// A reader positioned after the header, and the indices of the `names` columns.
    pub fn reader<const N: usize>(
        &self,
        names: [&str; N],
    ) -> Result<(csv::Reader<&[u8]>, [usize; N]), DataError> {
        let mut reader = csv::ReaderBuilder::new()
            .has_headers(true)
            .from_reader(&self.text[..]);
        let headers = reader.headers().map_err(|e| self.error(e))?.clone();
        let mut cols = [0; N];
        for (c, name) in cols.iter_mut().zip(names) {
            *c = headers
                .iter()
                .position(|h| h == name)
                .ok_or_else(|| DataError::Format {
                    path: self.path.clone(),
                    line: 1,
                    reason: format!("no column {name:?} in the header"),
                })?;
        }
        Ok((reader, cols))
    }

    pub fn error(&self, e: csv::Error) -> DataError {
        csv_error(&self.path, &self.text, e)
    }

    /// A format error for the record starting at byte `pos`.
    pub fn bad(&self, record: &csv::StringRecord, reason: String) -> DataError {
        DataError::Format {
            path: self.path.clone(),
            line: line_at(&self.text, record.position().map_or(0, |p| p.byte())),
            reason,
        }
    }
}
