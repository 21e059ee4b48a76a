//! /etc/fstab: entries are found by mount point and updated in place, keeping the line's own
//! separators; everything else is left byte for byte.

use super::{append_line, lines_with_ends};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub spec: String,
    pub file: String,
    pub vfstype: String,
    pub options: String,
    pub freq: u32,
    pub passno: u32,
}

/// fstab escapes white space in fields as octal (`\040` for a space).
pub fn escape(field: &str) -> String {
    field
        .replace('\\', "\\134")
        .replace(' ', "\\040")
        .replace('\t', "\\011")
        .replace('\n', "\\012")
}

pub fn unescape(field: &str) -> String {
    field
        .replace("\\040", " ")
        .replace("\\011", "\t")
        .replace("\\012", "\n")
        .replace("\\134", "\\")
}

/// A data line split into (separator before, field) pairs, plus what follows the fields (a
/// trailing comment, white space, the newline).
struct Tokens<'a> {
    fields: Vec<(&'a str, &'a str)>,
    tail: &'a str,
}

fn tokenize(line: &str) -> Option<Tokens<'_>> {
    let body = line.trim_end_matches(['\n', '\r']);
    if body.trim_start().is_empty() || body.trim_start().starts_with('#') {
        return None;
    }
    let mut fields = Vec::new();
    let mut rest = body;
    loop {
        let sep_len = rest.len() - rest.trim_start().len();
        let (sep, after) = rest.split_at(sep_len);
        if after.is_empty() || after.starts_with('#') {
            // What remains (white space, a comment) and the line end belong to the tail.
            let tail_start = body.len() - rest.len();
            return Some(Tokens {
                fields,
                tail: &line[tail_start..],
            });
        }
        let end = after.find(char::is_whitespace).unwrap_or(after.len());
        fields.push((sep, &after[..end]));
        rest = &after[end..];
    }
}

fn entry_of(tokens: &Tokens) -> Option<Entry> {
    let f: Vec<&str> = tokens.fields.iter().map(|(_, f)| *f).collect();
    if f.len() < 3 {
        return None;
    }
    Some(Entry {
        spec: unescape(f[0]),
        file: unescape(f[1]),
        vfstype: f[2].to_string(),
        options: f.get(3).unwrap_or(&"defaults").to_string(),
        freq: f.get(4).and_then(|v| v.parse().ok()).unwrap_or(0),
        passno: f.get(5).and_then(|v| v.parse().ok()).unwrap_or(0),
    })
}

pub fn parse(text: &str) -> Vec<Entry> {
    lines_with_ends(text)
        .into_iter()
        .filter_map(tokenize)
        .filter_map(|t| entry_of(&t))
        .collect()
}

fn render_fields(entry: &Entry) -> [String; 6] {
    [
        escape(&entry.spec),
        escape(&entry.file),
        entry.vfstype.clone(),
        entry.options.clone(),
        entry.freq.to_string(),
        entry.passno.to_string(),
    ]
}

/// Adds the entry, or updates the first entry with its mount point in place. Returns the new
/// text (equal to the old one when nothing differs).
pub fn ensure(text: &str, entry: &Entry) -> String {
    let wanted = render_fields(entry);
    let mut out = String::with_capacity(text.len() + 80);
    let mut done = false;
    for line in lines_with_ends(text) {
        let tokens = if done { None } else { tokenize(line) };
        match tokens.filter(|t| entry_of(t).is_some_and(|e| same_mount_point(&e.file, &entry.file)))
        {
            Some(t) => {
                if entry_of(&t).as_ref() == Some(entry) && t.fields.len() == 6 {
                    out.push_str(line);
                } else {
                    for (i, field) in wanted.iter().enumerate() {
                        let sep = t.fields.get(i).map(|(s, _)| *s).unwrap_or(if i == 0 {
                            ""
                        } else {
                            "\t"
                        });
                        out.push_str(sep);
                        out.push_str(field);
                    }
                    out.push_str(t.tail);
                }
                done = true;
            }
            None => out.push_str(line),
        }
    }
    if done {
        out
    } else {
        append_line(text, &wanted.join(" "))
    }
}

/// Removes every entry mounted at `file`.
pub fn remove(text: &str, file: &str) -> String {
    lines_with_ends(text)
        .into_iter()
        .filter(|line| {
            tokenize(line)
                .and_then(|t| entry_of(&t))
                .is_none_or(|e| !same_mount_point(&e.file, file))
        })
        .collect()
}

/// Whether two mount points name one directory, as mount(8) sees them: repeated and
/// trailing slashes do not count (`/vstorage/x/` is `/vstorage/x`; `/` stays `/`).
pub fn same_mount_point(a: &str, b: &str) -> bool {
    fn normal(path: &str) -> String {
        if !path.starts_with('/') {
            return path.to_string(); // `swap`, `none`
        }
        let parts: Vec<&str> = path.split('/').filter(|p| !p.is_empty()).collect();
        format!("/{}", parts.join("/"))
    }
    normal(a) == normal(b)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const ODD: &str = "#\n# /etc/fstab\n  # indented comment\nUUID=6f1c\t/\txfs\tdefaults\t0 0\n/dev/sdb1   /data   ext4    noatime   # four fields and a comment\n\nswap swap swap defaults 0 0\nvstorage://stor1 /vstorage/stor1 fuse.vstorage _netdev 0 0";

    fn entry(spec: &str, file: &str, t: &str, o: &str, f: u32, p: u32) -> Entry {
        Entry {
            spec: spec.into(),
            file: file.into(),
            vfstype: t.into(),
            options: o.into(),
            freq: f,
            passno: p,
        }
    }

    #[test]
    fn a_trailing_slash_names_the_same_mount_point() {
        let text = "vstorage://c /vstorage/c/ fuse.vstorage _netdev 0 0\n/dev/sdb1 //data// ext4 defaults 0 0\n";
        let updated = ensure(
            text,
            &entry(
                "vstorage://c",
                "/vstorage/c",
                "fuse.vstorage",
                "_netdev,noatime",
                0,
                0,
            ),
        );
        assert_eq!(
            updated,
            "vstorage://c /vstorage/c fuse.vstorage _netdev,noatime 0 0\n/dev/sdb1 //data// ext4 defaults 0 0\n"
        );
        assert_eq!(
            remove(text, "/data/"),
            "vstorage://c /vstorage/c/ fuse.vstorage _netdev 0 0\n"
        );
        assert_eq!(
            remove(text, "/vstorage/c"),
            "/dev/sdb1 //data// ext4 defaults 0 0\n"
        );
        assert!(same_mount_point("/", "/") && !same_mount_point("/a", "/ab"));
    }

    // The two tests below kill mutants that `bench/mutants` found surviving.

    #[test]
    fn three_fields_make_an_entry_and_fewer_do_not() {
        // fstab(5): the options, freq and passno fields may be left out.
        assert_eq!(
            parse("/dev/sdb1 /data ext4\n/dev/sdc1 /other\n"),
            [entry("/dev/sdb1", "/data", "ext4", "defaults", 0, 0)]
        );
    }

    #[test]
    fn an_equal_entry_with_fields_left_out_is_written_in_full() {
        let e = entry("/dev/sdb1", "/data", "ext4", "defaults", 0, 0);
        assert_eq!(
            ensure("/dev/sdb1 /data ext4 defaults\n", &e),
            "/dev/sdb1 /data ext4 defaults\t0\t0\n"
        );
        let full = "/dev/sdb1 /data ext4 defaults 0 0\n";
        assert_eq!(ensure(full, &e), full);
    }

    #[test]
    fn parses_odd_lines() {
        let e = parse(ODD);
        assert_eq!(e.len(), 4);
        assert_eq!(e[1], entry("/dev/sdb1", "/data", "ext4", "noatime", 0, 0));
        assert_eq!(e[3].vfstype, "fuse.vstorage");
    }

    #[test]
    fn updates_in_place_keeping_separators_and_comment() {
        let new = ensure(
            ODD,
            &entry("/dev/sdb1", "/data", "ext4", "defaults,lazytime", 1, 2),
        );
        assert!(new.contains("/dev/sdb1   /data   ext4    defaults,lazytime\t1\t2   # four fields and a comment\n"), "{new}");
        // Only that line changed.
        let changed: Vec<_> = ODD
            .lines()
            .zip(new.lines())
            .filter(|(a, b)| a != b)
            .collect();
        assert_eq!(changed.len(), 1);
        assert!(!new.ends_with('\n'), "no final newline stays so");
    }

    #[test]
    fn tabs_stay_tabs_and_equal_entries_change_nothing() {
        let same = ensure(ODD, &entry("UUID=6f1c", "/", "xfs", "defaults", 0, 0));
        assert_eq!(same, ODD);
        let new = ensure(
            ODD,
            &entry("UUID=6f1c", "/", "xfs", "defaults,noatime", 0, 0),
        );
        assert!(new.contains("UUID=6f1c\t/\txfs\tdefaults,noatime\t0 0\n"));
    }

    #[test]
    fn adds_after_a_missing_final_newline() {
        let cache = entry(
            "vstorage://stor1",
            "/vstorage/stor1",
            "fuse.vstorage",
            "_netdev,cache=/mnt/ssd/c,cachesize=64000",
            0,
            0,
        );
        let new = ensure("a /a ext4 defaults 0 0", &cache);
        assert_eq!(new, "a /a ext4 defaults 0 0\nvstorage://stor1 /vstorage/stor1 fuse.vstorage _netdev,cache=/mnt/ssd/c,cachesize=64000 0 0\n");
        let updated = ensure(ODD, &cache);
        assert!(updated.ends_with("vstorage://stor1 /vstorage/stor1 fuse.vstorage _netdev,cache=/mnt/ssd/c,cachesize=64000 0 0"));
    }

    #[test]
    fn removes_by_mount_point_only() {
        let new = remove(ODD, "/data");
        assert_eq!(parse(&new).len(), 3);
        assert!(new.contains("  # indented comment\n"));
        assert_eq!(remove(ODD, "/nowhere"), ODD);
    }

    #[test]
    fn spaces_in_paths_are_escaped() {
        let new = ensure(
            "",
            &entry("/dev/sdc1", "/mnt/my disk", "ext4", "defaults", 0, 0),
        );
        assert_eq!(new, "/dev/sdc1 /mnt/my\\040disk ext4 defaults 0 0\n");
        assert_eq!(parse(&new)[0].file, "/mnt/my disk");
    }

    fn line() -> impl Strategy<Value = String> {
        prop_oneof![
            "[#][ -~]{0,20}",
            "[ \t]{1,3}#[ -~]{0,10}",
            "",
            "[ \t]{0,2}[a-z/=0-9]{1,8}[ \t]{1,3}/[a-z]{1,6}[ \t]{1,3}(ext4|xfs)([ \t]{1,3}[a-z,]{1,10}([ \t]{1,2}[0-2][ \t]{1,2}[0-2])?)?[ \t]{0,2}",
        ]
    }

    proptest! {
        #[test]
        fn untouched_bytes_survive_an_edit(lines in prop::collection::vec(line(), 0..12), final_newline: bool, p in 0u32..3) {
            let mut text = lines.join("\n");
            if final_newline { text.push('\n'); }
            let target = entry("/dev/vdz9", "/zz-test", "ext4", "defaults", 0, p);
            let added = ensure(&text, &target);
            // Adding touches nothing before the new line.
            prop_assert!(added.starts_with(&text));
            let removed = remove(&added, "/zz-test");
            prop_assert_eq!(removed.trim_end_matches('\n'), text.trim_end_matches('\n'));
            // Ensuring again is a no-op.
            prop_assert_eq!(ensure(&added, &target), added.clone());
            // Updating the entry changes only its own line.
            let updated = ensure(&added, &Entry { options: "noatime".into(), ..target.clone() });
            prop_assert_eq!(updated.lines().count(), added.lines().count());
            prop_assert_eq!(updated.lines().filter(|l| !added.lines().any(|a| a == *l)).count(), 1);
        }
    }
}
