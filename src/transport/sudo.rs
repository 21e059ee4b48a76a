//! Privilege escalation for hosts reached as an ordinary user (inventory `sudo: true`), as
//! Ansible's `become` does it: every remote argv is prefixed with `sudo -n [-u USER] --`, so
//! the argv stays word for word (sudo execs it; no shell parses it), and file reads, atomic
//! writes, modes and the run lock, which are argvs too, run as the target user as well.
//!
//! `-n` because nothing may ever wait for a password nobody will type: a sudo that wants one,
//! or a terminal (`requiretty`, the CentOS 7 default), fails at once. vzrun checks that when
//! it connects (`probe`), so the run stops with a clear error, naming the host and sudo's own
//! message, before it changes anything there.

use std::time::Duration;

use openssh::{Session, Stdio};
use tokio::runtime::Runtime;

use super::SshSettings;

/// Why the check at connect failed.
#[derive(Debug)]
pub enum ProbeError {
    /// sudo ran and said no (exit code, its stderr).
    Refused(i32, String),
    /// The connection failed or hung: not sudo's answer.
    Lost(String),
}

/// How commands on one host are escalated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sudo {
    /// `sudo -u USER`; `None`: root.
    user: Option<String>,
}

impl Sudo {
    /// The escalation the host's settings ask for, if any.
    pub fn from_settings(settings: &SshSettings) -> Option<Sudo> {
        (settings.sudo == Some(true)).then(|| Sudo {
            user: settings.sudo_user.clone(),
        })
    }

    /// `sudo -n [-u USER] --`, to be followed by the argv.
    pub fn prefix(&self) -> Vec<String> {
        let mut argv = vec!["sudo".to_string(), "-n".into()];
        if let Some(user) = &self.user {
            argv.extend(["-u".into(), user.clone()]);
        }
        argv.push("--".into());
        argv
    }

    /// The check run at connect: succeeds only when sudo runs a command without asking, and
    /// prints the user who called sudo (`$SUDO_USER`: the SSH user, for the lock holder).
    pub fn probe(&self) -> Vec<String> {
        let mut argv = self.prefix();
        argv.extend(["printenv".into(), "SUDO_USER".into()]);
        argv
    }

    /// Runs `probe` on a new connection: the SSH user who called sudo, or why sudo refused.
    /// At most 30 s, and no longer than the caller's deadline (`within`): over a connection
    /// whose host went silent it would wait that long.
    pub fn check(&self, session: &Session, runtime: &Runtime) -> Result<String, ProbeError> {
        let argv = self.probe();
        const WAIT: Duration = Duration::from_secs(30);
        let limit = crate::deadline::current().map_or(WAIT, |d| {
            d.at.saturating_duration_since(std::time::Instant::now())
                .min(WAIT)
        });
        runtime.block_on(async {
            let mut command = session.command(argv[0].as_str());
            command
                .args(&argv[1..])
                .stdin(Stdio::null())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped());
            match tokio::time::timeout(limit, command.output()).await {
                Ok(Ok(out)) if out.status.success() => {
                    Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
                }
                Ok(Ok(out)) => Err(ProbeError::Refused(
                    out.status.code().unwrap_or(255),
                    String::from_utf8_lossy(&out.stderr).into_owned(),
                )),
                // The crate reports a remote exit 127 as an error: no sudo on the host.
                Ok(Err(openssh::Error::Remote(e))) if e.kind() == std::io::ErrorKind::NotFound => {
                    Err(ProbeError::Refused(127, "sudo: command not found".into()))
                }
                Ok(Err(e)) => Err(ProbeError::Lost(e.to_string())),
                Err(_) => Err(ProbeError::Lost(format!(
                    "`sudo -n` gave no answer within {}s",
                    limit.as_secs_f64().ceil()
                ))),
            }
        })
    }

    /// Who commands run as, for messages.
    pub fn target(&self) -> &str {
        self.user.as_deref().unwrap_or("root")
    }

    /// Why the probe failed, and what to do about it, from its exit code and sudo's stderr.
    pub fn refusal(&self, ssh_user: &str, code: i32, stderr: &str) -> String {
        let said = stderr.trim().replace('\n', "; ");
        let target = self.target();
        let advice = if said.contains("password is required") {
            format!("sudo wants a password: give {ssh_user} a NOPASSWD rule")
        } else if said.contains("tty") || said.contains("terminal is required") {
            format!("sudo wants a terminal (requiretty): add `Defaults:{ssh_user} !requiretty`")
        } else if said.contains("not in the sudoers")
            || said.contains("not allowed")
            || said.contains("may not run")
        {
            format!("{ssh_user} may not run commands as {target} through sudo")
        } else if code == 127 {
            "sudo is not installed".to_string()
        } else {
            format!("`sudo -n` failed (exit {code})")
        };
        format!(
            "cannot run commands as {target} with `sudo -n`: {advice} (sudo said: {said}); nothing was run there. See the book's Installing page, \"Running as your own user: sudo\""
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sudo(user: Option<&str>) -> Sudo {
        Sudo::from_settings(&SshSettings {
            sudo: Some(true),
            sudo_user: user.map(str::to_string),
            ..SshSettings::default()
        })
        .unwrap()
    }

    #[test]
    fn the_argv_follows_sudo_word_for_word() {
        let mut argv = sudo(None).prefix();
        argv.extend(["touch".into(), "a file; rm -rf /".into()]);
        assert_eq!(argv, ["sudo", "-n", "--", "touch", "a file; rm -rf /"]);
        assert_eq!(
            sudo(Some("vzadmin")).probe(),
            ["sudo", "-n", "-u", "vzadmin", "--", "printenv", "SUDO_USER"]
        );
        assert!(Sudo::from_settings(&SshSettings::default()).is_none());
    }

    #[test]
    fn refusals_say_the_cause() {
        let s = sudo(None);
        assert!(s
            .refusal("ops", 1, "sudo: a password is required\n")
            .contains("sudo wants a password: give ops a NOPASSWD rule"));
        assert!(s
            .refusal("ops", 1, "sudo: sorry, you must have a tty to run sudo\n")
            .contains("!requiretty"));
        assert!(s
            .refusal("ops", 1, "ops is not in the sudoers file.\n")
            .contains("ops may not run commands as root"));
    }
}
