//! include_dir does not notice a newly added template file (include_dir#120): tell cargo to rebuild
//! whenever anything under `templates/` changes.
fn main() {
    println!("cargo:rerun-if-changed=templates");
}
