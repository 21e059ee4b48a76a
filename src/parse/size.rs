//! Sizes as vstorage prints them: `105GB`, `1.32TB`, `0B`, `512MB`, `20.3GB` (the `stat`
//! samples of reference §2.3).

/// Bytes in a size such as `1.32TB`; binary multiples (the tools use 1024).
pub fn parse_bytes(text: &str) -> Option<u64> {
    let t = text.trim();
    let split = t.find(|c: char| !(c.is_ascii_digit() || c == '.'))?;
    let (num, unit) = t.split_at(split);
    let value: f64 = num.parse().ok()?;
    let mult: f64 = match unit.trim().to_ascii_uppercase().as_str() {
        "B" => 1.0,
        "K" | "KB" => 1024.0,
        "M" | "MB" => 1024.0_f64.powi(2),
        "G" | "GB" => 1024.0_f64.powi(3),
        "T" | "TB" => 1024.0_f64.powi(4),
        "P" | "PB" => 1024.0_f64.powi(5),
        _ => return None,
    };
    Some((value * mult).round() as u64)
}

#[cfg(test)]
mod tests {
    use super::parse_bytes;

    #[test]
    fn sizes() {
        assert_eq!(parse_bytes("0B"), Some(0));
        assert_eq!(parse_bytes("105GB"), Some(105 << 30));
        assert_eq!(parse_bytes("1.5TB"), Some(3 << 39));
        assert_eq!(parse_bytes("88 GB"), Some(88 << 30));
        assert_eq!(parse_bytes("2PB"), Some(2 << 50));
        assert_eq!(parse_bytes("512k"), Some(512 << 10));
        assert_eq!(parse_bytes("12"), None);
        assert_eq!(parse_bytes("abc"), None);
    }
}
