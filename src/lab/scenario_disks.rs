//! Scenario disks: spare drives, and drives in other use (`DiskKind`) with what they leave
//! on the host (the mount of their partition or logical volume).

use serde::Deserialize;

use super::state::{uuid_from, Disk, DiskKind, Mount, Partition};

#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub enum DiskSpec {
    Spare(String),
    Used {
        device: String,
        #[serde(default)]
        kind: DiskKind,
        #[serde(default = "super::scenario::default_space")]
        size_gb: u64,
    },
}

/// A disk of the scenario, with what its kind leaves on the host (mounts of its partition
/// or logical volume).
pub fn scenario_disk(spec: &DiskSpec, mounts: &mut Vec<Mount>, dirs: &mut Vec<String>) -> Disk {
    let (device, kind, size_gb) = match spec {
        DiskSpec::Spare(d) => (d.clone(), DiskKind::Blank, super::scenario::default_space()),
        DiskSpec::Used {
            device,
            kind,
            size_gb,
        } => (device.clone(), *kind, *size_gb),
    };
    let name = device.rsplit('/').next().unwrap_or(&device).to_string();
    let xfs = Partition {
        device: format!("{device}1"),
        uuid: uuid_from(&format!("xfs-{device}")),
        fstype: "xfs".into(),
        reserved_pct: 0.0,
        content: Vec::new(),
    };
    let partition = match kind {
        DiskKind::Partitioned | DiskKind::Mounted => Some(xfs),
        _ => None,
    };
    let mounted_as = match kind {
        DiskKind::Mounted => Some(format!("{device}1")),
        DiskKind::LvmPv => Some(super::disk::lvm_volume(&device)),
        _ => None,
    };
    if let Some(source) = mounted_as {
        let target = format!("/srv/{name}");
        dirs.push(target.clone());
        mounts.push(Mount {
            source,
            target,
            fstype: "xfs".into(),
        });
    }
    Disk {
        device,
        size_gb,
        partition,
        kind,
    }
}
