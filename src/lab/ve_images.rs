//! The disk images in a VE's home, with vstorage attributes of their own.
//!
//! "File attributes are inherited from directory attributes on creation"
//! (pstorage-set-attr(1)): an image created in a home takes the home's tier and replicas,
//! and keeps them. `vstorage set-attr HOME tier=N` without `-R` changes the home directory
//! only; the images in it (the VE's data) stay where they were until `set-attr -R` (or a
//! set-attr on the image itself) moves them.
//!
//! An image is the path `prlctl list -i` prints as a disk's `image='…'` (reference §1.2):
//! `root.hdd` in a CT's home, `harddisk.hdd` in a VM's (the names `find` lists there). The
//! lab keeps one disk, `hdd0`, per VE; what is below an image (the ploop data files) is
//! taken as the image itself.

use serde::{Deserialize, Serialize};

use super::state::{LabState, Ve, VeKind};

/// The tier and replicas of a disk image that no longer has its home's.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ImageAttrs {
    pub tier: u8,
    pub replicas: String,
}

/// The devices of a VE's hard disks.
pub fn devices(_ve: &Ve) -> &'static [&'static str] {
    &["hdd0"]
}

/// The image of a VE's disk `device` (`hdd0`, `hdd1`, ...), as `prlctl list -i` names it.
pub fn image_path(ve: &Ve, device: &str) -> String {
    let home = ve.home.trim_end_matches('/');
    let n = device.strip_prefix("hdd").unwrap_or(device);
    let file = match (ve.kind, n) {
        (VeKind::CT, "0") => "root.hdd".to_string(),
        (VeKind::VM, "0") => "harddisk.hdd".to_string(),
        (VeKind::CT, n) => format!("disk{n}.hdd"),
        (VeKind::VM, n) => format!("harddisk{n}.hdd"),
    };
    format!("{home}/{file}")
}

/// The attributes an image has: its own, or (never changed apart) its home's.
pub fn image_attrs(ve: &Ve, device: &str) -> ImageAttrs {
    ve.images
        .get(device)
        .cloned()
        .unwrap_or_else(|| ImageAttrs {
            tier: ve.tier,
            replicas: ve.replicas.clone(),
        })
}

/// The VE and device whose image is `path` or holds it.
pub fn image_at<'a>(state: &'a LabState, path: &str) -> Option<(&'a Ve, &'static str)> {
    state.ves.iter().find_map(|ve| {
        devices(ve)
            .iter()
            .find(|d| {
                let image = image_path(ve, d);
                path == image || path.starts_with(&format!("{image}/"))
            })
            .map(|d| (ve, *d))
    })
}

/// What `vstorage set-attr [-R] PATH k=v ...` does to the images, before the homes change
/// (the values are validated already): an image at or below PATH (with `-R`), or holding
/// PATH, takes the changes; a home set without `-R` leaves its images with the attributes
/// they had.
pub fn set_attr(state: &mut LabState, path: &str, recursive: bool, changes: &[(String, String)]) {
    let below = format!("{path}/");
    for ve in &mut state.ves {
        for device in devices(ve) {
            let image = image_path(ve, device);
            let covered = image == path
                || path.starts_with(&format!("{image}/"))
                || (recursive && image.starts_with(&below));
            let home_only = ve.home.trim_end_matches('/') == path;
            if !covered && !home_only {
                continue;
            }
            let mut attrs = image_attrs(ve, device);
            if covered {
                for (k, v) in changes {
                    match k.as_str() {
                        "tier" => attrs.tier = v.parse().unwrap_or(attrs.tier),
                        "replicas" => attrs.replicas = v.clone(),
                        _ => {}
                    }
                }
            }
            ve.images.insert(device.to_string(), attrs);
        }
    }
}
