//! Figures derived from `vstorage stat` for monitoring: the license in bytes and seconds,
//! and the IO rates of the newer header. Kept apart from `vstorage.rs`, which holds the
//! commands.

use rhai::{Dynamic, Map};

use super::{map, opt_int};
use crate::parse::vstorage::License;
use crate::parse::vstorage_io::IoRates;

/// `capacity_bytes`, `used_bytes`, `expires_unix` (end of the expiration day, UTC) and
/// `seconds_left`: `()` when the license line does not say.
pub fn license_figures(l: &License) -> Map {
    let bytes = |text: &str| opt_int(crate::parse::size::parse_bytes(text));
    let expires = crate::parse::date::expiration_unix(&l.expiration);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64);
    map([
        ("capacity_bytes", bytes(&l.capacity)),
        ("used_bytes", bytes(&l.used)),
        ("expires_unix", expires.map_or(Dynamic::UNIT, Dynamic::from)),
        (
            "seconds_left",
            expires.map_or(Dynamic::UNIT, |e| Dynamic::from(e - now)),
        ),
    ])
}

/// The IO lines of the newer `stat` header; every figure `()` when not printed.
pub fn io_map(io: &IoRates) -> Map {
    let float = |v: Option<f64>| v.map_or(Dynamic::UNIT, Dynamic::from);
    map([
        ("read_bytes_per_second", opt_int(io.read_bytes_per_second)),
        ("write_bytes_per_second", opt_int(io.write_bytes_per_second)),
        ("read_ops_per_second", float(io.read_ops_per_second)),
        ("write_ops_per_second", float(io.write_ops_per_second)),
        (
            "replication_read_bytes_per_second",
            opt_int(io.replication_read_bytes_per_second),
        ),
        (
            "replication_write_bytes_per_second",
            opt_int(io.replication_write_bytes_per_second),
        ),
        ("queue_depth_average", float(io.queue_depth_average)),
        ("queue_depth_max", float(io.queue_depth_max)),
    ])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_newer_license_line_gives_bytes_and_an_expiry() {
        let stat = crate::parse::vstorage::stat(
            "Cluster 'stor1': healthy\nLicense: ACTIVE (expiration: 01/10/2021, capacity: 10TB, used: 20.3GB)\n",
        )
        .unwrap();
        let f = license_figures(&stat.license);
        assert_eq!(f["capacity_bytes"].as_int().unwrap(), 10 << 40);
        // 20.3 × 1024³, rounded.
        assert_eq!(f["used_bytes"].as_int().unwrap(), 21_796_959_027);
        assert_eq!(f["expires_unix"].as_int().unwrap(), 1_610_323_200);
        assert!(f["seconds_left"].as_int().unwrap() < 0, "long expired");
        let old = crate::parse::vstorage::stat(
            "Cluster 'stor1': healthy\nLicense: PCSS.02444715.0000 is ACTIVE, 6399TB capacity\n",
        )
        .unwrap();
        let f = license_figures(&old.license);
        assert_eq!(f["capacity_bytes"].as_int().unwrap(), 6399 << 40);
        assert!(f["used_bytes"].is_unit() && f["expires_unix"].is_unit());
    }
}
