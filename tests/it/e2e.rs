//! End to end: a sandbox rendered by the built `modkit`, installed with real npm packages, type-checked,
//! bootstrapped on a real PostgreSQL, served, loaded, put behind PgBouncer and opened in Chromium.
//!
//! `cargo test --test it e2e` runs them (add `-- --nocapture` to see each step's duration as it
//! happens; they are also written to `target/e2e/timings.txt`). One sandbox is rendered and
//! `npm install`ed once per test process, under `target/e2e/<pid>/` ([`sandbox::sandbox`]); every
//! test uses it with a fresh database of its own and ports of its own. What each test proves is
//! listed in docs/sandbox.md ("How the end-to-end tests prove it").
//!
//! Node.js 20.19+ with npm, Chromium and PgBouncer are required: a missing one is a failure with a
//! hint (scripts/test.sh installs them), never a skip.
//!
//! | module | tests |
//! | --- | --- |
//! | [`typecheck`] | `tsc --noEmit` with the pinned and the latest TypeScript, for `items` and `order-lines` |
//! | [`bootstrap`] | `npm run bootstrap` and `modkit bootstrap` re-run, in either order, and 8 at once |
//! | [`api`] | the definition of done over HTTP, CORS in development and production, `npm test` |
//! | [`load`] | 1,000 interleaved requests of two tenants, over 2 connections and through PgBouncer |
//! | [`browser`] | the Vite client in headless Chromium, through the Vite proxy |
//! | [`foundation`] | `modkit adapt` into the fixture foundation: tsc in 3 module systems, the definition of done |
//! | [`foundation_build`] | an Nx-style solution tsconfig followed to tsconfig.app.json: the CommonJS adapter, `tsc -p` passes |
//! | [`foundation_express`] | a module route whose SQL fails answers 500 and the foundation stays up, on Express 4 and 5 |
//! | [`strict`] | the module and its adapter under the strictest tsconfig, ESLint + typescript-eslint and Biome (recommended) |
//! | [`upgrade`] | the 0.1.0 fixture with typical edits, `modkit upgrade`d: `tsc --noEmit` and `npm test` pass |
//! | [`dev`] | `npm run dev`'s launcher: the API restarted on a change, a syntax error survived, source maps, no orphan API, no write through a link |
//! | [`starter`] | `modkit init --foundation`, adapt, `npm run dev`: the module in the shell's nav, list/create in Chromium, tenants apart, 403 |
//! | [`real_apps`] | adapt into real open-source Express apps (tests/fixtures/real/): their own type-check, build, linter, formatter; served on PostgreSQL |
//! | [`starter_dev`] | the foundation's `npm run dev` applies a migration saved in `migrations/<id>/` and a new permission, reports a broken one; serves a module adapted while it runs |
//! | [`orm`] | the foundation on Kysely and on Drizzle: one pool for the ORM and withTenantTx |
//! | [`localdb`] | the quick start on the embedded PostgreSQL 18 with the system's hidden; the bootstrap core on it |
//! | [`localdb_root`] | `npm run dev`/`bootstrap`/`test` as root in another user's project refused, writing nothing; a `$` in the project path refused before initdb |

mod api;
mod bootstrap;
mod browser;
mod dev;
mod foundation;
mod foundation_build;
mod foundation_express;
mod load;
mod localdb;
mod localdb_root;
mod orm;
mod projects;
mod real_apps;
pub(crate) mod sandbox;
mod starter;
mod starter_dev;
mod strict;
mod typecheck;
mod upgrade;
