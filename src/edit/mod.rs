//! Editors of configuration files as text: each keeps every byte it was not asked to change
//! (comments, odd spacing, tabs, a missing final newline), so a diff shows only the edit.

pub mod bytes;
pub mod conf;
pub mod fstab;
pub mod json;
pub mod sysctl_conf;

/// Appends a line, first ending the last line if the file lacks a final newline.
pub fn append_line(text: &str, line: &str) -> String {
    let mut out = text.to_string();
    if !out.is_empty() && !out.ends_with('\n') {
        out.push('\n');
    }
    out.push_str(line);
    out.push('\n');
    out
}

/// Splits into lines that keep their terminators, so joining them gives the text back.
pub fn lines_with_ends(text: &str) -> Vec<&str> {
    text.split_inclusive('\n').collect()
}
