//! The template sets of released modkit versions, kept in the binary (`templates/releases/<v>/`),
//! and the answers a sandbox was rendered with: together they give the base of the 3-way merge.

use std::path::Path;

use anyhow::Result;
use minijinja::context;
use serde::{Deserialize, Serialize};

use crate::exit::UserError;
use crate::names;
use crate::plan::Record;
use crate::project::{PROJECT_FILE, Project};
use crate::templates::{self, RenderedFile};

/// This modkit's version: what `upgrade` brings a sandbox to.
pub const CURRENT: &str = env!("CARGO_PKG_VERSION");

/// Released versions whose templates this binary still carries (oldest first). A version is added
/// here, with a copy of its `templates/sandbox/` and `templates/sql/` under
/// `templates/releases/<version>/`, when the next one starts changing the templates.
const RELEASES: [&str; 1] = ["0.1.0"];

/// What a sandbox was rendered with: `modkit init`'s answers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Answers {
    pub module: String,
    pub name: String,
    pub tenants: Vec<String>,
    /// Made by the npm-installed modkit (docs/install.md); absent, so false, otherwise.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub npm: bool,
    /// A starter foundation (`modkit init --foundation`), not a sandbox.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub foundation: bool,
}

/// Where the base comes from: the record init wrote, or (0.1.0 wrote none) modkit.toml.
#[derive(Debug, Clone)]
pub struct Origin {
    pub version: String,
    pub answers: Answers,
    /// Each file's sha-256 as modkit wrote it; empty for a sandbox made by 0.1.0.
    pub record: Record,
    pub has_record: bool,
}

impl Origin {
    /// Read the sandbox's record, or derive a 0.1.0 origin from its modkit.toml.
    pub fn read(dir: &Path, record_name: &str) -> Result<Self> {
        let record_path = dir.join(record_name);
        let record = Record::read(&record_path, "modkit init")?;
        let has_record = !record.generated_by.is_empty();
        if !has_record {
            return Ok(Self {
                version: RELEASES[0].to_string(),
                answers: answers_from_project(dir)?,
                record,
                has_record,
            });
        }
        let version = record
            .generated_by
            .strip_prefix("modkit ")
            .unwrap_or(&record.generated_by)
            .to_string();
        let answers = match &record.answers {
            Some(value) => serde_json::from_value(value.clone()).map_err(|e| {
                UserError::new(format!(
                    "{}: its `answers` are not what modkit init writes ({e})",
                    record_path.display()
                ))
                .hint("restore the file from version control, or delete it: the answers are then read from modkit.toml and the sandbox is treated as made by modkit 0.1.0")
            })?,
            None => answers_from_project(dir)?,
        };
        // The record is the user's file: its answers go into every template, so they pass the
        // checks `modkit init` applies to its arguments.
        check_answers(&answers).map_err(|e| {
            let hint = e.hint.clone().unwrap_or_default();
            UserError::new(format!("{}: {}", record_path.display(), e.message)).hint(hint)
        })?;
        if version != CURRENT && !RELEASES.contains(&version.as_str()) {
            return Err(UserError::new(format!(
                "{} was made by modkit {version}, and this is modkit {CURRENT}: it does not carry the templates of {version}",
                dir.display()
            ))
            .hint(format!(
                "upgrade with a modkit at least as new as {version} (this one knows {} and {CURRENT})",
                RELEASES.join(", ")
            ))
            .into());
        }
        Ok(Self {
            version,
            answers,
            record,
            has_record,
        })
    }
}

/// The answers a 0.1.0 sandbox was rendered with, from its modkit.toml.
fn answers_from_project(dir: &Path) -> Result<Answers> {
    let project = Project::load(dir)?;
    let Some(module) = project.file.module else {
        return Err(UserError::new(format!(
            "{} is not a modkit sandbox: it has no {PROJECT_FILE} with a [module] section",
            dir.display()
        ))
        .hint("run `modkit upgrade` in the sandbox's folder, or pass it: `modkit upgrade path/to/sandbox`")
        .into());
    };
    let name = module.name.unwrap_or_else(|| names::title_case(&module.id));
    let mut tenants = project
        .file
        .dev
        .map(|d| d.tenants)
        .unwrap_or_else(|| vec!["dev".to_string()]);
    if !tenants.iter().any(|t| t == "dev") {
        tenants.insert(0, "dev".to_string());
    }
    let answers = Answers {
        module: module.id,
        name,
        tenants,
        npm: false,
        foundation: false,
    };
    check_answers(&answers).map_err(|e| {
        let hint = e.hint.clone().unwrap_or_default();
        UserError::new(format!("{}: {}", dir.join(PROJECT_FILE).display(), e.message)).hint(hint)
    })?;
    Ok(answers)
}

fn check_answers(answers: &Answers) -> Result<(), UserError> {
    names::check_module_id(&answers.module)?;
    names::check_display_name(&answers.name)?;
    answers
        .tenants
        .iter()
        .try_for_each(|t| names::check_tenant_code(t))
}

/// The sandbox `version` of modkit rendered with `answers`; an error naming the version when this
/// binary does not carry its templates (a newer modkit, or a development build).
pub fn render(version: &str, answers: &Answers) -> Result<Vec<RenderedFile>> {
    if version == CURRENT {
        return render_current(answers);
    }
    if answers.foundation {
        // modkit 0.2.0 rendered the first foundations: no release before carries their templates.
        return Err(UserError::new(format!(
            "this foundation was made by modkit {version}, which renders no foundation; this is modkit {CURRENT}"
        ))
        .hint("restore .modkit-init.json from version control: modkit wrote it with the version that made the foundation")
        .into());
    }
    if !RELEASES.contains(&version) {
        return Err(UserError::new(format!(
            "this sandbox was made by modkit {version}, and this is modkit {CURRENT}: it does not carry the templates of {version}"
        ))
        .hint(format!(
            "upgrade with a modkit at least as new as {version}; this one knows {} and {CURRENT}",
            RELEASES.join(", ")
        ))
        .into());
    }
    // The context as that release built it (frozen: later releases may add or rename keys).
    let ctx = context! {
        module_id => &answers.module,
        module_name => &answers.name,
        table => answers.module.replace('-', "_"),
        resource => &answers.module,
        const_name => names::camel_case(&answers.module),
        dev_tenants => answers.tenants.clone(),
        modkit_version => version,
    };
    let root = format!("releases/{version}");
    let mut files = templates::render_dir(&format!("{root}/sandbox"), &ctx)?;
    for name in ["system.sql", "statements.sql"] {
        files.push(RenderedFile {
            path: format!("sandbox/sql/{name}"),
            contents: templates::raw(&format!("{root}/sql/{name}"))?.to_string(),
        });
    }
    files.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(files)
}

/// What `modkit init` renders today with the same answers.
fn render_current(answers: &Answers) -> Result<Vec<RenderedFile>> {
    if answers.foundation {
        return crate::foundation_template::render(&answers.module, &answers.name, &answers.tenants);
    }
    crate::sandbox_template::render(&answers.module, &answers.name, &answers.tenants, answers.npm)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_release_renders() {
        let answers = Answers {
            module: "order-lines".into(),
            name: "Order lines".into(),
            tenants: vec!["dev".into(), "acme".into()],
            npm: false,
            foundation: false,
        };
        for version in RELEASES {
            let files = render(version, &answers).unwrap();
            assert!(files.iter().any(|f| f.path == "package.json"), "{version}");
            assert!(
                files.iter().any(|f| f.path == "sandbox/sql/system.sql"),
                "{version}"
            );
        }
        assert!(render("9.9.9", &answers).is_err());
    }
}
