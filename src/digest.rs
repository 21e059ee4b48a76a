//! The SHA-256 digests vzrun records (runbooks, modules, scenarios, file contents), so a
//! journal ties a run to the exact bytes it read and wrote.

/// The hex SHA-256 of some bytes.
pub fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest;
    sha2::Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}
