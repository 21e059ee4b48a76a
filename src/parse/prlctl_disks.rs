//! The hard disks of a VE in `prlctl list -i -j`: the `hddN` devices of its `Hardware`
//! group, each with its image, as the plain text shows them in
//! `hdd0 (+) scsi:0 image='…' type='expanded' 65536Mb state=connected …` (reference §1.2).

use serde_json::Value;

/// One hard disk of a VE.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VeDisk {
    /// `hdd0`, `hdd1`, ...
    pub device: String,
    /// The path of its image (a ploop directory such as `…/root.hdd`), absolute: an image
    /// named relative to the VE's home is joined to it. Empty when the tool does not say.
    pub image: String,
    pub size_mb: Option<u64>,
}

/// The `hddN` devices of `hardware`, in device order (`hdd2` before `hdd10`). A device is
/// an object (`{"image": "…", "size": "65536Mb"}`), or, in a build that prints the plain
/// line as a string, that line (`(+) scsi:0 image='…' … 65536Mb …`). Quotes around the
/// image are dropped; a relative image is taken inside `home`.
pub fn disks(hardware: &Value, home: &str, mb: fn(&Value) -> Option<u64>) -> Vec<VeDisk> {
    let Some(devices) = hardware.as_object() else {
        return Vec::new();
    };
    let mut disks: Vec<(u64, VeDisk)> = devices
        .iter()
        .filter_map(|(name, d)| {
            let n: u64 = name.strip_prefix("hdd")?.parse().ok()?;
            let (image, size_mb) = match d {
                Value::String(line) => (word(line, "image="), line_size(line)),
                _ => (
                    d.get("image")
                        .and_then(Value::as_str)
                        .unwrap_or_default()
                        .to_string(),
                    d.get("size").and_then(mb),
                ),
            };
            Some((
                n,
                VeDisk {
                    device: name.clone(),
                    image: absolute(unquote(&image), home),
                    size_mb,
                },
            ))
        })
        .collect();
    disks.sort_by_key(|(n, _)| *n);
    disks.into_iter().map(|(_, d)| d).collect()
}

/// The value of `key` in a plain device line: `image='/a b/root.hdd'` (quoted, spaces
/// and all) or `image=/x/root.hdd`.
fn word(line: &str, key: &str) -> String {
    let Some(at) = line.find(key) else {
        return String::new();
    };
    let rest = &line[at + key.len()..];
    match rest.strip_prefix('\'') {
        Some(quoted) => quoted.split('\'').next().unwrap_or_default().to_string(),
        None => rest
            .split_whitespace()
            .next()
            .unwrap_or_default()
            .to_string(),
    }
}

/// The size in a plain device line: the first word that is a number of `Mb` (`65536Mb`).
fn line_size(line: &str) -> Option<u64> {
    line.split_whitespace()
        .find_map(|w| w.strip_suffix("Mb").and_then(|n| n.parse().ok()))
}

fn unquote(text: &str) -> &str {
    let t = text.trim();
    t.strip_prefix('\'')
        .and_then(|t| t.strip_suffix('\''))
        .unwrap_or(t)
}

fn absolute(image: &str, home: &str) -> String {
    if image.is_empty() || image.starts_with('/') || home.is_empty() {
        return image.to_string();
    }
    format!("{}/{image}", home.trim_end_matches('/'))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mb(v: &Value) -> Option<u64> {
        v.as_str()?.strip_suffix("Mb")?.parse().ok()
    }

    #[test]
    fn disks_in_their_forms() {
        let hw: Value = serde_json::from_str(
            r#"{"cpu": {"cpus": 2}, "hdd10": {"image": "harddisk10.hdd", "size": "1024Mb"},
                "hdd0": {"enabled": true, "port": "scsi:0", "image": "/vstorage/c/private/101/root.hdd", "type": "expanded", "size": "65536Mb"},
                "hdd2": "(+) scsi:2 image='/vstorage/c/my disks/d2.hdd' type='expanded' 2048Mb state=connected",
                "hdd3": {"image": "'/x/d3.hdd'"}, "hddx": {"image": "/no"}, "net0": {"image": "/no"}}"#,
        )
        .unwrap();
        let got = disks(&hw, "/vstorage/c/vmprivate/u/", mb);
        let pairs: Vec<(&str, &str, Option<u64>)> = got
            .iter()
            .map(|d| (d.device.as_str(), d.image.as_str(), d.size_mb))
            .collect();
        assert_eq!(
            pairs,
            [
                ("hdd0", "/vstorage/c/private/101/root.hdd", Some(65536)),
                ("hdd2", "/vstorage/c/my disks/d2.hdd", Some(2048)),
                ("hdd3", "/x/d3.hdd", None),
                (
                    "hdd10",
                    "/vstorage/c/vmprivate/u/harddisk10.hdd",
                    Some(1024)
                ),
            ]
        );
        assert!(disks(&Value::Null, "/h", mb).is_empty());
    }
}
