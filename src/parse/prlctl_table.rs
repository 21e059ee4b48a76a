//! The plain table of `prlctl list` (`PrlList.cpp` field table and `%-Ns ` cells, reference
//! §1.2), read where `-j` gives no JSON to read.

use super::prlctl::{row_from, VeRow};
use super::ParseError;

/// The plain table (`PrlList.cpp` field table, reference §1.2), read by its header: each
/// header word must be the one of the `-o` field asked for in that place. A cell is never
/// cut, and a NAME may hold spaces, so a row is read as every way its words can fill the
/// columns (one word a column, any number for NAME, and for HOME where only that way is
/// laid out as prlctl prints: a VM bundle's path may hold spaces; the rest of the line for
/// the last column, where vzrun puts the IP list) whose cells are what their columns hold (a status
/// word, `CT`/`VM`, addresses); where several ways fit, the one laid out as prlctl prints
/// (`%-Ns `, never cut) is taken. A row no way fits, or
/// several fit alike, is an error naming the line, never a row with its words shifted.
pub fn list_table(text: &str, fields: &str) -> Result<Vec<VeRow>, ParseError> {
    let names: Vec<&str> = fields.split(',').collect();
    let mut lines = text.lines().filter(|l| !l.trim().is_empty());
    let header = lines
        .next()
        .ok_or_else(|| ParseError::new("prlctl list", "no header line"))?;
    let words = spans(header);
    let header_ok = words.len() == names.len()
        && words.iter().zip(&names).all(|((a, b), n)| {
            column(n).is_none_or(|(expected, _, _)| &header[*a..*b] == expected)
        });
    if !header_ok {
        return Err(ParseError::new(
            "prlctl list",
            format!("the first line is not the header of -o {fields}: {header:?}"),
        ));
    }
    lines.map(|line| table_row(line, &names)).collect()
}

/// Header, `%-Ns` width, and whether a cell may hold spaces, for the `-o` fields whose
/// values vzrun reads (`vm_field_tbl[]` of `PrlList.cpp`, reference §1.2).
fn column(field: &str) -> Option<(&'static str, usize, bool)> {
    Some(match field {
        "uuid" | "id" | "ctid" | "veid" => ("UUID", 39, false),
        "home" => ("HOME", 32, false),
        "type" => ("T", 2, false),
        "name" => ("NAME", 32, true),
        "status" => ("STATUS", 12, false),
        "dist" => ("DIST", 15, false),
        "description" => ("DESCRIPTION", 32, true),
        "ip" | "ip_configured" => ("IP_ADDR", 15, false),
        "hostname" => ("HOSTNAME", 32, false),
        _ => return None,
    })
}

/// The status words of `vmstate2str` (reference §1.8).
const STATUS_WORDS: &[&str] = &[
    "stopped",
    "starting",
    "restoring",
    "running",
    "paused",
    "resetting",
    "pausing",
    "suspending",
    "stopping",
    "compacting",
    "suspended",
    "snapshoting",
    "continuing",
    "migrating",
    "del_snapshot",
    "resuming",
    "syncing",
    "invalid",
    "reconnecting",
    "mounted",
    "unknown",
];

/// Whether a cell can be the value of `field` (fields with free values: always).
fn plausible(field: &str, cell: &str) -> bool {
    let ip = |a: &str| a == "-" || a.parse::<std::net::IpAddr>().is_ok();
    match field {
        "status" => STATUS_WORDS.contains(&cell),
        "type" => matches!(cell, "CT" | "VM" | "--"),
        "uuid" | "id" | "ctid" | "veid" => cell.starts_with('{') && cell.ends_with('}'),
        "ip" | "ip_configured" => cell.split_whitespace().all(ip),
        _ => true,
    }
}

/// Byte ranges of the words of a line (runs of non-space).
fn spans(line: &str) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    let mut start = None;
    for (i, c) in line.char_indices() {
        match (c.is_whitespace(), start) {
            (true, Some(s)) => {
                out.push((s, i));
                start = None;
            }
            (false, None) => start = Some(i),
            _ => {}
        }
    }
    if let Some(s) = start {
        out.push((s, line.len()));
    }
    out
}

/// Every way the words from `word` on fill the columns from `field` on: each a list of
/// word ranges `(first, end)` per column. `paths`: a HOME may hold spaces too (a VM bundle
/// registered from such a path).
fn fills(
    line: &str,
    words: &[(usize, usize)],
    names: &[&str],
    (word, field): (usize, usize),
    paths: bool,
) -> Vec<Vec<(usize, usize)>> {
    let text = |a: usize, b: usize| -> &str {
        if a >= b {
            ""
        } else {
            &line[words[a].0..words[b - 1].1]
        }
    };
    let name = names[field];
    if field + 1 == names.len() {
        return if plausible(name, text(word, words.len())) {
            vec![vec![(word, words.len())]]
        } else {
            Vec::new()
        };
    }
    let most = if column(name).is_some_and(|c| c.2) || (paths && name == "home") {
        words.len()
    } else {
        (word + 1).min(words.len())
    };
    let mut out = Vec::new();
    for end in word + 1..=most {
        if !plausible(name, text(word, end)) {
            continue;
        }
        for mut rest in fills(line, words, names, (end, field + 1), paths) {
            rest.insert(0, (word, end));
            out.push(rest);
        }
    }
    out
}

/// Whether `way` is laid out as prlctl prints: each cell but the last `%-Ns `, never cut,
/// so the next cell starts one byte after the longer of the width and the text.
fn laid_out(words: &[(usize, usize)], names: &[&str], way: &[(usize, usize)]) -> bool {
    let mut at = 0;
    for (i, (first, end)) in way.iter().enumerate() {
        if first == end {
            continue;
        }
        if words[*first].0 != at {
            return false;
        }
        let Some((_, width, _)) = column(names[i]) else {
            return true;
        };
        at = (at + width + 1).max(words[*end - 1].1 + 1);
    }
    true
}

/// One row of `list_table`.
fn table_row(line: &str, names: &[&str]) -> Result<VeRow, ParseError> {
    let words = spans(line);
    // A HOME holding spaces (rare) is read so only where one way fits, or one is laid out
    // as prlctl prints; else the row is read with HOME one word, as before.
    let mut ways = fills(line, &words, names, (0, 0), true);
    if ways.len() > 1 {
        ways.retain(|way| laid_out(&words, names, way));
    }
    if ways.len() != 1 {
        ways = fills(line, &words, names, (0, 0), false);
        if ways.len() > 1 {
            ways.retain(|way| laid_out(&words, names, way));
        }
    }
    let way = match ways.as_slice() {
        [way] => way,
        [] => {
            return Err(ParseError::new(
                "prlctl list",
                format!("cannot read the row {line:?} as {}", names.join(",")),
            ))
        }
        _ => {
            return Err(ParseError::new(
                "prlctl list",
                format!("the row {line:?} reads several ways as {}", names.join(",")),
            ))
        }
    };
    Ok(row_from(|key| {
        let i = names.iter().position(|n| *n == key)?;
        let (first, end) = way[i];
        Some(if first >= end {
            String::new()
        } else {
            line[words[first].0..words[end - 1].1].to_string()
        })
    }))
}

#[cfg(test)]
mod tests {
    use super::super::prlctl::LIST_FIELDS;
    use super::*;

    #[test]
    fn plain_table_from_the_reference() {
        let text = "UUID                                    STATUS       IP_ADDR         T  NAME\n{600adc12-0e39-41b3-bf05-c59b7d26dd73}  running      10.10.1.101     CT MyCT\n{b2de86d9-6539-4ccc-9120-928b33ed31b9}  stopped      -               VM MyVM\n";
        let rows = list_table(text, "uuid,status,ip_configured,type,name").unwrap();
        assert_eq!(rows[0].uuid, "600adc12-0e39-41b3-bf05-c59b7d26dd73");
        assert_eq!(
            (
                rows[0].status.as_str(),
                rows[0].kind.as_str(),
                rows[0].name.as_str()
            ),
            ("running", "CT", "MyCT")
        );
        assert_eq!(rows[1].ips, Vec::<String>::new());
    }

    #[test]
    fn plain_table_with_the_ip_column_last_and_a_long_name() {
        let text = "UUID                                    NAME                             STATUS       T  HOME                             HOSTNAME                         DIST            IP_ADDR\n{6}  a-very-long-container-name-that-overflows-its-column running CT /vz/private/6 - centos-7 10.0.0.1 10.0.0.2  \n";
        let rows = list_table(text, LIST_FIELDS).unwrap();
        assert_eq!(
            rows[0].name,
            "a-very-long-container-name-that-overflows-its-column"
        );
        assert_eq!(rows[0].hostname, "");
        assert_eq!(rows[0].ips, vec!["10.0.0.1", "10.0.0.2"]);
    }

    #[test]
    fn plain_table_names_with_spaces_and_rows_that_do_not_fit() {
        let header = format!(
            "{:<39} {:<32} {:<12} {:<2} {:<32} {:<32} {:<15} IP_ADDR",
            "UUID", "NAME", "STATUS", "T", "HOME", "HOSTNAME", "DIST"
        );
        let row = |name: &str, status: &str| {
            format!(
                "{:<39} {:<32} {:<12} {:<2} {:<32} {:<32} {:<15} 10.0.0.7  ",
                "{b2de86d9-6539-4ccc-9120-928b33ed31b9}",
                name,
                status,
                "VM",
                "/vz/vmprivate/b2de86d9",
                "-",
                "win2019"
            )
        };
        let text = format!("{header}\n{}\n", row("Win 2019 \"gold\"", "running"));
        let rows = list_table(&text, LIST_FIELDS).unwrap();
        assert_eq!(
            (
                rows[0].name.as_str(),
                rows[0].status.as_str(),
                rows[0].kind.as_str()
            ),
            ("Win 2019 \"gold\"", "running", "VM")
        );
        assert_eq!(rows[0].ips, ["10.0.0.7"]);
        // A name holding "stopped VM": the cells under their headers settle it.
        let text = format!("{header}\n{}\n", row("old stopped VM copy", "running"));
        let rows = list_table(&text, LIST_FIELDS).unwrap();
        assert_eq!(
            (rows[0].name.as_str(), rows[0].status.as_str()),
            ("old stopped VM copy", "running")
        );
        // A name over its width holding a status word and a type.
        let text = format!(
            "{header}\n{:<39} {} {:<12} {:<2} {:<32} {:<32} {:<15} 10.0.0.8  \n",
            "{b2de86d9-6539-4ccc-9120-928b33ed31b9}",
            "the old stopped VM of the accounting team",
            "running",
            "VM",
            "/vz/vmprivate/b2de86d9",
            "-",
            "win2019"
        );
        let rows = list_table(&text, LIST_FIELDS).unwrap();
        assert_eq!(
            (
                rows[0].name.as_str(),
                rows[0].status.as_str(),
                rows[0].home.as_str()
            ),
            (
                "the old stopped VM of the accounting team",
                "running",
                "/vz/vmprivate/b2de86d9"
            )
        );
        assert_eq!(rows[0].ips, ["10.0.0.8"]);
        // Not a status word where STATUS is: an error naming the row.
        let text = format!("{header}\n{}\n", row("web", "sleeping"));
        let e = list_table(&text, LIST_FIELDS).unwrap_err().to_string();
        assert!(
            e.contains("cannot read the row") && e.contains("sleeping"),
            "{e}"
        );
        // A header of other columns is no header.
        let e = list_table("UUID NAME\n", LIST_FIELDS)
            .unwrap_err()
            .to_string();
        assert!(e.contains("not the header of -o"), "{e}");
    }
}

#[cfg(test)]
mod more_tests {
    use super::super::prlctl::LIST_FIELDS;
    use super::*;

    #[test]
    fn plain_table_home_with_spaces() {
        // A VM registered from a bundle whose path holds a space (a PCS 6 `NAME.pvm`, a
        // clone's --dst): HOME holds it, as NAME holds the VM's name.
        let header = format!(
            "{:<39} {:<32} {:<12} {:<2} {:<32} {:<32} {:<15} IP_ADDR",
            "UUID", "NAME", "STATUS", "T", "HOME", "HOSTNAME", "DIST"
        );
        let text = format!(
            "{header}\n{:<39} {:<32} {:<12} {:<2} {:<32} {:<32} {:<15} 10.0.0.9  \n",
            "{b2de86d9-6539-4ccc-9120-928b33ed31b9}",
            "Win 2019",
            "stopped",
            "VM",
            "/var/parallels/Win 2019.pvm",
            "-",
            "win2019"
        );
        let rows = list_table(&text, LIST_FIELDS).unwrap();
        assert_eq!(
            (
                rows[0].name.as_str(),
                rows[0].status.as_str(),
                rows[0].home.as_str()
            ),
            ("Win 2019", "stopped", "/var/parallels/Win 2019.pvm")
        );
        assert_eq!(rows[0].ips, ["10.0.0.9"]);
    }
}
