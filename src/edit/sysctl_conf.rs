//! A sysctl drop-in (/etc/sysctl.d/NAME.conf): one `key = value` line per key.

use super::{append_line, lines_with_ends};

fn key_of(line: &str) -> Option<&str> {
    let t = line.trim();
    if t.is_empty() || t.starts_with('#') || t.starts_with(';') {
        return None;
    }
    t.split_once('=').map(|(k, _)| k.trim())
}

/// The value set for `key`, if any (the last line wins, as in `sysctl -p`).
#[cfg(test)]
pub fn get(text: &str, key: &str) -> Option<String> {
    text.lines()
        .rfind(|l| key_of(l) == Some(key))
        .and_then(|l| l.split_once('=').map(|(_, v)| v.trim().to_string()))
}

/// Leaves exactly one `key = value` line for the key, where the first one was.
pub fn persist(text: &str, key: &str, value: &str) -> String {
    let wanted = format!("{key} = {value}");
    let mut out = String::new();
    let mut placed = false;
    for line in lines_with_ends(text) {
        if key_of(line) == Some(key) {
            if !placed {
                let ending = if line.ends_with('\n') { "\n" } else { "" };
                if line.trim_end_matches('\n') == wanted {
                    out.push_str(line);
                } else {
                    out.push_str(&wanted);
                    out.push_str(ending);
                }
                placed = true;
            }
        } else {
            out.push_str(line);
        }
    }
    if placed {
        out
    } else {
        append_line(text, &wanted)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Kills mutants `bench/mutants` found surviving in `key_of`: blank lines and comments
    /// (`#` and `;`, sysctl.d(5)) are no key lines.
    #[test]
    fn comments_and_blank_lines_have_no_key() {
        for line in [
            "",
            "   \n",
            "# vm.swappiness = 5",
            "; vm.swappiness = 5",
            "  #a=1",
        ] {
            assert_eq!(key_of(line), None, "{line:?}");
        }
        assert_eq!(key_of(" vm.swappiness = 5\n"), Some("vm.swappiness"));
    }

    #[test]
    fn one_line_per_key() {
        let text = "# tuning\nvm.swappiness=60\nfs.file-max = 1\nvm.swappiness = 30\n";
        let new = persist(text, "vm.swappiness", "10");
        assert_eq!(new, "# tuning\nvm.swappiness = 10\nfs.file-max = 1\n");
        assert_eq!(persist(&new, "vm.swappiness", "10"), new);
        assert_eq!(persist("", "kernel.panic", "10"), "kernel.panic = 10\n");
        assert_eq!(get(text, "vm.swappiness").as_deref(), Some("30"));
        assert_eq!(get(&new, "fs.file-max").as_deref(), Some("1"));
    }
}
