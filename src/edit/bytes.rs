//! Files as text without losing a byte.
//!
//! Configuration files are edited as text, but a real file may hold bytes that are not UTF-8
//! (an fstab mount point `/mnt/\xff\xfe`, a Latin-1 comment). Decoding them lossily would turn
//! them into U+FFFD and write *another* file back. Instead each byte that is not part of valid
//! UTF-8 is carried as one character of Unicode's private use plane 16 (U+10FF00 + byte), the
//! same idea as Python's "surrogateescape"; encoding turns them back into the very same bytes,
//! so lines an editor did not touch stay byte-identical. A file that already holds one of those
//! 256 characters as real text can not be told apart and is refused rather than risked.

/// The first of the 256 characters that stand for undecodable bytes.
const ESCAPE_BASE: u32 = 0x10FF00;

fn is_escape(c: char) -> bool {
    (ESCAPE_BASE..=ESCAPE_BASE + 0xFF).contains(&(c as u32))
}

/// An escape character that no decoded file can hold: bytes below 0x80 are always valid
/// UTF-8, so U+10FF00..U+10FF7F in a value would smuggle a control byte (U+10FF0A is a
/// newline once encoded). Validators refuse them.
pub fn is_forged_escape(c: char) -> bool {
    (ESCAPE_BASE..ESCAPE_BASE + 0x80).contains(&(c as u32))
}

/// The bytes as text, each undecodable byte kept as its escape character.
pub fn decode(bytes: &[u8]) -> Result<String, String> {
    let mut text = String::with_capacity(bytes.len());
    for chunk in bytes.utf8_chunks() {
        if chunk.valid().chars().any(is_escape) {
            return Err(
                "holds characters U+10FF00..U+10FFFF, which vzrun uses to carry non-UTF-8 bytes; edit it by hand"
                    .into(),
            );
        }
        text.push_str(chunk.valid());
        for byte in chunk.invalid() {
            text.push(char::from_u32(ESCAPE_BASE + u32::from(*byte)).expect("a valid scalar"));
        }
    }
    Ok(text)
}

/// The text as bytes, escape characters turned back into the bytes they stand for.
pub fn encode(text: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(text.len());
    for c in text.chars() {
        if is_escape(c) {
            out.push((c as u32 - ESCAPE_BASE) as u8);
        } else {
            let mut buf = [0; 4];
            out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
        }
    }
    out
}

/// The text for a person: undecodable bytes shown as `\xNN`.
pub fn display(text: &str) -> String {
    if !text.chars().any(is_escape) {
        return text.to_string();
    }
    text.chars()
        .map(|c| {
            if is_escape(c) {
                format!("\\x{:02x}", c as u32 - ESCAPE_BASE)
            } else {
                c.to_string()
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_byte_sequence_round_trips() {
        let samples: [&[u8]; 5] = [
            b"plain\n",
            b"/dev/sdb1 /mnt/\xff\xfe ext4 defaults 0 0\n",
            b"caf\xc3\xa9 \xe9t\xe9\n",
            b"\xf0\x9f\x92",
            b"",
        ];
        for bytes in samples {
            let text = decode(bytes).unwrap();
            assert_eq!(encode(&text), bytes);
        }
        let all: Vec<u8> = (0..=255u8).collect();
        assert_eq!(encode(&decode(&all).unwrap()), all);
    }

    #[test]
    fn text_that_already_holds_an_escape_character_is_refused() {
        assert!(decode("a\u{10FF41}b".as_bytes()).is_err());
    }

    /// Kills a mutant `bench/mutants` found surviving: only the escapes of bytes below 0x80
    /// are forged; the escape of a real undecodable byte (0x80 and up) is not.
    #[test]
    fn only_escapes_of_bytes_below_0x80_are_forged() {
        assert!(is_forged_escape('\u{10FF00}') && is_forged_escape('\u{10FF7F}'));
        assert!(!is_forged_escape('\u{10FF80}') && !is_forged_escape('\u{10FFFF}'));
        assert!(!is_forged_escape('a'));
    }

    #[test]
    fn display_shows_bytes_in_hex() {
        assert_eq!(display(&decode(b"/mnt/\xff").unwrap()), "/mnt/\\xff");
    }
}
