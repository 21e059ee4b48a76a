//! Transient timers (`systemd-run --on-active=`) and the shell scripts they run.
//!
//! A runbook that may cut a node off (a network restart over the link it is reached on)
//! arms a timer on the node that puts the previous files back unless the run disarms it.
//! The lab must fire such a timer on its own, in lab time, while the node does not answer:
//! otherwise the only test of the dead-man switch would be the code that arms it.
//!
//! The lab runs a script as `sh FILE` does: each line a simple command (words split on
//! blanks, `#` lines skipped), run in turn, a failure not stopping the next line unless
//! `set -e` is in force (`set +e` ends it). Anything a
//! plain line cannot say (quotes, pipes, `$`) is refused: the lab would otherwise run
//! something other than what a real shell would.

use serde::{Deserialize, Serialize};

use super::reply::Reply;
use super::state::{LabState, Unit};

/// A pending transient timer: `unit.timer` starts `unit.service`, which runs `argv`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Timer {
    /// The unit name without suffix (`--unit=`).
    pub unit: String,
    /// When it fires, on the lab's clock.
    pub due: f64,
    pub argv: Vec<String>,
    /// It fired. systemd 219 keeps such a timer loaded and "active (elapsed)" until it is
    /// stopped (`RemainAfterElapse=no`, which unloads a transient timer once it has fired,
    /// came with systemd 229): `is-active` says active, and `systemd-run` of the same unit
    /// fails with "Unit NAME.timer already exists".
    #[serde(default)]
    pub elapsed: bool,
}

/// A time span as systemd reads one (`180`, `180s`, `3min`, `1h`), in seconds.
fn time_span(text: &str) -> Option<f64> {
    let digits = text.trim_end_matches(|c: char| c.is_ascii_alphabetic());
    let value: f64 = digits.parse().ok().filter(|v: &f64| *v >= 0.0)?;
    let scale = match &text[digits.len()..] {
        "" | "s" | "sec" => 1.0,
        "m" | "min" => 60.0,
        "h" | "hr" => 3600.0,
        _ => return None,
    };
    Some(value * scale)
}

/// `systemd-run --unit=NAME --on-active=SPAN [--description=TEXT] ARGV...` (systemd 219):
/// a transient `NAME.timer` that starts `NAME.service` running ARGV once, SPAN from now.
pub fn systemd_run(state: &mut LabState, host: &str, args: &[String]) -> Reply {
    let mut unit = None;
    let mut on_active = None;
    let mut description = String::new();
    let mut rest = args;
    while let Some((first, tail)) = rest.split_first() {
        if !first.starts_with("--") {
            break;
        }
        let (key, value, tail) = match first.split_once('=') {
            Some((k, v)) => (k, v.to_string(), tail),
            None => match tail.split_first() {
                Some((v, t)) => (first.as_str(), v.clone(), t),
                None => return Reply::fail(1, format!("systemd-run: {first} needs a value\n")),
            },
        };
        match key {
            "--unit" => unit = Some(value),
            "--on-active" => on_active = Some(value),
            "--description" => description = value,
            // AccuracySec=…: the lab fires timers on time anyway.
            "--timer-property" => {}
            _ => {
                return Reply::fail(
                    1,
                    format!("systemd-run: {key} is not simulated by the lab\n"),
                )
            }
        }
        rest = tail;
    }
    let (Some(unit), Some(span)) = (unit, on_active) else {
        return Reply::fail(
            1,
            "systemd-run: the lab runs only named timers (--unit= and --on-active=)\n",
        );
    };
    let Some(after) = time_span(&span) else {
        return Reply::fail(1, format!("Failed to parse timer value: {span}\n"));
    };
    if rest.is_empty() {
        return Reply::fail(1, "systemd-run: command line to execute required\n");
    }
    // Lab seconds: at a speed above 0 the lab's time is scaled wall time.
    let due = state.done_after(after);
    let h = state.host_mut(host);
    let timer_unit = format!("{unit}.timer");
    if h.units.contains_key(&timer_unit) {
        return Reply::fail(
            1,
            format!("Failed to start transient timer unit: Unit {timer_unit} already exists.\n"),
        );
    }
    h.units.insert(
        timer_unit.clone(),
        Unit {
            active: true,
            enabled: false,
            description,
            job: None,
            repo: None,
        },
    );
    // Its service, loaded beside it: `systemctl start NAME.service` runs ARGV at once.
    h.units.insert(
        format!("{unit}.service"),
        Unit {
            active: false,
            enabled: false,
            description: String::new(),
            job: None,
            repo: None,
        },
    );
    h.ops.timers.push(Timer {
        unit: unit.clone(),
        due,
        argv: rest.to_vec(),
        elapsed: false,
    });
    let mut reply = Reply::ok("");
    reply.stderr =
        format!("Running timer as unit {timer_unit}.\nWill run service as unit {unit}.service.\n");
    reply
}

/// `systemctl stop NAME.timer` of a transient timer: it is gone (transient units do not
/// stay loaded once stopped). Whether `unit` was one.
pub fn stop(state: &mut LabState, host: &str, unit: &str) -> bool {
    let Some(name) = unit.strip_suffix(".timer") else {
        return false;
    };
    let h = state.host_mut(host);
    let before = h.ops.timers.len();
    h.ops.timers.retain(|t| t.unit != name);
    if h.ops.timers.len() == before {
        return false;
    }
    h.units.remove(unit);
    h.units.remove(&format!("{name}.service"));
    true
}

/// `systemctl start NAME.service` of a timer's service: runs the timer's command now (its
/// timer stays as it is). `None` when `unit` is no such service.
pub fn start_service(state: &mut LabState, host: &str, unit: &str) -> Option<Reply> {
    let name = unit.strip_suffix(".service")?;
    let argv = state
        .host(host)?
        .ops
        .timers
        .iter()
        .find(|t| t.unit == name)?
        .argv
        .clone();
    let reply = super::dispatch(state, host, &argv);
    let code = reply.map_or(127, |r| r.code);
    state
        .host_mut(host)
        .ops
        .fired_timers
        .push(format!("{name} (started): exit {code}"));
    Some(Reply::ok(""))
}

/// Fires every timer that is due: its command runs on its host (a node that does not answer
/// still runs its own timers) and, as on systemd 219, the timer stays loaded and active,
/// elapsed, until stopped. Each firing is logged in the host's `fired_timers`.
pub fn fire_due(state: &mut LabState) {
    let now = state.lab_now();
    loop {
        let due = state.hosts.iter().find_map(|h| {
            h.ops
                .timers
                .iter()
                .position(|t| !t.elapsed && t.due <= now)
                .map(|i| (h.name.clone(), i))
        });
        let Some((host, index)) = due else { return };
        let h = state.host_mut(&host);
        h.ops.timers[index].elapsed = true;
        let timer = h.ops.timers[index].clone();
        let reply = super::dispatch(state, &host, &timer.argv);
        let code = reply.map_or(127, |r| r.code);
        state
            .host_mut(&host)
            .ops
            .fired_timers
            .push(format!("{}: exit {code}", timer.unit));
    }
}

/// `sh FILE`: runs the script's lines (see the module doc). Exit: the last command's.
pub fn run_script(state: &mut LabState, host: &str, path: &str) -> Reply {
    let Some(text) = state.file(host, path).map(|f| f.content.clone()) else {
        return Reply::fail(127, format!("sh: {path}: No such file or directory\n"));
    };
    let mut out = Reply::ok("");
    let mut errexit = false;
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        if line == "set -e" || line == "set +e" {
            errexit = line == "set -e";
            continue;
        }
        if line.contains(|c: char| "'\"`$|&;<>(){}\\*?".contains(c)) {
            return Reply::fail(
                2,
                format!(
                    "sh: {path}: line {}: the lab runs plain commands only: {line}\n",
                    n + 1
                ),
            );
        }
        let argv: Vec<String> = line.split_whitespace().map(str::to_string).collect();
        let reply = super::dispatch(state, host, &argv).unwrap_or_else(|| {
            Reply::fail(
                127,
                format!("sh: line {}: {}: command not found\n", n + 1, argv[0]),
            )
        });
        out.stdout.push_str(&reply.stdout);
        out.stderr.push_str(&reply.stderr);
        out.code = reply.code;
        if errexit && out.code != 0 {
            break;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::time_span;
    use crate::lab::tests::{lab, run};

    #[test]
    fn a_timer_fires_in_lab_time_and_runs_its_script_even_on_a_node_that_does_not_answer() {
        let mut s = lab();
        s.speed = 0.0;
        let script = "/var/lib/vzrun/rollback/t1/restore.sh";
        run(
            &mut s,
            "msk-01",
            "mkdir -p -m 0700 /var/lib/vzrun/rollback/t1",
        );
        assert!(
            s.hosts[0].dirs.iter().all(|d| d != "0700"),
            "-m takes its value"
        );
        s.files_mut("msk-01", script).insert(
            script.into(),
            crate::lab::state::LabFile {
                content: "# put back\nrm -f /etc/motd\nsystemctl restart network\nrm -rf /var/lib/vzrun/rollback/t1\n".into(),
                mode: 0o700,
            },
        );
        let motd = crate::lab::state::LabFile {
            content: "hi\n".into(),
            mode: 0o644,
        };
        s.files_mut("msk-01", "/etc/motd")
            .insert("/etc/motd".into(), motd);
        let armed = run(
            &mut s,
            "msk-01",
            &format!("systemd-run --unit=t1 --on-active=60s --description=x /bin/sh {script}"),
        );
        assert_eq!(armed.code, 0, "{}", armed.stderr);
        assert!(armed.stderr.contains("Running timer as unit t1.timer."));
        assert_eq!(
            run(&mut s, "msk-01", "systemctl is-active t1.timer").code,
            0
        );
        assert_eq!(
            run(&mut s, "msk-01", "systemd-run --unit=t1 --on-active=5 true").code,
            1,
            "a second t1"
        );
        s.hosts[0].unreachable = true;
        s.pass(59.0);
        crate::lab::timers::fire_due(&mut s);
        assert!(s.file("msk-01", "/etc/motd").is_some(), "not due yet");
        s.pass(1.0);
        crate::lab::timers::fire_due(&mut s);
        let h = &s.hosts[0];
        assert!(s.file("msk-01", "/etc/motd").is_none(), "the script ran");
        assert!(
            s.file("msk-01", script).is_none(),
            "and removed its directory"
        );
        assert!(h
            .dirs
            .iter()
            .all(|d| !d.starts_with("/var/lib/vzrun/rollback/t1")));
        assert_eq!(h.ops.fired_timers, ["t1: exit 0"]);
        // systemd 219: the timer stays "active (elapsed)", and its name taken, until stopped.
        assert!(h.ops.timers[0].elapsed && h.units["t1.timer"].active);
        s.hosts[0].unreachable = false;
        assert_eq!(
            run(&mut s, "msk-01", "systemctl is-active t1.timer").code,
            0
        );
        let again = run(&mut s, "msk-01", "systemd-run --unit=t1 --on-active=5 true");
        assert!(again.stderr.contains("already exists"), "{}", again.stderr);
        s.pass(60.0);
        crate::lab::timers::fire_due(&mut s);
        assert_eq!(
            s.hosts[0].ops.fired_timers.len(),
            1,
            "an elapsed timer fires once"
        );
        assert_eq!(run(&mut s, "msk-01", "systemctl stop t1.timer").code, 0);
        assert_eq!(
            run(&mut s, "msk-01", "systemctl is-active t1.timer").code,
            3
        );
        assert!(s.hosts[0].ops.timers.is_empty() && !s.hosts[0].units.contains_key("t1.timer"));
    }

    #[test]
    fn a_stopped_timer_never_fires_and_scripts_run_plain_lines_only() {
        let mut s = lab();
        s.speed = 0.0;
        run(
            &mut s,
            "msk-01",
            "systemd-run --unit=t2 --on-active=1min rm -f /etc/hosts",
        );
        assert_eq!(run(&mut s, "msk-01", "systemctl stop t2.timer").code, 0);
        assert_eq!(
            run(&mut s, "msk-01", "systemctl is-active t2.timer").code,
            3
        );
        let gone = run(&mut s, "msk-01", "systemctl reset-failed t2.service");
        assert!(
            gone.code == 1 && gone.stderr.contains("Unit t2.service not loaded"),
            "{}",
            gone.stderr
        );
        assert_eq!(
            run(&mut s, "msk-01", "systemctl reset-failed network").code,
            0
        );
        s.pass(120.0);
        crate::lab::timers::fire_due(&mut s);
        assert!(s.file("msk-01", "/etc/hosts").is_some());
        assert!(s.hosts[0].ops.fired_timers.is_empty());
        let file = crate::lab::state::LabFile {
            content: "rm -f /etc/hosts; reboot\n".into(),
            mode: 0o700,
        };
        s.files_mut("msk-01", "/x.sh").insert("/x.sh".into(), file);
        let r = run(&mut s, "msk-01", "sh /x.sh");
        assert_eq!(r.code, 2);
        assert!(r.stderr.contains("plain commands only"), "{}", r.stderr);
        assert!(s.file("msk-01", "/etc/hosts").is_some());
    }

    #[test]
    fn time_spans_read_as_systemd_reads_them() {
        assert_eq!(time_span("180"), Some(180.0));
        assert_eq!(time_span("180s"), Some(180.0));
        assert_eq!(time_span("3min"), Some(180.0));
        assert_eq!(time_span("1h"), Some(3600.0));
        assert_eq!(time_span("3 weeks"), None);
        assert_eq!(time_span("soon"), None);
        assert_eq!(time_span("-5"), None);
    }
}
