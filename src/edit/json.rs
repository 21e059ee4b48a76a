//! Sets one member of a JSON document as text, keeping every other byte.
//!
//! Config files such as vcmmd's /etc/vz/vstorage-limits.conf are written by people: their
//! key order, indentation and line breaks carry meaning for whoever reads the next diff.
//! Parsing into a map and printing it again would sort the keys and fold the file onto one
//! line, so a one-number change would show as the whole file rewritten. Here the document is
//! scanned once for the byte spans of its members; a change replaces one value's span, or
//! adds one member after the last one of its object, spaced like its siblings.

use serde_json::Value;

/// The document is not JSON, or the path runs through something that is not an object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JsonError(pub String);

impl std::fmt::Display for JsonError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// Deeper nesting than this is refused rather than risking the stack.
const MAX_DEPTH: usize = 128;

/// One `"key": value` member of an object, by byte offsets into the text.
#[derive(Debug)]
struct Member {
    key: String,
    key_start: usize,
    key_end: usize,
    value: Span,
}

/// A value's bytes, and its members when it is an object.
#[derive(Debug)]
struct Span {
    start: usize,
    end: usize,
    members: Option<Vec<Member>>,
}

struct Scanner<'a> {
    text: &'a str,
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Scanner<'a> {
    fn error(&self, what: &str) -> JsonError {
        let line = self.text[..self.pos.min(self.text.len())]
            .matches('\n')
            .count()
            + 1;
        JsonError(format!("not valid JSON at line {line}: {what}"))
    }

    fn skip_space(&mut self) {
        while let Some(b' ' | b'\t' | b'\n' | b'\r') = self.bytes.get(self.pos) {
            self.pos += 1;
        }
    }

    fn expect(&mut self, byte: u8) -> Result<(), JsonError> {
        self.skip_space();
        if self.bytes.get(self.pos) == Some(&byte) {
            self.pos += 1;
            Ok(())
        } else {
            Err(self.error(&format!("expected '{}'", byte as char)))
        }
    }

    fn value(&mut self, depth: usize) -> Result<Span, JsonError> {
        if depth > MAX_DEPTH {
            return Err(self.error("nested too deeply"));
        }
        self.skip_space();
        let start = self.pos;
        let members = match self.bytes.get(self.pos) {
            Some(b'{') => Some(self.object(depth)?),
            Some(b'[') => {
                self.array(depth)?;
                None
            }
            Some(b'"') => {
                self.string()?;
                None
            }
            Some(_) => {
                self.scalar()?;
                None
            }
            None => return Err(self.error("unexpected end")),
        };
        Ok(Span {
            start,
            end: self.pos,
            members,
        })
    }

    fn object(&mut self, depth: usize) -> Result<Vec<Member>, JsonError> {
        self.pos += 1; // '{'
        let mut members = Vec::new();
        self.skip_space();
        if self.bytes.get(self.pos) == Some(&b'}') {
            self.pos += 1;
            return Ok(members);
        }
        loop {
            self.skip_space();
            if self.bytes.get(self.pos) != Some(&b'"') {
                return Err(self.error("expected a key in quotes"));
            }
            let key_start = self.pos;
            let key = self.string()?;
            let key_end = self.pos;
            self.expect(b':')?;
            let value = self.value(depth + 1)?;
            members.push(Member {
                key,
                key_start,
                key_end,
                value,
            });
            self.skip_space();
            match self.bytes.get(self.pos) {
                Some(b',') => self.pos += 1,
                Some(b'}') => {
                    self.pos += 1;
                    return Ok(members);
                }
                _ => return Err(self.error("expected ',' or '}' after a value")),
            }
        }
    }

    fn array(&mut self, depth: usize) -> Result<(), JsonError> {
        self.pos += 1; // '['
        self.skip_space();
        if self.bytes.get(self.pos) == Some(&b']') {
            self.pos += 1;
            return Ok(());
        }
        loop {
            self.value(depth + 1)?;
            self.skip_space();
            match self.bytes.get(self.pos) {
                Some(b',') => self.pos += 1,
                Some(b']') => {
                    self.pos += 1;
                    return Ok(());
                }
                _ => return Err(self.error("expected ',' or ']' after a value")),
            }
        }
    }

    /// A string token; returns it decoded (escapes resolved) by serde_json's own rules.
    fn string(&mut self) -> Result<String, JsonError> {
        let start = self.pos;
        self.pos += 1; // '"'
        loop {
            match self.bytes.get(self.pos) {
                Some(b'"') => break,
                Some(b'\\') => self.pos += 2,
                Some(_) => self.pos += 1,
                None => return Err(self.error("a string is not closed")),
            }
        }
        self.pos += 1;
        serde_json::from_str(&self.text[start..self.pos]).map_err(|e| self.error(&e.to_string()))
    }

    /// A number, `true`, `false` or `null`, checked by serde_json.
    fn scalar(&mut self) -> Result<(), JsonError> {
        let start = self.pos;
        while let Some(b) = self.bytes.get(self.pos) {
            if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'+' | b'.') {
                self.pos += 1;
            } else {
                break;
            }
        }
        let token = &self.text[start..self.pos];
        match serde_json::from_str::<Value>(token) {
            Ok(v) if !v.is_string() && !token.is_empty() => Ok(()),
            _ => {
                self.pos = start;
                Err(self.error(&format!(
                    "unexpected {:?}",
                    first_chars(&self.text[start..])
                )))
            }
        }
    }
}

fn first_chars(s: &str) -> String {
    s.chars().take(12).collect()
}

/// Sets the member at `keys` (a path of object keys from the top) to `value`. A member that
/// exists has its value's bytes replaced (an equal value changes nothing); a missing one is
/// added after the last member of its object — with the objects still missing on the way
/// created inside it — spaced like the members before it. Everything else stays as it was.
pub fn set(text: &str, keys: &[String], value: &Value) -> Result<String, JsonError> {
    if keys.is_empty() {
        return Err(JsonError("no key given".into()));
    }
    let mut scanner = Scanner {
        text,
        bytes: text.as_bytes(),
        pos: 0,
    };
    let root = scanner.value(0)?;
    scanner.skip_space();
    if scanner.pos != text.len() {
        return Err(scanner.error("more after the end of the document"));
    }
    let mut object = &root;
    for (i, key) in keys.iter().enumerate() {
        let path = keys[..i].join(".");
        let Some(members) = &object.members else {
            return Err(JsonError(if path.is_empty() {
                "the document is not a JSON object".into()
            } else {
                format!("{path} is not an object")
            }));
        };
        // Parsers keep the last of duplicate keys: so must an edit.
        match members.iter().rev().find(|m| m.key == *key) {
            Some(member) if i + 1 == keys.len() => {
                return Ok(replace(text, member, value));
            }
            Some(member) => object = &member.value,
            None => {
                let mut nested = value.clone();
                for k in keys[i + 1..].iter().rev() {
                    nested = Value::Object([(k.clone(), nested)].into_iter().collect());
                }
                return Ok(insert(text, object, members, key, &nested));
            }
        }
    }
    unreachable!("the loop returns at the last key")
}

fn replace(text: &str, member: &Member, value: &Value) -> String {
    let old = &text[member.value.start..member.value.end];
    if serde_json::from_str::<Value>(old).ok().as_ref() == Some(value) {
        return text.to_string();
    }
    let rendered = render(value, indent_before(text, member.key_start));
    format!(
        "{}{rendered}{}",
        &text[..member.value.start],
        &text[member.value.end..]
    )
}

fn insert(text: &str, object: &Span, members: &[Member], key: &str, value: &Value) -> String {
    let key_json = Value::String(key.to_string()).to_string();
    match members.last() {
        Some(last) => {
            // The bytes between the last member's opening ',' (or '{') and its key, and
            // between its key and value: the new member is spaced the same way.
            let colon = &text[last.key_end..last.value.start];
            let mut before = text[..last.key_start]
                .rfind([',', '{'])
                .map_or("", |i| &text[i + 1..last.key_start]);
            // A lone first member tight against its '{' says nothing of what follows a
            // ',': a space, unless the file is written without one after ':' either.
            if before.is_empty() && members.len() == 1 && colon != ":" {
                before = " ";
            }
            let rendered = render(value, indent_before(text, last.key_start));
            format!(
                "{},{before}{key_json}{colon}{rendered}{}",
                &text[..last.value.end],
                &text[last.value.end..]
            )
        }
        None => {
            let at = object.start + 1;
            let rendered = render(value, indent_before(text, object.start));
            format!("{}{key_json}: {rendered}{}", &text[..at], &text[at..])
        }
    }
}

/// The white space a line starts with, when only white space stands before `at` on it.
fn indent_before(text: &str, at: usize) -> &str {
    let line_start = text[..at].rfind('\n').map_or(0, |i| i + 1);
    let lead = &text[line_start..at];
    if lead.chars().all(|c| c == ' ' || c == '\t') {
        lead
    } else {
        ""
    }
}

/// A scalar as JSON; an object or array on several lines, indented from `indent`.
fn render(value: &Value, indent: &str) -> String {
    match value {
        Value::Object(_) | Value::Array(_) => {
            let pretty = serde_json::to_string_pretty(value).expect("a Value serialises");
            pretty.replace('\n', &format!("\n{indent}"))
        }
        _ => value.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn keys(path: &str) -> Vec<String> {
        path.split('.').map(String::from).collect()
    }

    const NOTES: &str = "{\"VStorage\": {\"Path\": \"vstorage.slice/vstorage-services.slice\",\n    \"Limit\": {\"Max\": 34359738368,\n              \"Min\": 0, \"Share\": 0.7},\n    \"Guarantee\": {\"Max\": 0, \"Min\": 0, \"Share\": 0.25}}}\n";

    #[test]
    fn a_value_is_replaced_in_place_and_every_other_byte_kept() {
        let out = set(
            NOTES,
            &keys("VStorage.Guarantee.Max"),
            &json!(8589934592_i64),
        )
        .unwrap();
        assert_eq!(
            out,
            NOTES.replace(
                "\"Guarantee\": {\"Max\": 0,",
                "\"Guarantee\": {\"Max\": 8589934592,"
            )
        );
    }

    #[test]
    fn an_equal_value_changes_nothing_even_written_otherwise() {
        let text = "{\"a\": 1.50, \"b\": 10}";
        assert_eq!(set(text, &keys("a"), &json!(1.5)).unwrap(), text);
        assert_eq!(set(text, &keys("b"), &json!(10)).unwrap(), text);
    }

    #[test]
    fn a_missing_member_is_added_last_spaced_like_its_siblings() {
        let out = set(NOTES, &keys("VStorage.Swap"), &json!({"Max": 1})).unwrap();
        assert_eq!(
            out,
            NOTES.replace(
                "\"Share\": 0.25}}}",
                "\"Share\": 0.25},\n    \"Swap\": {\n      \"Max\": 1\n    }}}"
            )
        );
        let out = set(NOTES, &keys("VStorage.Limit.Extra"), &json!("x")).unwrap();
        assert!(
            out.contains("\"Share\": 0.7, \"Extra\": \"x\"},\n    \"Guarantee\""),
            "{out}"
        );
    }

    #[test]
    fn missing_objects_on_the_way_are_created_and_an_empty_object_filled() {
        assert_eq!(
            set("{}", &keys("a.b"), &json!(2)).unwrap(),
            "{\"a\": {\n  \"b\": 2\n}}"
        );
        assert_eq!(
            set("{\"x\": {}}\n", &keys("x.y"), &json!(true)).unwrap(),
            "{\"x\": {\"y\": true}}\n"
        );
    }

    #[test]
    fn the_last_of_duplicate_keys_is_the_one_changed() {
        assert_eq!(
            set("{\"a\": 1, \"a\": 2}", &keys("a"), &json!(3)).unwrap(),
            "{\"a\": 1, \"a\": 3}"
        );
    }

    #[test]
    fn keys_with_escapes_are_matched_decoded_and_written_escaped() {
        let text = "{\"a\\\"b\": 1}";
        assert_eq!(
            set(text, &[String::from("a\"b")], &json!(2)).unwrap(),
            "{\"a\\\"b\": 2}"
        );
        assert_eq!(
            set("{\"k\": 1}", &[String::from("q\"")], &json!(2)).unwrap(),
            "{\"k\": 1, \"q\\\"\": 2}"
        );
        assert_eq!(
            set("{\"k\":1}", &keys("z"), &json!(2)).unwrap(),
            "{\"k\":1,\"z\":2}"
        );
    }

    #[test]
    fn broken_documents_and_paths_through_non_objects_are_errors() {
        for (text, path, message) in [
            (
                "{\"a\": 1 \"b\": 2}",
                "a",
                "expected ',' or '}' after a value",
            ),
            ("{\"a\": 1,}", "a", "expected a key in quotes"),
            ("{\"a\": tru}", "a", "unexpected \"tru}\""),
            ("{\"a\": 1} x", "a", "more after the end of the document"),
            ("{\"a\": \"x", "a", "a string is not closed"),
            ("", "a", "unexpected end"),
        ] {
            let err = set(text, &keys(path), &json!(1)).unwrap_err();
            assert!(err.0.contains(message), "{text:?}: {err}");
            assert!(err.0.starts_with("not valid JSON at line 1: "), "{err}");
        }
        assert_eq!(
            set("{\"a\": [1]}", &keys("a.b"), &json!(1)).unwrap_err(),
            JsonError("a is not an object".into())
        );
        assert_eq!(
            set("[1]", &keys("a"), &json!(1)).unwrap_err(),
            JsonError("the document is not a JSON object".into())
        );
        let deep = format!("{}{}", "[".repeat(200), "]".repeat(200));
        assert!(set(&deep, &keys("a"), &json!(1))
            .unwrap_err()
            .0
            .contains("nested too deeply"));
    }

    #[test]
    fn the_line_of_an_error_is_counted() {
        let err = set("{\n\"a\": 1\n\"b\": 2}", &keys("a"), &json!(1)).unwrap_err();
        assert!(err.0.starts_with("not valid JSON at line 3: "), "{err}");
    }
}
