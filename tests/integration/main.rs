//! One integration-test binary: every test runs the real `vzrun` executable.

mod args;
mod catalog;
mod check;
mod docs;
mod engine;
mod fidelity;
mod fieldnotes;
mod fieldnotes_hosts;
mod fieldnotes_storage;
mod flow;
mod hostconf;
mod journal;
mod lab;
mod maintenance;
mod monitoring;
mod plan;
mod prlctl;
mod rehearse;
mod reliability;
mod ssh;
mod sshd;
mod storage;
mod test;
mod ux;
mod vstorage;
