//! Rules the real tools apply to their input, shared by the primitives (which refuse bad
//! input before anything runs) and the lab (which answers bad input as the tool does). Where
//! the lab's rule differs from vzrun's own, the lab keeps its own copy and names the rule.

/// `N` or `N:M`, each 1 to 15, the minimum not above the norm.
pub fn parse_replicas(text: &str) -> Result<(u32, u32), String> {
    let (norm, min) = match text.split_once(':') {
        Some((n, m)) => (n, Some(m)),
        None => (text, None),
    };
    let number = |t: &str| {
        t.parse::<u32>()
            .ok()
            .filter(|n| (1..=15).contains(n))
            .ok_or_else(|| format!("{text:?}: expected N or N:M with each 1-15"))
    };
    let norm = number(norm)?;
    let min = match min {
        Some(m) => number(m)?,
        None => norm.div_ceil(2).max(1),
    };
    if min > norm {
        return Err(format!("{text:?}: the minimum is above the norm"));
    }
    Ok((norm, min))
}

/// Why a path is not an absolute path vzrun accepts: not absolute, a NUL or newline (no
/// tool line format can carry them), or a `..` step (it escapes the directory it names).
pub fn check_abs_path(text: &str) -> Result<(), &'static str> {
    if !text.starts_with('/') {
        return Err("is not an absolute path");
    }
    if text.contains('\0') || text.contains('\n') {
        return Err("contains a NUL or newline");
    }
    if text.split('/').any(|p| p == "..") {
        return Err("contains `..`");
    }
    Ok(())
}

/// What is wrong with a firewalld port spec.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PortProblem {
    /// Not `port[-port]/proto`, or a port outside 1-65535 (firewalld: INVALID_PORT).
    BadPort,
    /// A protocol other than tcp, udp, sctp, dccp (firewalld: INVALID_PROTOCOL).
    BadProtocol(String),
}

/// Checks `port[-port]/protocol` as firewalld does.
pub fn check_port(spec: &str) -> Result<(), PortProblem> {
    let (ports, proto) = spec.split_once('/').ok_or(PortProblem::BadPort)?;
    let in_range =
        |p: &str| p.len() <= 5 && p.parse::<u32>().is_ok_and(|n| (1..=65535).contains(&n));
    let ports_ok = match ports.split_once('-') {
        Some((a, b)) => in_range(a) && in_range(b),
        None => in_range(ports),
    };
    if !ports_ok {
        return Err(PortProblem::BadPort);
    }
    match proto {
        "tcp" | "udp" | "sctp" | "dccp" => Ok(()),
        other => Err(PortProblem::BadProtocol(other.to_string())),
    }
}
