//! Paths as the user and TypeScript read them.

use std::path::Path;

pub fn slash(path: &Path) -> String {
    path.components()
        // The root is the empty first part: `/tmp/x`, not `//tmp/x` (doctor named a file outside so).
        .map(|c| match c {
            std::path::Component::RootDir => "".into(),
            c => c.as_os_str().to_string_lossy(),
        })
        .collect::<Vec<_>>()
        .join("/")
}
