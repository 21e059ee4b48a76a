// runbooks/ and stdlib/ are embedded with include_dir; rebuild when they change.
fn main() {
    println!("cargo:rerun-if-changed=runbooks");
    println!("cargo:rerun-if-changed=stdlib");
}
