//! A lab that cannot be passed by accident (issue #21): at `--lab-speed 0` time is virtual,
//! not absent, so a drain still takes its lab seconds and a runbook that does not wait for
//! it sees it unfinished; `prlctl exec` runs only what the lab can answer truthfully.

use crate::catalog::Lab;

/// CS#1043 on msk-07, as the lab sees it: `cs N <status>` (0 when gone) and the cluster status.
const LOOK_AT_1043: &str = "let s = vstorage::stat(host(\"msk-07\"));\nlet c = s.cs.filter(|c| c.id == 1043);\nlog(`cs ${c.len()} ${if c.is_empty() { \"gone\" } else { c[0].status }} cluster ${s.status}`);";

fn look(lab: &Lab) -> String {
    let out = lab.query(LOOK_AT_1043).status(0);
    out.stderr
        .lines()
        .find(|l| l.starts_with("cs "))
        .unwrap_or_default()
        .to_string()
}

#[test]
fn at_speed_0_a_drain_takes_lab_time_and_only_waiting_finishes_it() {
    let lab = Lab::new();
    lab.query("vstorage::rm_cs(host(\"msk-07\"), 1043);")
        .status(0);
    // Dropped, not drained: however many commands answer at once meanwhile.
    for _ in 0..3 {
        assert_eq!(look(&lab), "cs 1 dropped cluster degraded");
    }
    lab.query("vstorage::rm_cs(host(\"msk-07\"), 1043, #{wait: true});")
        .status(0);
    assert_eq!(look(&lab), "cs 0 gone cluster healthy");
}

#[test]
fn a_remove_cs_that_forgets_to_wait_leaves_the_cluster_degraded() {
    let lab = Lab::new();
    let runbook = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/runbooks/remove-cs.rhai"
    ))
    .unwrap();
    let forgetful = runbook.replace("#{wait: true, timeout: ARGS.drain_timeout}", "#{}");
    assert_ne!(runbook, forgetful, "the runbook waits for the drain");
    let path = lab.dir.path().join("remove-cs-no-wait.rhai");
    std::fs::write(&path, forgetful).unwrap();
    lab.run(&[path.to_str().unwrap(), "1043", "--yes"])
        .status(0)
        .stderr_has("rm-cs 1043")
        .stderr_has("umount /vstorage/livelinux-sdb");
    // Its csd was stopped and its disk unmounted mid-drain: the CS is still in the cluster,
    // which stays degraded (the catalog's remove-cs test would see `cs: 1`).
    assert_eq!(look(&lab), "cs 1 dropped cluster degraded");

    // The runbook as shipped waits, and leaves nothing behind.
    let lab = Lab::new();
    lab.run(&["remove-cs", "1043", "--yes"])
        .status(0)
        .stderr_has("rm-cs --wait 1043");
    assert_eq!(look(&lab), "cs 0 gone cluster healthy");
}

#[test]
fn prlctl_exec_runs_a_few_real_commands_and_refuses_the_rest() {
    let lab = Lab::new();
    let exec = |argv: &str| {
        lab.query(&format!(
            "let r = prlctl::exec(host(\"msk-01\"), \"web01\", {argv});\nlog(`code ${{r.code}} out ${{r.stdout}}`);"
        ))
    };
    exec("[\"hostname\"]")
        .status(0)
        .stderr_has("code 0 out web01.livelinux.local\n");
    exec("[\"cat\", \"/etc/os-release\"]")
        .status(0)
        .stderr_has("ID=\"centos\"\nVERSION_ID=\"7\"\n");
    exec("[\"true\"]").status(0).stderr_has("code 0 out \n");
    // A non-zero exit is an error, with the command's own exit code.
    exec("[\"false\"]").status(1).stderr_has("exit 1");
    // What the lab cannot answer truthfully is refused, never an empty success.
    exec("[\"systemctl\", \"restart\", \"nginx\"]")
        .status(1)
        .stderr_has("systemctl restart nginx: the lab does not simulate this command inside a VE (it runs hostname, cat /etc/os-release, true and false)");
}
