//! `ip -o addr show` (iproute2, one-line mode: `print_addrinfo` writes one address per line,
//! `IDX: IFNAME    inet|inet6 ADDR/PREFIX ... scope ... IFNAME\       valid_lft ...`; the
//! line shape is the same on EL7's iproute 4.11 and today's) and `hostname` (one line).

/// The addresses a host has, without prefix lengths, loopback left out.
pub fn ip_addresses(text: &str) -> Vec<String> {
    let mut addresses = Vec::new();
    for line in text.lines() {
        let mut words = line.split_whitespace();
        // Skip "IDX:" and the interface name up to the family word.
        let Some(_) = words.by_ref().find(|w| *w == "inet" || *w == "inet6") else {
            continue;
        };
        let Some(cidr) = words.next() else { continue };
        let address = cidr.split('/').next().unwrap_or(cidr);
        let loopback = address
            .parse::<std::net::IpAddr>()
            .map(|ip| ip.is_loopback())
            .unwrap_or(true);
        if !loopback && !addresses.iter().any(|a| a == address) {
            addresses.push(address.to_string());
        }
    }
    addresses
}

/// `hostname`'s answer, and its first label when it is a dotted name.
pub fn host_names(text: &str) -> Vec<String> {
    let name = text.trim();
    if name.is_empty() || name.contains(char::is_whitespace) {
        return Vec::new();
    }
    let mut names = vec![name.to_string()];
    if name.parse::<std::net::IpAddr>().is_err() {
        if let Some((short, _)) = name.split_once('.') {
            names.push(short.to_string());
        }
    }
    names
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_line_addresses_of_every_interface() {
        let text = "1: lo    inet 127.0.0.1/8 scope host lo\\       valid_lft forever preferred_lft forever\n1: lo    inet6 ::1/128 scope host \\       valid_lft forever preferred_lft forever\n2: eth0    inet 10.30.17.31/24 brd 10.30.17.255 scope global eth0\\       valid_lft forever preferred_lft forever\n3: bond0.40    inet 10.40.0.31/24 brd 10.40.0.255 scope global bond0.40\\       valid_lft forever preferred_lft forever\n2: eth0    inet6 fe80::5054:ff:fe12:3456/64 scope link \\       valid_lft forever preferred_lft forever\n";
        assert_eq!(
            ip_addresses(text),
            ["10.30.17.31", "10.40.0.31", "fe80::5054:ff:fe12:3456"]
        );
        assert!(ip_addresses("").is_empty());
    }

    #[test]
    fn hostname_and_its_short_form() {
        assert_eq!(
            host_names("msk-01.stor.example.com\n"),
            ["msk-01.stor.example.com", "msk-01"]
        );
        assert_eq!(host_names("msk-01\n"), ["msk-01"]);
        assert!(host_names("\n").is_empty());
    }
}
