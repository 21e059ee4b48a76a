//! Real OpenSSH servers on loopback for the SSH tests (recipe in DESIGN §4): one `sshd` per
//! 127.0.0.N, keys made with ssh-keygen, the lab shim first on PATH through `SetEnv`, all
//! sharing one lab state file. Sessions get a HOME of their own without rc files (`SetEnv
//! HOME=`), so a remote command never runs root's .bashrc: the remote shell starts as fast
//! as it can, and neither tests nor the bench depend on the machine's dotfiles. Tests skip with a message where sshd is not installed, and
//! fail instead under `CI=true` (`.ci/run` installs it), so CI never passes them silently.

use std::fmt::Write as _;
use std::fs;
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU8, Ordering};
use std::time::{Duration, Instant};

use tempfile::TempDir;

use crate::test::vzrun_bin;

const SSHD: &str = "/usr/sbin/sshd";

/// The next loopback address, so parallel tests do not share one.
fn next_address() -> String {
    static NEXT: AtomicU8 = AtomicU8::new(0);
    let n = NEXT.fetch_add(1, Ordering::SeqCst);
    format!("127.0.{}.{}", 10 + n / 200, 10 + n % 200)
}

fn free_port(address: &str) -> u16 {
    TcpListener::bind((address, 0))
        .expect("bind loopback")
        .local_addr()
        .unwrap()
        .port()
}

fn keygen(path: &Path) {
    let status = Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-f"])
        .arg(path)
        .status()
        .expect("ssh-keygen runs");
    assert!(status.success());
}

/// sshd is missing: a skip said out loud, and under CI (`ci`) a failure, so CI never
/// passes the SSH tests without running them.
fn skip_unless_ci(ci: bool) {
    assert!(
        !ci,
        "{SSHD} is missing under CI=true: .ci/run installs openssh-server"
    );
    eprintln!("skipping: {SSHD} is not installed (.ci/run installs openssh-server)");
}

#[test]
#[should_panic(expected = "is missing under CI=true")]
fn a_missing_sshd_fails_under_ci() {
    skip_unless_ci(true);
}

#[test]
fn a_missing_sshd_is_a_skip_outside_ci() {
    skip_unless_ci(false);
}

pub struct SshHost {
    pub name: String,
    pub address: String,
    pub port: u16,
}

pub struct SshCluster {
    pub dir: TempDir,
    pub hosts: Vec<SshHost>,
    sshds: Vec<Child>,
}

impl SshCluster {
    /// Starts `n` sshd instances serving lab hosts msk-01, msk-02, ...; `None` (after
    /// saying why) when sshd is not installed.
    pub fn start(n: usize) -> Option<SshCluster> {
        Self::start_with(
            n,
            &vzrun::lab::DEFAULT_SCENARIO.replace("speed: 0.05", "speed: 0"),
        )
    }

    /// Starts `n` sshd instances for the lab `scenario` (its hosts must be msk-01..msk-NN
    /// with addresses 10.30.17.(30+N)).
    pub fn start_with(n: usize, scenario: &str) -> Option<SshCluster> {
        Self::start_configured(n, scenario, "")
    }

    /// As `start_with`, with `sshd_extra` (sshd_config lines) added to every sshd's config.
    pub fn start_configured(n: usize, scenario: &str, sshd_extra: &str) -> Option<SshCluster> {
        if !Path::new(SSHD).exists() {
            skip_unless_ci(std::env::var("CI").as_deref() == Ok("true"));
            return None;
        }
        fs::create_dir_all("/run/sshd").ok();
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        keygen(&d.join("id"));
        keygen(&d.join("hostkey"));
        fs::copy(d.join("id.pub"), d.join("authorized_keys")).unwrap();
        fs::create_dir_all(d.join("home")).unwrap();
        let shim = d.join("shim");
        fs::create_dir_all(&shim).unwrap();
        for tool in ["prlctl", "prlsrvctl", "vstorage", "firewall-cmd", "findmnt"] {
            std::os::unix::fs::symlink(vzrun_bin(), shim.join(tool)).unwrap();
        }
        let mut scenario = scenario.to_string();
        let host_key = fs::read_to_string(d.join("hostkey.pub")).unwrap();
        let mut known_hosts = String::new();
        let mut hosts = Vec::new();
        let mut sshds = Vec::new();
        for i in 1..=n {
            let name = format!("msk-{i:02}");
            let address = next_address();
            let port = free_port(&address);
            // The lab host answers at its sshd's address, so migrations and `stat` agree.
            scenario = scenario.replace(
                &format!("address: 10.30.17.{},", 30 + i),
                &format!("address: {address},"),
            );
            let config = d.join(format!("sshd_{name}"));
            fs::write(
                &config,
                format!(
                    "ListenAddress {address}:{port}\nHostKey {hk}\nAuthorizedKeysFile {ak}\nPidFile {pid}\nUsePAM no\nStrictModes no\nPasswordAuthentication no\nPermitRootLogin yes\n{max_sessions}MaxStartups 200:30:400\nLogLevel INFO\nSetEnv PATH={shim}:/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin VZRUN_LAB_STATE={state} VZRUN_LAB_HOST={name} VZRUN_LAB_SCENARIO={scenario} HOME={home}\n{sshd_extra}",
                    hk = d.join("hostkey").display(),
                    ak = d.join("authorized_keys").display(),
                    pid = d.join(format!("{name}.pid")).display(),
                    shim = shim.display(),
                    state = d.join("lab.json").display(),
                    scenario = d.join("scenario.yaml").display(),
                    home = d.join("home").display(),
                    // sshd takes a keyword's first value: a test's own MaxSessions wins.
                    max_sessions = if sshd_extra.contains("MaxSessions") { "" } else { "MaxSessions 64\n" },
                ),
            )
            .unwrap();
            let log = fs::File::create(d.join(format!("{name}.log"))).unwrap();
            let child = Command::new(SSHD)
                .args(["-D", "-e", "-f"])
                .arg(&config)
                .stdout(Stdio::null())
                .stderr(log)
                .spawn()
                .expect("sshd starts");
            sshds.push(child);
            writeln!(known_hosts, "[{address}]:{port} {}", host_key.trim()).unwrap();
            fs::create_dir_all(d.join("locks").join(&name)).unwrap();
            hosts.push(SshHost {
                name,
                address,
                port,
            });
        }
        fs::write(d.join("known_hosts"), known_hosts).unwrap();
        fs::write(d.join("scenario.yaml"), scenario).unwrap();
        let cluster = SshCluster { dir, hosts, sshds };
        cluster.write_inventory("inventory.yaml", "known_hosts");
        for h in &cluster.hosts {
            let deadline = Instant::now() + Duration::from_secs(10);
            while TcpStream::connect((h.address.as_str(), h.port)).is_err() {
                assert!(
                    Instant::now() < deadline,
                    "sshd on {}:{} did not start",
                    h.address,
                    h.port
                );
                std::thread::sleep(Duration::from_millis(20));
            }
        }
        Some(cluster)
    }

    pub fn path(&self, relative: &str) -> PathBuf {
        self.dir.path().join(relative)
    }

    /// Writes an inventory of these hosts using the given known_hosts file.
    pub fn write_inventory(&self, file: &str, known_hosts: &str) -> PathBuf {
        self.write_inventory_with(file, known_hosts, "")
    }

    /// As `write_inventory`, with `extra` (e.g. `, persist: 0`) added to the defaults.
    pub fn write_inventory_with(&self, file: &str, known_hosts: &str, extra: &str) -> PathBuf {
        let d = self.dir.path();
        let mut yaml = format!(
            "cluster: livelinux\ndefaults: {{user: root, identity: id, known_hosts: {known_hosts}, connect_timeout: 5{extra}}}\nhosts:\n"
        );
        for h in &self.hosts {
            writeln!(
                yaml,
                "  - {{name: {}, address: {}, port: {}, tags: [hypervisor], lock_dir: {}}}",
                h.name,
                h.address,
                h.port,
                d.join("locks").join(&h.name).display()
            )
            .unwrap();
        }
        let path = d.join(file);
        fs::write(&path, yaml).unwrap();
        path
    }

    /// Ends `host`'s sshd (before any connection to it): its address refuses connections,
    /// as a node does while it boots or shuts down, or once its sshd died.
    pub fn stop_sshd(&mut self, host: &str) {
        let i = self
            .hosts
            .iter()
            .position(|h| h.name == host)
            .expect("a host of the cluster");
        let _ = self.sshds[i].kill();
        let _ = self.sshds[i].wait();
    }

    /// Stops (SIGSTOP) `host`'s listening sshd: a new connection is taken by the kernel
    /// but never greeted, as on a node hung under load. It runs again (SIGCONT) when the
    /// cluster is dropped.
    pub fn hang_sshd(&self, host: &str) {
        let i = self
            .hosts
            .iter()
            .position(|h| h.name == host)
            .expect("a host of the cluster");
        signal(self.sshds[i].id() as i32, libc::SIGSTOP);
    }

    /// How many SSH connections a host's sshd accepted so far.
    /// Stops (SIGSTOP) every process that serves `host`'s open connections, the sshd that
    /// listens for new ones excepted: the connections stay open and never answer, as behind
    /// a dead switch port, while a new connection works. They are killed when the returned
    /// guard is dropped.
    pub fn freeze_connections(&self, host: &str) -> Frozen {
        let i = self
            .hosts
            .iter()
            .position(|h| h.name == host)
            .expect("a host of this cluster");
        let mut frozen = Vec::new();
        let mut parents = vec![self.sshds[i].id()];
        while let Some(parent) = parents.pop() {
            for pid in children_of(parent) {
                // SAFETY: kill(2) on a connection process of the sshd this harness started.
                unsafe {
                    libc::kill(pid as i32, libc::SIGSTOP);
                }
                frozen.push(pid);
                parents.push(pid);
            }
        }
        assert!(
            !frozen.is_empty(),
            "{host} has no open connection to freeze"
        );
        Frozen(frozen)
    }

    pub fn connections(&self, host: &str) -> usize {
        fs::read_to_string(self.path(&format!("{host}.log")))
            .unwrap_or_default()
            .matches("Accepted publickey")
            .count()
    }
}

impl Drop for SshCluster {
    /// Ends each sshd with the connections it accepted (their processes are its children),
    /// so the masters that runs left for later (`persist`) see their connection close and
    /// exit now rather than after their idle time.
    fn drop(&mut self) {
        for child in &mut self.sshds {
            for pid in children_of(child.id()) {
                // SAFETY: kill(2) on a connection process of the sshd this harness started.
                unsafe {
                    libc::kill(pid as i32, libc::SIGTERM);
                    // A frozen one (freeze_connections) gets the TERM once it runs again.
                    libc::kill(pid as i32, libc::SIGCONT);
                }
            }
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Processes stopped by `freeze_connections`: SIGKILLed when dropped.
pub struct Frozen(Vec<u32>);

impl Drop for Frozen {
    fn drop(&mut self) {
        for pid in &self.0 {
            signal(*pid as i32, libc::SIGKILL);
        }
    }
}

/// Sends `sig` to `pid` (a process a test started or froze).
pub fn signal(pid: i32, sig: i32) {
    // SAFETY: kill(2) has no memory effects; the callers name their own processes.
    unsafe {
        libc::kill(pid, sig);
    }
}

/// The pids whose parent is `parent` (from /proc).
fn children_of(parent: u32) -> Vec<u32> {
    let mut pids = Vec::new();
    for entry in fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let stat = fs::read_to_string(entry.path().join("stat")).unwrap_or_default();
        let ppid = stat
            .rsplit_once(") ")
            .and_then(|(_, rest)| rest.split(' ').nth(1))
            .and_then(|p| p.parse::<u32>().ok());
        if ppid == Some(parent) {
            pids.push(pid);
        }
    }
    pids
}
