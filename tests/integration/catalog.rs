//! The runbook catalog on the lab: each runbook's normal path, a fault path, and a second
//! run that changes nothing (and says so).

use std::path::PathBuf;

use tempfile::TempDir;

use crate::test::{Outcome, Test};

/// One lab whose state persists across the runs of a test.
pub(crate) struct Lab {
    pub(crate) dir: TempDir,
    scenario: Option<PathBuf>,
    pub(crate) speed: &'static str,
}

impl Lab {
    pub(crate) fn new() -> Lab {
        Lab {
            dir: tempfile::tempdir().unwrap(),
            scenario: None,
            speed: "0",
        }
    }

    pub(crate) fn with_scenario(yaml: &str) -> Lab {
        let lab = Lab::new();
        let path = lab.dir.path().join("scenario.yaml");
        std::fs::write(&path, yaml).unwrap();
        Lab {
            scenario: Some(path),
            ..lab
        }
    }

    /// The default lab with every node mounting the cluster at `mount` (fstab, /proc/mounts,
    /// VE homes) instead of /vstorage/CLUSTER: the documented path is an example, fstab or
    /// `vstorage-mount -c CLUSTER PATH` may name any directory.
    pub(crate) fn mounted_at(mount: &str) -> Lab {
        Lab::with_scenario(&format!(
            "mount_point: {mount}\n{}",
            include_str!("../../src/lab/default.yaml")
        ))
    }

    /// A run of vzrun on this lab (its state, journal and scenario) with `args`.
    pub(crate) fn test(&self, args: &[&str]) -> Test {
        let mut test = Test::new()
            .env("VZRUN_STATE_DIR", self.dir.path().join("state"))
            .args(["--lab-speed", self.speed, "--lab-state"])
            .arg(self.dir.path().join("lab.json"));
        if let Some(s) = &self.scenario {
            let mut flag = std::ffi::OsString::from("--lab=");
            flag.push(s);
            test = test.arg(flag);
        }
        test.args(args.iter().copied())
    }

    pub(crate) fn run(&self, args: &[&str]) -> Outcome {
        self.test(args).run()
    }

    /// Starts a run on this lab in the background and waits for the first line of its log
    /// with `needle`: the process (with the scratch directory it runs in) and that line.
    pub(crate) fn spawn_until(
        &self,
        needle: &str,
        args: &[&str],
    ) -> (Test, std::process::Child, String) {
        let test = self.test(args);
        let (child, line) = crate::test::spawn_until_stderr_line(&mut test.command(), needle);
        (test, child, line)
    }

    /// Starts a run on a terminal without --yes and waits for its question (`needle`): an
    /// operator reading it. Keep the `Test` alive while the run waits.
    pub(crate) fn at_prompt(&self, needle: &str, args: &[&str]) -> (Test, crate::test::AtPrompt) {
        let test = self.test(args);
        let prompt = crate::test::spawn_at_prompt(&test.command(), needle);
        (test, prompt)
    }

    /// Starts a run, waits for the first line of its log with `needle`, kills it (-9): returns
    /// that line and the run's id.
    pub(crate) fn kill_after_log_line(&self, needle: &str, args: &[&str]) -> (String, String) {
        self.kill_while_running(needle, args, std::time::Duration::ZERO)
    }

    /// As [`Lab::kill_after_log_line`], killing `after` the line: with a lab speed that
    /// makes that command slow, the kill lands while it still runs.
    pub(crate) fn kill_while_running(
        &self,
        needle: &str,
        args: &[&str],
        after: std::time::Duration,
    ) -> (String, String) {
        // Kept alive: its directory is the child's working directory.
        let (_test, mut child, line) = self.spawn_until(needle, args);
        std::thread::sleep(after);
        child.kill().unwrap();
        child.wait().unwrap();
        let run_id = crate::test::run_ids(&self.dir.path().join("state"))
            .pop()
            .unwrap();
        (line, run_id)
    }

    /// The journals under this lab's state dir.
    fn journal_paths(&self) -> Vec<PathBuf> {
        let runs = self.dir.path().join("state").join("runs");
        std::fs::read_dir(runs)
            .into_iter()
            .flatten()
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|x| x == "jsonl"))
            .collect()
    }

    /// Starts a run and kills it (-9) as soon as `fact` says what it waits for happened (it
    /// is asked every 10 ms while the run runs): a fact, not a delay, so a busy machine only
    /// makes the wait longer. Waits at most `within`, and fails naming `what` (with the
    /// run's log and journals) when the fact never comes or the run ends first (then it was
    /// not cut short). Returns what `fact` found and the id of the run (the journal it
    /// started).
    pub(crate) fn kill_once<T>(
        &self,
        args: &[&str],
        what: &str,
        within: std::time::Duration,
        mut fact: impl FnMut() -> Option<T>,
    ) -> (T, String) {
        use std::io::Read;
        let before = self.journal_paths();
        // Kept alive: its directory is the child's working directory.
        let test = self.test(args);
        let mut child = test
            .command()
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("vzrun starts");
        // Read as it comes (a full pipe would stop the run), kept for a failure's message.
        let log = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let mut stderr = child.stderr.take().expect("piped");
        let reader = {
            let log = log.clone();
            std::thread::spawn(move || {
                let mut buf = [0u8; 4096];
                while let Ok(n @ 1..) = stderr.read(&mut buf) {
                    log.lock().unwrap().extend_from_slice(&buf[..n]);
                }
            })
        };
        let deadline = std::time::Instant::now() + within;
        let failure = loop {
            if let Some(found) = fact() {
                child.kill().unwrap();
                child.wait().unwrap();
                let started: Vec<PathBuf> = self
                    .journal_paths()
                    .into_iter()
                    .filter(|p| !before.contains(p))
                    .collect();
                match &started[..] {
                    [journal] => {
                        let id = journal.file_stem().unwrap().to_string_lossy().into_owned();
                        return (found, id);
                    }
                    _ => break format!("the run was killed once {what}, and left {} journal(s), not one: {started:?}", started.len()),
                }
            }
            if let Some(status) = child.try_wait().unwrap() {
                // Not cut short: what the caller meant to test did not happen.
                break format!("the run ended ({status}) before it could be killed once {what}");
            }
            if std::time::Instant::now() >= deadline {
                child.kill().unwrap();
                child.wait().unwrap();
                break format!("not {what} within {within:?}");
            }
            std::thread::sleep(std::time::Duration::from_millis(10));
        };
        reader.join().unwrap();
        let log = String::from_utf8_lossy(&log.lock().unwrap()).into_owned();
        panic!(
            "{failure}: vzrun {}\n--- journals:\n{}\n--- its stderr:\n{log}",
            args.join(" "),
            self.journals()
        );
    }

    /// [`Lab::kill_once`] when a journal the run started holds a record `journaled` is true
    /// of (`what` says which): that record and the run's id. Whole lines only are read (the
    /// last one may still be being written).
    pub(crate) fn kill_once_journaled(
        &self,
        args: &[&str],
        what: &str,
        within: std::time::Duration,
        journaled: impl Fn(&serde_json::Value) -> bool,
    ) -> (serde_json::Value, String) {
        let before = self.journal_paths();
        self.kill_once(
            args,
            &format!("its journal recorded {what}"),
            within,
            || {
                self.journal_paths()
                    .into_iter()
                    .filter(|p| !before.contains(p))
                    .find_map(|path| {
                        let text = std::fs::read_to_string(&path).ok()?;
                        let whole = &text[..text.rfind('\n').map_or(0, |i| i + 1)];
                        whole
                            .lines()
                            .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
                            .find(|r| journaled(r))
                    })
            },
        )
    }

    /// [`Lab::kill_once`] when the lab's state (read from its file, which the lab replaces
    /// whole) is one `reached` is true of (`what` says which): that state and the run's id.
    /// The lab changes its state as a command starts, then takes the command's time: a
    /// kill then lands while that command runs.
    pub(crate) fn kill_once_lab_state(
        &self,
        args: &[&str],
        what: &str,
        within: std::time::Duration,
        reached: impl Fn(&serde_json::Value) -> bool,
    ) -> (serde_json::Value, String) {
        let path = self.dir.path().join("lab.json");
        self.kill_once(
            args,
            &format!("the lab's state showed {what}"),
            within,
            || {
                let state = serde_json::from_slice(&std::fs::read(&path).ok()?).ok()?;
                reached(&state).then_some(state)
            },
        )
    }

    /// Makes a host stop answering from now on (the state file edited between runs): a node
    /// that dies or loses its management network between two runs.
    pub(crate) fn stop_answering(&self, name: &str) {
        self.set_unreachable(name, true);
    }

    /// Makes a host answer again (the state file edited between runs): it is back.
    pub(crate) fn answer_again(&self, name: &str) {
        self.set_unreachable(name, false);
    }

    fn set_unreachable(&self, name: &str, unreachable: bool) {
        let mut state = self.state_value();
        for h in state["hosts"].as_array_mut().unwrap() {
            if h["name"] == name {
                h["unreachable"] = unreachable.into();
            }
        }
        std::fs::write(
            self.dir.path().join("lab.json"),
            serde_json::to_vec(&state).unwrap(),
        )
        .unwrap();
    }

    /// The lab's state file as it stands (empty before the first run).
    pub(crate) fn state(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("lab.json")).unwrap_or_default()
    }

    /// Every journal of the runs so far, concatenated.
    pub(crate) fn journals(&self) -> String {
        let runs = self.dir.path().join("state").join("runs");
        let mut text = String::new();
        for entry in std::fs::read_dir(runs).into_iter().flatten().flatten() {
            text.push_str(&std::fs::read_to_string(entry.path()).unwrap_or_default());
        }
        text
    }

    /// The lab's whole state, to prove a refused run changed nothing.
    pub(crate) fn state_value(&self) -> serde_json::Value {
        self.query("").status(0);
        serde_json::from_slice(&std::fs::read(self.dir.path().join("lab.json")).unwrap()).unwrap()
    }

    /// A state-reading runbook, to look at the lab between runs.
    pub(crate) fn query(&self, script: &str) -> Outcome {
        let path = self.dir.path().join("query.rhai");
        std::fs::write(&path, format!("//! Look.\n{script}")).unwrap();
        self.run(&[path.to_str().unwrap()])
    }
}

/// A run that changed nothing: no command or edit was echoed as a change.
pub(crate) fn unchanged(out: Outcome) -> Outcome {
    let changes = out.changes();
    assert!(
        changes.is_empty(),
        "expected no changes, got {changes:?}\n{}",
        out.stderr
    );
    out
}

pub(crate) const SMALL: &str = "cluster: small\nspeed: 0\nhosts:\n  - {name: n1, address: 10.0.0.1, tags: [hypervisor, storage], memory_mb: 65536, disks: [/dev/sdd]}\n  - {name: n2, address: 10.0.0.2, tags: [hypervisor, storage], memory_mb: 65536}\n  - {name: n3, address: 10.0.0.3, tags: [hypervisor, storage], memory_mb: 65536}\ncss:\n  - {id: 1, host: n1}\n  - {id: 2, host: n2}\n  - {id: 3, host: n3}\n  - {id: 4, host: n3}\nmdss:\n  - {id: 1, host: n1, master: true}\n";

#[test]
fn evacuate_then_unevacuate_and_both_are_idempotent() {
    let lab = Lab::new();
    lab.run(&["evacuate", "msk-07", "--yes"])
        .status(0)
        .stderr_has("msk-07 is evacuated: 5 VEs moved")
        .stderr_has("(5/5)");
    lab.query("log(`left: ${prlctl::list(host(\"msk-07\")).len()}`);")
        .status(0)
        .stderr_has("left: 0");
    unchanged(
        lab.run(&["evacuate", "msk-07", "--yes"])
            .status(0)
            .stderr_has("nothing to do"),
    );
    lab.run(&["unevacuate", "msk-07", "--yes"])
        .status(0)
        .stderr_has("5 VEs are back on msk-07");
    lab.query(
        "log(`back: ${prlctl::list(host(\"msk-07\")).filter(|v| v.status == \"running\").len()}`);",
    )
    .status(0)
    .stderr_has("back: 2");
    unchanged(
        lab.run(&["unevacuate", "msk-07", "--yes"])
            .status(0)
            .stderr_has("nothing to do"),
    );
}

#[test]
fn evacuate_refuses_when_capacity_is_short_and_changes_nothing() {
    let lab = Lab::with_scenario(
        "cluster: c\nspeed: 0\nhosts:\n  - {name: n1, address: 10.0.0.1, tags: [hypervisor], memory_mb: 65536}\n  - {name: n2, address: 10.0.0.2, tags: [hypervisor], memory_mb: 16384}\nves:\n  - {name: big, host: n1, memsize: 32768}\n",
    );
    unchanged(
        lab.run(&["evacuate", "n1", "--yes"])
            .status(3)
            .stderr_has("the destinations lack"),
    );
}

#[test]
fn evacuate_needs_confirmation_without_a_terminal() {
    unchanged(
        Lab::new()
            .run(&["evacuate", "msk-07"])
            .status(3)
            .stderr_has("pass --yes"),
    );
}

#[test]
fn evacuate_moves_a_failed_live_migration_offline_and_names_a_stuck_ve() {
    // Was: retried live 3 times and "started again" a VE still starting (a no-op). Now a
    // failed live migration falls back to stop → migrate → start, and a VE stuck starting
    // is reported by name and state; the run fails (exit 1).
    let mut lab = Lab::with_scenario(
        "cluster: c\nspeed: 0.001\nhosts:\n  - {name: n1, address: 10.0.0.1, tags: [hypervisor]}\n  - {name: n2, address: 10.0.0.2, tags: [hypervisor]}\nves:\n  - {name: flaky, host: n1, fail_migrations: 1}\n  - {name: slow, host: n1, slow_start_s: 100000}\n  - {name: fine, host: n1}\n",
    );
    lab.speed = "0.001";
    let out = lab
        .run(&["evacuate", "n1", "--yes", "--start-timeout", "1"])
        .status(1)
        .stderr_has("live migration of flaky failed; moving it offline (stop, migrate, start)")
        .stderr_has("[n1] prlctl stop flaky")
        .stderr_has("[n2] prlctl start flaky")
        .stderr_has("1 of 3 items failed:")
        .stderr_has("slow is stuck in state starting on n2 after 1s");
    assert!(!out.stderr.contains("start slow"), "{}", out.stderr);
    lab.query("log(`n2 has ${prlctl::list(host(\"n2\")).len()} VEs`);")
        .status(0)
        .stderr_has("n2 has 3 VEs\n");
}

#[test]
fn remove_cs_leaves_no_tails_and_a_second_run_finds_nothing() {
    let lab = Lab::new();
    lab.run(&["remove-cs", "1043", "--yes"])
        .status(0)
        .stderr_has("rm-cs --wait 1043")
        .stderr_has("systemctl stop vstorage-csd.livelinux.1043.service")
        .stderr_has("systemctl disable vstorage-csd.livelinux.1043.service")
        // The disk's real mount point, found on the node (not a default path).
        .stderr_has("umount /vstorage/livelinux-sdb")
        .stderr_has("-UUID=")
        .stderr_has("rmdir /vstorage/livelinux-sdb")
        .stderr_has("removed: CS#1043 from the cluster");
    lab.query(
        "let h = host(\"msk-07\");\nlog(`cs: ${vstorage::stat(h).cs.filter(|c| c.id == 1043).len()} active: ${systemd::is_active(h, \"vstorage-csd.livelinux.1043.service\")} fstab: ${fstab::list(h).filter(|e| e.file == \"/vstorage/livelinux-sdb\").len()}`);",
    )
    .status(0)
    .stderr_has("cs: 0 active: false fstab: 0");
    unchanged(lab.run(&["remove-cs", "1043", "--yes"]).status(0));
}

#[test]
fn remove_cs_refuses_below_the_replication_norm() {
    let lab = Lab::with_scenario(&SMALL.replace("  - {id: 4, host: n3}\n", ""));
    unchanged(
        lab.run(&["remove-cs", "3", "--yes"])
            .status(3)
            .stderr_has("failure_domains: all tiers (vstorage stat shows no tiers): 2 hosts with active CSs afterwards (n1, n2) for 3 replicas"),
    );
}

#[test]
fn remove_cs_counts_its_own_tier_when_stat_shows_tiers() {
    // Four CSs, but only two on tier 1: removing one leaves one for three replicas.
    let lab = Lab::with_scenario(
        &SMALL
            .replace("cluster: small\n", "cluster: small\nstat_tiers: true\n")
            .replace("{id: 3, host: n3}", "{id: 3, host: n3, tier: 1}")
            .replace("{id: 4, host: n3}", "{id: 4, host: n3, tier: 1}"),
    );
    unchanged(lab.run(&["remove-cs", "4", "--yes"]).status(3).stderr_has(
        "failure_domains: tier 1: 1 hosts with active CSs afterwards (n3) for 3 replicas",
    ));
    // Without tiers in stat, it says so and counts them all.
    let lab = Lab::with_scenario(SMALL);
    lab.run(&["remove-cs", "4", "--yes"])
        .status(0)
        .stderr_has("shows no tiers");
}

#[test]
fn remove_cs_that_never_drains_times_out_and_keeps_its_service() {
    let lab = Lab::with_scenario(
        &SMALL.replace("{id: 4, host: n3}", "{id: 4, host: n3, never_drains: true}"),
    );
    lab.run(&["remove-cs", "4", "--yes", "--drain-timeout", "20"])
        .status(5)
        .stderr_has("did not finish within 20s");
    lab.query("log(`CS#4 unit active: ${systemd::is_active(host(\"n3\"), \"vstorage-csd.small.4.service\")}`);")
        .status(0)
        .stderr_has("CS#4 unit active: true\n");
}

#[test]
fn add_cs_builds_a_chunk_server_and_refuses_a_drive_in_use() {
    let lab = Lab::new();
    lab.run(&["add-cs", "msk-06", "/dev/sdd", "--tier", "2", "--yes"])
        .status(0)
        .stderr_has("prepare_vstorage_drive /dev/sdd --noboot")
        .stderr_has("+UUID=")
        .stderr_has("/vstorage/livelinux-sdd ext4 defaults,lazytime 1 2")
        .stderr_has("tune2fs -m 0 /dev/sdd1")
        // In a data directory: the root of a fresh ext4 holds lost+found.
        .stderr_has("make-cs -r /vstorage/livelinux-sdd/data -t 2")
        // Only the new CS's unit, not every CS of the node.
        .stderr_has("systemctl start vstorage-csd.livelinux.1046.service")
        .stderr_lacks("vstorage-csd.target")
        .stderr_has("CS#1046 serves /vstorage/livelinux-sdd/data on msk-06 (tier 2)");
    lab.query("log(`CS#1046 is ${vstorage::stat(host(\"msk-06\")).cs.filter(|c| c.id == 1046)[0].status}`);")
        .status(0)
        .stderr_has("CS#1046 is active\n");
    unchanged(
        lab.run(&["add-cs", "msk-06", "/dev/sdd", "--tier", "2", "--yes"])
            .status(0)
            .stderr_has("already serves CS#1046"),
    );
    // /dev/sdb holds a running CS: it is left alone (drives in other use: tests/storage.rs).
    unchanged(
        lab.run(&[
            "add-cs",
            "msk-01",
            "/dev/sdb",
            "--yes",
            "--tier",
            "0",
            "--repo",
            "/vstorage/other",
        ])
        .status(0)
        .stderr_has("/dev/sdb on msk-01 already serves CS#1025"),
    );
}

#[test]
fn add_cs_plan_shows_what_is_not_known_yet() {
    Lab::new()
        .run(&["plan", "add-cs", "msk-06", "/dev/sdd", "--tier", "1"])
        .status(0)
        .stdout_has(
            "would run on msk-06: /usr/libexec/vstorage/prepare_vstorage_drive /dev/sdd --noboot",
        )
        .stdout_has("UUID=<UUID-of-/dev/sdd1-once-prepared>")
        .stderr_has("<new CS id>");
}

#[test]
fn cs_maintenance_on_and_off_restores_the_timeout() {
    let lab = Lab::new();
    lab.run(&["cs-maintenance", "msk-02", "on", "--yes"])
        .status(0)
        .stderr_has("set-config mds.wd.offline_tout_mnt=25200000")
        .stderr_has("rm-cs --maintenance 1028");
    lab.query("log(`${vstorage::stat(host(\"msk-02\")).cs.filter(|c| c.node == \"msk-02\").map(|c| c.status)}`);")
        .status(0)
        .stderr_has("[\"maintenance\", \"maintenance\", \"maintenance\"]");
    unchanged(
        lab.run(&["cs-maintenance", "msk-02", "on", "--yes"])
            .status(0),
    );
    lab.run(&["cs-maintenance", "msk-02", "off"])
        .status(0)
        .stderr_has("rm-cs --maintenance --revert 1028")
        .stderr_has("offline_tout_mnt=180000");
    unchanged(lab.run(&["cs-maintenance", "msk-02", "off"]).status(0));
    lab.run(&["cs-maintenance", "msk-02", "maybe"])
        .status(2)
        .stderr_has("invalid state");
}

#[test]
fn pcompact_rolls_node_by_node_and_skips_the_short_of_memory() {
    let lab = Lab::with_scenario(&format!(
        "{}ves:\n  - {{name: hog, host: n2, memsize: 63000}}\n",
        SMALL
    ));
    lab.run(&["pcompact-rolling"])
        .status(0)
        .stderr_has("[n1] pcompact -v")
        .stderr_has("n2: only")
        .stderr_has("[n3] pcompact -v")
        .stderr_has("compacted: 2 node(s); skipped: [\"n2\"]");
}

#[test]
fn pcompact_refuses_to_start_on_an_unhealthy_cluster() {
    // It used to compact the first node and only then wait (exit 5): the gate is now
    // before the first node (see fieldnotes.rs).
    let lab = Lab::with_scenario(
        &SMALL.replace("{id: 4, host: n3}", "{id: 4, host: n3, status: offline}"),
    );
    unchanged(
        lab.run(&["pcompact-rolling", "--healthy-timeout", "1"])
            .status(3)
            .stderr_has("cluster small is degraded"),
    );
}

#[test]
fn memory_tuning_writes_valid_limits_and_restarts_vcmmd_only_on_change() {
    let lab = Lab::new();
    lab.run(&[
        "memory-tuning",
        "--nodes",
        "msk-01",
        "--cs-limit",
        "17179869184",
    ])
    .status(0)
    .stderr_has("+PAGECACHE_ISOLATION=yes")
    .stderr_has("systemctl restart vcmmd")
    .stderr_has("sysctl -w vm.min_free_kbytes=1048576");
    lab.query("let l = parse_json(file::read(host(\"msk-01\"), \"/etc/vz/vstorage-limits.conf\"));\nlog(`max=${l.VStorage.Limit.Max} share=${l.VStorage.Guarantee.Share}`);\nlog(file::read(host(\"msk-01\"), \"/etc/sysctl.d/90-vzrun-memory.conf\"));")
        .status(0)
        .stderr_has("max=17179869184 share=0.25")
        .stderr_has("vm.swappiness = 10");
    unchanged(
        lab.run(&[
            "memory-tuning",
            "--nodes",
            "msk-01",
            "--cs-limit",
            "17179869184",
        ])
        .status(0),
    );
    lab.run(&["memory-tuning", "--cs-limit", "-5"])
        .status(2)
        .stderr_has("invalid cs-limit: -5");
}

#[test]
fn drop_caches_only_where_memory_is_short() {
    let lab = Lab::new();
    lab.run(&["drop-caches", "--below-free", "100", "--pause", "0"])
        .status(0)
        .stderr_has("[msk-01] sysctl -w vm.drop_caches=3")
        .stdout_has("caches dropped");
    unchanged(
        lab.run(&["drop-caches", "--below-free", "1"])
            .status(0)
            .stdout_has("left alone"),
    );
    lab.run(&["drop-caches", "--below-free", "0"]).status(2);
}

#[test]
fn client_cache_zabbix_baseline_ntp_pfcache_bridge_are_idempotent() {
    let lab = Lab::new();
    let cases: &[&[&str]] = &[
        &["client-cache", "/mnt/ssd/vstorage-livelinux-cache", "64000"],
        &["zabbix-firewall"],
        &["sysctl-baseline"],
        &["ntp", "--servers", "ntp1.example.net,ntp2.example.net"],
        &["pfcache-move", "/vz/pfcache2"],
        &["bridge-network", "vlan100", "bond0.100"],
    ];
    for args in cases {
        let first = lab.run(args).status(0);
        assert!(
            !first.changes().is_empty(),
            "{args:?} changed nothing the first time"
        );
        unchanged(lab.run(args).status(0));
    }
    lab.query(
        "let h = host(\"msk-03\");\nlog(fstab::list(h).filter(|e| e.vfstype == \"fuse.vstorage\")[0].options);\nlog(`${firewall::ports(h)}`);\nlog(conf::get(h, \"/etc/vz/vz.conf\", \"PFCACHE_IMAGE\"));\nlog(file::read(h, \"/etc/sudoers.d/90-vzrun-notty\"));\nlog(`${prlsrvctl::net_list(h).filter(|n| n.name == \"vlan100\")[0].bound_to}`);\nlog(`running cache entries: ${vstorage::cache_info(h).len()}`);",
    )
    .status(0)
    .stderr_has("_netdev,cache=/mnt/ssd/vstorage-livelinux-cache,cachesize=64000")
    .stderr_has("10050/tcp")
    .stderr_has("5001/tcp")
    .stderr_has("/vz/pfcache2")
    .stderr_has("!requiretty")
    .stderr_has("bond0.100")
    // The client reads its cache options when it mounts: not before the next mount.
    .stderr_has("running cache entries: 0");
}

#[test]
fn catalog_bad_inputs_are_refused_before_anything_changes() {
    let lab = Lab::new();
    for (args, needle) in [
        (&["client-cache", "relative", "64000"][..], "invalid path"),
        (&["client-cache", "/x", "10"][..], "invalid size"),
        (&["zabbix-firewall", "--ports", "10050"][..], "invalid port"),
        (&["pfcache-move", "rel/dir"][..], "invalid dir"),
        (
            &["bridge-network", "bad name", "eth0"][..],
            "invalid network name",
        ),
        (&["set-tier", "web01", "7"][..], "invalid tier"),
        (&["set-replicas", "web01", "16"][..], "invalid replicas"),
        (&["set-tier", "nosuch", "1"][..], "no VE named nosuch"),
        (
            &[
                "force-register",
                "00000000-0000-0000-0000-000000000000",
                "msk-01",
                "--yes",
            ][..],
            "no VE home",
        ),
        (&["fill-margin", "90"][..], "invalid pct"),
        (&["cluster-health", "--format", "xml"][..], "invalid format"),
        (
            &["evacuate", "msk-07", "--to", "msk-07", "--yes"][..],
            "is the node being evacuated",
        ),
        (&["evacuate", "msk-99", "--yes"][..], "unknown host"),
    ] {
        unchanged(lab.run(args).status(2).stderr_has(needle));
    }
}

#[test]
fn vm_tiers_and_setting_tiers_and_replicas() {
    let lab = Lab::new();
    let tiers = lab.run(&["vm-tiers"]).status(0);
    let web01 = tiers
        .stdout
        .lines()
        .find(|l| l.starts_with("web01 "))
        .expect("web01 is listed");
    let cells: Vec<&str> = web01.split_whitespace().collect();
    assert_eq!(
        cells[..4],
        ["web01", "web01.livelinux.local", "msk-01", "running"]
    );
    lab.run(&["set-tier", "web01", "2"])
        .status(0)
        .stderr_has("set-attr -R")
        .stderr_has("tier 2");
    unchanged(
        lab.run(&["set-tier", "web01", "2"])
            .status(0)
            .stderr_has("already has tier 2"),
    );
    lab.run(&["set-replicas", "/vstorage/livelinux/private", "2:1"])
        .status(0)
        .stderr_has("replicas=2:1");
    unchanged(
        lab.run(&["set-replicas", "/vstorage/livelinux/private", "2:1"])
            .status(0),
    );
    lab.run(&["vm-tiers", "--nodes", "msk-01"])
        .status(0)
        .stdout_has("2:1");
}

#[test]
fn force_register_takes_over_a_dead_nodes_ve() {
    let lab = Lab::with_scenario(
        "cluster: c\nspeed: 0\nhosts:\n  - {name: n1, address: 10.0.0.1, tags: [hypervisor], powered_off: true}\n  - {name: n2, address: 10.0.0.2, tags: [hypervisor]}\nves:\n  - {name: orphan, host: n1, uuid: 11111111-2222-4333-8444-555555555555}\n",
    );
    lab.run(&["force-register", "11111111-2222-4333-8444-555555555555", "n2", "--yes"])
        .status(0)
        .stderr_has("prlctl register /vstorage/c/private/11111111-2222-4333-8444-555555555555 --preserve-uuid --force")
        .stderr_has("runs on n2");
    unchanged(
        lab.run(&[
            "force-register",
            "11111111-2222-4333-8444-555555555555",
            "n2",
            "--yes",
        ])
        .status(0),
    );
}

#[test]
fn create_ct_then_a_second_run_changes_nothing() {
    let lab = Lab::new();
    let args = [
        "create-ct",
        "web99",
        "--on",
        "msk-04",
        "--cpus",
        "4",
        "--memsize",
        "8192",
        "--disk",
        "40960",
        "--ip",
        "10.30.20.99/24",
        "--gw",
        "10.30.20.1",
    ];
    lab.run(&args)
        .status(0)
        .stderr_has("prlctl create web99 --vmtype ct")
        .stderr_has("web99 runs on msk-04");
    unchanged(lab.run(&args).status(0));
    lab.query("let i = prlctl::info(host(\"msk-04\"), \"web99\");\nlog(`${i.cpus} ${i.memsize} ${i.disk} ${i.status}`);").status(0).stderr_has("4 8192 40960 running");
}

#[test]
fn fill_margin_is_restored_afterwards() {
    let lab = Lab::new();
    lab.run(&["fill-margin", "1", "--minutes", "0"])
        .status(0)
        .stderr_has("set-config mds.alloc.fill_margin=1")
        .stderr_has("set-config mds.alloc.fill_margin=5")
        .stderr_has("undo: restore mds.alloc.fill_margin to 5: done");
}

#[test]
fn license_and_cluster_health_in_every_format() {
    let lab = Lab::new();
    lab.run(&["license"])
        .status(0)
        .stdout_has("PCSS.02444715.0000")
        .stdout_has("ACTIVE")
        .stdout_has("12/31/2027")
        .stdout_has("msk-01  ");
    lab.run(&["cluster-health"])
        .status(0)
        .stdout_has("livelinux  healthy  21/21 active")
        .stdout_has("msk-07");
    lab.run(&["cluster-health", "--format", "prometheus"])
        .status(0)
        .stdout_has("vzrun_cluster_healthy{cluster=\"livelinux\"} 1")
        .stdout_has("vzrun_node_running_ves{cluster=\"livelinux\",node=\"msk-01\"} 7");
    lab.run(&["cluster-health", "--format", "zabbix"])
        .status(0)
        .stdout_has("livelinux vzrun.cluster.cs_active 21");
    let json = lab.run(&["--output", "json", "cluster-health"]).status(0);
    assert!(json
        .events()
        .iter()
        .any(|e| e["event"] == "table" && e["columns"][0] == "cluster"));
    let degraded = Lab::with_scenario(
        &SMALL.replace("{id: 4, host: n3}", "{id: 4, host: n3, status: offline}"),
    );
    degraded
        .run(&["cluster-health"])
        .status(0)
        .stderr_has("warning: cluster small is degraded");
}

#[test]
fn fill_margin_killed_midway_is_restored_to_the_true_original_on_resume() {
    let lab = Lab::new();
    let (line, run_id) =
        lab.kill_after_log_line(" minutes (was ", &["fill-margin", "1", "--minutes", "0.05"]);
    assert!(line.contains("is 1 for 0.05 minutes (was 5)"), "{line}");
    lab.run(&["runs"]).status(0).stdout_has("unfinished");
    // Resuming re-runs it; the original (5) comes from the host, not the lowered value.
    let resumed = Test::new()
        .env("VZRUN_STATE_DIR", lab.dir.path().join("state"))
        .args(["--lab-speed", "0", "--lab-state"])
        .arg(lab.dir.path().join("lab.json"))
        .args(["resume", &run_id])
        .run();
    resumed
        .status(0)
        .stderr_has("ended before these undo actions ran")
        .stderr_has("undo: restore mds.alloc.fill_margin to 5: done");
}

#[test]
fn unevacuate_reports_a_ve_that_vanished_and_brings_back_the_rest() {
    let lab = Lab::new();
    lab.run(&["evacuate", "msk-07", "--yes"]).status(0);
    // Someone unregistered one of the moved VEs meanwhile.
    // The record lives on the cluster file system, seen from any node.
    lab.query("let r = parse_json(file::read(host(\"msk-01\"), \"/vstorage/livelinux/.vzrun/evacuations/msk-07.json\"));\nlet gone = r.moves.filter(|m| m.status == \"stopped\")[0];\nprlctl::unregister(host(gone.to), gone.uuid);\nlog(`gone ${gone.name}`);")
        .status(0);
    // Was: exit 1 "is on neither". A VE no longer where evacuate put it is left alone.
    lab.run(&["unevacuate", "msk-07", "--yes"])
        .status(0)
        .stderr_has("dev02 is no longer on")
        .stderr_has("4 VEs are back on msk-07");
    lab.query("log(`msk-07 has ${prlctl::list(host(\"msk-07\")).len()} VEs`);")
        .status(0)
        .stderr_has("msk-07 has 4 VEs\n");
}

#[test]
fn catalog_fault_paths_for_the_host_runbooks() {
    let dead = Lab::with_scenario(
        "cluster: c\nspeed: 0\nhosts:\n  - {name: n1, address: 10.0.0.1, tags: [hypervisor, storage]}\n  - {name: n2, address: 10.0.0.2, tags: [hypervisor], unreachable: true}\ncss:\n  - {id: 1, host: n1}\nlicense: {key: VZSTOR.74418710.0000, status: EXPIRED}\n",
    );
    // The dead node is found before n1 is changed: every node is asked first, and the
    // refusal (exit 3; a timeout in the preflight's fs.nr_open before) says how to go on.
    unchanged(
        dead.run(&["sysctl-baseline"])
            .status(3)
            .stderr_has("n2 does not answer: nothing was changed; run again when it is back, or leave it out with --nodes n1"),
    );
    dead.run(&["vm-tiers"]).status(5).stderr_has("n2");
    dead.run(&["license"])
        .status(0)
        .stderr_has("warning: the license is EXPIRED");
    let lab = Lab::new();
    unchanged(
        lab.run(&["ntp", "--servers", "pool.ntp.org,bad server"])
            .status(2)
            .stderr_has("invalid servers"),
    );
    unchanged(
        lab.run(&["create-ct", "web 99", "--on", "msk-01"])
            .status(2)
            .stderr_has("invalid VE name"),
    );
    unchanged(
        lab.run(&["create-ct", "web99", "--on", "msk-42"])
            .status(2)
            .stderr_has("unknown host \"msk-42\""),
    );
    unchanged(
        lab.run(&[
            "create-ct",
            "web99",
            "--on",
            "msk-01",
            "--ip",
            "10.0.0.300/24",
        ])
        .status(2)
        .stderr_has("invalid ip"),
    );
    unchanged(
        lab.run(&["zabbix-firewall", "--ports", "10050/tcp,10051"])
            .status(2)
            .stderr_has("invalid port"),
    );
}

#[test]
fn abort_runs_the_undo_a_killed_run_left_pending() {
    let lab = Lab::new();
    let (line, run_id) =
        lab.kill_after_log_line(" minutes (was ", &["fill-margin", "2", "--minutes", "30"]);
    assert!(line.contains("is 2 for 30.0 minutes (was 5)"), "{line}");
    lab.query(
        "log(`fill_margin ${vstorage::get_config(host(\"msk-01\"))[\"mds.alloc.fill_margin\"]}`);",
    )
    .status(0)
    .stderr_has("fill_margin 2\n");
    lab.run(&["runs"]).status(0).stdout_has("unfinished");
    lab.run(&["abort", &run_id])
        .status(0)
        .stderr_has("undo: restore mds.alloc.fill_margin to 5: done");
    lab.query("let h = host(\"msk-01\");\nlog(`margin ${vstorage::get_config(h)[\"mds.alloc.fill_margin\"]} kept '${file::read(h, \"/vstorage/livelinux/.vzrun/fill-margin\")}'`);")
        .status(0)
        .stderr_has("margin 5 kept ''");
    unchanged(
        lab.run(&["abort", &run_id])
            .status(0)
            .stderr_has("no undo action pending"),
    );
}
