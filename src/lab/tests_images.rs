//! The disk images in a VE's home keep their own vstorage attributes
//! (pstorage-set-attr(1): "File attributes are inherited from directory attributes on
//! creation").

use super::tests::run;
use super::*;

const SCENARIO: &str = "cluster: c\nhosts:\n  - {name: n1, address: 10.0.0.1, tags: [hypervisor, storage]}\nves:\n  - {name: ct1, host: n1, uuid: 11111111-2222-4333-8444-555555555555}\n  - {name: vm1, host: n1, kind: VM, uuid: 21111111-2222-4333-8444-555555555555}\n";

fn tier(s: &mut LabState, path: &str) -> String {
    let out = run(s, "n1", &format!("vstorage get-attr {path}"));
    assert_eq!(out.code, 0, "{}", out.stderr);
    out.stdout
        .lines()
        .find_map(|l| l.trim().strip_prefix("tier="))
        .expect("a tier line")
        .to_string()
}

#[test]
fn set_attr_without_r_on_a_home_leaves_its_images_where_they_were() {
    let mut s = load(SCENARIO, "test").unwrap();
    let home = "/vstorage/c/private/11111111-2222-4333-8444-555555555555";
    let image = format!("{home}/root.hdd");
    let info = run(&mut s, "n1", "prlctl list -a -i -j ct1").stdout;
    assert!(info.contains(&format!("\"image\": \"{image}\"")), "{info}");
    let vm = run(&mut s, "n1", "prlctl list -a -i -j vm1").stdout;
    assert!(
        vm.contains("\"image\": \"/vstorage/c/vmprivate/21111111-2222-4333-8444-555555555555/harddisk.hdd\""),
        "{vm}"
    );
    assert_eq!(tier(&mut s, &image), "0");
    assert_eq!(
        run(
            &mut s,
            "n1",
            &format!("vstorage set-attr {home} tier=2 replicas=2")
        )
        .code,
        0
    );
    assert_eq!(tier(&mut s, home), "2");
    assert_eq!(
        tier(&mut s, &image),
        "0",
        "the image keeps the tier it was created with"
    );
    // What is below the image (its data files) is the image.
    assert_eq!(tier(&mut s, &format!("{image}/root.hds")), "0");
    // The image itself, alone.
    assert_eq!(
        run(&mut s, "n1", &format!("vstorage set-attr {image} tier=1")).code,
        0
    );
    assert_eq!(tier(&mut s, &image), "1");
    assert_eq!(tier(&mut s, home), "2");
    // -R from above the home: everything below.
    assert_eq!(
        run(
            &mut s,
            "n1",
            "vstorage set-attr -R /vstorage/c/private tier=3"
        )
        .code,
        0
    );
    assert_eq!(tier(&mut s, &image), "3");
    assert_eq!(tier(&mut s, home), "3");
    let replicas = run(&mut s, "n1", &format!("vstorage get-attr {image}")).stdout;
    assert!(
        replicas.contains("replicas=3:2\n"),
        "-R tier= keeps the image's replicas: {replicas}"
    );
    // The VM, untouched by all that.
    assert_eq!(
        tier(
            &mut s,
            "/vstorage/c/vmprivate/21111111-2222-4333-8444-555555555555/harddisk.hdd"
        ),
        "0"
    );
}
