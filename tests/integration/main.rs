//! One integration-test binary: every test runs the real `vzrun` executable.

mod args;
mod catalog;
mod check;
mod docs;
mod engine;
mod file_faults;
mod flow;
mod hardening;
mod hostconf;
mod journal;
mod lab;
mod plan;
mod prlctl;
mod reliability;
mod reliability2;
mod soak;
mod ssh;
mod sshd;
mod test;
mod vstorage;
