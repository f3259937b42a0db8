//! Progress bars for long work (training, evaluation): one constructor, so every bar can be
//! hidden (tests, `progress = false`) the same way, and templates are checked in one place.

use indicatif::{ProgressBar, ProgressStyle};

/// A bar of `len` steps drawn with `template` (indicatif syntax), or a hidden one.
pub fn bar(show: bool, len: u64, template: &str) -> ProgressBar {
    let bar = if show {
        ProgressBar::new(len)
    } else {
        ProgressBar::hidden()
    };
    bar.set_style(ProgressStyle::with_template(template).expect("valid progress template"));
    bar
}
