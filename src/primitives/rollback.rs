//! `systemd::arm_rollback` and `systemd::disarm`: a dead-man switch on the node itself.
//!
//! Some changes can cut a node off from the run that makes them: a network restart over
//! the link vzrun reaches the node by (a bond whose switch side is not what the operator
//! thought, a VLAN the new port-channel does not carry). Once the node does not answer,
//! nothing can be put back over SSH, and without a console the node stays gone. So before
//! such a change the run saves the previous versions of the files **on the node** and arms a
//! transient systemd timer (`systemd-run --on-active=`, systemd 219 has it) that puts them
//! back and restarts the unit; the run disarms it once its check has passed. Whatever stops
//! the run from confirming (the node cut off, the client's machine or network lost, a
//! `kill -9`) leaves the timer to fire: the node goes back to what worked.
//!
//! The restore script is plain lines (`cp -f SAVED PATH`, `rm -f PATH`, `systemctl stop` and
//! `start UNIT`, then removing its own directory), so paths are limited to characters that
//! need no quoting; they are checked before anything is written. The script and `disarm`
//! race for one rename (`armed`), so exactly one of them acts: a timer that fires while the
//! run disarms it either puts everything back or nothing. A transient timer does not
//! survive a reboot: a node rebooted before it fires keeps the new files (the saved ones
//! stay in /var/lib/vzrun/rollback/UNIT, and the next `arm_rollback` there warns of them).

use rhai::plugin::*;
use rhai::Map;

use super::{call, change, probe, validate};
use crate::cluster::host::Host;
use crate::failure::Failure;
use crate::run::context::RunContext;
use crate::transport::cmd::Cmd;

/// Where the saved files and the restore script of each armed rollback live.
const ROOT: &str = "/var/lib/vzrun/rollback";
/// The transient units' names start so; `disarm` takes no other.
const PREFIX: &str = "vzrun-rollback-";
/// How long `disarm` waits for a rollback that has started to finish (a network restart).
const ROLLBACK_RUNS_S: u32 = 120;

/// A path the restore script can name without quoting.
fn plain_path(path: &str) -> Result<String, Failure> {
    let path = validate::abs_path("arm_rollback path", path)?;
    if path
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || "/._-@:+".contains(c))
    {
        Ok(path)
    } else {
        Err(Failure::bad_input(
            "arm_rollback path",
            format!("{path:?}: the restore script takes letters, digits and /._-@:+ only"),
        ))
    }
}

/// A unit name of this module's, as given back by `arm`.
fn rollback_unit(unit: &str) -> Result<String, Failure> {
    let unit = validate::unit(unit)?;
    let token = unit.strip_prefix(PREFIX).unwrap_or_default();
    if token.is_empty() || !token.chars().all(|c| c.is_ascii_hexdigit()) {
        return Err(Failure::bad_input(
            "rollback",
            format!("{unit:?} is not a unit made by systemd::arm_rollback"),
        ));
    }
    Ok(unit)
}

/// The unit's name: a digest of what it puts back, so that a plan names it as the run
/// will (a pending one of the same name is refused by `check_pending` first).
fn unit_for(
    host: &Host,
    saved: &[(String, Option<String>)],
    after: i64,
    restart: Option<&str>,
) -> String {
    let mut seed = format!(
        "{}\0{after}\0{}\0",
        host.name(),
        restart.unwrap_or_default()
    );
    for (path, old) in saved {
        seed.push_str(&format!("{path}\0{}\0", old.as_deref().unwrap_or("\u{1}")));
    }
    format!(
        "{PREFIX}{}",
        &crate::digest::sha256_hex(seed.as_bytes())[..12]
    )
}

fn timer_active(run: &RunContext, host: &Host, unit: &str) -> Result<bool, Failure> {
    Ok(probe(
        run,
        host,
        ["systemctl", "is-active", &format!("{unit}.timer")],
    )?
    .code
        == 0)
}

/// The rollbacks armed on the node whose timer is still active (pending, or on systemd 219
/// elapsed with its restore still running: its directory is still there); warns of saved
/// files whose timer is gone.
fn pending(run: &RunContext, host: &Host) -> Result<Vec<String>, Failure> {
    let mut pending = Vec::new();
    if probe(run, host, ["test", "-d", ROOT])?.code != 0 {
        return Ok(pending);
    }
    for entry in super::file::list_dir(run, host, ROOT)? {
        if !entry.starts_with(PREFIX) {
            continue;
        }
        if timer_active(run, host, &entry)? {
            pending.push(entry);
            continue;
        }
        run.runner.warn(format!(
            "{}: {ROOT}/{entry} holds files saved for a rollback whose timer is gone (the node \
             rebooted before it fired?); left as is",
            host.name()
        ));
    }
    Ok(pending)
}

/// Refuses to arm over a pending rollback of another run (it would put back its own files
/// in the middle of this change); warns of saved files whose timer is gone.
fn check_pending(run: &RunContext, host: &Host) -> Result<(), Failure> {
    if let Some(entry) = pending(run, host)?.first() {
        return Err(Failure::failed(format!(
            "{} has a pending rollback timer of another run ({entry}.timer): when it fires it \
             puts back that run's files and restarts a unit. Wait for it, or, if that run's \
             change is known good, stop it (systemctl stop {entry}.timer) and run again",
            host.name()
        )));
    }
    Ok(())
}

/// Arms the rollback: saves `files` (path → previous text, or `()` for a file that did not
/// exist), writes the restore script, starts the timer. Returns the unit.
fn arm(
    run: &RunContext,
    host: &Host,
    files: Map,
    after: i64,
    restart: Option<&str>,
) -> Result<String, Failure> {
    let mut saved: Vec<(String, Option<String>)> = Vec::new();
    for (path, old) in files {
        let path = plain_path(&path)?;
        let old = if old.is_unit() {
            None
        } else {
            let text = old.into_string().map_err(|t| {
                Failure::bad_input(
                    "arm_rollback files",
                    format!("{path}: expected the previous text or (), got {t}"),
                )
            })?;
            Some(text)
        };
        saved.push((path, old));
    }
    if saved.is_empty() {
        return Err(Failure::bad_input(
            "arm_rollback files",
            "no files to put back",
        ));
    }
    if !(30..=3600).contains(&after) {
        return Err(Failure::bad_input(
            "arm_rollback after",
            format!("{after} is outside 30..=3600 seconds"),
        ));
    }
    let restart = restart.map(validate::unit).transpose()?;
    check_pending(run, host)?;

    let unit = unit_for(host, &saved, after, restart.as_deref());
    let dir = format!("{ROOT}/{unit}");
    // systemd 219 keeps a transient timer that fired loaded, "active (elapsed)", until it is
    // stopped, and its name taken: the timer of an earlier arming of the same files (a run
    // killed before disarm, its rollback done). Pending ones were refused above (their
    // directory is there); one without its directory is spent.
    if timer_active(run, host, &unit)? {
        change(
            run,
            host,
            Cmd::change(["systemctl", "stop", &format!("{unit}.timer")]),
        )?;
    }
    change(run, host, Cmd::change(["mkdir", "-p", "-m", "0700", &dir]))?;
    for (i, (path, old)) in saved.iter().enumerate() {
        if let Some(text) = old {
            let mode = run.runner.file_mode(host, path)?.unwrap_or(0o644);
            run.runner
                .write_file(host, &format!("{dir}/{i}"), text, Some(mode))?;
        }
    }
    run.runner.write_file(
        host,
        &format!("{dir}/armed"),
        "armed: disarm or the restore script renames this file first\n",
        Some(0o600),
    )?;
    let script = restore_script(&unit, &dir, &saved, restart.as_deref());
    let script_path = format!("{dir}/restore.sh");
    run.runner
        .write_file(host, &script_path, &script, Some(0o700))?;
    change(
        run,
        host,
        Cmd::change([
            "systemd-run".to_string(),
            format!("--unit={unit}"),
            format!("--on-active={after}s"),
            // Timers may fire up to a minute late by default (AccuracySec=1min).
            "--timer-property=AccuracySec=1s".into(),
            "--description=vzrun rollback: puts back what a run changed unless disarmed".into(),
            "/bin/sh".into(),
            script_path,
        ]),
    )?;
    Ok(unit)
}

/// The script the timer runs. It first claims the rollback by renaming `DIR/armed`, the
/// one step `disarm` also tries (a rename succeeds for one of them only), under `set -e` so
/// that a script that lost the claim stops there. Then, from `set +e` on, each line is tried
/// whatever the one before did: the unit stopped (with the new files, so it takes down what
/// only they set up, a new bond), each saved file (`DIR/N`, N its place in `saved`) copied
/// back over its path (a copy keeps the path's mode, owner and SELinux label), each file
/// that did not exist removed, the unit started, the directory removed. Plain lines (see
/// the module doc).
fn restore_script(
    unit: &str,
    dir: &str,
    saved: &[(String, Option<String>)],
    restart: Option<&str>,
) -> String {
    let mut script = format!(
        "# vzrun: puts back what a run changed on this node unless the run disarms it\n\
         # (systemctl stop {unit}.timer). Plain lines, one command each.\n\
         set -e\n\
         mv {dir}/armed {dir}/fired\n\
         set +e\n"
    );
    if let Some(unit) = restart {
        script.push_str(&format!("systemctl stop {unit}\n"));
    }
    for (i, (path, old)) in saved.iter().enumerate() {
        script.push_str(&match old {
            Some(_) => format!("cp -f {dir}/{i} {path}\n"),
            None => format!("rm -f {path}\n"),
        });
    }
    if let Some(unit) = restart {
        script.push_str(&format!("systemctl start {unit}\n"));
    }
    script.push_str(&format!("rm -rf {dir}\n"));
    script
}

/// Disarms: stops the timer if it is still pending and removes the saved files. Whether it
/// was pending (`false`: it fired, and the files were put back; in a plan, `true`).
fn disarm(run: &RunContext, host: &Host, unit: &str) -> Result<bool, Failure> {
    let unit = rollback_unit(unit)?;
    let dir = format!("{ROOT}/{unit}");
    let stop = Cmd::change(["systemctl", "stop", &format!("{unit}.timer")]);
    if run.runner.is_plan() {
        change(run, host, stop)?;
        return Ok(true);
    }
    // Stopped first, so that it cannot fire after the look. A timer already gone (fired and
    // collected) is no error.
    run.runner.exec(host, &stop)?;
    // The claim (see `restore_script`): whoever renames `armed` first, this or the script.
    let claim = Cmd::change(["mv", &format!("{dir}/armed"), &format!("{dir}/disarmed")]);
    if run.runner.exec(host, &claim)?.success() {
        change(run, host, Cmd::change(["rm", "-rf", &dir]))?;
        // A script that started and lost the claim failed: its failed unit would keep the
        // name that the next arming of the same files takes.
        run.runner.exec(
            host,
            &Cmd::change(["systemctl", "reset-failed", &format!("{unit}.service")]),
        )?;
        return Ok(true);
    }
    wait_done(run, host, &unit, &dir)?;
    Ok(false)
}

/// Waits for a rollback that has started to end (it removes its directory last). Half a
/// put-back is worse than none, so it is waited for, not stopped. The node may not answer
/// for a while (its network restarts): a look that fails is tried again.
fn wait_done(run: &RunContext, host: &Host, unit: &str, dir: &str) -> Result<(), Failure> {
    for _ in 0..ROLLBACK_RUNS_S {
        match probe(run, host, ["test", "-d", dir]) {
            Ok(out) if out.code != 0 => return Ok(()),
            Err(f) if f.kind == crate::failure::FailureKind::Interrupted => return Err(f),
            _ => run.runner.sleep(std::time::Duration::from_secs(1))?,
        }
    }
    Err(Failure::failed(format!(
        "{}: the rollback {unit} started but has not finished after {ROLLBACK_RUNS_S}s \
         ({dir} is still there): see journalctl -u {unit}.service",
        host.name()
    )))
}

/// Runs an armed rollback now, as its timer would: the unit stopped with the new files
/// (taking down what only they set up), the previous files back, the unit started, and
/// waits for it to end. Whether this call ran it (`false`: the timer had already).
fn roll_back(run: &RunContext, host: &Host, unit: &str) -> Result<bool, Failure> {
    let unit = rollback_unit(unit)?;
    let dir = format!("{ROOT}/{unit}");
    let start = Cmd::change(["systemctl", "start", &format!("{unit}.service")]);
    let stop = Cmd::change(["systemctl", "stop", &format!("{unit}.timer")]);
    if run.runner.is_plan() {
        change(run, host, start)?;
        change(run, host, stop)?;
        return Ok(true);
    }
    // Started before the timer is stopped: a transient service whose timer is gone may be
    // unloaded. Should the timer fire meanwhile, the claim lets one of them act.
    let armed_path = format!("{dir}/armed");
    let armed = probe(run, host, ["test", "-e", &armed_path])?.code == 0;
    if armed {
        if let Err(lost) = change(run, host, start) {
            // The answer may be lost because the rollback, stopping the network the node is
            // reached over, cut this connection: it has started if `armed` is gone.
            if lost.kind != crate::failure::FailureKind::TimedOut
                || !claimed_after_all(run, host, &armed_path)?
            {
                return Err(lost);
            }
        }
    }
    wait_done(run, host, &unit, &dir)?;
    run.runner.exec(host, &stop)?;
    // Should the timer have fired after the script ended, its second run failed at the
    // claim: a failed unit keeps the name the next arming of the same files takes.
    run.runner.exec(
        host,
        &Cmd::change(["systemctl", "reset-failed", &format!("{unit}.service")]),
    )?;
    Ok(armed)
}

/// After a start whose answer was lost: whether the rollback claimed `armed` (it is gone),
/// looking again until the node answers (at most `ROLLBACK_RUNS_S`).
fn claimed_after_all(run: &RunContext, host: &Host, armed_path: &str) -> Result<bool, Failure> {
    for _ in 0..ROLLBACK_RUNS_S {
        match probe(run, host, ["test", "-e", armed_path]) {
            Ok(out) => return Ok(out.code != 0),
            Err(f) if f.kind == crate::failure::FailureKind::Interrupted => return Err(f),
            Err(_) => run.runner.sleep(std::time::Duration::from_secs(1))?,
        }
    }
    Ok(false)
}

#[export_module]
pub mod api {
    use super::*;

    /// Arms a dead-man switch on the node before a change that may cut it off: saves the
    /// previous text of each file (`()`: the file did not exist and is removed) under
    /// /var/lib/vzrun/rollback, and starts a transient systemd timer that, `after` seconds
    /// (30..3600) from now, puts them back and restarts `restart` (a unit; `()` for none).
    /// Returns the timer's unit, for `systemd::disarm` once the change is checked. The
    /// timer runs on the node: it fires even when the node no longer answers the run, or
    /// the run is gone. Refused while another run's rollback is pending on the node.
    ///
    /// ```rhai
    /// let old = #{"/etc/sysconfig/network-scripts/ifcfg-bond0": file::read(h, "/etc/sysconfig/network-scripts/ifcfg-bond0")};
    /// let rollback = systemd::arm_rollback(h, old, 180, "network");
    /// file::write(h, "/etc/sysconfig/network-scripts/ifcfg-bond0", new_text);
    /// systemd::restart(h, "network");
    /// // ... check, then:
    /// systemd::disarm(h, rollback);
    /// ```
    #[rhai_fn(return_raw)]
    pub fn arm_rollback(
        ctx: NativeCallContext,
        host: Host,
        files: Map,
        after: i64,
        restart: Dynamic,
    ) -> Result<String, Box<EvalAltResult>> {
        call(&ctx, |run| {
            let restart = if restart.is_unit() {
                None
            } else {
                Some(restart.into_string().map_err(|t| {
                    Failure::bad_input(
                        "arm_rollback restart",
                        format!("expected a unit or (), got {t}"),
                    )
                })?)
            };
            arm(run, &host, files, after, restart.as_deref())
        })
    }

    /// The rollbacks of earlier runs still pending on the node (units, as `arm_rollback`
    /// returned them): each will put back its run's files and restart a unit. A runbook
    /// checks this before it calls a node done: a run killed between its check and its
    /// `disarm` leaves the new files in place and the timer armed.
    ///
    /// ```rhai
    /// let pending = systemd::pending_rollbacks(h);
    /// if pending.len() > 0 { refuse(`${h.name} has a pending rollback: ${pending}`); }
    /// ```
    #[rhai_fn(return_raw)]
    pub fn pending_rollbacks(
        ctx: NativeCallContext,
        host: Host,
    ) -> Result<rhai::Array, Box<EvalAltResult>> {
        call(&ctx, |run| {
            Ok(super::pending(run, &host)?
                .into_iter()
                .map(Dynamic::from)
                .collect())
        })
    }

    /// Runs a rollback armed by `systemd::arm_rollback` now, as its timer would (the unit
    /// stopped while the new files are in place, so it takes down what only they set up;
    /// the previous files back; the unit started), and waits for it to end, through the
    /// node not answering for a while. Returns whether this call ran it; `false` means the
    /// timer had already fired and put the files back.
    ///
    /// ```rhai
    /// if problem != () { systemd::roll_back(h, rollback); throw problem; }
    /// ```
    #[rhai_fn(return_raw)]
    pub fn roll_back(
        ctx: NativeCallContext,
        host: Host,
        rollback: &str,
    ) -> Result<bool, Box<EvalAltResult>> {
        call(&ctx, |run| super::roll_back(run, &host, rollback))
    }

    /// Disarms a rollback armed by `systemd::arm_rollback`: stops its timer if it is still
    /// pending and removes its saved files. Returns whether it was pending; `false` means
    /// the timer fired: the previous files are back and the unit was restarted.
    ///
    /// ```rhai
    /// if !systemd::disarm(h, rollback) { throw "the rollback timer fired before the check ended"; }
    /// ```
    #[rhai_fn(return_raw)]
    pub fn disarm(
        ctx: NativeCallContext,
        host: Host,
        rollback: &str,
    ) -> Result<bool, Box<EvalAltResult>> {
        call(&ctx, |run| super::disarm(run, &host, rollback))
    }
}

#[cfg(test)]
mod tests {
    use super::restore_script;
    use std::fs;

    /// The script does with a real `sh` what the lab makes of it (`lab::timers`).
    #[test]
    fn the_restore_script_puts_files_back_under_a_real_shell() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().to_str().unwrap();
        let dir = format!("{root}/rollback/vzrun-rollback-0a1b");
        fs::create_dir_all(&dir).unwrap();
        let (kept, added) = (format!("{root}/ifcfg-bond0"), format!("{root}/ifcfg-eth9"));
        fs::write(&kept, "new\n").unwrap();
        fs::write(&added, "new\n").unwrap();
        fs::write(format!("{dir}/0"), "old\n").unwrap();
        let saved = [
            (kept.clone(), Some("old\n".to_string())),
            (added.clone(), None),
        ];
        let script = restore_script("vzrun-rollback-0a1b", &dir, &saved, None);
        assert!(script
            .lines()
            .all(|l| l.starts_with('#') || !l.contains(['\'', '"', ';', '$'])));
        fs::write(format!("{dir}/restore.sh"), &script).unwrap();
        let sh = || {
            std::process::Command::new("sh")
                .arg(format!("{dir}/restore.sh"))
                .stderr(std::process::Stdio::null())
                .status()
                .unwrap()
        };
        // Without `armed` (disarm renamed it first) the script stops at its claim.
        assert!(!sh().success());
        assert_eq!(fs::read_to_string(&kept).unwrap(), "new\n");
        assert!(std::path::Path::new(&added).exists());
        fs::write(format!("{dir}/armed"), "").unwrap();
        assert!(sh().success());
        assert_eq!(fs::read_to_string(&kept).unwrap(), "old\n");
        assert!(!std::path::Path::new(&added).exists());
        assert!(
            !std::path::Path::new(&dir).exists(),
            "the script removes its directory"
        );
    }
}
