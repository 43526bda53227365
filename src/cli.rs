//! Command-line definitions. Every `///` here is user documentation: clap turns it into `--help`.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

#[derive(Debug, Parser)]
#[command(
    name = "modkit",
    version,
    about = "Scaffold, bootstrap and check modular multi-tenant TypeScript platforms",
    long_about = "modkit renders a standalone sandbox for one business module, bootstraps its \
                  schema-per-tenant PostgreSQL database, and keeps the module working in the foundation.",
    after_help = "Examples:\n  modkit init items\n  cd items && npm install && modkit bootstrap && npm run dev\n  \
                  modkit bootstrap --db postgres://app@localhost/app --tenant acme --tenant globex\n  \
                  modkit adapt items --foundation ../foundation\n  \
                  modkit doctor --db\n\n\
                  Exit codes: 0 ok, 1 problems found, 2 usage or environment error."
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,

    #[command(flatten)]
    pub verbosity: Verbosity,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Render a standalone sandbox for a business module
    #[command(
        after_help = "Examples:\n  modkit init items\n  modkit init order-lines --name \"Order lines\" --dir ./sandboxes/order-lines\n  \
                            modkit init items --dry-run\n  \
                            modkit init items --force --dry-run -v   # what would change in an existing sandbox, as diffs\n\n\
                      --force updates the files modkit wrote (.modkit-init.json records them) and nobody edited since;\n\
                      an edited file, or one modkit did not write, is a conflict: nothing is written, exit 2,\n\
                      unless --overwrite-edits.\n\nNext steps after init:\n  \
                            cd items && npm install && modkit bootstrap && npm run dev"
    )]
    Init(InitArgs),

    /// Bring a PostgreSQL database to the state the modules need, idempotently
    #[command(
        after_help = "Examples:\n  modkit bootstrap                         # in a sandbox: modkit.toml gives the database\n  \
                            modkit bootstrap --db \"$DATABASE_URL\" --tenant acme --tenant globex\n  \
                            modkit bootstrap --tenants-file tenants.txt --jobs 4\n  \
                            modkit bootstrap --check                 # CI gate: exit 1 when anything is pending\n  \
                            modkit bootstrap --dry-run               # print the SQL, change nothing"
    )]
    Bootstrap(BootstrapArgs),

    /// Bring a module from its sandbox into a foundation: code, routes adapter, module.config.ts, migrations
    #[command(
        after_help = "Examples:\n  modkit adapt items --foundation ../foundation          # from ./items or from inside it\n  \
                            modkit adapt items --foundation ../foundation --from ~/work/items\n  \
                            modkit adapt items --foundation ../foundation --dry-run\n\n\
                      It writes <modules_dir>/<module>/{plugin/, migrations/, server/routes/index.ts, module.config.ts}.\n\
                      The adapter imports withTenantTx and requirePermission from the foundation's files that export\n\
                      them (found in its sources, or named in its modkit.toml: [foundation] tenant_db / rbac), with\n\
                      specifiers computed for its module system (tsconfig `module`, package.json `type`).\n\
                      A re-run updates what modkit wrote; a file edited since is kept unless --force.\n\n\
                      Next steps after adapt:\n  cd ../foundation && npx tsc --noEmit && modkit bootstrap --project ."
    )]
    Adapt(AdaptArgs),

    /// Find what is broken or drifting in a sandbox or a foundation (and, with --db, its database)
    #[command(
        after_help = "Examples:\n  modkit doctor                              # the sandbox or foundation in this folder\n  \
                            modkit doctor ../foundation --db \"$DATABASE_URL\"\n  \
                            modkit doctor --db                         # the URL from DATABASE_URL or modkit.toml\n  \
                            modkit doctor --format github              # annotations in a GitHub Actions log\n  \
                            modkit doctor --format sarif > doctor.sarif # for GitHub code scanning\n  \
                            modkit doctor --explain tsconfig-base-url  # what a code means and its fix\n  \
                            modkit doctor --fix                        # apply the safe fixes, then check again\n\n\
                      Exit codes: 0 no error (warnings may be printed), 1 errors found, 2 usage or environment error.\n\
                      Every check and its code: docs/doctor.md; turn one off with [doctor] ignore = [\"CODE\"] in modkit.toml."
    )]
    Doctor(DoctorArgs),
}

#[derive(Debug, Args)]
pub struct DoctorArgs {
    /// The sandbox or foundation to check
    #[arg(value_name = "DIR", default_value = ".")]
    pub dir: PathBuf,

    /// Also check the database: pending bootstrap work, edited migrations, tenant_id columns, stray
    /// schemas. Without a URL: DATABASE_URL, then modkit.toml
    #[arg(long = "db", value_name = "URL", num_args = 0..=1, default_missing_value = "")]
    pub db: Option<String>,

    /// Seconds to wait for the database server before giving up
    #[arg(long, value_name = "SECS", default_value_t = 10)]
    pub connect_timeout: u64,

    /// Output format
    #[arg(long, value_enum, default_value_t = DoctorFormat::Human)]
    pub format: DoctorFormat,

    /// Print the documentation of a check (its code, e.g. `tsconfig-base-url`) and exit
    #[arg(long, value_name = "CODE")]
    pub explain: Option<String>,

    /// Turn a check off for this run: a code, or a prefix before `-` (`toolchain`); adds to
    /// modkit.toml's `[doctor] ignore`
    #[arg(long, value_name = "CODE")]
    pub ignore: Vec<String>,

    /// Apply the safe fixes (tsconfig `baseUrl`, a wrong `@client/*` alias, `cors` in
    /// dependencies, adapted files that drifted), say what changed, then check again
    #[arg(long)]
    pub fix: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum DoctorFormat {
    Human,
    Json,
    /// GitHub Actions workflow commands (`::error file=...,line=...::...`), and a Markdown summary
    /// in $GITHUB_STEP_SUMMARY when it is set
    Github,
    /// SARIF 2.1.0, for GitHub code scanning (`github/codeql-action/upload-sarif`)
    Sarif,
}

#[derive(Debug, Args)]
pub struct AdaptArgs {
    /// Module id, as in its sandbox's modkit.toml (e.g. `items`)
    pub module: String,

    /// The foundation's root folder (with its package.json and tsconfig.json)
    #[arg(long, value_name = "DIR")]
    pub foundation: PathBuf,

    /// The module's sandbox [default: the current folder if it is that module's sandbox, else ./<module>]
    #[arg(long, value_name = "DIR")]
    pub from: Option<PathBuf>,

    /// Overwrite files in the foundation that were edited since modkit wrote them (or that it did not write)
    #[arg(long)]
    pub force: bool,

    /// Print what would be written, write nothing
    #[arg(long)]
    pub dry_run: bool,

    #[command(flatten)]
    pub output: OutputArgs,
}

#[derive(Debug, Args)]
pub struct InitArgs {
    /// Module id: lowercase letters, digits and hyphens, starting with a letter (e.g. `items`)
    pub module: String,

    /// Folder to write the sandbox into [default: ./<module>]
    #[arg(long, value_name = "DIR")]
    pub dir: Option<PathBuf>,

    /// Display name of the module [default: the id in title case]
    #[arg(long, value_name = "NAME")]
    pub name: Option<String>,

    /// Write into a non-empty folder, updating the files modkit generated there and nobody edited
    /// since (never deletes anything; an edited file is a conflict and nothing is written)
    #[arg(long)]
    pub force: bool,

    /// With --force: also overwrite files edited since modkit wrote them, or that it did not write
    #[arg(long, requires = "force")]
    pub overwrite_edits: bool,

    /// Print what would change (new, updated, conflicting files; with -v a diff of each), write nothing
    #[arg(long)]
    pub dry_run: bool,

    /// Extra dev tenant to list in modkit.toml (repeatable; `dev` is always there)
    #[arg(long = "tenant", value_name = "CODE")]
    pub tenants: Vec<String>,
}

#[derive(Debug, Args)]
pub struct BootstrapArgs {
    #[command(flatten)]
    pub db: DbArgs,

    /// Tenant to create or bring up to date (repeatable)
    #[arg(long = "tenant", value_name = "CODE")]
    pub tenants: Vec<String>,

    /// File with one tenant a line: `code[,name[,domain]]`; blank lines and `#` comments are skipped
    #[arg(long, value_name = "FILE")]
    pub tenants_file: Option<PathBuf>,

    /// Sandbox or foundation folder whose modules to bootstrap
    #[arg(long, value_name = "DIR", default_value = ".")]
    pub project: PathBuf,

    /// Parallel database connections for tenant work [default: 2 per CPU, at most 16]
    #[arg(long, short = 'j', value_name = "N")]
    pub jobs: Option<usize>,

    /// Print the SQL that would run, change nothing
    #[arg(long, conflicts_with = "check")]
    pub dry_run: bool,

    /// Change nothing; exit 1 when anything is pending or a migration's checksum differs
    #[arg(long)]
    pub check: bool,

    #[command(flatten)]
    pub output: OutputArgs,
}

/// How to reach the database. The URL comes from `--db`, then `DATABASE_URL`, then modkit.toml.
#[derive(Debug, Args)]
pub struct DbArgs {
    /// PostgreSQL URL, e.g. postgres://user@localhost:5432/app [env: DATABASE_URL]
    #[arg(long = "db", value_name = "URL")]
    pub url: Option<String>,

    /// Seconds to wait for the server before giving up
    #[arg(long, value_name = "SECS", default_value_t = 10)]
    pub connect_timeout: u64,
}

#[derive(Debug, Args)]
pub struct OutputArgs {
    /// Output format
    #[arg(long, value_enum, default_value_t = Format::Human)]
    pub format: Format,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    Human,
    Json,
}

#[derive(Debug, Args)]
pub struct Verbosity {
    /// Print only errors
    #[arg(long, short, global = true, conflicts_with = "verbose", display_order = 100)]
    pub quiet: bool,

    /// Print more detail (each statement, each file)
    #[arg(long, short, global = true, display_order = 101)]
    pub verbose: bool,
}
