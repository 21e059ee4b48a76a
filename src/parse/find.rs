//! `find DIR/ -mindepth 1 -maxdepth 1 -printf '%f\0'` (GNU findutils, as on VZ7): the names
//! of a directory's entries, each followed by a NUL, in directory order. A name may hold
//! any byte but `/` and NUL (spaces, newlines, a leading dot), so NUL is the only safe
//! separator; the output is empty for an empty directory.

use super::ParseError;

/// The entry names, exactly as printed. Strict: the output is empty or ends with a NUL,
/// and no name is empty, `.`, `..`, holds a `/`, or was not valid UTF-8 (the transport
/// decodes stdout as UTF-8 and replaces what is not: such a name could not be named back).
pub fn entries(stdout: &str) -> Result<Vec<String>, ParseError> {
    let err = |problem: String| ParseError::new("find -printf '%f\\0'", problem);
    if stdout.is_empty() {
        return Ok(Vec::new());
    }
    let Some(body) = stdout.strip_suffix('\0') else {
        return Err(err(format!("{:?} does not end with a NUL", tail(stdout))));
    };
    body.split('\0')
        .map(|name| match name {
            "" => Err(err("an empty name".into())),
            "." | ".." => Err(err(format!("{name:?} is listed"))),
            n if n.contains('/') => Err(err(format!("{n:?} holds a '/'"))),
            n if n.contains('\u{FFFD}') => Err(err(format!(
                "{n:?} is not valid UTF-8 (a byte was replaced)"
            ))),
            n => Ok(n.to_string()),
        })
        .collect()
}

/// The end of a text, for an error message.
fn tail(text: &str) -> String {
    let start = text.char_indices().rev().nth(40).map_or(0, |(i, _)| i);
    text[start..].to_string()
}

#[cfg(test)]
mod tests {
    use super::entries;

    #[test]
    fn names_with_spaces_newlines_and_dots_come_back_exactly() {
        let out = "web 01\0two\nlines\0.hidden\0a3f0-uuid\0 lead\0trail \0";
        assert_eq!(
            entries(out).unwrap(),
            [
                "web 01",
                "two\nlines",
                ".hidden",
                "a3f0-uuid",
                " lead",
                "trail "
            ]
        );
    }

    #[test]
    fn an_empty_directory_is_no_names() {
        assert_eq!(entries("").unwrap(), Vec::<String>::new());
    }

    #[test]
    fn refuses_what_find_with_printf_nul_never_prints() {
        // Newline-separated (`ls`, or -printf without \0): the names cannot be told apart.
        assert!(entries("a\nb\n").is_err());
        assert!(entries("a\0b").is_err());
        assert!(entries("\0").is_err());
        assert!(entries("a\0\0b\0").is_err());
        assert!(entries(".\0a\0").is_err());
        assert!(entries("..\0").is_err());
        assert!(entries("dir/a\0").is_err());
        assert!(entries("caf\u{FFFD}\0").is_err());
    }
}
