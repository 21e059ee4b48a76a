//! Running a runbook against a target: choosing the cluster (lab or inventory).

pub mod targets;
