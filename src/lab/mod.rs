//! The lab: a simulated Virtuozzo cluster that answers argv as the real tools do.
//!
//! It is the newcomer's first experience (`vzrun --lab …`) and the test bed of every
//! runbook. Runbooks cannot tell it from a real cluster: the same primitives build the same
//! argv and parse the same text. Operations take time (scaled by the lab speed), and a
//! scenario can inject the faults operators meet: slow starts, failing migrations, CSs that
//! never drain, hosts that stop answering.

mod basics;
mod disk;
mod firewall;
mod names;
mod network;
mod packages;
mod pam;
mod power;
mod prlctl;
mod prlctl_config;
mod prlctl_list;
mod prlsrvctl;
mod reply;
mod scenario;
mod scenario_disks;
mod services;
mod shaman;
pub mod shim;
mod state;
mod system;
mod timers;
mod ve_images;
mod ve_index;
mod vstorage;

#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_disks;
#[cfg(test)]
mod tests_images;
#[cfg(test)]
mod tests_mount;

pub use reply::Reply;
pub use scenario::{load, parse_replicas, ScenarioError, DEFAULT_SCENARIO};
pub use state::{now, LabState};

use std::fs::{self, File, OpenOptions};
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::cluster::host::Host;
use crate::cluster::Cluster;
use crate::transport::cmd::{Cmd, Output};
use crate::transport::{Transport, TransportError};

/// Runs one simulated command; `None` when the lab does not know the program.
pub fn dispatch(state: &mut LabState, host: &str, argv: &[String]) -> Option<Reply> {
    state.advance(state.lab_now());
    timers::fire_due(state);
    let (program, args) = argv.split_first()?;
    let name = program.rsplit('/').next().unwrap_or(program);
    let reply = match name {
        "prlctl" => prlctl::prlctl(state, host, args),
        "prlsrvctl" => prlsrvctl::prlsrvctl(state, host, args),
        // `stat --license-hwid` is not documented anywhere: its lab text is invented (services).
        "vstorage" if args.iter().any(|a| a == "--license-hwid") => {
            services::license_hwid(state, host)
        }
        "vstorage" => vstorage::vstorage(state, host, args),
        "sysctl" => system::sysctl(state, host, args),
        "firewall-cmd" => firewall::firewall_cmd(state, host, args),
        "systemctl" => system::systemctl(state, host, args),
        "systemd-run" => timers::systemd_run(state, host, args),
        "sh" | "bash" if args.len() == 1 && !args[0].starts_with('-') => {
            timers::run_script(state, host, &args[0])
        }
        "blkid" => disk::blkid(state, host, args),
        "mkdir" => disk::mkdir(state, host, args),
        "mount" => disk::mount(state, host, args),
        "umount" => disk::umount(state, host, args),
        "findmnt" => disk::findmnt(state, host, args),
        "tune2fs" => disk::tune2fs(state, host, args),
        "lsblk" => disk::lsblk(state, host, args),
        "pvs" => disk::pvs(state, host, args),
        "wipefs" => disk::wipefs(state, host, args),
        "rmdir" => disk::rmdir(state, host, args),
        "prepare_vstorage_drive" => disk::prepare_drive(state, host, args),
        "find" => names::find(state, host, args),
        "grep" => names::grep(state, host, args),
        "getent" | "ls" => {
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            if name == "ls" {
                names::ls(state, host, &args)
            } else {
                names::getent(state, host, &args)
            }
        }
        _ => match basics::run(state, host, name, args) {
            Some(reply) => reply,
            None => services::run(state, host, name, args)?,
        },
    };
    Some(reply)
}

/// Where the state lives: in this process, or in a file shared by processes.
#[derive(Debug)]
enum Store {
    Memory(Box<Mutex<LabState>>),
    File { path: PathBuf, initial: Initial },
}

/// The state a state file starts from when it does not exist yet.
#[derive(Debug)]
enum Initial {
    State(Box<LabState>),
    /// A scenario's text and name, parsed only when the file is missing: a shim answers
    /// every SSH command, and the file exists for all but the first.
    Scenario {
        text: String,
        name: String,
    },
}

impl Initial {
    fn state(&self) -> Result<LabState, String> {
        match self {
            Initial::State(state) => Ok((**state).clone()),
            Initial::Scenario { text, name } => load(text, name).map_err(|e| e.to_string()),
        }
    }
}

/// The simulated cluster as a transport target: its state, in memory or in a state file.
#[derive(Debug)]
pub struct Lab {
    store: Store,
    speed: Option<f64>,
}

/// Holds an exclusive flock on `<state>.lock` while alive.
struct FileLock {
    _file: File,
}

impl FileLock {
    fn acquire(path: &Path) -> std::io::Result<FileLock> {
        let lock_path = path.with_extension("lock");
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(lock_path)?;
        // SAFETY: flock on a file descriptor we own; released when the file is closed.
        if unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX) } != 0 {
            return Err(std::io::Error::last_os_error());
        }
        Ok(FileLock { _file: file })
    }
}

impl Lab {
    /// A lab whose state lives only in this process; `speed` overrides the state's latency
    /// multiplier.
    pub fn in_memory(state: LabState, speed: Option<f64>) -> Arc<Lab> {
        Arc::new(Lab {
            store: Store::Memory(Box::new(Mutex::new(state))),
            speed,
        })
    }

    /// A lab whose state is kept in `path` (created from `initial` when missing), so that
    /// consecutive commands, and several processes at once, see each other's effects.
    pub fn with_state_file(path: PathBuf, initial: LabState, speed: Option<f64>) -> Arc<Lab> {
        Arc::new(Lab {
            store: Store::File {
                path,
                initial: Initial::State(Box::new(initial)),
            },
            speed,
        })
    }

    /// As `with_state_file`, starting from the scenario `text` (called `name` in errors),
    /// parsed only if the file is missing.
    pub fn with_state_file_from_scenario(path: PathBuf, text: String, name: String) -> Arc<Lab> {
        Arc::new(Lab {
            store: Store::File {
                path,
                initial: Initial::Scenario { text, name },
            },
            speed: None,
        })
    }

    /// Runs `f` on the state, under the store's lock.
    pub fn with_state<R>(&self, f: impl FnOnce(&mut LabState) -> R) -> Result<R, TransportError> {
        let store_error = |path: &Path, e: std::io::Error| TransportError::File {
            path: path.display().to_string(),
            reason: format!("lab state: {e}"),
        };
        match &self.store {
            Store::Memory(state) => {
                let mut state = state.lock().unwrap_or_else(|p| p.into_inner());
                if let Some(speed) = self.speed {
                    state.speed = speed;
                }
                Ok(f(&mut state))
            }
            Store::File { path, initial } => {
                let _lock = FileLock::acquire(path).map_err(|e| store_error(path, e))?;
                let invalid = |e: String| std::io::Error::new(std::io::ErrorKind::InvalidData, e);
                let (mut state, before) = match fs::read(path) {
                    Ok(bytes) => {
                        let state: LabState = serde_json::from_slice(&bytes)
                            .map_err(|e| store_error(path, invalid(e.to_string())))?;
                        let before = state.clone();
                        (state, Some(before))
                    }
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => (
                        initial.state().map_err(|e| store_error(path, invalid(e)))?,
                        None,
                    ),
                    Err(e) => return Err(store_error(path, e)),
                };
                if let Some(speed) = self.speed {
                    state.speed = speed;
                }
                let result = f(&mut state);
                // A command that changed nothing (most are reads) leaves the file alone. The
                // rename keeps the file whole if a shim is killed mid-write; there is no fsync:
                // the lab is a simulation, a machine crash may lose it, and a disk flush per
                // command under the one lock made the shims of 32 "hosts" queue behind each
                // other, which no real cluster does.
                if before.as_ref() != Some(&state) {
                    let bytes = serde_json::to_vec(&state).expect("state serializes");
                    let temp = path.with_extension("tmp");
                    fs::write(&temp, &bytes)
                        .and_then(|_| fs::rename(&temp, path))
                        .map_err(|e| store_error(path, e))?;
                }
                Ok(result)
            }
        }
    }

    /// The cluster as runbooks see it: one host per lab node, plus `local()`.
    pub fn cluster(self: &Arc<Self>) -> Result<Cluster, TransportError> {
        let (name, hosts) = self.with_state(|s| {
            let hosts: Vec<(String, String, Vec<String>)> = s
                .hosts
                .iter()
                .map(|h| (h.name.clone(), h.address.clone(), h.tags.clone()))
                .collect();
            (s.cluster.clone(), hosts)
        })?;
        let hosts = hosts
            .into_iter()
            .map(|(name, address, tags)| {
                let transport = LabTransport {
                    lab: self.clone(),
                    host: name.clone(),
                };
                Host::new(name, address, tags, Arc::new(transport))
            })
            .collect();
        // Where the nodes mount the cluster (the scenario's `mount_point`) is not told: a
        // run learns it from the nodes, as on a real cluster whose inventory has no
        // `cluster_mount`.
        Ok(Cluster::new(name, hosts, crate::cluster::local_host()))
    }

    /// Runs a command on a lab host: the reply, and the lab speed (wall seconds per lab
    /// second of the reply's `takes`).
    pub fn answer(
        &self,
        host: &str,
        argv: &[String],
    ) -> Result<Option<(Reply, f64)>, TransportError> {
        self.answer_within(host, argv, f64::INFINITY)
    }

    /// `answer` for a caller that waits at most `limit` lab seconds: at speed 0 the virtual
    /// clock moves on by what the command took, or by `limit` when the caller gives up first.
    pub fn answer_within(
        &self,
        host: &str,
        argv: &[String],
        limit: f64,
    ) -> Result<Option<(Reply, f64)>, TransportError> {
        self.with_state(|state| {
            let speed = state.speed;
            // A node that does not answer still runs its own timers (its way back).
            timers::fire_due(state);
            let unreachable = state.host(host).is_some_and(|h| h.unreachable);
            let reply = if unreachable {
                Some(Reply::hangs())
            } else {
                dispatch(state, host, argv)
            };
            if let Some(r) = &reply {
                state.pass(r.takes.min(limit));
            }
            reply.map(|r| (r, speed))
        })
    }
}

impl Lab {
    /// Does what a command finishes as it returns (see [`reply::Finish`]): not done when
    /// the command is cut short (the process killed while it ran, or a timeout).
    pub fn finish(&self, what: &reply::Finish) -> Result<(), TransportError> {
        self.with_state(|state| match what {
            reply::Finish::ConfigWritten { uuid } => {
                if let Some(ve) = state.ves.iter_mut().find(|v| &v.uuid == uuid) {
                    ve.broken_config = false;
                }
            }
        })
    }
}

/// One lab host, as a transport.
#[derive(Debug)]
pub struct LabTransport {
    lab: Arc<Lab>,
    host: String,
}

impl LabTransport {
    /// An error when the host is made to stop answering (a fault of the scenario).
    fn answering(&self) -> Result<(), TransportError> {
        let host = self.host.clone();
        if self.lab.with_state(move |s| {
            timers::fire_due(s);
            s.host(&host).is_some_and(|h| h.unreachable)
        })? {
            return Err(TransportError::Unreachable(format!(
                "{} does not answer",
                self.host
            )));
        }
        Ok(())
    }
}

impl Transport for LabTransport {
    fn run(&self, cmd: &Cmd) -> Result<Output, TransportError> {
        let limit = cmd.timeout.as_secs_f64();
        let Some((reply, speed)) = self.lab.answer_within(&self.host, &cmd.argv, limit)? else {
            return Err(TransportError::CannotRun {
                program: cmd.program().to_string(),
                reason: "No such file or directory (the lab does not simulate it)".into(),
            });
        };
        // Lab time: a deadline of N seconds is N lab seconds, scaled like the operations.
        if reply.takes > limit {
            std::thread::sleep(Duration::from_secs_f64(limit * speed));
            return Err(TransportError::TimedOut {
                command: cmd.to_string(),
                timeout: cmd.timeout,
            });
        }
        std::thread::sleep(Duration::from_secs_f64(reply.takes * speed));
        if let Some(what) = &reply.finishes {
            self.lab.finish(what)?;
        }
        Ok(Output {
            code: reply.code,
            stdout: reply.stdout,
            stderr: reply.stderr,
            planned: false,
        })
    }

    fn lock(
        &self,
        name: &str,
        holder: &str,
        wait: Duration,
    ) -> Result<Box<dyn crate::transport::lock::HeldLock>, crate::transport::lock::LockError> {
        use crate::transport::lock::LockError;
        // As over SSH: a node that does not answer runs no lock holder.
        self.answering().map_err(|e| match e {
            TransportError::Unreachable(why) => LockError::Unreachable(why),
            e => LockError::Failed(e.to_string()),
        })?;
        match &self.lab.store {
            // A lab in this process alone: no other run can touch it.
            Store::Memory(_) => Ok(Box::new(crate::transport::lock::NoLock)),
            Store::File { path, .. } => {
                let abs = std::fs::canonicalize(path).unwrap_or_else(|_| path.clone());
                let key = format!(
                    "lab-{}-{}-{name}",
                    state::uuid_from(&abs.display().to_string()),
                    self.host
                );
                crate::transport::lock::local(&key, holder, wait)
            }
        }
    }

    fn mode(&self, path: &str) -> Result<Option<u32>, TransportError> {
        let host = self.host.clone();
        let path = path.to_string();
        self.lab
            .with_state(move |s| s.file(&host, &path).map(|f| f.mode))
    }

    fn read_file(&self, path: &str) -> Result<Option<Vec<u8>>, TransportError> {
        self.answering()?;
        let host = self.host.clone();
        let path = path.to_string();
        self.lab.with_state(move |s| {
            basics::generated_file(s, &host, &path)
                .or_else(|| s.file(&host, &path).map(|f| f.content.clone()))
                .map(|text| crate::edit::bytes::encode(&text))
        })
    }

    fn write_file_atomic(
        &self,
        path: &str,
        bytes: &[u8],
        mode: Option<u32>,
    ) -> Result<(), TransportError> {
        self.answering()?;
        let host = self.host.clone();
        let path = path.to_string();
        // Kept losslessly, as a real disk would (see `edit::bytes`).
        let content = crate::edit::bytes::decode(bytes)
            .unwrap_or_else(|_| String::from_utf8_lossy(bytes).into_owned());
        self.lab.with_state(move |s| {
            // Where the cluster file system is not mounted, its mount point is an empty
            // local directory: a file deeper down has no directory to go into.
            let cluster_dir = format!("{}/", s.mount_root());
            let parent = path.rsplit_once('/').map_or("", |(dir, _)| dir);
            if path.starts_with(&cluster_dir)
                && !s.cluster_mounted(&host)
                && parent != cluster_dir.trim_end_matches('/')
                && !s
                    .host(&host)
                    .is_some_and(|h| h.dirs.iter().any(|d| d == parent))
            {
                return Err(TransportError::File {
                    path: path.clone(),
                    reason: "No such file or directory".into(),
                });
            }
            if path == "/proc/sys/vm/drop_caches" {
                let h = s.host_mut(&host);
                h.caches_dropped += 1;
                h.ops.page_cache_mb = Some(services::DROPPED_CACHE_MB);
            } else if let Some(key) = path.strip_prefix("/proc/sys/") {
                s.host_mut(&host)
                    .sysctl
                    .insert(key.replace('/', "."), content.trim().to_string());
            } else {
                let files = s.files_mut(&host, &path);
                let mode = mode
                    .or_else(|| files.get(&path).map(|f| f.mode))
                    .unwrap_or(0o644);
                files.insert(path, state::LabFile { content, mode });
            }
            Ok(())
        })?
    }
}
