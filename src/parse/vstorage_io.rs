//! The IO lines of the newer `vstorage stat` header (VHI 4.7-era sample in
//! reference/virtuozzo-cli.md §2.3; older VZ7 builds do not print them):
//!
//! ```text
//! IO:       read     0B/s (  0ops/s), write     0B/s (  0ops/s)
//! Repl IO:  read     0B/s, write:     0B/s
//! IO QDEPTH: 0.0 aver, 0.0 max
//! ```
//!
//! Rates are 20-second averages as the MDS computes them. A line that is absent, or that does
//! not read as expected, leaves its figures `None`: monitoring reports what it can.

use super::size::parse_bytes;

#[derive(Debug, Clone, Default, PartialEq)]
pub struct IoRates {
    pub read_bytes_per_second: Option<u64>,
    pub write_bytes_per_second: Option<u64>,
    pub read_ops_per_second: Option<f64>,
    pub write_ops_per_second: Option<f64>,
    pub replication_read_bytes_per_second: Option<u64>,
    pub replication_write_bytes_per_second: Option<u64>,
    pub queue_depth_average: Option<f64>,
    pub queue_depth_max: Option<f64>,
}

/// `12.5MB/s` → bytes per second.
fn bytes_per_second(word: &str) -> Option<u64> {
    parse_bytes(word.strip_suffix("/s")?)
}

/// `(  0ops/s)` or `12ops/s` → operations per second (`K`/`M` are powers of 1000).
fn ops_per_second(text: &str) -> Option<f64> {
    let t = text
        .trim()
        .trim_start_matches('(')
        .trim_end_matches(')')
        .trim();
    let number = t.strip_suffix("ops/s")?;
    let (digits, scale) = match number.chars().last()? {
        'K' => (&number[..number.len() - 1], 1e3),
        'M' => (&number[..number.len() - 1], 1e6),
        _ => (number, 1.0),
    };
    digits.trim().parse::<f64>().ok().map(|n| n * scale)
}

/// The value after `key` in a comma-separated part such as `read     0B/s (  0ops/s)`.
fn after_word<'a>(part: &'a str, key: &str) -> Option<&'a str> {
    let rest = part.trim().strip_prefix(key)?;
    Some(rest.trim_start_matches(':').trim())
}

pub fn io_rates(stat_text: &str) -> IoRates {
    let mut io = IoRates::default();
    for line in stat_text.lines() {
        let line = line.trim();
        if let Some(rest) = line.strip_prefix("IO QDEPTH:") {
            for part in rest.split(',') {
                let mut words = part.split_whitespace();
                let value = words.next().and_then(|v| v.parse().ok());
                match words.next() {
                    Some("aver") => io.queue_depth_average = value,
                    Some("max") => io.queue_depth_max = value,
                    _ => {}
                }
            }
        } else if let Some(rest) = line.strip_prefix("Repl IO:") {
            for part in rest.split(',') {
                if let Some(v) = after_word(part, "read") {
                    io.replication_read_bytes_per_second = bytes_per_second(v);
                } else if let Some(v) = after_word(part, "write") {
                    io.replication_write_bytes_per_second = bytes_per_second(v);
                }
            }
        } else if let Some(rest) = line.strip_prefix("IO:") {
            for part in rest.split("),") {
                let (side, value) = if let Some(v) = after_word(part, "read") {
                    ("read", v)
                } else if let Some(v) = after_word(part, "write") {
                    ("write", v)
                } else {
                    continue;
                };
                let (bytes, ops) = value.split_once('(').unwrap_or((value, ""));
                let bytes = bytes_per_second(bytes.trim());
                let ops = ops_per_second(ops);
                if side == "read" {
                    io.read_bytes_per_second = bytes;
                    io.read_ops_per_second = ops;
                } else {
                    io.write_bytes_per_second = bytes;
                    io.write_ops_per_second = ops;
                }
            }
        }
    }
    io
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_io_lines_of_the_newer_header() {
        let text = "Cluster 'stor1': healthy\nFS:  20.3GB in 757 files\nIO:       read  12.5MB/s ( 35ops/s), write   1.5KB/s (  2.5Kops/s)\nIO total: read   37.1GB ( 473Kops), write  133.7GB ( 4.7Mops)\nRepl IO:  read     0B/s, write:   2MB/s\nSync rate:   0ops/s, datasync rate:   0ops/s\nIO QDEPTH: 0.5 aver, 3.0 max\n";
        let io = io_rates(text);
        assert_eq!(io.read_bytes_per_second, Some(12 * 1048576 + 524288));
        assert_eq!(io.read_ops_per_second, Some(35.0));
        assert_eq!(io.write_bytes_per_second, Some(1536));
        assert_eq!(io.write_ops_per_second, Some(2500.0));
        assert_eq!(io.replication_read_bytes_per_second, Some(0));
        assert_eq!(io.replication_write_bytes_per_second, Some(2 * 1048576));
        assert_eq!(io.queue_depth_average, Some(0.5));
        assert_eq!(io.queue_depth_max, Some(3.0));
    }

    #[test]
    fn operations_per_second_scale_by_k_and_m() {
        assert_eq!(ops_per_second("(  0ops/s)"), Some(0.0));
        assert_eq!(ops_per_second("12ops/s"), Some(12.0));
        assert_eq!(ops_per_second("( 2.5Kops/s)"), Some(2500.0));
        assert_eq!(ops_per_second("( 1.5Mops/s)"), Some(1_500_000.0));
        assert_eq!(ops_per_second("( 1.5Gops/s)"), None);
    }

    #[test]
    fn the_older_header_has_no_io_figures() {
        let text = "connected to MDS#1\nCluster 'stor1': healthy\nSpace: [OK] allocatable 200GB of 211GB, free 211GB of 211GB\n";
        assert_eq!(io_rates(text), IoRates::default());
    }
}
